//! Admin › Message log: every relayed message, searched by Connect's
//! transaction id, the Webex message id, the customer's number, the agent, a
//! time range and the status (a GET form, so a search is a link), and one
//! message's hops as a timeline. Admins only, like every admin page.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::admin::AdminFrame;
use crate::codec::Json;
use crate::error::UiError;
use crate::layout::{ErrorNotice, LoadingLine, LoadingTransition};
use crate::time::Time;
use domain::message_log::{
    job_label, LoggedMessage, MessageLogPage, MessageLogQuery, MessageTrail,
};
use domain::model::{Direction, MessageStatus};

/// Messages a page of results shows.
pub const MESSAGES_PER_PAGE: u32 = 25;

/// The search's fields: (query name, label, placeholder).
const FIELDS: [(&str, &str, &str); 6] = [
    ("customer", "Customer number", "e.g. +44 7700 900123"),
    ("transid", "Connect transaction id", ""),
    ("webex_id", "Webex message id", ""),
    ("agent", "Agent", "email"),
    ("from", "From", "2026-11-30 or 2026-11-30T14:00:00Z"),
    ("to", "To", "2026-11-30 or 2026-11-30T18:00:00Z"),
];

/// The customer's number as people write it, for a view.
#[cfg(feature = "ssr")]
fn for_people(mut m: LoggedMessage) -> LoggedMessage {
    m.customer = domain::phone::for_people(&m.customer);
    m
}

pub use search::search_messages;

// The search takes its eight filters as arguments. `#[server]` puts an
// `#[allow]` on the server's copy of the function only; the browser build's
// copy gets it from the module.
#[allow(clippy::too_many_arguments)]
mod search {
    use super::*;

    /// Relayed messages matching every filter given, newest first. Dates are
    /// whole days in UTC; times are RFC 3339 with their zone.
    #[server(endpoint = "admin/messages", output = Json)]
    pub async fn search_messages(
        transid: Option<String>,
        webex_id: Option<String>,
        customer: Option<String>,
        agent: Option<String>,
        from: Option<String>,
        to: Option<String>,
        status: Option<String>,
        page: Option<u32>,
    ) -> Result<MessageLogPage, UiError> {
        use domain::message_log::MessageLogFilter;
        let s = crate::ssr::require_agent()?;
        crate::ssr::require_admin(&s)?;
        let db = crate::ssr::deps().store;
        let query = MessageLogQuery {
            transid,
            webex_id,
            customer,
            agent,
            from,
            to,
            status,
        };
        let filter = MessageLogFilter::try_from((&query, db.rules().phone_region))
            .map_err(domain::DomainError::Invalid)?;
        let paging = store::Paging::new(Some(page.unwrap_or(1).max(1)), Some(MESSAGES_PER_PAGE))
            .map_err(domain::DomainError::Invalid)?;
        let mut found = db.search_message_log(&filter, paging).await?;
        found.items = found.items.into_iter().map(for_people).collect();
        Ok(found)
    }
}

/// One message and the hops it took.
#[server(endpoint = "admin/messages/trail", output = Json)]
pub async fn get_message_trail(id: String) -> Result<MessageTrail, UiError> {
    let s = crate::ssr::require_agent()?;
    crate::ssr::require_admin(&s)?;
    let mut trail = crate::ssr::deps().store.message_trail(id.trim()).await?;
    trail.message = for_people(trail.message);
    Ok(trail)
}

/// `/admin/messages`
#[component]
pub fn AdminMessagesPage() -> impl IntoView {
    view! { <AdminFrame title="Message log" body=|_| view! { <MessageLog /> } /> }
}

/// `/admin/messages/:id`
#[component]
pub fn AdminMessagePage() -> impl IntoView {
    view! { <AdminFrame title="Message log" body=|_| view! { <MessageDetail /> } /> }
}

fn direction_label(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "From the customer",
        Direction::Outbound => "To the customer",
    }
}

/// The first words of a message, for a list.
fn excerpt(body: &str) -> String {
    const MAX: usize = 80;
    match body.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_string(),
    }
}

/// What an invalid search says: the field's label and the problem.
fn search_error(e: &UiError) -> Option<String> {
    let field = e.field.as_deref()?;
    let label = FIELDS
        .iter()
        .find(|(name, _, _)| *name == field)
        .map_or(if field == "status" { "Status" } else { field }, |f| f.1);
    Some(format!("{label}: {}", e.message))
}

