//! Webex as a guest: the Guest Issuer JWT (seed workflow "Webex Guest Auth")
//! and the REST calls the relay makes with the guest's token.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::fetch::{FetchError, Fetched, Fetcher};

/// The guest's identity within the issuer (defined in `domain`, where the
/// store finds a customer's rows by it too).
pub use domain::channel::guest_subject;

/// A Webex Guest Issuer app.
#[derive(Clone)]
pub struct GuestIssuer {
    id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for GuestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestIssuer")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct GuestClaims<'a> {
    sub: &'a str,
    name: &'a str,
    iss: &'a str,
    exp: i64,
}

impl GuestIssuer {
    /// `secret_b64` as the developer portal shows it; tokens are signed with
    /// the decoded bytes.
    pub fn new(id: &str, secret_b64: &str) -> Result<GuestIssuer, String> {
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_b64.trim())
            .map_err(|_| "the Guest Issuer secret is not base64".to_string())?;
        if id.trim().is_empty() || secret.is_empty() {
            return Err("the Guest Issuer id and secret are required".into());
        }
        Ok(GuestIssuer {
            id: id.trim().to_string(),
            secret,
        })
    }

    /// A guest JWT (HS256; sub, name, iss, exp) valid for `ttl` from `now_secs`.
    pub fn token(&self, subject: &str, name: &str, now_secs: i64, ttl: Duration) -> String {
        let claims = GuestClaims {
            sub: subject,
            name,
            iss: &self.id,
            exp: now_secs + ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&self.secret),
        )
        .expect("HS256 signing cannot fail")
    }
}

pub use domain::model::AccessToken;

/// A Webex person, as `GET /people/me` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub id: String,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub display_name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// Why a Webex call failed, sorted by what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebexError {
    /// Try again later (network trouble, 5xx, 429), not before `retry_after`.
    #[error("Webex is unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Trying again will not help (4xx).
    #[error("Webex refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
}

/// The Webex REST API at a base URL (real or sandbox).
#[derive(Debug, Clone)]
pub struct WebexClient {
    base: String,
    http: reqwest::Client,
}

impl WebexClient {
    pub fn new(base_url: &str, timeout: Duration) -> WebexClient {
        WebexClient {
            base: base_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("a client with a timeout builds"),
        }
    }

    /// This Webex's API base URL (the origin Webex files are fetched from).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Exchanges a guest JWT for an access token (`POST /jwt/login`).
    pub async fn jwt_login(&self, guest_jwt: &str, now_ms: i64) -> Result<AccessToken, WebexError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Login {
            token: String,
            expires_in: f64,
        }
        let response = self
            .http
            .post(format!("{}/jwt/login", self.base))
            .bearer_auth(guest_jwt)
            .send()
            .await;
        let login: Login = read(response).await?;
        Ok(AccessToken {
            token: login.token,
            expires_at_ms: now_ms + seconds_ms(login.expires_in),
        })
    }

    /// Who the token belongs to (`GET /people/me`).
    pub async fn me(&self, token: &AccessToken) -> Result<Person, WebexError> {
        let response = self
            .http
            .get(format!("{}/people/me", self.base))
            .bearer_auth(&token.token)
            .send()
            .await;
        read(response).await
    }
}

/// A message as `GET /messages/{id}` answers (the fields the relay uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebexMessage {
    pub id: String,
    #[serde(default)]
    pub person_id: String,
    #[serde(default)]
    pub person_email: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub markdown: Option<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub room_id: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
}

/// A message just posted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Posted {
    pub id: String,
    pub room_id: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

