//! The monitors' pages: `/`, the overview of every monitored domain (sortable and filterable by
//! query parameters, a form to add one), and `/monitors/{id}`, one domain's page with its actions.
//!
//! No JavaScript: sorting and filtering are links and a GET form; the actions (run now, pause,
//! resume, edit, delete after a confirmation page) are POST forms with the CSRF token; a page
//! whose monitor is running reloads itself (`<meta http-equiv="refresh">`) until the run is stored.

use std::cmp::Reverse;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::chart::{score_line, sparkline, utc_minute};
use super::page::{Nav, Shell};
use super::session::{Viewer, percent};
use super::{PageError, WebState, csrf, inert};
use crate::monitors::model::Request;
use crate::monitors::state::Change;
use crate::monitors::store::RunRow;
use crate::monitors::{MonitorError, MonitorView, unix_now};

/// The overview's sparklines cover this long.
const SPARK_SPAN: i64 = 30 * 86_400;
/// Runs read for a sparkline at most (30 days of 1-minute runs would be 43,200).
const SPARK_RUNS: usize = 800;
/// Rows the overview shows at most; the filter narrows a bigger list.
const MAX_ROWS: usize = 500;
/// Runs read for the domain page's chart at most (a year of hourly runs folds to ~1,100 rows).
const CHART_RUNS: usize = 5000;
/// Recent runs listed under the chart.
const RECENT_RUNS: usize = 12;
/// Events shown on the timeline.
const TIMELINE: usize = 200;
/// A page whose monitor is running reloads this often.
const REFRESH_SECS: u32 = 2;

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(overview))
        .route("/monitors", post(create))
        .route("/monitors/{id}", get(domain))
        .route("/monitors/{id}/run", post(run_now))
        .route("/monitors/{id}/pause", post(pause))
        .route("/monitors/{id}/edit", post(edit))
        .route("/monitors/{id}/delete", get(confirm_delete).post(delete))
}

/// A monitor's failure as a page (or as the message a form re-shows, for input errors).
fn page_error(e: MonitorError) -> PageError {
    match e {
        MonitorError::NotFound(_) => {
            PageError::not_found("No such monitor: it may have been deleted.")
        }
        MonitorError::FromFile(_) => PageError::new(
            StatusCode::CONFLICT,
            "Managed by the monitors file",
            e.to_string(),
        ),
        MonitorError::Invalid(_) | MonitorError::NoRelay => PageError::bad(e.to_string()),
        MonitorError::Full(_) => {
            PageError::new(StatusCode::CONFLICT, "Too many monitors", e.to_string())
        }
        MonitorError::Store(_) | MonitorError::Internal(_) => PageError::internal(e.to_string()),
    }
}

/// Whether a form's error is the user's input (the form is shown again with it).
fn input_error(e: &MonitorError) -> bool {
    matches!(
        e,
        MonitorError::Invalid(_) | MonitorError::NoRelay | MonitorError::Full(_)
    )
}

// ---- shared pieces -------------------------------------------------------------------------

/// A state's badge: an icon and the word (colour is never the only signal).
fn state_badge(state: &str) -> Markup {
    let (icon, class) = match state {
        "passing" => ("✓", "passing"),
        "failing" => ("!", "failing"),
        "alerting" => ("✕", "alerting"),
        "paused" => ("‖", "paused"),
        _ => ("…", "pending"),
    };
    html! {
        span class={"badge state state-" (class)} {
            span class="icon" aria-hidden="true" { (icon) } " " (class)
        }
    }
}

