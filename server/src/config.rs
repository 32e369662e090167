//! Settings, layered: defaults < TOML file (`--config`/`CM_CONFIG`) <
//! environment < flags. Each layer is read into figment as it is and nothing
//! is written into the process environment, so a test or a second command
//! reads its own settings. `NAME_FILE` gives a secret from a file, at the
//! precedence of the layer that names it. Every setting is in the README.

use clap::{ArgMatches, Args};
use figment::providers::Format;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::integrations::{IntegrationSettings, SECRET_SETTINGS};
use domain::phone::PhoneRegion;

/// Who runs the conversation workflows (`CM_RELAY_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RelayMode {
    /// This server relays between Webex and Connect (it needs both platforms' settings).
    Native,
    /// Webex Connect flows run the workflows and call the REST API; the
    /// Start buttons trigger the Connect webhook.
    Connect,
}

/// Log lines as text or JSON (`CM_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting but the integrations': a flag each, and an environment
/// variable named after it (`--bind`: `CM_BIND`; `--database-url`:
/// `DATABASE_URL`). The flag's default is the setting's default.
#[derive(Debug, Clone, Args, Deserialize)]
pub struct Config {
    /// Database: `sqlite://PATH` (file created if absent) or `postgres://...`.
    /// May also be read from the file named by `DATABASE_URL_FILE`.
    #[arg(
        long,
        default_value = "sqlite://data/contact-manager.db",
        global = true
    )]
    pub database_url: String,

    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", global = true)]
    pub bind: SocketAddr,

    /// Region for phone numbers written without a country code (ISO 3166 alpha-2).
    #[arg(long, default_value = "GB", global = true)]
    #[serde(deserialize_with = "parsed")]
    pub phone_region: PhoneRegion,

    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 1_048_576, global = true)]
    pub max_body_bytes: usize,

    /// Where the built web assets are (the `pkg/` bundle, favicon).
    #[arg(long, default_value = "target/site", global = true)]
    pub site_root: PathBuf,

    /// Log format: `text` or `json`. The level comes from `RUST_LOG` (default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Seconds to let in-flight requests finish after SIGTERM.
    #[arg(long, default_value_t = 20, global = true)]
    pub shutdown_grace_secs: u64,

    /// Minutes without activity after which a browser session ends.
    #[arg(long, default_value_t = 60, global = true)]
    pub session_idle_minutes: u64,

    /// Hours after which a browser session ends however active it is.
    #[arg(long, default_value_t = 12, global = true)]
    pub session_max_hours: u64,

    /// Seconds to wait for Webex Connect to accept a startConversation trigger.
    #[arg(long, default_value_t = 10, global = true)]
    pub connect_timeout_secs: u64,

    /// Who runs the conversation workflows: `native` (this server relays) or
    /// `connect` (Webex Connect flows; the Start buttons trigger the Connect webhook).
    #[arg(long, value_enum, default_value_t = RelayMode::Native, global = true)]
    pub relay_mode: RelayMode,

    /// Native relay: the text sent with a file when a message has only the
    /// file (both ways: SMS, MMS and WhatsApp need some text; agents see it too).
    #[arg(long, default_value = "Sent an attachment.", global = true)]
    pub relay_attachment_text: String,

    /// The WhatsApp business number customers write to (E.164), for the
    /// agents' click-to-chat links and QR codes. Unset: the links page says so.
    #[arg(long, global = true)]
    pub whatsapp_business_number: Option<String>,

    /// The number customers send SMS to (E.164), for the agents' SMS links
    /// and QR codes. Unset: the links page says so.
    #[arg(long, global = true)]
    pub sms_number: Option<String>,

    /// Card numbers customers write are always masked in the transcript, the
    /// outbox, the audit log and the logs; with this on (the default) the
    /// agent's Webex space gets the masked text too. Off: the agent reads
    /// the number as written (kept sealed with `CM_TOKEN_ENCRYPTION_KEY`
    /// until it is posted, so it needs that key).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub pci_mask_for_agent: bool,

    /// Tell a customer, once per session, that card numbers are not accepted
    /// here, the first time they send one.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub pci_warn_customer: bool,

    /// Native relay: the approved WhatsApp templates agents choose from when
    /// starting a conversation whose 24-hour window is closed; the first is
    /// also sent when an agent writes outside the window without a choice.
    /// A path to a JSON or TOML file (`.toml`), or the JSON itself.
    /// Replaces the three `whatsapp_template_*` settings (one template).
    #[arg(long, global = true)]
    pub whatsapp_templates: Option<String>,

    /// Native relay: the id of the approved WhatsApp template sent when the
    /// customer last wrote more than 24 hours ago (one template; see
    /// `whatsapp_templates` for several). Unset: such messages are not sent
    /// and the agent is told why.
    #[arg(long, global = true)]
    pub whatsapp_template_id: Option<String>,

    /// Native relay: the language the template was registered in.
    #[arg(long, default_value = "en", global = true)]
    pub whatsapp_template_language: String,

    /// Native relay: every variable of the template, `name=source` separated
    /// by commas, each source `customer_name`, `agent_name` or `text:FIXED`.
    #[arg(
        long,
        default_value = "variable1=customer_name,variable2=agent_name",
        value_parser = platform::connect::TemplateVariables::parse,
        global = true
    )]
    #[serde(deserialize_with = "template_variables")]
    pub whatsapp_template_variables: platform::connect::TemplateVariables,

    /// Seconds a cached media file (`/media/...`) is served after it was fetched from Webex.
    #[arg(long, default_value_t = 604_800, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub media_ttl_seconds: u64,

    /// Largest file fetched from Webex into the media cache, in bytes (Webex's limit is 100 MB).
    #[arg(long, default_value_t = 104_857_600, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub media_max_bytes: u64,

    /// Seconds to wait for Webex's malware scan (423) before answering "try again later".
    #[arg(long, default_value_t = 30, global = true)]
    pub media_scan_wait_seconds: u64,

    /// Who may show the app in a frame (CSP `frame-ancestors`, besides this
    /// site): the Webex App's origins, space- or comma-separated.
    #[arg(long, default_value = "https://*.webex.com", global = true)]
    pub frame_ancestors: String,

    /// Seconds a request may take before it is answered 408 (streamed
    /// downloads are exempt once their headers are sent).
    #[arg(long, default_value_t = 60, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub request_timeout_secs: u64,

    /// Sign-in attempts per minute from one address (password, Webex, Embedded App).
    #[arg(long, default_value_t = 20, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub sign_in_per_minute: u32,

    /// Password sign-in attempts per minute for one account, from any address.
    #[arg(long, default_value_t = 10, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub sign_in_per_account_per_minute: u32,

    /// Requests refused for a bad API key or webhook token per minute from
    /// one address before the address is refused outright (429) for a while.
    #[arg(long, default_value_t = 30, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub bad_credentials_per_minute: u32,

    /// Behind a reverse proxy: the header it sets to the client's address
    /// (e.g. `X-Forwarded-For`; its last entry is used). Unset: the TCP peer.
    /// Set it only when the proxy always sets the header, or clients could
    /// forge their address.
    #[arg(long, global = true)]
    pub client_ip_header: Option<String>,

    /// Hours that the ids of received webhooks are kept to recognise
    /// redeliveries (Connect retries for minutes, Webex for about an hour).
    #[arg(long, default_value_t = 72, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 2>")]
    pub dedup_retention_hours: u64,

    /// Days transcript lines are kept (and finished outbox jobs, whose
    /// payloads carry the same texts); older ones are deleted by the
    /// housekeeping task. 0 keeps them for ever.
    #[arg(long, default_value_t = 0, global = true)]
    pub transcript_retention_days: u32,

    /// Days cached media files are kept, however long their link
    /// (`media_ttl_seconds`) would still serve them. 0: until the link expires.
    #[arg(long, default_value_t = 0, global = true)]
    pub media_retention_days: u32,

    /// Seconds between checks of the guests' Webex webhooks (native relay): an
    /// inactive one is turned back on, a missing one created again. They are
    /// also checked at start-up and soon after a Webex delivery we could not accept.
    #[arg(long, default_value_t = 900, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 10>")]
    pub webhook_check_seconds: u64,

    /// Hours a conversation (native relay) may go without a message either
    /// way before it ends: the customer is told how to start again, the
    /// agent gets a notice in the space. Checked every 5 minutes.
    #[arg(long, default_value_t = 24, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub conversation_idle_hours: u64,

    /// The language the relay writes to customers in (dialogue, "ended",
    /// opt-out and card-number lines) when their contact has none set: `en`
    /// or `es` (relay/locales).
    #[arg(long, default_value = "en", global = true)]
    #[serde(deserialize_with = "parsed")]
    pub customer_language: domain::Language,

    /// Bearer token Prometheus must send to read `/metrics` (`Authorization:
    /// Bearer ...`). Unset: `/metrics` is off (404). Secret: at least 16 characters.
    #[arg(long, global = true)]
    pub metrics_token: Option<crate::integrations::Secret>,
    /// Media transfers at once (downloads into the media cache and out of
    /// `/media`); over it `/media` answers 503 with `Retry-After`.
    #[arg(long, default_value_t = 8, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub media_max_concurrent: u64,

    /// Further https hosts Webex files may be fetched from, comma-separated
    /// (`host` or `*.domain`); the host of the Webex API URL is always allowed.
    #[arg(long, value_delimiter = ',', global = true)]
    #[serde(deserialize_with = "comma_list", default)]
    pub fetch_allowed_hosts_webex: Vec<String>,

    /// https hosts customer media (WhatsApp and MMS files, MMS text parts)
    /// may be fetched from or handed to Webex from, comma-separated (`host`
    /// or `*.domain`); the host of the Connect API URL is always allowed.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "*.webexconnect.io,*.imiconnect.io,*.imiconnect.eu",
        global = true
    )]
    #[serde(deserialize_with = "comma_list")]
    pub fetch_allowed_hosts_connect: Vec<String>,

    /// Seconds to open a connection for a fetch of a URL from outside (files, MMS text parts).
    #[arg(long, default_value_t = 10, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub fetch_connect_timeout_secs: u64,

    /// Seconds a fetch of a URL from outside may take in all, body included.
    #[arg(long, default_value_t = 300, global = true)]
    #[serde(deserialize_with = "at_least::<_, _, 1>")]
    pub fetch_timeout_secs: u64,

    /// `RUST_LOG` given in the file (the environment's wins).
    #[arg(skip)]
    pub rust_log: Option<String>,

    /// Read from the same layers (see [`IntegrationSettings`]).
    #[command(flatten)]
    #[serde(skip)]
    pub integrations: IntegrationSettings,
}

