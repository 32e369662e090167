//! Settings, from flags, environment variables and an optional TOML file
//! (in that order of precedence). Every setting is listed in the README.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::integrations::IntegrationSettings;
use domain::phone::PhoneRegion;

/// Who runs the conversation workflows (`CM_RELAY_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RelayMode {
    /// This server relays between Webex and Connect (it needs both platforms' settings).
    Native,
    /// Webex Connect flows run the workflows and call the REST API; the
    /// Start buttons trigger the Connect webhook.
    Connect,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database: `sqlite://PATH` (file created if absent) or `postgres://...`.
    /// May also be read from the file named by `DATABASE_URL_FILE`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/contact-manager.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Address and port to listen on.
    #[arg(long, env = "CM_BIND", default_value = "127.0.0.1:3000", global = true)]
    pub bind: SocketAddr,

    /// Region for phone numbers written without a country code (ISO 3166 alpha-2).
    #[arg(long, env = "CM_PHONE_REGION", default_value = "GB", global = true)]
    pub phone_region: PhoneRegion,

    /// Largest accepted request body, in bytes.
    #[arg(
        long,
        env = "CM_MAX_BODY_BYTES",
        default_value_t = 1_048_576,
        global = true
    )]
    pub max_body_bytes: usize,

    /// Where the built web assets are (the `pkg/` bundle, favicon).
    #[arg(
        long,
        env = "CM_SITE_ROOT",
        default_value = "target/site",
        global = true
    )]
    pub site_root: PathBuf,

    /// Log format: `text` or `json`. The level comes from `RUST_LOG` (default `info`).
    #[arg(long, env = "CM_LOG_FORMAT", default_value = "text", global = true, value_parser = ["text", "json"])]
    pub log_format: String,

    /// Seconds to let in-flight requests finish after SIGTERM.
    #[arg(
        long,
        env = "CM_SHUTDOWN_GRACE_SECS",
        default_value_t = 20,
        global = true
    )]
    pub shutdown_grace_secs: u64,

    /// Minutes without activity after which a browser session ends.
    #[arg(
        long,
        env = "CM_SESSION_IDLE_MINUTES",
        default_value_t = 60,
        global = true
    )]
    pub session_idle_minutes: u64,

    /// Hours after which a browser session ends however active it is.
    #[arg(
        long,
        env = "CM_SESSION_MAX_HOURS",
        default_value_t = 12,
        global = true
    )]
    pub session_max_hours: u64,

    /// Seconds to wait for Webex Connect to accept a startConversation trigger.
    #[arg(
        long,
        env = "CM_CONNECT_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub connect_timeout_secs: u64,

    /// Who runs the conversation workflows: `native` (this server relays) or
    /// `connect` (Webex Connect flows; the Start buttons trigger the Connect webhook).
    #[arg(long, env = "CM_RELAY_MODE", value_enum, default_value_t = RelayMode::Native, global = true)]
    pub relay_mode: RelayMode,

    /// Native relay: the text sent with a file when a message has only the
    /// file (both ways: SMS, MMS and WhatsApp need some text; agents see it too).
    #[arg(
        long,
        env = "CM_RELAY_ATTACHMENT_TEXT",
        default_value = "Sent an attachment.",
        global = true
    )]
    pub relay_attachment_text: String,

    /// Native relay: the id of the approved WhatsApp template sent when the
    /// customer last wrote more than 24 hours ago. Unset: such messages are
    /// not sent and the agent is told why.
    #[arg(long, env = "CM_WHATSAPP_TEMPLATE_ID", global = true)]
    pub whatsapp_template_id: Option<String>,

    /// Native relay: the language the template was registered in.
    #[arg(
        long,
        env = "CM_WHATSAPP_TEMPLATE_LANGUAGE",
        default_value = "en",
        global = true
    )]
    pub whatsapp_template_language: String,

    /// Native relay: every variable of the template, `name=source` separated
    /// by commas, each source `customer_name`, `agent_name` or `text:FIXED`.
    #[arg(
        long,
        env = "CM_WHATSAPP_TEMPLATE_VARIABLES",
        default_value = "variable1=customer_name,variable2=agent_name",
        value_parser = platform::connect::TemplateVariables::parse,
        global = true
    )]
    pub whatsapp_template_variables: platform::connect::TemplateVariables,

    /// Seconds a cached media file (`/media/...`) is served after it was fetched from Webex.
    #[arg(
        long,
        env = "CM_MEDIA_TTL_SECONDS",
        default_value_t = 604_800,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub media_ttl_seconds: u64,

    /// Largest file fetched from Webex into the media cache, in bytes (Webex's limit is 100 MB).
    #[arg(
        long,
        env = "CM_MEDIA_MAX_BYTES",
        default_value_t = 104_857_600,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub media_max_bytes: u64,

    /// Seconds to wait for Webex's malware scan (423) before answering "try again later".
    #[arg(
        long,
        env = "CM_MEDIA_SCAN_WAIT_SECONDS",
        default_value_t = 30,
        global = true
    )]
    pub media_scan_wait_seconds: u64,

    /// Who may show the app in a frame (CSP `frame-ancestors`, besides this
    /// site): the Webex App's origins, space- or comma-separated.
    #[arg(
        long,
        env = "CM_FRAME_ANCESTORS",
        default_value = "https://*.webex.com",
        global = true
    )]
    pub frame_ancestors: String,

    /// Seconds a request may take before it is answered 408 (streamed
    /// downloads are exempt once their headers are sent).
    #[arg(
        long,
        env = "CM_REQUEST_TIMEOUT_SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Sign-in attempts per minute from one address (password, Webex, Embedded App).
    #[arg(
        long,
        env = "CM_SIGN_IN_PER_MINUTE",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub sign_in_per_minute: u32,

    /// Password sign-in attempts per minute for one account, from any address.
    #[arg(
        long,
        env = "CM_SIGN_IN_PER_ACCOUNT_PER_MINUTE",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub sign_in_per_account_per_minute: u32,

    /// Requests refused for a bad API key or webhook token per minute from
    /// one address before the address is refused outright (429) for a while.
    #[arg(
        long,
        env = "CM_BAD_CREDENTIALS_PER_MINUTE",
        default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub bad_credentials_per_minute: u32,

    /// Behind a reverse proxy: the header it sets to the client's address
    /// (e.g. `X-Forwarded-For`; its last entry is used). Unset: the TCP peer.
    /// Set it only when the proxy always sets the header, or clients could
    /// forge their address.
    #[arg(long, env = "CM_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<String>,

    /// Hours that the ids of received webhooks are kept to recognise
    /// redeliveries (Connect retries for minutes, Webex for about an hour).
    #[arg(
        long,
        env = "CM_DEDUP_RETENTION_HOURS",
        default_value_t = 72,
        value_parser = clap::value_parser!(u64).range(2..),
        global = true
    )]
    pub dedup_retention_hours: u64,

    /// Seconds between checks of the guests' Webex webhooks (native relay): an
    /// inactive one is turned back on, a missing one created again. They are
    /// also checked at start-up and soon after a Webex delivery we could not accept.
    #[arg(
        long,
        env = "CM_WEBHOOK_CHECK_SECONDS",
        default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(10..),
        global = true
    )]
    pub webhook_check_seconds: u64,
    /// Media transfers at once (downloads into the media cache and out of
    /// `/media`); over it `/media` answers 503 with `Retry-After`.
    #[arg(
        long,
        env = "CM_MEDIA_MAX_CONCURRENT",
        default_value_t = 8,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub media_max_concurrent: u64,

    /// Further https hosts Webex files may be fetched from, comma-separated
    /// (`host` or `*.domain`); the host of the Webex API URL is always allowed.
    #[arg(
        long,
        env = "CM_FETCH_ALLOWED_HOSTS_WEBEX",
        value_delimiter = ',',
        global = true
    )]
    pub fetch_allowed_hosts_webex: Vec<String>,

    /// https hosts customer media (WhatsApp and MMS files, MMS text parts)
    /// may be fetched from or handed to Webex from, comma-separated (`host`
    /// or `*.domain`); the host of the Connect API URL is always allowed.
    #[arg(
        long,
        env = "CM_FETCH_ALLOWED_HOSTS_CONNECT",
        value_delimiter = ',',
        default_value = "*.webexconnect.io,*.imiconnect.io,*.imiconnect.eu",
        global = true
    )]
    pub fetch_allowed_hosts_connect: Vec<String>,

    /// Seconds to open a connection for a fetch of a URL from outside (files, MMS text parts).
    #[arg(
        long,
        env = "CM_FETCH_CONNECT_TIMEOUT_SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub fetch_connect_timeout_secs: u64,

    /// Seconds a fetch of a URL from outside may take in all, body included.
    #[arg(
        long,
        env = "CM_FETCH_TIMEOUT_SECS",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub fetch_timeout_secs: u64,

    #[command(flatten)]
    pub integrations: IntegrationSettings,
}

