//! Where Webex and Webex Connect are, and the credentials to reach them.
//!
//! With `CM_SANDBOX=true` (what `scripts/run` sets for a newcomer) every
//! endpoint points at the built-in sandbox under `/sandbox`, and the shared
//! secrets are generated at start-up, so nothing secret is ever configured or
//! committed. The sandbox lets anyone sign in as anyone, so it is off unless
//! asked for and refuses to run where others could reach it
//! ([`IntegrationSettings::check_sandbox_is_private`]). Without it, the
//! `CM_WEBEX_*` / `CM_CONNECT_*` settings point at the real services.

use clap::Args;
use rand::RngCore;
use std::fmt;
use std::net::SocketAddr;

/// A secret value: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// How customers become Webex guests (`CM_WEBEX_GUESTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum GuestMode {
    /// Service App guest management (`POST /v1/guests/token`).
    ServiceApp,
    /// A Guest Issuer app (`POST /v1/jwt/login` with a signed JWT).
    GuestIssuer,
}

/// Settings of the external services. Every `*_SECRET` / `*_KEY` may also be
/// read from a file named by the same variable with `_FILE` appended.
#[derive(Debug, Clone, Args)]
pub struct IntegrationSettings {
    /// This server's public base URL, as Webex and Connect reach it (webhook targets, media links).
    #[arg(long, env = "CM_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Serve the simulated Webex and Webex Connect at /sandbox and point every
    /// integration at them. A demo convenience: anyone can sign in as anyone,
    /// so it is refused unless bound to loopback with an http public URL.
    #[arg(long, env = "CM_SANDBOX", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub sandbox: bool,

    /// Webex REST API base URL (real: https://webexapis.com/v1).
    #[arg(long, env = "CM_WEBEX_API_URL", global = true)]
    pub webex_api_url: Option<String>,

    /// Webex OAuth integration client id ("Sign in with Webex").
    #[arg(long, env = "CM_WEBEX_CLIENT_ID", global = true)]
    pub webex_client_id: Option<String>,

    /// Webex OAuth integration client secret.
    #[arg(
        long,
        env = "CM_WEBEX_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub webex_client_secret: Option<Secret>,

    /// Webex OAuth authorize page (real: https://webexapis.com/v1/authorize).
    #[arg(long, env = "CM_WEBEX_AUTHORIZE_URL", global = true)]
    pub webex_authorize_url: Option<String>,

