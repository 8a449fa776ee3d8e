//! The JSON Schemas of the documents mxray prints with `--json`, derived from the types that
//! serialize them, so docs/schema/ cannot drift from the output (the test below compares them).

use mxray_core::Document;
use schemars::generate::SchemaSettings;
use schemars::transform::{Transform, transform_subschemas};
use schemars::{JsonSchema, Schema};

/// One printed document: its file under docs/schema/, what prints it, and its schema.
pub struct Doc {
    pub name: &'static str,
    pub printed_by: &'static str,
    pub schema: fn() -> Schema,
}

/// Every document mxray prints.
pub const DOCS: &[Doc] = &[
    Doc {
        name: "explain",
        printed_by: "mxray explain --json (one per line, one per reply found)",
        schema: schema_of::<mxray_core::Explanation>,
    },
    Doc {
        name: "diagnose",
        printed_by: "mxray diagnose --json (one document; with --input, one per line)",
        schema: schema_of::<mxray_diagnose::Report>,
    },
    Doc {
        name: "verify",
        printed_by: "mxray verify --json and --output FILE.jsonl (one per line, one per address)",
        schema: schema_of::<mxray_verify::VerifyResult>,
    },
    Doc {
        name: "logs",
        printed_by: "mxray logs --json (one document)",
        schema: schema_of::<mxray_logs::Report>,
    },
    Doc {
        name: "logs-event",
        printed_by: "mxray logs --events (one per line, one per delivery attempt)",
        schema: schema_of::<mxray_logs::AttemptRecord>,
    },
    Doc {
        name: "lab-ready",
        printed_by: "mxray lab serve --ready-file FILE, and the first line of lab serve --json",
        schema: schema_of::<mxray_lab::ReadyInfo>,
    },
    Doc {
        name: "lab-stats",
        printed_by: "mxray lab serve --json (the counters: on SIGUSR1 and at exit)",
        schema: schema_of::<mxray_lab::LabStats>,
    },
    Doc {
        name: "serve-job",
        printed_by: "mxray serve: GET and DELETE /v1/jobs/ID (a bulk job's state and progress)",
        schema: schema_of::<mxray_serve::jobs::JobStatus>,
    },
    Doc {
        name: "lab-demo",
        printed_by: "mxray lab demo --json (one document)",
        schema: schema_of::<crate::cmd::demo::DemoDocument<'static>>,
    },
];

/// The schema of `Document<T>` as printed: draft 2020-12, every object closed
/// (`additionalProperties: false`) so a field the schema does not name fails validation.
fn schema_of<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .with_transform(Closed)
        .into_generator()
        .into_root_schema_for::<Document<T>>()
}

/// Closes every object schema that lists its properties (maps, which list none, stay open).
#[derive(Clone)]
struct Closed;

impl Transform for Closed {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(obj) = schema.as_object_mut()
            && obj.contains_key("properties")
            && !obj.contains_key("additionalProperties")
        {
            obj.insert("additionalProperties".into(), false.into());
        }
        transform_subschemas(self, schema);
    }
}

/// The file a document's schema is published in, with its title and description.
pub fn render(doc: &Doc) -> String {
    let mut schema = (doc.schema)();
    schema.insert(
        "$id".into(),
        format!(
            "https://mxray.dev/schema/v{}/{}.schema.json",
            mxray_core::SCHEMA_VERSION,
            doc.name
        )
        .into(),
    );
    // The envelope's version is a constant of the published file, not any integer.
    if let Some(v) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("schema_version"))
    {
        *v = serde_json::json!({
            "description": "The version of mxray's JSON shapes; raised when a field is removed or changes meaning.",
            "const": mxray_core::SCHEMA_VERSION
        });
    }
    schema.insert("title".into(), format!("mxray {}", doc.name).into());
    schema.insert(
        "description".into(),
        format!("Printed by {}.", doc.printed_by).into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/schema/ equals what the types derive; `MXRAY_BLESS=1 cargo test schema` rewrites it.
    #[test]
    fn published_schemas_match_the_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
        let bless = std::env::var_os("MXRAY_BLESS").is_some();
        let mut stale = Vec::new();
        for doc in DOCS {
            let path = dir.join(format!("{}.schema.json", doc.name));
            let want = render(doc);
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &want).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "out of date: {stale:?}; run MXRAY_BLESS=1 cargo test schema and commit docs/schema/"
        );
    }
}
