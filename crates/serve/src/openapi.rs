//! The OpenAPI 3.1 document of `GET /v1/openapi.json`, made by aide from the router itself:
//! paths, parameters and request bodies from the handlers' extractor types, answers from the
//! published document types (the same schemas as docs/schema/), so it cannot drift.

use std::marker::PhantomData;

use aide::generate::GenContext;
use aide::openapi::{
    MediaType, Operation, ReferenceOr, RequestBody, Response, SchemaObject, SecurityScheme,
    StatusCode,
};
use aide::transform::{TransformOpenApi, TransformOperation, TransformPathItem};
use indexmap::IndexMap;
use mxray_core::document::published_schema;

/// An error answer: `{"schema_version": 1, "error": {"status": 422, "message": "..."}}`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// The HTTP status, repeated for clients that only keep the body.
    pub status: u16,
    /// What went wrong and what to send instead.
    pub message: String,
}

/// `POST /v1/jobs`' answer.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct JobAccepted {
    pub id: String,
    /// `queued`.
    pub state: String,
}

/// A document the API answers with: its component name (as in docs/schema/) and who sends it.
pub trait Published: schemars::JsonSchema {
    const NAME: &'static str;
    const SENT_BY: &'static str;
}

macro_rules! published {
    ($($t:ty => $name:literal, $by:literal;)*) => {
        $(impl Published for $t {
            const NAME: &'static str = $name;
            const SENT_BY: &'static str = $by;
        })*
    };
}

published! {
    mxray_core::Explanation => "explain", "POST /v1/explain, one per line";
    mxray_bounce::BounceResult => "bounce", "POST /v1/explain with a whole bounce message, one per recipient";
    mxray_diagnose::Report => "diagnose", "GET /v1/domains/{domain}/diagnosis, and each line of a diagnose job's results";
    mxray_verify::VerifyResult => "verify", "POST /v1/verify, and each line of a verify job's results";
    crate::jobs::JobStatus => "serve-job", "GET and DELETE /v1/jobs/{id}";
    JobAccepted => "job-accepted", "POST /v1/jobs, and a diagnosis with wait=false";
    mxray_logs::Report => "logs", "POST /v1/logs";
    ErrorBody => "error", "every error answer";
    crate::monitors::MonitorView => "monitor", "POST, GET and PATCH /v1/monitors/{id}, and each line of GET /v1/monitors";
    crate::monitors::store::RunRow => "monitor-run", "GET /v1/monitors/{id}/runs, one per line";
    crate::monitors::store::EventRow => "monitor-event", "GET /v1/monitors/{id}/events, one per line";
}

/// A `T` answered as JSON (`Json`), or as JSON Lines of them (`Lines`), or JSON Lines of
/// either of two (`EitherLines`: a job's results, by the job's kind).
pub struct Json<T>(PhantomData<T>);
pub struct Lines<T>(PhantomData<T>);
pub struct EitherLines<A, B>(PhantomData<(A, B)>);

/// The component `T` is published as (added once), referenced by `$ref`.
fn component<T: Published>(ctx: &mut GenContext) -> SchemaObject {
    let defs = ctx.schema.definitions_mut();
    if !defs.contains_key(T::NAME) {
        defs.insert(
            T::NAME.into(),
            published_schema::<T>(T::NAME, T::SENT_BY).into(),
        );
    }
    inline(serde_json::json!({ "$ref": format!("#/components/schemas/{}", T::NAME) }))
}

fn answer(media: &str, schema: SchemaObject) -> Response {
    Response {
        content: IndexMap::from_iter([(
            media.into(),
            MediaType {
                schema: Some(schema),
                ..Default::default()
            },
        )]),
        ..Default::default()
    }
}

impl<T: Published> aide::OperationOutput for Json<T> {
    type Inner = T;
    fn operation_response(ctx: &mut GenContext, _: &mut Operation) -> Option<Response> {
        Some(answer("application/json", component::<T>(ctx)))
    }
}

impl<T: Published> aide::OperationOutput for Lines<T> {
    type Inner = T;
    fn operation_response(ctx: &mut GenContext, _: &mut Operation) -> Option<Response> {
        Some(answer("application/x-ndjson", component::<T>(ctx)))
    }
}

