//! The sandbox on a port of its own, with fixed secrets, and the settings a
//! product needs to use it as its Webex and Connect: for the tests and the
//! benchmark that run several products (replicas, or processes that die)
//! against one Webex and Connect whose state outlives them. Test secrets
//! only: a deployment's come from its own settings.

use crate::SandboxConfig;
use axum::serve::ListenerExt;

/// The query token of Connect's inbound webhook.
pub const INBOUND_TOKEN: &str = "standalone-inbound-token";
/// The hub secret that signs Connect's webhooks (`x-hub-signature`).
pub const HUB_SECRET: &str = "standalone-connect-hub-secret";
/// The secret of the guests' Webex webhooks.
pub const WEBHOOK_SECRET: &str = "standalone-webhook-secret";
const GUEST_ISSUER_ID: &str = "standalone-issuer";
const GUEST_ISSUER_SECRET: &str = "c3RhbmRhbG9uZS1ndWVzdC1pc3N1ZXItc2VjcmV0"; // base64
const OAUTH_CLIENT_ID: &str = "standalone-client";
const OAUTH_CLIENT_SECRET: &str = "standalone-client-secret";
const CONNECT_API_KEY: &str = "standalone-connect-key";
/// The key the products seal cached guest tokens with: one for all, as
/// replicas of one deployment share theirs (base64 of 32 bytes).
const TOKEN_ENCRYPTION_KEY: &str = "c2FuZGJveC10b2tlbi1rZXktZm9yLXRlc3RzLW9ubHk=";
/// The Webex people the sandbox knows: (email, display name).
pub const AGENTS: [(&str, &str); 2] = [
    ("agent-a@example.com", "Agent A"),
    ("agent-b@example.com", "Agent B"),
];

/// A sandbox served at `http://127.0.0.1:{port}/sandbox`.
pub struct Standalone {
    pub port: u16,
}

impl Standalone {
    /// Its root URL, e.g. `http://127.0.0.1:4000/sandbox`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/sandbox", self.port)
    }

    /// Serves it in this process until the task is aborted. `product_url`:
    /// where its Connect delivers customers' messages (None: it only
    /// records them).
    pub async fn serve(&self, product_url: Option<&str>) -> tokio::task::JoinHandle<()> {
        let base_url = self.url();
        let config = SandboxConfig {
            guest_issuer_id: GUEST_ISSUER_ID.into(),
            guest_issuer_secret_b64: GUEST_ISSUER_SECRET.into(),
            oauth_client_id: OAUTH_CLIENT_ID.into(),
            oauth_client_secret: OAUTH_CLIENT_SECRET.into(),
            // The products use the Guest Issuer app.
            service_app_client_id: "sandbox-service-app".into(),
            service_app_client_secret: "unused".into(),
            service_app_refresh_token: "unused".into(),
            embedded_app_issuer: format!("{base_url}/webex/embedded"),
            embedded_app_audience: "sandbox-embedded-app".into(),
            connect_api_key: CONNECT_API_KEY.into(),
            connect_inbound_url: product_url
                .map(|url| format!("{url}/webhooks/connect/inbound?token={INBOUND_TOKEN}")),
            connect_webhook_secret: Some(HUB_SECRET.into()),
            agents: AGENTS
                .iter()
                .map(|(email, name)| (email.to_string(), name.to_string()))
                .collect(),
            bot: None,
            base_url,
        };
        // No Nagle's delay on its answers (see the server's startup).
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the sandbox's port is free")
            .tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
        let app = axum::Router::new().nest_service("/sandbox", crate::router(config));
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the sandbox serves");
        })
    }

    /// A product's settings for using it in native relay mode, as
    /// environment variables (`CM_...`); the database, bind address and
    /// public URL are the caller's.
    pub fn product_env(&self) -> Vec<(String, String)> {
        let sandbox = self.url();
        let webex = format!("{sandbox}/webex/v1");
        [
            ("CM_SANDBOX", "false".to_string()),
            ("CM_RELAY_MODE", "native".into()),
            ("CM_WEBEX_AUTHORIZE_URL", format!("{webex}/authorize")),
            ("CM_WEBEX_API_URL", webex),
            ("CM_WEBEX_CLIENT_ID", OAUTH_CLIENT_ID.into()),
            ("CM_WEBEX_CLIENT_SECRET", OAUTH_CLIENT_SECRET.into()),
            ("CM_WEBEX_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
            (
                "CM_EMBEDDED_APP_ISSUER",
                format!("{sandbox}/webex/embedded"),
            ),
            ("CM_EMBEDDED_APP_AUDIENCE", "sandbox-embedded-app".into()),
            ("CM_GUEST_ISSUER_ID", GUEST_ISSUER_ID.into()),
            ("CM_GUEST_ISSUER_SECRET", GUEST_ISSUER_SECRET.into()),
            ("CM_TOKEN_ENCRYPTION_KEY", TOKEN_ENCRYPTION_KEY.into()),
            ("CM_CONNECT_API_URL", format!("{sandbox}/connect")),
            ("CM_CONNECT_API_KEY", CONNECT_API_KEY.into()),
            ("CM_CONNECT_SMS_SENDER_ID", "CONTACTMGR".into()),
            ("CM_CONNECT_WHATSAPP_APP_ID", "sandbox-whatsapp-app".into()),
            ("CM_CONNECT_INBOUND_TOKEN", INBOUND_TOKEN.into()),
            ("CM_CONNECT_WEBHOOK_SECRET", HUB_SECRET.into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}
