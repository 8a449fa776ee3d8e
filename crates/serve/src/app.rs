//! The routes of `mxray serve`: each parses its request, calls the library the CLI calls, and
//! answers the CLI's JSON document; errors are JSON too, with a status that says whose fault.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use aide::axum::ApiRouter;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use mxray_core::Document;
use mxray_diagnose::{DnsblZone, Limits, Options, SenderOptions, request};
use mxray_net::{AddressPolicy, Dns, TlsSettings};
use mxray_verify::{BudgetLimits, Budgets, Config, Engine, Item, VerifyResult};
use serde::Deserialize;
use tower_http::timeout::TimeoutLayer;

use crate::keys::KeyStore;
use crate::openapi::StatusExt;

/// Everything the routes need, built once from `mxray serve`'s flags.
#[derive(Clone)]
pub struct Settings {
    pub dns: Dns,
    /// SMTP port of MX hosts (25; a lab's).
    pub smtp_port: u16,
    /// Per network step.
    pub timeout: Duration,
    pub greeting_wait: Duration,
    pub from: String,
    pub helo: String,
    pub tls: Arc<TlsSettings>,
    pub https_port: u16,
    pub dnsbls: Vec<DnsblZone>,
    /// Public addresses only, plus `--allow-private` ranges: always on under `serve`.
    pub policy: AddressPolicy,
    /// `None`: `--no-auth` (loopback only, checked by the binary).
    pub keys: Option<Arc<KeyStore>>,
    pub verify_budget: BudgetLimits,
    pub greylist_retry: Duration,
    /// Connections at once to one MX address, across all diagnoses.
    pub per_address: usize,
    /// Requests per second per API key (a burst of as many); over it: 429 with Retry-After.
    pub key_rate: std::num::NonZeroU32,
    /// Requests in flight at once per API key; over it: 429.
    pub key_concurrency: usize,
    /// The data directory: keys, and the jobs' lists and results.
    pub data: std::path::PathBuf,
    /// How long a job's domain may stay transient (greylisting, throttling) before `unknown`.
    pub job_deadline: Duration,
    /// Largest log upload (spooled to the data directory, never held in memory): 413 past it.
    pub max_log_upload: u64,
    /// Jobs that may wait to run at once; more: 429.
    pub job_queue: usize,
    /// Verify jobs go to this cluster's `mxray worker`s (`--nats`).
    pub cluster: Option<mxray_cluster::Cluster>,
    /// Monitors: the file, retention, concurrency, alert channels.
    pub monitors: crate::monitors::MonitorOptions,
    /// The pages' session cookie is `Secure` (`--secure-cookies`: behind an HTTPS proxy).
    pub secure_cookies: bool,
}

/// Why the server could not start: its data directory or its monitors file.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Jobs(#[from] crate::jobs::JobError),
    #[error(transparent)]
    Monitors(#[from] crate::monitors::MonitorError),
    #[error(transparent)]
    Sessions(#[from] crate::web::SessionError),
}

/// The app and the handles the binary keeps: the monitors, to reload on SIGHUP.
pub struct App {
    pub router: Router,
    pub monitors: Arc<crate::monitors::Monitors>,
}

/// The API key a request came with (0 without keys): jobs belong to it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner(pub(crate) i64);

/// Per-key limits: a rate (GCRA, from governor) and a count of requests in flight.
struct KeyLimits {
    rate: governor::DefaultKeyedRateLimiter<i64>,
    in_flight: std::sync::Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Semaphore>>>,
    concurrency: usize,
}

impl KeyLimits {
    /// A slot for key `id`, or the 429 that says why not.
    fn admit(&self, id: i64) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        if let Err(not_until) = self.rate.check_key(&id) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(self.rate.clock()));
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "this API key's request rate is used up (--key-rate): wait for Retry-After seconds",
            );
            e.retry_after = Some(wait.as_millis().div_ceil(1000).max(1) as u64);
            return Err(e);
        }
        let sem = {
            let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(id)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.concurrency.max(1))))
                .clone()
        };
        sem.try_acquire_owned().map_err(|_| {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this API key has {} requests in flight already (--key-concurrency): wait for one to finish",
                    self.concurrency
                ),
            );
            e.retry_after = Some(1);
            e
        })
    }
}

pub(crate) struct AppState {
    jobs: Arc<crate::jobs::Jobs>,
    pub(crate) monitors: Arc<crate::monitors::Monitors>,
    s: Settings,
    metrics: crate::metrics::Metrics,
    key_limits: KeyLimits,
    /// One politeness for every verification the server runs.
    budgets: Arc<Budgets>,
    limits: Arc<Limits>,
}

