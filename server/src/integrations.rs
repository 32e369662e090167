//! Where Webex and Webex Connect are, and the credentials to reach them:
//! the settings ([`IntegrationSettings`]) and what they make, checked and
//! grouped ([`Integrations`]), so a missing or unusable setting stops the
//! start naming it instead of failing on first use.
//!
//! With `CM_SANDBOX=true` the settings are the built-in sandbox's
//! ([`crate::sandbox_mount::settings`]); it lets anyone sign in as anyone,
//! so it is off unless asked for and refuses to run where others could
//! reach it ([`IntegrationSettings::check_sandbox_is_private`]).

use clap::Args;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::net::SocketAddr;

use crate::config::{Config, ConfigError, RelayMode};
use platform::fetch::HostPattern;

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

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// How customers become Webex guests (`CM_WEBEX_GUESTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum GuestMode {
    /// Service App guest management (`POST /v1/guests/token`).
    ServiceApp,
    /// A Guest Issuer app (`POST /v1/jwt/login` with a signed JWT).
    GuestIssuer,
}

/// Settings of the external services, the one list of them (flags, and
/// environment names after the flags, as for [`crate::config::Config`]).
/// Every `*_SECRET` / `*_KEY` may also be read from a file named by the same
/// variable with `_FILE` appended.
#[derive(Debug, Clone, Default, Args, Deserialize)]
pub struct IntegrationSettings {
    /// This server's public base URL, as Webex and Connect reach it (webhook targets, media links).
    #[arg(long, global = true)]
    pub public_url: Option<String>,

    /// Serve the simulated Webex and Webex Connect at /sandbox and point every
    /// integration at them. A demo convenience: anyone can sign in as anyone,
    /// so it is refused unless bound to loopback with an http public URL.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, global = true)]
    #[serde(default)]
    pub sandbox: bool,

    /// Webex REST API base URL (real: https://webexapis.com/v1).
    #[arg(long, global = true)]
    pub webex_api_url: Option<String>,

    /// Webex OAuth integration client id ("Sign in with Webex").
    #[arg(long, global = true)]
    pub webex_client_id: Option<String>,

    /// Webex OAuth integration client secret.
    #[arg(long, global = true)]
    pub webex_client_secret: Option<Secret>,

    /// Webex OAuth authorize page (real: https://webexapis.com/v1/authorize).
    #[arg(long, global = true)]
    pub webex_authorize_url: Option<String>,

