//! `/tools`: an explain box, a one-off diagnosis, a bulk verification upload (a CSV, run as a
//! job with live progress and a CSV download), a log upload with its report and chart. Each
//! calls the same library functions as its `/v1` route.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{Nav, Shell};
use super::session::Viewer;
use super::{PageError, WebState, csrf, inert};
use crate::jobs::{JobError, Upload};

/// Pasted text to explain, as `/v1/explain` takes it (a form's encoding adds a little).
const EXPLAIN_TEXT: usize = 256 * 1024;
/// A CSV list, as `/v1/jobs` takes it.
const CSV_UPLOAD: usize = 64 * 1024 * 1024;
/// The one-off diagnosis's deadline (the API's default).
const DIAGNOSIS_DEADLINE: Duration = Duration::from_secs(60);
/// A job page reloads this often while the job runs.
const REFRESH_SECS: u32 = 2;

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/tools", get(tools))
        .route(
            "/tools/explain",
            post(explain).layer(DefaultBodyLimit::max(EXPLAIN_TEXT * 3 + 4096)),
        )
        .route("/tools/diagnose", post(diagnose))
        .route(
            "/tools/verify",
            post(verify).layer(DefaultBodyLimit::max(CSV_UPLOAD + 64 * 1024)),
        )
        .route("/tools/jobs/{id}", get(job))
        .route("/tools/jobs/{id}/cancel", post(cancel))
        .route("/tools/jobs/{id}/results.csv", get(results))
        // Counted against --max-log-upload while spooled, as /v1/logs does.
        .route("/tools/logs", post(logs).layer(DefaultBodyLimit::disable()))
}

fn explain_form(v: &Viewer, text: &str) -> Markup {
    html! {
        form method="post" action="/tools/explain" class="stack" {
            (csrf::field(v))
            label for="explain-text" { "Bounce, reply or log line" }
            p class="hint" id="explain-hint" { "A reply such as 421 4.4.2, a Postfix/Exim/Sendmail log line, or a whole bounce message." }
            textarea id="explain-text" name="text" required aria-describedby="explain-hint" { (text) }
            button type="submit" { "Explain" }
        }
    }
}

fn diagnose_form(v: &Viewer, domain: &str, probe: &str) -> Markup {
    html! {
        form method="post" action="/tools/diagnose" class="stack" {
            (csrf::field(v))
            label for="diagnose-domain" { "Domain" }
            input type="text" id="diagnose-domain" name="domain" required value=(domain)
                autocomplete="off" spellcheck="false" placeholder="example.com";
            label for="diagnose-probe" { "Address to probe (optional)" }
            p class="hint" id="probe-hint" { "An address at the domain: each MX is asked about it (RCPT TO, then RSET; no mail is sent)." }
            input type="email" id="diagnose-probe" name="probe" value=(probe) aria-describedby="probe-hint"
                autocomplete="off" spellcheck="false";
            button type="submit" { "Diagnose" }
        }
    }
}

fn verify_form(v: &Viewer) -> Markup {
    html! {
        form method="post" action="/tools/verify" enctype="multipart/form-data" class="stack" {
            (csrf::field(v))
            label for="verify-column" { "Address column" }
            input type="text" id="verify-column" name="column" value="email" required spellcheck="false";
            label for="verify-file" { "CSV file (with a header row)" }
            input type="file" id="verify-file" name="file" accept=".csv,text/csv" required;
            button type="submit" { "Start verification" }
        }
    }
}

fn logs_form(v: &Viewer) -> Markup {
    html! {
        form method="post" action="/tools/logs" enctype="multipart/form-data" class="stack" {
            (csrf::field(v))
            label for="logs-file" { "Mail log (Postfix, Exim or Sendmail; plain or .gz)" }
            input type="file" id="logs-file" name="file" required;
            button type="submit" { "Analyze log" }
        }
    }
}

/// `GET /tools`.
async fn tools(v: Viewer) -> Response {
    let body = html! {
        h1 { "Tools" }
        div class="tools" {
            section aria-labelledby="h-explain" {
                h2 id="h-explain" { "Explain a bounce or reply" }
                (explain_form(&v, ""))
            }
            section aria-labelledby="h-diagnose" {
                h2 id="h-diagnose" { "Diagnose a domain" }
                (diagnose_form(&v, "", ""))
            }
            section aria-labelledby="h-verify" {
                h2 id="h-verify" { "Verify a list of addresses" }
                p class="hint" { "A CSV file: each address is verified over SMTP as a job; its other columns come back with each result." }
                (verify_form(&v))
            }
            section aria-labelledby="h-logs" {
                h2 id="h-logs" { "Analyze a mail log" }
                p class="hint" { "Deferrals and bounces grouped and explained, with deferrals per hour by code." }
                (logs_form(&v))
            }
        }
    };
    Shell::new("Tools", Nav::Tools).render(&v, body)
}