pub(crate) type Shared = Arc<AppState>;

/// Longest a request may run, whatever it asks for.
const MAX_DEADLINE: Duration = Duration::from_secs(120);
/// Request bodies: explain takes pasted replies and log excerpts; the rest take small JSON.
const EXPLAIN_BODY: usize = 256 * 1024;
const SMALL_BODY: usize = 16 * 1024;
/// A job's list: a million addresses of ordinary length.
const JOB_BODY: usize = 64 * 1024 * 1024;

/// The app: `/healthz` and `/readyz` open, `/v1` behind the key check, the pages (`web`)
/// behind a session. Starts the jobs' worker and the monitors (call inside the runtime); jobs
/// left unfinished by the last run are resumed.
pub fn router(s: Settings) -> Result<Router, StartError> {
    app(s).map(|a| a.router)
}

/// [`router`] with the monitors' handle (the binary reloads them on SIGHUP).
pub fn app(s: Settings) -> Result<App, StartError> {
    let budgets = Arc::new(Budgets::new(s.verify_budget));
    // One per-address connection cap for every diagnosis, real time, jobs and monitors alike.
    let limits = Arc::new(Limits::new(s.per_address));
    type Diagnose = Arc<dyn Fn(&crate::jobs::DiagnoseParams) -> mxray_diagnose::Job + Send + Sync>;
    let diagnose: Diagnose = {
        let s = s.clone();
        let limits = limits.clone();
        Arc::new(move |p: &crate::jobs::DiagnoseParams| {
            let only = request::parse_areas(&p.only.join(",")).unwrap_or_default();
            mxray_diagnose::Job {
                dns: s.dns.clone(),
                // Each job and monitor run observes the hosts afresh; the caps are shared.
                opts: diagnose_options(&s, limits.scope(), p.probe),
                sender: Some(sender_options(
                    &s,
                    p.dkim_selectors.clone(),
                    p.sender_ip,
                    only,
                )),
            }
        })
    };
    let jobs = crate::jobs::Jobs::start(
        &s.data,
        crate::jobs::Worker {
            dns: s.dns.clone(),
            queue: s.job_queue,
            cluster: s.cluster.clone(),
            config: verify_config(&s, s.job_deadline),
            budgets: budgets.clone(),
            diagnose: diagnose.clone(),
        },
    )?;
    let o = s.monitors.clone();
    let monitors = crate::monitors::Monitors::start(
        &s.data,
        crate::monitors::MonitorSettings {
            file: o.file,
            retention: o.retention,
            concurrency: o.concurrency,
            alerts: crate::monitors::alerts::AlertSettings {
                secret: o.alert_secret,
                digest_window: o.digest_window,
                digest_after: o.digest_after,
                policy: s.policy.clone(),
                tls: s.tls.clone(),
                dns: s.dns.clone(),
                mailer: o.mailer,
                timeout: s.timeout,
            },
        },
        crate::monitors::Runner {
            dns: s.dns.clone(),
            diagnose,
            budgets: budgets.clone(),
            deadline: crate::monitors::RUN_DEADLINE,
        },
    )?;
    let web = Arc::new(crate::web::Web {
        s: s.clone(),
        jobs: jobs.clone(),
        limits: limits.clone(),
        sessions: Arc::new(crate::web::Sessions::open(&s.data, s.keys.is_some())?),
        monitors: monitors.clone(),
    });
    let state = Arc::new(AppState {
        jobs,
        monitors: monitors.clone(),
        metrics: crate::metrics::Metrics::new(),
        key_limits: KeyLimits {
            rate: governor::RateLimiter::keyed(governor::Quota::per_second(s.key_rate)),
            in_flight: Default::default(),
            concurrency: s.key_concurrency,
        },
        budgets,
        limits,
        s,
    });
    let auth = middleware::from_fn_with_state(state.clone(), authorize);
    let (app, document) = assemble(routes(), |r| r.layer(auth.clone()));
    let app = app
        .merge(crate::web::router(web))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(axum::Extension(Arc::new(document)))
        .layer(middleware::from_fn_with_state(state.clone(), measure))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            MAX_DEADLINE + Duration::from_secs(5),
        ))
        .with_state(state);
    Ok(App {
        router: app,
        monitors,
    })
}

/// Every route with its documentation, before the layers that need the server's state.
struct Routes {
    open: ApiRouter<Shared>,
    v1: ApiRouter<Shared>,
    metrics: ApiRouter<Shared>,
}