/// `12 min ago`, `in 3 h`: the relative time; the absolute one goes beside it.
fn relative(now: i64, t: i64) -> String {
    let d = now - t;
    let (n, future) = (d.unsigned_abs(), d < 0);
    let text = match n {
        0..60 => {
            return if future {
                "in under a minute".into()
            } else {
                "just now".into()
            };
        }
        60..3600 => format!("{} min", n / 60),
        3600..172_800 => format!("{} h", n / 3600),
        _ => format!("{} days", n / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A time, relative and absolute (UTC), machine-readable in `datetime`.
fn when(now: i64, t: i64) -> Markup {
    let abs = utc_minute(t);
    html! {
        time datetime={(abs.replace(' ', "T")) "Z"} {
            (relative(now, t)) " " span class="muted" { "(" (abs) " UTC)" }
        }
    }
}

/// Non-empty trimmed lines of a textarea.
fn lines_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A whole number from a form field; empty is absent.
fn number(field: &str, text: &str) -> Result<Option<u32>, MonitorError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| {
        MonitorError::Invalid(crate::monitors::model::Invalid(format!(
            "{field}: a whole number, such as 2"
        )))
    })
}

/// A page with a status other than 200.
fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

// ---- the overview --------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct OverviewQuery {
    #[serde(default)]
    sort: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    q: String,
    /// A domain just deleted (the notice after the delete redirect).
    #[serde(default)]
    deleted: String,
}

/// Orders of the table; the first is the default.
const SORTS: &[(&str, &str)] = &[
    ("state", "State (failing first)"),
    ("domain", "Domain"),
    ("score", "Score (lowest first)"),
    ("last", "Last run (newest first)"),
];

/// Filters of the table; the first is the default.
const FILTERS: &[(&str, &str)] = &[
    ("all", "All"),
    ("failing", "Failing or alerting"),
    ("alerting", "Alerting"),
    ("passing", "Passing"),
    ("pending", "Pending"),
    ("paused", "Paused"),
];

/// One of `allowed` (a query parameter never reaches the page as it was typed).
fn pick(given: &str, allowed: &'static [(&'static str, &'static str)]) -> &'static str {
    allowed
        .iter()
        .find(|(k, _)| *k == given)
        .unwrap_or(&allowed[0])
        .0
}

/// How bad a state is: failing first.
fn state_rank(s: &str) -> u8 {
    match s {
        "alerting" => 0,
        "failing" => 1,
        "pending" => 2,
        "passing" => 3,
        _ => 4,
    }
}

fn keep(filter: &str, state: &str) -> bool {
    match filter {
        "failing" => state == "failing" || state == "alerting",
        "all" => true,
        f => f == state,
    }
}

/// The overview's query string with `sort` changed.
fn sort_href(sort: &str, filter: &str, q: &str) -> String {
    format!("/?sort={sort}&filter={filter}&q={}", percent(q))
}

/// What the "New monitor" form holds (shown again with an error).
#[derive(Deserialize, Default)]
struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    probe: String,
    #[serde(default)]
    interval: String,
    #[serde(default)]
    alert_after: String,
    #[serde(default)]
    webhooks: String,
    #[serde(default)]
    slack: String,
    #[serde(default)]
    emails: String,
}

impl NewForm {
    fn request(&self) -> Result<Request, MonitorError> {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        Ok(Request {
            domain: Some(self.domain.trim().to_string()),
            probe: opt(&self.probe),
            interval: opt(&self.interval),
            alert_after: number("alert after", &self.alert_after)?,
            webhooks: Some(lines_of(&self.webhooks)),
            slack: Some(lines_of(&self.slack)),
            emails: Some(lines_of(&self.emails)),
            ..Request::default()
        })
    }
}

/// The alert destinations' fields, shared by the new and edit forms.
fn destination_fields(prefix: &str, webhooks: &str, slack: &str, emails: &str) -> Markup {
    html! {
        label for={(prefix) "-webhooks"} { "Webhooks (one URL per line)" }
        p class="hint" id={(prefix) "-webhooks-hint"} { "JSON alerts signed with an HMAC header (X-Mxray-Signature)." }
        textarea class="short" id={(prefix) "-webhooks"} name="webhooks" aria-describedby={(prefix) "-webhooks-hint"} spellcheck="false" { (webhooks) }
        label for={(prefix) "-slack"} { "Slack incoming webhooks (one URL per line)" }
        textarea class="short" id={(prefix) "-slack"} name="slack" spellcheck="false" { (slack) }
        label for={(prefix) "-emails"} { "Email addresses (one per line; needs the server's --smtp-relay)" }
        textarea class="short" id={(prefix) "-emails"} name="emails" spellcheck="false" { (emails) }
    }
}