    /// Hosts whose https issuers may sign Embedded App SDK identity tokens
    /// (`host` or `*.domain`, comma-separated). The key is fetched from
    /// `{iss}/oauth2/v2/keys/verification`, so only these hosts are ever asked.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "*.webex.com",
        global = true
    )]
    #[serde(deserialize_with = "crate::config::comma_list", default)]
    pub embedded_app_issuer_hosts: Vec<String>,

    /// One more issuer of Embedded App SDK identity tokens, trusted exactly as
    /// written (any scheme): a private test identity service. The sandbox sets it to itself.
    #[arg(long, global = true)]
    pub embedded_app_issuer: Option<String>,

    /// Webex organization ids whose users may sign in from inside Webex
    /// (comma-separated; claim `com.cisco.user.orgid`). Empty: any organization.
    #[arg(long, value_delimiter = ',', global = true)]
    #[serde(deserialize_with = "crate::config::comma_list", default)]
    pub embedded_app_org_ids: Vec<String>,

    /// Expected `aud` of Embedded App SDK identity tokens (the embedded app's id).
    #[arg(long, global = true)]
    pub embedded_app_audience: Option<String>,

    /// Script URL of the Webex Embedded App SDK, loaded by the sidebar's start page
    /// (/embedded). Default: the pinned copy this site serves (vendor/webex-embedded-app-sdk).
    #[arg(long, global = true)]
    pub embedded_sdk_url: Option<String>,

    /// How customers become Webex guests: `service_app` (Service App guest management,
    /// `POST /v1/guests/token`: Webex's way for new installs) or `guest_issuer` (a Guest Issuer
    /// app: deprecated by Webex, for installs that have one). Unset: `service_app`, unless only
    /// the Guest Issuer settings are given.
    #[arg(long, value_enum, global = true)]
    pub webex_guests: Option<GuestMode>,

    /// Client id of the Webex Service App that manages guests (scopes guest-issuer:write
    /// and guest-issuer:read, authorized by a full admin in Control Hub).
    #[arg(long, global = true)]
    pub service_app_client_id: Option<String>,

    /// Client secret of that Service App.
    #[arg(long, global = true)]
    pub service_app_client_secret: Option<Secret>,

    /// Refresh token of that Service App (the developer portal shows it once a full admin
    /// authorized the app); its access tokens are fetched and renewed with it.
    #[arg(long, global = true)]
    pub service_app_refresh_token: Option<Secret>,

    /// Webex Guest Issuer app id (the `iss` of guest JWTs).
    #[arg(long, global = true)]
    pub guest_issuer_id: Option<String>,

    /// Webex Guest Issuer secret, base64 as the developer portal shows it.
    #[arg(long, global = true)]
    pub guest_issuer_secret: Option<Secret>,

    /// Secret of the Webex webhooks the relay creates for guests (verifies `X-Spark-Signature`).
    #[arg(long, global = true)]
    pub webex_webhook_secret: Option<Secret>,

    /// Webex Connect API base URL (per region, e.g. https://api.us.webexconnect.io).
    #[arg(long, global = true)]
    pub connect_api_url: Option<String>,

    /// Webex Connect service key for the Messaging API (`key` header).
    #[arg(long, global = true)]
    pub connect_api_key: Option<Secret>,

    /// WhatsApp app id (`appid`) for the Connect Messaging API.
    #[arg(long, global = true)]
    pub connect_whatsapp_app_id: Option<String>,

    /// SMS sender id (long or short code) for the Connect Messaging API.
    #[arg(long, global = true)]
    pub connect_sms_sender_id: Option<String>,

    /// Token that Connect flows append to our inbound URL (`/webhooks/connect/inbound?token=...`).
    #[arg(long, global = true)]
    pub connect_inbound_token: Option<Secret>,

    /// Hub secret of Connect's outbound webhook: when set, customers' messages must carry a
    /// valid `x-hub-signature` (hex HMAC-SHA256/512 of the body), else 401.
    #[arg(long, global = true)]
    pub connect_webhook_secret: Option<Secret>,

    /// Connect inbound webhook that starts the startConversation flow
    /// (https://hooks.REGION.webexconnect.io/events/EVENTID).
    #[arg(long, global = true)]
    pub connect_webhook_url: Option<String>,

    /// `key` header sent with the startConversation webhook, if the Connect webhook requires one.
    #[arg(long, global = true)]
    pub connect_webhook_key: Option<Secret>,

    /// Key that encrypts cached guest access tokens at rest: base64 of 32 random bytes
    /// (`openssl rand -base64 32`). Unset: tokens are not cached (sandbox: generated per start).
    #[arg(long, global = true)]
    pub token_encryption_key: Option<Secret>,

    /// A bot's webhook (native relay): customers without an agent talk to the bot first,
    /// until it hands them over (docs/relay.md, "Bot hand-over"). Unset: no bot.
    #[arg(long, global = true)]
    pub bot_url: Option<String>,

    /// The bot's access token, sent with every call to CM_BOT_URL (`Authorization: Bearer`).
    #[arg(long, global = true)]
    pub bot_access_token: Option<Secret>,

    /// The token the bot's calls to `/webhooks/bot` must carry (`Authorization: Bearer`);
    /// at least 16 characters (`openssl rand -hex 24`).
    #[arg(long, global = true)]
    pub bot_callback_token: Option<Secret>,

    /// Seconds before each retry of a failed bot call, comma-separated: at most 4, within an
    /// hour (default 10,60,300,900). After the last, the customer goes to the agents.
    #[arg(long, global = true)]
    pub bot_retry_seconds: Option<String>,

    /// With the sandbox: new customers talk to the sandbox's scripted bot first (it answers
    /// HOURS, and hands over on AGENT).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, global = true)]
    #[serde(default)]
    pub sandbox_bot: bool,
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
        if text(&self.guest_issuer_id).is_some() && text(&self.service_app_client_id).is_none() {
            GuestMode::GuestIssuer
        } else {
            GuestMode::ServiceApp
        }
    }
}

