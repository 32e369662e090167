//! `GET|HEAD /media/{id}/{filename}`: cached media, public (WhatsApp, MMS
//! carriers and Connect fetch it without credentials). Only the random id
//! finds a file; the filename segment is cosmetic (WhatsApp wants URLs that
//! end with the extension). Unknown or expired ids answer 404.
//!
//! The body streams from the store one chunk at a time, and a download
//! holds one of the `CM_MEDIA_MAX_CONCURRENT` media transfer slots until it
//! ends: with none free the answer is 503 with `Retry-After`, not a queue.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;
use relay::media::{is_media_id, MediaCache, BUSY_RETRY};
use store::{now_ms, MediaFileInfo};

pub fn routes() -> Router<AppState> {
    Router::new().route("/media/{id}/{filename}", get(serve).head(head))
}

async fn serve(
    State(state): State<AppState>,
    Path((id, _filename)): Path<(String, String)>,
) -> Response {
    let Some(media) = state.media.as_ref().filter(|_| is_media_id(&id)) else {
        return not_found();
    };
    let Some(slot) = media.try_transfer_slot() else {
        return busy();
    };
    match media.file_info(&id).await {
        Ok(Some(info)) => {
            let body = Body::from_stream(chunks(media.clone(), id, slot));
            (headers(&info), body).into_response()
        }
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}

/// The file's chunks in order, read one at a time; the transfer slot is
/// held until the stream ends or the client goes away.
fn chunks(
    media: MediaCache,
    id: String,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(Some((0i64, slot)), move |next| {
        let (media, id) = (media.clone(), id.clone());
        async move {
            let (seq, slot) = next?;
            match media.store().media_chunk(&id, seq).await {
                Ok(Some(bytes)) => Some((Ok(Bytes::from(bytes)), Some((seq + 1, slot)))),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = %e, "a media chunk could not be read");
                    Some((Err(std::io::Error::other("media chunk unreadable")), None))
                }
            }
        }
    })
}

async fn head(
    State(state): State<AppState>,
    Path((id, _filename)): Path<(String, String)>,
) -> Response {
    let Some(media) = state.media.as_ref().filter(|_| is_media_id(&id)) else {
        return not_found();
    };
    match media.file_info(&id).await {
        Ok(Some(info)) => (StatusCode::OK, headers(&info)).into_response(),
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}

/// Image types a browser may show inline; every other file is a download.
const INLINE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

fn headers(info: &MediaFileInfo) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&info.mime_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size.max(0)));
    let essence = info.mime_type.split(';').next().unwrap_or_default().trim();
    let inline = INLINE_TYPES.contains(&essence);
    if let Ok(v) = HeaderValue::from_str(&content_disposition(inline, &info.filename)) {
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
    // A file opened in a browser runs nothing with this site's origin (an
    // uploaded HTML or SVG file, say).
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_CSP),
    );
    h
}

/// The policy of every file we serve: nothing loads, nothing runs.
pub const FILE_CSP: &str = "default-src 'none'; sandbox";

/// `inline` or `attachment`, then `; filename="…"; filename*=UTF-8''…`: an
/// ASCII fallback without quotes, backslashes or control characters, and the
/// exact name percent-encoded (RFC 6266).
pub fn content_disposition(inline: bool, filename: &str) -> String {
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
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
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

fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CACHE_CONTROL, "no-store".to_string()),
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::RETRY_AFTER, BUSY_RETRY.as_secs().to_string()),
        ],
        "Too many downloads at once; try again shortly.\n",
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
            content_disposition(true, "photo.jpg"),
            "inline; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg"
        );
        assert_eq!(
            content_disposition(false, "a \"b\"\\c.txt"),
            "attachment; filename=\"a _b__c.txt\"; filename*=UTF-8''a%20%22b%22%5Cc.txt"
        );
        assert_eq!(
            content_disposition(false, "Résumé.pdf"),
            "attachment; filename=\"R_sum_.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf"
        );
        assert!(HeaderValue::from_str(&content_disposition(false, "x\r\ny")).is_ok());
    }
}
