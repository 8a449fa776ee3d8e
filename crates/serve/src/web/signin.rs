//! Signing in with an API key (a session cookie from then on) and out again. The sign-in form
//! has no session yet: its token is a double-submit one (a cookie of its own and the field).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{Nav, Shell, html_response};
use super::session::{COOKIE, LIFETIME, Viewer, cookie, local_path, read_cookie};
use super::{PageError, WebState, csrf};

/// The sign-in form's own token cookie (no session exists yet to hold one).
const SIGNIN_COOKIE: &str = "mxray_signin";
/// How long a sign-in form stays usable.
const SIGNIN_FORM: Duration = Duration::from_secs(3600);

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/signin", get(form).post(submit))
        .route("/signout", post(signout))
}

#[derive(Debug, Deserialize)]
struct Next {
    next: Option<String>,
}

/// `GET /signin`: the form (with keys); without keys there is nothing to sign in to.
async fn form(State(st): State<WebState>, Query(q): Query<Next>) -> Response {
    let next = q
        .next
        .as_deref()
        .and_then(local_path)
        .unwrap_or("/tools")
        .to_string();
    if st.s.keys.is_none() {
        return Redirect::to(&next).into_response();
    }
    page(&st, &next, None, StatusCode::OK)
}

/// The sign-in page with a fresh form token (and its cookie), `problem` said above the form.
fn page(st: &WebState, next: &str, problem: Option<&str>, status: StatusCode) -> Response {
    let token = crate::jobs::random_hex(32);
    if token.is_empty() {
        return PageError::internal("no random numbers from the system").into_response();
    }
    let body: Markup = html! {
        h1 { "Sign in" }
        @if let Some(p) = problem {
            p class="error" role="alert" id="signin-problem" { (p) }
        }
        p { "Sign in with an API key of this server. Create one where the server runs: "
            code { "mxray serve keys create --name NAME --data DIR" } " (the server's --data directory)." }
        form method="post" action="/signin" class="stack" {
            input type="hidden" name=(csrf::FIELD) value=(token);
            input type="hidden" name="next" value=(next);
            label for="key" { "API key" }
            input type="password" id="key" name="key" required autocomplete="off" spellcheck="false"
                aria-describedby=[problem.map(|_| "signin-problem")];
            button type="submit" { "Sign in" }
        }
    };
    let mut r = html_response(status, Shell::new("Sign in", Nav::None).markup(None, body));
    r.headers_mut().insert(
        header::SET_COOKIE,
        cookie(SIGNIN_COOKIE, &token, SIGNIN_FORM, st.s.secure_cookies),
    );
    r
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    next: String,
}

/// `POST /signin`: a live key opens a session (a new token every time) and goes to `next`.
async fn submit(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Result<Response, PageError> {
    let Some(keys) = st.s.keys.clone() else {
        return Ok(Redirect::to("/tools").into_response());
    };
    let expected = read_cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if !csrf::equal(expected.as_bytes(), f.csrf.as_bytes()) {
        return Err(csrf::rejected());
    }
    let next = local_path(&f.next).unwrap_or("/tools").to_string();
    let key = f.key.trim().to_string();
    let found = tokio::task::spawn_blocking(move || keys.check(&key))
        .await
        .map_err(|e| PageError::internal(e.to_string()))?
        .map_err(|e| PageError::internal(e.to_string()))?;
    let Some(info) = found else {
        return Ok(page(
            &st,
            &next,
            Some(
                "That key is unknown or revoked: check it, or create a new one with mxray serve keys create.",
            ),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let sessions = st.sessions.clone();
    let token = tokio::task::spawn_blocking(move || sessions.create(info.id))
        .await
        .map_err(|e| PageError::internal(e.to_string()))?
        .map_err(|e| PageError::internal(e.to_string()))?;
    let mut r = Redirect::to(&next).into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie(COOKIE, &token, LIFETIME, st.s.secure_cookies),
    );
    h.append(
        header::SET_COOKIE,
        cookie(SIGNIN_COOKIE, "", Duration::ZERO, st.s.secure_cookies),
    );
    Ok(r)
}

/// `POST /signout`: ends the session and drops the cookie.
async fn signout(
    State(st): State<WebState>,
    v: Viewer,
    Form(f): Form<csrf::TokenForm>,
) -> Result<Response, PageError> {
    csrf::check(&v, &f.csrf)?;
    let sessions = st.sessions.clone();
    let token = v.token.clone();
    tokio::task::spawn_blocking(move || sessions.end(&token))
        .await
        .map_err(|e| PageError::internal(e.to_string()))?
        .map_err(|e| PageError::internal(e.to_string()))?;
    let mut r = Redirect::to("/signin").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        cookie(COOKIE, "", Duration::ZERO, st.s.secure_cookies),
    );
    Ok(r)
}
