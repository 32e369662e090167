//! Admin: agents and roles, API keys, integrations health, undelivered
//! calls, the audit log; each on its own page under `/admin` (the message
//! log's is in `message_log.rs`). Every server function here checks that
//! the caller is an admin.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::auth::Me;
use crate::codec::Json;
use crate::error::UiError;
use crate::layout::{ErrorNotice, LoadingLine, LoadingTransition, SignedIn};
use crate::time::Time;
use domain::model::{Agent, Role};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
    /// `connect`, `services`, `admin`.
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedKey {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationView {
    pub name: String,
    pub url: Option<String>,
    pub status: String,
    pub ok: bool,
    /// When the status was last checked, if not just now (RFC 3339).
    pub checked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub request_id: Option<String>,
}

#[cfg(feature = "ssr")]
fn admin() -> Result<store::WebSession, UiError> {
    let s = crate::ssr::require_agent()?;
    crate::ssr::require_admin(&s)?;
    Ok(s)
}

#[cfg(feature = "ssr")]
fn admin_with_csrf(csrf: &str) -> Result<store::WebSession, UiError> {
    let s = admin()?;
    crate::ssr::require_csrf(&s, csrf)?;
    Ok(s)
}

#[server(endpoint = "admin/agents", output = Json)]
pub async fn list_agents() -> Result<Vec<Agent>, UiError> {
    admin()?;
    Ok(crate::ssr::deps().store.list_agents().await?)
}

#[server(endpoint = "admin/agents/add", output = Json)]
pub async fn add_agent(
    csrf: String,
    email: String,
    name: String,
    role: String,
) -> Result<Agent, UiError> {
    use crate::ssr::{audit, deps, finish, Then};
    let result = async {
        let s = admin_with_csrf(&csrf)?;
        let role = role
            .parse::<Role>()
            .ok()
            .ok_or_else(|| UiError::field("role", "choose agent or admin"))?;
        let name = Some(name.as_str()).filter(|n| !n.trim().is_empty());
        Ok(deps()
            .store
            .upsert_agent(&audit(&s.agent), &email, name, role)
            .await?)
    }
    .await;
    finish(
        result,
        Then::Reload("/admin/agents?agent_saved=1".into()),
        "/admin/agents",
        &[("email", &email)],
    )
}

#[server(endpoint = "admin/agents/access", output = Json)]
pub async fn set_agent_access(
    csrf: String,
    id: String,
    role: String,
    disabled: String,
) -> Result<Agent, UiError> {
    use crate::ssr::{audit, deps, finish, Then};
    let result = async {
        let s = admin_with_csrf(&csrf)?;
        let role = role.parse::<Role>().ok();
        let disabled = match disabled.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        Ok(deps()
            .store
            .update_agent_access(&audit(&s.agent), Some(&s.agent.id), &id, role, disabled)
            .await?)
    }
    .await;
    finish(
        result,
        Then::Reload("/admin/agents?agent_saved=1".into()),
        "/admin/agents",
        &[],
    )
}

#[server(endpoint = "admin/keys", output = Json)]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, UiError> {
    admin()?;
    let keys = crate::ssr::deps().store.list_api_keys().await?;
    Ok(keys
        .into_iter()
        .map(|k| ApiKeyView {
            id: k.id,
            name: k.name,
            prefix: k.display_prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked: k.revoked_at.is_some(),
            scopes: k.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            expires_at: k.expires_at,
        })
        .collect())
}

/// Creates a key; the answer is the only time the key is ever shown. Each
/// scope is a checkbox (present when ticked); `expires_in_days` may be blank.
/// A form that names no scope at all gets the default ones (connect and
/// services), as the command line does.
#[server(endpoint = "admin/keys/create", output = Json)]
pub async fn create_api_key(
    csrf: String,
    name: String,
    scope_connect: Option<String>,
    scope_services: Option<String>,
    scope_admin: Option<String>,
    expires_in_days: Option<String>,
) -> Result<CreatedKey, UiError> {
    use crate::ssr::{audit, deps};
    use domain::access::ApiScope;
    let s = admin_with_csrf(&csrf)?;
    let scopes: Vec<ApiScope> = [
        (scope_connect, ApiScope::Connect),
        (scope_services, ApiScope::Services),
        (scope_admin, ApiScope::Admin),
    ]
    .into_iter()
    .filter_map(|(ticked, scope)| ticked.is_some().then_some(scope))
    .collect();
    let days = match expires_in_days.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(d.parse::<u32>().map_err(|_| {
            UiError::field(
                "expiresInDays",
                "a whole number of days, or empty for no expiry",
            )
        })?),
    };
    let grant = store::KeyGrant::new(&scopes, days).map_err(domain::DomainError::from)?;
    let (info, key) = deps()
        .store
        .create_api_key(&audit(&s.agent), &name, &grant)
        .await?;
    Ok(CreatedKey {
        name: info.name,
        key,
    })
}