impl Config {
    /// Reads the layers, weakest first. A bad value is reported naming its
    /// setting and the layer it came from.
    pub fn load(sources: Sources) -> Result<Loaded, ConfigError> {
        let mut warnings = Vec::new();
        let mut problems = Vec::new();
        let mut figment = Figment::new().merge(Layer::with("the defaults", defaults()));
        if let Some(path) = &sources.file {
            match file_layer(path, &mut warnings) {
                Ok(layer) => figment = figment.merge(layer),
                Err(e) => problems.push(e),
            }
        }
        match env_layer(&sources.env, &mut warnings) {
            Ok(layer) => figment = figment.merge(layer),
            Err(e) => problems.extend(e),
        }
        figment = figment.merge(Layer::with("the command line", sources.flags));
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        let config = figment.extract_lossy::<Config>();
        let integrations = figment.extract_lossy::<IntegrationSettings>();
        match (config, integrations) {
            (Ok(mut config), Ok(integrations)) => {
                config.integrations = integrations;
                Ok(Loaded { config, warnings })
            }
            (config, integrations) => {
                let errors = config.err().into_iter().chain(integrations.err());
                Err(ConfigError(errors.flat_map(describe).collect()))
            }
        }
    }

    /// Settings for a test server: an ephemeral port, the given database,
    /// generous rate limits; the rest are the defaults, read as `serve` reads them.
    pub fn for_tests(database_url: String) -> Config {
        let overrides = [
            ("database_url", database_url.as_str()),
            ("bind", "127.0.0.1:0"),
            ("max_body_bytes", "65536"),
            ("shutdown_grace_secs", "5"),
            ("connect_timeout_secs", "3"),
            ("relay_mode", "connect"),
            ("sign_in_per_minute", "1000"),
            ("sign_in_per_account_per_minute", "1000"),
            ("bad_credentials_per_minute", "1000"),
            ("fetch_allowed_hosts_connect", ""),
        ];
        let sources = Sources {
            flags: overrides
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Sources::default()
        };
        Config::load(sources)
            .expect("the test settings are valid")
            .config
    }