/// Settings read from `<NAME>_FILE` when `<NAME>` is unset (besides `DATABASE_URL`).
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
    "CM_METRICS_TOKEN",
    "CM_BOT_ACCESS_TOKEN",
    "CM_BOT_CALLBACK_TOKEN",
];

/// The Embedded App SDK (npm `@webex/embedded-app-sdk`, pinned in
/// `vendor/webex-embedded-app-sdk/package.json`), copied into the site by
/// `scripts/lib.sh` `build_site` and served from this origin.
pub const VENDORED_EMBEDDED_SDK_PATH: &str = "/vendor/webex-embedded-app-sdk.js";

/// Every endpoint and credential, checked and grouped.
#[derive(Debug, Clone)]
pub struct Integrations {
    /// Without a trailing slash.
    pub public_url: String,
    /// `CM_SANDBOX=true`: the settings the sandbox made, which its mount shares.
    pub sandbox: Option<Box<IntegrationSettings>>,
    pub webex: Webex,
    pub embedded: EmbeddedApp,
    pub guests: Guests,
    pub connect: Connect,
    pub relay: Relay,
    /// Settings given in part, so their feature is off: said at start-up.
    pub warnings: Vec<String>,
}

/// Webex's REST API and "Sign in with Webex".
#[derive(Debug, Clone)]
pub struct Webex {
    /// `CM_WEBEX_API_URL`: guests, the media cache, sign-in.
    pub api_url: Option<String>,
    /// The OAuth integration, when all of it is set.
    pub sign_in: Option<WebexSignIn>,
}

