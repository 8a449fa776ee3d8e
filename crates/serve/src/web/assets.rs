//! `/static/`: the stylesheet, compiled into the binary (no files to deploy, no build chain).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::PageError;

/// (name, content type, bytes).
const FILES: &[(&str, &str, &str)] = &[(
    "app.css",
    "text/css; charset=utf-8",
    include_str!("../../assets/app.css"),
)];

/// `GET /static/{file}`: one of [`FILES`], cacheable for an hour.
pub(super) async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => PageError::not_found("There is no such file under /static.").into_response(),
    }
}
