//! The media cache: files fetched from Webex with a bearer token and served
//! publicly at `{CM_PUBLIC_URL}/media/{id}/{filename}` until they expire, so
//! that WhatsApp, MMS carriers and Connect can download them (they cannot
//! present a Webex token).
//!
//! Only Webex file URLs are fetched, through the Webex [`Fetcher`] (this
//! Webex's origin and the configured Webex file hosts; see `platform::fetch`):
//! the server never fetches other hosts on a caller's behalf. While Webex is
//! still scanning a file for malware (423 + `Retry-After`), the fetch is
//! retried, honouring `Retry-After`, for at most [`MediaSettings::scan_wait`].
//! The file is stored in chunks as it streams in and refused as soon as it
//! passes [`MediaSettings::max_bytes`]; at most
//! [`MediaSettings::max_concurrent`] transfers (downloads into the cache and
//! downloads from `/media`) run at once. The id is random (144 bits,
//! URL-safe base64); the filename in the URL is cosmetic (WhatsApp wants URLs
//! that end with the extension).

use base64::Engine;
use rand::RngCore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use domain::error::DomainError;
use platform::fetch::{FetchError, Fetched, Fetcher};
use platform::webex::{DownloadError, WebexClient, WebexError};
use store::{now_ms, MediaFileInfo, Store, MEDIA_CHUNK_BYTES};

/// Limits of the media cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSettings {
    /// How long a cached file is served.
    pub ttl: Duration,
    /// The largest file fetched (Webex's own limit is 100 MB).
    pub max_bytes: u64,
    /// How long to wait for Webex's malware scan before giving up.
    pub scan_wait: Duration,
    /// Media transfers (into the cache or out of `/media`) at once.
    pub max_concurrent: usize,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            ttl: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 100 * 1024 * 1024,
            scan_wait: Duration::from_secs(30),
            max_concurrent: 8,
        }
    }
}

/// A file now in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedMedia {
    pub id: String,
    /// `{CM_PUBLIC_URL}/media/{id}/{filename}`: public, unguessable.
    pub url: String,
    pub filename: String,
    pub mime_type: String,
    pub size: u64,
    pub expires_at_ms: i64,
}

/// Why a file was not cached.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The URL is not a Webex file URL, or Webex redirected elsewhere (the
    /// reason, for the `url` field).
    #[error("url: {0}")]
    NotWebexUrl(String),
    /// Webex was still scanning the file when the wait ran out: try again
    /// after `retry_after`.
    #[error("Webex is still scanning the file for malware; try again in {} s", retry_after.as_secs().max(1))]
    Scanning { retry_after: Duration },
    /// Webex's scan found malware (410).
    #[error("the file was found to be infected and was removed by Webex")]
    Infected,
    /// Webex cannot scan the file (428), e.g. it is encrypted.
    #[error("the file cannot be scanned for malware (for example, it is encrypted), so it is not relayed")]
    Unscannable,
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// Every media transfer slot stayed taken: try again after `retry_after`.
    #[error("too many media transfers at once; try again in {} s", retry_after.as_secs().max(1))]
    Busy { retry_after: Duration },
    /// Webex refused (4xx) or was unavailable (5xx, 429, network).
    #[error(transparent)]
    Webex(WebexError),
    #[error(transparent)]
    Storage(DomainError),
}

impl From<DownloadError> for MediaError {
    fn from(e: DownloadError) -> Self {
        match e {
            DownloadError::Scanning { retry_after } => MediaError::Scanning {
                retry_after: retry_after.unwrap_or(DEFAULT_SCAN_RETRY),
            },
            DownloadError::Infected => MediaError::Infected,
            DownloadError::Unscannable => MediaError::Unscannable,
            DownloadError::TooLarge { limit } => MediaError::TooLarge { limit },
            DownloadError::NotAllowed(m) => MediaError::NotWebexUrl(m),
            DownloadError::Webex(e) => MediaError::Webex(e),
        }
    }
}