impl WebexClient {
    /// Posts a message to a person (`POST /messages`, `toPersonEmail`), with
    /// at most one file by public URL (Webex fetches it); the first message
    /// between two people creates their 1:1 space.
    pub async fn message_person(
        &self,
        token: &AccessToken,
        email: &str,
        text: &str,
        file_url: Option<&str>,
    ) -> Result<Posted, WebexError> {
        let mut body = serde_json::json!({ "toPersonEmail": email, "text": text });
        if let Some(url) = file_url {
            body["files"] = serde_json::json!([url]);
        }
        let response = self
            .http
            .post(format!("{}/messages", self.base))
            .bearer_auth(&token.token)
            .json(&body)
            .send()
            .await;
        read(response).await
    }

    /// The newest messages of a room (`GET /messages?roomId=&max=`).
    /// A room's messages, newest first (`GET /messages?roomId=&max=`),
    /// older than `before_message` when given (Webex's paging).
    pub async fn recent_messages(
        &self,
        token: &AccessToken,
        room_id: &str,
        max: u32,
        before_message: Option<&str>,
    ) -> Result<Vec<WebexMessage>, WebexError> {
        #[derive(Deserialize)]
        struct Items {
            items: Vec<WebexMessage>,
        }
        let mut query = vec![("roomId", room_id.to_string()), ("max", max.to_string())];
        if let Some(before) = before_message {
            query.push(("beforeMessage", before.to_string()));
        }
        let response = self
            .http
            .get(format!("{}/messages", self.base))
            .query(&query)
            .bearer_auth(&token.token)
            .send()
            .await;
        Ok(read::<Items>(response).await?.items)
    }

    pub async fn message(&self, token: &AccessToken, id: &str) -> Result<WebexMessage, WebexError> {
        let response = self
            .http
            .get(format!("{}/messages/{id}", self.base))
            .bearer_auth(&token.token)
            .send()
            .await;
        read(response).await
    }

    /// Creates a `messages:created` webhook owned by the token's person.
    pub async fn create_message_webhook(
        &self,
        token: &AccessToken,
        name: &str,
        target_url: &str,
        secret: &str,
    ) -> Result<String, WebexError> {
        let response = self
            .http
            .post(format!("{}/webhooks", self.base))
            .bearer_auth(&token.token)
            .json(&serde_json::json!({
                "name": name, "targetUrl": target_url, "resource": "messages", "event": "created", "secret": secret
            }))
            .send()
            .await;
        Ok(read::<Created>(response).await?.id)
    }
}

/// A webhook as `GET /webhooks/{id}` answers (the fields the health check uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub target_url: String,
    /// `active`, or `inactive` once Webex gave up delivering to it.
    #[serde(default)]
    pub status: String,
}

