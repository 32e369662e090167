//! The API's one error type and its mapping to HTTP: every failure answers
//! JSON `{"code", "message", "field"?}` with a stable `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use domain::{DomainError, FieldError};
use platform::connect::TriggerError;
use platform::webex::WebexError;
use relay::conversations::{StartError, TriggerFailure};
use relay::media::MediaError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("missing or invalid API key")]
    Unauthorized,
    /// A known key past its expiry (401, like an unknown key).
    #[error("{0}")]
    KeyExpired(String),
    /// A key used outside its scopes (403).
    #[error("this API key lacks the `{0}` scope")]
    MissingScope(domain::access::ApiScope),
    #[error("{0}")]
    NotFound(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Domain(DomainError),
    /// A service that needs settings that are not configured.
    #[error("{0}")]
    NotConfigured(String),
    /// Exchanging a guest JWT failed.
    #[error(transparent)]
    Guest(WebexError),
    /// A file could not be cached.
    #[error(transparent)]
    Media(MediaError),
    /// A conversation start that did not happen on this call (repeats and
    /// trigger failures; its other errors map to the variants above).
    #[error(transparent)]
    Start(StartError),
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Invalid(f) => ApiError::Invalid(f),
            StartError::NotFound { entity, id } => {
                ApiError::Domain(DomainError::NotFound { entity, id })
            }
            StartError::Storage(detail) => ApiError::Domain(DomainError::Storage(detail)),
            StartError::Trigger(TriggerFailure::Native(e)) => e.into(),
            other => ApiError::Start(other),
        }
    }
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
    /// For temporary failures: seconds to wait before trying again (also in
    /// the `Retry-After` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// For `insufficient_scope`: the scope the API key lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'static str>,
}