#[derive(Deserialize)]
struct ExplainForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// `POST /tools/explain`: every reply in the text explained (a whole bounce message: one per
/// recipient), as `/v1/explain` does.
async fn explain(v: Viewer, Form(f): Form<ExplainForm>) -> Result<Response, PageError> {
    csrf::check(&v, &f.csrf)?;
    if f.text.len() > EXPLAIN_TEXT {
        return Err(PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much text",
            format!(
                "Paste at most {} KiB: a reply, a few log lines or one bounce message.",
                EXPLAIN_TEXT / 1024
            ),
        ));
    }
    let mut results = Vec::new();
    let mut problem = None;
    if mxray_bounce::looks_like_message(f.text.as_bytes()) {
        match mxray_bounce::read(f.text.as_bytes()) {
            Ok(list) => results.extend(list.iter().map(super::explain::bounce)),
            Err(e) => problem = Some(e.to_string()),
        }
    } else {
        results.extend(
            mxray_core::explain_all(&f.text)
                .into_iter()
                .filter_map(Result::ok)
                .map(|e| super::explain::explanation(&e)),
        );
    }
    let body = html! {
        h1 { "Explanation" }
        (explain_form(&v, &f.text))
        h2 { "What it says" }
        @if let Some(p) = &problem {
            p class="error" role="alert" { (inert(p)) }
        } @else if results.is_empty() {
            p class="error" role="alert" { "No SMTP reply found in the text: paste a reply such as \"421 4.4.2 Connection closed by the server\", a code such as 4.4.3, or a log line containing one." }
        }
        @for r in &results { (r) }
    };
    Ok(Shell::new("Explanation", Nav::Tools).render(&v, body))
}

#[derive(Deserialize)]
struct DiagnoseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    probe: String,
}

/// `POST /tools/diagnose`: the full report of a domain (both sides), within 60 s, as
/// `/v1/domains/{d}/diagnosis` runs it.
async fn diagnose(
    State(st): State<WebState>,
    v: Viewer,
    Form(f): Form<DiagnoseForm>,
) -> Result<Response, PageError> {
    use mxray_diagnose::request;
    csrf::check(&v, &f.csrf)?;
    let domain = f.domain.trim().to_string();
    let probe = f.probe.trim().to_string();
    let again = |message: String| {
        let body = html! {
            h1 { "Diagnose a domain" }
            p class="error" role="alert" id="diagnose-problem" { (inert(&message)) }
            (diagnose_form(&v, &domain, &probe))
        };
        let mut r = Shell::new("Diagnose a domain", Nav::Tools).render(&v, body);
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        r
    };
    if let Err(e) = request::check_target(&domain, false) {
        return Ok(again(e.0));
    }
    let target = if probe.is_empty() {
        domain.clone()
    } else {
        if let Err(e) = request::check_target(&probe, true) {
            return Ok(again(format!("Address to probe: {e}")));
        }
        let at = probe.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !at
            .trim_end_matches('.')
            .eq_ignore_ascii_case(domain.trim_end_matches('.'))
        {
            return Ok(again(format!("The address to probe must be at {domain}.")));
        }
        probe.clone()
    };
    let s = &st.s;
    let sender = crate::app::sender_options(s, Vec::new(), None, Vec::new());
    let mut opts = crate::app::diagnose_options(s, st.limits.scope(), !probe.is_empty());
    opts.greeting_wait = opts.greeting_wait.min(DIAGNOSIS_DEADLINE);
    let run = mxray_diagnose::diagnose_full(&s.dns, &target, &opts, Some(&sender));
    let report = match tokio::time::timeout(DIAGNOSIS_DEADLINE, run).await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            return Err(PageError::new(
                StatusCode::BAD_GATEWAY,
                "The diagnosis failed",
                e.to_string(),
            ));
        }
        Err(_) => {
            let doing = opts
                .activity
                .longest()
                .map(|(what, _, _)| format!(" (still waiting for {what})"))
                .unwrap_or_default();
            return Err(PageError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "The diagnosis took too long",
                format!(
                    "It did not finish within {}s{doing}: the domain's servers are slow. Try again later, or run mxray diagnose where you can wait.",
                    DIAGNOSIS_DEADLINE.as_secs()
                ),
            ));
        }
    };
    // The page renders the JSON document, as a monitor's stored report is rendered.
    let doc = serde_json::to_value(mxray_core::Document::new(&report))
        .map_err(|e| PageError::internal(format!("the report did not serialize: {e}")))?;
    let title = format!("Diagnosis of {}", inert(&target));
    let body = html! {
        h1 { "Diagnosis of " (inert(&target)) }
        details {
            summary { "Diagnose another domain" }
            (diagnose_form(&v, &domain, &probe))
        }
        (super::report::render(&doc))
    };
    Ok(Shell::new(&title, Nav::Tools).render(&v, body))
}