impl WebexClient {
    /// One webhook of the token's person (`GET /webhooks/{id}`); `None` when
    /// Webex no longer has it (404).
    pub async fn webhook(
        &self,
        token: &AccessToken,
        id: &str,
    ) -> Result<Option<Webhook>, WebexError> {
        let response = self
            .http
            .get(format!("{}/webhooks/{id}", self.base))
            .bearer_auth(&token.token)
            .send()
            .await;
        match read(response).await {
            Ok(hook) => Ok(Some(hook)),
            Err(WebexError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Re-enables a webhook, pointing it at `target_url` (`PUT
    /// /webhooks/{id}`: name and targetUrl are required, `status: active`
    /// turns a webhook Webex deactivated back on).
    pub async fn reactivate_webhook(
        &self,
        token: &AccessToken,
        id: &str,
        name: &str,
        target_url: &str,
        secret: &str,
    ) -> Result<Webhook, WebexError> {
        let response = self
            .http
            .put(format!("{}/webhooks/{id}", self.base))
            .bearer_auth(&token.token)
            .json(&serde_json::json!({
                "name": name, "targetUrl": target_url, "secret": secret, "status": "active"
            }))
            .send()
            .await;
        read(response).await
    }
}

/// A Service App's tokens, as the refresh grant answers them.
#[derive(Clone, PartialEq, Eq)]
pub struct AppTokens {
    pub access: AccessToken,
    /// Webex may hand back a new refresh token; use it from then on.
    pub refresh_token: Option<String>,
}

impl WebexClient {
    /// A Service App's access token from its refresh token (`POST
    /// /access_token`, `grant_type=refresh_token`, as for integrations).
    pub async fn refresh_app_token(
        &self,
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
        now_ms: i64,
    ) -> Result<AppTokens, WebexError> {
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: f64,
            #[serde(default)]
            refresh_token: Option<String>,
        }
        let response = self
            .http
            .post(format!("{}/access_token", self.base))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await;
        let answer: Answer = read(response).await?;
        Ok(AppTokens {
            access: AccessToken {
                token: answer.access_token,
                expires_at_ms: now_ms + seconds_ms(answer.expires_in),
            },
            refresh_token: answer.refresh_token.filter(|r| !r.is_empty()),
        })
    }

    /// A guest's access token from a Service App (`POST /guests/token`):
    /// the same `subject` is always the same guest; `display_name` renames it.
    pub async fn guest_token(
        &self,
        app_token: &AccessToken,
        subject: &str,
        display_name: &str,
        now_ms: i64,
    ) -> Result<AccessToken, WebexError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Guest {
            access_token: String,
            expires_in: f64,
        }
        let response = self
            .http
            .post(format!("{}/guests/token", self.base))
            .bearer_auth(&app_token.token)
            .json(&serde_json::json!({ "subject": subject, "displayName": display_name }))
            .send()
            .await;
        let guest: Guest = read(response).await?;
        Ok(AccessToken {
            token: guest.access_token,
            expires_at_ms: now_ms + seconds_ms(guest.expires_in),
        })
    }

    /// How many guests the Service App has (`GET /guests/count`): a cheap
    /// call that proves its token and scopes work.
    pub async fn guest_count(&self, app_token: &AccessToken) -> Result<u64, WebexError> {
        let response = self
            .http
            .get(format!("{}/guests/count", self.base))
            .bearer_auth(&app_token.token)
            .send()
            .await;
        let answer: serde_json::Value = read(response).await?;
        // The documentation names no field (its spec says text/plain): a
        // bare number, `{"count": n}` or the first number of an object.
        Ok(answer
            .as_u64()
            .or_else(|| answer.get("count")?.as_u64())
            .or_else(|| answer.as_object()?.values().find_map(|v| v.as_u64()))
            .unwrap_or(0))
    }
}

/// A file of Webex (`GET /contents/{id}`) whose body is still to be read.
#[derive(Debug)]
pub struct Download {
    /// `Content-Type` as Webex sent it (`application/octet-stream` if none).
    pub content_type: String,
    /// From `Content-Disposition` (`filename*` preferred), unsanitized.
    pub filename: Option<String>,
    /// The body, capped at the size the download was asked with.
    pub body: Fetched,
}

/// Why a file could not be downloaded: Webex's malware-scan answers first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// 423: still being scanned; try again after `retry_after`.
    #[error("the file is still being scanned for malware")]
    Scanning { retry_after: Option<Duration> },
    /// 410: the scan found malware; the file is gone.
    #[error("the file was found to be infected and was removed by Webex")]
    Infected,
    /// 428: the file cannot be scanned (e.g. encrypted).
    #[error("the file cannot be scanned for malware (for example, it is encrypted)")]
    Unscannable,
    /// Larger than allowed (by `Content-Length` or while reading).
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The URL, or where Webex redirected, is not a Webex file URL.
    #[error("{0}")]
    NotAllowed(String),
    /// Refused (other 4xx) or unavailable (5xx, 429, network).
    #[error(transparent)]
    Webex(#[from] WebexError),
}

impl WebexClient {
    /// Checks that `url` names a file of this Webex: allowed by `files`
    /// (this Webex's origin, or a configured Webex file host) and shaped
    /// `{base path}/contents/{id}` (no query or fragment). Anything else is
    /// refused, so callers cannot make this server fetch other hosts or
    /// other Webex resources with a token.
    pub fn content_url(&self, files: &Fetcher, url: &str) -> Result<reqwest::Url, String> {
        let url = files.check(url).map_err(|e| e.to_string())?;
        let base_path = reqwest::Url::parse(&self.base)
            .map(|b| b.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        let prefix = format!("{base_path}/contents/");
        let id = url.path().strip_prefix(&prefix).unwrap_or_default();
        if url.query().is_some() || url.fragment().is_some() || id.is_empty() || id.contains('/') {
            return Err(format!(
                "must be a Webex file URL ({}/contents/{{id}})",
                self.base
            ));
        }
        Ok(url)
    }

    /// Starts downloading a Webex file (`GET /contents/{id}`) with a bearer
    /// token through `files` (redirects only to allowed Webex hosts; the
    /// token only to the first), refusing it when `Content-Length` is over
    /// `max_bytes`; the body is capped at `max_bytes` while it is read.
    pub async fn download(
        &self,
        files: &Fetcher,
        url: &str,
        token: &str,
        max_bytes: u64,
    ) -> Result<Download, DownloadError> {
        let url = self
            .content_url(files, url)
            .map_err(DownloadError::NotAllowed)?;
        let fetched = files
            .get(url.as_str(), Some(token), max_bytes)
            .await
            .map_err(DownloadError::from)?;
        let status = fetched.status().as_u16();
        crate::count_answer("webex", Some(status));
        match status {
            200..=299 => {}
            423 => {
                return Err(DownloadError::Scanning {
                    retry_after: retry_after(fetched.headers()),
                })
            }
            410 => return Err(DownloadError::Infected),
            428 => return Err(DownloadError::Unscannable),
            _ => {
                // Not a success: `read` sorts it into refused or unavailable.
                let headers = fetched.headers().clone();
                let body = fetched.bytes().await.unwrap_or_default();
                return Err(error_answer(status, &headers, &body).into());
            }
        }
        let header = |name: reqwest::header::HeaderName| {
            fetched
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "application/octet-stream".into());
        let filename = header(reqwest::header::CONTENT_DISPOSITION)
            .as_deref()
            .and_then(disposition_filename);
        Ok(Download {
            content_type,
            filename,
            body: fetched,
        })
    }
}

impl From<FetchError> for DownloadError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::NotAllowed(m) => DownloadError::NotAllowed(m),
            FetchError::TooLarge { limit } => DownloadError::TooLarge { limit },
            FetchError::Unavailable(message) => DownloadError::Webex(WebexError::Unavailable {
                message,
                retry_after: None,
            }),
        }
    }
}