#[server(endpoint = "admin/keys/revoke", output = Json)]
pub async fn revoke_api_key(csrf: String, id: String) -> Result<(), UiError> {
    use crate::ssr::{audit, deps, finish, Then};
    let result = async {
        let s = admin_with_csrf(&csrf)?;
        deps().store.revoke_api_key(&audit(&s.agent), &id).await?;
        Ok(())
    }
    .await;
    finish(
        result,
        Then::Reload("/admin/keys?key_revoked=1".into()),
        "/admin/keys",
        &[],
    )
}

#[server(endpoint = "admin/integrations", output = Json)]
pub async fn integrations_status() -> Result<Vec<IntegrationView>, UiError> {
    admin()?;
    let deps = crate::ssr::deps();
    let mut out = Vec::with_capacity(deps.endpoints.len());
    for e in &deps.endpoints {
        let (status, ok) = match e.url.as_deref() {
            None => ("not configured".to_string(), false),
            Some(url) => match platform::connect::probe(url).await {
                Ok(code) if code < 500 => (format!("answers (HTTP {code})"), true),
                Ok(code) => (format!("answers with an error (HTTP {code})"), false),
                Err(e) => (format!("no answer: {e}"), false),
            },
        };
        out.push(IntegrationView {
            name: e.name.to_string(),
            url: e.url.clone(),
            status,
            ok,
            checked_at: None,
        });
    }
    if let Some(guests) = &deps.guests {
        let check = guests.check().await;
        out.push(IntegrationView {
            name: format!("Webex guests: {}", guests.provider().name()),
            url: None,
            status: check.detail,
            ok: check.ok,
            checked_at: None,
        });
    } else {
        out.push(IntegrationView {
            name: "Webex guests".into(),
            url: None,
            status: "not configured (CM_WEBEX_GUESTS and its settings)".into(),
            ok: false,
            checked_at: None,
        });
    }
    if let Some(relay) = &deps.relay {
        let report = relay.webhook_report().await;
        let (status, ok) = webhook_health(&report);
        out.push(IntegrationView {
            name: "Guests' Webex webhooks".into(),
            url: None,
            status,
            ok,
            checked_at: report.checked_at_ms.map(store::format_ms),
        });
    }
    Ok(out)
}

/// The last round of webhook checks in a sentence, and whether all is well.
#[cfg(feature = "ssr")]
fn webhook_health(r: &relay::WebhookReport) -> (String, bool) {
    if r.checked_at_ms.is_none() {
        return ("not checked yet".into(), true);
    }
    let mut parts = vec![format!("{} active", r.active)];
    if r.reactivated > 0 {
        parts.push(format!("{} turned back on", r.reactivated));
    }
    if r.recreated > 0 {
        parts.push(format!("{} created again", r.recreated));
    }
    if !r.failed.is_empty() {
        parts.push(format!(
            "{} failing: {}",
            r.failed.len(),
            r.failed.join("; ")
        ));
    }
    (parts.join(", "), r.failed.is_empty())
}

/// Checks every active session's webhook now, turning inactive ones back
/// on and creating missing ones (they are also checked periodically).
#[server(endpoint = "admin/webhooks/check", output = Json)]
pub async fn check_webhooks(csrf: String) -> Result<(), UiError> {
    use crate::ssr::{deps, finish, Then};
    let result = async {
        admin_with_csrf(&csrf)?;
        let relay = deps().relay.ok_or_else(|| {
            UiError::field("relay", "the native relay is off (CM_RELAY_MODE=connect)")
        })?;
        relay.check_webhooks(true).await;
        Ok(())
    }
    .await;
    finish(
        result,
        Then::Reload("/admin/integrations?checked=1".into()),
        "/admin/integrations",
        &[],
    )
}

/// The bot new customers talk to first (`CM_BOT_URL`); None: there is none.
#[server(endpoint = "admin/bot", output = Json)]
pub async fn bot_overview() -> Result<Option<domain::bot::BotOverview>, UiError> {
    admin()?;
    match crate::ssr::deps().relay {
        Some(relay) => Ok(relay.bot_overview().await?),
        None => Ok(None),
    }
}