    /// Timeouts of every fetch of a URL from outside.
    pub fn fetch_limits(&self) -> platform::fetch::FetchLimits {
        platform::fetch::FetchLimits {
            connect_timeout: std::time::Duration::from_secs(self.fetch_connect_timeout_secs),
            total_timeout: std::time::Duration::from_secs(self.fetch_timeout_secs),
            ..Default::default()
        }
    }

    /// Sign-in and bad-credential limits.
    pub fn sign_in_limits(&self) -> crate::throttle::Limits {
        crate::throttle::Limits {
            sign_in_per_minute: self.sign_in_per_minute,
            sign_in_per_account_per_minute: self.sign_in_per_account_per_minute,
            bad_credentials_per_minute: self.bad_credentials_per_minute,
        }
    }

    /// The media cache's limits.
    pub fn media(&self) -> relay::media::MediaSettings {
        use std::time::Duration;
        relay::media::MediaSettings {
            ttl: Duration::from_secs(self.media_ttl_seconds),
            max_bytes: self.media_max_bytes,
            scan_wait: Duration::from_secs(self.media_scan_wait_seconds),
            max_concurrent: self.media_max_concurrent as usize,
        }
    }

    /// The numbers of the agents' links, read in `phone_region`; the
    /// sandbox's demo numbers when it is on and none is set. A number that
    /// is set but invalid is an error (the server does not start).
    pub fn business_numbers(&self) -> Result<domain::agent_links::BusinessNumbers, String> {
        let sandbox = self.integrations.sandbox;
        let number = |name: &str, given: &Option<String>, demo: &str| {
            let given = given.as_deref().map(str::trim).filter(|v| !v.is_empty());
            match given.or(sandbox.then_some(demo)) {
                Some(v) => domain::Msisdn::parse(v, self.phone_region)
                    .map(Ok)
                    .map_err(|e| format!("{name}: {e}")),
                None => Ok(Err(format!("{name} is not set"))),
            }
        };
        Ok(domain::agent_links::BusinessNumbers {
            whatsapp: number(
                "CM_WHATSAPP_BUSINESS_NUMBER",
                &self.whatsapp_business_number,
                "+447700900100",
            )?,
            sms: number("CM_SMS_NUMBER", &self.sms_number, "+447700900200")?,
        })
    }

    /// The WhatsApp templates: `CM_WHATSAPP_TEMPLATES` (a file or inline
    /// JSON), else the one of `CM_WHATSAPP_TEMPLATE_ID` with its language
    /// and variables, else none. An error says which setting, which
    /// template, which variable and why (the server does not start).
    pub fn whatsapp_templates(&self) -> Result<domain::templates::WhatsappTemplates, String> {
        use domain::templates::{WhatsappTemplate, WhatsappTemplates};
        let listed = self
            .whatsapp_templates
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let single = self
            .whatsapp_template_id
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match (listed, single) {
            (Some(_), Some(_)) => Err("CM_WHATSAPP_TEMPLATES and CM_WHATSAPP_TEMPLATE_ID are both set: use one (CM_WHATSAPP_TEMPLATES lists every template)".into()),
            (Some(listed), None) => {
                let specs = read_template_specs(listed)?;
                if specs.is_empty() {
                    return Err("CM_WHATSAPP_TEMPLATES lists no template (leave it unset for none)".into());
                }
                WhatsappTemplates::from_specs("CM_WHATSAPP_TEMPLATES", specs)
            }
            (None, Some(id)) => WhatsappTemplates::new(
                "CM_WHATSAPP_TEMPLATE_ID",
                vec![WhatsappTemplate {
                    id: id.to_string(),
                    label: id.to_string(),
                    language: self.whatsapp_template_language.clone(),
                    preview: None,
                    variables: self.whatsapp_template_variables.clone(),
                }],
            ),
            (None, None) => Ok(WhatsappTemplates::default()),
        }
    }

