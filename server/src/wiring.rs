//! From settings to working parts: the database, the guest logins, the
//! media cache, the native relay and Start conversation. `serve` and the
//! command line build them here, the same way.

use std::time::Duration;

use crate::config::Config;
use crate::integrations::{GuestApp, Integrations, NativeRelay};
use platform::connect::{ConnectMessaging, ConnectWebhook};
use platform::fetch::{FetchRules, Fetcher};
use platform::webex::{GuestIssuer, WebexClient};
use relay::conversations::Conversations;
use relay::guests::{GuestAuth, GuestProvider, ServiceApp};
use relay::media::MediaCache;
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
        let relay = match &integrations.relay {
            crate::integrations::Relay::Native(native) => {
                // Present: the native relay is resolved only with Webex and its guests.
                let (Some(guests), Some(media)) = (guests.clone(), media.clone()) else {
                    anyhow::bail!("the native relay needs CM_WEBEX_API_URL and the guest app");
                };
                Some(
                    build_relay(config, integrations, native, store, guests, media).map_err(
                        |e| anyhow::anyhow!("the native relay's settings are unusable: {e}"),
                    )?,
                )
            }
            crate::integrations::Relay::Connect => None,
        };
        Ok(Services {
            guests,
            media,
            relay,
        })
    }
}

/// Start conversation over the relay, or else the Connect startConversation webhook.
pub fn conversations(
    config: &Config,
    i: &Integrations,
    store: &Store,
    relay: Option<relay::Relay>,
) -> Conversations {
    let trigger = i.connect.trigger.as_ref();
    let webhook = ConnectWebhook::new(
        trigger.map(|t| t.url.clone()),
        trigger
            .and_then(|t| t.key.as_ref())
            .map(|k| k.expose().to_string()),
        Duration::from_secs(config.connect_timeout_secs),
    );
    Conversations::new(store.clone(), relay, webhook)
}

/// Guest logins (the REST service and the native relay), when
/// `CM_WEBEX_API_URL` and the settings of the chosen guest app
/// (`CM_WEBEX_GUESTS`) are set.
pub fn build_guest_auth(i: &Integrations, store: &Store) -> Result<Option<GuestAuth>, String> {
    let (Some(api), Some(app)) = (i.webex.api_url.as_deref(), i.guests.app.as_ref()) else {
        return Ok(None);
    };
    let provider = match app {
        GuestApp::ServiceApp {
            client_id,
            client_secret,
            refresh_token,
        } => GuestProvider::ServiceApp(
            ServiceApp::new(client_id, client_secret.expose(), refresh_token.expose())
                .map_err(|e| format!("CM_SERVICE_APP_*: {e}"))?,
        ),
        GuestApp::GuestIssuer { id, secret } => {
            tracing::warn!("guests come from a Guest Issuer app, which Webex has deprecated: move to a Service App (CM_WEBEX_GUESTS=service_app, README: Webex setup)");
            GuestProvider::GuestIssuer(
                GuestIssuer::new(id, secret.expose())
                    .map_err(|e| format!("CM_GUEST_ISSUER_ID / CM_GUEST_ISSUER_SECRET: {e}"))?,
            )
        }
    };
    let cipher = match i.guests.token_key.as_ref() {
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
    let Some(api) = i.webex.api_url.as_deref() else {
        return Ok(None);
    };
    let rules = FetchRules::new("Webex", Some(api), &config.fetch_allowed_hosts_webex)
        .map_err(|e| format!("CM_FETCH_ALLOWED_HOSTS_WEBEX: {e}"))?;
    Ok(Some(MediaCache::new(
        store.clone(),
        WebexClient::new(api, Duration::from_secs(30)),
        Fetcher::new(rules, config.fetch_limits()),
        &i.public_url,
        config.media(),
    )))
}

/// The native relay, from its checked settings.
pub fn build_relay(
    config: &Config,
    i: &Integrations,
    native: &NativeRelay,
    store: &Store,
    guests: GuestAuth,
    media: MediaCache,
) -> Result<Relay, String> {
    let m = &native.messaging;
    // Delivery receipts come back with the same token as inbound messages.
    let receipts = format!(
        "{}/webhooks/connect/receipts?token={}",
        i.public_url,
        native.inbound_token.expose()
    );
    let messaging = ConnectMessaging::new(
        &m.api_url,
        m.api_key.expose(),
        &m.whatsapp_app_id,
        &m.sms_sender_id,
        Some(receipts),
        Duration::from_secs(10),
    );
    let customer_media = FetchRules::new(
        "Connect",
        Some(&m.api_url),
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
            bot: native.bot.as_ref().map(|b| relay::RelayBot {
                webhook: platform::bot::BotWebhook::new(
                    &b.url,
                    b.access_token.expose(),
                    domain::bot::CALL_TIMEOUT,
                ),
                callback_token: b.callback_token.expose().to_string(),
                retry_delays: b.retry_delays.clone(),
            }),
        },
        RelaySettings {
            webhook_url: format!("{}/webhooks/webex", i.public_url),
            webhook_secret: native.webex_webhook_secret.expose().to_string(),
            attachment_text: config.relay_attachment_text.clone(),
            whatsapp_templates: config.whatsapp_templates()?,
            connect_inbound_token: native.inbound_token.expose().to_string(),
            connect_webhook_secret: native
                .connect_webhook_secret
                .as_ref()
                .map(|s| s.expose().to_string()),
            // An hour short of the dedup retention (at least 2 hours).
            catch_up_window: Duration::from_secs((config.dedup_retention_hours - 1) * 3600),
            pci_mask_for_agent: config.pci_mask_for_agent,
            pci_warn_customer: config.pci_warn_customer,
            customer_language: config.customer_language,
        },
    ))
}