/// Makes the bot active again after failures made it inactive.
#[server(endpoint = "admin/bot/reactivate", output = Json)]
pub async fn reactivate_bot(csrf: String) -> Result<(), UiError> {
    use crate::ssr::{audit, deps, finish, Then};
    let result = async {
        let s = admin_with_csrf(&csrf)?;
        let relay = deps().relay.ok_or_else(|| {
            UiError::field("bot", "the native relay is off (CM_RELAY_MODE=connect)")
        })?;
        relay.reactivate_bot(&audit(&s.agent)).await?;
        Ok(())
    }
    .await;
    finish(
        result,
        Then::Reload("/admin/bot?reactivated=1".into()),
        "/admin/bot",
        &[],
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterView {
    pub kind: String,
    pub session: String,
    pub attempts: i64,
    pub error: String,
    pub created_at: String,
}

/// Deliveries to Webex or Connect that used up their retries.
#[server(endpoint = "admin/dead-letters", output = Json)]
pub async fn dead_letters() -> Result<Vec<DeadLetterView>, UiError> {
    admin()?;
    let jobs = crate::ssr::deps().store.dead_jobs(100).await?;
    Ok(jobs
        .into_iter()
        .map(|j| DeadLetterView {
            kind: j.kind,
            session: j.ordering_key,
            attempts: j.attempts,
            error: j.last_error.unwrap_or_default(),
            created_at: j.created_at,
        })
        .collect())
}

/// A customer who opted out of a channel, as the admin page lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptOutView {
    pub channel: String,
    /// The number as people write it.
    pub customer: String,
    pub since: String,
    pub source: String,
}

/// Opted-out customers, newest first (the newest 200), and how many in all.
#[server(endpoint = "admin/opt-outs", output = Json)]
pub async fn opt_outs() -> Result<(Vec<OptOutView>, i64), UiError> {
    admin()?;
    let (list, total) = crate::ssr::deps().store.opt_outs(200, 0).await?;
    let views = list
        .into_iter()
        .map(|o| OptOutView {
            channel: o.channel.label().to_string(),
            customer: domain::phone::for_people(&o.customer_id),
            since: o.opted_out_at,
            source: o.source,
        })
        .collect();
    Ok((views, total))
}

/// Audit entries a page shows.
pub const AUDIT_PER_PAGE: usize = 25;
/// The store reads the newest entries up to a limit, so a page costs the
/// rows before it: paging stops here (the filters reach further back).
pub const AUDIT_MAX_PAGES: u32 = 40;

/// One page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditView>,
    pub page: u32,
    /// Older matching entries exist beyond this page.
    pub more: bool,
}

#[server(endpoint = "admin/audit", output = Json)]
pub async fn search_audit(
    actor: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    page: Option<u32>,
) -> Result<AuditPage, UiError> {
    use store::AuditFilter;
    admin()?;
    let entity_id = entity_id.unwrap_or_default();
    let page = page.unwrap_or(1).clamp(1, AUDIT_MAX_PAGES);
    let wanted = page as usize * AUDIT_PER_PAGE;
    let entries = crate::ssr::deps()
        .store
        .search_audit(
            &AuditFilter {
                actor: Some(actor),
                action: Some(action),
                entity_type: Some(entity).filter(|e| !e.is_empty()),
                entity_id: Some(entity_id.trim().to_string()).filter(|e| !e.is_empty()),
            },
            wanted as i64 + 1,
        )
        .await?;
    let more = entries.len() > wanted;
    Ok(AuditPage {
        entries: entries
            .into_iter()
            .skip(wanted - AUDIT_PER_PAGE)
            .take(AUDIT_PER_PAGE)
            .map(|e| AuditView {
                at: e.at,
                actor: e.actor,
                action: e.action,
                entity: format!("{} {}", e.entity_type, e.entity_id),
                request_id: e.request_id,
            })
            .collect(),
        page,
        more,
    })
}

/// The admin sections, each a page of its own.
const SECTIONS: [(&str, &str, &str); 9] = [
    (
        "/admin/agents",
        "Agents",
        "Who can sign in, and who is an admin.",
    ),
    (
        "/admin/keys",
        "API keys",
        "Keys for Webex Connect flows and other callers of the REST API.",
    ),
    (
        "/admin/integrations",
        "Integrations",
        "Whether Webex and Webex Connect answer; the guests' webhooks.",
    ),
    (
        "/admin/bot",
        "Bot",
        "The bot new customers talk to first: whether it answers, and turning it back on.",
    ),
    (
        "/admin/undelivered",
        "Undelivered",
        "Calls to Webex or Connect that failed after every retry.",
    ),
    (
        "/admin/opt-outs",
        "Opt-outs",
        "Customers who replied STOP: nothing is sent to them until they reply START.",
    ),
    (
        "/admin/messages",
        "Message log",
        "Every relayed message by id, number, agent, time or status, and each hop it took.",
    ),
    (
        "/admin/audit",
        "Audit log",
        "Every change: who made it, when, on which request.",
    ),
    (
        "/admin/privacy",
        "Privacy",
        "What is held about a customer's number: export it, or erase it. Retention.",
    ),
];