#[derive(Debug, Clone)]
pub struct WebexSignIn {
    pub authorize_url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

/// Sign-in from inside Webex (Embedded App SDK identity tokens).
#[derive(Debug, Clone)]
pub struct EmbeddedApp {
    pub issuer_hosts: Vec<HostPattern>,
    pub issuer: Option<String>,
    /// Unset: sign-in from inside Webex is off.
    pub audience: Option<String>,
    pub org_ids: Vec<String>,
    pub sdk_url: String,
}

/// How customers become Webex guests.
#[derive(Debug, Clone)]
pub struct Guests {
    pub mode: GuestMode,
    /// The chosen mode's app, when all its settings are given.
    pub app: Option<GuestApp>,
    /// `CM_TOKEN_ENCRYPTION_KEY`, checked: guests' tokens are cached with it.
    pub token_key: Option<Secret>,
}

#[derive(Debug, Clone)]
pub enum GuestApp {
    ServiceApp {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
    },
    GuestIssuer {
        id: String,
        secret: Secret,
    },
}

/// Webex Connect, as both relay modes see it.
#[derive(Debug, Clone)]
pub struct Connect {
    /// `CM_CONNECT_API_URL`: customers' media come from its origin too.
    pub api_url: Option<String>,
    /// The startConversation webhook (Start in Connect mode).
    pub trigger: Option<ConnectTrigger>,
}

#[derive(Debug, Clone)]
pub struct ConnectTrigger {
    pub url: String,
    pub key: Option<Secret>,
}

/// Who runs the conversation workflows, with what that needs.
#[derive(Debug, Clone)]
pub enum Relay {
    /// This server relays: it has Webex (`webex.api_url`, `guests.app`, checked
    /// to be set) and everything below.
    Native(Box<NativeRelay>),
    /// Connect flows do; Start triggers `connect.trigger`.
    Connect,
}

#[derive(Debug, Clone)]
pub struct NativeRelay {
    pub messaging: ConnectMessaging,
    /// On Connect's deliveries to `/webhooks/connect/*`.
    pub inbound_token: Secret,
    /// Connect's hub secret: when set, deliveries must be signed with it.
    pub connect_webhook_secret: Option<Secret>,
    /// Signs the guests' Webex webhooks.
    pub webex_webhook_secret: Secret,
    /// The bot new customers talk to first, when one is configured.
    pub bot: Option<BotSettings>,
}

/// A third-party bot (`CM_BOT_*`).
#[derive(Debug, Clone)]
pub struct BotSettings {
    pub url: String,
    pub access_token: Secret,
    pub callback_token: Secret,
    pub retry_delays: Vec<std::time::Duration>,
}

/// The bot's settings: all or nothing, and only for the native relay (in
/// Connect mode, bots are Connect's own integration).
fn bot_settings(
    s: &IntegrationSettings,
    mode: RelayMode,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<BotSettings> {
    let (url, access, callback) = (
        text(&s.bot_url),
        secret(&s.bot_access_token),
        secret(&s.bot_callback_token),
    );
    let Some(url) = url else {
        if access.is_some() || callback.is_some() {
            warnings.push("the bot is off: CM_BOT_URL not set".into());
        }
        return None;
    };
    if mode == RelayMode::Connect {
        problems.push(
            "CM_BOT_URL is for the native relay: with CM_RELAY_MODE=connect, add the bot in \
             Webex Connect (Integrations > Generic Bot) instead"
                .into(),
        );
        return None;
    }
    if reqwest::Url::parse(&url)
        .map(|u| !matches!(u.scheme(), "http" | "https"))
        .unwrap_or(true)
    {
        problems.push(format!("CM_BOT_URL: {url} is not an http(s) URL"));
    }
    let (Some(access_token), Some(callback_token)) = (access, callback) else {
        problems.push(
            "CM_BOT_URL needs CM_BOT_ACCESS_TOKEN (sent to the bot) and CM_BOT_CALLBACK_TOKEN \
             (the bot's calls to /webhooks/bot must carry it)"
                .into(),
        );
        return None;
    };
    if callback_token.expose().trim().len() < 16 {
        problems.push("CM_BOT_CALLBACK_TOKEN: at least 16 characters".into());
    }
    let retry_delays = match s.bot_retry_seconds.as_deref().map(str::trim) {
        None | Some("") => domain::bot::RETRY_DELAYS.to_vec(),
        Some(list) => match parse_retry_seconds(list) {
            Ok(delays) => delays,
            Err(e) => {
                problems.push(format!("CM_BOT_RETRY_SECONDS: {e}"));
                Vec::new()
            }
        },
    };
    Some(BotSettings {
        url,
        access_token,
        callback_token,
        retry_delays,
    })
}

/// `10,60,300,900`: at most four waits, each at least a second, within an hour.
fn parse_retry_seconds(list: &str) -> Result<Vec<std::time::Duration>, String> {
    let delays = list
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    format!(
                        "{:?} is not a whole number of seconds (at least 1)",
                        n.trim()
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if delays.len() > domain::bot::RETRY_DELAYS.len() {
        return Err(format!("{} retries; at most 4", delays.len()));
    }
    if delays.iter().sum::<std::time::Duration>() >= std::time::Duration::from_secs(3600) {
        return Err("the retries must all fall within an hour".into());
    }
    Ok(delays)
}

/// The Connect Messaging API.
#[derive(Debug, Clone)]
pub struct ConnectMessaging {
    pub api_url: String,
    pub api_key: Secret,
    pub whatsapp_app_id: String,
    pub sms_sender_id: String,
}

/// A setting's text; blank counts as unset.
fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn secret(v: &Option<Secret>) -> Option<Secret> {
    v.as_ref()
        .filter(|s| !s.expose().trim().is_empty())
        .cloned()
}

/// A group of settings that works only whole: all of them, or none (with a
/// warning naming the missing ones when only some are set).
fn whole<T>(
    what: &str,
    given: &[(&str, bool)],
    warnings: &mut Vec<String>,
    make: impl FnOnce() -> Option<T>,
) -> Option<T> {
    let missing: Vec<&str> = given.iter().filter(|(_, s)| !s).map(|(n, _)| *n).collect();
    if missing.is_empty() {
        return make();
    }
    if missing.len() < given.len() {
        warnings.push(format!("{what} is off: {} not set", missing.join(", ")));
    }
    None
}

impl Integrations {
    /// Checks the settings before anything is opened: what is unusable, or
    /// missing for the relay mode, is an error naming the settings.
    /// Returns what start-up should warn about.
    pub fn check(config: &Config) -> Result<Vec<String>, ConfigError> {
        if config.integrations.sandbox {
            return Ok(Vec::new()); // the sandbox's own settings
        }
        let i = Self::resolve(config, &format!("http://{}", config.bind))?;
        // Nothing but masked text may be stored: the agent's copy of a card
        // number waits in the outbox sealed with the tokens' key.
        if matches!(i.relay, Relay::Native(_))
            && !config.pci_mask_for_agent
            && i.guests.token_key.is_none()
        {
            return Err(ConfigError(vec![
                "CM_PCI_MASK_FOR_AGENT=false needs CM_TOKEN_ENCRYPTION_KEY: card numbers for the agent are kept sealed with it until posted".into(),
            ]));
        }
        Ok(i.warnings)
    }

    /// The integrations of these settings; `listen_url` is where this server
    /// listens, the public URL unless `CM_PUBLIC_URL` says otherwise.
    pub fn resolve(config: &Config, listen_url: &str) -> Result<Integrations, ConfigError> {
        let given = &config.integrations;
        let public_url = text(&given.public_url)
            .unwrap_or_else(|| listen_url.to_string())
            .trim_end_matches('/')
            .to_string();
        if !given.sandbox {
            return Self::from_settings(given, config.relay_mode, public_url);
        }
        let sandbox = crate::sandbox_mount::settings(given, &public_url);
        let mut i = Self::from_settings(&sandbox, config.relay_mode, public_url)?;
        i.sandbox = Some(Box::new(sandbox));
        Ok(i)
    }

    fn from_settings(
        s: &IntegrationSettings,
        mode: RelayMode,
        public_url: String,
    ) -> Result<Integrations, ConfigError> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();

        let api_url = text(&s.webex_api_url);
        let (authorize_url, client_id, client_secret) = (
            text(&s.webex_authorize_url),
            text(&s.webex_client_id),
            secret(&s.webex_client_secret),
        );
        let sign_in = whole(
            "Sign in with Webex",
            &[
                ("CM_WEBEX_AUTHORIZE_URL", authorize_url.is_some()),
                ("CM_WEBEX_CLIENT_ID", client_id.is_some()),
                ("CM_WEBEX_CLIENT_SECRET", client_secret.is_some()),
            ],
            &mut warnings,
            || {
                Some(WebexSignIn {
                    authorize_url: authorize_url?,
                    client_id: client_id?,
                    client_secret: client_secret?,
                })
            },
        );

        let issuer_hosts = s
            .embedded_app_issuer_hosts
            .iter()
            .filter_map(|h| match HostPattern::parse(h) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(format!("CM_EMBEDDED_APP_ISSUER_HOSTS: {e}"));
                    None
                }
            })
            .collect();
        if sign_in.is_some() && api_url.is_none() {
            warnings.push("Sign in with Webex is off: CM_WEBEX_API_URL not set".into());
        }
        let embedded = EmbeddedApp {
            issuer_hosts,
            issuer: text(&s.embedded_app_issuer),
            audience: text(&s.embedded_app_audience),
            org_ids: s.embedded_app_org_ids.clone(),
            sdk_url: text(&s.embedded_sdk_url)
                .unwrap_or_else(|| VENDORED_EMBEDDED_SDK_PATH.to_string()),
        };

        let mode_of_guests = s.guest_mode();
        let app = match mode_of_guests {
            GuestMode::ServiceApp => {
                let (id, sec, refresh) = (
                    text(&s.service_app_client_id),
                    secret(&s.service_app_client_secret),
                    secret(&s.service_app_refresh_token),
                );
                whole(
                    "the Service App (guests)",
                    &[
                        ("CM_SERVICE_APP_CLIENT_ID", id.is_some()),
                        ("CM_SERVICE_APP_CLIENT_SECRET", sec.is_some()),
                        ("CM_SERVICE_APP_REFRESH_TOKEN", refresh.is_some()),
                    ],
                    &mut warnings,
                    || {
                        Some(GuestApp::ServiceApp {
                            client_id: id?,
                            client_secret: sec?,
                            refresh_token: refresh?,
                        })
                    },
                )
            }
            GuestMode::GuestIssuer => {
                let (id, sec) = (text(&s.guest_issuer_id), secret(&s.guest_issuer_secret));
                if let (Some(id), Some(sec)) = (&id, &sec) {
                    if let Err(e) = platform::webex::GuestIssuer::new(id, sec.expose()) {
                        problems.push(format!("CM_GUEST_ISSUER_ID / CM_GUEST_ISSUER_SECRET: {e}"));
                    }
                }
                whole(
                    "the Guest Issuer (guests)",
                    &[
                        ("CM_GUEST_ISSUER_ID", id.is_some()),
                        ("CM_GUEST_ISSUER_SECRET", sec.is_some()),
                    ],
                    &mut warnings,
                    || {
                        Some(GuestApp::GuestIssuer {
                            id: id?,
                            secret: sec?,
                        })
                    },
                )
            }
        };
        let token_key = secret(&s.token_encryption_key);
        if let Some(key) = &token_key {
            if let Err(e) = store::token_cipher::TokenCipher::from_base64(key.expose()) {
                problems.push(format!("CM_TOKEN_ENCRYPTION_KEY {e}"));
            }
        }
        let guests = Guests {
            mode: mode_of_guests,
            app,
            token_key,
        };

        let connect_api_url = text(&s.connect_api_url);
        let (trigger_url, trigger_key) =
            (text(&s.connect_webhook_url), secret(&s.connect_webhook_key));
        if trigger_url.is_none() && trigger_key.is_some() {
            warnings.push("CM_CONNECT_WEBHOOK_KEY is set without CM_CONNECT_WEBHOOK_URL".into());
        }
        let trigger = trigger_url.map(|url| ConnectTrigger {
            url,
            key: trigger_key,
        });
        if mode == RelayMode::Connect && trigger.is_none() {
            warnings.push(
                "CM_RELAY_MODE=connect without CM_CONNECT_WEBHOOK_URL: Start conversation \
                 answers that it is not configured"
                    .into(),
            );
        }

        let bot = bot_settings(s, mode, &mut problems, &mut warnings);
        let relay = match mode {
            RelayMode::Connect => Relay::Connect,
            RelayMode::Native => {
                let messaging = (
                    connect_api_url.clone(),
                    secret(&s.connect_api_key),
                    text(&s.connect_whatsapp_app_id),
                    text(&s.connect_sms_sender_id),
                );
                let (inbound_token, webex_webhook_secret) = (
                    secret(&s.connect_inbound_token),
                    secret(&s.webex_webhook_secret),
                );
                let guest_settings: &[(&str, bool)] = match guests.mode {
                    GuestMode::ServiceApp => &[
                        (
                            "CM_SERVICE_APP_CLIENT_ID",
                            text(&s.service_app_client_id).is_some(),
                        ),
                        (
                            "CM_SERVICE_APP_CLIENT_SECRET",
                            secret(&s.service_app_client_secret).is_some(),
                        ),
                        (
                            "CM_SERVICE_APP_REFRESH_TOKEN",
                            secret(&s.service_app_refresh_token).is_some(),
                        ),
                    ],
                    GuestMode::GuestIssuer => &[
                        ("CM_GUEST_ISSUER_ID", text(&s.guest_issuer_id).is_some()),
                        (
                            "CM_GUEST_ISSUER_SECRET",
                            secret(&s.guest_issuer_secret).is_some(),
                        ),
                    ],
                };
                let needed = [
                    ("CM_PUBLIC_URL", text(&s.public_url).is_some()),
                    ("CM_WEBEX_API_URL", api_url.is_some()),
                ]
                .into_iter()
                .chain(guest_settings.iter().copied())
                .chain([
                    ("CM_WEBEX_WEBHOOK_SECRET", webex_webhook_secret.is_some()),
                    ("CM_CONNECT_API_URL", messaging.0.is_some()),
                    ("CM_CONNECT_API_KEY", messaging.1.is_some()),
                    ("CM_CONNECT_INBOUND_TOKEN", inbound_token.is_some()),
                    ("CM_CONNECT_WHATSAPP_APP_ID", messaging.2.is_some()),
                    ("CM_CONNECT_SMS_SENDER_ID", messaging.3.is_some()),
                ]);
                let missing: Vec<&str> = needed.filter(|(_, set)| !set).map(|(n, _)| n).collect();
                if !missing.is_empty() {
                    problems.push(format!(
                        "the native relay (CM_RELAY_MODE=native, the default) needs settings that \
                         are not set: {}. Set them (README: Configuration), or set \
                         CM_RELAY_MODE=connect to let Webex Connect flows run the workflows, or \
                         CM_SANDBOX=true for a local demo",
                        missing.join(", ")
                    ));
                    return Err(ConfigError(problems));
                }
                let native = || {
                    Some(NativeRelay {
                        messaging: ConnectMessaging {
                            api_url: messaging.0?,
                            api_key: messaging.1?,
                            whatsapp_app_id: messaging.2?,
                            sms_sender_id: messaging.3?,
                        },
                        inbound_token: inbound_token?,
                        connect_webhook_secret: secret(&s.connect_webhook_secret),
                        webex_webhook_secret: webex_webhook_secret?,
                        bot,
                    })
                };
                Relay::Native(Box::new(native().expect("every setting checked above")))
            }
        };
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Integrations {
            public_url,
            sandbox: None,
            webex: Webex { api_url, sign_in },
            embedded,
            guests,
            connect: Connect {
                api_url: connect_api_url,
                trigger,
            },
            relay,
            warnings,
        })
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