fn new_form(v: &Viewer, f: &NewForm, problem: Option<&str>) -> Markup {
    html! {
        section aria-labelledby="h-new" class="new-monitor" {
            h2 id="h-new" { "New monitor" }
            @if let Some(p) = problem {
                p class="error" role="alert" id="new-problem" { (inert(p)) }
            }
            form method="post" action="/monitors" class="stack" {
                (csrf::field(v))
                label for="new-domain" { "Domain" }
                input type="text" id="new-domain" name="domain" required value=(f.domain)
                    autocomplete="off" spellcheck="false" placeholder="example.com";
                label for="new-probe" { "Address to probe (optional)" }
                p class="hint" id="new-probe-hint" { "An address at the domain: each MX is asked about it (RCPT TO, then RSET; no mail is sent)." }
                input type="email" id="new-probe" name="probe" value=(f.probe) aria-describedby="new-probe-hint"
                    autocomplete="off" spellcheck="false";
                div class="pair" {
                    div {
                        label for="new-interval" { "Interval" }
                        input type="text" id="new-interval" name="interval" value=(f.interval) placeholder="1h"
                            aria-describedby="new-interval-hint" spellcheck="false";
                        p class="hint" id="new-interval-hint" { "1m to 31d, such as 15m or 1h (the default)." }
                    }
                    div {
                        label for="new-alert-after" { "Alert after" }
                        input type="number" id="new-alert-after" name="alert_after" min="1" max="100" value=(f.alert_after)
                            placeholder="2" aria-describedby="new-alert-hint";
                        p class="hint" id="new-alert-hint" { "Failing runs in a row (default 2)." }
                    }
                }
                (destination_fields("new", &f.webhooks, &f.slack, &f.emails))
                button type="submit" { "Create monitor" }
            }
        }
    }
}

/// `GET /`: every monitored domain, counts at the top.
async fn overview(
    State(st): State<WebState>,
    v: Viewer,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    overview_page(&st, &v, &q, &NewForm::default(), None).await
}