fn routes() -> Routes {
    crate::openapi::begin();
    use crate::openapi::{
        Csv, EitherLines, OpenApiJson, OpenMetrics, Text, accepts, accepts_json, errors,
    };
    use aide::axum::routing::{get_with, post_with};
    type Doc<T> = crate::openapi::Json<T>;
    let v1 = ApiRouter::new()
        .api_route(
            "/explain",
            post_with(explain, |op| {
                let op = op
                    .summary("Explain every SMTP reply, code, DSN or log line in the body, or a whole bounce message")
                    .response_with_status::<EitherLines<mxray_core::Explanation, mxray_bounce::BounceResult>>(
                        200,
                        "JSON Lines: one explanation per reply found (a bounce message: one per recipient)",
                    );
                errors(op, &[413, 422])
            })
            .layer(DefaultBodyLimit::max(EXPLAIN_BODY)),
        )
        .api_route(
            "/domains/{domain}/diagnosis",
            get_with(diagnosis, |op| {
                let op = op
                    .summary("The 421 checklist against a domain, within a deadline")
                    .response_with_status::<Doc<mxray_diagnose::Report>>(
                        200,
                        "the diagnose --json report",
                    )
                    .response_with_status::<Doc<crate::openapi::JobAccepted>>(
                        202,
                        "with wait=false: the job (Location: /v1/jobs/{id}); its result is the report",
                    );
                errors(op, &[422, 504])
            }),
        )
        .api_route(
            "/verify",
            post_with(verify, |mut op| {
                // The handler turns every JSON rejection into a 422 of ours: none of the
                // text/plain rejections aide infers for a JSON body is ever sent.
                op.inner_mut().responses = None;
                let op = op
                    .summary("Verify one address in real time; transient obstacles answer unknown with retry_after_s")
                    .response_with_status::<Doc<VerifyResult>>(
                        200,
                        "the verify --json result (Retry-After when retry_after_s is set)",
                    );
                errors(op, &[413, 422, 504])
            })
            .layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .api_route(
            "/jobs",
            post_with(submit_job, |op| {
                let op = op
                    .summary("Queue a bulk verification (a list of addresses) or diagnosis (of domains)")
                    .response_with_status::<Doc<crate::openapi::JobAccepted>>(
                        202,
                        "queued (Location: /v1/jobs/{id})",
                    );
                let op = accepts_json::<JobRequest>(op);
                let op = accepts(
                    op,
                    "text/csv",
                    serde_json::json!({ "type": "string", "description": "a CSV with a header row; the address column is ?column= (default email)" }),
                );
                errors(op, &[413, 422])
            })
            .layer(DefaultBodyLimit::max(JOB_BODY)),
        )
        .api_route(
            "/jobs/{id}",
            get_with(job_status, |op| {
                let op = op
                    .summary("A job's state, progress, counts and ETA")
                    .response_with_status::<Doc<crate::jobs::JobStatus>>(200, "the job");
                errors(op, &[404])
            })
            .delete_with(cancel_job, |op| {
                let op = op
                    .summary("Cancel a queued or running job; what it decided stays readable")
                    .response_with_status::<Doc<crate::jobs::JobStatus>>(200, "the job, cancelled");
                errors(op, &[404])
            }),
        )
        .api_route(
            "/jobs/{id}/results",
            get_with(job_results, |op| {
                let op = op
                    .summary("The results stored so far, in input order")
                    .response_with_status::<EitherLines<VerifyResult, mxray_diagnose::Report>>(
                        200,
                        "JSON Lines: verify results (a diagnose job: its reports); ?format=csv: CSV",
                    )
                    .response_with_status::<Csv>(200, "?format=csv: CSV");
                errors(op, &[404, 422])
            }),
        )
        .api_route(
            "/openapi.json",
            get_with(openapi, |op| {
                op.summary("This document")
                    .response_with_status::<OpenApiJson>(200, "the OpenAPI document")
            }),
        )
        .api_route(
            "/logs",
            post_with(upload_logs, |op| {
                let op = op
                    .summary("A Postfix, Exim or Sendmail log (plain or gzip), grouped and explained")
                    .response_with_status::<Doc<mxray_logs::Report>>(200, "the logs --json report");
                let op = accepts(
                    op,
                    "application/octet-stream",
                    serde_json::json!({ "type": "string", "format": "binary" }),
                );
                errors(op, &[413, 422])
            })
            .layer(DefaultBodyLimit::disable()),
        )
        .merge(crate::monitor_routes::routes())
        .with_path_items(crate::openapi::behind_key);
    // Metrics name who is being verified (providers): behind a key like /v1.
    let metrics = ApiRouter::new()
        .api_route(
            "/metrics",
            get_with(metrics_text, |op| {
                op.summary("Prometheus metrics")
                    .response_with_status::<OpenMetrics>(200, "OpenMetrics text")
            }),
        )
        .with_path_items(crate::openapi::behind_key);
    let open = ApiRouter::new()
        .api_route(
            "/healthz",
            get_with(healthz, |op| {
                op.summary("The process answers")
                    .response_with_status::<Text>(200, "ok")
            }),
        )
        .api_route(
            "/readyz",
            get_with(readyz, |op| {
                let op = op
                    .summary("A DNS resolver answers")
                    .response_with_status::<Text>(200, "ready");
                errors(op, &[503])
            }),
        );
    Routes { open, v1, metrics }
}

/// Puts the routes together, `key` layering the ones that need a key; with the OpenAPI
/// document aide made from them.
fn assemble(
    r: Routes,
    key: impl Fn(ApiRouter<Shared>) -> ApiRouter<Shared>,
) -> (Router<Shared>, serde_json::Value) {
    let mut api = aide::openapi::OpenApi::default();
    let app = r
        .open
        .nest("/v1", key(r.v1))
        .merge(key(r.metrics))
        .finish_api_with(&mut api, crate::openapi::frame);
    // Serializing aide's own types is infallible in practice; null would fail every test.
    (app, serde_json::to_value(&api).unwrap_or_default())
}

/// The OpenAPI document, as `GET /v1/openapi.json` answers it.
#[cfg(test)]
pub(crate) fn document() -> serde_json::Value {
    assemble(routes(), |r| r).1
}

/// Binds the listening socket (port 0: a free one; `local_addr` says which).
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves `app` (from [`router`]) until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// An error answer: `{"schema_version": 1, "error": {"status": 401, "message": "..."}}`.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

/// Which error statuses a route answers is documented with the route (`openapi::errors`).
impl aide::OperationOutput for ApiError {
    type Inner = crate::openapi::ErrorBody;
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Document::new(crate::openapi::ErrorBody {
            error: crate::openapi::ErrorDetail {
                status: self.status.as_u16(),
                message: self.message,
            },
        });
        let mut r = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// `Authorization: Bearer KEY` on every `/v1` route, unless the server runs without keys;
/// then the key's rate and in-flight limits (without keys, one shared budget).
async fn authorize(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let mut req = req;
    let Some(keys) = &st.s.keys else {
        req.extensions_mut().insert(Owner(0));
        return match st.key_limits.admit(0) {
            Ok(_slot) => next.run(req).await,
            Err(e) => e.into_response(),
        };
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(key) = given else {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "an API key is needed: Authorization: Bearer KEY (mxray serve keys create --name NAME)",
        )
        .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    let store = keys.clone();
    let key = key.to_string();
    match tokio::task::spawn_blocking(move || store.check(&key)).await {
        Ok(Ok(Some(info))) => match st.key_limits.admit(info.id) {
            Ok(_slot) => {
                req.extensions_mut().insert(Owner(info.id));
                next.run(req).await
            }
            Err(e) => e.into_response(),
        },
        Ok(Ok(None)) => ApiError::new(StatusCode::FORBIDDEN, "this API key is unknown or revoked")
            .into_response(),
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the key store cannot be read",
        )
        .into_response(),
    }
}

/// Counts every request by its route (the pattern, never the path: domains are not labels)
/// and status, with its latency.
async fn measure(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(unmatched)".to_string(), |m| m.as_str().to_string());
    let start = std::time::Instant::now();
    let r = next.run(req).await;
    st.metrics
        .request(&route, r.status().as_u16(), start.elapsed());
    r
}

/// `GET /v1/openapi.json`: the API described (behind a key, as every `/v1` route).
async fn openapi(axum::Extension(document): axum::Extension<Arc<serde_json::Value>>) -> Response {
    Json(document.as_ref().clone()).into_response()
}

async fn healthz() -> Response {
    "ok\n".into_response()
}

/// `GET /metrics`: Prometheus text format.
async fn metrics_text(State(st): State<Shared>) -> Response {
    let jobs = st.jobs.clone();
    let by_state = tokio::task::spawn_blocking(move || jobs.by_state())
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(&st.budgets, &by_state),
    )
        .into_response()
}

/// Ready when a resolver answers: without one every diagnosis would be an environment error.
async fn readyz(State(st): State<Shared>) -> Response {
    if st.s.dns.alive().await {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no DNS resolver answers: check --resolver or the system's resolvers",
        )
        .into_response()
    }
}

