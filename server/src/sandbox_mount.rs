//! Serves the simulated Webex and Webex Connect at `/sandbox` (when the
//! `sandbox` feature is built and `CM_SANDBOX=true`), sharing the generated
//! secrets with the product so each side verifies the other.

use axum::Router;

use crate::integrations::Integrations;
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

#[cfg(feature = "sandbox")]
pub async fn router(i: &Integrations, store: &Store) -> anyhow::Result<Router> {
    let secret = |s: &Option<crate::integrations::Secret>| {
        s.as_ref()
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
        guest_issuer_id: i.guest_issuer_id.clone().unwrap_or_default(),
        guest_issuer_secret_b64: secret(&i.guest_issuer_secret),
        oauth_client_id: i.webex_client_id.clone().unwrap_or_default(),
        oauth_client_secret: secret(&i.webex_client_secret),
        embedded_app_issuer: i.embedded_app_issuer.clone().unwrap_or_default(),
        embedded_app_audience: i.embedded_app_audience.clone().unwrap_or_default(),
        connect_api_key: secret(&i.connect_api_key),
        connect_inbound_url: Some(format!(
            "{}/webhooks/connect/inbound?token={}",
            i.public_url,
            secret(&i.connect_inbound_token)
        )),
        connect_webhook_secret: i
            .connect_webhook_secret
            .as_ref()
            .map(|s| s.expose().to_string()),
        agents,
        service_app_client_id: i.service_app_client_id.clone().unwrap_or_default(),
        service_app_client_secret: secret(&i.service_app_client_secret),
        service_app_refresh_token: secret(&i.service_app_refresh_token),
    };
    Ok(Router::new().nest_service("/sandbox", sandbox::router(config)))
}

#[cfg(not(feature = "sandbox"))]
pub async fn router(i: &Integrations, _store: &Store) -> anyhow::Result<Router> {
    if i.sandbox {
        anyhow::bail!(
            "this build has no sandbox: set CM_SANDBOX=false and configure Webex and Connect"
        );
    }
    Ok(Router::new())
}