    /// Hosts whose https issuers may sign Embedded App SDK identity tokens
    /// (`host` or `*.domain`, comma-separated). The key is fetched from
    /// `{iss}/oauth2/v2/keys/verification`, so only these hosts are ever asked.
    #[arg(
        long,
        env = "CM_EMBEDDED_APP_ISSUER_HOSTS",
        value_delimiter = ',',
        default_value = "*.webex.com",
        global = true
    )]
    pub embedded_app_issuer_hosts: Vec<String>,

    /// One more issuer of Embedded App SDK identity tokens, trusted exactly as
    /// written (any scheme): a private test identity service. The sandbox sets it to itself.
    #[arg(long, env = "CM_EMBEDDED_APP_ISSUER", global = true)]
    pub embedded_app_issuer: Option<String>,

    /// Webex organization ids whose users may sign in from inside Webex
    /// (comma-separated; claim `com.cisco.user.orgid`). Empty: any organization.
    #[arg(
        long,
        env = "CM_EMBEDDED_APP_ORG_IDS",
        value_delimiter = ',',
        global = true
    )]
    pub embedded_app_org_ids: Vec<String>,

    /// Expected `aud` of Embedded App SDK identity tokens (the embedded app's id).
    #[arg(long, env = "CM_EMBEDDED_APP_AUDIENCE", global = true)]
    pub embedded_app_audience: Option<String>,

    /// Script URL of the Webex Embedded App SDK, loaded by the sidebar's start page
    /// (/embedded). Default: the pinned copy this site serves (vendor/webex-embedded-app-sdk).
    #[arg(long, env = "CM_EMBEDDED_SDK_URL", global = true)]
    pub embedded_sdk_url: Option<String>,

    /// How customers become Webex guests: `service_app` (Service App guest management,
    /// `POST /v1/guests/token`: Webex's way for new installs) or `guest_issuer` (a Guest Issuer
    /// app: deprecated by Webex, for installs that have one). Unset: `service_app`, unless only
    /// the Guest Issuer settings are given.
    #[arg(long, env = "CM_WEBEX_GUESTS", value_enum, global = true)]
    pub webex_guests: Option<GuestMode>,

    /// Client id of the Webex Service App that manages guests (scopes guest-issuer:write
    /// and guest-issuer:read, authorized by a full admin in Control Hub).
    #[arg(long, env = "CM_SERVICE_APP_CLIENT_ID", global = true)]
    pub service_app_client_id: Option<String>,

    /// Client secret of that Service App.
    #[arg(
        long,
        env = "CM_SERVICE_APP_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub service_app_client_secret: Option<Secret>,

    /// Refresh token of that Service App (the developer portal shows it once a full admin
    /// authorized the app); its access tokens are fetched and renewed with it.
    #[arg(
        long,
        env = "CM_SERVICE_APP_REFRESH_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub service_app_refresh_token: Option<Secret>,

    /// Webex Guest Issuer app id (the `iss` of guest JWTs).
    #[arg(long, env = "CM_GUEST_ISSUER_ID", global = true)]
    pub guest_issuer_id: Option<String>,

    /// Webex Guest Issuer secret, base64 as the developer portal shows it.
    #[arg(
        long,
        env = "CM_GUEST_ISSUER_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub guest_issuer_secret: Option<Secret>,

    /// Secret of the Webex webhooks the relay creates for guests (verifies `X-Spark-Signature`).
    #[arg(
        long,
        env = "CM_WEBEX_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub webex_webhook_secret: Option<Secret>,

    /// Webex Connect API base URL (per region, e.g. https://api.us.webexconnect.io).
    #[arg(long, env = "CM_CONNECT_API_URL", global = true)]
    pub connect_api_url: Option<String>,

    /// Webex Connect service key for the Messaging API (`key` header).
    #[arg(
        long,
        env = "CM_CONNECT_API_KEY",
        global = true,
        hide_env_values = true
    )]
    pub connect_api_key: Option<Secret>,

    /// WhatsApp app id (`appid`) for the Connect Messaging API.
    #[arg(long, env = "CM_CONNECT_WHATSAPP_APP_ID", global = true)]
    pub connect_whatsapp_app_id: Option<String>,

    /// SMS sender id (long or short code) for the Connect Messaging API.
    #[arg(long, env = "CM_CONNECT_SMS_SENDER_ID", global = true)]
    pub connect_sms_sender_id: Option<String>,

    /// Token that Connect flows append to our inbound URL (`/webhooks/connect/inbound?token=...`).
    #[arg(
        long,
        env = "CM_CONNECT_INBOUND_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub connect_inbound_token: Option<Secret>,

    /// Hub secret of Connect's outbound webhook: when set, customers' messages must carry a
    /// valid `x-hub-signature` (hex HMAC-SHA256/512 of the body), else 401.
    #[arg(
        long,
        env = "CM_CONNECT_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub connect_webhook_secret: Option<Secret>,

    /// Connect inbound webhook that starts the startConversation flow
    /// (https://hooks.REGION.webexconnect.io/events/EVENTID).
    #[arg(long, env = "CM_CONNECT_WEBHOOK_URL", global = true)]
    pub connect_webhook_url: Option<String>,

    /// `key` header sent with the startConversation webhook, if the Connect webhook requires one.
    #[arg(
        long,
        env = "CM_CONNECT_WEBHOOK_KEY",
        global = true,
        hide_env_values = true
    )]
    pub connect_webhook_key: Option<Secret>,

    /// Key that encrypts cached guest access tokens at rest: base64 of 32 random bytes
    /// (`openssl rand -base64 32`). Unset: tokens are not cached (sandbox: generated per start).
    #[arg(
        long,
        env = "CM_TOKEN_ENCRYPTION_KEY",
        global = true,
        hide_env_values = true
    )]
    pub token_encryption_key: Option<Secret>,
}