impl ErrorBody {
    fn new(code: &'static str, message: String) -> Self {
        Self {
            code,
            message,
            field: None,
            existing_id: None,
            current: None,
            retry_after_seconds: None,
            scope: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::NotConfigured(_)
            | ApiError::Guest(_)
            | ApiError::Media(_)
            | ApiError::Start(_) => return self.service_response(),
            ApiError::MalformedJson(m) => {
                (StatusCode::BAD_REQUEST, ErrorBody::new("malformed_json", m))
            }
            ApiError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorBody::new("unsupported_media_type", m),
            ),
            ApiError::MissingScope(scope) => (
                StatusCode::FORBIDDEN,
                ErrorBody {
                    scope: Some(scope.as_str()),
                    ..ErrorBody::new(
                        "insufficient_scope",
                        format!(
                            "this API key lacks the `{scope}` scope needed for this call: create a key with it"
                        ),
                    )
                },
            ),
            ApiError::Unauthorized | ApiError::KeyExpired(_) => {
                let message = match self {
                    ApiError::KeyExpired(m) => m,
                    _ => "missing or invalid API key: send it in the `key` header or as `Authorization: Bearer <key>`".into(),
                };
                let body = ErrorBody::new("unauthorized", message);
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
                DomainError::Conflict { code, ref message } => {
                    (StatusCode::CONFLICT, ErrorBody::new(code, message.clone()))
                }
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

impl ApiError {
    /// The guest token and attachment services' failures.
    fn service_response(self) -> Response {
        let unavailable = |message: String, retry_after: Option<std::time::Duration>| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody {
                    retry_after_seconds: retry_after.map(|d| d.as_secs().max(1)),
                    ..ErrorBody::new("webex_unavailable", message)
                },
            )
        };
        let (status, body) = match self {
            ApiError::NotConfigured(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody::new("not_configured", m),
            ),
            ApiError::Guest(WebexError::Unavailable {
                message,
                retry_after,
            }) => unavailable(format!("Webex is unavailable: {message}"), retry_after),
            // Webex refusing our own guest login is a configuration problem here.
            ApiError::Guest(e @ WebexError::Refused { .. }) => {
                tracing::warn!(error = %e, "Webex refused a guest login");
                (
                    StatusCode::BAD_GATEWAY,
                    ErrorBody::new(
                        "webex_refused",
                        format!("{e}; check the guest app's settings (CM_WEBEX_GUESTS, CM_SERVICE_APP_* or CM_GUEST_ISSUER_*)"),
                    ),
                )
            }
            ApiError::Media(e) => match e {
                MediaError::NotWebexUrl(_) => (
                    StatusCode::BAD_REQUEST,
                    ErrorBody {
                        field: Some("url".into()),
                        ..ErrorBody::new("url_not_allowed", e.to_string())
                    },
                ),
                MediaError::Scanning { retry_after } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorBody {
                        retry_after_seconds: Some(retry_after.as_secs().max(1)),
                        ..ErrorBody::new("file_scanning", e.to_string())
                    },
                ),
                MediaError::Busy { retry_after } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorBody {
                        retry_after_seconds: Some(retry_after.as_secs().max(1)),
                        ..ErrorBody::new("media_busy", e.to_string())
                    },
                ),
                MediaError::Infected => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorBody {
                        field: Some("url".into()),
                        ..ErrorBody::new("file_infected", e.to_string())
                    },
                ),
                MediaError::Unscannable => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorBody {
                        field: Some("url".into()),
                        ..ErrorBody::new("file_unscannable", e.to_string())
                    },
                ),
                MediaError::TooLarge { .. } => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorBody {
                        field: Some("url".into()),
                        ..ErrorBody::new("file_too_large", e.to_string())
                    },
                ),
                MediaError::Webex(WebexError::Unavailable {
                    message,
                    retry_after,
                }) => unavailable(format!("Webex is unavailable: {message}"), retry_after),
                // The caller's token or URL: 401/403 blame the token, the rest the URL.
                MediaError::Webex(WebexError::Refused { status, message }) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorBody {
                        field: Some(
                            if matches!(status, 401 | 403) {
                                "token"
                            } else {
                                "url"
                            }
                            .into(),
                        ),
                        ..ErrorBody::new(
                            "webex_refused",
                            format!("Webex refused the download (HTTP {status}): {message}"),
                        )
                    },
                ),
                MediaError::Storage(e) => return ApiError::Domain(e).into_response(),
            },
            ApiError::Start(e) => {
                let message = e.to_string();
                match e {
                    StartError::Trigger(TriggerFailure::Connect(t)) => match t {
                        TriggerError::NotConfigured => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            ErrorBody::new("not_configured", message),
                        ),
                        TriggerError::Unreachable(_) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            ErrorBody::new("connect_unavailable", message),
                        ),
                        TriggerError::Timeout(_) => (
                            StatusCode::GATEWAY_TIMEOUT,
                            ErrorBody::new("connect_timeout", message),
                        ),
                        TriggerError::Rejected { .. } => (
                            StatusCode::BAD_GATEWAY,
                            ErrorBody::new("connect_refused", message),
                        ),
                    },
                    StartError::InProgress => (
                        StatusCode::CONFLICT,
                        ErrorBody {
                            field: Some("attemptId".into()),
                            ..ErrorBody::new("attempt_in_progress", message)
                        },
                    ),
                    StartError::AlreadyFailed { .. } => (
                        StatusCode::CONFLICT,
                        ErrorBody {
                            field: Some("attemptId".into()),
                            ..ErrorBody::new("attempt_failed", message)
                        },
                    ),
                    StartError::OptedOut { .. } => {
                        (StatusCode::CONFLICT, ErrorBody::new("opted_out", message))
                    }
                    // The handler answers these itself (200); kept apart from failures.
                    StartError::AlreadyStarted { .. } => (
                        StatusCode::CONFLICT,
                        ErrorBody {
                            field: Some("attemptId".into()),
                            ..ErrorBody::new("already_started", message)
                        },
                    ),
                    other => return ApiError::from(other).into_response(),
                }
            }
            other => return other.into_response(),
        };
        let retry_after = body.retry_after_seconds;
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
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

/// The body limit on every route answers 413 in the usual error shape
/// (naming the limit) rather than as plain text.
pub async fn payload_too_large_as_json(
    axum::extract::State(limit): axum::extract::State<usize>,
    response: Response,
) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::PayloadTooLarge(limit).into_response();
    }
    response
}