/// An admin page: the section links, the title, then `body` for admins;
/// others are told the page is not for them.
#[component]
pub(crate) fn AdminFrame<F, V>(title: &'static str, body: F) -> impl IntoView
where
    F: Fn(Me) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    view! {
        <SignedIn render=move |me| {
            if me.agent.role == Role::Admin {
                view! {
                    <AdminNav current=title />
                    <h1>{title}</h1>
                    {body(me)}
                }.into_any()
            } else {
                view! { <p class="notice error" role="alert">"Only admins can see this page."</p> }.into_any()
            }
        } />
    }
}

#[component]
fn AdminNav(current: &'static str) -> impl IntoView {
    view! {
        <nav class="subnav" aria-label="Admin sections">
            <a href="/admin" aria-current=(current == "Admin").then_some("page")>"Overview"</a>
            {SECTIONS.iter().map(|(href, name, _)| view! {
                <a href=*href aria-current=(current == *name).then_some("page")>{*name}</a>
            }).collect_view()}
        </nav>
    }
}

/// `/admin`: what each section is for.
#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <AdminFrame title="Admin" body=|_| view! {
            <ul class="section-list">
                {SECTIONS.iter().map(|(href, name, what)| view! {
                    <li>
                        <a href=*href>{*name}</a>
                        <p class="muted small">{*what}</p>
                    </li>
                }).collect_view()}
            </ul>
        } />
    }
}

#[component]
pub fn AdminAgentsPage() -> impl IntoView {
    view! { <AdminFrame title="Agents" body=|me| view! { <Agents me /> } /> }
}

#[component]
pub fn AdminKeysPage() -> impl IntoView {
    view! { <AdminFrame title="API keys" body=|me| view! { <ApiKeys me /> } /> }
}

#[component]
pub fn AdminIntegrationsPage() -> impl IntoView {
    view! { <AdminFrame title="Integrations" body=|me| view! { <Integrations me /> } /> }
}

#[component]
pub fn AdminBotPage() -> impl IntoView {
    view! { <AdminFrame title="Bot" body=|me| view! { <BotHealthView me /> } /> }
}

#[component]
fn BotHealthView(me: Me) -> impl IntoView {
    let reactivate = ServerAction::<ReactivateBot>::new();
    let overview = Resource::new(move || reactivate.version().get(), |_| bot_overview());
    let query = use_query_map();
    let reactivated = move || query.with(|q| q.get("reactivated").is_some());
    view! {
        <p class="muted small">"With a bot configured (CM_BOT_URL), a customer who has no agent talks to the bot first, until it hands them over. Calls that fail are retried at most 4 times within an hour; after 5 failures in a row the bot is made inactive and customers go straight to agents until it is reactivated here."</p>
        <Transition fallback=|| loading("Loading the bot's state…")>
            {move || overview.get().map(|r| match r {
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| overview.refetch()) /> }.into_any(),
                Ok(None) => view! { <p class="empty">"No bot is configured: customers go straight to agents. Set CM_BOT_URL, CM_BOT_ACCESS_TOKEN and CM_BOT_CALLBACK_TOKEN to add one (README: Configuration)."</p> }.into_any(),
                Ok(Some(o)) => {
                    let h = o.health.clone();
                    let csrf = me.csrf.clone();
                    view! {
                        <dl class="facts" aria-label="Bot">
                            <dt>"Webhook host"</dt><dd>{o.host.clone().unwrap_or_default()}</dd>
                            <dt>"State"</dt>
                            <dd class=if h.active { "ok" } else { "bad" }>
                                {if h.active { "✓ Active: new customers talk to the bot first".to_string() } else { "✗ Inactive: customers go straight to agents".to_string() }}
                                {h.inactive_since.clone().map(|at| view! { " (since " <Time at /> ")" })}
                            </dd>
                            <dt>"Failed calls in a row"</dt><dd>{h.consecutive_failures}</dd>
                            <dt>"Last error"</dt>
                            <dd>{h.last_error.clone().unwrap_or_else(|| "none".into())}{h.last_failure_at.clone().map(|at| view! { " (" <Time at /> ")" })}</dd>
                            <dt>"Last call answered"</dt>
                            <dd>{match h.last_success_at.clone() { Some(at) => view! { <Time at /> }.into_any(), None => "never".into_any() }}</dd>
                            {h.reactivated_at.clone().map(|at| view! {
                                <dt>"Reactivated"</dt>
                                <dd><Time at />{h.reactivated_by.clone().map(|by| format!(" by {}", by.trim_start_matches("agent:")))}</dd>
                            })}
                            <dt>"Conversations"</dt>
                            <dd>{format!("{} with the bot now, {} handed over, {} sent to agents because the bot did not answer", o.counts.open, o.counts.handed_over, o.counts.bypassed)}</dd>
                        </dl>
                        {(!h.active).then(|| view! {
                            <ActionForm action=reactivate attr:class="form-actions">
                                <input type="hidden" name="csrf" value=csrf />
                                <button type="submit" disabled=move || reactivate.pending().get()>"Reactivate the bot"</button>
                            </ActionForm>
                        })}
                    }.into_any()
                }
            })}
        </Transition>
        <div aria-live="polite">
            {move || reactivate.pending().get().then(|| view! { <p class="muted" role="status">"Reactivating…"</p> })}
            {move || reactivate.value().get().and_then(|r| r.err()).map(error_view)}
            {move || (reactivated() || matches!(reactivate.value().get(), Some(Ok(())))).then(|| view! {
                <p class="notice" role="status">"The bot is active again: the next new customer talks to it first."</p>
            })}
        </div>
    }
}