#[component]
fn MessageLog() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.with(|m| m.get(k).unwrap_or_default());
    let page = move || {
        query.with(|m| {
            m.get("page")
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(1)
        })
    };
    let asked = move || MessageLogQuery {
        transid: Some(get("transid")),
        webex_id: Some(get("webex_id")),
        customer: Some(get("customer")),
        agent: Some(get("agent")),
        from: Some(get("from")),
        to: Some(get("to")),
        status: Some(get("status")),
    };
    let results = Resource::new(
        move || (asked(), page()),
        |(q, page)| {
            search_messages(
                q.transid,
                q.webex_id,
                q.customer,
                q.agent,
                q.from,
                q.to,
                q.status,
                Some(page),
            )
        },
    );
    // A page link keeps the search.
    let page_href = move |n: u32| {
        let n = n.to_string();
        let mut pairs: Vec<(&str, String)> = FIELDS
            .iter()
            .map(|(k, _, _)| (*k, get(k)))
            .chain([("status", get("status"))])
            .filter(|(_, v)| !v.is_empty())
            .collect();
        pairs.push(("page", n));
        format!(
            "/admin/messages?{}",
            crate::layout::encode_query(
                &pairs
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect::<Vec<_>>()
            )
        )
    };
    let (busy, set_busy) = signal(false);
    view! {
        <p class="muted small">"Every message relayed between agents and customers, and what happened to it on the way. Filters combine; dates are whole days in UTC."</p>
        <form method="get" action="/admin/messages" class="card form" role="search" aria-label="Search the message log">
            {FIELDS.into_iter().map(|(name, label, placeholder)| {
                let id = format!("m-{name}");
                view! {
                    <label for=id.clone()>{label}</label>
                    <input id=id name=name value=move || get(name) placeholder=placeholder autocomplete="off" />
                }
            }).collect_view()}
            <label for="m-status">"Status"</label>
            <select id="m-status" name="status">
                <option value="" selected=move || get("status").is_empty()>"any"</option>
                {MessageStatus::ALL.iter().map(|s| {
                    let word = s.as_str();
                    view! { <option value=word selected=move || get("status") == word>{word}</option> }
                }).collect_view()}
            </select>
            <div class="form-actions">
                <button type="submit">"Search"</button>
                <a href="/admin/messages">"Clear"</a>
            </div>
        </form>
        <LoadingLine busy=busy what="Searching the message log…" />
        <LoadingTransition busy=set_busy>
            {move || results.get().map(|r| match r {
                Err(e) => match search_error(&e) {
                    Some(said) => view! { <p class="notice error" role="alert">{said}</p> }.into_any(),
                    None => view! { <ErrorNotice error=e retry=Callback::new(move |_| results.refetch()) /> }.into_any(),
                },
                Ok(p) if p.items.is_empty() && p.page == 1 => view! {
                    <p class="empty">{if asked().is_filtered() { "No message matches this search." } else { "No message has been relayed yet." }}</p>
                }.into_any(),
                Ok(p) => {
                    let current = p.page;
                    view! {
                        {p.items.is_empty().then(|| view! { <p class="empty">"No messages on this page."</p> })}
                        <ul class="session-list" aria-label="Messages">
                            {p.items.into_iter().map(|m| view! { <LogRow m /> }).collect_view()}
                        </ul>
                        <nav class="pager" aria-label="Message log pages">
                            <span>{format!("Page {current}")}</span>
                            {(current > 1).then(|| view! { <a href=page_href(current - 1)>"Newer"</a> })}
                            {p.more.then(|| view! { <a href=page_href(current + 1)>"Older"</a> })}
                        </nav>
                    }.into_any()
                }
            })}
        </LoadingTransition>
    }
}

