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
