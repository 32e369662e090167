//! Admin: agents and roles, API keys, integrations health, audit log.
//! Every server function here checks that the caller is an admin.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::auth::Me;
use crate::error::UiError;
use crate::layout::SignedIn;
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

#[server(endpoint = "admin/agents")]
pub async fn list_agents() -> Result<Vec<Agent>, UiError> {
    admin()?;
    Ok(crate::ssr::deps().store.list_agents().await?)
}

#[server(endpoint = "admin/agents/add")]
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
        Then::Reload("/admin?agent_saved=1".into()),
        "/admin",
        &[("email", &email)],
    )
}

#[server(endpoint = "admin/agents/access")]
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
        Then::Reload("/admin?agent_saved=1".into()),
        "/admin",
        &[],
    )
}

#[server(endpoint = "admin/keys")]
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
#[server(endpoint = "admin/keys/create")]
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

#[server(endpoint = "admin/keys/revoke")]
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
        Then::Reload("/admin?key_revoked=1".into()),
        "/admin",
        &[],
    )
}

#[server(endpoint = "admin/integrations")]
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
        });
    }
    if let Some(guests) = &deps.guests {
        let check = guests.check().await;
        out.push(IntegrationView {
            name: format!("Webex guests: {}", guests.provider().name()),
            url: None,
            status: check.detail,
            ok: check.ok,
        });
    } else {
        out.push(IntegrationView {
            name: "Webex guests".into(),
            url: None,
            status: "not configured (CM_WEBEX_GUESTS and its settings)".into(),
            ok: false,
        });
    }
    if let Some(relay) = &deps.relay {
        let (status, ok) = webhook_health(&relay.webhook_report());
        out.push(IntegrationView {
            name: "Guests' Webex webhooks".into(),
            url: None,
            status,
            ok,
        });
    }
    Ok(out)
}

/// The last round of webhook checks in a sentence, and whether all is well.
#[cfg(feature = "ssr")]
fn webhook_health(r: &relay::WebhookReport) -> (String, bool) {
    let Some(at) = r.checked_at_ms else {
        return ("not checked yet".into(), true);
    };
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
    (
        format!("{} (checked {})", parts.join(", "), store::format_ms(at)),
        r.failed.is_empty(),
    )
}

/// Checks every active session's webhook now, turning inactive ones back
/// on and creating missing ones (they are also checked periodically).
#[server(endpoint = "admin/webhooks/check")]
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
    finish(result, Then::Reload("/admin#int-h".into()), "/admin", &[])
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
#[server(endpoint = "admin/dead-letters")]
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

#[server(endpoint = "admin/audit")]
pub async fn search_audit(
    actor: String,
    action: String,
    entity: String,
) -> Result<Vec<AuditView>, UiError> {
    use store::AuditFilter;
    admin()?;
    let entries = crate::ssr::deps()
        .store
        .search_audit(
            &AuditFilter {
                actor: Some(actor),
                action: Some(action),
                entity_type: Some(entity).filter(|e| !e.is_empty()),
                entity_id: None,
            },
            100,
        )
        .await?;
    Ok(entries
        .into_iter()
        .map(|e| AuditView {
            at: e.at,
            actor: e.actor,
            action: e.action,
            entity: format!("{} {}", e.entity_type, e.entity_id),
            request_id: e.request_id,
        })
        .collect())
}

#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <SignedIn render=|me| {
            if me.agent.role == Role::Admin {
                view! {
                    <h1>"Admin"</h1>
                    <Agents me=me.clone() />
                    <ApiKeys me=me.clone() />
                    <Integrations me=me.clone() />
                    <DeadLetters />
                    <AuditLog />
                }.into_any()
            } else {
                view! { <p class="notice error" role="alert">"Only admins can see this page."</p> }.into_any()
            }
        } />
    }
}