#[component]
fn LogRow(m: LoggedMessage) -> impl IntoView {
    let failed = m.status == MessageStatus::Failed;
    let tries = match m.attempts {
        0 => String::new(),
        1 => " · 1 try".to_string(),
        n => format!(" · {n} tries"),
    };
    view! {
        <li class="session">
            <a href=format!("/admin/messages/{}", m.id)>{excerpt(&m.body)}</a>
            <span class="muted small">
                {format!("{} · {} · ", direction_label(m.direction), m.channel)}
                <span class="number">{m.customer.clone()}</span>
                {m.agent.clone().map(|a| format!(" · {a}"))}
            </span>
            <span class="small">
                <span class:bad=failed>{m.status.as_str()}</span>
                {tries}
                " · "
                <Time at=m.created_at.clone() />
            </span>
        </li>
    }
}

#[component]
fn MessageDetail() -> impl IntoView {
    let params = use_params_map();
    let trail = Resource::new(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        get_message_trail,
    );
    view! {
        <p><a href="/admin/messages">"Back to the search"</a></p>
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading the message…"</p> }>
            {move || trail.get().map(|r| match r {
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| trail.refetch()) /> }.into_any(),
                Ok(t) => view! { <Trail trail=t /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Trail(trail: MessageTrail) -> impl IntoView {
    let hops = trail.hops();
    let m = trail.message;
    let error = match (&m.error_code, &m.error_text) {
        (Some(c), Some(t)) => Some(format!("{t} ({c})")),
        (None, Some(t)) => Some(t.clone()),
        (Some(c), None) => Some(c.clone()),
        (None, None) => None,
    };
    let webex_id = (m.provider.as_deref() == Some("webex"))
        .then(|| m.provider_message_id.clone())
        .flatten();
    let transid = m.connect_transid.clone().or_else(|| {
        (m.provider.as_deref() == Some("connect"))
            .then(|| m.provider_message_id.clone())
            .flatten()
    });
    view! {
        <section class="card" aria-label="Message">
            <h2>{direction_label(m.direction)}</h2>
            <p class="message-body">{m.body.clone()}</p>
            <dl class="facts">
                <dt>"Channel"</dt><dd>{m.channel.clone()}</dd>
                <dt>"Customer"</dt><dd class="number">{m.customer.clone()}</dd>
                <dt>"Agent"</dt><dd>{m.agent.clone().unwrap_or_else(|| "none".into())}</dd>
                <dt>"Status"</dt><dd class:bad={m.status == MessageStatus::Failed}>{m.status.as_str()}</dd>
                {error.map(|e| view! { <dt>"Error"</dt><dd class="bad">{e}</dd> })}
                {transid.map(|t| view! { <dt>"Connect transaction"</dt><dd><code>{t}</code></dd> })}
                {webex_id.map(|w| view! { <dt>"Webex message"</dt><dd><code>{w}</code></dd> })}
                <dt>"Session"</dt><dd><a href=format!("/sessions/{}", m.session_id)>"Open the conversation"</a></dd>
                <dt>"Written"</dt><dd><Time at=m.created_at.clone() /></dd>
            </dl>
        </section>
        <section class="card" aria-label="Hops">
            <h2>"Hops"</h2>
            <ol class="timeline" aria-label="Timeline">
                {hops.into_iter().map(|h| view! {
                    <li class:bad={h.bad}>
                        <Time at=h.at.clone() />
                        " "
                        <strong>{h.what}</strong>
                        {h.detail.map(|d| view! { <span class="muted small">{d}</span> })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
        <section class="card" aria-label="Jobs">
            <h2>"Jobs"</h2>
            {if trail.jobs.is_empty() {
                view! { <p class="empty">"No job has tried this message yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table aria-label="Tries">
                            <thead><tr><th>"Job"</th><th>"Try"</th><th>"When"</th><th>"Outcome"</th><th>"Answer"</th></tr></thead>
                            <tbody>
                                {trail.jobs.into_iter().flat_map(|j| {
                                    let label = format!("{} (#{}, {})", job_label(&j.kind), j.id, j.status);
                                    j.tries.into_iter().map(move |t| view! {
                                        <tr>
                                            <td>{label.clone()}</td>
                                            <td>{t.attempt}</td>
                                            <td><Time at=t.started_at.clone() /></td>
                                            <td class:bad={t.outcome != "done"}>{t.outcome.clone()}</td>
                                            <td>
                                                {t.http_status.map(|s| format!("HTTP {s} "))}
                                                {t.answer.clone()}
                                            </td>
                                        </tr>
                                    }).collect::<Vec<_>>()
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