/// The most text (or markdown) one Webex message may carry, in bytes
/// (`POST /messages`: "The message, in plain text ... maximum length of
/// 7439 bytes").
pub const MAX_TEXT_BYTES: usize = 7439;

/// `text` in pieces Webex accepts ([`MAX_TEXT_BYTES`] each), in order: cut
/// after the last line break, else the last space, in the second half of a
/// piece, else at a character boundary. Short text is one piece.
pub fn split_text(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > MAX_TEXT_BYTES {
        let mut end = MAX_TEXT_BYTES;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let window = &rest[..end];
        let cut = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .map(|at| at + 1)
            .filter(|at| *at > end / 2)
            .unwrap_or(end);
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces.push(rest);
    pieces
}

/// The file name of a `Content-Disposition` header: `filename*=UTF-8''…`
/// (percent-decoded) if present, else `filename="…"` or `filename=…`.
pub fn disposition_filename(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    let mut rest = header;
    while let Some((_, after)) = rest.split_once(';') {
        let part = after.trim_start();
        let (name, value, next) = match part.split_once('=') {
            Some((name, value)) => {
                let value = value.trim_start();
                if let Some(quoted) = value.strip_prefix('"') {
                    // A quoted string: up to the closing quote, with \-escapes.
                    let mut out = String::new();
                    let mut chars = quoted.char_indices();
                    let mut end = quoted.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, escaped)) = chars.next() {
                                    out.push(escaped);
                                }
                            }
                            '"' => {
                                end = i + 1;
                                break;
                            }
                            c => out.push(c),
                        }
                    }
                    (name.trim(), out, &quoted[end..])
                } else {
                    let end = value.find(';').unwrap_or(value.len());
                    (name.trim(), value[..end].trim().to_string(), &value[end..])
                }
            }
            None => ("", String::new(), part),
        };
        if name.eq_ignore_ascii_case("filename") {
            plain = Some(value);
        } else if name.eq_ignore_ascii_case("filename*") {
            // charset'language'percent-encoded (RFC 5987); UTF-8 only.
            let mut pieces = value.splitn(3, '\'');
            if let (Some(charset), Some(_), Some(encoded)) =
                (pieces.next(), pieces.next(), pieces.next())
            {
                if charset.eq_ignore_ascii_case("utf-8") {
                    extended = percent_decode(encoded);
                }
            }
        }
        rest = next;
    }
    extended.or(plain).filter(|f| !f.trim().is_empty())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A lifetime in seconds as milliseconds. Webex types these as `number`,