/// `POST /v1/explain`: the text in the body (replies, log lines, a DSN); JSON Lines out, one
/// explanation per reply found, as `mxray explain --json` prints them.
async fn explain(body: String) -> Response {
    let mut lines = String::new();
    // A whole bounce message: one result per recipient, as `mxray explain < bounce.eml`.
    if mxray_bounce::looks_like_message(body.as_bytes()) {
        let results = match mxray_bounce::read(body.as_bytes()) {
            Ok(r) => r,
            Err(e) => return ApiError::bad(e.to_string()).into_response(),
        };
        for r in &results {
            if let Ok(line) = serde_json::to_string(&Document::new(r)) {
                lines.push_str(&line);
                lines.push('\n');
            }
        }
        if lines.is_empty() {
            return ApiError::bad(
                "the message reports on no recipient: send a bounce (DSN) or a reply",
            )
            .into_response();
        }
        return ([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response();
    }
    let mut problems = 0usize;
    for res in mxray_core::explain_all(&body) {
        match res {
            Ok(e) => {
                if let Ok(line) = serde_json::to_string(&Document::new(&e)) {
                    lines.push_str(&line);
                    lines.push('\n');
                }
            }
            Err(_) => problems += 1,
        }
    }
    if lines.is_empty() {
        return ApiError::bad(format!(
            "no SMTP reply found in the body ({problems} line(s) without one): send replies such as \"421 4.4.2 Connection closed by the server\", codes such as 4.4.3, or log lines containing one"
        ))
        .into_response();
    }
    ([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response()
}

/// A deadline parameter: `10s`, `2m`; at most [`MAX_DEADLINE`].
fn deadline(given: Option<&str>, default: Duration) -> Result<Duration, ApiError> {
    let Some(text) = given else {
        return Ok(default);
    };
    let d =
        mxray_core::duration::parse(text).map_err(|e| ApiError::bad(format!("deadline: {e}")))?;
    if d.is_zero() || d > MAX_DEADLINE {
        return Err(ApiError::bad(format!(
            "deadline {text:?}: more than 0 and at most {}s",
            MAX_DEADLINE.as_secs()
        )));
    }
    Ok(d)
}

/// A path's `{domain}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct DomainPath {
    /// The domain to diagnose.
    domain: String,
}

/// A path's `{id}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct JobPath {
    /// The job's id, as `POST /v1/jobs` answered it.
    id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct DiagnosisQuery {
    /// An address at the domain to ask the MX hosts about (RCPT TO, then RSET).
    probe: Option<String>,
    /// An IP to evaluate SPF for and look up on blocklists.
    sender_ip: Option<IpAddr>,
    /// DKIM selectors, comma-separated.
    dkim_selector: Option<String>,
    /// Areas, comma-separated: dns, transport, tls, auth, reputation.
    only: Option<String>,
    /// 10s, 2m; default 60s, at most 120s.
    deadline: Option<String>,
    /// `false`: answer at once with a job (202) whose result is the report.
    wait: Option<bool>,
}

/// `GET /v1/domains/{domain}/diagnosis`: the `diagnose --json` report, within the deadline
/// (default 60 s).
async fn diagnosis(
    State(st): State<Shared>,
    axum::Extension(Owner(owner)): axum::Extension<Owner>,
    Path(DomainPath { domain }): Path<DomainPath>,
    Query(q): Query<DiagnosisQuery>,
) -> Result<Response, ApiError> {
    let s = &st.s;
    request::check_target(&domain, false).map_err(|e| ApiError::bad(e.0))?;
    let target = match &q.probe {
        None => domain.clone(),
        Some(addr) => {
            request::check_target(addr, true).map_err(|e| ApiError::bad(format!("probe: {e}")))?;
            let at = addr.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !at
                .trim_end_matches('.')
                .eq_ignore_ascii_case(domain.trim_end_matches('.'))
            {
                return Err(ApiError::bad(format!(
                    "probe {}: the address must be at {}",
                    mxray_core::escape_text(addr),
                    mxray_core::escape_text(&domain)
                )));
            }
            addr.clone()
        }
    };
    let only = match &q.only {
        Some(list) => request::parse_areas(list).map_err(|e| ApiError::bad(e.0))?,
        None => Vec::new(),
    };
    let selectors: Vec<String> = q
        .dkim_selector
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    for sel in &selectors {
        request::check_selector(sel).map_err(|e| ApiError::bad(e.0))?;
    }
    let limit = deadline(q.deadline.as_deref(), Duration::from_secs(60))?;
    if q.wait == Some(false) {
        let params = crate::jobs::DiagnoseParams {
            only: only.iter().map(|a| a.as_str().to_string()).collect(),
            sender_ip: q.sender_ip,
            dkim_selectors: selectors,
            probe: q.probe.is_some(),
        };
        let jobs = st.jobs.clone();
        let upload = crate::jobs::Upload::Domains(vec![target], params);
        let id = on_jobs(move || jobs.submit(owner, upload)).await?;
        return Ok(accepted(id));
    }
    let sender = sender_options(s, selectors, q.sender_ip, only);
    let mut opts = diagnose_options(s, st.limits.scope(), q.probe.is_some());
    opts.greeting_wait = opts.greeting_wait.min(limit);
    let run = mxray_diagnose::diagnose_full(&s.dns, &target, &opts, Some(&sender));
    match tokio::time::timeout(limit, run).await {
        // Only a proxy fails this way, and the server has none: kept as an error all the same.
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            mxray_core::escape_text(&e.to_string()),
        )),
        Ok(Ok(report)) => {
            // The JSON spelling (deliverable_path), as clients read it in the report.
            let verdict = serde_json::to_value(report.verdict.overall)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            st.metrics.diagnosed(&verdict);
            Ok(Json(Document::new(report)).into_response())
        }
        Err(_) => {
            let doing = opts
                .activity
                .longest()
                .map(|(what, _, _)| format!(" (still waiting for {what})"))
                .unwrap_or_default();
            Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the diagnosis did not finish within {}s{}: ask again with a longer deadline (at most {}s)",
                    limit.as_secs(),
                    mxray_core::escape_text(&doing),
                    MAX_DEADLINE.as_secs()
                ),
            ))
        }
    }
}