impl Config {
    /// Settings for a test server: an ephemeral port and the given database.
    pub fn for_tests(database_url: String) -> Config {
        Config {
            database_url,
            bind: "127.0.0.1:0".parse().expect("literal address"),
            phone_region: PhoneRegion::default(),
            max_body_bytes: 64 * 1024,
            site_root: PathBuf::from("target/site"),
            log_format: "text".into(),
            shutdown_grace_secs: 5,
            session_idle_minutes: 60,
            session_max_hours: 12,
            connect_timeout_secs: 3,
            relay_mode: RelayMode::Connect,
            relay_attachment_text: "Sent an attachment.".into(),
            whatsapp_template_id: None,
            whatsapp_template_language: "en".into(),
            whatsapp_template_variables: platform::connect::TemplateVariables::parse(
                "variable1=customer_name,variable2=agent_name",
            )
            .expect("the default parses"),
            media_ttl_seconds: 604_800,
            media_max_bytes: 104_857_600,
            media_scan_wait_seconds: 30,
            frame_ancestors: "https://*.webex.com".into(),
            request_timeout_secs: 60,
            sign_in_per_minute: 1000,
            sign_in_per_account_per_minute: 1000,
            bad_credentials_per_minute: 1000,
            client_ip_header: None,
            dedup_retention_hours: 72,
            webhook_check_seconds: 900,
            media_max_concurrent: 8,
            fetch_allowed_hosts_webex: Vec::new(),
            fetch_allowed_hosts_connect: Vec::new(),
            fetch_connect_timeout_secs: 10,
            fetch_timeout_secs: 300,
            integrations: IntegrationSettings {
                public_url: None,
                sandbox: false,
                webex_api_url: None,
                webex_client_id: None,
                webex_client_secret: None,
                webex_authorize_url: None,
                embedded_app_issuer_hosts: vec!["*.webex.com".into()],
                embedded_app_issuer: None,
                embedded_app_audience: None,
                embedded_app_org_ids: Vec::new(),
                embedded_sdk_url: None,
                webex_guests: None,
                service_app_client_id: None,
                service_app_client_secret: None,
                service_app_refresh_token: None,
                guest_issuer_id: None,
                guest_issuer_secret: None,
                connect_api_url: None,
                connect_api_key: None,
                connect_webhook_url: None,
                connect_webhook_key: None,
                webex_webhook_secret: None,
                connect_whatsapp_app_id: None,
                connect_sms_sender_id: None,
                connect_inbound_token: None,
                connect_webhook_secret: None,
                token_encryption_key: None,
            },
        }
    }