    fn config(mode: RelayMode, adjust: impl FnOnce(&mut IntegrationSettings)) -> Config {
        let mut c = Config::for_tests("sqlite://unused.db".into());
        c.relay_mode = mode;
        adjust(&mut c.integrations);
        c
    }

    /// Every setting the native relay needs, for a Service App.
    fn native_settings(s: &mut IntegrationSettings) {
        let secret = |v: &str| Some(Secret::new(v));
        s.public_url = Some("https://cm.example.com".into());
        s.webex_api_url = Some("https://webexapis.com/v1".into());
        s.service_app_client_id = Some("C1".into());
        s.service_app_client_secret = secret("s");
        s.service_app_refresh_token = secret("r");
        s.webex_webhook_secret = secret("w");
        s.connect_api_url = Some("https://api.us.webexconnect.io".into());
        s.connect_api_key = secret("k");
        s.connect_inbound_token = secret("t");
        s.connect_whatsapp_app_id = Some("WA1".into());
        s.connect_sms_sender_id = Some("CM".into());
    }

    #[test]
    fn sandbox_points_everything_at_itself_with_fresh_secrets() {
        let c = config(RelayMode::Native, |s| s.sandbox = true);
        let a = Integrations::resolve(&c, "http://127.0.0.1:3000").unwrap();
        let b = Integrations::resolve(&c, "http://127.0.0.1:3000").unwrap();
        assert_eq!(
            a.webex.api_url.as_deref(),
            Some("http://127.0.0.1:3000/sandbox/webex/v1")
        );
        assert_eq!(
            a.connect.trigger.as_ref().map(|t| t.url.as_str()),
            Some("http://127.0.0.1:3000/sandbox/connect/events/CMSTART001")
        );
        let (Relay::Native(na), Relay::Native(nb)) = (&a.relay, &b.relay) else {
            panic!("the sandbox provides the native relay's settings");
        };
        assert_ne!(na.inbound_token, nb.inbound_token, "generated per start");
        assert!(matches!(a.guests.app, Some(GuestApp::ServiceApp { .. })));
        assert!(!format!("{a:?}").contains(na.messaging.api_key.expose()));
    }