/// The recipient side's options from the server's settings (as `diagnose` builds them).
pub(crate) fn diagnose_options(s: &Settings, limits: Arc<Limits>, probe: bool) -> Options {
    Options {
        smtp_port: s.smtp_port,
        timeout: s.timeout,
        greeting_wait: s.greeting_wait,
        probe,
        from: s.from.clone(),
        helo: s.helo.clone(),
        tls: s.tls.clone(),
        max_addrs_per_host: 4,
        max_hosts: 10,
        limits,
        activity: mxray_run::Activity::new(),
        policy: s.policy.clone(),
        // The server connects directly: its settings have no proxy.
        proxy: None,
    }
}

/// The sender side's options: every area unless `only` names some.
pub(crate) fn sender_options(
    s: &Settings,
    dkim_selectors: Vec<String>,
    sender_ip: Option<IpAddr>,
    only: Vec<mxray_diagnose::Area>,
) -> SenderOptions {
    SenderOptions {
        sender_ip,
        dkim_selectors,
        dnsbls: s.dnsbls.clone(),
        https_port: s.https_port,
        tls: s.tls.clone(),
        helo: s.helo.clone(),
        timeout: s.timeout,
        areas: request::areas(&only),
        // One request's (or one job's) targets share their blocklist and TLSA answers.
        dnsbl_cache: Arc::default(),
        dane_cache: Arc::default(),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    /// The address to verify.
    address: String,
    /// How long to try: 10s, 2m; default 10s, at most 120s.
    deadline: Option<String>,
}

/// `POST /v1/verify` `{"address": ..., "deadline": "10s"}`: one address in real time, the
/// `verify --json` result. Greylisting or a throttling provider that does not clear within
/// the deadline answers `unknown` with `retry_after_s` (and a `Retry-After` header), never a
/// hang and never `undeliverable`.
async fn verify(
    State(st): State<Shared>,
    body: Result<Json<VerifyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| {
        ApiError::bad(format!(
            "expected {{\"address\": \"user@example.com\", \"deadline\": \"10s\"}}: {}",
            e.body_text()
        ))
    })?;
    let s = &st.s;
    let limit = deadline(req.deadline.as_deref(), Duration::from_secs(10))?;
    let cfg = verify_config(s, limit);
    let engine = Arc::new(Engine::sharing(s.dns.clone(), cfg, st.budgets.clone()));
    let item = Item {
        index: 0,
        input: req.address,
        row: Vec::new(),
    };
    // The engine gives up on transient answers at the deadline; DNS and a silent host get a
    // little more before the hard stop.
    let hard = limit + s.timeout.min(Duration::from_secs(5));
    let results = tokio::time::timeout(hard, mxray_verify::run::verify_all(engine, vec![item]))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "no answer within {}s: the address's MX hosts are slow; ask again later",
                    hard.as_secs()
                ),
            )
        })?;
    let Some(result) = results.into_iter().next() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the verification ended without a result",
        ));
    };
    st.metrics
        .verified(result.verdict.as_str(), result.reason.as_str());
    Ok(verify_response(result))
}