impl IntegrationSettings {
    /// The sandbox's sign-in pages let anyone be any agent, admins included,
    /// so it runs only where nobody else can reach it: bound to loopback,
    /// with a plain-http public URL (`CM_PUBLIC_URL`, else the bind address)
    /// on this machine. Checked before anything is opened or bound.
    pub fn check_sandbox_is_private(&self, bind: SocketAddr) -> Result<(), String> {
        if !self.sandbox {
            return Ok(());
        }
        const WHY: &str = "the sandbox lets anyone sign in as any agent, so it only runs \
             on this machine; for a deployment set CM_SANDBOX=false and configure Webex and \
             Connect (README: Deploying)";
        if !bind.ip().is_loopback() {
            return Err(format!(
                "CM_SANDBOX=true is refused with CM_BIND={bind} (not a loopback address): {WHY}"
            ));
        }
        let Some(public_url) = self.public_url.as_deref() else {
            return Ok(()); // http://{bind}: loopback, as just checked
        };
        if public_url.to_ascii_lowercase().starts_with("https://") {
            return Err(format!(
                "CM_SANDBOX=true is refused with an https CM_PUBLIC_URL ({public_url}): {WHY}"
            ));
        }
        let host = reqwest::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(format!(
                "CM_SANDBOX=true is refused with CM_PUBLIC_URL={public_url} (not this machine): {WHY}"
            ));
        }
        Ok(())
    }

    /// How guests are made: `CM_WEBEX_GUESTS`, else a Service App unless
    /// only the Guest Issuer is configured (an install from before).
    pub fn guest_mode(&self) -> GuestMode {
        if let Some(mode) = self.webex_guests {
            return mode;
        }
        let issuer_only = self
            .guest_issuer_id
            .as_deref()
            .is_some_and(|v| !v.trim().is_empty())
            && self
                .service_app_client_id
                .as_deref()
                .is_none_or(|v| v.trim().is_empty());
        if issuer_only {
            GuestMode::GuestIssuer
        } else {
            GuestMode::ServiceApp
        }
    }

    /// The settings the native relay needs that are not set (empty when
    /// the sandbox provides them all).
    pub fn missing_for_native_relay(&self) -> Vec<&'static str> {
        if self.sandbox {
            return Vec::new();
        }
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        let secret = |v: &Option<Secret>| v.as_ref().is_some_and(|v| !v.expose().trim().is_empty());
        let guests = match self.guest_mode() {
            GuestMode::ServiceApp => [
                ("CM_SERVICE_APP_CLIENT_ID", set(&self.service_app_client_id)),
                (
                    "CM_SERVICE_APP_CLIENT_SECRET",
                    secret(&self.service_app_client_secret),
                ),
                (
                    "CM_SERVICE_APP_REFRESH_TOKEN",
                    secret(&self.service_app_refresh_token),
                ),
            ]
            .to_vec(),
            GuestMode::GuestIssuer => [
                ("CM_GUEST_ISSUER_ID", set(&self.guest_issuer_id)),
                ("CM_GUEST_ISSUER_SECRET", secret(&self.guest_issuer_secret)),
            ]
            .to_vec(),
        };
        [
            ("CM_PUBLIC_URL", set(&self.public_url)),
            ("CM_WEBEX_API_URL", set(&self.webex_api_url)),
        ]
        .into_iter()
        .chain(guests)
        .chain([
            (
                "CM_WEBEX_WEBHOOK_SECRET",
                secret(&self.webex_webhook_secret),
            ),
            ("CM_CONNECT_API_URL", set(&self.connect_api_url)),
            ("CM_CONNECT_API_KEY", secret(&self.connect_api_key)),
            (
                "CM_CONNECT_INBOUND_TOKEN",
                secret(&self.connect_inbound_token),
            ),
            (
                "CM_CONNECT_WHATSAPP_APP_ID",
                set(&self.connect_whatsapp_app_id),
            ),
            ("CM_CONNECT_SMS_SENDER_ID", set(&self.connect_sms_sender_id)),
        ])
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect()
    }
}

