//! Request extractors that turn bad input into `ApiError`s.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

use super::error::ApiError;
use crate::state::AppState;
use domain::access::ApiScope;
use domain::model::Actor;
use store::{AuditCtx, KeyRefusal, VerifiedKey};

/// A JSON body. Syntax errors are 400; wrong shapes are 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        let limit = state.config.max_body_bytes;
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(limit)
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    if value.is_ok() {
        // Trailing characters after the JSON value.
        if let Err(e) = de.end() {
            return Err(ApiError::MalformedJson(format!("malformed JSON: {e}")));
        }
    }
    value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => {
                ApiError::MalformedJson(format!("malformed JSON: {inner}"))
            }
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                // serde names an unknown field in the message rather than the path.
                let field = if path == "." || path.is_empty() {
                    message
                        .split('`')
                        .nth(1)
                        .filter(|_| {
                            message.starts_with("unknown field")
                                || message.starts_with("missing field")
                        })
                        .unwrap_or("body")
                        .to_string()
                } else {
                    path
                };
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                ApiError::Invalid(domain::FieldError::new(field, message))
            }
        }
    })
}

/// The scope a route needs, as a type: `ApiCaller<Connect>`,
/// `ApiCaller<Services>`. Scope rules themselves live in `domain::access`.
pub trait RequiredScope {
    const SCOPE: ApiScope;
}

/// Contacts, sessions and agents: the calls of the Connect flows.
pub struct Connect;
impl RequiredScope for Connect {
    const SCOPE: ApiScope = ApiScope::Connect;
}

/// Guest tokens and the attachment cache.
pub struct Services;
impl RequiredScope for Services {
    const SCOPE: ApiScope = ApiScope::Services;
}

/// Administration: erasing and exporting customers' data.
pub struct Admin;
impl RequiredScope for Admin {
    const SCOPE: ApiScope = ApiScope::Admin;
}

/// The API key that authenticated this request (header `key`, as Webex
/// Connect sends it, or `Authorization: Bearer`), and the request id. The
/// one place where keys are checked: unknown, revoked or expired keys get
/// 401, a key without the route's scope `S` gets 403.
pub struct ApiCaller<S: RequiredScope> {
    pub key: VerifiedKey,
    pub request_id: Option<String>,
    scope: PhantomData<S>,
}

impl<S: RequiredScope> ApiCaller<S> {
    pub fn audit(&self) -> AuditCtx {
        AuditCtx::new(
            Actor::ApiKey(self.key.name.clone()),
            self.request_id.clone(),
        )
    }
}

impl<S: RequiredScope> FromRequestParts<AppState> for ApiCaller<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let from_key = parts.headers.get("key").and_then(|v| v.to_str().ok());
        let from_bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        let Some(presented) = from_key.or(from_bearer).map(str::trim) else {
            return Err(ApiError::Unauthorized);
        };
        let Some(key) = state.store.verify_api_key(presented).await? else {
            tracing::warn!("rejected API request with an unknown or revoked key");
            return Err(ApiError::Unauthorized);
        };
        match key.check(S::SCOPE, store::now_ms()) {
            Ok(()) => {}
            Err(refusal @ KeyRefusal::Expired(_)) => {
                tracing::warn!(key = %key.name, "rejected API request with an expired key");
                return Err(ApiError::KeyExpired(refusal.to_string()));
            }
            Err(KeyRefusal::MissingScope(scope)) => {
                tracing::warn!(key = %key.name, %scope, path = %parts.uri.path(), "API key used outside its scopes");
                return Err(ApiError::MissingScope(scope));
            }
        }
        Ok(ApiCaller {
            key,
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            scope: PhantomData,
        })
    }
}

/// Parses an optional whole-number query parameter.
pub fn query_u32(field: &str, value: Option<&str>) -> Result<Option<u32>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| domain::FieldError::new(field, "must be a whole number").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: Option<String>,
        version: Option<i64>,
    }

    #[test]
    fn syntax_errors_are_malformed() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"{} x"),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn shape_errors_name_the_field() {
        match parse_json::<Body>(b"{\"version\":\"two\"}") {
            Err(ApiError::Invalid(f)) => assert_eq!(f.field, "version"),
            other => panic!("unexpected {other:?}"),
        }
        match parse_json::<Body>(b"{\"nmae\":\"x\"}") {
            Err(ApiError::Invalid(f)) => assert_eq!(f.field, "nmae"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
