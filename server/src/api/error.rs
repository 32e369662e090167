//! The API's one error type and its mapping to HTTP: every failure answers
//! JSON `{"code", "message", "field"?}` with a stable `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use domain::{DomainError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Domain(DomainError),
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(f) => ApiError::Invalid(f),
            other => ApiError::Domain(other),
        }
    }
}

/// The error body, as documented in the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For conflicts: the id of the record that already exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<String>,
    /// For stale versions: the record as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<serde_json::Value>,
}

impl ErrorBody {
    fn new(code: &'static str, message: String) -> Self {
        Self {
            code,
            message,
            field: None,
            existing_id: None,
            current: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::MalformedJson(m) => {
                (StatusCode::BAD_REQUEST, ErrorBody::new("malformed_json", m))
            }
            ApiError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorBody::new("unsupported_media_type", m),
            ),
            ApiError::Unauthorized => {
                let body = ErrorBody::new(
                    "unauthorized",
                    "missing or invalid API key: send it in the `key` header or as `Authorization: Bearer <key>`".into(),
                );
                let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, ErrorBody::new("not_found", m)),
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorBody::new(
                    "payload_too_large",
                    format!("request body is larger than {limit} bytes"),
                ),
            ),
            ApiError::Invalid(f) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorBody {
                    field: Some(f.field.clone()),
                    ..ErrorBody::new("validation_failed", f.to_string())
                },
            ),
            ApiError::Domain(e) => match e {
                DomainError::NotFound { .. } => (
                    StatusCode::NOT_FOUND,
                    ErrorBody::new("not_found", e.to_string()),
                ),
                DomainError::Duplicate {
                    ref field,
                    ref existing_id,
                    ..
                } => (
                    StatusCode::CONFLICT,
                    ErrorBody {
                        field: Some(field.clone()),
                        existing_id: Some(existing_id.clone()),
                        ..ErrorBody::new("duplicate", e.to_string())
                    },
                ),
                DomainError::StaleVersion { ref current, .. } => (
                    StatusCode::CONFLICT,
                    ErrorBody {
                        field: Some("version".into()),
                        current: Some(current.clone()),
                        ..ErrorBody::new("stale_version", e.to_string())
                    },
                ),
                DomainError::Invalid(f) => return ApiError::Invalid(f).into_response(),
                DomainError::Storage(detail) => {
                    // Details stay in the log; the caller gets a stable message.
                    tracing::error!(error = %detail, "storage failure");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ErrorBody::new("internal", "internal error; see the server log".into()),
                    )
                }
            },
        };
        (status, Json(body)).into_response()
    }
}

/// A panic in a handler answers 500 in the usual error shape.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(ErrorBody::new(
            "internal",
            "internal error; see the server log".into(),
        )),
    )
        .into_response()
}

/// Unknown `/api/v1/...` paths answer JSON 404, not the HTML page.
pub async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route: see /api/v1/openapi.json".into())
}
