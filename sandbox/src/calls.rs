//! The call log: every Webex and Connect API request the sandbox receives,
//! so tests can assert on what the product really sent.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::state::{timestamp, CallRecord, Shared};

/// Marks a response that repeats an earlier one (a Connect send with an
/// `Idempotency-Key` already seen), so the log can say so.
#[derive(Debug, Clone, Copy)]
pub struct Replayed;

/// Bodies above this size, and multipart bodies, are summarised, not copied.
const MAX_LOGGED_BODY: usize = 64 * 1024;
const SUMMARY_CHARS: usize = 4000;

pub fn summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(SUMMARY_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/webex/") || path.starts_with("/connect/")
}

pub async fn record(State(sandbox): State<Shared>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if !is_api(&path) {
        return next.run(request).await;
    }
    let method = request.method().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or(path);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (request, body) = match length {
        Some(n) if n <= MAX_LOGGED_BODY && !content_type.starts_with("multipart/") => {
            let (parts, body) = request.into_parts();
            match axum::body::to_bytes(body, MAX_LOGGED_BODY).await {
                Ok(bytes) => {
                    let text = summary(&bytes);
                    (Request::from_parts(parts, Body::from(bytes)), text)
                }
                Err(_) => (Request::from_parts(parts, Body::empty()), String::new()),
            }
        }
        Some(n) => (request, format!("<{content_type}, {n} bytes>")),
        None => (request, String::new()),
    };
    let response = next.run(request).await;
    let replay = response.extensions().get::<Replayed>().is_some();
    let at = timestamp(sandbox.now());
    sandbox.world().log_call(CallRecord {
        seq: 0,
        at,
        kind: "api".into(),
        method,
        path: path_and_query,
        status: Some(response.status().as_u16()),
        body,
        url: None,
        delivery_kind: None,
        error: None,
        replay,
    });
    response
}
