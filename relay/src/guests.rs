//! Webex guest auth (seed workflow "Webex Guest Auth"): a customer on a
//! channel is a Webex guest, and this is where their access token comes from.
//!
//! Two ways to make guests, chosen by `CM_WEBEX_GUESTS`
//! ([`GuestProvider`]): a Service App's guest management (`POST
//! /guests/token` with the app's token: Webex's way for new installs) or a
//! Guest Issuer app (a signed JWT exchanged at `/jwt/login`: deprecated by
//! Webex, kept for installs that have one). Either way the guest subject is
//! `{channel}_{channelId}`, so a returning customer is the same guest.
//!
//! This is the one cache of guest access tokens (`guest_tokens`, keyed by the
//! guest subject): the REST service `POST /api/v1/guests/token` and the
//! native relay share it. A cached token is reused while more than
//! [`TOKEN_MARGIN`] of it remains; a token Webex refuses is dropped
//! ([`GuestAuth::forget`]) so the next call logs the guest in again. Two
//! callers that find no usable token at the same time both log in and the
//! last one stored wins: both tokens work. Tokens never appear in logs or
//! `Debug` output, and are cached only sealed with a [`TokenCipher`];
//! without one nothing is cached and every call logs the guest in again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::channel::Channel;
use platform::webex::{guest_subject, AccessToken, GuestIssuer, WebexClient, WebexError};
use store::token_cipher::TokenCipher;
use store::{now_ms, Store};

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

/// A Webex Service App with the `guest-issuer:write` scope: its client
/// credentials and refresh token (from the developer portal, after a full
/// admin authorized it in Control Hub), and its current access token.
pub struct ServiceApp {
    client_id: String,
    client_secret: String,
    /// Webex may answer a refresh with a new refresh token; the newest is kept.
    refresh_token: Mutex<String>,
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

impl ServiceApp {
    pub fn new(client_id: &str, client_secret: &str, refresh_token: &str) -> Result<Self, String> {
        if [client_id, client_secret, refresh_token]
            .iter()
            .any(|v| v.trim().is_empty())
        {
            return Err(
                "the Service App's client id, client secret and refresh token are all required"
                    .into(),
            );
        }
        Ok(ServiceApp {
            client_id: client_id.trim().to_string(),
            client_secret: client_secret.trim().to_string(),
            refresh_token: Mutex::new(refresh_token.trim().to_string()),
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// The app's access token: the current one while more than
    /// [`TOKEN_MARGIN`] of it remains, else a refreshed one.
    async fn token(&self, webex: &WebexClient, now: i64) -> Result<AccessToken, WebexError> {
        let mut current = self.token.lock().await;
        if let Some(token) = current.as_ref() {
            if token.expires_at_ms - TOKEN_MARGIN.as_millis() as i64 > now {
                return Ok(token.clone());
            }
        }
        let refresh = self.refresh_token.lock().expect("not poisoned").clone();
        let fresh = webex
            .refresh_app_token(&self.client_id, &self.client_secret, &refresh, now)
            .await?;
        if let Some(newer) = fresh.refresh_token {
            *self.refresh_token.lock().expect("not poisoned") = newer;
        }
        *current = Some(fresh.access.clone());
        Ok(fresh.access)
    }

    /// Drops the app's token after Webex refused it.
    async fn forget(&self) {
        *self.token.lock().await = None;
    }
}

/// Where guests come from (`CM_WEBEX_GUESTS`).
pub enum GuestProvider {
    /// Service App guest management (`POST /guests/token`): the default.
    ServiceApp(ServiceApp),
    /// A Guest Issuer app (`POST /jwt/login` with a signed JWT): deprecated
    /// by Webex, for installs that already have one.
    GuestIssuer(GuestIssuer),
}

impl GuestProvider {
    /// How the admin page names it.
    pub fn name(&self) -> &'static str {
        match self {
            GuestProvider::ServiceApp(_) => "Service App guest management",
            GuestProvider::GuestIssuer(_) => "Guest Issuer (deprecated by Webex)",
        }
    }
}

/// Whether guests can be logged in, as the admin page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCheck {
    pub ok: bool,
    pub detail: String,
}

/// When a guest last logged in, and the error if Webex refused.
type LastLogin = (i64, Result<(), String>);

/// Guest JWTs and cached guest access tokens. Cheap to clone.
#[derive(Clone)]
pub struct GuestAuth {
    store: Store,
    webex: WebexClient,
    provider: Arc<GuestProvider>,
    /// `None`: tokens are not cached at all (no encryption key configured).
    cipher: Option<TokenCipher>,
    /// The last login's time and outcome (for the admin page).
    last_login: Arc<Mutex<Option<LastLogin>>>,
}

impl std::fmt::Debug for GuestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestAuth")
            .field("provider", &self.provider.name())
            .finish_non_exhaustive()
    }
}

impl GuestAuth {
    /// The key tokens are sealed with, if one is configured.
    pub fn cipher(&self) -> Option<&TokenCipher> {
        self.cipher.as_ref()
    }

    pub fn new(
        store: Store,
        webex: WebexClient,
        provider: GuestProvider,
        cipher: Option<TokenCipher>,
    ) -> GuestAuth {
        GuestAuth {
            store,
            webex,
            provider: Arc::new(provider),
            cipher,
            last_login: Arc::new(Mutex::new(None)),
        }
    }

    /// The Webex client tokens are exchanged with.
    pub fn webex(&self) -> &WebexClient {
        &self.webex
    }

