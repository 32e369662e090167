//! Webhooks in: Webex message events and Connect inbound messages and
//! receipts. Each delivery is verified by its extractor
//! ([`Verified`](crate::webhook_auth::Verified), before anything is read),
//! then deduplicated and stored with the work it causes before the 2xx (see
//! `relay`); the relay worker does the rest.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::metrics::WebhookResult;
use crate::state::AppState;
use crate::webhook_auth::Verified;
use relay::webhook_auth::{ConnectInbound, ConnectReceipt, Webex};
use relay::{AcceptError, Accepted};

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
        .route("/webhooks/bot", post(bot))
        .layer(axum::middleware::from_fn(crate::metrics::count_webhooks))
}

fn answer(result: Result<Accepted, AcceptError>) -> Response {
    let (status, body, counted) = match result {
        Ok(Accepted::Queued) => (StatusCode::OK, json!({ "status": "queued" }), "queued"),
        Ok(Accepted::Recorded) => (StatusCode::OK, json!({ "status": "recorded" }), "recorded"),
        Ok(Accepted::Duplicate) => (
            StatusCode::OK,
            json!({ "status": "duplicate" }),
            "duplicate",
        ),
        Ok(Accepted::Ignored(why)) => (
            StatusCode::OK,
            json!({ "status": "ignored", "reason": why }),
            "ignored",
        ),
        Err(AcceptError::Unknown(why)) => {
            (StatusCode::NOT_FOUND, json!({ "error": why }), "unknown")
        }
        // Poison input is answered 2xx-free but final: retrying cannot fix it.
        Err(AcceptError::Malformed(why)) => (
            StatusCode::BAD_REQUEST,
            json!({ "error": why }),
            "malformed",
        ),
        // Not stored: the sender must retry.
        Err(AcceptError::Storage(e)) => {
            tracing::error!(error = %e, "webhook could not be stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "try again" }),
                "not_stored",
            )
        }
    };
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(WebhookResult(counted));
    response
}

/// The answer to a webhook URL's save test (axum answers HEAD from GET).
async fn saved_ok() -> Response {
    (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response()
}

async fn webex(Verified { relay, body }: Verified<Webex>) -> Response {
    let result = relay.accept_webex(body).await;
    // Webex counts the failures and turns the webhook off after a few:
    // check the guests' webhooks once we can store again.
    if matches!(result, Err(AcceptError::Storage(_))) {
        relay.check_webhooks_soon();
    }
    answer(result)
}

async fn connect_inbound(Verified { relay, body }: Verified<ConnectInbound>) -> Response {
    answer(relay.accept_connect(body).await)
}

/// The bot's answers: words for a customer, or a hand-over.
async fn bot(Verified { relay, body }: Verified<relay::webhook_auth::Bot>) -> Response {
    answer(relay.accept_bot(body).await)
}

async fn connect_receipts(Verified { relay, body }: Verified<ConnectReceipt>) -> Response {
    answer(relay.accept_receipt(body).await)
}