    /// How long transcripts and media are kept.
    pub fn retention(&self) -> domain::privacy::Retention {
        domain::privacy::Retention::from_days(
            self.transcript_retention_days,
            self.media_retention_days,
        )
    }

    /// The database URL with any password replaced, safe to log.
    pub fn database_url_redacted(&self) -> String {
        redact_url_password(&self.database_url)
    }
}

/// What [`Config::load`] reads, besides the defaults.
#[derive(Debug, Default)]
pub struct Sources {
    /// The TOML file (`--config` / `CM_CONFIG`).
    pub file: Option<PathBuf>,
    /// Environment variables (name, value).
    pub env: Vec<(String, String)>,
    /// Settings given as flags: setting key (`bind`) to the value as typed.
    pub flags: BTreeMap<String, String>,
}

impl Sources {
    /// This process's: the file, the environment, the flags actually given
    /// (not clap's defaults).
    pub fn of_process(file: Option<PathBuf>, matches: &ArgMatches) -> Sources {
        let env = figment::providers::Env::raw()
            .lowercase(false)
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v))
            .collect();
        Sources {
            file,
            env,
            flags: given_flags(matches),
        }
    }
}

/// The settings, and what was odd about them (said once logging is set up).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Settings that cannot be used, one line each.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for ConfigError {}

/// The environment variable (and file key) of a setting: `CM_` and the key
/// in capitals, but `DATABASE_URL` and `RUST_LOG` as everyone knows them.
pub fn setting_name(key: &str) -> String {
    match key {
        "database_url" | "rust_log" => key.to_ascii_uppercase(),
        _ => format!("CM_{}", key.to_ascii_uppercase()),
    }
}

/// Every setting that has a flag, with its default.
fn setting_args() -> Vec<clap::Arg> {
    Config::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .cloned()
        .collect()
}

/// Setting keys by name (`CM_BIND` → `bind`), the flagless `RUST_LOG` too.
fn keys_by_name() -> BTreeMap<String, String> {
    setting_args()
        .iter()
        .map(|a| a.get_id().as_str().to_string())
        .chain(["rust_log".to_string()])
        .map(|key| (setting_name(&key), key))
        .collect()
}

fn defaults() -> BTreeMap<String, String> {
    setting_args()
        .iter()
        .filter(|a| !a.get_default_values().is_empty())
        .map(|a| {
            let values: Vec<_> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            (a.get_id().as_str().to_string(), values.join(","))
        })
        .collect()
}

/// The flags the command line gave, as typed (lists joined by commas).
pub fn given_flags(matches: &ArgMatches) -> BTreeMap<String, String> {
    let given = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    setting_args()
        .iter()
        .map(|a| a.get_id().as_str())
        .filter(|id| given(id))
        .filter_map(|id| {
            let values: Vec<_> = matches
                .get_raw(id)?
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            Some((id.to_string(), values.join(",")))
        })
        .collect()
}

/// Settings by key, with `NAME_FILE` secrets read: a value given directly
/// in the same layer wins over its file.
fn resolve_names(
    pairs: impl IntoIterator<Item = (String, String)>,
    mut unknown: impl FnMut(&str),
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let keys = keys_by_name();
    let secret = |name: &str| name == "DATABASE_URL" || SECRET_SETTINGS.contains(&name);
    let (mut layer, mut files) = (BTreeMap::new(), BTreeMap::new());
    for (name, value) in pairs {
        if let Some(key) = keys.get(&name) {
            layer.insert(key.clone(), value);
        } else if let Some(base) = name.strip_suffix("_FILE").filter(|b| secret(b)) {
            files.insert(base.to_string(), value);
        } else {
            unknown(&name);
        }
    }
    let mut problems = Vec::new();
    for (name, path) in files {
        let key = &keys[&name];
        if layer.contains_key(key) {
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(value) => {
                layer.insert(key.clone(), value.trim().to_string());
            }
            Err(e) => problems.push(format!("cannot read {name}_FILE ({path}): {e}")),
        }
    }
    if problems.is_empty() {
        Ok(layer)
    } else {
        Err(problems)
    }
}

const RETIRED: &str = "CM_EMBEDDED_APP_JWKS_URL is retired and ignored: Embedded App keys come \
     from the token's issuer, {iss}/oauth2/v2/keys/verification, for issuers on \
     CM_EMBEDDED_APP_ISSUER_HOSTS (README: Configuration)";

fn env_layer(env: &[(String, String)], warnings: &mut Vec<String>) -> Result<Layer, Vec<String>> {
    let ours = |name: &str| {
        name.starts_with("CM_") || name.starts_with("DATABASE_URL") || name == "RUST_LOG"
    };
    let pairs = env.iter().filter(|(n, _)| ours(n)).cloned();
    // The environment holds more than settings (CM_CONFIG, a script's own).
    let values = resolve_names(pairs, |name| {
        if name == "CM_EMBEDDED_APP_JWKS_URL" {
            warnings.push(RETIRED.to_string());
        }
    })?;
    Ok(Layer::with("the environment", values))
}

