//! `GET /contents/{id}`: message attachments, behind the malware scan.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use crate::state::{ScanVerdict, Shared};

#[derive(Deserialize)]
pub struct DownloadQuery {
    /// `unscannable` forces the download of a file the scan could not read.
    allow: Option<String>,
}

/// The file, or 423 while it is scanned, then 410 if infected or 428 if it
/// could not be scanned (reference 1.3). HEAD answers the same.
pub async fn download(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<DownloadQuery>,
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
            StatusCode::LOCKED,
            "The file is being scanned for malware. Try again later.",
        )
        .with_retry_after(wait));
    }
    let allow_unscannable = query
        .allow
        .as_deref()
        .is_some_and(|a| a.split(',').any(|v| v == "unscannable"));
    match content.verdict {
        ScanVerdict::Clean => {}
        ScanVerdict::Infected => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "The file was found to contain malware and has been removed.",
            ));
        }
        ScanVerdict::Unscannable if !allow_unscannable => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                "The file cannot be scanned for malware and needs to be force downloaded \
                 with ?allow=unscannable.",
            ));
        }
        ScanVerdict::Unscannable => {}
    }
    let mut response = crate::files::file_response(
        content.bytes.clone(),
        &content.content_type,
        &content.filename,
    );
    response.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(content.bytes.len()),
    );
    Ok(response)
}
