//! `GET /contents/{id}`: message attachments, behind the malware scan.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::error::ApiError;
use crate::state::Shared;

pub async fn download(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = sandbox.now();
    let world = sandbox.world();
    let content = world
        .contents
        .get(&id)
        .filter(|c| world.is_member(&c.room_id, &caller.id))
        .ok_or_else(|| ApiError::not_found("The requested resource could not be found."))?;
    if content.scanned_at > now {
        let wait = (content.scanned_at - now).num_seconds().max(1) as u64;
        return Err(ApiError::new(
            axum::http::StatusCode::LOCKED,
            "The file is being scanned for malware. Try again later.",
        )
        .with_retry_after(wait));
    }
    let disposition = format!(
        "attachment; filename=\"{}\"",
        content.filename.replace(['"', '\r', '\n'], "_")
    );
    let mut response = content.bytes.clone().into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&content.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(content.bytes.len()),
    );
    Ok(response)
}
