//! Webex as a guest: the Guest Issuer JWT (seed workflow "Webex Guest Auth")
//! and the REST calls the relay makes with the guest's token.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::channel::Channel;

/// The guest's identity within the issuer: channel and channel id together,
/// because SMS and WhatsApp share the phone number but are different guests.
pub fn guest_subject(channel: Channel, channel_id: &str) -> String {
    format!(
        "{}_{}",
        channel.as_str(),
        channel_id.trim_start_matches('+')
    )
}

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

/// An access token and when it stops working.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

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

    /// Exchanges a guest JWT for an access token (`POST /jwt/login`).
    pub async fn jwt_login(&self, guest_jwt: &str, now_ms: i64) -> Result<AccessToken, WebexError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Login {
            token: String,
            expires_in: i64,
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
            expires_at_ms: now_ms + login.expires_in * 1000,
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
    /// Posts a text message to a person (`POST /messages`, `toPersonEmail`);
    /// the first message between two people creates their 1:1 space.
    pub async fn message_person(
        &self,
        token: &AccessToken,
        email: &str,
        text: &str,
    ) -> Result<Posted, WebexError> {
        let response = self
            .http
            .post(format!("{}/messages", self.base))
            .bearer_auth(&token.token)
            .json(&serde_json::json!({ "toPersonEmail": email, "text": text }))
            .send()
            .await;
        read(response).await
    }

    /// The newest messages of a room (`GET /messages?roomId=&max=`).
    pub async fn recent_messages(
        &self,
        token: &AccessToken,
        room_id: &str,
        max: u32,
    ) -> Result<Vec<WebexMessage>, WebexError> {
        #[derive(Deserialize)]
        struct Items {
            items: Vec<WebexMessage>,
        }
        let response = self
            .http
            .get(format!("{}/messages", self.base))
            .query(&[("roomId", room_id), ("max", &max.to_string())])
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
    let response = response.map_err(|e| WebexError::Unavailable {
        message: if e.is_timeout() {
            "no answer in time".into()
        } else {
            "could not connect".into()
        },
        retry_after: None,
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if status.is_success() {
        return response.json().await.map_err(|e| WebexError::Refused {
            status: status.as_u16(),
            message: format!("unexpected answer: {e}"),
        });
    }
    // Webex errors carry a `message`; never echo tokens or bodies beyond it.
    let message = response
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    if status.is_server_error() || status.as_u16() == 429 {
        Err(WebexError::Unavailable {
            message,
            retry_after,
        })
    } else {
        Err(WebexError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
