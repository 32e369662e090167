//! The inbound webhook a Connect flow starts from, recorded for the control API.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::{timestamp, RecordedEvent, Shared};

/// `POST /events/{EVENTID}`: the inbound webhook a Connect flow starts from.
/// Records the body byte for byte.
pub async fn event(
    State(sandbox): State<Shared>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let key = headers
        .get("key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let record = RecordedEvent {
        received_at: timestamp(sandbox.now()),
        content_type: header_text(header::CONTENT_TYPE),
        key,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    sandbox
        .world()
        .events
        .entry(event_id)
        .or_default()
        .push(record);
    let transid = uuid::Uuid::new_v4().to_string();
    Json(json!({"status": "queued", "transid": transid})).into_response()
}
