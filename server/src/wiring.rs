//! From settings to working parts: the database, the guest logins, the
//! media cache, the native relay and Start conversation. `serve` and the
//! command line build them here, the same way.

use std::time::Duration;

use crate::config::{Config, RelayMode};
use crate::integrations::{GuestMode, Integrations};
use platform::connect::{ConnectMessaging, ConnectWebhook};
use platform::fetch::{FetchRules, Fetcher};
use platform::webex::{GuestIssuer, WebexClient};
use relay::conversations::Conversations;
use relay::guests::{GuestAuth, GuestProvider, ServiceApp};
use relay::media::{MediaCache, MediaSettings};
use relay::{Relay, RelayClients, RelaySettings};
use store::token_cipher::TokenCipher;
use store::{Rules, Store};

/// Opens the database and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let rules = Rules {
        phone_region: config.phone_region,
    };
    let store = Store::connect(&config.database_url, rules)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open database {}: {e}",
                config.database_url_redacted()
            )
        })?;
    store.migrate().await?;
    Ok(store)
}

/// What the settings make of the outside services, for `serve` and the
/// command line alike.
pub struct Services {
    /// Guest JWTs and cached guest access tokens (both relay modes), when
    /// the Webex API URL and the guest app are configured.
    pub guests: Option<relay::guests::GuestAuth>,
    /// The media cache (both relay modes), when the Webex API URL is configured.
    pub media: Option<relay::media::MediaCache>,
    /// The native relay, when `CM_RELAY_MODE=native`.
    pub relay: Option<relay::Relay>,
}

impl Services {
    pub fn build(
        config: &Config,
        integrations: &Integrations,
        store: &Store,
    ) -> anyhow::Result<Services> {
        let guests = build_guest_auth(integrations, store)
            .map_err(|e| anyhow::anyhow!("the guest app settings are unusable: {e}"))?;
        let media = build_media_cache(integrations, store, config)
            .map_err(|e| anyhow::anyhow!("the media cache settings are unusable: {e}"))?;
        let relay = if config.relay_mode == RelayMode::Native {
            let relay = build_relay(config, integrations, store, guests.clone(), media.clone())
                .map_err(|e| {
                    anyhow::anyhow!(
                    "the native relay (CM_RELAY_MODE=native, the default) needs its settings: {e}; \
                     or set CM_RELAY_MODE=connect to let Webex Connect flows run the workflows"
                )
                })?;
            Some(relay)
        } else {
            None
        };
        Ok(Services {
            guests,
            media,
            relay,
        })
    }
}

/// Refuses a native relay whose settings are missing, naming them.
pub fn check_relay_settings(config: &Config) -> anyhow::Result<()> {
    let missing = config.integrations.missing_for_native_relay();
    if config.relay_mode == RelayMode::Native && !missing.is_empty() {
        anyhow::bail!(
            "the native relay (CM_RELAY_MODE=native, the default) needs settings that are \
             not set: {}. Set them (README: Configuration), or set CM_RELAY_MODE=connect to \
             let Webex Connect flows run the workflows, or CM_SANDBOX=true for a local demo",
            missing.join(", ")
        );
    }
    Ok(())
}

/// Start conversation over the relay, or else the Connect startConversation webhook.
pub fn conversations(
    config: &Config,
    i: &Integrations,
    store: &Store,
    relay: Option<relay::Relay>,
) -> Conversations {
    let webhook = ConnectWebhook::new(
        i.connect_webhook_url.clone(),
        i.connect_webhook_key
            .as_ref()
            .map(|k| k.expose().to_string()),
        Duration::from_secs(config.connect_timeout_secs),
    );
    Conversations::new(store.clone(), relay, webhook)
}

/// Guest logins (the REST service and the native relay), when
/// `CM_WEBEX_API_URL` and the settings of the chosen guest app
/// (`CM_WEBEX_GUESTS`) are set: `Ok(None)` when any is missing, an error
/// when one is unusable.
pub fn build_guest_auth(i: &Integrations, store: &Store) -> Result<Option<GuestAuth>, String> {
    let Some(api) = i.webex_api_url.as_deref() else {
        return Ok(None);
    };
    let provider = match i.guest_mode {
        GuestMode::ServiceApp => {
            let (Some(id), Some(secret), Some(refresh)) = (
                i.service_app_client_id.as_deref(),
                i.service_app_client_secret.as_ref(),
                i.service_app_refresh_token.as_ref(),
            ) else {
                return Ok(None);
            };
            GuestProvider::ServiceApp(
                ServiceApp::new(id, secret.expose(), refresh.expose())
                    .map_err(|e| format!("CM_SERVICE_APP_*: {e}"))?,
            )
        }
        GuestMode::GuestIssuer => {
            let (Some(id), Some(secret)) =
                (i.guest_issuer_id.as_deref(), i.guest_issuer_secret.as_ref())
            else {
                return Ok(None);
            };
            tracing::warn!("guests come from a Guest Issuer app, which Webex has deprecated: move to a Service App (CM_WEBEX_GUESTS=service_app, README: Webex setup)");
            GuestProvider::GuestIssuer(
                GuestIssuer::new(id, secret.expose())
                    .map_err(|e| format!("CM_GUEST_ISSUER_ID / CM_GUEST_ISSUER_SECRET: {e}"))?,
            )
        }
    };
    let cipher = match i.token_encryption_key.as_ref() {
        Some(key) => Some(
            TokenCipher::from_base64(key.expose())
                .map_err(|e| format!("CM_TOKEN_ENCRYPTION_KEY {e}"))?,
        ),
        None => {
            tracing::warn!(
                "CM_TOKEN_ENCRYPTION_KEY is not set: guest access tokens are not cached, every job logs the guest in again"
            );
            None
        }
    };
    Ok(Some(GuestAuth::new(
        store.clone(),
        WebexClient::new(api, Duration::from_secs(10)),
        provider,
        cipher,
    )))
}