async fn overview_page(
    st: &WebState,
    v: &Viewer,
    q: &OverviewQuery,
    form: &NewForm,
    problem: Option<&str>,
) -> Result<Response, PageError> {
    let now = unix_now();
    let all = st.monitors.list().await.map_err(page_error)?;
    let sort = pick(&q.sort, SORTS);
    let filter = pick(&q.filter, FILTERS);
    let needle = q.q.trim().to_ascii_lowercase();
    let count = |f: &dyn Fn(&str) -> bool| all.iter().filter(|m| f(&m.state)).count();
    let counts = [
        ("all", "monitors", all.len()),
        (
            "failing",
            "failing or alerting",
            count(&|s| s == "failing" || s == "alerting"),
        ),
        ("passing", "passing", count(&|s| s == "passing")),
        ("pending", "pending", count(&|s| s == "pending")),
        ("paused", "paused", count(&|s| s == "paused")),
    ];
    let mut rows: Vec<&MonitorView> = all
        .iter()
        .filter(|m| keep(filter, &m.state))
        .filter(|m| needle.is_empty() || m.spec.domain.contains(&needle))
        .collect();
    let score = |m: &MonitorView| m.last_run.as_ref().map(|r| r.score);
    let last = |m: &MonitorView| m.last_run.as_ref().map(|r| r.at);
    match sort {
        "domain" => rows.sort_by(|a, b| a.spec.domain.cmp(&b.spec.domain)),
        // No score yet sorts last.
        "score" => rows.sort_by_key(|m| (score(m).is_none(), score(m), m.spec.domain.clone())),
        "last" => rows.sort_by_key(|m| (Reverse(last(m)), m.spec.domain.clone())),
        _ => rows.sort_by_key(|m| {
            (
                state_rank(&m.state),
                score(m).unwrap_or(101),
                m.spec.domain.clone(),
            )
        }),
    }
    let matched = rows.len();
    rows.truncate(MAX_ROWS);
    let mut sparks = Vec::with_capacity(rows.len());
    for m in &rows {
        let runs = st
            .monitors
            .runs(&m.id, now - SPARK_SPAN, SPARK_RUNS)
            .await
            .unwrap_or_default();
        sparks.push(runs.iter().rev().map(|r| r.score).collect::<Vec<u32>>());
    }
    let sorted_th = |key: &str, label: &str, class: &str| {
        html! {
            th scope="col" class=(class) aria-sort=[(sort == key).then_some(if key == "last" { "descending" } else { "ascending" })] {
                @if sort == key {
                    (label) " " span aria-hidden="true" { "▾" }
                } @else {
                    a href=(sort_href(key, filter, &q.q)) { (label) }
                }
            }
        }
    };
    let body = html! {
        h1 { "Overview" }
        @if !q.deleted.is_empty() {
            p class="notice" role="status" { "Deleted the monitor of " (inert(&q.deleted)) " and its history." }
        }
        ul class="counts" aria-label="Monitors by state" {
            @for (key, label, n) in counts {
                li class={"count count-" (key)} {
                    a href={"/?filter=" (key) "&sort=" (sort)} aria-current=[(filter == key).then_some("true")] {
                        span class="n" { (n) } " " (label)
                    }
                }
            }
        }
        form method="get" action="/" class="filter" role="search" aria-label="Filter the monitors" {
            div {
                label for="f-q" { "Domain contains" }
                input type="search" id="f-q" name="q" value=(q.q) spellcheck="false";
            }
            div {
                label for="f-filter" { "State" }
                select id="f-filter" name="filter" {
                    @for (k, label) in FILTERS {
                        option value=(k) selected[*k == filter] { (label) }
                    }
                }
            }
            div {
                label for="f-sort" { "Order" }
                select id="f-sort" name="sort" {
                    @for (k, label) in SORTS {
                        option value=(k) selected[*k == sort] { (label) }
                    }
                }
            }
            button type="submit" { "Apply" }
        }
        @if all.is_empty() {
            p class="empty" { "No monitors yet: add a domain below, through the API (POST /v1/monitors) or a monitors file (--monitors)." }
        } @else {
            table class="monitors" id="monitors" {
                caption {
                    "Monitored domains"
                    span class="muted" {
                        " — " (matched) " of " (all.len()) " shown"
                        @if matched > rows.len() { ", the first " (rows.len()) ": narrow the filter to see the rest" }
                        ", ordered by " (SORTS.iter().find(|(k, _)| *k == sort).map_or("state", |(_, l)| *l).to_lowercase())
                    }
                }
                thead {
                    tr {
                        (sorted_th("domain", "Domain", ""))
                        (sorted_th("state", "State", ""))
                        (sorted_th("score", "Score", "num"))
                        th scope="col" { "Verdict" }
                        (sorted_th("last", "Last run", ""))
                        th scope="col" { "Last 30 days" }
                        th scope="col" { "Next run" }
                    }
                }
                tbody {
                    @for (m, spark) in rows.iter().zip(&sparks) {
                        tr class={"row-" (m.state)} data-monitor=(m.id) {
                            th scope="row" { a href={"/monitors/" (m.id)} { (inert(&m.spec.domain)) } }
                            td { (state_badge(&m.state)) }
                            td class="num" {
                                @match &m.last_run { Some(r) => (r.score), None => span class="muted" { "—" } }
                            }
                            td {
                                @match &m.last_run {
                                    Some(r) => span class={"verdict " (verdict_class(&r.verdict))} { (inert(&r.verdict)) },
                                    None => span class="muted" { "no run yet" },
                                }
                            }
                            td { @match &m.last_run { Some(r) => (when(now, r.at)), None => span class="muted" { "—" } } }
                            td { (sparkline(&format!("Scores of {}", m.spec.domain), spark)) }
                            td {
                                @if m.state == "paused" { span class="muted" { "paused" } } @else { (when(now, m.next_run)) }
                            }
                        }
                    }
                    @if rows.is_empty() {
                        tr { td colspan="7" class="muted" { "No monitor matches the filter." } }
                    }
                }
            }
        }
        (new_form(v, form, problem))
    };
    let r = Shell::new("Overview", Nav::Overview).render(v, body);
    Ok(if problem.is_some() {
        with_status(r, StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        r
    })
}

fn verdict_class(v: &str) -> &'static str {
    match v {
        "deliverable_path" => "v-deliverable",
        "degraded" => "v-degraded",
        "broken" => "v-broken",
        _ => "v-inconclusive",
    }
}

