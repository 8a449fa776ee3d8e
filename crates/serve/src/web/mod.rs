//! The dashboard's pages on `mxray serve`: HTML rendered on the server (maud), signed in with an
//! API key, every form CSRF-checked, a strict Content-Security-Policy, the same library calls as /v1.
//!
//! # Layout
//! - `page.rs`: the page shell (title, nav, skip link, sign-out), error pages, [`inert`] text.
//! - `session.rs`: sessions (SQLite beside the keys, only token hashes stored), the cookie, and
//!   the [`Viewer`] extractor every page takes.
//! - `csrf.rs`: the form token (a hidden field, compared in constant time) and the Origin check.
//! - `signin.rs`: `/signin`, `/signout`.
//! - `report.rs`: a diagnose `Report` as HTML (findings by area, transcripts, records).
//! - `explain.rs`, `logs.rs`: explanations and a logs report as HTML.
//! - `chart.rs`: SVG charts (line, sparkline, stacked bars), each with a text table.
//! - `monitors.rs`: `/` (the overview of every monitor) and `/monitors/{id}` (a domain: its
//!   settings, actions, score over time, timeline, latest report).
//! - `tools.rs`: `/tools`: explain, one-off diagnosis, CSV verification jobs, log upload.
//! - `assets.rs`: `/static/` (the stylesheet, compiled in).
//!
//! A new page: a handler taking [`Viewer`] (signed in, or redirected to /signin) that answers
//! `Shell::new(title, Nav::..).render(&viewer, body)`; its route in [`pages`]; forms carry
//! [`csrf::field`] and their handler calls [`csrf::check`].

pub mod chart;
pub mod csrf;
pub mod explain;
pub mod logs;
pub mod page;
pub mod report;
pub mod session;

mod assets;
mod monitors;
mod signin;
mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;

pub use page::{Nav, PageError, Shell, inert};
pub use session::{SessionError, Sessions, Viewer};

/// What the pages need: the server's settings and the parts of the API they share.
pub struct Web {
    pub s: crate::Settings,
    pub jobs: Arc<crate::jobs::Jobs>,
    /// The per-address connection cap every diagnosis shares (the API's too).
    pub limits: Arc<mxray_diagnose::Limits>,
    pub sessions: Arc<Sessions>,
    /// The monitors (the overview and domain pages).
    pub monitors: Arc<crate::monitors::Monitors>,
}

/// The state every page handler gets.
pub type WebState = Arc<Web>;

/// The page headers (CSP and friends) on every page; `/static` is cacheable, pages are not.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every page route; a new page adds its route here (the headers layer covers what is here).
fn pages() -> Router<WebState> {
    Router::new()
        .merge(monitors::routes())
        .merge(signin::routes())
        .merge(tools::routes())
        .route("/static/{file}", get(assets::serve))
}

/// The pages as a router of any outer state (the app's), their own state given.
pub fn router<S: Clone + Send + Sync + 'static>(web: WebState) -> Router<S> {
    pages()
        .layer(middleware::from_fn(csrf::same_origin))
        .layer(middleware::from_fn(headers))
        .with_state(web)
}

/// CSP, no sniffing, no referrer, no framing; pages are never cached (they hold a session's
/// data and form tokens).
async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}