/// Settings read from `<NAME>_FILE` when `<NAME>` is unset.
pub const SECRET_SETTINGS: &[&str] = &[
    "CM_WEBEX_CLIENT_SECRET",
    "CM_WEBEX_WEBHOOK_SECRET",
    "CM_CONNECT_INBOUND_TOKEN",
    "CM_CONNECT_WEBHOOK_SECRET",
    "CM_GUEST_ISSUER_SECRET",
    "CM_SERVICE_APP_CLIENT_SECRET",
    "CM_SERVICE_APP_REFRESH_TOKEN",
    "CM_CONNECT_API_KEY",
    "CM_CONNECT_WEBHOOK_KEY",
    "CM_TOKEN_ENCRYPTION_KEY",
];

/// The Embedded App SDK (npm `@webex/embedded-app-sdk`, pinned in
/// `vendor/webex-embedded-app-sdk/package.json`), copied into the site by
/// `scripts/lib.sh` `build_site` and served from this origin.
pub const VENDORED_EMBEDDED_SDK_PATH: &str = "/vendor/webex-embedded-app-sdk.js";

/// The event id of the sandbox's startConversation inbound webhook.
pub const SANDBOX_START_EVENT_ID: &str = "CMSTART001";

/// Every endpoint and credential, resolved.
#[derive(Debug, Clone)]
pub struct Integrations {
    pub sandbox: bool,
    pub public_url: String,
    pub webex_api_url: Option<String>,
    pub webex_authorize_url: Option<String>,
    pub webex_client_id: Option<String>,
    pub webex_client_secret: Option<Secret>,
    pub embedded_app_issuer_hosts: Vec<String>,
    pub embedded_app_issuer: Option<String>,
    pub embedded_app_audience: Option<String>,
    pub embedded_app_org_ids: Vec<String>,
    pub embedded_sdk_url: String,
    pub guest_mode: GuestMode,
    pub service_app_client_id: Option<String>,
    pub service_app_client_secret: Option<Secret>,
    pub service_app_refresh_token: Option<Secret>,
    pub guest_issuer_id: Option<String>,
    pub guest_issuer_secret: Option<Secret>,
    pub connect_api_url: Option<String>,
    pub connect_api_key: Option<Secret>,
    pub connect_webhook_url: Option<String>,
    pub connect_webhook_key: Option<Secret>,
    pub webex_webhook_secret: Option<Secret>,
    pub connect_whatsapp_app_id: Option<String>,
    pub connect_sms_sender_id: Option<String>,
    pub connect_inbound_token: Option<Secret>,
    pub connect_webhook_secret: Option<Secret>,
    pub token_encryption_key: Option<Secret>,
}

fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn random_base64_secret() -> String {
    use base64::Engine;
    let mut buf = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::STANDARD.encode(buf)
}

