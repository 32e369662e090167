//! Serves the simulated Webex and Webex Connect at `/sandbox` (when the
//! `sandbox` feature is built and `CM_SANDBOX=true`). The sandbox's URLs,
//! ids and secrets live here: they become the product's settings, and the
//! sandbox gets the same ones, so each side verifies the other.

use axum::Router;
use rand::RngCore;

use crate::integrations::{GuestMode, IntegrationSettings, Integrations, Secret};
use domain::model::Role;
use store::{AuditCtx, Store};

/// The people a newcomer can sign in as through the sandbox's Webex OAuth page.
const DEMO_AGENTS: [(&str, &str, Role); 3] = [
    ("admin@example.com", "Admin", Role::Admin),
    ("agent-a@example.com", "Agent A", Role::Agent),
    ("agent-b@example.com", "Agent B", Role::Agent),
];

/// Adds the demo agents to an empty database, so the first run has someone
/// to sign in as (with "Sign in with Webex", no password).
pub async fn seed_demo_agents(store: &Store) -> anyhow::Result<()> {
    if store.list_agents().await?.is_empty() {
        for (email, name, role) in DEMO_AGENTS {
            store
                .upsert_agent(&AuditCtx::system(), email, Some(name), role)
                .await?;
        }
        tracing::info!("sandbox: added demo agents admin@example.com, agent-a@example.com, agent-b@example.com");
    }
    Ok(())
}

/// The event id of the sandbox's startConversation inbound webhook.
pub const SANDBOX_START_EVENT_ID: &str = "CMSTART001";

fn random_secret(bytes: usize) -> Secret {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    Secret::new(hex::encode(buf))
}