    /// Timeouts of every fetch of a URL from outside.
    pub fn fetch_limits(&self) -> platform::fetch::FetchLimits {
        platform::fetch::FetchLimits {
            connect_timeout: std::time::Duration::from_secs(self.fetch_connect_timeout_secs),
            total_timeout: std::time::Duration::from_secs(self.fetch_timeout_secs),
            ..Default::default()
        }
    }

    /// The database URL with any password replaced, safe to log.
    pub fn database_url_redacted(&self) -> String {
        redact_url_password(&self.database_url)
    }
}

fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Loads `KEY = "value"` pairs from the TOML file named by `--config` or
/// `CM_CONFIG` into the environment, without overriding variables already
/// set; then reads `*_FILE` secrets. Runs before the command line is parsed.
pub fn load_file_and_secret_env(args: &[String]) -> Result<(), String> {
    let from_args = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--config=").map(str::to_string))
        });
    if let Some(path) = from_args.or_else(|| std::env::var("CM_CONFIG").ok()) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read config file {path}: {e}"))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| format!("config file {path}: {e}"))?;
        for (key, value) in table {
            let name = key.to_ascii_uppercase();
            let value = match value {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            if std::env::var_os(&name).is_none() {
                // SAFETY: called at start-up before any other thread exists.
                unsafe { std::env::set_var(&name, value) };
            }
        }
    }
    let secrets =
        std::iter::once("DATABASE_URL").chain(crate::integrations::SECRET_SETTINGS.iter().copied());
    for secret in secrets {
        let file_var = format!("{secret}_FILE");
        if let (None, Some(path)) = (std::env::var_os(secret), std::env::var_os(&file_var)) {
            let value = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "cannot read {file_var} ({}): {e}",
                    PathBuf::from(&path).display()
                )
            })?;
            // SAFETY: as above, single-threaded start-up.
            unsafe { std::env::set_var(secret, value.trim()) };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_host_lists_are_comma_separated_and_the_defaults_are_valid() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            c: Config,
        }
        let defaults = Cli::parse_from(["x"]).c;
        assert_eq!(
            defaults.fetch_allowed_hosts_connect,
            ["*.webexconnect.io", "*.imiconnect.io", "*.imiconnect.eu"]
        );
        assert!(defaults.fetch_allowed_hosts_webex.is_empty());
        platform::fetch::FetchRules::new("Connect", None, &defaults.fetch_allowed_hosts_connect)
            .unwrap();
        let set = Cli::parse_from([
            "x",
            "--fetch-allowed-hosts-webex",
            "files.example.com,*.cdn.example.com",
        ])
        .c;
        assert_eq!(
            set.fetch_allowed_hosts_webex,
            ["files.example.com", "*.cdn.example.com"]
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://app:s3cret@db:5432/cm"),
            "postgres://app:***@db:5432/cm"
        );
        assert_eq!(
            redact_url_password("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
        assert_eq!(
            redact_url_password("postgres://app@db/cm"),
            "postgres://app@db/cm"
        );
    }
}