    #[test]
    fn the_native_relay_names_every_missing_setting_at_start_up() {
        let c = config(RelayMode::Native, |_| {});
        assert!(
            !c.integrations.sandbox,
            "the sandbox is off unless asked for"
        );
        let err = Integrations::check(&c).unwrap_err().to_string();
        for name in [
            "CM_PUBLIC_URL",
            "CM_WEBEX_API_URL",
            "CM_SERVICE_APP_CLIENT_ID",
            "CM_SERVICE_APP_CLIENT_SECRET",
            "CM_SERVICE_APP_REFRESH_TOKEN",
            "CM_WEBEX_WEBHOOK_SECRET",
            "CM_CONNECT_API_URL",
            "CM_CONNECT_API_KEY",
            "CM_CONNECT_INBOUND_TOKEN",
            "CM_CONNECT_WHATSAPP_APP_ID",
            "CM_CONNECT_SMS_SENDER_ID",
        ] {
            assert!(err.contains(name), "{name}: {err}");
        }
        assert!(err.contains("CM_RELAY_MODE=connect"), "{err}");
        // One missing: named alone.
        let c = config(RelayMode::Native, |s| {
            native_settings(s);
            s.connect_sms_sender_id = Some("  ".into());
        });
        let err = Integrations::check(&c).unwrap_err().to_string();
        assert!(
            err.contains("not set: CM_CONNECT_SMS_SENDER_ID."),
            "a blank value is not set: {err}"
        );
        let c = config(RelayMode::Native, native_settings);
        let i = Integrations::resolve(&c, "http://127.0.0.1:3000").unwrap();
        let Relay::Native(native) = &i.relay else {
            panic!("native");
        };
        assert_eq!(native.messaging.sms_sender_id, "CM");
        assert_eq!(i.public_url, "https://cm.example.com");
        // Connect mode needs none of them; Start without its webhook is said at start-up.
        let c = config(RelayMode::Connect, |_| {});
        let warnings = Integrations::check(&c).unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("CM_CONNECT_WEBHOOK_URL")),
            "{warnings:?}"
        );
    }

    #[test]
    fn agents_read_card_numbers_only_with_a_key_to_seal_them() {
        let mut c = config(RelayMode::Native, native_settings);
        c.pci_mask_for_agent = false;
        let err = Integrations::check(&c).unwrap_err().to_string();
        assert!(
            err.contains("CM_PCI_MASK_FOR_AGENT=false needs CM_TOKEN_ENCRYPTION_KEY"),
            "{err}"
        );
        c.integrations.token_encryption_key =
            Some(Secret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        assert!(Integrations::check(&c).is_ok());
    }

    #[test]
    fn unusable_values_stop_the_start_naming_the_setting() {
        let c = config(RelayMode::Connect, |s| {
            s.token_encryption_key = Some(Secret::new("not base64!"));
            s.embedded_app_issuer_hosts = vec!["http://x".into()];
        });
        let err = Integrations::check(&c).unwrap_err().to_string();
        assert!(err.contains("CM_TOKEN_ENCRYPTION_KEY"), "{err}");
        assert!(err.contains("CM_EMBEDDED_APP_ISSUER_HOSTS"), "{err}");
        let c = config(RelayMode::Connect, |s| {
            s.webex_guests = Some(GuestMode::GuestIssuer);
            s.guest_issuer_id = Some("Y2lzY29".into());
            s.guest_issuer_secret = Some(Secret::new("%%%"));
        });
        let err = Integrations::check(&c).unwrap_err().to_string();
        assert!(err.contains("CM_GUEST_ISSUER_SECRET"), "{err}");
    }

    #[test]
    fn a_group_given_in_part_is_off_and_said_so() {
        let c = config(RelayMode::Connect, |s| {
            s.webex_api_url = Some("https://webexapis.com/v1".into());
            s.webex_client_id = Some("C1".into());
            s.connect_webhook_url = Some("https://hooks.us.webexconnect.io/events/X".into());
        });
        let i = Integrations::resolve(&c, "http://127.0.0.1:3000").unwrap();
        assert!(i.webex.sign_in.is_none());
        assert!(
            i.warnings
                .iter()
                .any(|w| w.contains("Sign in with Webex is off")
                    && w.contains("CM_WEBEX_CLIENT_SECRET")
                    && w.contains("CM_WEBEX_AUTHORIZE_URL")),
            "{:?}",
            i.warnings
        );
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
        let c = config(RelayMode::Native, |s| {
            s.webex_guests = Some(GuestMode::GuestIssuer)
        });
        let err = Integrations::check(&c).unwrap_err().to_string();
        assert!(err.contains("CM_GUEST_ISSUER_SECRET"), "{err}");
        assert!(!err.contains("CM_SERVICE_APP_CLIENT_ID"), "{err}");
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
        let c = config(RelayMode::Connect, |s| {
            s.connect_webhook_url =
                Some("https://hooks.us.webexconnect.io/events/ABCDEFGHIJ".into());
            s.public_url = Some("https://cm.example.com/".into());
        });
        let i = Integrations::resolve(&c, "http://127.0.0.1:3000").unwrap();
        assert!(i.sandbox.is_none());
        assert_eq!(i.public_url, "https://cm.example.com");
        assert_eq!(i.webex.api_url, None);
        assert_eq!(
            i.connect.trigger.as_ref().map(|t| t.url.as_str()),
            Some("https://hooks.us.webexconnect.io/events/ABCDEFGHIJ")
        );
        assert_eq!(i.embedded.sdk_url, VENDORED_EMBEDDED_SDK_PATH);
    }
}
