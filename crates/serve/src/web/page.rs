//! The page shell every page shares (title, nav, skip link, who is signed in), the HTML
//! answer, error pages, and [`inert`]: the one way outside text reaches a page.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::Viewer;

/// Outside text (banners, replies, TXT records, log lines, file names) made inert for a page:
/// control and bidi characters shown as escapes (`\u{202e}`), as on a terminal. maud then
/// escapes `<`, `&` and quotes; never pass outside text through `PreEscaped`.
pub fn inert(s: &str) -> String {
    mxray_core::escape_text(s)
}

/// The sections in the nav; the current one is marked for screen readers and the eye.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Tools,
    /// A page outside the nav (sign-in, errors).
    None,
}

/// The nav's entries in order: (section, path, label).
const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Overview, "/", "Overview"),
    (Nav::Tools, "/tools", "Tools"),
];

/// A page's frame: `Shell::new("Tools", Nav::Tools).render(Some(&viewer), body)`.
pub struct Shell<'a> {
    title: &'a str,
    nav: Nav,
    /// Reload every N seconds (a job's progress): `<meta http-equiv="refresh">` works without
    /// JavaScript and is allowed by the CSP.
    refresh: Option<u32>,
}

impl<'a> Shell<'a> {
    pub fn new(title: &'a str, nav: Nav) -> Shell<'a> {
        Shell {
            title,
            nav,
            refresh: None,
        }
    }

    pub fn refresh(mut self, secs: u32) -> Shell<'a> {
        self.refresh = Some(secs);
        self
    }

    /// The whole document around `main` (which should open with the page's `<h1>`).
    pub fn markup(&self, viewer: Option<&Viewer>, main: Markup) -> Markup {
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    @if let Some(s) = self.refresh {
                        meta http-equiv="refresh" content=(s);
                    }
                    title { (self.title) " — mxray" }
                    link rel="stylesheet" href="/static/app.css";
                }
                body {
                    a class="skip" href="#main" { "Skip to content" }
                    header class="top" {
                        a class="brand" href="/" { "mxray" }
                        nav aria-label="Main" {
                            ul {
                                @for (section, href, label) in NAV {
                                    li {
                                        @if *section == self.nav {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        @if let Some(v) = viewer {
                            div class="who" {
                                @match &v.name {
                                    Some(name) => span { "Signed in with key " strong { (inert(name)) } },
                                    None => span { "No sign-in (--no-auth, loopback only)" },
                                }
                                @if v.name.is_some() {
                                    form method="post" action="/signout" class="inline" {
                                        (super::csrf::field(v))
                                        button type="submit" { "Sign out" }
                                    }
                                }
                            }
                        }
                    }
                    main id="main" tabindex="-1" { (main) }
                }
            }
        }
    }

    /// The document as a 200 answer.
    pub fn render(&self, viewer: &Viewer, main: Markup) -> Response {
        html_response(StatusCode::OK, self.markup(Some(viewer), main))
    }
}

/// An HTML answer with `status`.
pub fn html_response(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// A page that says what went wrong and what to do, with its status.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    /// Plain text (made inert when shown): what happened and what to do.
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> PageError {
        PageError {
            status,
            title,
            message: message.into(),
        }
    }

    /// 422: the form's input cannot be used.
    pub fn bad(message: impl Into<String>) -> PageError {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot use that input",
            message,
        )
    }

    /// 500: the server's own trouble.
    pub fn internal(message: impl Into<String>) -> PageError {
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something failed on the server",
            message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, "Not found", message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = html! {
            h1 { (self.title) }
            p class="error" role="alert" { (inert(&self.message)) }
            p { a href="/" { "Back to the overview" } " · " a href="/tools" { "the tools" } }
        };
        html_response(
            self.status,
            Shell::new(self.title, Nav::None).markup(None, body),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_has_a_title_a_skip_link_and_no_inline_script_or_style() {
        let m = Shell::new("Tools", Nav::Tools)
            .markup(None, html! { h1 { "Tools" } })
            .into_string();
        assert!(m.contains("<title>Tools — mxray</title>"), "{m}");
        assert!(m.contains(r##"<a class="skip" href="#main">"##), "{m}");
        assert!(m.contains(r#"aria-current="page""#), "{m}");
        assert!(!m.contains("<script") && !m.contains("style="), "{m}");
    }

    #[test]
    fn error_pages_make_the_message_inert() {
        let r = PageError::bad("<b>\u{202e}x</b>").into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let m = html! { (inert("<b>\u{202e}x</b>")) }.into_string();
        assert_eq!(m, "&lt;b&gt;\\u{202e}x&lt;/b&gt;");
    }
}