impl From<FetchError> for MediaError {
    fn from(e: FetchError) -> Self {
        DownloadError::from(e).into()
    }
}

impl From<DomainError> for MediaError {
    fn from(e: DomainError) -> Self {
        MediaError::Storage(e)
    }
}

/// Wait between scan checks when Webex gives no `Retry-After`.
const DEFAULT_SCAN_RETRY: Duration = Duration::from_secs(2);
/// Never poll Webex faster than this, whatever `Retry-After` says.
const MIN_SCAN_RETRY: Duration = Duration::from_millis(500);
/// How long a download into the cache waits for a transfer slot before
/// its job is retried later.
const SLOT_WAIT: Duration = Duration::from_secs(30);
/// When to come back after finding every transfer slot taken.
pub const BUSY_RETRY: Duration = Duration::from_secs(5);

/// Fetches Webex files into the store and finds them again. Cheap to clone.
#[derive(Clone)]
pub struct MediaCache {
    store: Store,
    webex: WebexClient,
    files: Fetcher,
    public_url: String,
    settings: MediaSettings,
    /// Media transfers running now (downloads in, `/media` downloads out).
    transfers: Arc<Semaphore>,
}

impl std::fmt::Debug for MediaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaCache")
            .field("public_url", &self.public_url)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl MediaCache {
    /// `public_url` is this server's public base URL (`CM_PUBLIC_URL`);
    /// `files` fetches Webex files (its rules say which hosts).
    pub fn new(
        store: Store,
        webex: WebexClient,
        files: Fetcher,
        public_url: &str,
        settings: MediaSettings,
    ) -> MediaCache {
        MediaCache {
            store,
            webex,
            files,
            public_url: public_url.trim_end_matches('/').to_string(),
            transfers: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            settings,
        }
    }

    pub fn settings(&self) -> MediaSettings {
        self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A transfer slot if one is free now (`/media` answers 503 without
    /// one rather than queueing); released when dropped.
    pub fn try_transfer_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.transfers.clone().try_acquire_owned().ok()
    }

    /// Fetches the Webex file at `url` with the bearer `token` (a guest's or
    /// an agent's access token), stores it chunk by chunk as it arrives and
    /// answers its public URL.
    pub async fn cache(&self, url: &str, token: &str) -> Result<CachedMedia, MediaError> {
        self.webex
            .content_url(&self.files, url)
            .map_err(MediaError::NotWebexUrl)?;
        let deadline = Instant::now() + self.settings.scan_wait;
        // The slot is held while bytes move, not while Webex scans.
        let (download, _slot) = loop {
            let slot = tokio::time::timeout(SLOT_WAIT, self.transfers.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or(MediaError::Busy {
                    retry_after: BUSY_RETRY,
                })?;
            match self
                .webex
                .download(&self.files, url, token, self.settings.max_bytes)
                .await
            {
                Ok(download) => break (download, slot),
                Err(DownloadError::Scanning { retry_after }) => {
                    drop(slot);
                    let wait = retry_after
                        .unwrap_or(DEFAULT_SCAN_RETRY)
                        .max(MIN_SCAN_RETRY);
                    if Instant::now() + wait > deadline {
                        return Err(MediaError::Scanning { retry_after: wait });
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let mime_type = mime_type(&download.content_type);
        let filename = display_filename(download.filename.as_deref(), &mime_type);
        let id = new_media_id();
        let now = now_ms();
        let size = match self.store_chunks(&id, download.body, now).await {
            Ok(size) => size,
            Err(e) => {
                // Nothing of a refused or broken download stays stored.
                if let Err(cleanup) = self.store.delete_media_chunks(&id).await {
                    tracing::warn!(error = %cleanup, "chunks of a failed download were not deleted (swept later)");
                }
                return Err(e);
            }
        };
        let info = MediaFileInfo {
            id,
            filename,
            mime_type,
            size: size as i64,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(self.settings.ttl.as_millis() as i64),
        };
        self.store.insert_media_info(&info).await?;
        Ok(CachedMedia {
            url: self.url_of(&info),
            id: info.id,
            filename: info.filename,
            mime_type: info.mime_type,
            size,
            expires_at_ms: info.expires_at_ms,
        })
    }

    /// Writes the body as it arrives, [`MEDIA_CHUNK_BYTES`] per chunk; the
    /// size. The body's cap stops it before a chunk past the cap is written.
    async fn store_chunks(&self, id: &str, mut body: Fetched, now: i64) -> Result<u64, MediaError> {
        let mut pending: Vec<u8> = Vec::with_capacity(MEDIA_CHUNK_BYTES);
        let mut seq = 0i64;
        let mut size = 0u64;
        while let Some(piece) = body.chunk().await? {
            size += piece.len() as u64;
            let mut rest = &piece[..];
            while !rest.is_empty() {
                let take = (MEDIA_CHUNK_BYTES - pending.len()).min(rest.len());
                pending.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if pending.len() == MEDIA_CHUNK_BYTES {
                    self.store
                        .insert_media_chunk(id, seq, &pending, now)
                        .await?;
                    seq += 1;
                    pending.clear();
                }
            }
        }
        if !pending.is_empty() {
            self.store
                .insert_media_chunk(id, seq, &pending, now)
                .await?;
        }
        Ok(size)
    }

    /// The public URL of a cached file.
    pub fn url_of(&self, info: &MediaFileInfo) -> String {
        format!(
            "{}/media/{}/{}",
            self.public_url,
            info.id,
            url_filename(&info.filename, &info.mime_type)
        )
    }

    /// A live cached file's description, without reading the bytes.
    pub async fn file_info(&self, id: &str) -> Result<Option<MediaFileInfo>, DomainError> {
        if !is_media_id(id) {
            return Ok(None);
        }
        self.store.media_file_info(id, now_ms()).await
    }

    /// Deletes expired files (also done on every insert); how many.
    pub async fn sweep(&self) -> Result<u64, DomainError> {
        self.store.delete_expired_media(now_ms()).await
    }
}

/// 18 random bytes, URL-safe base64: 24 characters, 144 bits.
fn new_media_id() -> String {
    let mut bytes = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Could `id` be a media id? (Anything else is not looked up.)
pub fn is_media_id(id: &str) -> bool {
    id.len() == 24
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A safe media type: `type/subtype` (lowercase) with any parameters that
/// are plain visible ASCII; `application/octet-stream` if unreadable.
pub fn mime_type(content_type: &str) -> String {
    let (essence, params) = match content_type.split_once(';') {
        Some((e, p)) => (e, Some(p)),
        None => (content_type, None),
    };
    let essence = essence.trim().to_ascii_lowercase();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let valid = essence
        .split_once('/')
        .is_some_and(|(t, s)| token(t) && token(s));
    if !valid || essence.len() > 100 {
        return "application/octet-stream".into();
    }
    match params.map(str::trim) {
        Some(p)
            if !p.is_empty() && p.len() <= 100 && p.bytes().all(|b| (b' '..=b'~').contains(&b)) =>
        {
            format!("{essence}; {p}")
        }
        _ => essence,
    }
}

/// The usual extension of a media type, for names that lack one.
fn extension_for(mime_type: &str) -> Option<&'static str> {
    let essence = mime_type.split(';').next().unwrap_or_default().trim();
    Some(match essence {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/heic" => "heic",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "application/zip" => "zip",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.ms-powerpoint" => "ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        _ => return None,
    })
}

/// Keeps at most `max` characters, cutting the stem, not the extension.
fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.chars().count() <= 10 => (stem, Some(ext)),
        _ => (name, None),
    };
    let keep = max - ext.map_or(0, |e| e.chars().count() + 1);
    let stem: String = stem.chars().take(keep).collect();
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem,
    }
}

/// The file's name as people see it: the last path segment of what Webex
/// sent, without control characters, at most 200 characters; `file.EXT`
/// when there is none.
pub fn display_filename(raw: Option<&str>, mime_type: &str) -> String {
    let last = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return match extension_for(mime_type) {
            Some(ext) => format!("file.{ext}"),
            None => "file".into(),
        };
    }
    truncate_keeping_extension(cleaned, 200)
}

/// The name in the public URL: ASCII letters, digits, `.`, `-` and `_`
/// only (anything else becomes `_`), at most 80 characters, ending with an
/// extension when the media type has a usual one.
pub fn url_filename(filename: &str, mime_type: &str) -> String {
    let mut out = String::with_capacity(filename.len());
    for c in filename.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    let mut name = out.trim_matches(['_', '.']).to_string();
    if name.is_empty() {
        name = "file".into();
    }
    let has_extension = name
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && !ext.is_empty() && ext.len() <= 10);
    if !has_extension {
        if let Some(ext) = extension_for(mime_type) {
            name = format!("{name}.{ext}");
        }
    }
    truncate_keeping_extension(&name, 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_random_and_url_safe() {
        let a = new_media_id();
        let b = new_media_id();
        assert_ne!(a, b);
        assert!(is_media_id(&a), "{a}");
        assert!(!is_media_id("../../etc/passwd"));
        assert!(!is_media_id(&format!("{}/", &a[..23])));
        assert!(!is_media_id(""));
    }

    #[test]
    fn media_types_are_cleaned() {
        assert_eq!(mime_type("Image/PNG"), "image/png");
        assert_eq!(
            mime_type("text/plain; charset=utf-8"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(mime_type(""), "application/octet-stream");
        assert_eq!(mime_type("nonsense"), "application/octet-stream");
        assert_eq!(
            mime_type("text/html\r\nX-Evil: 1"),
            "application/octet-stream"
        );
        assert_eq!(mime_type("image/png; x=\u{7f}"), "image/png");
    }

    #[test]
    fn display_names_lose_paths_and_control_characters() {
        assert_eq!(
            display_filename(Some("photo.jpg"), "image/jpeg"),
            "photo.jpg"
        );
        assert_eq!(
            display_filename(Some("../../etc/passwd"), "text/plain"),
            "passwd"
        );
        assert_eq!(
            display_filename(Some("C:\\Users\\x\\report.pdf"), "application/pdf"),
            "report.pdf"
        );
        assert_eq!(display_filename(Some("a\r\nb.txt"), "text/plain"), "ab.txt");
        assert_eq!(display_filename(None, "image/png"), "file.png");
        assert_eq!(display_filename(Some(".."), "application/x-y"), "file");
        let long = format!("{}.jpeg", "x".repeat(500));
        let cut = display_filename(Some(&long), "image/jpeg");
        assert_eq!(cut.chars().count(), 200);
        assert!(cut.ends_with(".jpeg"));
    }

    #[test]
    fn url_names_are_plain_ascii_with_an_extension() {
        assert_eq!(
            url_filename("Holiday photo (1).JPG", "image/jpeg"),
            "Holiday_photo_1_.JPG"
        );
        assert_eq!(url_filename("Résumé.pdf", "application/pdf"), "R_sum_.pdf");
        assert_eq!(url_filename("scan", "image/png"), "scan.png");
        assert_eq!(url_filename("../x/..", "image/png"), "x.png");
        assert_eq!(url_filename("日本語", "application/pdf"), "file.pdf");
        assert_eq!(url_filename("?#/%", "application/x-unknown"), "file");
        let long = format!("{}.png", "y".repeat(300));
        let cut = url_filename(&long, "image/png");
        assert_eq!(cut.len(), 80);
        assert!(cut.ends_with(".png"));
    }
}
