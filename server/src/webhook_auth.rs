//! The webhooks' front door: [`Verified<S>`] is the extractor of the three
//! webhook routes. It reads what the source `S` presents (its signature
//! header; the `token` query for Connect), has the relay check it against
//! its secrets (`relay::webhook_auth`, where the rules live), and answers
//! every refusal the same way, before the body is parsed or stored:
//!
//! * the relay is off (`CM_RELAY_MODE=connect`): 404, nothing checked;
//! * the credentials are missing or wrong: 401
//!   `{"error":"signature missing or wrong"}`, with a warning in the log.

use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::state::AppState;
use relay::webhook_auth::{Presented, Source, VerifiedBody};
use relay::Relay;

/// A webhook delivery that passed the checks of its source `S`, and the
/// relay that takes it.
pub struct Verified<S: Source> {
    pub relay: Relay,
    pub body: VerifiedBody<S>,
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl<S: Source> FromRequest<AppState> for Verified<S> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = if S::TOKEN_IN_URL {
            Query::<TokenQuery>::try_from_uri(req.uri())
                .map_err(IntoResponse::into_response)?
                .0
                .token
        } else {
            None
        };
        let signature = req
            .headers()
            .get(S::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(relay) = state.relay.clone() else {
            return Err(relay_off());
        };
        let presented = Presented {
            signature: signature.as_deref(),
            token: token.as_deref(),
        };
        match relay.verify_webhook::<S>(presented, body) {
            Ok(body) => Ok(Verified { relay, body }),
            Err(relay::webhook_auth::Refused) => {
                tracing::warn!("webhook refused: bad signature");
                Err((
                    StatusCode::UNAUTHORIZED,
                    Json(serde_json::json!({ "error": "signature missing or wrong" })),
                )
                    .into_response())
            }
        }
    }
}

fn relay_off() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "the native relay is off (CM_RELAY_MODE)" })),
    )
        .into_response()
}