/// so a fraction is read too.
fn seconds_ms(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Checks `X-Spark-Signature` (hex HMAC-SHA1 of the raw body) in constant time.
pub fn signature_valid(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Ok(expected) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn read<T: serde::de::DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, WebexError> {
    crate::count_answer("webex", response.as_ref().ok().map(|r| r.status().as_u16()));
    let response = response.map_err(|e| WebexError::Unavailable {
        message: if e.is_timeout() {
            "no answer in time".into()
        } else {
            "could not connect".into()
        },
        retry_after: None,
    })?;
    let status = response.status();
    if status.is_success() {
        return response.json().await.map_err(|e| WebexError::Refused {
            status: status.as_u16(),
            message: format!("unexpected answer: {e}"),
        });
    }
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default();
    Err(error_answer(status.as_u16(), &headers, &body))
}

/// A Webex error answer, sorted: 5xx and 429 unavailable (with
/// `Retry-After`), other statuses refused.
fn error_answer(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> WebexError {
    // Webex errors carry a `message`; never echo tokens or bodies beyond it.
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_string()
        });
    if status >= 500 || status == 429 {
        WebexError::Unavailable {
            message,
            retry_after: retry_after(headers),
        }
    } else {
        WebexError::Refused { status, message }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn long_text_is_split_into_pieces_webex_accepts_and_nothing_is_lost() {
        assert_eq!(split_text("short"), ["short"]);
        let words = "word ".repeat(4000); // 20,000 bytes
        let pieces = split_text(&words);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() <= MAX_TEXT_BYTES));
        assert!(
            pieces[..2].iter().all(|p| p.ends_with(' ')),
            "cut after a space"
        );
        assert_eq!(pieces.concat(), words);
        // No space at all, and characters of several bytes: cut at a boundary.
        let dense = "é".repeat(5000); // 10,000 bytes
        let pieces = split_text(&dense);
        assert!(pieces.iter().all(|p| p.len() <= MAX_TEXT_BYTES));
        assert_eq!(pieces.concat(), dense);
    }
    use super::*;
    use domain::channel::Channel;

    #[test]
    fn subjects_separate_channels() {
        assert_eq!(
            guest_subject(Channel::Whatsapp, "447700900123"),
            "whatsapp_447700900123"
        );
        assert_eq!(
            guest_subject(Channel::Sms, "+447700900123"),
            "sms_447700900123"
        );
    }

    #[test]
    fn signatures() {
        // HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog"), a published test vector.
        let body = b"The quick brown fox jumps over the lazy dog";
        assert!(signature_valid(
            "key",
            body,
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        ));
        assert!(!signature_valid(
            "key",
            body,
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d8"
        ));
        assert!(!signature_valid(
            "other",
            body,
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        ));
        assert!(!signature_valid("key", body, "not hex"));
    }

    #[test]
    fn disposition_filenames() {
        assert_eq!(
            disposition_filename("attachment; filename=\"a b.jpg\"").as_deref(),
            Some("a b.jpg")
        );
        assert_eq!(
            disposition_filename("attachment; filename=plain.pdf; size=3").as_deref(),
            Some("plain.pdf")
        );
        assert_eq!(
            disposition_filename(
                "attachment; filename=\"fallback.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf"
            )
            .as_deref(),
            Some("Résumé.pdf")
        );
        assert_eq!(
            disposition_filename("inline; filename=\"a\\\"b;c.txt\"").as_deref(),
            Some("a\"b;c.txt")
        );
        assert_eq!(disposition_filename("attachment"), None);
        assert_eq!(disposition_filename("attachment; filename=\"\""), None);
    }

    /// Webex files as the media cache fetches them: this Webex's origin only.
    fn files_of(client: &WebexClient) -> Fetcher {
        let rules = crate::fetch::FetchRules::new("Webex", Some(client.base_url()), &[]).unwrap();
        Fetcher::new(rules, crate::fetch::FetchLimits::default())
    }

    #[test]
    fn only_webex_file_urls_are_fetched() {
        let client = WebexClient::new("https://webexapis.com/v1/", Duration::from_secs(1));
        let files = files_of(&client);
        assert!(client
            .content_url(
                &files,
                "https://webexapis.com/v1/contents/Y2lzY29zcGFyazovL3Vz"
            )
            .is_ok());
        assert!(client
            .content_url(&files, "https://WEBEXAPIS.com:443/v1/contents/abc")
            .is_ok());
        for bad in [
            "https://evil.example/v1/contents/abc",
            "http://webexapis.com/v1/contents/abc",
            "https://webexapis.com:8443/v1/contents/abc",
            "https://webexapis.com.evil.example/v1/contents/abc",
            "https://user:pw@webexapis.com/v1/contents/abc",
            "https://webexapis.com/v1/people/me",
            "https://webexapis.com/v1/contents/",
            "https://webexapis.com/v1/contents/../people/me",
            "https://webexapis.com/v1/contents/%2e%2e/people/me",
            "https://webexapis.com/v1/contents/a/b",
            "https://webexapis.com/v1/contents/abc?allow=unscannable",
            "https://webexapis.com/v2/contents/abc",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(client.content_url(&files, bad).is_err(), "{bad}");
        }
    }

    /// A fake Webex answering `/v1/contents/{status}` with that status.
    async fn fake_contents() -> String {
        use axum::extract::Path;
        use axum::http::{header, HeaderValue, StatusCode};
        use axum::response::IntoResponse;
        async fn contents(Path(id): Path<String>) -> axum::response::Response {
            match id.as_str() {
                "ok" => (
                    [
                        (header::CONTENT_TYPE, "image/png"),
                        (
                            header::CONTENT_DISPOSITION,
                            "attachment; filename=\"x.png\"",
                        ),
                    ],
                    vec![7u8; 10],
                )
                    .into_response(),
                "redirect" => (
                    StatusCode::FOUND,
                    [(header::LOCATION, "http://127.0.0.1:9/elsewhere")],
                )
                    .into_response(),
                status => {
                    let status = StatusCode::from_u16(status.parse().unwrap()).unwrap();
                    let mut r = (
                        status,
                        axum::Json(serde_json::json!({ "message": "no", "trackingId": "t" })),
                    )
                        .into_response();
                    if matches!(status.as_u16(), 423 | 429) {
                        r.headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
                    }
                    r
                }
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/v1/contents/{id}", axum::routing::get(contents));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    /// A fake Webex that sends 20 chunks of 1000 bytes without `Content-Length`.
    async fn chunked_contents() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for _ in 0..20 {
                        let chunk = format!("3e8\r\n{}\r\n", "a".repeat(1000));
                        if socket.write_all(chunk.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        base
    }

    #[tokio::test]
    async fn download_sorts_webex_answers() {
        let base = fake_contents().await;
        let client = WebexClient::new(&base, Duration::from_secs(5));
        let files = files_of(&client);
        let get = |id: &str, max: u64| {
            let (client, files) = (client.clone(), files.clone());
            let url = format!("{base}/contents/{id}");
            async move {
                let d = client.download(&files, &url, "tok", max).await?;
                let (content_type, filename) = (d.content_type, d.filename);
                let bytes = d.body.bytes().await.map_err(DownloadError::from)?;
                Ok::<_, DownloadError>((bytes, content_type, filename))
            }
        };
        let chunked = chunked_contents().await;
        let unannounced = |max: u64| {
            let client = WebexClient::new(&chunked, Duration::from_secs(5));
            let files = files_of(&client);
            let url = format!("{chunked}/contents/unannounced");
            async move {
                let d = client.download(&files, &url, "tok", max).await?;
                d.body.bytes().await.map_err(DownloadError::from)
            }
        };
        let (bytes, content_type, filename) = get("ok", 100).await.unwrap();
        assert_eq!((bytes.len(), content_type.as_str()), (10, "image/png"));
        assert_eq!(filename.as_deref(), Some("x.png"));
        assert_eq!(
            get("423", 100).await.unwrap_err(),
            DownloadError::Scanning {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(get("410", 100).await.unwrap_err(), DownloadError::Infected);
        assert_eq!(
            get("428", 100).await.unwrap_err(),
            DownloadError::Unscannable
        );
        assert!(matches!(
            get("404", 100).await.unwrap_err(),
            DownloadError::Webex(WebexError::Refused { status: 404, .. })
        ));
        assert!(matches!(
            get("401", 100).await.unwrap_err(),
            DownloadError::Webex(WebexError::Refused { status: 401, .. })
        ));
        assert!(matches!(
            get("503", 100).await.unwrap_err(),
            DownloadError::Webex(WebexError::Unavailable { .. })
        ));
        assert_eq!(
            get("429", 100).await.unwrap_err(),
            DownloadError::Webex(WebexError::Unavailable {
                message: "no".into(),
                retry_after: Some(Duration::from_secs(7))
            })
        );
        // Announced too large: refused before reading; unannounced: while reading.
        assert_eq!(
            get("ok", 9).await.unwrap_err(),
            DownloadError::TooLarge { limit: 9 }
        );
        assert_eq!(
            unannounced(5_000).await.unwrap_err(),
            DownloadError::TooLarge { limit: 5_000 }
        );
        assert_eq!(unannounced(20_000).await.unwrap().len(), 20_000);
        // A redirect off this Webex's origin is not followed.
        assert!(matches!(
            get("redirect", 100).await.unwrap_err(),
            DownloadError::NotAllowed(m) if m.contains("redirect refused")
        ));
        // Unreachable Webex is "unavailable", not "refused".
        let gone = WebexClient::new("http://127.0.0.1:9/v1", Duration::from_secs(2));
        assert!(matches!(
            gone.download(
                &files_of(&gone),
                "http://127.0.0.1:9/v1/contents/x",
                "tok",
                10
            )
            .await
            .unwrap_err(),
            DownloadError::Webex(WebexError::Unavailable { .. })
        ));
    }

    #[test]
    fn secrets_never_print() {
        let issuer = GuestIssuer::new("iss-1", "c2VjcmV0LXNlY3JldA==").unwrap();
        assert!(!format!("{issuer:?}").contains("secret"));
        let token = AccessToken {
            token: "abc".into(),
            expires_at_ms: 1,
        };
        assert!(!format!("{token:?}").contains("abc"));
        assert!(GuestIssuer::new("iss-1", "not base64!").is_err());
    }
}
