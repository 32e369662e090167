//! `GET|HEAD /media/{id}/{filename}`: cached media, public (WhatsApp, MMS
//! carriers and Connect fetch it without credentials). Only the random id
//! finds a file; the filename segment is cosmetic (WhatsApp wants URLs that
//! end with the extension). Unknown or expired ids answer 404.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::startup::AppState;
use domain::media::is_media_id;
use domain::store::{now_ms, MediaFileInfo};

pub fn routes() -> Router<AppState> {
    Router::new().route("/media/{id}/{filename}", get(serve).head(head))
}

async fn serve(
    State(state): State<AppState>,
    Path((id, _filename)): Path<(String, String)>,
) -> Response {
    if !is_media_id(&id) {
        return not_found();
    }
    match state.store.media_file(&id, now_ms()).await {
        Ok(Some(file)) => (headers(&file.info), file.content).into_response(),
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}

async fn head(
    State(state): State<AppState>,
    Path((id, _filename)): Path<(String, String)>,
) -> Response {
    if !is_media_id(&id) {
        return not_found();
    }
    match state.store.media_file_info(&id, now_ms()).await {
        Ok(Some(info)) => (StatusCode::OK, headers(&info)).into_response(),
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}

fn headers(info: &MediaFileInfo) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&info.mime_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size.max(0)));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&info.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Cached no longer than the file lives (the content never changes).
    let seconds = ((info.expires_at_ms - now_ms()) / 1000).max(0);
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={seconds}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    // A file opened in a browser runs no script with this site's origin
    // (an uploaded HTML or SVG file, say). PDF viewers refuse sandboxed
    // documents, and PDFs run no script of ours.
    if !info.mime_type.starts_with("application/pdf") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"),
        );
    }
    h
}

/// `inline; filename="…"; filename*=UTF-8''…`: an ASCII fallback without
/// quotes, backslashes or control characters, and the exact name
/// percent-encoded (RFC 6266).
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "No such file: the link is wrong or has expired.\n",
    )
        .into_response()
}

fn unavailable(e: domain::DomainError) -> Response {
    tracing::error!(error = %e, "media could not be read");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "The file cannot be read right now; try again later.\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_quoted_safely() {
        assert_eq!(
            content_disposition("photo.jpg"),
            "inline; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg"
        );
        assert_eq!(
            content_disposition("a \"b\"\\c.txt"),
            "inline; filename=\"a _b__c.txt\"; filename*=UTF-8''a%20%22b%22%5Cc.txt"
        );
        assert_eq!(
            content_disposition("Résumé.pdf"),
            "inline; filename=\"R_sum_.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf"
        );
        assert!(HeaderValue::from_str(&content_disposition("x\r\ny")).is_ok());
    }
}