/// `POST /monitors`: a new monitor, then its page; bad input shows the form again (422).
async fn create(
    State(st): State<WebState>,
    v: Viewer,
    Form(f): Form<NewForm>,
) -> Result<Response, PageError> {
    csrf::check(&v, &f.csrf)?;
    let made = match f.request() {
        Ok(req) => st.monitors.create(v.owner, req).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(m) => Ok(Redirect::to(&format!("/monitors/{}", m.id)).into_response()),
        Err(e) if input_error(&e) => {
            overview_page(&st, &v, &OverviewQuery::default(), &f, Some(&e.to_string())).await
        }
        Err(e) => Err(page_error(e)),
    }
}

// ---- a domain's page -----------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    interval: String,
    #[serde(default)]
    alert_after: String,
    #[serde(default)]
    webhooks: String,
    #[serde(default)]
    slack: String,
    #[serde(default)]
    emails: String,
}

impl EditForm {
    fn of(m: &MonitorView) -> EditForm {
        EditForm {
            csrf: String::new(),
            interval: m.interval.clone(),
            alert_after: m.spec.alert_after.to_string(),
            webhooks: m.spec.webhooks.join("\n"),
            slack: m.spec.slack.join("\n"),
            emails: m.spec.emails.join("\n"),
        }
    }

    fn request(&self) -> Result<Request, MonitorError> {
        Ok(Request {
            interval: Some(self.interval.trim().to_string()),
            alert_after: number("alert after", &self.alert_after)?,
            webhooks: Some(lines_of(&self.webhooks)),
            slack: Some(lines_of(&self.slack)),
            emails: Some(lines_of(&self.emails)),
            ..Request::default()
        })
    }
}

/// The event's words and its class (`ev-alert`...).
fn event_text(c: &Change) -> (&'static str, String) {
    let problem = |p: &crate::monitors::state::Problem| {
        let mut s = format!("{} ({}, {}", p.title, p.severity, p.id);
        if let Some(h) = &p.host {
            s.push_str(&format!(", {h}"));
        }
        s.push(')');
        s
    };
    match c {
        Change::Verdict { from: None, to } => ("ev-verdict", format!("First verdict: {to}")),
        Change::Verdict { from: Some(f), to } => {
            ("ev-verdict", format!("Verdict changed: {f} → {to}"))
        }
        Change::Appeared { problem: p } => ("ev-appeared", format!("Appeared: {}", problem(p))),
        Change::Cleared { problem: p } => ("ev-cleared", format!("Cleared: {}", problem(p))),
        Change::Alert { streak } => (
            "ev-alert",
            format!("Alert: failing {streak} runs in a row (sent to the monitor's destinations)"),
        ),
        Change::Recovered => (
            "ev-recovered",
            "Recovered: passing again (recovery sent)".into(),
        ),
    }
}

/// `GET /monitors/{id}`.
async fn domain(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    domain_page(&st, &v, &id, None).await
}

