//! Simulated Webex (REST API, webhooks, sign-in) and Webex Connect (messaging
//! APIs, inbound webhooks, delivery receipts), with a customer-phone page, a
//! Webex agent-client page and HTTP fault controls.
//!
//! Written from `reference/webex-and-connect.md`, not from the product's
//! clients, so a misunderstanding in a client shows up as a failing call.

mod bot;
mod calls;
mod connect;
mod control;
mod delivery;
#[cfg(feature = "driver")]
pub mod driver;
mod embedded;
mod faults;
mod files;
mod pages;
#[cfg(feature = "driver")]
pub mod standalone;
mod state;
mod webex;

use std::sync::Arc;

/// The RS256 key that signs the sandbox's Embedded App identity tokens; public
/// so tests can sign tokens for a JWKS of their own.
pub use embedded::SigningKey;

use axum::middleware::from_fn_with_state;
use axum::Router;

/// Everything the sandbox needs to know about the product that uses it.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Public URL of the sandbox root, e.g. "http://127.0.0.1:3000/sandbox".
    pub base_url: String,
    /// `iss` of guest JWTs.
    pub guest_issuer_id: String,
    /// Base64 issuer secret; guest JWTs are HS256 with the decoded bytes.
    pub guest_issuer_secret_b64: String,
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
    /// The Service App (guest management): its OAuth client id and secret and
    /// the refresh token an admin's authorization gave it. All three empty =
    /// no Service App (one empty = none either).
    pub service_app_client_id: String,
    pub service_app_client_secret: String,
    pub service_app_refresh_token: String,
    /// `iss` of the Embedded App SDK identity token.
    pub embedded_app_issuer: String,
    /// `aud` of the Embedded App SDK identity token.
    pub embedded_app_audience: String,
    /// `key` header for the Connect messaging APIs.
    pub connect_api_key: String,
    /// Product URL that receives inbound customer messages; None = record only.
    pub connect_inbound_url: Option<String>,
    /// Hub secret of the simulated outbound webhook: with one, inbound
    /// messages carry `x-hub-signature` (hex HMAC-SHA256 of the body).
    pub connect_webhook_secret: Option<String>,
    /// Seeded Webex agents: (email, display name).
    pub agents: Vec<(String, String)>,
    /// The scripted bot (`CM_SANDBOX_BOT`), when it is on.
    pub bot: Option<BotConfig>,
}

/// The scripted bot's side of the product's bot settings.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// What the product's calls must carry (its `CM_BOT_ACCESS_TOKEN`).
    pub access_token: String,
    /// Where the bot answers (the product's `/webhooks/bot`) and with what.
    pub callback_url: String,
    pub callback_token: String,
}

/// All sandbox routes, relative to the sandbox root ("/webex/v1/...",
/// "/connect/...", "/phone", "/webex-client", "/control/..."). Mount it with
/// `nest_service("/sandbox", router)`.
pub fn router(config: SandboxConfig) -> Router {
    let sandbox = Arc::new(state::Sandbox::new(config));
    Router::new()
        .nest("/webex/v1", webex::router())
        .nest("/webex/embedded", embedded::router())
        .nest("/connect", connect::router())
        .nest("/control", control::router())
        .nest("/bot", bot::router())
        .merge(pages::router())
        // Faults sit inside the call log, so injected failures are logged too.
        .layer(from_fn_with_state(sandbox.clone(), faults::inject))
        .layer(from_fn_with_state(sandbox.clone(), calls::record))
        .with_state(sandbox)
}
