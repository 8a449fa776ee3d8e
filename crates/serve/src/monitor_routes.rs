//! The monitors' API: `/v1/monitors` to create and list, `/v1/monitors/{id}` to read, change
//! and delete, its `runs` and `events`, and `run` to check now; answers are `Document`s.

use aide::axum::ApiRouter;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxray_core::Document;
use serde::Deserialize;

use crate::app::{ApiError, Owner, Shared};
use crate::monitors::model::Request;
use crate::monitors::store::{EventRow, RunRow};
use crate::monitors::{MonitorError, MonitorView};
use crate::openapi::StatusExt;

/// A monitor's settings as JSON: small.
const BODY: usize = 16 * 1024;
/// Runs and events answered at most per request.
const MAX_LIST: usize = 10_000;

pub(crate) fn routes() -> ApiRouter<Shared> {
    use crate::openapi::{Lines, accepts_json, errors};
    use aide::axum::routing::{get_with, post_with};
    type Doc<T> = crate::openapi::Json<T>;
    ApiRouter::new()
        .api_route(
            "/monitors",
            post_with(create, |mut op| {
                op.inner_mut().responses = None;
                let op = op
                    .summary("Watch a domain: diagnosed now and every interval, alerting after a failing streak")
                    .response_with_status::<Doc<MonitorView>>(201, "the monitor (Location: /v1/monitors/{id})");
                let op = accepts_json::<Request>(op);
                errors(op, &[409, 413, 422])
            })
            .get_with(list, |op| {
                op.summary("Every monitor with its state and last run")
                    .response_with_status::<Lines<MonitorView>>(200, "JSON Lines: one monitor per line")
            })
            .layer(DefaultBodyLimit::max(BODY)),
        )
        .api_route(
            "/monitors/{id}",
            get_with(get, |op| {
                let op = op
                    .summary("A monitor: settings, state, last run, next run")
                    .response_with_status::<Doc<MonitorView>>(200, "the monitor");
                errors(op, &[404])
            })
            .patch_with(update, |mut op| {
                op.inner_mut().responses = None;
                let op = op
                    .summary("Change a monitor's settings (the fields given; the rest stay)")
                    .response_with_status::<Doc<MonitorView>>(200, "the monitor");
                let op = accepts_json::<Request>(op);
                errors(op, &[404, 409, 413, 422])
            })
            .delete_with(delete, |op| {
                let op = op
                    .summary("Stop watching: the monitor and its history are deleted")
                    .response_with_status::<crate::openapi::Text>(204, "deleted");
                errors(op, &[404, 409])
            })
            .layer(DefaultBodyLimit::max(BODY)),
        )
        .api_route(
            "/monitors/{id}/runs",
            get_with(runs, |op| {
                let op = op
                    .summary("The monitor's runs, newest first (?limit=, ?since=UNIX); old days folded into one row each")
                    .response_with_status::<Lines<RunRow>>(200, "JSON Lines: one run per line");
                errors(op, &[404, 422])
            }),
        )
        .api_route(
            "/monitors/{id}/events",
            get_with(events, |op| {
                let op = op
                    .summary("The monitor's state changes, newest first (?limit=): verdicts, findings appearing and clearing, alerts, recoveries")
                    .response_with_status::<Lines<EventRow>>(200, "JSON Lines: one event per line");
                errors(op, &[404, 422])
            }),
        )
        .api_route(
            "/monitors/{id}/run",
            post_with(run_now, |op| {
                let op = op
                    .summary("Run the monitor now (its schedule stays)")
                    .response_with_status::<Doc<MonitorView>>(202, "the monitor, due now");
                errors(op, &[404])
            }),
        )
}

fn monitor_error(e: MonitorError) -> ApiError {
    let status = match &e {
        MonitorError::NotFound(_) => StatusCode::NOT_FOUND,
        MonitorError::Invalid(_) | MonitorError::NoRelay => StatusCode::UNPROCESSABLE_ENTITY,
        MonitorError::FromFile(_) | MonitorError::Full(_) => StatusCode::CONFLICT,
        MonitorError::Store(_) | MonitorError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, mxray_core::escape_text(&e.to_string()))
}

fn body(
    b: Result<Json<Request>, axum::extract::rejection::JsonRejection>,
) -> Result<Request, ApiError> {
    b.map(|Json(r)| r).map_err(|e| {
        ApiError::bad(format!(
            "expected {{\"domain\": \"example.com\", \"interval\": \"1h\", \"alert_after\": 2, \"webhooks\": [\"https://...\"]}}: {}",
            e.body_text()
        ))
    })
}

fn one(status: StatusCode, m: &MonitorView) -> Response {
    (status, Json(Document::new(m))).into_response()
}

fn lines<T: serde::Serialize>(items: &[T]) -> Response {
    let mut out = String::new();
    for i in items {
        if let Ok(l) = serde_json::to_string(&Document::new(i)) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    ([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response()
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct IdPath {
    id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ListQuery {
    /// At most this many (default 100, at most 10,000).
    limit: Option<usize>,
    /// Unix seconds: nothing older.
    since: Option<i64>,
}

impl ListQuery {
    fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n) if (1..=MAX_LIST).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::bad(format!("limit: from 1 to {MAX_LIST}"))),
        }
    }
}

async fn create(
    State(st): State<Shared>,
    axum::Extension(Owner(owner)): axum::Extension<Owner>,
    b: Result<Json<Request>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(b)?;
    let m = st
        .monitors
        .create(owner, req)
        .await
        .map_err(monitor_error)?;
    let mut r = one(StatusCode::CREATED, &m);
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/monitors/{}", m.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

async fn list(State(st): State<Shared>) -> Result<Response, ApiError> {
    let all = st.monitors.list().await.map_err(monitor_error)?;
    Ok(lines(&all))
}

async fn get(
    State(st): State<Shared>,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Response, ApiError> {
    let m = st.monitors.get(&id).await.map_err(monitor_error)?;
    Ok(one(StatusCode::OK, &m))
}

async fn update(
    State(st): State<Shared>,
    Path(IdPath { id }): Path<IdPath>,
    b: Result<Json<Request>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(b)?;
    let m = st.monitors.update(&id, req).await.map_err(monitor_error)?;
    Ok(one(StatusCode::OK, &m))
}

async fn delete(
    State(st): State<Shared>,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Response, ApiError> {
    st.monitors.delete(&id).await.map_err(monitor_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn runs(
    State(st): State<Shared>,
    Path(IdPath { id }): Path<IdPath>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit()?;
    let v = st
        .monitors
        .runs(&id, q.since.unwrap_or(0), limit)
        .await
        .map_err(monitor_error)?;
    Ok(lines(&v))
}

async fn events(
    State(st): State<Shared>,
    Path(IdPath { id }): Path<IdPath>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit()?;
    let v = st
        .monitors
        .events(&id, limit)
        .await
        .map_err(monitor_error)?;
    Ok(lines(&v))
}

async fn run_now(
    State(st): State<Shared>,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Response, ApiError> {
    let m = st.monitors.run_now(&id).await.map_err(monitor_error)?;
    Ok(one(StatusCode::ACCEPTED, &m))
}
