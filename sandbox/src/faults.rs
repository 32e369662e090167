//! Route faults: "the next N calls to this route fail" with a 5xx, a 429
//! with Retry-After, a hang longer than any sensible client timeout, or a
//! refusal with a given code.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::state::Shared;
use crate::webex::error::ApiError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum FaultAction {
    /// Answer with this status (500, 502, 503, 504...).
    Status { status: u16 },
    /// Answer 429 Too Many Requests with `Retry-After`.
    RateLimit { retry_after_seconds: u64 },
    /// Answer nothing for this long, then 504.
    Hang { hang_seconds: u64 },
    /// Refuse with this code and message, in the route's documented refusal
    /// shape (Connect v1: HTTP 200 envelope; Connect v2 and Webex: HTTP 400).
    Refuse { code: String, message: String },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteFault {
    /// Method to match, or any when None.
    pub method: Option<String>,
    /// Path relative to the sandbox root; a trailing `*` matches a prefix.
    pub path: String,
    pub remaining: u32,
    pub action: FaultAction,
}

impl RouteFault {
    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        };
        method_ok && path_ok && self.remaining > 0
    }
}

pub async fn inject(State(sandbox): State<Shared>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/control/") {
        return next.run(request).await;
    }
    let action = {
        let mut world = sandbox.world();
        let method = request.method().as_str();
        match world
            .route_faults
            .iter()
            .position(|f| f.matches(method, &path))
        {
            Some(index) => {
                let fault = &mut world.route_faults[index];
                fault.remaining -= 1;
                let action = fault.action.clone();
                if fault.remaining == 0 {
                    world.route_faults.remove(index);
                }
                Some(action)
            }
            None => None,
        }
    };
    match action {
        None => next.run(request).await,
        Some(FaultAction::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            failure(&path, status, None)
        }
        Some(FaultAction::RateLimit {
            retry_after_seconds,
        }) => failure(
            &path,
            StatusCode::TOO_MANY_REQUESTS,
            Some(retry_after_seconds),
        ),
        Some(FaultAction::Refuse { code, message }) => refusal(&path, &code, &message),
        Some(FaultAction::Hang { hang_seconds }) => {
            tokio::time::sleep(Duration::from_secs(hang_seconds)).await;
            failure(&path, StatusCode::GATEWAY_TIMEOUT, None)
        }
    }
}

/// A refusal in the shape of the service that owns the path.
fn refusal(path: &str, code: &str, message: &str) -> Response {
    if path.starts_with("/connect/v2/") {
        let body = json!({"code": code, "message": message});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    if path.starts_with("/connect/") {
        let body = json!({"response": {"code": code, "description": message,
            "transid": uuid::Uuid::new_v4().to_string()}});
        return (StatusCode::OK, Json(body)).into_response();
    }
    ApiError::new(StatusCode::BAD_REQUEST, format!("{code}: {message}")).into_response()
}

/// A failure in the shape of the service that owns the path.
fn failure(path: &str, status: StatusCode, retry_after: Option<u64>) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    if path.starts_with("/connect/") {
        // 7006 Internal error, in the shape of the API version called.
        let body = if path.starts_with("/connect/v2/") {
            json!({"code": "7006", "message": reason})
        } else {
            json!({"response": {"code": "7006", "description": reason,
                "transid": uuid::Uuid::new_v4().to_string()}})
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        return response;
    }
    let mut error = ApiError::new(status, reason);
    if let Some(seconds) = retry_after {
        error = error.with_retry_after(seconds);
    }
    error.into_response()
}
