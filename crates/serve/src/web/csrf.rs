//! CSRF defences for every form: a per-session synchronizer token in a hidden field, compared
//! in constant time, and a refusal of any POST whose Origin is present and not this server.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::PageError;

/// A form that carries nothing but its token (a button: sign out, run now, cancel, delete).
#[derive(serde::Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

use super::session::Viewer;

/// The hidden field's name.
pub const FIELD: &str = "csrf";

/// The hidden field every form carries (first in the form: a multipart upload's handler reads
/// it before the file).
pub fn field(v: &Viewer) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(v.csrf); }
}

/// The 403 that says what to do.
pub fn rejected() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form's security token is missing or out of date (the page may be older than your session, or the form came from another site). Go back, reload the page and send the form again.",
    )
}

/// The form's token against the session's.
pub fn check(v: &Viewer, given: &str) -> Result<(), PageError> {
    if equal(v.csrf.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(rejected())
    }
}

/// Compares without an early exit, so the time taken says nothing about where they differ.
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a request's `Origin` (when present) names the host it was sent to, and the browser
/// did not mark it as from elsewhere (`Sec-Fetch-Site`). Behind a reverse proxy, the proxy
/// must pass the `Host` header through.
///
/// Our pages send `Referrer-Policy: no-referrer`, under which browsers send `Origin: null` on
/// their own same-origin form posts (the Fetch standard ties the two); such a post is taken
/// only when the browser also says `Sec-Fetch-Site: same-origin`.
pub fn same_site(h: &HeaderMap) -> bool {
    let fetch_site = h
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    if fetch_site
        .as_deref()
        .is_some_and(|v| v != "same-origin" && v != "none")
    {
        return false;
    }
    let Some(origin) = h.get(header::ORIGIN) else {
        return true;
    };
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some("null"), _) => fetch_site.as_deref() == Some("same-origin"),
        (Some(o), Some(host)) => o
            .strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

/// Every POST to a page: refused with the 403 page when it comes from another origin.
pub async fn same_origin(req: Request, next: Next) -> Response {
    if req.method() == Method::POST && !same_site(req.headers()) {
        return rejected().into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_compare_whole() {
        assert!(equal(b"abcd", b"abcd"));
        assert!(!equal(b"abcd", b"abce"));
        assert!(!equal(b"abcd", b"abc"));
        assert!(!equal(b"", b""));
    }

    #[test]
    fn a_foreign_origin_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8025"));
        assert!(
            same_site(&h),
            "no Origin: a same-origin form in an older browser"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8025"),
        );
        assert!(same_site(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.test"));
        assert!(!same_site(&h));
        // "null" (a sandboxed frame, a data: URL) without the browser's word that it is ours.
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_site(&h));
        // Our own form under Referrer-Policy: no-referrer.
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_site(&h));
        for other in ["cross-site", "same-site"] {
            h.insert(
                header::ORIGIN,
                HeaderValue::from_static("http://127.0.0.1:8025"),
            );
            h.insert("sec-fetch-site", HeaderValue::from_static(other));
            assert!(!same_site(&h), "{other}");
        }
    }
}