/// The file's keys are settings' names in any case (`CM_BIND`, `cm_bind`);
/// numbers and booleans may be written bare, lists also as arrays.
fn file_layer(path: &std::path::Path, warnings: &mut Vec<String>) -> Result<Layer, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {shown}: {e}"))?;
    let table = figment::providers::Toml::string(&text)
        .data()
        .map_err(|e| format!("config file {shown}: {e}"))?
        .remove(&Profile::Default)
        .unwrap_or_default();
    let mut pairs = Vec::new();
    for (key, value) in table {
        let name = key.to_ascii_uppercase();
        match file_value(&value) {
            Some(value) => pairs.push((name, value)),
            None => warnings.push(format!(
                "config file {shown}: {key} is not a setting's value (ignored)"
            )),
        }
    }
    let values = resolve_names(pairs, |name| {
        warnings.push(if name == "CM_EMBEDDED_APP_JWKS_URL" {
            RETIRED.to_string()
        } else {
            format!("config file {shown}: {name} is not a setting (ignored)")
        })
    })
    .map_err(|e| e.join("; "))?;
    Ok(Layer::with(format!("config file {shown}"), values))
}

/// A file value as the text a flag would carry.
fn file_value(value: &Value) -> Option<String> {
    match value {
        Value::String(_, s) => Some(s.clone()),
        Value::Char(_, c) => Some(c.to_string()),
        Value::Bool(_, b) => Some(b.to_string()),
        Value::Num(_, n) => Some(match n.to_i128() {
            Some(i) => i.to_string(),
            None => n.to_f64()?.to_string(),
        }),
        Value::Array(_, items) => {
            let items: Option<Vec<String>> = items.iter().map(file_value).collect();
            Some(items?.join(","))
        }
        Value::Dict(..) | Value::Empty(..) => None,
    }
}

/// One layer of settings, by key, as text: the types are read once, from
/// all layers together, by [`Config`]'s and [`IntegrationSettings`]' serde.
pub struct Layer {
    name: String,
    values: BTreeMap<String, String>,
}

impl Layer {
    fn with(name: impl Into<String>, values: BTreeMap<String, String>) -> Layer {
        Layer {
            name: name.into(),
            values,
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict: Dict = self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// One line per bad value: `CM_BIND: <why> (from <layer>)`.
fn describe(error: figment::Error) -> Vec<String> {
    error
        .into_iter()
        .map(|e| {
            let name = e.path.last().map(|k| setting_name(k)).unwrap_or_default();
            let why = e.kind.to_string();
            let why = why
                .strip_prefix(&format!("{name}: "))
                .unwrap_or(&why)
                .to_string();
            let from = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            format!("{name}: {why}{from}")
        })
        .collect()
}

/// A comma-separated list (or a list), blanks dropped.
pub(crate) fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        One(String),
        Many(Vec<String>),
    }
    let items = match Text::deserialize(d)? {
        Text::One(s) => s.split(',').map(str::to_string).collect(),
        Text::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// A value read with its `FromStr`.
fn parsed<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

fn template_variables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<platform::connect::TemplateVariables, D::Error> {
    let text = String::deserialize(d)?;
    platform::connect::TemplateVariables::parse(&text).map_err(serde::de::Error::custom)
}

/// A number no smaller than `MIN`.
fn at_least<'de, D, T, const MIN: u64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Copy + Into<u64> + fmt::Display,
{
    let value = T::deserialize(d)?;
    if value.into() < MIN {
        return Err(serde::de::Error::custom(format!(
            "must be at least {MIN}, not {value}"
        )));
    }
    Ok(value)
}

/// The entries of `CM_WHATSAPP_TEMPLATES`: JSON written in the setting
/// (it starts with `[` or `{`), or a file of JSON or, named `*.toml`, TOML.
/// JSON is a list of templates or `{"templates": [...]}`; TOML is
/// `[[templates]]` tables.
fn read_template_specs(setting: &str) -> Result<Vec<domain::templates::TemplateSpec>, String> {
    use domain::templates::TemplateSpec;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        templates: Vec<TemplateSpec>,
    }
    let json = |text: &str, whence: &str| match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => Err(format!(
            "CM_WHATSAPP_TEMPLATES: {whence} is not valid JSON: {e}"
        )),
        // Read as templates apart from the JSON syntax, so that a wrong field is named.
        Ok(value) => {
            let specs = if value.is_array() {
                serde_json::from_value::<Vec<TemplateSpec>>(value)
            } else {
                serde_json::from_value::<File>(value).map(|f| f.templates)
            };
            specs
                .map_err(|e| format!("CM_WHATSAPP_TEMPLATES: {whence}: {e} (expected a list of templates, each with id, label, language, preview and variables)"))
        }
    };
    if setting.starts_with('[') || setting.starts_with('{') {
        return json(setting, "the value");
    }
    let text = std::fs::read_to_string(setting)
        .map_err(|e| format!("CM_WHATSAPP_TEMPLATES: cannot read {setting}: {e}"))?;
    if setting.to_ascii_lowercase().ends_with(".toml") {
        Figment::from(figment::providers::Toml::string(&text))
            .extract::<File>()
            .map(|f| f.templates)
            .map_err(|e| format!("CM_WHATSAPP_TEMPLATES: {setting}: {e}"))
    } else {
        json(&text, setting)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::Secret;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cm-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn flags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        env(pairs).into_iter().collect()
    }

    fn load(file: Option<&PathBuf>, e: &[(&str, &str)], f: &[(&str, &str)]) -> Config {
        Config::load(Sources {
            file: file.cloned(),
            env: env(e),
            flags: flags(f),
        })
        .unwrap()
        .config
    }

    #[test]
    fn business_numbers_are_checked_and_the_sandbox_has_demo_ones() {
        let none = load(None, &[], &[]).business_numbers().unwrap();
        assert_eq!(
            none.whatsapp,
            Err("CM_WHATSAPP_BUSINESS_NUMBER is not set".into())
        );
        assert_eq!(none.sms, Err("CM_SMS_NUMBER is not set".into()));
        let set = load(
            None,
            &[("CM_WHATSAPP_BUSINESS_NUMBER", "+1 510 555 0101")],
            &[],
        )
        .business_numbers()
        .unwrap();
        assert_eq!(set.whatsapp.unwrap().as_str(), "+15105550101");
        let bad = load(None, &[("CM_SMS_NUMBER", "not a number")], &[]).business_numbers();
        assert!(bad.unwrap_err().starts_with("CM_SMS_NUMBER: "));
        let sandbox = load(None, &[("CM_SANDBOX", "true")], &[])
            .business_numbers()
            .unwrap();
        assert!(sandbox.whatsapp.is_ok() && sandbox.sms.is_ok());
        // Defaults on: card numbers masked for agents, customers warned.
        let defaults = load(None, &[], &[]);
        assert!(defaults.pci_mask_for_agent && defaults.pci_warn_customer);
        let off = load(None, &[("CM_PCI_MASK_FOR_AGENT", "false")], &[]);
        assert!(!off.pci_mask_for_agent);
    }

    const TEMPLATES_JSON: &str = r#"[
        {"id": "sandbox_reengagement", "label": "Re-engagement", "language": "en_GB",
         "variables": {"customer": "customer_name", "agent": "agent_name", "shop": "text:Acme"}},
        {"id": "sandbox_order_update", "label": "Order update",
         "preview": "Hello {{customer}}, news about your order {{order}}.",
         "variables": {"customer": "customer_name", "order": "ask:Order number"}}
    ]"#;