impl Integrations {
    /// Resolves the settings; `listen_url` is where this server listens,
    /// used as the public URL when none is configured.
    pub fn resolve(s: &IntegrationSettings, listen_url: &str) -> Integrations {
        let public_url = s
            .public_url
            .clone()
            .unwrap_or_else(|| listen_url.to_string())
            .trim_end_matches('/')
            .to_string();
        if !s.sandbox {
            return Integrations {
                sandbox: false,
                public_url,
                webex_api_url: s.webex_api_url.clone(),
                webex_authorize_url: s.webex_authorize_url.clone(),
                webex_client_id: s.webex_client_id.clone(),
                webex_client_secret: s.webex_client_secret.clone(),
                embedded_app_issuer_hosts: s.embedded_app_issuer_hosts.clone(),
                embedded_app_issuer: s.embedded_app_issuer.clone(),
                embedded_app_audience: s.embedded_app_audience.clone(),
                embedded_app_org_ids: s.embedded_app_org_ids.clone(),
                embedded_sdk_url: s
                    .embedded_sdk_url
                    .clone()
                    .unwrap_or_else(|| VENDORED_EMBEDDED_SDK_PATH.to_string()),
                guest_mode: s.guest_mode(),
                service_app_client_id: s.service_app_client_id.clone(),
                service_app_client_secret: s.service_app_client_secret.clone(),
                service_app_refresh_token: s.service_app_refresh_token.clone(),
                guest_issuer_id: s.guest_issuer_id.clone(),
                guest_issuer_secret: s.guest_issuer_secret.clone(),
                connect_api_url: s.connect_api_url.clone(),
                connect_api_key: s.connect_api_key.clone(),
                connect_webhook_url: s.connect_webhook_url.clone(),
                connect_webhook_key: s.connect_webhook_key.clone(),
                webex_webhook_secret: s.webex_webhook_secret.clone(),
                connect_whatsapp_app_id: s.connect_whatsapp_app_id.clone(),
                connect_sms_sender_id: s.connect_sms_sender_id.clone(),
                connect_inbound_token: s.connect_inbound_token.clone(),
                connect_webhook_secret: s.connect_webhook_secret.clone(),
                token_encryption_key: s.token_encryption_key.clone(),
            };
        }
        let sandbox = format!("{public_url}/sandbox");
        let webex = format!("{sandbox}/webex/v1");
        Integrations {
            sandbox: true,
            webex_authorize_url: Some(format!("{webex}/authorize")),
            webex_api_url: Some(webex),
            webex_client_id: Some("sandbox-integration".into()),
            webex_client_secret: Some(Secret::new(random_secret(24))),
            embedded_app_issuer_hosts: s.embedded_app_issuer_hosts.clone(),
            // The sandbox trusts itself: its keys are at
            // {sandbox}/webex/embedded/oauth2/v2/keys/verification.
            embedded_app_issuer: Some(format!("{sandbox}/webex/embedded")),
            embedded_app_audience: Some("sandbox-embedded-app".into()),
            embedded_app_org_ids: s.embedded_app_org_ids.clone(),
            embedded_sdk_url: format!("{sandbox}/webex/embedded/sdk.js"),
            // The sandbox has both kinds of guest app; the setting chooses.
            guest_mode: s.webex_guests.unwrap_or(GuestMode::ServiceApp),
            service_app_client_id: Some("sandbox-service-app".into()),
            service_app_client_secret: Some(Secret::new(random_secret(24))),
            service_app_refresh_token: Some(Secret::new(random_secret(32))),
            guest_issuer_id: Some("sandbox-guest-issuer".into()),
            // Generated unless set (tests check guest JWT signatures).
            guest_issuer_secret: Some(
                s.guest_issuer_secret
                    .clone()
                    .unwrap_or_else(|| Secret::new(random_base64_secret())),
            ),
            connect_api_url: Some(format!("{sandbox}/connect")),
            connect_api_key: Some(Secret::new(random_secret(16))),
            connect_webhook_url: Some(format!("{sandbox}/connect/events/{SANDBOX_START_EVENT_ID}")),
            connect_webhook_key: Some(Secret::new(random_secret(16))),
            // Generated unless set (the benchmark signs webhooks itself).
            webex_webhook_secret: Some(
                s.webex_webhook_secret
                    .clone()
                    .unwrap_or_else(|| Secret::new(random_secret(24))),
            ),
            connect_whatsapp_app_id: Some("sandbox-whatsapp-app".into()),
            connect_sms_sender_id: Some("CONTACTMGR".into()),
            connect_inbound_token: Some(
                s.connect_inbound_token
                    .clone()
                    .unwrap_or_else(|| Secret::new(random_secret(24))),
            ),
            // Generated unless set: the sandbox signs its deliveries with it.
            connect_webhook_secret: Some(
                s.connect_webhook_secret
                    .clone()
                    .unwrap_or_else(|| Secret::new(random_secret(24))),
            ),
            // Generated unless set: cached guest tokens last as long as the process.
            token_encryption_key: Some(
                s.token_encryption_key
                    .clone()
                    .unwrap_or_else(|| Secret::new(random_base64_secret())),
            ),
            public_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        s: IntegrationSettings,
    }

    #[test]
    fn sandbox_points_everything_at_itself_with_fresh_secrets() {
        let cli = Cli::parse_from(["x", "--sandbox", "true"]);
        let a = Integrations::resolve(&cli.s, "http://127.0.0.1:3000");
        let b = Integrations::resolve(&cli.s, "http://127.0.0.1:3000");
        assert_eq!(
            a.webex_api_url.as_deref(),
            Some("http://127.0.0.1:3000/sandbox/webex/v1")
        );
        assert_eq!(
            a.connect_webhook_url.as_deref(),
            Some("http://127.0.0.1:3000/sandbox/connect/events/CMSTART001")
        );
        assert_ne!(
            a.guest_issuer_secret, b.guest_issuer_secret,
            "generated per start"
        );
        assert!(!format!("{a:?}").contains(a.connect_api_key.as_ref().unwrap().expose()));
    }

    #[test]
    fn the_sandbox_is_off_unless_asked_for() {
        let cli = Cli::parse_from(["x"]);
        assert!(!cli.s.sandbox);
        assert_eq!(
            cli.s.missing_for_native_relay().len(),
            11,
            "every native relay setting is listed at once"
        );
        assert!(cli
            .s
            .missing_for_native_relay()
            .contains(&"CM_SERVICE_APP_REFRESH_TOKEN"));
    }

    #[test]
    fn new_installs_get_service_app_guests_and_old_ones_keep_their_issuer() {
        let mode = |args: &[&str]| {
            let mut all = vec!["x"];
            all.extend_from_slice(args);
            Cli::parse_from(all).s.guest_mode()
        };
        assert_eq!(mode(&[]), GuestMode::ServiceApp);
        assert_eq!(
            mode(&["--guest-issuer-id", "Y2lzY29"]),
            GuestMode::GuestIssuer,
            "an install configured before Service Apps keeps working"
        );
        assert_eq!(
            mode(&[
                "--guest-issuer-id",
                "Y2lzY29",
                "--service-app-client-id",
                "C1"
            ]),
            GuestMode::ServiceApp
        );
        assert_eq!(
            mode(&["--webex-guests", "guest_issuer"]),
            GuestMode::GuestIssuer
        );
        let issuer = Cli::parse_from(["x", "--webex-guests", "guest_issuer"]).s;
        let missing = issuer.missing_for_native_relay();
        assert!(missing.contains(&"CM_GUEST_ISSUER_SECRET"));
        assert!(!missing.contains(&"CM_SERVICE_APP_CLIENT_ID"));
    }

    #[test]
    fn the_sandbox_refuses_to_be_reachable_by_others() {
        let settings = |args: &[&str]| {
            let mut all = vec!["x", "--sandbox", "true"];
            all.extend_from_slice(args);
            Cli::parse_from(all).s
        };
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let v6: SocketAddr = "[::]:3000".parse().unwrap();
        assert!(settings(&[]).check_sandbox_is_private(local).is_ok());
        assert!(settings(&["--public-url", "http://localhost:3000"])
            .check_sandbox_is_private(local)
            .is_ok());
        assert!(settings(&["--public-url", "http://[::1]:3000/"])
            .check_sandbox_is_private(local)
            .is_ok());
        let err = settings(&[]).check_sandbox_is_private(any).unwrap_err();
        assert!(err.contains("CM_BIND"), "{err}");
        assert!(settings(&[]).check_sandbox_is_private(v6).is_err());
        let err = settings(&["--public-url", "https://cm.example.com"])
            .check_sandbox_is_private(local)
            .unwrap_err();
        assert!(err.contains("CM_PUBLIC_URL"), "{err}");
        assert!(settings(&["--public-url", "http://cm.example.com"])
            .check_sandbox_is_private(local)
            .is_err());
        let off = Cli::parse_from(["x"]).s;
        assert!(off.check_sandbox_is_private(any).is_ok());
    }

    #[test]
    fn real_mode_uses_settings_only() {
        let cli = Cli::parse_from([
            "x",
            "--sandbox",
            "false",
            "--connect-webhook-url",
            "https://hooks.us.webexconnect.io/events/ABCDEFGHIJ",
            "--public-url",
            "https://cm.example.com/",
        ]);
        let i = Integrations::resolve(&cli.s, "http://127.0.0.1:3000");
        assert!(!i.sandbox);
        assert_eq!(i.public_url, "https://cm.example.com");
        assert_eq!(i.webex_api_url, None);
        assert_eq!(
            i.connect_webhook_url.as_deref(),
            Some("https://hooks.us.webexconnect.io/events/ABCDEFGHIJ")
        );
    }
}
