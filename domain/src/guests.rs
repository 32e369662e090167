//! Webex guest auth (seed workflow "Webex Guest Auth"): the Guest Issuer JWT
//! of a customer on a channel, and the access token it is exchanged for.
//!
//! This is the one cache of guest access tokens (`guest_tokens`, keyed by the
//! guest subject `{channel}_{channelId}`): the REST service
//! `POST /api/v1/guests/token` and the native relay share it. A cached token
//! is reused while more than [`TOKEN_MARGIN`] of it remains; otherwise a new
//! JWT is exchanged at `/jwt/login`. Two callers that find no usable token at
//! the same time both log in and the last one stored wins: both tokens work.
//! Tokens never appear in logs or `Debug` output, and are cached only sealed
//! with a [`TokenCipher`]; without one nothing is cached and every call logs
//! the guest in again.

use std::time::Duration;

use crate::channel::Channel;
use crate::store::{now_ms, Store};
use crate::token_cipher::TokenCipher;
use crate::webex::{guest_subject, AccessToken, GuestIssuer, WebexClient, WebexError};

/// How long a guest JWT is valid (it is exchanged at once, so briefly).
pub const GUEST_JWT_TTL: Duration = Duration::from_secs(10 * 60);

/// A cached access token is used only while more than this remains of it.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A signed guest JWT and what it is for.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestJwt {
    /// `{channel}_{channelId}`, e.g. `whatsapp_447700900123` (the JWT's `sub`).
    pub subject: String,
    /// HS256 with the decoded Guest Issuer secret; claims sub, name, iss, exp.
    pub jwt: String,
    /// The JWT's `exp`, in milliseconds.
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for GuestJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestJwt")
            .field("subject", &self.subject)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// Guest JWTs and cached guest access tokens. Cheap to clone.
#[derive(Clone)]
pub struct GuestAuth {
    store: Store,
    webex: WebexClient,
    issuer: GuestIssuer,
    /// `None`: tokens are not cached at all (no encryption key configured).
    cipher: Option<TokenCipher>,
}

impl std::fmt::Debug for GuestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestAuth")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl GuestAuth {
    pub fn new(
        store: Store,
        webex: WebexClient,
        issuer: GuestIssuer,
        cipher: Option<TokenCipher>,
    ) -> GuestAuth {
        GuestAuth {
            store,
            webex,
            issuer,
            cipher,
        }
    }

    /// The Webex client tokens are exchanged with.
    pub fn webex(&self) -> &WebexClient {
        &self.webex
    }

    /// A fresh guest JWT for a customer on a channel. `channel_id` should be
    /// canonical (see `Store::canonical_channel_id`); a blank `name` becomes
    /// the channel id (the guest's display name in Webex).
    pub fn jwt(&self, channel: Channel, channel_id: &str, name: &str) -> GuestJwt {
        self.jwt_at(channel, channel_id, name, now_ms())
    }

    fn jwt_at(&self, channel: Channel, channel_id: &str, name: &str, now: i64) -> GuestJwt {
        let subject = guest_subject(channel, channel_id);
        let name = match name.trim() {
            "" => channel_id.trim(),
            name => name,
        };
        let now_secs = now / 1000;
        let jwt = self.issuer.token(&subject, name, now_secs, GUEST_JWT_TTL);
        GuestJwt {
            subject,
            jwt,
            expires_at_ms: (now_secs + GUEST_JWT_TTL.as_secs() as i64) * 1000,
        }
    }

    /// The guest's access token: the cached one while more than
    /// [`TOKEN_MARGIN`] of it remains, else a new one from `/jwt/login`
    /// (then cached). The cache only saves logins: if the database fails,
    /// the token is fetched (or returned) anyway and the failure logged.
    pub async fn access_token(
        &self,
        channel: Channel,
        channel_id: &str,
        name: &str,
    ) -> Result<AccessToken, WebexError> {
        self.access_token_named(channel, channel_id, async || name.to_string())
            .await
    }

    /// As [`GuestAuth::access_token`], looking the display name up only
    /// when a login is needed (the relay calls this for every job).
    pub async fn access_token_named(
        &self,
        channel: Channel,
        channel_id: &str,
        name: impl AsyncFnOnce() -> String,
    ) -> Result<AccessToken, WebexError> {
        let now = now_ms();
        let subject = guest_subject(channel, channel_id);
        if let Some(cipher) = &self.cipher {
            match self.store.cached_guest_token(cipher, &subject).await {
                Ok(Some(token)) if token.expires_at_ms - TOKEN_MARGIN.as_millis() as i64 > now => {
                    return Ok(token);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "guest token cache unreadable; logging in");
                }
            }
        }
        let jwt = self.jwt_at(channel, channel_id, &name().await, now);
        let token = self.webex.jwt_login(&jwt.jwt, now).await?;
        if let Some(cipher) = &self.cipher {
            if let Err(e) = self.store.cache_guest_token(cipher, &subject, &token).await {
                tracing::warn!(error = %e, "guest token not cached");
            }
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_debug_hides_the_token() {
        let jwt = GuestJwt {
            subject: "sms_447700900123".into(),
            jwt: "eyJhbGciOi.secret.part".into(),
            expires_at_ms: 1,
        };
        let shown = format!("{jwt:?}");
        assert!(shown.contains("sms_447700900123"));
        assert!(!shown.contains("eyJ"));
    }
}