impl<A: Published, B: Published> aide::OperationOutput for EitherLines<A, B> {
    type Inner = A;
    fn operation_response(ctx: &mut GenContext, _: &mut Operation) -> Option<Response> {
        let (a, b) = (component::<A>(ctx), component::<B>(ctx));
        Some(answer(
            "application/x-ndjson",
            inline(serde_json::json!({ "anyOf": [a.json_schema, b.json_schema] })),
        ))
    }
}

fn inline(v: serde_json::Value) -> SchemaObject {
    SchemaObject {
        json_schema: v.try_into().unwrap_or_default(),
        example: None,
        external_docs: None,
    }
}

/// Bodies that are text, not JSON: the media type, and what the text is.
macro_rules! text_answer {
    ($($name:ident => $media:literal, $schema:tt;)*) => {
        $(pub struct $name;

        impl aide::OperationOutput for $name {
            type Inner = String;
            fn operation_response(_: &mut GenContext, _: &mut Operation) -> Option<Response> {
                Some(answer($media, inline(serde_json::json!($schema))))
            }
        })*
    };
}

text_answer! {
    Text => "text/plain", { "type": "string" };
    Csv => "text/csv", { "type": "string" };
    OpenMetrics => "application/openmetrics-text", { "type": "string" };
    OpenApiJson => "application/json", { "type": "object", "description": "OpenAPI 3.1" };
}

/// What each error status means on this API, for the routes that can answer it.
pub fn errors<'a>(mut op: TransformOperation<'a>, codes: &[u16]) -> TransformOperation<'a> {
    for c in codes {
        let what = match c {
            401 => "no API key",
            403 => "an unknown or revoked API key",
            404 => "no such job for this key",
            413 => "the body is too large",
            422 => "the request cannot run as sent (the message says what to send)",
            429 => "the key's rate or requests in flight, or the job queue, is full (Retry-After)",
            503 => "no DNS resolver answers",
            504 => "the deadline passed",
            _ => "error",
        };
        op = op.response_with_status::<Json<ErrorBody>>(*c, what);
    }
    op
}

/// Helpers on aide's operation transform that name the status at run time.
pub trait StatusExt<'a> {
    fn response_with_status<R: aide::OperationOutput>(
        self,
        status: u16,
        description: &str,
    ) -> TransformOperation<'a>;
}

impl<'a> StatusExt<'a> for TransformOperation<'a> {
    fn response_with_status<R: aide::OperationOutput>(
        mut self,
        status: u16,
        description: &str,
    ) -> TransformOperation<'a> {
        let response =
            aide::generate::in_context(|ctx| R::operation_response(ctx, &mut Operation::default()));
        if let Some(mut r) = response {
            r.description = description.into();
            let op = self.inner_mut();
            let responses = op.responses.get_or_insert_with(Default::default);
            // A second media type for one status (results as JSON Lines or CSV) joins the first.
            match responses.responses.get_mut(&StatusCode::Code(status)) {
                Some(ReferenceOr::Item(known)) => known.content.extend(r.content),
                _ => {
                    responses
                        .responses
                        .insert(StatusCode::Code(status), ReferenceOr::Item(r));
                }
            }
        }
        self
    }
}

/// Adds a media type the request body may come as, beside what the handler's extractor
/// declared (a job list: JSON, text or CSV, all read through one `String`; a log upload).
pub fn accepts<'a>(
    mut op: TransformOperation<'a>,
    media: &str,
    schema: serde_json::Value,
) -> TransformOperation<'a> {
    let body = op
        .inner_mut()
        .request_body
        .get_or_insert_with(|| ReferenceOr::Item(RequestBody::default()));
    if let ReferenceOr::Item(b) = body {
        b.required = true;
        b.content.insert(
            media.into(),
            MediaType {
                schema: Some(inline(schema)),
                ..Default::default()
            },
        );
    }
    op
}

/// [`accepts`] with the schema of `T` (a JSON body read by hand).
pub fn accepts_json<'a, T: schemars::JsonSchema>(
    op: TransformOperation<'a>,
) -> TransformOperation<'a> {
    let schema = aide::generate::in_context(|ctx| ctx.schema.subschema_for::<T>());
    accepts(op, "application/json", schema.to_value())
}

