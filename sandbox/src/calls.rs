//! The call log: every Webex and Connect API request the sandbox receives,
//! so tests can assert on what the product really sent. Secrets (tokens,
//! keys, webhook secrets, OAuth codes) are redacted before a call is logged:
//! the log is readable by anyone who can reach the sandbox.

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

/// What stands in for a secret in the log.
pub const REDACTED: &str = "***";

/// Whether a query, form or JSON field of this name carries a secret.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace(['-', '_'], "");
    name == "key"
        || name == "code"
        || name == "codeverifier"
        || name == "assertion"
        || name == "authorization"
        || name.ends_with("token")
        || name.ends_with("secret")
        || name.ends_with("apikey")
        || name.contains("password")
}

/// `a=1&token=x` → `a=1&token=***`.
fn redact_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A path or URL with the secret query parameters redacted.
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{base}?{}", redact_pairs(query)),
        None => url.to_string(),
    }
}

fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (name, v) in map.iter_mut() {
                if is_secret_name(name) && !v.is_null() {
                    *v = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        // URLs given in a body (e.g. a delivery receipt URL) carry tokens too.
        serde_json::Value::String(s) if s.contains('?') => *s = redact_url(s),
        _ => {}
    }
}

/// A body for the log: JSON and form fields that carry secrets are
/// redacted, then the result is cut to a summary.
pub fn redacted_summary(body: &[u8]) -> String {
    if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) {
        redact_json(&mut json);
        return summary(json.to_string().as_bytes());
    }
    let text = String::from_utf8_lossy(body);
    let looks_like_form = !text.is_empty()
        && !text.contains(char::is_whitespace)
        && text.split('&').all(|pair| pair.contains('='));
    if looks_like_form {
        summary(redact_pairs(&text).as_bytes())
    } else {
        summary(body)
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
                    let text = redacted_summary(&bytes);
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
        path: redact_url(&path_and_query),
        status: Some(response.status().as_u16()),
        body,
        url: None,
        delivery_kind: None,
        error: None,
        replay,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_log() {
        assert_eq!(
            redact_url("/webhooks/connect/inbound?token=s3cret&x=1"),
            "/webhooks/connect/inbound?token=***&x=1"
        );
        let form = redacted_summary(
            b"grant_type=authorization_code&client_id=id&client_secret=s3cret&code=abc&code_verifier=v",
        );
        assert!(!form.contains("s3cret") && !form.contains("abc") && form.contains("client_id=id"));
        let json = redacted_summary(
            br#"{"name":"guest","targetUrl":"https://cm/webhooks/webex","secret":"s3cret",
                "notifyurl":"https://cm/webhooks/connect/receipts?token=t0k","accessToken":"a",
                "message":{"text":"hello"}}"#,
        );
        for secret in ["s3cret", "t0k", "\"a\""] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        assert!(json.contains("hello") && json.contains("guest"));
        assert_eq!(redacted_summary(b"just text"), "just text");
    }
}
