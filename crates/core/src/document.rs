//! The envelope of every JSON document mxray writes: `schema_version` beside the document's own
//! fields, so a consumer knows which shape it reads. The shapes are in `docs/schema/`.

use serde::Serialize;

/// The version of mxray's JSON shapes, one number for every document: raised when a field is
/// removed or changes meaning (new fields alone do not raise it).
pub const SCHEMA_VERSION: u32 = 1;

/// A document as printed: `{"schema_version": 1, ...the body's fields}`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Document<T> {
    /// The version of this document's shape (docs/schema/); raised when a field is removed or
    /// changes meaning.
    pub schema_version: u32,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Document<T> {
    pub fn new(body: T) -> Document<T> {
        Document {
            schema_version: SCHEMA_VERSION,
            body,
        }
    }
}

/// The published JSON Schema of `Document<T>` (docs/schema/NAME.schema.json, and the API's
/// OpenAPI components): draft 2020-12, every object closed (`additionalProperties: false`, so
/// a field the schema does not name fails validation), `schema_version` pinned, an `$id` that
/// makes it a resource of its own wherever it is embedded.
pub fn published_schema<T: schemars::JsonSchema>(name: &str, printed_by: &str) -> schemars::Schema {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .with_transform(Closed)
        .into_generator()
        .into_root_schema_for::<Document<T>>();
    schema.insert(
        "$id".into(),
        format!("https://mxray.dev/schema/v{SCHEMA_VERSION}/{name}.schema.json").into(),
    );
    if let Some(v) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("schema_version"))
    {
        *v = serde_json::json!({
            "description": "The version of mxray's JSON shapes; raised when a field is removed or changes meaning.",
            "const": SCHEMA_VERSION
        });
    }
    schema.insert("title".into(), format!("mxray {name}").into());
    schema.insert(
        "description".into(),
        format!("Printed by {printed_by}.").into(),
    );
    schema
}

/// Closes every object schema that lists its properties (maps, which list none, stay open).
#[derive(Clone)]
struct Closed;

impl schemars::transform::Transform for Closed {
    fn transform(&mut self, schema: &mut schemars::Schema) {
        if let Some(obj) = schema.as_object_mut()
            && obj.contains_key("properties")
            && !obj.contains_key("additionalProperties")
        {
            obj.insert("additionalProperties".into(), false.into());
        }
        schemars::transform::transform_subschemas(self, schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Body {
        verdict: &'static str,
    }

    #[test]
    fn the_version_comes_first_beside_the_body_fields() {
        let json = serde_json::to_string(&Document::new(&Body { verdict: "ok" })).unwrap();
        assert_eq!(json, r#"{"schema_version":1,"verdict":"ok"}"#);
    }
}