fn random_base64_secret() -> Secret {
    use base64::Engine;
    let mut buf = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut buf);
    Secret::new(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// The settings of a product that uses the sandbox at `{public_url}/sandbox`:
/// its endpoints and ids, and secrets generated per start. Kept from `given`:
/// the guest mode (the sandbox has both kinds of guest app), the Embedded App
/// issuer hosts and organizations, and the secrets tests and the benchmark
/// set to sign or check messages themselves.
pub fn settings(given: &IntegrationSettings, public_url: &str) -> IntegrationSettings {
    let sandbox = format!("{public_url}/sandbox");
    let webex = format!("{sandbox}/webex/v1");
    let or_new = |s: &Option<Secret>, new: fn() -> Secret| Some(s.clone().unwrap_or_else(new));
    IntegrationSettings {
        public_url: Some(public_url.to_string()),
        sandbox: true,
        webex_authorize_url: Some(format!("{webex}/authorize")),
        webex_api_url: Some(webex),
        webex_client_id: Some("sandbox-integration".into()),
        webex_client_secret: Some(random_secret(24)),
        embedded_app_issuer_hosts: given.embedded_app_issuer_hosts.clone(),
        // The sandbox trusts itself: its keys are at
        // {sandbox}/webex/embedded/oauth2/v2/keys/verification.
        embedded_app_issuer: Some(format!("{sandbox}/webex/embedded")),
        embedded_app_audience: Some("sandbox-embedded-app".into()),
        embedded_app_org_ids: given.embedded_app_org_ids.clone(),
        embedded_sdk_url: Some(format!("{sandbox}/webex/embedded/sdk.js")),
        webex_guests: Some(given.webex_guests.unwrap_or(GuestMode::ServiceApp)),
        service_app_client_id: Some("sandbox-service-app".into()),
        service_app_client_secret: Some(random_secret(24)),
        service_app_refresh_token: Some(random_secret(32)),
        guest_issuer_id: Some("sandbox-guest-issuer".into()),
        // Kept when set (tests check guest JWT signatures).
        guest_issuer_secret: or_new(&given.guest_issuer_secret, random_base64_secret),
        connect_api_url: Some(format!("{sandbox}/connect")),
        connect_api_key: Some(random_secret(16)),
        connect_webhook_url: Some(format!("{sandbox}/connect/events/{SANDBOX_START_EVENT_ID}")),
        connect_webhook_key: Some(random_secret(16)),
        // Kept when set (the benchmark signs webhooks itself).
        webex_webhook_secret: or_new(&given.webex_webhook_secret, || random_secret(24)),
        connect_whatsapp_app_id: Some("sandbox-whatsapp-app".into()),
        connect_sms_sender_id: Some("CONTACTMGR".into()),
        connect_inbound_token: or_new(&given.connect_inbound_token, || random_secret(24)),
        // The sandbox signs its deliveries with it.
        connect_webhook_secret: or_new(&given.connect_webhook_secret, || random_secret(24)),
        // Cached guest tokens last as long as the process.
        token_encryption_key: or_new(&given.token_encryption_key, random_base64_secret),
        // The scripted bot, when asked for; else the given bot, if any.
        bot_url: if given.sandbox_bot {
            Some(format!("{sandbox}/bot/webhook"))
        } else {
            given.bot_url.clone()
        },
        // Kept when set (tests call /webhooks/bot as the bot would).
        bot_access_token: if given.sandbox_bot {
            or_new(&given.bot_access_token, || random_secret(16))
        } else {
            given.bot_access_token.clone()
        },
        bot_callback_token: if given.sandbox_bot {
            or_new(&given.bot_callback_token, || random_secret(24))
        } else {
            given.bot_callback_token.clone()
        },
        bot_retry_seconds: given.bot_retry_seconds.clone(),
        sandbox_bot: given.sandbox_bot,
    }
}

#[cfg(feature = "sandbox")]
pub async fn router(i: &Integrations, store: &Store) -> anyhow::Result<Router> {
    let Some(s) = i.sandbox.as_deref() else {
        return Ok(Router::new());
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let secret = |v: &Option<Secret>| {
        v.as_ref()
            .map(|s| s.expose().to_string())
            .unwrap_or_default()
    };
    let agents = store
        .list_agents()
        .await?
        .into_iter()
        .map(|a| (a.email, a.display_name))
        .collect();
    let config = sandbox::SandboxConfig {
        base_url: format!("{}/sandbox", i.public_url),
        guest_issuer_id: text(&s.guest_issuer_id),
        guest_issuer_secret_b64: secret(&s.guest_issuer_secret),
        oauth_client_id: text(&s.webex_client_id),
        oauth_client_secret: secret(&s.webex_client_secret),
        embedded_app_issuer: text(&s.embedded_app_issuer),
        embedded_app_audience: text(&s.embedded_app_audience),
        connect_api_key: secret(&s.connect_api_key),
        connect_inbound_url: Some(format!(
            "{}/webhooks/connect/inbound?token={}",
            i.public_url,
            secret(&s.connect_inbound_token)
        )),
        connect_webhook_secret: s
            .connect_webhook_secret
            .as_ref()
            .map(|s| s.expose().to_string()),
        agents,
        service_app_client_id: text(&s.service_app_client_id),
        service_app_client_secret: secret(&s.service_app_client_secret),
        service_app_refresh_token: secret(&s.service_app_refresh_token),
        bot: s.sandbox_bot.then(|| sandbox::BotConfig {
            access_token: secret(&s.bot_access_token),
            callback_url: format!("{}/webhooks/bot", i.public_url),
            callback_token: secret(&s.bot_callback_token),
        }),
    };
    Ok(Router::new().nest_service("/sandbox", sandbox::router(config)))
}

#[cfg(not(feature = "sandbox"))]
pub async fn router(i: &Integrations, _store: &Store) -> anyhow::Result<Router> {
    if i.sandbox.is_some() {
        anyhow::bail!(
            "this build has no sandbox: set CM_SANDBOX=false and configure Webex and Connect"
        );
    }
    Ok(Router::new())
}