#[component]
pub fn AdminUndeliveredPage() -> impl IntoView {
    view! { <AdminFrame title="Undelivered" body=|_| view! { <DeadLetters /> } /> }
}

#[component]
pub fn AdminOptOutsPage() -> impl IntoView {
    view! { <AdminFrame title="Opt-outs" body=|_| view! { <OptOuts /> } /> }
}

#[component]
fn OptOuts() -> impl IntoView {
    let list = Resource::new(|| (), |_| opt_outs());
    view! {
        <p class="muted small">"Customers who replied STOP, UNSUBSCRIBE, CANCEL, END, QUIT or STOPALL. Nothing is sent to them on that channel, and conversations cannot be started with them, until they reply START or UNSTOP."</p>
        <Transition fallback=|| loading("Loading opt-outs…")>
            {move || list.get().map(|r| match r {
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| list.refetch()) /> }.into_any(),
                Ok((items, _)) if items.is_empty() => view! { <p class="empty">"No customer has opted out."</p> }.into_any(),
                Ok((items, total)) => view! {
                    <ul class="session-list" aria-label="Opt-outs">
                        {items.into_iter().map(|o| view! {
                            <li class="session">
                                <span class="number">{o.customer.clone()}</span>
                                <span class="muted small">{format!("{} · {} · ", o.channel, o.source)}<Time at=o.since.clone() /></span>
                            </li>
                        }).collect_view()}
                    </ul>
                    <p class="muted small">{format!("{total} opted out")}</p>
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    view! { <AdminFrame title="Audit log" body=|_| view! { <AuditLog /> } /> }
}

fn error_view(e: UiError) -> AnyView {
    view! { <p class="notice error" role="alert">{e.message}</p> }.into_any()
}

fn loading(what: &'static str) -> impl IntoView {
    view! { <p class="muted" role="status">{what}</p> }
}

#[component]
fn Agents(me: Me) -> impl IntoView {
    let query = use_query_map();
    let add = ServerAction::<AddAgent>::new();
    let access = ServerAction::<SetAgentAccess>::new();
    let agents = Resource::new(
        move || (add.version().get(), access.version().get()),
        |_| list_agents(),
    );
    let message = move || match (add.value().get(), access.value().get()) {
        (Some(Err(e)), _) | (_, Some(Err(e))) => Some((true, e.message)),
        (Some(Ok(a)), _) => Some((false, format!("Saved {}", a.email))),
        (_, Some(Ok(a))) => Some((false, format!("Saved {}", a.email))),
        _ => query.with(|m| {
            m.get("error")
                .map(|e| (true, e))
                .or_else(|| m.get("agent_saved").map(|_| (false, "Saved".into())))
        }),
    };
    let csrf = me.csrf.clone();
    let csrf2 = me.csrf.clone();
    let my_id = me.agent.id.clone();
    view! {
        <div aria-live="polite">
            {move || message().map(|(err, m)| view! { <p class=if err { "notice error" } else { "notice success" } role=if err { "alert" } else { "status" }>{m}</p> })}
        </div>
        <Transition fallback=|| loading("Loading agents…")>
            {move || {
                let csrf = csrf.clone();
                let my_id = my_id.clone();
                agents.get().map(move |r| match r {
                    Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| agents.refetch()) /> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No agents yet: add one below."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="session-list" aria-label="Agents">
                            {list.into_iter().map(|a| {
                                let me = a.id == my_id;
                                view! { <AgentRow agent=a me csrf=csrf.clone() access /> }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })
            }}
        </Transition>
        <section class="card" aria-labelledby="add-agent-h">
            <h2 id="add-agent-h">"Add an agent"</h2>
            <p class="muted small">"They sign in with Webex (or the Webex sidebar) as this email address."</p>
            <ActionForm action=add attr:class="form">
                <input type="hidden" name="csrf" value=csrf2 />
                <label for="agent-email">"Email"</label>
                <input id="agent-email" name="email" type="email" required autocomplete="off" />
                <label for="agent-name">"Name"</label>
                <input id="agent-name" name="name" autocomplete="off" />
                <label for="agent-role">"Role"</label>
                <select id="agent-role" name="role">
                    <option value="agent">"Agent"</option>
                    <option value="admin">"Admin"</option>
                </select>
                <div class="form-actions">
                    <button type="submit" disabled=move || add.pending().get()>
                        {move || if add.pending().get() { "Adding…" } else { "Add agent" }}
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}

/// One agent, with the role switch and, after a confirmation, disabling.
/// Admins cannot demote or disable themselves (the store refuses it too).
#[component]
fn AgentRow(
    agent: Agent,
    me: bool,
    csrf: String,
    access: ServerAction<SetAgentAccess>,
) -> impl IntoView {
    let a = agent;
    let admin = a.role == Role::Admin;
    let other_role = if admin { "agent" } else { "admin" };
    let role_label = format!(
        "Make {} {}",
        a.email,
        if admin { "an agent" } else { "an admin" }
    );
    let toggle_label = format!(
        "{} {}",
        if a.disabled { "Enable" } else { "Disable" },
        a.email
    );
    let (csrf_a, csrf_b) = (csrf.clone(), csrf);
    let (id_a, id_b) = (a.id.clone(), a.id.clone());
    let toggle = move |label: String| {
        view! {
            <ActionForm action=access>
                <input type="hidden" name="csrf" value=csrf_b.clone() />
                <input type="hidden" name="id" value=id_b.clone() />
                <input type="hidden" name="role" value="" />
                <input type="hidden" name="disabled" value=if a.disabled { "false" } else { "true" } />
                <button type="submit" class=if a.disabled { "secondary" } else { "danger" } aria-label=label
                    disabled=move || access.pending().get()>
                    {if a.disabled { "Enable" } else { "Disable" }}
                </button>
            </ActionForm>
        }
    };
    view! {
        <li class="session">
            <strong>{a.display_name.clone()} {me.then_some(" (you)")}</strong>
            <span class="muted small">{format!("{} · {}{}", a.email, a.role.as_str(), if a.disabled { " · disabled" } else { "" })}</span>
            <a class="small" href=format!("/links?{}", crate::layout::encode_query(&[("agent", &a.id)]))
                aria-label=format!("Links and QR codes of {}", a.display_name)>"Links and QR codes"</a>
            {(!me).then(|| view! {
                <div class="form-actions">
                    <ActionForm action=access>
                        <input type="hidden" name="csrf" value=csrf_a />
                        <input type="hidden" name="id" value=id_a />
                        <input type="hidden" name="role" value=other_role />
                        <input type="hidden" name="disabled" value="" />
                        <button type="submit" class="secondary" aria-label=role_label
                            disabled=move || access.pending().get()>
                            {if admin { "Make agent" } else { "Make admin" }}
                        </button>
                    </ActionForm>
                    {if a.disabled {
                        toggle(toggle_label).into_any()
                    } else {
                        view! {
                            <details class="confirm-details">
                                <summary>{format!("Disable {}…", a.display_name)}</summary>
                                <p>"They are signed out everywhere at once and cannot sign in until enabled again. Their customers stay routed to them."</p>
                                {toggle(toggle_label)}
                            </details>
                        }.into_any()
                    }}
                </div>
            })}
        </li>
    }
}

#[component]
fn ApiKeys(me: Me) -> impl IntoView {
    let query = use_query_map();
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let csrf = me.csrf.clone();
    let csrf2 = me.csrf.clone();
    let revoke_notice = move || match revoke.value().get() {
        Some(Err(e)) => Some(error_view(e)),
        Some(Ok(())) => {
            Some(view! { <p class="notice success" role="status">"Key revoked"</p> }.into_any())
        }
        None => query.with(|m| {
            m.get("error")
                .map(|e| error_view(UiError::new(crate::error::ErrorKind::Failed, e)))
                .or_else(|| {
                    m.get("key_revoked").map(|_| {
                        view! { <p class="notice success" role="status">"Key revoked"</p> }
                            .into_any()
                    })
                })
        }),
    };
    view! {
        <p class="muted small">"Webex Connect flows send a key in the " <code>"key"</code> " header."</p>
        <div aria-live="polite">
            {move || match create.value().get() {
                Some(Ok(k)) => Some(view! {
                    <div class="notice success" role="status">
                        <p>"Key " <strong>{k.name.clone()}</strong> " created. Copy it now: it will not be shown again."</p>
                        <p><code class="secret" aria-label="New API key">{k.key.clone()}</code></p>
                    </div>
                }.into_any()),
                Some(Err(e)) => Some(error_view(e)),
                None => None,
            }}
            {revoke_notice}
        </div>
        <Transition fallback=|| loading("Loading API keys…")>
            {move || {
                let csrf = csrf.clone();
                keys.get().map(move |r| match r {
                    Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| keys.refetch()) /> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No API keys yet: create one below."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="session-list" aria-label="API keys">
                            {list.into_iter().map(|k| {
                                let csrf = csrf.clone();
                                let label = format!("Revoke key {}", k.name);
                                view! {
                                    <li class="session">
                                        <strong>{k.name.clone()} {k.revoked.then(|| view! { <span class="tag">"revoked"</span> })}</strong>
                                        <span class="muted small">
                                            {format!("{}… · scopes {}", k.prefix, k.scopes.join(", "))}
                                        </span>
                                        <span class="muted small">
                                            "created " <Time at=k.created_at.clone() />
                                            {k.expires_at.clone().map(|at| view! { " · expires " <Time at /> })}
                                            " · last used "
                                            {match k.last_used_at.clone() {
                                                Some(at) => view! { <Time at /> }.into_any(),
                                                None => "never".into_any(),
                                            }}
                                        </span>
                                        {(!k.revoked).then(|| view! {
                                            <details class="confirm-details">
                                                <summary>"Revoke…"</summary>
                                                <p>"Flows using this key will stop working at once."</p>
                                                <ActionForm action=revoke>
                                                    <input type="hidden" name="csrf" value=csrf.clone() />
                                                    <input type="hidden" name="id" value=k.id.clone() />
                                                    <button type="submit" class="danger" disabled=move || revoke.pending().get()>{label}</button>
                                                </ActionForm>
                                            </details>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })
            }}
        </Transition>
        <section class="card" aria-labelledby="create-key-h">
            <h2 id="create-key-h">"Create a key"</h2>
            <ActionForm action=create attr:class="form">
                <input type="hidden" name="csrf" value=csrf2 />
                <label for="key-name">"Name"</label>
                <input id="key-name" name="name" required placeholder="e.g. webex-connect" autocomplete="off" />
                <fieldset>
                    <legend>"Scopes"</legend>
                    <label><input type="checkbox" name="scope_connect" value="on" checked /> " connect: contacts, sessions, agents"</label>
                    <label><input type="checkbox" name="scope_services" value="on" checked /> " services: guest tokens, attachments"</label>
                    <label><input type="checkbox" name="scope_admin" value="on" /> " admin: everything"</label>
                </fieldset>
                <label for="key-days">"Expires after (days, empty: never)"</label>
                <input id="key-days" name="expires_in_days" type="number" min="1" max="3650" inputmode="numeric" placeholder="e.g. 90" />
                <div class="form-actions">
                    <button type="submit" disabled=move || create.pending().get()>
                        {move || if create.pending().get() { "Creating…" } else { "Create key" }}
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn Integrations(me: Me) -> impl IntoView {
    let check = ServerAction::<CheckWebhooks>::new();
    let status = Resource::new(move || check.version().get(), |_| integrations_status());
    view! {
        <Suspense fallback=|| loading("Checking each endpoint…")>
            {move || status.get().map(|r| match r {
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| status.refetch()) /> }.into_any(),
                Ok(list) => view! {
                    <ul class="session-list" aria-label="Integrations">
                        {list.into_iter().map(|i| view! {
                            <li class="session">
                                <strong>{i.name}</strong>
                                {i.url.map(|url| view! { <span class="muted small">{url}</span> })}
                                <span class=if i.ok { "ok" } else { "bad" }>
                                    {if i.ok { "✓ " } else { "✗ " }}
                                    {i.status}
                                    {i.checked_at.map(|at| view! { " (checked " <Time at /> ")" })}
                                </span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any(),
            })}
        </Suspense>
        <ActionForm action=check attr:class="form-actions">
            <input type="hidden" name="csrf" value=me.csrf.clone() />
            <button type="submit" class="secondary" disabled=move || check.pending().get()>"Check guests' webhooks now"</button>
        </ActionForm>
        <div aria-live="polite">
            {move || check.pending().get().then(|| view! { <p class="muted" role="status">"Checking every active conversation's webhook…"</p> })}
            {move || check.value().get().and_then(|r| r.err()).map(error_view)}
        </div>
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.with(|m| m.get(k).unwrap_or_default());
    let page = move || {
        query.with(|m| {
            m.get("page")
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(1)
        })
    };
    let entries = Resource::new(
        move || {
            (
                get("actor"),
                get("action"),
                get("entity"),
                get("entity_id"),
                page(),
            )
        },
        |(actor, action, entity, entity_id, page)| {
            search_audit(actor, action, entity, Some(entity_id), Some(page))
        },
    );
    // A page link keeps the filters.
    let page_href = move |n: u32| {
        format!(
            "/admin/audit?{}",
            crate::layout::encode_query(
                &[
                    ("actor", get("actor")),
                    ("action", get("action")),
                    ("entity", get("entity")),
                    ("entity_id", get("entity_id")),
                    ("page", n.to_string()),
                ]
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>()
            )
        )
    };
    let (busy, set_busy) = signal(false);
    let filtered = move || {
        ["actor", "action", "entity", "entity_id"]
            .iter()
            .any(|k| !get(k).is_empty())
    };
    view! {
        <details class="card filters" open=filtered>
            <summary>"Filters"</summary>
            <form method="get" action="/admin/audit" class="form" role="search" aria-label="Audit log filters">
                <label for="f-actor">"Who"</label>
                <input id="f-actor" name="actor" value=move || get("actor") placeholder="email or key name" />
                <label for="f-action">"Action"</label>
                <input id="f-action" name="action" value=move || get("action") placeholder="e.g. contact. or conversation.start" />
                <label for="f-entity">"Record type"</label>
                <select id="f-entity" name="entity">
                    {["", "contact", "session", "agent", "api_key"].into_iter().map(|v| {
                        let selected = move || get("entity") == v;
                        view! { <option value=v selected=selected>{if v.is_empty() { "any" } else { v }}</option> }
                    }).collect_view()}
                </select>
                <label for="f-entity-id">"Record id"</label>
                <input id="f-entity-id" name="entity_id" value=move || get("entity_id") autocomplete="off" />
                <div class="form-actions">
                    <button type="submit" class="secondary">"Filter"</button>
                    <a href="/admin/audit">"Clear filters"</a>
                </div>
            </form>
        </details>
        <LoadingLine busy=busy what="Loading the audit log…" />
        <LoadingTransition busy=set_busy>
            {move || entries.get().map(|r| match r {
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| entries.refetch()) /> }.into_any(),
                Ok(p) if p.entries.is_empty() && p.page == 1 => view! {
                    <p class="empty">{if filtered() { "No entries match these filters." } else { "The audit log is empty." }}</p>
                }.into_any(),
                Ok(p) => {
                    let current = p.page;
                    let last_allowed = current >= AUDIT_MAX_PAGES && p.more;
                    view! {
                        {p.entries.is_empty().then(|| view! { <p class="empty">"No entries on this page."</p> })}
                        <ul class="session-list" aria-label="Audit entries">
                            {p.entries.into_iter().map(|e| view! {
                                <li class="session">
                                    <strong>{e.action}</strong>
                                    <span class="muted small"><Time at=e.at.clone() />{format!(" · {}", e.actor)}</span>
                                    <span class="muted small">{e.entity}</span>
                                    {e.request_id.map(|id| {
                                        // The first 8 characters tell requests apart on a page; the whole id is on hover.
                                        let short: String = id.chars().take(8).collect();
                                        view! { <span class="muted small" title=id>{format!("request {short}…")}</span> }
                                    })}
                                </li>
                            }).collect_view()}
                        </ul>
                        <nav class="pager" aria-label="Audit log pages">
                            <span>{format!("Page {current}")}</span>
                            {(current > 1).then(|| view! { <a href=page_href(current - 1)>"Newer"</a> })}
                            {(p.more && current < AUDIT_MAX_PAGES).then(|| view! { <a href=page_href(current + 1)>"Older"</a> })}
                        </nav>
                        {last_allowed.then(|| view! {
                            <p class="muted small">"Older entries exist: narrow the filters to reach them."</p>
                        })}
                    }.into_any()
                }
            })}
        </LoadingTransition>
    }
}

#[component]
fn DeadLetters() -> impl IntoView {
    let jobs = Resource::new(|| (), |_| dead_letters());
    view! {
        <p class="muted small">"Calls to Webex or Connect that failed after every retry (the newest 100)."</p>
        <Transition fallback=|| loading("Loading undelivered calls…")>
            {move || jobs.get().map(|r| match r {
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| jobs.refetch()) /> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="empty">"Nothing undelivered: every call got through."</p> }.into_any(),
                Ok(list) => view! {
                    <ul class="session-list" aria-label="Undelivered">
                        {list.into_iter().map(|j| view! {
                            <li class="session">
                                <a href=format!("/sessions/{}", j.session)>{j.kind.clone()}</a>
                                <span class="small bad">{j.error.clone()}</span>
                                <span class="muted small">{format!("{} attempts · ", j.attempts)}<Time at=j.created_at.clone() /></span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any(),
            })}
        </Transition>
    }
}
