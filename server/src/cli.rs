//! Command-line entry: `serve` (default), `migrate`, `create-agent`,
//! `create-api-key`, `list-api-keys`, `revoke-api-key`, `import-contacts`,
//! `export-contacts`, `start-conversation`.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

use crate::config::{Config, Sources};
use crate::integrations::Integrations;
use crate::{startup, telemetry, wiring};
use domain::access::ApiScope;
use domain::model::Role;
use relay::conversations::{AttemptKey, StartError, TemplateRequest, Via};
use relay::StartTemplate;
use store::{AuditCtx, KeyGrant, Store};

fn parse_scope(s: &str) -> Result<ApiScope, String> {
    ApiScope::parse(s).ok_or_else(|| format!("unknown scope {s:?}: use connect, services or admin"))
}

fn parse_channel(s: &str) -> Result<domain::Channel, String> {
    domain::Channel::parse_field("--channel", s).map_err(|e| e.message)
}

fn scope_list(scopes: &[ApiScope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Debug, Parser)]
#[command(
    name = "contact-manager",
    version,
    about = "Contact Manager for Webex: contacts, sessions and the relay between Webex and WhatsApp/SMS",
    after_help = "Every setting flag is also an environment variable, CM_ and the flag's name in \
        capitals (--public-url: CM_PUBLIC_URL; --database-url: DATABASE_URL), and a key of the \
        --config file. Flags beat the environment, which beats the file."
)]
struct Cli {
    /// A TOML file of settings (`DATABASE_URL = "..."`, `CM_BIND = "..."`); flags and environment win.
    #[arg(long, env = "CM_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,

    /// The settings' flags (their values are read by `Config::load`, with
    /// the environment and the file).
    #[command(flatten)]
    settings: Config,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Add an agent, or change the name and role of an existing one.
    CreateAgent {
        email: String,
        #[arg(long, default_value = "agent", value_parser = ["admin", "agent"])]
        role: String,
        /// Display name (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// Read a local sign-in password from standard input (at least 10 characters).
        /// Without it the agent signs in with Webex only.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API key for Webex Connect or a script; the key is printed once.
    CreateApiKey {
        name: String,
        /// What the key may call: `connect` (contacts, sessions, agents),
        /// `services` (guest tokens, attachments) or `admin` (everything).
        /// Repeat for several. Default: connect and services.
        #[arg(long = "scope", value_parser = parse_scope)]
        scopes: Vec<ApiScope>,
        /// The key stops working this many days from now (1 to 3650). Default: never.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List API keys (never the keys themselves).
    ListApiKeys,
    /// Revoke an API key by id.
    RevokeApiKey { id: String },
    /// Import contacts from a CSV file with `name` and `msisdn` (or `phone`) columns.
    /// Good rows are kept; bad rows are listed with the reason.
    ImportContacts {
        file: std::path::PathBuf,
        /// The agent (email) who owns the imported contacts.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Write every contact as CSV to standard output.
    ExportContacts,
    /// Start a conversation between an agent and a contact, as the sidebar's
    /// button does, with the server's settings. In native relay mode the
    /// session is routed and the guest's provisioning queued here; the
    /// running server's relay delivers it.
    StartConversation {
        /// The contact's id (see `export-contacts`).
        #[arg(long)]
        contact: String,
        /// `whatsapp` or `sms`.
        #[arg(long, value_parser = parse_channel)]
        channel: domain::Channel,
        /// The agent's email: an existing agent who is not disabled.
        #[arg(long)]
        agent: String,
        /// An id for this attempt: the same id again sends nothing and says
        /// how the first went. Default: a new attempt.
        #[arg(long)]
        attempt_id: Option<String>,
        /// WhatsApp, native relay: the id of a configured template to send
        /// right away if the customer has not written in the last 24 hours.
        #[arg(long)]
        template: Option<String>,
        /// A value for one of the template's `ask:` variables, as
        /// `NAME=VALUE`; repeat for several.
        #[arg(long = "template-value", value_parser = parse_template_value, requires = "template")]
        template_values: Vec<(String, String)>,
    },
}

/// `--template-value NAME=VALUE`.
fn parse_template_value(given: &str) -> Result<(String, String), String> {
    given
        .split_once('=')
        .map(|(n, v)| (n.trim().to_string(), v.to_string()))
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, not \"{given}\""))
}

pub async fn run() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let loaded = match Config::load(Sources::of_process(cli.config.clone(), &matches)) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let settings = loaded.config;
    telemetry::init(settings.log_format, settings.rust_log.as_deref());
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    match execute(cli.command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Option<Command>, settings: Config) -> anyhow::Result<()> {
    let ctx = AuditCtx::new(domain::model::Actor::System, None);
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = startup::Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let store = wiring::open_store(&settings).await?;
            println!("migrations applied to {}", settings.database_url_redacted());
            store.close().await;
        }
        Command::CreateAgent {
            email,
            role,
            name,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let password = line.trim_end_matches(['\r', '\n']).to_string();
                store::password::validate(&password)?;
                Some(password)
            } else {
                None
            };
            let store = wiring::open_store(&settings).await?;
            let role = role
                .parse::<Role>()
                .ok()
                .ok_or_else(|| anyhow::anyhow!("unknown role {role}"))?;
            let agent = store
                .upsert_agent(&ctx, &email, name.as_deref(), role)
                .await?;
            if let Some(password) = password {
                store.set_password(&ctx, &agent.id, &password).await?;
            }
            println!(
                "agent {} ({}) is {}",
                agent.email,
                agent.id,
                agent.role.as_str()
            );
            store.close().await;
        }
        Command::CreateApiKey {
            name,
            scopes,
            expires_in_days,
        } => {
            let grant = KeyGrant::new(&scopes, expires_in_days)
                .map_err(|e| anyhow::anyhow!("--expires-in-days {}", e.message))?;
            let store = wiring::open_store(&settings).await?;
            let (info, key) = store.create_api_key(&ctx, &name, &grant).await?;
            println!(
                "API key {:?} created (id {}), scopes {}, {}.",
                info.name,
                info.id,
                scope_list(&info.scopes),
                match &info.expires_at {
                    Some(at) => format!("expires {at}"),
                    None => "never expires".into(),
                }
            );
            println!("Copy it now: it is not stored and will not be shown again.");
            println!("{key}");
            store.close().await;
        }
        Command::ListApiKeys => {
            let store = wiring::open_store(&settings).await?;
            for k in store.list_api_keys().await? {
                let state = match &k.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => format!("last used {}", k.last_used_at.as_deref().unwrap_or("never")),
                };
                let expiry = match &k.expires_at {
                    Some(at) => format!("expires {at}"),
                    None => "no expiry".into(),
                };
                println!(
                    "{}  {:<24} {}…  scopes {}  created {}  {}  {}",
                    k.id,
                    k.name,
                    k.display_prefix,
                    scope_list(&k.scopes),
                    k.created_at,
                    expiry,
                    state
                );
            }
            store.close().await;
        }
        Command::ImportContacts { file, owner } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let store = wiring::open_store(&settings).await?;
            let owner = match owner {
                Some(email) => Some(store.agent_by_email(&email).await?.id),
                None => None,
            };
            let (header, body) = store::csv_io::split_header(&text);
            let lines: Vec<&str> = body.lines().collect();
            let total = lines.len();
            let (mut imported, mut refused) = (0, 0);
            // Chunks keep progress visible on large files.
            for (i, chunk) in lines.chunks(200).enumerate() {
                let first_row = 2 + i * 200;
                let report = store::csv_io::import_rows(
                    &store,
                    &ctx,
                    owner.as_deref(),
                    header,
                    &chunk.join("\n"),
                    first_row,
                )
                .await?;
                for row in &report {
                    match &row.error {
                        None => imported += 1,
                        Some(why) => {
                            refused += 1;
                            println!("row {}: {} ({})", row.row, why, row.name);
                        }
                    }
                }
                eprintln!(
                    "… {} of {total} rows",
                    (first_row - 2 + chunk.len()).min(total)
                );
            }
            println!("imported {imported} contacts, refused {refused} rows");
            store.close().await;
        }
        Command::ExportContacts => {
            let store = wiring::open_store(&settings).await?;
            print!("{}", store::csv_io::export_all(&store).await?);
            store.close().await;
        }
        Command::StartConversation {
            contact,
            channel,
            agent,
            attempt_id,
            template,
            template_values,
        } => {
            Integrations::check(&settings)?;
            let store = wiring::open_store(&settings).await?;
            let template = template.map(|id| TemplateRequest {
                id,
                values: template_values.into_iter().collect(),
            });
            let outcome = start_conversation(
                &settings,
                &store,
                &ctx,
                (&contact, channel, &agent),
                attempt_id,
                template.as_ref(),
            )
            .await;
            store.close().await;
            println!("{}", outcome?);
        }
        Command::RevokeApiKey { id } => {
            let store = wiring::open_store(&settings).await?;
            store.revoke_api_key(&ctx, &id).await?;
            println!("API key {id} revoked");
            store.close().await;
        }
    }
    Ok(())
}