/// A job's failure to submit or read, as a page.
fn job_page_error(e: JobError) -> PageError {
    match e {
        JobError::Full => PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many jobs waiting",
            e.to_string(),
        ),
        JobError::Empty | JobError::Input(_) => PageError::bad(e.to_string()),
        JobError::Store { .. } | JobError::Busy(_) => PageError::internal(e.to_string()),
    }
}

/// Runs `f` (SQLite and file work) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JobError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PageError::internal(e.to_string()))?
        .map_err(job_page_error)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> PageError {
    PageError::new(e.status(), "The upload failed", e.body_text())
}

/// The form's token, which must come first in a multipart form (our forms put it first), so
/// nothing else of a forged upload is read.
async fn multipart_token(v: &Viewer, m: &mut Multipart) -> Result<(), PageError> {
    let field = m
        .next_field()
        .await
        .map_err(multipart_error)?
        .ok_or_else(csrf::rejected)?;
    if field.name() != Some(csrf::FIELD) {
        return Err(csrf::rejected());
    }
    let given = field.text().await.map_err(multipart_error)?;
    csrf::check(v, &given)
}

/// A field's bytes, at most `max`.
async fn bounded(
    field: &mut axum::extract::multipart::Field<'_>,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, PageError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if out.len() + chunk.len() > max {
            return Err(PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The upload is too large",
                format!(
                    "The {what} is larger than {} MiB: split it, or use mxray verify --input where the list is.",
                    max >> 20
                ),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `POST /tools/verify`: a CSV (with `column`) becomes a verify job of the signed-in key;
/// on to its page.
async fn verify(
    State(st): State<WebState>,
    v: Viewer,
    mut m: Multipart,
) -> Result<Response, PageError> {
    multipart_token(&v, &mut m).await?;
    let mut column = String::from("email");
    let mut csv: Option<Vec<u8>> = None;
    while let Some(mut field) = m.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("column") => {
                let c = bounded(&mut field, 1024, "column name").await?;
                column = String::from_utf8_lossy(&c).trim().to_string();
            }
            Some("file") => csv = Some(bounded(&mut field, CSV_UPLOAD, "CSV file").await?),
            _ => {}
        }
    }
    let Some(csv) = csv.filter(|c| !c.is_empty()) else {
        return Err(PageError::bad(
            "Choose a CSV file with a header row and an address column.",
        ));
    };
    let body = String::from_utf8(csv)
        .map_err(|_| PageError::bad("The file is not UTF-8 text: save the CSV as UTF-8."))?;
    if column.is_empty() {
        column = "email".into();
    }
    let jobs = st.jobs.clone();
    let owner = v.owner;
    let id = blocking(move || jobs.submit(owner, Upload::Csv { body, column })).await?;
    Ok(Redirect::to(&format!("/tools/jobs/{id}")).into_response())
}

/// A job id as we make them (32 hex digits); anything else is no job.
fn job_id(id: &str) -> Result<&str, PageError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(no_such_job())
    }
}

fn no_such_job() -> PageError {
    PageError::not_found("There is no such job for the key you signed in with.")
}

/// `GET /tools/jobs/{id}`: state, progress and counts; reloads itself while the job runs.
async fn job(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = job_id(&id)?.to_string();
    let jobs = st.jobs.clone();
    let owner = v.owner;
    let jid = id.clone();
    let status = blocking(move || jobs.status(owner, &jid))
        .await?
        .ok_or_else(no_such_job)?;
    let running = matches!(status.state.as_str(), "queued" | "running");
    let body = html! {
        h1 { "Verification job" }
        dl class="facts" {
            dt { "Job" } dd { code { (status.id) } }
            dt { "State" } dd { span class={"badge st-" (status.state)} id="job-state" { (status.state) } }
            dt { "Progress" }
            dd {
                label for="job-progress" class="visually-hidden" { "Addresses verified" }
                progress id="job-progress" max=(status.total.max(1)) value=(status.done) { (status.done) " of " (status.total) }
                " " span id="job-done" { (status.done) } " of " span id="job-total" { (status.total) } " addresses"
                @if let Some(eta) = status.eta_s { " (about " (eta) " s left)" }
            }
            @if let Some(e) = &status.error { dt { "Error" } dd class="sev-fail" { (inert(e)) } }
        }
        @if running {
            p class="hint" { "This page reloads every " (REFRESH_SECS) " seconds while the job runs." }
        }
        @if !status.counts.is_empty() {
            table {
                caption { "Results by verdict" }
                thead { tr { th scope="col" { "Verdict" } th scope="col" class="num" { "Addresses" } } }
                tbody { @for (verdict, n) in &status.counts { tr { td { (inert(verdict)) } td class="num" { (n) } } } }
            }
        }
        @if status.done > 0 {
            p { a id="job-results" href={"/tools/jobs/" (id) "/results.csv"} download { "Download the results (CSV)" } }
        }
        @if running {
            form method="post" action={"/tools/jobs/" (id) "/cancel"} {
                (csrf::field(&v))
                button type="submit" class="secondary" { "Cancel the job" }
            }
        }
        p { a href="/tools" { "Back to the tools" } }
    };
    let shell = Shell::new("Verification job", Nav::Tools);
    let shell = if running {
        shell.refresh(REFRESH_SECS)
    } else {
        shell
    };
    Ok(shell.render(&v, body))
}