fn error_view(e: UiError) -> AnyView {
    view! { <p class="notice error" role="alert">{e.message}</p> }.into_any()
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
    view! {
        <section class="card" aria-labelledby="agents-h">
            <h2 id="agents-h">"Agents"</h2>
            {move || message().map(|(err, m)| view! { <p class=if err { "notice error" } else { "notice success" } role=if err { "alert" } else { "status" }>{m}</p> })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let csrf = csrf.clone();
                    agents.get().map(move |r| match r {
                        Err(e) => error_view(e),
                        Ok(list) => view! {
                            <ul class="session-list" aria-label="Agents">
                                {list.into_iter().map(|a| {
                                    let csrf = csrf.clone();
                                    let (csrf_a, csrf_b) = (csrf.clone(), csrf.clone());
                                    let (id_a, id_b) = (a.id.clone(), a.id.clone());
                                    let other_role = if a.role == Role::Admin { "agent" } else { "admin" };
                                    let role_label = format!("Make {} {}", a.email, if a.role == Role::Admin { "an agent" } else { "an admin" });
                                    let toggle_label = format!("{} {}", if a.disabled { "Enable" } else { "Disable" }, a.email);
                                    view! {
                                        <li class="session">
                                            <strong>{a.display_name.clone()}</strong>
                                            <span class="muted small">{format!("{} · {}{}", a.email, a.role.as_str(), if a.disabled { " · disabled" } else { "" })}</span>
                                            <div class="form-actions">
                                                <ActionForm action=access>
                                                    <input type="hidden" name="csrf" value=csrf_a />
                                                    <input type="hidden" name="id" value=id_a />
                                                    <input type="hidden" name="role" value=other_role />
                                                    <input type="hidden" name="disabled" value="" />
                                                    <button type="submit" class="secondary" aria-label=role_label>{if a.role == Role::Admin { "Make agent" } else { "Make admin" }}</button>
                                                </ActionForm>
                                                <ActionForm action=access>
                                                    <input type="hidden" name="csrf" value=csrf_b />
                                                    <input type="hidden" name="id" value=id_b />
                                                    <input type="hidden" name="role" value="" />
                                                    <input type="hidden" name="disabled" value=if a.disabled { "false" } else { "true" } />
                                                    <button type="submit" class="secondary" aria-label=toggle_label>{if a.disabled { "Enable" } else { "Disable" }}</button>
                                                </ActionForm>
                                            </div>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    })
                }}
            </Transition>
            <h3>"Add an agent"</h3>
            <ActionForm action=add attr:class="form">
                <input type="hidden" name="csrf" value=csrf2 />
                <label for="agent-email">"Email"</label>
                <input id="agent-email" name="email" type="email" required />
                <label for="agent-name">"Name"</label>
                <input id="agent-name" name="name" />
                <label for="agent-role">"Role"</label>
                <select id="agent-role" name="role">
                    <option value="agent">"Agent"</option>
                    <option value="admin">"Admin"</option>
                </select>
                <div class="form-actions"><button type="submit">"Add agent"</button></div>
            </ActionForm>
        </section>
    }
}

#[component]
fn ApiKeys(me: Me) -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let csrf = me.csrf.clone();
    let csrf2 = me.csrf.clone();
    view! {
        <section class="card" aria-labelledby="keys-h">
            <h2 id="keys-h">"API keys"</h2>
            <p class="muted small">"Webex Connect flows send a key in the " <code>"key"</code> " header."</p>
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
            {move || revoke.value().get().and_then(|r| r.err()).map(error_view)}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let csrf = csrf.clone();
                    keys.get().map(move |r| match r {
                        Err(e) => error_view(e),
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No API keys yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="session-list" aria-label="API keys">
                                {list.into_iter().map(|k| {
                                    let csrf = csrf.clone();
                                    let label = format!("Revoke key {}", k.name);
                                    view! {
                                        <li class="session">
                                            <strong>{k.name.clone()}</strong>
                                            <span class="muted small">{format!("{}… · scopes {} · created {}{} · last used {}{}", k.prefix, k.scopes.join(", "), &k.created_at[..10.min(k.created_at.len())], k.expires_at.as_deref().map(|at| format!(" · expires {}", &at[..10.min(at.len())])).unwrap_or_default(), k.last_used_at.clone().unwrap_or_else(|| "never".into()), if k.revoked { " · revoked" } else { "" })}</span>
                                            {(!k.revoked).then(|| view! {
                                                <details>
                                                    <summary>"Revoke…"</summary>
                                                    <p>"Flows using this key will stop working at once."</p>
                                                    <ActionForm action=revoke>
                                                        <input type="hidden" name="csrf" value=csrf.clone() />
                                                        <input type="hidden" name="id" value=k.id.clone() />
                                                        <button type="submit" class="danger">{label}</button>
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
            <h3>"Create a key"</h3>
            <ActionForm action=create attr:class="form">
                <input type="hidden" name="csrf" value=csrf2 />
                <label for="key-name">"Name"</label>
                <input id="key-name" name="name" required placeholder="e.g. webex-connect" />
                <fieldset>
                    <legend>"Scopes"</legend>
                    <label><input type="checkbox" name="scope_connect" value="on" checked /> " connect: contacts, sessions, agents"</label>
                    <label><input type="checkbox" name="scope_services" value="on" checked /> " services: guest tokens, attachments"</label>
                    <label><input type="checkbox" name="scope_admin" value="on" /> " admin: everything"</label>
                </fieldset>
                <label for="key-days">"Expires after (days, empty: never)"</label>
                <input id="key-days" name="expires_in_days" type="number" min="1" max="3650" inputmode="numeric" placeholder="e.g. 90" />
                <div class="form-actions"><button type="submit">"Create key"</button></div>
            </ActionForm>
        </section>
    }
}

#[component]
fn Integrations(me: Me) -> impl IntoView {
    let check = ServerAction::<CheckWebhooks>::new();
    let status = Resource::new(move || check.version().get(), |_| integrations_status());
    view! {
        <section class="card" aria-labelledby="int-h">
            <h2 id="int-h">"Integrations"</h2>
            <ActionForm action=check attr:class="form-actions">
                <input type="hidden" name="csrf" value=me.csrf.clone() />
                <button type="submit" class="secondary">"Check guests' webhooks now"</button>
            </ActionForm>
            {move || check.pending().get().then(|| view! { <p class="muted" role="status">"Checking every active conversation's webhook…"</p> })}
            {move || check.value().get().and_then(|r| r.err()).map(error_view)}
            <Suspense fallback=|| view! { <p class="muted" role="status">"Checking endpoints…"</p> }>
                {move || status.get().map(|r| match r {
                    Err(e) => error_view(e),
                    Ok(list) => view! {
                        <ul class="session-list" aria-label="Integrations">
                            {list.into_iter().map(|i| view! {
                                <li class="session">
                                    <strong>{i.name}</strong>
                                    {i.url.map(|url| view! { <span class="muted small">{url}</span> })}
                                    <span class=if i.ok { "ok" } else { "bad" }>{i.status}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.with(|m| m.get(k).unwrap_or_default());
    let entries = Resource::new(
        move || (get("actor"), get("action"), get("entity")),
        |(actor, action, entity)| search_audit(actor, action, entity),
    );
    view! {
        <section class="card" aria-labelledby="audit-h">
            <h2 id="audit-h">"Audit log"</h2>
            <form method="get" action="/admin" class="form">
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
                <div class="form-actions"><button type="submit" class="secondary">"Filter"</button></div>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || entries.get().map(|r| match r {
                    Err(e) => error_view(e),
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No matching entries."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="session-list" aria-label="Audit entries">
                            {list.into_iter().map(|e| view! {
                                <li class="session">
                                    <strong>{e.action}</strong>
                                    <span class="muted small">{format!("{} · {} · {}", crate::layout::display_time(&e.at, true), e.actor, e.entity)}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn DeadLetters() -> impl IntoView {
    let jobs = Resource::new(|| (), |_| dead_letters());
    view! {
        <section class="card" aria-labelledby="dead-h">
            <h2 id="dead-h">"Undelivered"</h2>
            <p class="muted small">"Calls to Webex or Connect that failed after every retry."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || jobs.get().map(|r| match r {
                    Err(e) => error_view(e),
                    Ok(list) if list.is_empty() => view! { <p class="muted">"Nothing undelivered."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="session-list" aria-label="Undelivered">
                            {list.into_iter().map(|j| view! {
                                <li class="session">
                                    <a href=format!("/sessions/{}", j.session)>{j.kind.clone()}</a>
                                    <span class="small bad">{j.error.clone()}</span>
                                    <span class="muted small">{format!("{} attempts · {}", j.attempts, j.created_at)}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