/// The domain page; `edit` is a refused edit form to show again with its message (422).
async fn domain_page(
    st: &WebState,
    v: &Viewer,
    id: &str,
    edit: Option<(EditForm, String)>,
) -> Result<Response, PageError> {
    let now = unix_now();
    let m = st.monitors.get(id).await.map_err(page_error)?;
    let runs = st
        .monitors
        .runs(id, 0, CHART_RUNS)
        .await
        .map_err(page_error)?;
    let events = st.monitors.events(id, TIMELINE).await.map_err(page_error)?;
    let latest = st.monitors.latest_report(id).await.map_err(page_error)?;
    let running = st.monitors.running(id) || (m.state != "paused" && m.next_run <= now);
    let from_file = m.source == "config";
    let points: Vec<(i64, u32)> = runs.iter().rev().map(|r| (r.at, r.score)).collect();
    let (form, problem) = match edit {
        Some((f, p)) => (f, Some(p)),
        None => (EditForm::of(&m), None),
    };
    let domain = inert(&m.spec.domain);
    let body = html! {
        h1 { (domain) }
        div class={"status status-" (m.state)} {
            (state_badge(&m.state))
            @if let Some(r) = &m.last_run {
                span class="score" id="monitor-score" { (r.score) small { " / 100" } }
                span class={"verdict " (verdict_class(&r.verdict))} { (inert(&r.verdict)) }
            }
            span id="monitor-state" class="visually-hidden" { (m.state) }
            @if m.streak > 0 {
                span { (m.streak) " failing run" @if m.streak > 1 { "s" } " in a row (alert after " (m.spec.alert_after) ")" }
            }
        }
        @if running {
            p class="notice" role="status" id="running" { "A run is under way: this page reloads until it is stored." }
        }
        div class="actions" {
            form method="post" action={"/monitors/" (m.id) "/run"} class="inline" {
                (csrf::field(v))
                button type="submit" id="run-now" { "Run now" }
            }
            @if from_file {
                p class="muted" { "Managed by the monitors file (--monitors): change or remove it there and reload the server (SIGHUP)." }
            } @else {
                form method="post" action={"/monitors/" (m.id) "/pause"} class="inline" {
                    (csrf::field(v))
                    @if m.spec.paused {
                        input type="hidden" name="paused" value="false";
                        button type="submit" class="secondary" id="resume" { "Resume" }
                    } @else {
                        input type="hidden" name="paused" value="true";
                        button type="submit" class="secondary" id="pause" { "Pause" }
                    }
                }
                a class="button danger" id="delete" href={"/monitors/" (m.id) "/delete"} { "Delete…" }
            }
        }
        section aria-labelledby="h-settings" {
            h2 id="h-settings" { "Settings" }
            dl class="facts" {
                dt { "Domain" } dd { (domain) }
                dt { "Probe" } dd { @match &m.spec.probe { Some(p) => (inert(p)), None => span class="muted" { "none" } } }
                dt { "Interval" } dd { (m.interval) }
                dt { "Alert after" } dd { (m.spec.alert_after) " failing runs in a row" }
                @if let Some(ip) = m.spec.sender_ip { dt { "Sender IP" } dd { (ip) } }
                @if !m.spec.dkim_selectors.is_empty() { dt { "DKIM selectors" } dd { (inert(&m.spec.dkim_selectors.join(", "))) } }
                dt { "Alerts to" }
                dd {
                    @if !m.spec.has_destinations() { span class="muted" { "nobody (no destination)" } }
                    @for (what, list) in [("webhook", &m.spec.webhooks), ("Slack", &m.spec.slack), ("email", &m.spec.emails)] {
                        @for d in list { div { (what) ": " code { (inert(d)) } } }
                    }
                }
                dt { "Source" } dd { @if from_file { "the monitors file" } @else { "the dashboard or the API" } }
                dt { "Created" } dd { (when(now, m.created)) }
                dt { "Last run" } dd { @match &m.last_run { Some(r) => (when(now, r.at)), None => "not yet" } }
                dt { "Next run" } dd { @if m.spec.paused { "paused" } @else { (when(now, m.next_run)) } }
            }
            @if !from_file {
                details class="edit" open[problem.is_some()] {
                    summary { "Change settings" }
                    @if let Some(p) = &problem {
                        p class="error" role="alert" id="edit-problem" { (inert(p)) }
                    }
                    form method="post" action={"/monitors/" (m.id) "/edit"} class="stack" {
                        (csrf::field(v))
                        div class="pair" {
                            div {
                                label for="edit-interval" { "Interval" }
                                input type="text" id="edit-interval" name="interval" value=(form.interval) required spellcheck="false";
                            }
                            div {
                                label for="edit-alert-after" { "Alert after" }
                                input type="number" id="edit-alert-after" name="alert_after" min="1" max="100" value=(form.alert_after) required;
                            }
                        }
                        (destination_fields("edit", &form.webhooks, &form.slack, &form.emails))
                        button type="submit" { "Save" }
                    }
                }
            }
        }
        section aria-labelledby="h-score" {
            h2 id="h-score" { "Score over time" }
            @if points.is_empty() {
                p class="muted" { "No runs yet." }
            } @else {
                (score_line(&format!("Score of {} over time", m.spec.domain), &points))
                (recent(&runs, now))
            }
        }
        section aria-labelledby="h-timeline" {
            h2 id="h-timeline" { "Timeline" }
            @if events.is_empty() {
                p class="muted" { "No state changes yet." }
            } @else {
                ol class="timeline" reversed {
                    @for e in &events {
                        @let (class, text) = event_text(&e.change);
                        li class=(class) { (when(now, e.at)) " " span class="what" { (inert(&text)) } }
                    }
                }
            }
        }
        section aria-labelledby="h-latest" {
            h2 id="h-latest" { "Latest report" }
            @match &latest {
                None => p class="muted" { "No report yet (the first run has not finished, or it ended without one)." },
                Some((at, json)) => {
                    @match serde_json::from_str::<serde_json::Value>(json) {
                        Ok(doc) => {
                            p class="muted" { "From the run " (when(now, *at)) ", as mxray diagnose " (domain) " -v shows it." }
                            (super::report::render(&doc))
                        }
                        Err(e) => p class="error" { "The stored report cannot be read: " (inert(&e.to_string())) }
                    }
                }
            }
        }
    };
    let title = inert(&m.spec.domain);
    let mut shell = Shell::new(&title, Nav::Overview);
    if running {
        shell = shell.refresh(REFRESH_SECS);
    }
    let r = shell.render(v, body);
    Ok(if problem.is_some() {
        with_status(r, StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        r
    })
}

/// The latest runs as a table (a folded day says how many runs it stands for).
fn recent(runs: &[RunRow], now: i64) -> Markup {
    html! {
        table class="runs" {
            caption { "Recent runs" }
            thead {
                tr {
                    th scope="col" { "When" }
                    th scope="col" class="num" { "Score" }
                    th scope="col" { "Verdict" }
                    th scope="col" { "Problems" }
                    th scope="col" class="num" { "Took" }
                }
            }
            tbody {
                @for r in runs.iter().take(RECENT_RUNS) {
                    tr class=[(r.failing > 0).then_some("failed")] {
                        td {
                            (when(now, r.at))
                            @if r.samples > 1 { br; span class="muted" { "a day of " (r.samples) " runs, " (r.failing) " failing" } }
                        }
                        td class="num" {
                            (r.score)
                            @if r.samples > 1 { " " span class="muted" { "(" (r.score_min) "–" (r.score_max) ")" } }
                        }
                        td { span class={"verdict " (verdict_class(&r.verdict))} { (inert(&r.verdict)) } }
                        td {
                            @if r.problems.is_empty() { span class="muted" { "none" } }
                            @for p in &r.problems {
                                div { span class={"sev-" (if p.severity == "fail" { "fail" } else { "warn" })} { (inert(&p.severity)) } " " (inert(&p.title)) }
                            }
                        }
                        td class="num" { @if r.samples > 1 { "—" } @else { (r.duration_ms) " ms" } }
                    }
                }
            }
        }
    }
}

/// `POST /monitors/{id}/run`: the run is queued; the page reloads until it is stored.
async fn run_now(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<csrf::TokenForm>,
) -> Result<Response, PageError> {
    csrf::check(&v, &f.csrf)?;
    let m = st.monitors.run_now(&id).await.map_err(page_error)?;
    Ok(Redirect::to(&format!("/monitors/{}", m.id)).into_response())
}

#[derive(Deserialize)]
struct PauseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    paused: String,
}