/// The media cache, when `CM_WEBEX_API_URL` is set. Webex files are
/// fetched from the Webex API's origin and `CM_FETCH_ALLOWED_HOSTS_WEBEX`.
pub fn build_media_cache(
    i: &Integrations,
    store: &Store,
    config: &Config,
) -> Result<Option<MediaCache>, String> {
    let Some(api) = i.webex_api_url.as_deref() else {
        return Ok(None);
    };
    let rules = FetchRules::new("Webex", Some(api), &config.fetch_allowed_hosts_webex)
        .map_err(|e| format!("CM_FETCH_ALLOWED_HOSTS_WEBEX: {e}"))?;
    Ok(Some(MediaCache::new(
        store.clone(),
        WebexClient::new(api, Duration::from_secs(30)),
        Fetcher::new(rules, config.fetch_limits()),
        &i.public_url,
        MediaSettings {
            ttl: Duration::from_secs(config.media_ttl_seconds),
            max_bytes: config.media_max_bytes,
            scan_wait: Duration::from_secs(config.media_scan_wait_seconds),
            max_concurrent: config.media_max_concurrent as usize,
        },
    )))
}

/// The relay, when every setting it needs is present.
pub fn build_relay(
    config: &Config,
    i: &Integrations,
    store: &Store,
    guests: Option<GuestAuth>,
    media: Option<MediaCache>,
) -> Result<Relay, String> {
    let need = |v: Option<String>, name: &str| v.ok_or_else(|| format!("{name} is not set"));
    let secret =
        |v: &Option<crate::integrations::Secret>| v.as_ref().map(|s| s.expose().to_string());
    let guests = guests.ok_or(
        "CM_WEBEX_API_URL and the guest app's settings (CM_SERVICE_APP_*, or CM_GUEST_ISSUER_* with CM_WEBEX_GUESTS=guest_issuer) are needed",
    )?;
    let media = media.ok_or("CM_WEBEX_API_URL is not set")?;
    let connect = need(i.connect_api_url.clone(), "CM_CONNECT_API_URL")?;
    let key = need(secret(&i.connect_api_key), "CM_CONNECT_API_KEY")?;
    let webhook_secret = need(secret(&i.webex_webhook_secret), "CM_WEBEX_WEBHOOK_SECRET")?;
    // Connect's deliveries are authenticated by this token: no token, no relay.
    let inbound_token = need(secret(&i.connect_inbound_token), "CM_CONNECT_INBOUND_TOKEN")?;
    // Delivery receipts come back with the same token as inbound messages.
    let receipts = format!(
        "{}/webhooks/connect/receipts?token={inbound_token}",
        i.public_url
    );
    let messaging = ConnectMessaging::new(
        &connect,
        &key,
        i.connect_whatsapp_app_id.as_deref().unwrap_or_default(),
        i.connect_sms_sender_id.as_deref().unwrap_or_default(),
        Some(receipts),
        Duration::from_secs(10),
    );
    let customer_media = FetchRules::new(
        "Connect",
        Some(&connect),
        &config.fetch_allowed_hosts_connect,
    )
    .map_err(|e| format!("CM_FETCH_ALLOWED_HOSTS_CONNECT: {e}"))?;
    Ok(Relay::new(
        store.clone(),
        RelayClients {
            guests,
            connect: messaging,
            media,
            customer_media: Fetcher::new(customer_media, config.fetch_limits()),
        },
        RelaySettings {
            webhook_url: format!("{}/webhooks/webex", i.public_url),
            webhook_secret,
            attachment_text: config.relay_attachment_text.clone(),
            whatsapp_template: config.whatsapp_template_id.clone().map(|id| {
                platform::connect::WhatsappTemplate {
                    id,
                    language: config.whatsapp_template_language.clone(),
                    variables: config.whatsapp_template_variables.clone(),
                }
            }),
            connect_inbound_token: inbound_token,
            connect_webhook_secret: secret(&i.connect_webhook_secret),
            // An hour short of the dedup retention (at least 2 hours).
            catch_up_window: Duration::from_secs((config.dedup_retention_hours - 1) * 3600),
        },
    ))
}