    /// Where guests come from.
    pub fn provider(&self) -> &GuestProvider {
        &self.provider
    }

    /// A fresh guest JWT for a customer on a channel, when guests come from
    /// a Guest Issuer (Service App guests have no JWT). `channel_id` should
    /// be canonical (see `Customer::parse`); a blank `name`
    /// becomes the channel id (the guest's display name in Webex).
    pub fn jwt(&self, channel: Channel, channel_id: &str, name: &str) -> Option<GuestJwt> {
        match &*self.provider {
            GuestProvider::GuestIssuer(issuer) => {
                Some(jwt_at(issuer, channel, channel_id, name, now_ms()))
            }
            GuestProvider::ServiceApp(_) => None,
        }
    }

    /// The guest's access token: the cached one while more than
    /// [`TOKEN_MARGIN`] of it remains, else a new login (then cached). The
    /// cache only saves logins: if the database fails, the token is fetched
    /// (or returned) anyway and the failure logged.
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
        let result = self.login(channel, channel_id, &name().await, now).await;
        *self.last_login.lock().expect("not poisoned") =
            Some((now, result.as_ref().map(|_| ()).map_err(|e| e.to_string())));
        let token = result?;
        if let Some(cipher) = &self.cipher {
            if let Err(e) = self.store.cache_guest_token(cipher, &subject, &token).await {
                tracing::warn!(error = %e, "guest token not cached");
            }
        }
        Ok(token)
    }

    /// Logs the guest in with the configured provider. A Service App token
    /// Webex refuses is refreshed once.
    async fn login(
        &self,
        channel: Channel,
        channel_id: &str,
        name: &str,
        now: i64,
    ) -> Result<AccessToken, WebexError> {
        match &*self.provider {
            GuestProvider::GuestIssuer(issuer) => {
                let jwt = jwt_at(issuer, channel, channel_id, name, now);
                self.webex.jwt_login(&jwt.jwt, now).await
            }
            GuestProvider::ServiceApp(app) => {
                let subject = guest_subject(channel, channel_id);
                let name = display_name(channel_id, name);
                let app_token = app.token(&self.webex, now).await?;
                match self
                    .webex
                    .guest_token(&app_token, &subject, name, now)
                    .await
                {
                    Err(WebexError::Refused { status: 401, .. }) => {
                        app.forget().await;
                        let app_token = app.token(&self.webex, now).await?;
                        self.webex
                            .guest_token(&app_token, &subject, name, now)
                            .await
                    }
                    other => other,
                }
            }
        }
    }

    /// Forgets a guest's cached token (Webex refused it): the next call
    /// logs the guest in again.
    pub async fn forget(&self, channel: Channel, channel_id: &str) {
        let subject = guest_subject(channel, channel_id);
        if let Err(e) = self.store.forget_guest_token(&subject).await {
            tracing::warn!(error = %e, "could not drop a refused guest token");
        }
    }

    /// Whether guests can be logged in now. A Service App is asked for its
    /// guest count (a call that proves its token and scope); a Guest Issuer
    /// can only be tried by logging a guest in, so its last login is shown.
    pub async fn check(&self) -> GuestCheck {
        match &*self.provider {
            GuestProvider::ServiceApp(app) => {
                let now = now_ms();
                let count = match app.token(&self.webex, now).await {
                    Ok(token) => self.webex.guest_count(&token).await,
                    Err(e) => Err(e),
                };
                match count {
                    Ok(n) => GuestCheck {
                        ok: true,
                        detail: format!("works (the Service App has {n} guests)"),
                    },
                    Err(e) => GuestCheck {
                        ok: false,
                        detail: format!("does not work: {e} (check CM_SERVICE_APP_CLIENT_ID, CM_SERVICE_APP_CLIENT_SECRET, CM_SERVICE_APP_REFRESH_TOKEN and the app's guest-issuer scopes)"),
                    },
                }
            }
            GuestProvider::GuestIssuer(_) => {
                match self.last_login.lock().expect("not poisoned").clone() {
                    None => GuestCheck {
                        ok: true,
                        detail: "configured; no guest has logged in since the server started".into(),
                    },
                    Some((at, Ok(()))) => GuestCheck {
                        ok: true,
                        detail: format!("works (last guest login {})", store::format_ms(at)),
                    },
                    Some((at, Err(e))) => GuestCheck {
                        ok: false,
                        detail: format!("the last guest login failed ({}): {e} (check CM_GUEST_ISSUER_ID and CM_GUEST_ISSUER_SECRET)", store::format_ms(at)),
                    },
                }
            }
        }
    }
}

/// The guest's name in Webex: the given name, else the channel id.
fn display_name<'a>(channel_id: &'a str, name: &'a str) -> &'a str {
    match name.trim() {
        "" => channel_id.trim(),
        name => name,
    }
}

fn jwt_at(
    issuer: &GuestIssuer,
    channel: Channel,
    channel_id: &str,
    name: &str,
    now: i64,
) -> GuestJwt {
    let subject = guest_subject(channel, channel_id);
    let now_secs = now / 1000;
    let jwt = issuer.token(
        &subject,
        display_name(channel_id, name),
        now_secs,
        GUEST_JWT_TTL,
    );
    GuestJwt {
        subject,
        jwt,
        expires_at_ms: (now_secs + GUEST_JWT_TTL.as_secs() as i64) * 1000,
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
