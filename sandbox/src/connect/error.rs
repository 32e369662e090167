//! Connect's error answers, in the v1 and the v2 shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A Connect API error: v1 answers it with HTTP 200 and
/// `{"response": {"code", "description", "transid"}}` (send-message-api-v1);
/// v2 with HTTP 400 and `{"code", "message"}`, or 401 without a body when
/// the key is missing or wrong (send-sms-message-api-v2).
#[derive(Debug)]
pub struct ConnectError {
    code: &'static str,
    description: String,
}

impl ConnectError {
    pub fn new(code: &'static str, description: impl Into<String>) -> ConnectError {
        ConnectError {
            code,
            description: description.into(),
        }
    }

    pub fn missing(what: &str) -> ConnectError {
        ConnectError::new("7003", format!("Mandatory parameters missing: {what}"))
    }

    pub fn invalid(what: &str) -> ConnectError {
        ConnectError::new("7004", format!("Invalid parameters: {what}"))
    }
}

impl ConnectError {
    /// The same error in the v2 shape.
    pub fn v2(self) -> Response {
        if matches!(self.code, "7001" | "7002") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let body = json!({"code": self.code, "message": self.description});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        let body = json!({"response": {
            "code": self.code,
            "description": self.description,
            "transid": uuid::Uuid::new_v4().to_string(),
        }});
        (StatusCode::OK, Json(body)).into_response()
    }
}