/// `start-conversation`: the same operation as the sidebar and the API,
/// built from the same settings as `serve`. What to print on success.
async fn start_conversation(
    settings: &Config,
    store: &Store,
    ctx: &AuditCtx,
    (contact, channel, agent): (&str, domain::Channel, &str),
    attempt_id: Option<String>,
    template: Option<&TemplateRequest>,
) -> anyhow::Result<String> {
    let integrations = Integrations::resolve(settings, &format!("http://{}", settings.bind))?;
    let relay = wiring::Services::build(settings, &integrations, store)?.relay;
    let conversations = wiring::conversations(settings, &integrations, store, relay);
    let agent = conversations.agent_by_email("--agent", agent).await?;
    let attempt_id = attempt_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let attempt = AttemptKey::new("cli", "--attempt-id", &attempt_id)?;
    match conversations
        .start(ctx, &agent, contact, channel, &attempt, template)
        .await
    {
        Ok(started) => {
            let mut what = format!(
                "{} conversation with {} started for {}",
                channel.label(),
                started.contact.name,
                agent.email
            );
            if let Some((t, outcome)) = &started.template {
                what += &match outcome {
                    StartTemplate::Sent => {
                        format!(", WhatsApp template {} queued for the customer", t.id)
                    }
                    StartTemplate::WindowOpen => format!(
                        ", WhatsApp template {} not sent: the customer wrote in the last 24 hours",
                        t.id
                    ),
                    StartTemplate::AlreadySent => format!(
                        ", WhatsApp template {} not sent: a template went since the customer last wrote",
                        t.id
                    ),
                    StartTemplate::NotChosen => String::new(),
                };
            }
            Ok(match started.via {
                Via::Native(session) => format!(
                    "{what} (session {}): the running server's relay opens the space in Webex",
                    session.id
                ),
                Via::Connect => format!("{what}: Webex Connect took the trigger"),
            })
        }
        // The conversation exists: a retry that finds it has succeeded.
        Err(e @ StartError::AlreadyStarted { .. }) => Ok(format!("{e} (attempt {attempt_id})")),
        Err(e) => Err(e.into()),
    }
}
