//! The OpenAPI 3.1 document of `GET /v1/openapi.json`: the paths written here beside the
//! routes, every body schema generated from the Rust types (the same as docs/schema/).

use mxray_core::document::published_schema;
use serde_json::{Value, json};

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

fn doc(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn error_responses(codes: &[u16]) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for c in codes {
        let what = match c {
            401 => "no API key",
            403 => "an unknown or revoked API key",
            404 => "no such route or job for this key",
            413 => "the body is too large",
            422 => "the request cannot run as sent (the message says what to send)",
            429 => "a key's rate or requests in flight, or the job queue, is full (Retry-After)",
            503 => "no DNS resolver answers",
            504 => "the deadline passed",
            _ => "error",
        };
        m.insert(
            c.to_string(),
            json!({ "description": what, "content": { "application/json": { "schema": doc("error") } } }),
        );
    }
    m
}

fn ok(description: &str, media: &str, schema: Value, errors: &[u16]) -> Value {
    let mut r = error_responses(errors);
    r.insert(
        "200".into(),
        json!({ "description": description, "content": { media: { "schema": schema } } }),
    );
    Value::Object(r)
}

fn param(name: &str, place: &str, description: &str, required: bool) -> Value {
    json!({ "name": name, "in": place, "description": description, "required": required, "schema": { "type": "string" } })
}

/// The whole document.
pub fn document() -> Value {
    let auth = [401, 403, 429];
    let with = |extra: &[u16]| -> Vec<u16> { auth.iter().chain(extra).copied().collect() };
    let mut diagnosis_responses = ok(
        "the diagnose --json report",
        "application/json",
        doc("diagnose"),
        &with(&[422, 504]),
    );
    diagnosis_responses["202"] = json!({
        "description": "with wait=false: the job (Location: /v1/jobs/{id})",
        "content": { "application/json": { "schema": doc("job-accepted") } }
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mxray",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "SMTP transient failures explained, domains diagnosed, addresses verified: the same documents as the mxray CLI's --json (docs/schema/)."
        },
        "security": [{ "bearer": [] }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "A key from: mxray serve keys create --name NAME" } },
            "schemas": {
                "explain": published_schema::<mxray_core::Explanation>("explain", "POST /v1/explain, one per line"),
                "diagnose": published_schema::<mxray_diagnose::Report>("diagnose", "GET /v1/domains/{domain}/diagnosis"),
                "verify": published_schema::<mxray_verify::VerifyResult>("verify", "POST /v1/verify, and each line of a job's results"),
                "serve-job": published_schema::<crate::jobs::JobStatus>("serve-job", "GET and DELETE /v1/jobs/{id}"),
                "job-accepted": published_schema::<JobAccepted>("job-accepted", "POST /v1/jobs"),
                "logs": published_schema::<mxray_logs::Report>("logs", "POST /v1/logs"),
                "error": published_schema::<ErrorBody>("error", "every error answer")
            }
        },
        "paths": {
            "/healthz": { "get": { "security": [], "summary": "The process answers", "responses": { "200": { "description": "ok" } } } },
            "/readyz": { "get": { "security": [], "summary": "A DNS resolver answers", "responses": ok("ready", "text/plain", json!({"type": "string"}), &[503]) } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": ok("text exposition", "application/openmetrics-text", json!({"type": "string"}), &with(&[])) } },
            "/v1/openapi.json": { "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3.1" } } } },
            "/v1/explain": { "post": {
                "summary": "Explain every SMTP reply, code, DSN or log line in the body",
                "requestBody": { "required": true, "content": { "text/plain": { "schema": { "type": "string", "maxLength": 262144 } } } },
                "responses": ok("JSON Lines: one explanation per reply found", "application/x-ndjson", doc("explain"), &with(&[413, 422]))
            } },
            "/v1/domains/{domain}/diagnosis": { "get": {
                "summary": "The 421 checklist against a domain, within a deadline",
                "parameters": [
                    param("domain", "path", "The domain", true),
                    param("probe", "query", "An address at the domain to ask the MX hosts about (RCPT TO, then RSET)", false),
                    param("sender_ip", "query", "An IP to evaluate SPF for and look up on blocklists", false),
                    param("dkim_selector", "query", "DKIM selectors, comma-separated", false),
                    param("only", "query", "Areas, comma-separated: dns, transport, tls, auth, reputation", false),
                    param("deadline", "query", "10s, 2m; default 60s, at most 120s", false),
                    param("wait", "query", "false: answer 202 with a job at once; its result is the report", false)
                ],
                "responses": diagnosis_responses
            } },
            "/v1/verify": { "post": {
                "summary": "Verify one address in real time; transient obstacles answer unknown with retry_after_s",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "additionalProperties": false, "required": ["address"],
                    "properties": { "address": { "type": "string" }, "deadline": { "type": "string", "description": "default 10s, at most 120s" } }
                } } } },
                "responses": ok("the verify --json result (Retry-After when retry_after_s is set)", "application/json", doc("verify"), &with(&[413, 422, 504]))
            } },
            "/v1/jobs": { "post": {
                "summary": "Queue a bulk verification",
                "requestBody": { "required": true, "content": {
                    "application/json": { "schema": {
                        "type": "object", "additionalProperties": false, "required": ["kind"],
                        "properties": {
                            "kind": { "enum": ["verify", "diagnose"] },
                            "addresses": { "type": "array", "items": { "type": "string" }, "description": "a verify job's list" },
                            "domains": { "type": "array", "items": { "type": "string" }, "description": "a diagnose job's list" }
                        }
                    } },
                    "text/plain": { "schema": { "type": "string", "description": "one address per line" } }
                } },
                "responses": {
                    "202": { "description": "queued (Location: /v1/jobs/{id})", "content": { "application/json": { "schema": doc("job-accepted") } } }
                }
            } },
            "/v1/jobs/{id}": {
                "get": { "summary": "A job's state, progress, counts and ETA", "parameters": [param("id", "path", "The job", true)], "responses": ok("the job", "application/json", doc("serve-job"), &with(&[404])) },
                "delete": { "summary": "Cancel a queued or running job", "parameters": [param("id", "path", "The job", true)], "responses": ok("the job, cancelled", "application/json", doc("serve-job"), &with(&[404])) }
            },
            "/v1/logs": { "post": {
                "summary": "A Postfix, Exim or Sendmail log (plain or gzip), grouped and explained",
                "parameters": [
                    param("since", "query", "2026-11-20 or 2026-11-20T10:00:00Z", false),
                    param("until", "query", "2026-11-21", false),
                    param("domain", "query", "Destination domains, comma-separated", false),
                    param("year", "query", "The year of year-less syslog stamps", false)
                ],
                "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": ok("the logs --json report", "application/json", doc("logs"), &with(&[413, 422]))
            } },
            "/v1/jobs/{id}/results": { "get": {
                "summary": "The results stored so far, in input order (a diagnose job's: its reports, JSON Lines)",
                "parameters": [param("id", "path", "The job", true), param("format", "query", "jsonl (default) or csv", false)],
                "responses": ok("JSON Lines of verify results (or CSV)", "application/x-ndjson", doc("verify"), &with(&[404, 422]))
            } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_and_every_schema_has_its_own_id() {
        let d = document();
        let text = d.to_string();
        let schemas = d["components"]["schemas"].as_object().expect("schemas");
        for (name, s) in schemas {
            assert!(
                s["$id"]
                    .as_str()
                    .is_some_and(|i| i.ends_with(&format!("/{name}.schema.json"))),
                "{name}"
            );
        }
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "dangling $ref to {name}");
        }
    }
}