/// `POST /tools/jobs/{id}/cancel`: what it decided stays readable.
async fn cancel(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<csrf::TokenForm>,
) -> Result<Response, PageError> {
    csrf::check(&v, &f.csrf)?;
    let id = job_id(&id)?.to_string();
    let jobs = st.jobs.clone();
    let owner = v.owner;
    let jid = id.clone();
    blocking(move || jobs.cancel(owner, &jid))
        .await?
        .ok_or_else(no_such_job)?;
    Ok(Redirect::to(&format!("/tools/jobs/{id}")).into_response())
}

/// `GET /tools/jobs/{id}/results.csv`: the results stored so far, as `?format=csv` of the API.
async fn results(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = job_id(&id)?.to_string();
    let jobs = st.jobs.clone();
    let owner = v.owner;
    let jid = id.clone();
    let (path, kind, lead) = blocking(move || jobs.results_of(owner, &jid))
        .await?
        .ok_or_else(no_such_job)?;
    if kind != "verify" {
        return Err(PageError::bad(
            "This job is a diagnosis: its reports are JSON Lines, from /v1/jobs/ID/results.",
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::task::spawn_blocking(move || crate::jobs::stream_results(path, true, lead, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"mxray-{id}.csv\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// An upload spooled to disk, removed when dropped (also when the request fails midway).
struct Spool(std::path::PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `POST /tools/logs`: the log spooled to the data directory (at most `--max-log-upload`),
/// read in one streaming pass as `/v1/logs` does; the report with its chart.
async fn logs(
    State(st): State<WebState>,
    v: Viewer,
    mut m: Multipart,
) -> Result<Response, PageError> {
    use tokio::io::AsyncWriteExt;
    multipart_token(&v, &mut m).await?;
    let dir = st.s.data.join("uploads");
    let io = |e: std::io::Error| PageError::internal(format!("spooling the upload: {e}"));
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let mut spooled: Option<(Spool, String, u64)> = None;
    while let Some(mut field) = m.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") || spooled.is_some() {
            continue;
        }
        let name = field.file_name().unwrap_or("upload").to_string();
        let spool = Spool(dir.join(format!("{}.log", crate::jobs::random_hex(16))));
        let mut file = tokio::fs::File::create(&spool.0).await.map_err(io)?;
        let mut size = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            size += chunk.len() as u64;
            if size > st.s.max_log_upload {
                return Err(PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The log is too large",
                    format!(
                        "The log is larger than {} bytes (--max-log-upload): upload less, or run mxray logs where the log is.",
                        st.s.max_log_upload
                    ),
                ));
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        spooled = Some((spool, name, size));
    }
    let Some((spool, name, size)) = spooled.filter(|(_, _, size)| *size > 0) else {
        return Err(PageError::bad(
            "Choose a log file to upload (it was empty).",
        ));
    };
    let path = spool.0.clone();
    let report = tokio::task::spawn_blocking(move || {
        let read = mxray_logs::ReadOptions {
            only: None,
            year: None,
            threads: 1,
        };
        let opts = mxray_logs::Options {
            since: None,
            until: None,
            domains: Vec::new(),
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
    .map_err(|e| PageError::internal(e.to_string()))?;
    drop(spool);
    let report = report.map_err(|e| PageError::bad(e.to_string()))?;
    let body = html! {
        h1 { "Log report" }
        p { "From " code { (inert(&name)) } " (" (size) " bytes)." }
        (super::logs::render(&report))
        h2 { "Analyze another log" }
        (logs_form(&v))
    };
    Ok(Shell::new("Log report", Nav::Tools).render(&v, body))
}