/// Every operation of a `/v1` path (and `/metrics`) needs a key, and may answer 401, 403 or 429.
pub fn behind_key(mut item: TransformPathItem<'_>) -> TransformPathItem<'_> {
    let path = item.inner_mut();
    let methods = [
        &mut path.get,
        &mut path.post,
        &mut path.put,
        &mut path.patch,
        &mut path.delete,
    ];
    for op in methods.into_iter().flatten() {
        let _ =
            errors(TransformOperation::new(op), &[401, 403, 429]).security_requirement("bearer");
    }
    item
}

/// Sets aide's schema generator (per thread) for OpenAPI 3.1 before any route is added:
/// JSON Schema 2020-12, as the published schemas are (aide's default, draft 7, would rewrite
/// them, tuples included), definitions under `#/components/schemas/`.
pub fn begin() {
    aide::generate::in_context(|ctx| {
        ctx.schema = schemars::generate::SchemaSettings::draft2020_12()
            .with(|s| s.definitions_path = "#/components/schemas/".into())
            .into_generator();
    });
}

/// The document's frame around the generated paths: title, version, the bearer scheme.
pub fn frame(api: TransformOpenApi<'_>) -> TransformOpenApi<'_> {
    api.title("mxray")
        .version(env!("CARGO_PKG_VERSION"))
        .description(
            "SMTP transient failures explained, domains diagnosed, addresses verified: the same documents as the mxray CLI's --json (docs/schema/).",
        )
        .security_scheme(
            "bearer",
            SecurityScheme::Http {
                scheme: "bearer".into(),
                bearer_format: None,
                description: Some("A key from: mxray serve keys create --name NAME".into()),
                extensions: Default::default(),
            },
        )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn operations(d: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in d["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
        out
    }

    #[test]
    fn every_reference_resolves_and_every_published_schema_has_its_own_id() {
        let d = crate::app::document();
        let schemas = d["components"]["schemas"].as_object().expect("schemas");
        for name in [
            "explain",
            "bounce",
            "diagnose",
            "verify",
            "serve-job",
            "job-accepted",
            "logs",
            "error",
            "monitor",
            "monitor-run",
            "monitor-event",
        ] {
            assert!(
                schemas[name]["$id"]
                    .as_str()
                    .is_some_and(|i| i.ends_with(&format!("/{name}.schema.json"))),
                "{name}"
            );
        }
        let text = d.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "dangling $ref to {name}");
        }
    }

    /// The components are the published schemas untouched (aide's generator may not rewrite
    /// them): the API and docs/schema/ describe one shape.
    #[test]
    fn published_components_are_the_published_schemas() {
        use super::Published;
        fn same<T: Published>(d: &Value) {
            let published = mxray_core::document::published_schema::<T>(T::NAME, T::SENT_BY);
            assert_eq!(
                &d["components"]["schemas"][T::NAME],
                published.as_value(),
                "{}",
                T::NAME
            );
        }
        let d = crate::app::document();
        same::<mxray_core::Explanation>(&d);
        same::<mxray_bounce::BounceResult>(&d);
        same::<mxray_diagnose::Report>(&d);
        same::<mxray_verify::VerifyResult>(&d);
        same::<crate::jobs::JobStatus>(&d);
        same::<super::JobAccepted>(&d);
        same::<mxray_logs::Report>(&d);
        same::<super::ErrorBody>(&d);
        same::<crate::monitors::MonitorView>(&d);
        same::<crate::monitors::store::RunRow>(&d);
        same::<crate::monitors::store::EventRow>(&d);
    }

    /// Every operation says what it does and what it answers on success; every /v1 route and
    /// /metrics need the key and say so (401, 403, 429); the probes do not.
    #[test]
    fn every_operation_is_described_and_keyed_as_served() {
        let d = crate::app::document();
        let ops = operations(&d);
        assert!(ops.len() >= 12, "{ops:?}");
        for (path, method, op) in ops {
            let at = format!("{method} {path}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{at}"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|k| k.starts_with('2')), "{at}");
            let keyed = path.starts_with("/v1/") || path == "/metrics";
            assert_eq!(op["security"].is_array(), keyed, "{at}");
            for code in ["401", "403", "429"] {
                assert_eq!(responses.contains_key(code), keyed, "{at} {code}");
            }
            for (code, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|s| !s.is_empty()),
                    "{at} {code}"
                );
            }
        }
    }
}