/// `POST /monitors/{id}/pause` (`paused=true|false`).
async fn pause(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<PauseForm>,
) -> Result<Response, PageError> {
    csrf::check(&v, &f.csrf)?;
    let req = Request {
        paused: Some(f.paused == "true"),
        ..Request::default()
    };
    let m = st.monitors.update(&id, req).await.map_err(page_error)?;
    Ok(Redirect::to(&format!("/monitors/{}", m.id)).into_response())
}

/// `POST /monitors/{id}/edit`: interval, alert_after, destinations; bad input shows the form
/// again (422).
async fn edit(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> Result<Response, PageError> {
    csrf::check(&v, &f.csrf)?;
    let done = match f.request() {
        Ok(req) => st.monitors.update(&id, req).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(m) => Ok(Redirect::to(&format!("/monitors/{}", m.id)).into_response()),
        Err(e) if input_error(&e) => domain_page(&st, &v, &id, Some((f, e.to_string()))).await,
        Err(e) => Err(page_error(e)),
    }
}

/// `GET /monitors/{id}/delete`: the confirmation step (no script, so a page of its own).
async fn confirm_delete(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let m = st.monitors.get(&id).await.map_err(page_error)?;
    if m.source == "config" {
        return Err(page_error(MonitorError::FromFile(m.id)));
    }
    let domain = inert(&m.spec.domain);
    let body = html! {
        h1 { "Delete the monitor of " (domain) "?" }
        p { "Its runs, its timeline and its latest report are deleted with it; alerts stop. This cannot be undone (pausing keeps the history)." }
        div class="actions" {
            form method="post" action={"/monitors/" (m.id) "/delete"} class="inline" {
                (csrf::field(&v))
                button type="submit" class="danger" id="confirm-delete" { "Delete " (domain) }
            }
            a href={"/monitors/" (m.id)} { "Cancel" }
        }
    };
    Ok(Shell::new(&format!("Delete {}", m.spec.domain), Nav::Overview).render(&v, body))
}

/// `POST /monitors/{id}/delete`: gone, back to the overview with a notice.
async fn delete(
    State(st): State<WebState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<csrf::TokenForm>,
) -> Result<Response, PageError> {
    csrf::check(&v, &f.csrf)?;
    let m = st.monitors.get(&id).await.map_err(page_error)?;
    st.monitors.delete(&id).await.map_err(page_error)?;
    Ok(Redirect::to(&format!("/?deleted={}", percent(&m.spec.domain))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_relative() {
        assert_eq!(relative(1000, 990), "just now");
        assert_eq!(relative(10_000, 10_000 - 720), "12 min ago");
        assert_eq!(relative(0, 7200), "in 2 h");
        assert_eq!(relative(10 * 86_400, 0), "10 days ago");
        let m = when(0, 0).into_string();
        assert!(m.contains(r#"datetime="1970-01-01T00:00Z""#), "{m}");
    }

    #[test]
    fn query_parameters_pick_from_the_known_values() {
        assert_eq!(pick("score", SORTS), "score");
        assert_eq!(pick("<script>", SORTS), "state");
        assert_eq!(pick("", FILTERS), "all");
        assert!(keep("failing", "alerting") && !keep("failing", "passing"));
        assert_eq!(
            sort_href("domain", "all", "a&b c"),
            "/?sort=domain&filter=all&q=a%26b%20c"
        );
    }

    #[test]
    fn form_lines_and_numbers() {
        assert_eq!(lines_of(" a \n\n b\r\n"), ["a", "b"]);
        assert!(number("alert after", "x").is_err());
        assert_eq!(number("alert after", " ").ok(), Some(None));
        let f = NewForm {
            domain: " example.com ".into(),
            alert_after: "3".into(),
            webhooks: "https://h.example/1\n".into(),
            ..NewForm::default()
        };
        let r = f.request().expect("a request");
        assert_eq!(r.domain.as_deref(), Some("example.com"));
        assert_eq!(r.alert_after, Some(3));
        assert_eq!(r.interval, None);
        assert_eq!(r.webhooks.map(|w| w.len()), Some(1));
    }
}