/// The engine's settings for a verification with `deadline` (real time: the request's; a job:
/// `--job-deadline`); no step waits longer than the deadline.
fn verify_config(s: &Settings, deadline: Duration) -> Config {
    Config {
        smtp_port: s.smtp_port,
        timeout: s.timeout.min(deadline),
        greeting_wait: s.greeting_wait.min(deadline),
        from: s.from.clone(),
        helo: s.helo.clone(),
        greylist_retry: s.greylist_retry,
        deadline,
        rcpt_per_transaction: 20,
        source_ips: Vec::new(),
        budget: s.verify_budget,
        // Jobs spread over domains; a real-time request has one.
        sessions_per_domain: 0,
        domain_concurrency: 16,
        detect_catch_all: true,
        tls: s.tls.clone(),
        transcript: false,
        policy: s.policy.clone(),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct JobRequest {
    /// `verify` (with `addresses`) or `diagnose` (with `domains`).
    kind: String,
    /// A verify job's list.
    #[serde(default)]
    addresses: Vec<String>,
    /// A diagnose job's list.
    #[serde(default)]
    domains: Vec<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct JobQuery {
    /// The address column of a CSV upload (default `email`).
    column: Option<String>,
}

/// `POST /v1/jobs`: `{"kind": "verify", "addresses": [...]}`, a text body with one address
/// per line, or a CSV (`Content-Type: text/csv`, `?column=`); 202 with the job's id (and
/// `Location`).
async fn submit_job(
    State(st): State<Shared>,
    axum::Extension(Owner(owner)): axum::Extension<Owner>,
    Query(q): Query<JobQuery>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let upload = if kind.starts_with("text/csv") {
        crate::jobs::Upload::Csv {
            body,
            column: q.column.unwrap_or_else(|| "email".to_string()),
        }
    } else if kind.starts_with("application/json") {
        let req: JobRequest = serde_json::from_str(&body).map_err(|e| {
            ApiError::bad(format!(
                "expected {{\"kind\": \"verify\", \"addresses\": [\"user@example.com\"]}}: {e}"
            ))
        })?;
        match (
            req.kind.as_str(),
            req.addresses.is_empty(),
            req.domains.is_empty(),
        ) {
            ("verify", _, true) => crate::jobs::Upload::Addresses(req.addresses),
            ("diagnose", true, _) => {
                crate::jobs::Upload::Domains(req.domains, crate::jobs::DiagnoseParams::default())
            }
            ("verify" | "diagnose", _, _) => {
                return Err(ApiError::bad(
                    "a verify job takes \"addresses\", a diagnose job \"domains\"",
                ));
            }
            (other, _, _) => {
                return Err(ApiError::bad(format!(
                    "kind {:?}: \"verify\" (with \"addresses\") or \"diagnose\" (with \"domains\")",
                    mxray_core::escape_text(other)
                )));
            }
        }
    } else {
        crate::jobs::Upload::Addresses(body.lines().map(str::to_string).collect())
    };
    let jobs = st.jobs.clone();
    let id = on_jobs(move || jobs.submit(owner, upload)).await?;
    Ok(accepted(id))
}

/// 202 with the job's id, and `Location` where its state is.
fn accepted(id: String) -> Response {
    let mut r = (
        StatusCode::ACCEPTED,
        Json(Document::new(crate::openapi::JobAccepted {
            id: id.clone(),
            state: "queued".into(),
        })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Runs `f` (SQLite and file work) off the async threads; its error as the API's.
async fn on_jobs<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::jobs::JobError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(job_error)
}

fn job_error(e: crate::jobs::JobError) -> ApiError {
    use crate::jobs::JobError;
    match e {
        JobError::Full => {
            let mut a = ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string());
            a.retry_after = Some(60);
            a
        }
        JobError::Empty | JobError::Input(_) => ApiError::bad(e.to_string()),
        JobError::Store { .. } | JobError::Busy(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

fn no_such_job() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such job for this API key")
}

/// `GET /v1/jobs/{id}`: state, progress, counts by verdict, ETA.
async fn job_status(
    State(st): State<Shared>,
    axum::Extension(Owner(owner)): axum::Extension<Owner>,
    Path(JobPath { id }): Path<JobPath>,
) -> Result<Response, ApiError> {
    let jobs = st.jobs.clone();
    let status = on_jobs(move || jobs.status(owner, &id))
        .await?
        .ok_or_else(no_such_job)?;
    Ok(Json(Document::new(status)).into_response())
}

/// `DELETE /v1/jobs/{id}`: cancels a queued or running job; what it decided stays readable.
async fn cancel_job(
    State(st): State<Shared>,
    axum::Extension(Owner(owner)): axum::Extension<Owner>,
    Path(JobPath { id }): Path<JobPath>,
) -> Result<Response, ApiError> {
    let jobs = st.jobs.clone();
    let status = on_jobs(move || jobs.cancel(owner, &id))
        .await?
        .ok_or_else(no_such_job)?;
    Ok(Json(Document::new(status)).into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ResultsQuery {
    /// `jsonl` (the default) or `csv` (verify jobs).
    format: Option<String>,
}

/// `GET /v1/jobs/{id}/results`: the results stored so far, in input order, streamed as JSON
/// Lines (the `verify --json` documents) or `?format=csv`.
async fn job_results(
    State(st): State<Shared>,
    axum::Extension(Owner(owner)): axum::Extension<Owner>,
    Path(JobPath { id }): Path<JobPath>,
    Query(q): Query<ResultsQuery>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "format {:?}: jsonl (the default) or csv",
                mxray_core::escape_text(other)
            )));
        }
    };
    let jobs = st.jobs.clone();
    let (path, kind, lead) = on_jobs(move || jobs.results_of(owner, &id))
        .await?
        .ok_or_else(no_such_job)?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    if kind == "diagnose" {
        if csv {
            return Err(ApiError::bad(
                "a diagnose job's reports are JSON Lines only (CSV is for verify jobs)",
            ));
        }
        tokio::task::spawn_blocking(move || crate::jobs::stream_reports(path, tx));
    } else {
        tokio::task::spawn_blocking(move || crate::jobs::stream_results(path, csv, lead, tx));
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let kind = if csv {
        "text/csv"
    } else {
        "application/x-ndjson"
    };
    Ok((
        [(header::CONTENT_TYPE, kind)],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct LogsQuery {
    /// Attempts from this time on: 2026-11-20 or 2026-11-20T10:00:00Z.
    since: Option<String>,
    /// Attempts before this time: 2026-11-21.
    until: Option<String>,
    /// Destination domains, comma-separated.
    domain: Option<String>,
    /// The year of year-less syslog stamps.
    year: Option<i64>,
}

/// `POST /v1/logs`: a Postfix, Exim or Sendmail log (plain or gzip) in the body, spooled to
/// the data directory as it arrives (bounded by `--max-log-upload`), read in one streaming
/// pass; the `logs --json` report.
async fn upload_logs(
    State(st): State<Shared>,
    Query(q): Query<LogsQuery>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let bound =
        |name: &str, v: &Option<String>| -> Result<Option<mxray_logs::Timestamp>, ApiError> {
            match v {
                None => Ok(None),
                Some(t) => mxray_logs::parse_bound(t).map(Some).ok_or_else(|| {
                    ApiError::bad(format!(
                        "{name} {:?}: expected 2026-11-20 or 2026-11-20T10:00:00Z",
                        mxray_core::escape_text(t)
                    ))
                }),
            }
        };
    let since = bound("since", &q.since)?;
    let until = bound("until", &q.until)?;
    if let (Some(a), Some(b)) = (since, until)
        && a > b
    {
        return Err(ApiError::bad("since is after until: nothing could match"));
    }
    let domains: Vec<String> = q
        .domain
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    let dir = st.s.data.join("uploads");
    let server_error = |e: std::io::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("spooling the upload: {e}"),
        )
    };
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(server_error)?;
    let spool = Spool(dir.join(format!("{}.log", crate::jobs::random_hex(16))));
    let mut file = tokio::fs::File::create(&spool.0)
        .await
        .map_err(server_error)?;
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad(format!("reading the upload: {e}")))?;
        size += chunk.len() as u64;
        if size > st.s.max_log_upload {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the log is larger than {} bytes (--max-log-upload): send less, or run mxray logs where the log is",
                    st.s.max_log_upload
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(server_error)?;
    }
    file.flush().await.map_err(server_error)?;
    drop(file);
    let path = spool.0.clone();
    let report = tokio::task::spawn_blocking(move || {
        let read = mxray_logs::ReadOptions {
            only: None,
            year: q.year,
            threads: 1,
        };
        let opts = mxray_logs::Options {
            since,
            until,
            domains,
            events: false,
        };
        mxray_logs::analyze(
            &[mxray_logs::InputSpec::Path(path)],
            &read,
            opts,
            &mut mxray_logs::NoSink,
        )
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    drop(spool);
    let mut report = report.map_err(|e| ApiError::bad(mxray_core::escape_text(&e.to_string())))?;
    // The spool's path is the server's business: the report names the upload.
    for f in &mut report.files {
        f.name = "upload".into();
    }
    Ok(Json(Document::new(report)).into_response())
}

/// An upload spooled to disk, removed when dropped (also when the request fails midway).
struct Spool(std::path::PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn verify_response(result: VerifyResult) -> Response {
    let retry = result.retry_after_s;
    let mut r = Json(Document::new(result)).into_response();
    if let Some(s) = retry {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}
