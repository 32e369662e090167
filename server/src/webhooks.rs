//! Webhooks in: Webex message events and Connect inbound messages. Each is
//! verified, deduplicated and stored with the work it causes before the 2xx
//! (see `relay`); the relay worker does the rest.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::state::AppState;
use relay::{AcceptError, Accepted, Relay};

pub fn routes() -> Router<AppState> {
    Router::new()
        // GET and HEAD answer Connect's test call when a webhook URL is saved
        // (it saves only on 200); they read and store nothing.
        .route("/webhooks/webex", post(webex).get(saved_ok))
        .route(
            "/webhooks/connect/inbound",
            post(connect_inbound).get(saved_ok),
        )
        .route(
            "/webhooks/connect/receipts",
            post(connect_receipts).get(saved_ok),
        )
}

fn answer(result: Result<Accepted, AcceptError>) -> Response {
    match result {
        Ok(Accepted::Queued) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "queued" })),
        )
            .into_response(),
        Ok(Accepted::Duplicate) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "duplicate" })),
        )
            .into_response(),
        Ok(Accepted::Ignored(why)) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ignored", "reason": why })),
        )
            .into_response(),
        Err(AcceptError::BadSignature) => {
            tracing::warn!("webhook refused: bad signature");
            (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({ "error": "signature missing or wrong" })),
            )
                .into_response()
        }
        // Poison input is answered 2xx-free but final: retrying cannot fix it.
        Err(AcceptError::Malformed(why)) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": why })),
        )
            .into_response(),
        // Not stored: the sender must retry.
        Err(AcceptError::Storage(e)) => {
            tracing::error!(error = %e, "webhook could not be stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "error": "try again" })),
            )
                .into_response()
        }
    }
}

/// The answer to a webhook URL's save test (axum answers HEAD from GET).
async fn saved_ok() -> Response {
    (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response()
}

fn relay_off() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "the native relay is off (CM_RELAY_MODE)" })),
    )
        .into_response()
}

async fn webex(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(relay) = state.relay.as_ref() else {
        return relay_off();
    };
    let signature = headers
        .get("x-spark-signature")
        .and_then(|v| v.to_str().ok());
    let result = relay.accept_webex(&body, signature).await;
    // Webex counts the failures and turns the webhook off after a few:
    // check the guests' webhooks once we can store again.
    if matches!(result, Err(AcceptError::Storage(_))) {
        relay.check_webhooks_soon();
    }
    answer(result)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn connect_inbound(
    state: State<AppState>,
    q: Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = hub_signature(&headers);
    from_connect(state, q, body, |relay, body| async move {
        relay.accept_connect(&body, signature.as_deref()).await
    })
    .await
}

async fn connect_receipts(
    state: State<AppState>,
    q: Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = hub_signature(&headers);
    from_connect(state, q, body, |relay, body| async move {
        relay.accept_receipt(&body, signature.as_deref()).await
    })
    .await
}

/// Connect's `x-hub-signature` header, if any.
fn hub_signature(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-hub-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A delivery from Connect: the relay must be on and the token right.
async fn from_connect<F, Fut>(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    body: Bytes,
    accept: F,
) -> Response
where
    F: FnOnce(Relay, Bytes) -> Fut,
    Fut: std::future::Future<Output = Result<Accepted, AcceptError>>,
{
    let Some(relay) = state.relay.clone() else {
        return relay_off();
    };
    if !token_valid(&state, q.token.as_deref()) {
        return answer(Err(AcceptError::BadSignature));
    }
    answer(accept(relay, body).await)
}

/// The `token` query Connect deliveries carry, compared in constant time.
fn token_valid(state: &AppState, token: Option<&str>) -> bool {
    // The native relay does not start without a token.
    let expected = match &state.integrations.relay {
        crate::integrations::Relay::Native(native) => Some(native.inbound_token.expose()),
        crate::integrations::Relay::Connect => None,
    };
    match (expected, token) {
        (Some(e), Some(t)) => bool::from(e.as_bytes().ct_eq(t.as_bytes())),
        _ => false,
    }
}
