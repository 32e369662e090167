//! Files in and out of the sandbox, safely.
//!
//! Out: every file the sandbox serves (customer uploads, MMS and WhatsApp
//! media, Webex contents) is a download that runs nothing: `attachment`,
//! `nosniff` and a CSP that blocks everything. In: the sandbox fetches file
//! URLs (Webex `files`, Connect media checks) only from loopback or its own
//! origin, never following a redirect elsewhere, with timeouts and a size
//! cap enforced while reading.

use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// The largest file fetched (Webex's limit).
pub const MAX_FETCH_BYTES: usize = 100 * 1024 * 1024;

/// A served file: its type, `attachment` with its name, `nosniff` and
/// `default-src 'none'; sandbox`.
pub fn file_response(bytes: Bytes, content_type: &str, filename: &str) -> Response {
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = ([(header::CONTENT_TYPE, content_type)], bytes).into_response();
    let headers = response.headers_mut();
    let disposition = format!(
        "attachment; filename=\"{}\"",
        filename.replace(|c: char| c == '"' || c == '\\' || c.is_control(), "_")
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    response
}

/// Whether the sandbox may fetch `url`: http(s) on a loopback host (the
/// product and the sandbox itself run there), or the sandbox's own origin.
pub fn fetchable(url: &reqwest::Url, own_base: &str) -> bool {
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return false;
    }
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let own = reqwest::Url::parse(own_base).is_ok_and(|b| {
        b.scheme() == url.scheme()
            && b.host_str() == url.host_str()
            && b.port_or_known_default() == url.port_or_known_default()
    });
    loopback || own
}

/// The client the sandbox fetches files with: redirects only to fetchable
/// URLs, connect and total timeouts.
pub fn client(own_base: String) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() < 5 && fetchable(attempt.url(), &own_base) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()
        .expect("the HTTP client builds with static settings")
}

/// Why a file could not be fetched.
#[derive(Debug)]
pub enum FetchFailure {
    /// Not fetchable, unreachable, a redirect elsewhere or an error status.
    Unreachable,
    /// Over [`MAX_FETCH_BYTES`] (by `Content-Length` or while reading).
    TooLarge,
}

/// GETs a file (see [`fetchable`]); its bytes and `Content-Type`.
pub async fn fetch(
    client: &reqwest::Client,
    own_base: &str,
    url: &str,
) -> Result<(Bytes, String), FetchFailure> {
    let url = reqwest::Url::parse(url).map_err(|_| FetchFailure::Unreachable)?;
    if !fetchable(&url, own_base) {
        return Err(FetchFailure::Unreachable);
    }
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|_| FetchFailure::Unreachable)?;
    // A redirect that was not followed ends here as a 3xx.
    if !response.status().is_success() {
        return Err(FetchFailure::Unreachable);
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_FETCH_BYTES as u64)
    {
        return Err(FetchFailure::TooLarge);
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| FetchFailure::Unreachable)?
    {
        if bytes.len() + chunk.len() > MAX_FETCH_BYTES {
            return Err(FetchFailure::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((Bytes::from(bytes), content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_its_own_origin_are_fetchable() {
        let own = "http://127.0.0.1:3100/sandbox";
        let ok = |u: &str| fetchable(&reqwest::Url::parse(u).unwrap(), own);
        assert!(ok("http://127.0.0.1:3000/media/x/y.png"));
        assert!(ok("http://localhost:3000/x"));
        assert!(ok("http://[::1]:3000/x"));
        assert!(ok("http://127.0.0.1:3100/sandbox/connect/media/a/b.png"));
        assert!(!ok("http://10.0.0.1/x"));
        assert!(!ok("http://169.254.169.254/latest/meta-data"));
        assert!(!ok("https://example.com/x.png"));
        assert!(!ok("http://user:pw@127.0.0.1:3000/x"));
        assert!(!ok("file:///etc/passwd"));
    }
}
