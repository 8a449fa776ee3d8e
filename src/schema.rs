//! The JSON Schemas of the documents mxray prints with `--json`, derived from the types that
//! serialize them, so docs/schema/ cannot drift from the output (the test below compares them).

use schemars::{JsonSchema, Schema};

/// One printed document: its file under docs/schema/, what prints it, and its schema.
pub struct Doc {
    pub name: &'static str,
    pub printed_by: &'static str,
    pub schema: fn(&str, &str) -> Schema,
}

/// Every document mxray prints.
pub const DOCS: &[Doc] = &[
    Doc {
        name: "explain",
        printed_by: "mxray explain --json (one per line, one per reply found)",
        schema: schema_of::<mxray_core::Explanation>,
    },
    Doc {
        name: "bounce",
        printed_by: "mxray explain --json on a whole bounce message, an mbox or a maildir (one per line, one per recipient)",
        schema: schema_of::<mxray_bounce::BounceResult>,
    },
    Doc {
        name: "records",
        printed_by: "mxray records ... --json (one per line: one record set, or one per --rollout step)",
        schema: schema_of::<crate::cmd::records::Step<'static>>,
    },
    Doc {
        name: "records-fix",
        printed_by: "mxray records fix --json (one document)",
        schema: schema_of::<mxray_diagnose::sender::fix::FixReport>,
    },
    Doc {
        name: "records-drift",
        printed_by: "mxray records spf --check-flattened --json (one document)",
        schema: schema_of::<mxray_diagnose::sender::spf::propose::Drift>,
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
        name: "preflight",
        printed_by: "mxray verify --preflight --json (one document)",
        schema: schema_of::<mxray_diagnose::preflight::Preflight>,
    },
    Doc {
        name: "logs",
        printed_by: "mxray logs --json (one document)",
        schema: schema_of::<mxray_logs::Report>,
    },
    Doc {
        name: "queue",
        printed_by: "mxray queue --json (one document)",
        schema: schema_of::<mxray_queue::Report>,
    },
    Doc {
        name: "logs-event",
        printed_by: "mxray logs --events (one per line, one per delivery attempt)",
        schema: schema_of::<mxray_logs::AttemptRecord>,
    },
    Doc {
        name: "logs-follow-event",
        printed_by: "mxray logs --follow --json (one per line, one per event, the summary last) and its --webhook posts",
        schema: schema_of::<mxray_logs::follow::FollowEvent>,
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
        name: "monitor",
        printed_by: "mxray serve: POST, GET and PATCH /v1/monitors/ID, and each line of GET /v1/monitors",
        schema: schema_of::<mxray_serve::monitors::MonitorView>,
    },
    Doc {
        name: "monitor-run",
        printed_by: "mxray serve: GET /v1/monitors/ID/runs (one per line, newest first)",
        schema: schema_of::<mxray_serve::monitors::store::RunRow>,
    },
    Doc {
        name: "monitor-event",
        printed_by: "mxray serve: GET /v1/monitors/ID/events (one per line, newest first)",
        schema: schema_of::<mxray_serve::monitors::store::EventRow>,
    },
    Doc {
        name: "lab-demo",
        printed_by: "mxray lab demo --json (one document)",
        schema: schema_of::<crate::cmd::demo::DemoDocument<'static>>,
    },
];

fn schema_of<T: JsonSchema>(name: &str, printed_by: &str) -> Schema {
    mxray_core::document::published_schema::<T>(name, printed_by)
}

/// The file a document's schema is published in.
pub fn render(doc: &Doc) -> String {
    let mut text =
        serde_json::to_string_pretty(&(doc.schema)(doc.name, doc.printed_by)).unwrap_or_default();
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