    fn templates(e: &[(&str, &str)]) -> Result<domain::templates::WhatsappTemplates, String> {
        load(None, e, &[]).whatsapp_templates()
    }

    #[test]
    fn whatsapp_templates_come_from_a_json_or_toml_file_or_inline_json() {
        let json_file = temp_file("templates.json", TEMPLATES_JSON);
        let toml_file = temp_file(
            "templates.toml",
            r#"
[[templates]]
id = "sandbox_reengagement"
label = "Re-engagement"
language = "en_GB"
variables = { customer = "customer_name", agent = "agent_name", shop = "text:Acme" }

[[templates]]
id = "sandbox_order_update"
label = "Order update"
preview = "Hello {{customer}}, news about your order {{order}}."
variables = { customer = "customer_name", order = "ask:Order number" }
"#,
        );
        let wrapped = format!("{{\"templates\": {TEMPLATES_JSON}}}");
        let from_json = templates(&[("CM_WHATSAPP_TEMPLATES", TEMPLATES_JSON)]).unwrap();
        for other in [
            json_file.display().to_string(),
            toml_file.display().to_string(),
            wrapped,
        ] {
            assert_eq!(
                templates(&[("CM_WHATSAPP_TEMPLATES", &other)]).unwrap(),
                from_json,
                "{other}"
            );
        }
        let all = from_json.all();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (
                all[0].id.as_str(),
                all[0].label.as_str(),
                all[0].language.as_str()
            ),
            ("sandbox_reengagement", "Re-engagement", "en_GB")
        );
        assert_eq!(
            all[1].variables.asked().collect::<Vec<_>>(),
            [("order", "Order number")]
        );
        assert_eq!(all[1].language, "en", "the default language");
        assert!(templates(&[]).unwrap().is_empty(), "none by default");
    }

    #[test]
    fn the_single_template_settings_still_make_a_one_template_list() {
        let one = templates(&[
            ("CM_WHATSAPP_TEMPLATE_ID", "sandbox_reengagement"),
            ("CM_WHATSAPP_TEMPLATE_LANGUAGE", "de"),
            (
                "CM_WHATSAPP_TEMPLATE_VARIABLES",
                "customer=customer_name,agent=agent_name,shop=text:Acme",
            ),
        ])
        .unwrap();
        let [t] = one.all() else {
            panic!("one template: {one:?}")
        };
        assert_eq!(
            (t.id.as_str(), t.label.as_str(), t.language.as_str()),
            ("sandbox_reengagement", "sandbox_reengagement", "de")
        );
        assert_eq!(t.variables.0.len(), 3);
        let default = templates(&[("CM_WHATSAPP_TEMPLATE_ID", "t1")]).unwrap();
        assert_eq!(
            default.all()[0]
                .variables
                .values("C", "A", &Default::default()),
            [
                ("variable1".to_string(), "C".to_string()),
                ("variable2".to_string(), "A".to_string())
            ]
        );
    }

    #[test]
    fn bad_template_settings_say_which_template_which_variable_and_why() {
        let missing = std::env::temp_dir().join("cm-no-such-templates.json");
        for (given, says) in [
            (
                vec![
                    ("CM_WHATSAPP_TEMPLATES", TEMPLATES_JSON),
                    ("CM_WHATSAPP_TEMPLATE_ID", "t1"),
                ],
                "both set".to_string(),
            ),
            (
                vec![("CM_WHATSAPP_TEMPLATES", "[]")],
                "lists no template".into(),
            ),
            (
                vec![("CM_WHATSAPP_TEMPLATES", "[{\"id\": \"a\",")],
                "the value is not valid JSON".into(),
            ),
            (
                vec![("CM_WHATSAPP_TEMPLATES", r#"[{"id": "a", "lable": "A"}]"#)],
                "unknown field `lable`".into(),
            ),
            (
                vec![(
                    "CM_WHATSAPP_TEMPLATES",
                    r#"[{"id": "a"}, {"id": "b", "variables": {"order": "ask"}}]"#,
                )],
                "CM_WHATSAPP_TEMPLATES: template 2 (\"b\"): variable \"order\": the source must be"
                    .into(),
            ),
            (
                vec![(
                    "CM_WHATSAPP_TEMPLATES",
                    r#"[{"id": "a", "variables": {"order": "ask:Order"}}]"#,
                )],
                "template 1 (\"a\"): the first template".into(),
            ),
            (
                vec![("CM_WHATSAPP_TEMPLATES", r#"[{"id": "a"}, {"id": "a"}]"#)],
                "template 2 (\"a\"): this id is configured twice".into(),
            ),
            (
                vec![("CM_WHATSAPP_TEMPLATES", missing.to_str().unwrap())],
                format!("cannot read {}", missing.display()),
            ),
            (
                vec![
                    ("CM_WHATSAPP_TEMPLATE_ID", "t1"),
                    ("CM_WHATSAPP_TEMPLATE_VARIABLES", "order=ask:Order"),
                ],
                "CM_WHATSAPP_TEMPLATE_ID: template 1 (\"t1\"): the first template".into(),
            ),
        ] {
            let e = templates(&given).unwrap_err();
            assert!(e.contains(&says), "{given:?}: {e}");
        }
        let bad_toml = temp_file("t.toml", "[[templates]]\nid = 3\n");
        let e = templates(&[("CM_WHATSAPP_TEMPLATES", bad_toml.to_str().unwrap())]).unwrap_err();
        assert!(
            e.starts_with(&format!("CM_WHATSAPP_TEMPLATES: {}", bad_toml.display())),
            "{e}"
        );
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
        let file = temp_file(
            "cm.toml",
            "CM_BIND = \"127.0.0.1:1001\"\ncm_max_body_bytes = 2048\nCM_RELAY_MODE = \"connect\"\n",
        );
        let bind = |c: Config| c.bind.port();
        let all = (
            Some(&file),
            &[("CM_BIND", "127.0.0.1:1002")][..],
            &[("bind", "127.0.0.1:1003")][..],
        );
        assert_eq!(bind(load(all.0, all.1, all.2)), 1003, "the flag wins");
        assert_eq!(bind(load(all.0, all.1, &[])), 1002, "then the environment");
        assert_eq!(bind(load(all.0, &[], &[])), 1001, "then the file");
        assert_eq!(bind(load(None, &[], &[])), 3000, "then the default");
        // One layer overriding one key leaves the file's other keys in force.
        let c = load(Some(&file), &[("CM_BIND", "127.0.0.1:1002")], &[]);
        assert_eq!((c.max_body_bytes, c.relay_mode), (2048, RelayMode::Connect));
        assert_eq!(load(None, &[], &[]).relay_mode, RelayMode::Native);
    }

    #[test]
    fn file_keys_are_setting_names_in_any_case_with_bare_numbers_booleans_and_lists() {
        let file = temp_file(
            "cm.toml",
            "database_url = \"sqlite://file.db\"\nCm_Sandbox = true\nCM_MEDIA_TTL_SECONDS = 60\n\
             CM_FETCH_ALLOWED_HOSTS_WEBEX = [\"a.example.com\", \"*.b.example.com\"]\n\
             CM_EMBEDDED_APP_ORG_IDS = \"org1, org2\"\nRUST_LOG = \"debug\"\nCM_TYPO = 1\n",
        );
        let loaded = Config::load(Sources {
            file: Some(file.clone()),
            ..Sources::default()
        })
        .unwrap();
        let c = loaded.config;
        assert_eq!(c.database_url, "sqlite://file.db");
        assert!(c.integrations.sandbox);
        assert_eq!(c.media_ttl_seconds, 60);
        assert_eq!(
            c.fetch_allowed_hosts_webex,
            ["a.example.com", "*.b.example.com"]
        );
        assert_eq!(c.integrations.embedded_app_org_ids, ["org1", "org2"]);
        assert_eq!(c.rust_log.as_deref(), Some("debug"));
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.contains("CM_TYPO is not a setting")),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn secrets_come_from_files_at_the_precedence_of_the_layer_naming_them() {
        let key = temp_file("key", "connect-key-from-file\n");
        let db = temp_file("db", "sqlite://secret.db\n");
        let file = temp_file(
            "cm.toml",
            &format!(
                "DATABASE_URL_FILE = {:?}\nCM_CONNECT_API_KEY = \"from-the-config-file\"\n",
                db.display()
            ),
        );
        let key_file = key.display().to_string();
        let c = load(
            Some(&file),
            &[("CM_CONNECT_API_KEY_FILE", key_file.as_str())],
            &[],
        );
        assert_eq!(
            c.database_url, "sqlite://secret.db",
            "a _FILE key in the file"
        );
        assert_eq!(
            c.integrations.connect_api_key,
            Some(Secret::new("connect-key-from-file")),
            "the environment's file beats the config file's value"
        );
        let c = load(
            None,
            &[
                ("CM_CONNECT_API_KEY_FILE", key_file.as_str()),
                ("CM_CONNECT_API_KEY", "given-directly"),
            ],
            &[],
        );
        assert_eq!(
            c.integrations.connect_api_key,
            Some(Secret::new("given-directly")),
            "in one layer the value given directly wins"
        );
        let err = Config::load(Sources {
            env: env(&[("CM_WEBEX_WEBHOOK_SECRET_FILE", "/no/such/file")]),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("CM_WEBEX_WEBHOOK_SECRET_FILE (/no/such/file)"),
            "{err}"
        );
        // Settings that are not secrets have no _FILE form.
        let loaded = Config::load(Sources {
            env: env(&[("CM_BIND_FILE", "/no/such/file")]),
            ..Sources::default()
        });
        assert!(loaded.is_ok());
    }

    #[test]
    fn a_bad_value_is_refused_naming_the_setting_and_where_it_came_from() {
        let err = |e: &[(&str, &str)], f: &[(&str, &str)]| {
            Config::load(Sources {
                env: env(e),
                flags: flags(f),
                ..Sources::default()
            })
            .unwrap_err()
            .to_string()
        };
        let e = err(&[("CM_MAX_BODY_BYTES", "lots")], &[]);
        assert!(
            e.starts_with("CM_MAX_BODY_BYTES: ") && e.contains("(from the environment)"),
            "{e}"
        );
        let e = err(&[], &[("dedup_retention_hours", "1")]);
        assert_eq!(
            e,
            "CM_DEDUP_RETENTION_HOURS: must be at least 2, not 1 (from the command line)"
        );
        let e = err(&[("CM_TRANSCRIPT_RETENTION_DAYS", "-1")], &[]);
        assert!(
            e.starts_with("CM_TRANSCRIPT_RETENTION_DAYS: ") && e.contains("(from the environment)"),
            "{e}"
        );
        let e = err(&[("CM_RELAY_MODE", "both")], &[]);
        assert!(
            e.starts_with("CM_RELAY_MODE: ") && e.contains("native"),
            "{e}"
        );
        let e = err(&[("CM_PHONE_REGION", "XX")], &[]);
        assert!(
            e.contains("CM_PHONE_REGION") && e.contains("unknown region"),
            "{e}"
        );
        let e = err(&[("CM_WEBEX_GUESTS", "robots")], &[]);
        assert!(e.starts_with("CM_WEBEX_GUESTS: "), "{e}");
    }

    #[test]
    fn loading_writes_nothing_into_the_process_environment() {
        let secret = temp_file("s", "hub-secret");
        let file = temp_file(
            "cm.toml",
            &format!(
                "CM_BIND = \"127.0.0.1:1001\"\nCM_CONNECT_WEBHOOK_SECRET_FILE = {:?}\n",
                secret.display()
            ),
        );
        let before: Vec<_> = std::env::vars_os().collect();
        let c = load(Some(&file), &[], &[]);
        assert_eq!(
            c.integrations.connect_webhook_secret,
            Some(Secret::new("hub-secret"))
        );
        assert_eq!(before, std::env::vars_os().collect::<Vec<_>>());
        assert!(std::env::var_os("CM_BIND").is_none());
        // Nor does any code of this crate set variables.
        let forbidden = concat!("set_", "var");
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    assert!(!text.contains(forbidden), "{}", path.display());
                }
            }
        }
    }

    #[test]
    fn the_test_settings_are_the_defaults_but_for_what_tests_need() {
        let c = Config::for_tests("sqlite://t.db".into());
        assert_eq!(c.bind.port(), 0);
        assert_eq!(c.relay_mode, RelayMode::Connect);
        assert_eq!(c.sign_in_per_minute, 1000);
        assert!(c.fetch_allowed_hosts_connect.is_empty());
        let defaults = load(None, &[], &[]);
        assert_eq!(c.media_max_bytes, defaults.media_max_bytes);
        // Nothing is pruned unless asked for.
        assert_eq!(defaults.retention(), domain::privacy::Retention::default());
        let kept = load(None, &[("CM_TRANSCRIPT_RETENTION_DAYS", "30")], &[]).retention();
        assert_eq!((kept.transcript_days, kept.media_days), (Some(30), None));
        assert_eq!(
            c.integrations.embedded_app_issuer_hosts,
            defaults.integrations.embedded_app_issuer_hosts
        );
    }

    #[test]
    fn fetch_host_lists_are_comma_separated_and_the_defaults_are_valid() {
        let defaults = load(None, &[], &[]);
        assert_eq!(
            defaults.fetch_allowed_hosts_connect,
            ["*.webexconnect.io", "*.imiconnect.io", "*.imiconnect.eu"]
        );
        assert!(defaults.fetch_allowed_hosts_webex.is_empty());
        platform::fetch::FetchRules::new("Connect", None, &defaults.fetch_allowed_hosts_connect)
            .unwrap();
        let set = load(
            None,
            &[],
            &[(
                "fetch_allowed_hosts_webex",
                "files.example.com,*.cdn.example.com",
            )],
        );
        assert_eq!(
            set.fetch_allowed_hosts_webex,
            ["files.example.com", "*.cdn.example.com"]
        );
    }

    #[test]
    fn only_the_flags_given_reach_the_settings() {
        use clap::{CommandFactory, FromArgMatches, Parser};
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            c: Config,
            #[command(subcommand)]
            command: Option<Sub>,
        }
        #[derive(clap::Subcommand)]
        enum Sub {
            Migrate,
        }
        let matches = Cli::command().get_matches_from([
            "x",
            "migrate",
            "--bind",
            "127.0.0.1:9",
            "--sandbox",
            "true",
        ]);
        let _ = Cli::from_arg_matches(&matches).unwrap();
        let given = given_flags(&matches);
        assert_eq!(
            given,
            flags(&[("bind", "127.0.0.1:9"), ("sandbox", "true")]),
            "flags after the subcommand count; clap's defaults do not"
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
