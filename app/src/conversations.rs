//! Conversations: a customer's engagements with agents, one by one, open or
//! closed, each with its own transcript; closed ones can be reopened.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::codec::Json;
use crate::contacts::label;
#[cfg(feature = "ssr")]
use crate::error::ErrorKind;
use crate::error::UiError;
use crate::layout::ErrorNotice;
use crate::sessions::Transcript;
use crate::time::Time;
use domain::model::{ClosedBy, Conversation, ConversationStatus, Message};

/// How many of a contact's or customer's conversations a list shows.
#[cfg(feature = "ssr")]
const LIST_MAX: u32 = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationList {
    pub items: Vec<Conversation>,
    /// All the viewer may see (the list shows the latest `LIST_MAX`).
    pub total: i64,
}

/// The agent's names a conversation may carry (email, Webex person id).
#[cfg(feature = "ssr")]
fn names_of(agent: &domain::model::Agent) -> Vec<String> {
    let mut names = vec![agent.email.clone()];
    names.extend(agent.webex_person_id.clone());
    names
}

/// A contact's conversations, or a session's, that the viewer may see:
/// their own, or all for admins.
#[server(endpoint = "conversations/list", output = Json)]
pub async fn list_conversations(
    contact_id: Option<String>,
    session_id: Option<String>,
) -> Result<ConversationList, UiError> {
    let web = crate::ssr::require_agent()?;
    conversations_for(&web.agent, contact_id, session_id).await
}

#[cfg(feature = "ssr")]
pub(crate) async fn conversations_for(
    viewer: &domain::model::Agent,
    contact_id: Option<String>,
    session_id: Option<String>,
) -> Result<ConversationList, UiError> {
    use domain::model::Role;
    use store::{ConversationQuery, Paging};
    let paging = Paging::new(Some(1), Some(LIST_MAX)).map_err(domain::DomainError::from)?;
    let page = crate::ssr::deps()
        .store
        .conversations(&ConversationQuery {
            contact_id,
            session_id,
            visible_to: (viewer.role != Role::Admin).then(|| names_of(viewer)),
            paging: Some(paging),
            ..Default::default()
        })
        .await?;
    Ok(ConversationList {
        items: page.items,
        total: page.total,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationPage {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
    pub contact_name: Option<String>,
    /// The customer's number as people write it.
    pub customer: String,
    /// Whether it is the customer's latest (only that one can be reopened).
    pub latest: bool,
    pub csrf: String,
    pub link_origins: Vec<String>,
}

/// A conversation the signed-in agent may see; others are "not found".
#[cfg(feature = "ssr")]
async fn visible_conversation(id: &str) -> Result<(store::WebSession, Conversation), UiError> {
    let web = crate::ssr::require_agent()?;
    let store = crate::ssr::deps().store;
    let not_found = || {
        UiError::new(
            ErrorKind::NotFound,
            "no such conversation, or it is not yours",
        )
    };
    let conversation = store.conversation(id).await.map_err(|_| not_found())?;
    if !domain::access::can_view_conversation(&web.agent, &conversation) {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
        return Err(not_found());
    }
    Ok((web, conversation))
}

#[server(endpoint = "conversations/get", output = Json)]
pub async fn get_conversation(id: String) -> Result<ConversationPage, UiError> {
    let (web, conversation) = visible_conversation(&id).await?;
    let store = crate::ssr::deps().store;
    let messages = store.conversation_messages(&id).await?;
    let session = store.session(&conversation.session_id).await?;
    let contact_name = match conversation.contact_id.as_deref() {
        Some(c) => store.contact(c).await.ok().map(|c| c.name),
        None => None,
    };
    Ok(ConversationPage {
        latest: session.conversation_id.as_deref() == Some(conversation.id.as_str()),
        customer: domain::phone::for_people(&conversation.customer_channel_id),
        conversation,
        messages,
        contact_name,
        csrf: web.csrf_token,
        link_origins: crate::ssr::deps().link_origins,
    })
}

#[server(endpoint = "conversations/close", output = Json)]
pub async fn close_conversation(
    csrf: String,
    id: String,
    reason: Option<String>,
) -> Result<(), UiError> {
    use crate::ssr::{audit, deps, finish, require_csrf, Then};
    let result = async {
        let (web, _) = visible_conversation(&id).await?;
        require_csrf(&web, &csrf)?;
        let reason = store::close_reason(reason.as_deref()).map_err(domain::DomainError::from)?;
        deps()
            .store
            .close_conversation(&audit(&web.agent), &id, ClosedBy::Agent, reason.as_deref())
            .await?;
        Ok(())
    }
    .await;
    finish(
        result,
        Then::Reload(format!("/conversations/{id}?closed=1")),
        &format!("/conversations/{id}"),
        &[],
    )
}

#[server(endpoint = "conversations/reopen", output = Json)]
pub async fn reopen_conversation(csrf: String, id: String) -> Result<(), UiError> {
    use crate::ssr::{audit, deps, finish, require_csrf, Then};
    let result = async {
        let (web, _) = visible_conversation(&id).await?;
        require_csrf(&web, &csrf)?;
        deps()
            .store
            .reopen_conversation(&audit(&web.agent), &id)
            .await?;
        Ok(())
    }
    .await;
    finish(
        result,
        Then::Reload(format!("/conversations/{id}?reopened=1")),
        &format!("/conversations/{id}"),
        &[],
    )
}

/// "Closed by the agent", "Closed after inactivity", ...
pub fn closed_text(by: Option<ClosedBy>) -> &'static str {
    match by {
        Some(ClosedBy::Agent) => "Closed by the agent",
        Some(ClosedBy::Api) => "Closed by a flow (API)",
        Some(ClosedBy::Inactivity) => "Closed after inactivity",
        Some(ClosedBy::OptOut) => "Closed: the customer opted out",
        Some(ClosedBy::Transfer) => "Closed: passed to another agent",
        None => "Closed",
    }
}

/// A list of conversations, newest first, each linking to its transcript.
/// The page loads it with its own data (one resource a page: nested ones
/// stalled server renders).
#[component]
pub fn Conversations(list: ConversationList) -> impl IntoView {
    let more = (list.total > list.items.len() as i64)
        .then(|| format!("The latest {} of {}.", list.items.len(), list.total));
    view! {
        <section aria-labelledby="conversations-title">
            <h2 id="conversations-title">"Conversations"</h2>
            {if list.items.is_empty() {
                view! { <p class="muted">"No conversations yet (or none of yours)."</p> }.into_any()
            } else {
                view! {
                    <ul class="conversation-list" aria-label="Conversations">
                        {list.items.into_iter().map(|c| {
                            let open = c.status == ConversationStatus::Open;
                            view! {
                                <li class="conversation">
                                    <a href=format!("/conversations/{}", c.id)>
                                        {format!("{} · ", label(c.customer_channel))}
                                        <Time at=c.opened_at.clone() />
                                    </a>
                                    <span class=if open { "badge open" } else { "badge" }>
                                        {if open { "Open" } else { "Closed" }}
                                    </span>
                                    <span class="muted small">
                                        {format!("Agent: {}", c.agent.clone().unwrap_or_else(|| "none yet".into()))}
                                        {(!open).then(|| format!(" · {}", closed_text(c.closed_by)))}
                                        {c.close_reason.clone().map(|r| format!(" ({r})"))}
                                    </span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {more.map(|m| view! { <p class="muted small">{m}</p> })}
        </section>
    }
}

#[component]
pub fn ConversationDetailPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let close = ServerAction::<CloseConversation>::new();
    let reopen = ServerAction::<ReopenConversation>::new();
    let page = Resource::new(
        move || (id(), close.version().get(), reopen.version().get()),
        |(id, _, _)| get_conversation(id),
    );
    // Its session's messages and state show without a reload.
    crate::live::on_session_change(move |changed| {
        let ours = page
            .get_untracked()
            .and_then(Result::ok)
            .is_some_and(|p| p.conversation.session_id == changed);
        if changed == "*" || ours {
            page.refetch();
        }
    });
    let confirming_close = move || query.with(|m| m.get("confirm").as_deref() == Some("close"));
    let notice = crate::layout::action_notice([
        crate::layout::PageAction {
            version: close.version().into(),
            result: close.value().into(),
            query_word: "closed",
            done: "Conversation closed",
        },
        crate::layout::PageAction {
            version: reopen.version().into(),
            result: reopen.value().into(),
            query_word: "reopened",
            done: "Conversation reopened",
        },
    ]);
    view! {
        <p><a href="/sessions">"← Sessions"</a></p>
        {notice}
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading the conversation…"</p> }>
            {move || page.get().map(move |r| match r {
                Err(e) if e.kind == crate::error::ErrorKind::SignedOut => {
                    view! { <crate::layout::SignedOutNotice /> }.into_any()
                }
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| page.refetch()) /> }.into_any(),
                Ok(p) => {
                    let c = p.conversation;
                    let open = c.status == ConversationStatus::Open;
                    let (csrf1, csrf2) = (p.csrf.clone(), p.csrf);
                    let (id1, id2) = (c.id.clone(), c.id.clone());
                    let confirm_href = format!("/conversations/{}?confirm=close", c.id);
                    let cancel = format!("/conversations/{}", c.id);
                    let who = p.contact_name.clone().unwrap_or_else(|| p.customer.clone());
                    view! {
                        <h1>{format!("Conversation with {who}")}</h1>
                        <dl class="facts">
                            <dt>"Channel"</dt><dd>{label(c.customer_channel)}</dd>
                            <dt>"Customer"</dt><dd class="number">{p.customer.clone()}</dd>
                            <dt>"Agent"</dt><dd>{c.agent.clone().unwrap_or_else(|| "none yet".into())}</dd>
                            <dt>"Status"</dt>
                            <dd>
                                {if open { "Open".to_string() } else { closed_text(c.closed_by).to_string() }}
                                {c.close_reason.clone().map(|r| format!(" ({r})"))}
                            </dd>
                            <dt>"Opened"</dt><dd><Time at=c.opened_at.clone() /></dd>
                            {c.closed_at.clone().map(|at| view! { <dt>"Closed"</dt><dd><Time at /></dd> })}
                            {c.reopened_at.clone().map(|at| view! { <dt>"Reopened"</dt><dd><Time at /></dd> })}
                            <dt>"Session"</dt><dd><a href=format!("/sessions/{}", c.session_id)>"The customer's session"</a></dd>
                        </dl>
                        <div class="form-actions">
                            {(open && !confirming_close()).then(|| view! {
                                <a class="button danger" href=confirm_href.clone()>"Close conversation"</a>
                            })}
                            {(!open && p.latest).then(|| view! {
                                <ActionForm action=reopen>
                                    <input type="hidden" name="csrf" value=csrf1.clone() />
                                    <input type="hidden" name="id" value=id1.clone() />
                                    <button type="submit" disabled=move || reopen.pending().get()>
                                        {move || if reopen.pending().get() { "Reopening…" } else { "Reopen" }}
                                    </button>
                                </ActionForm>
                            })}
                            {(!open && !p.latest).then(|| view! {
                                <p class="muted small">"The customer has a newer conversation: this one can be read, not reopened."</p>
                            })}
                        </div>
                        {(open && confirming_close()).then(|| view! {
                            <div class="confirm" role="alertdialog" aria-labelledby="close-title">
                                <p id="close-title"><strong>"Close this conversation?"</strong></p>
                                <p>"The customer's session ends: what you write in Webex no longer reaches them. If they write, they are told the conversation has ended and how to start a new one. You can reopen it while it is their latest."</p>
                                <ActionForm action=close attr:class="form">
                                    <input type="hidden" name="csrf" value=csrf2.clone() />
                                    <input type="hidden" name="id" value=id2.clone() />
                                    <label for="reason">"Reason (optional)"</label>
                                    <input id="reason" name="reason" maxlength="500" placeholder="e.g. resolved" autocomplete="off" />
                                    <div class="form-actions">
                                        <button type="submit" class="danger" disabled=move || close.pending().get()>
                                            {move || if close.pending().get() { "Closing…" } else { "Close conversation" }}
                                        </button>
                                        <a class="button secondary" href=cancel.clone()>"Cancel"</a>
                                    </div>
                                </ActionForm>
                            </div>
                        })}
                        <Transcript messages=p.messages link_origins=p.link_origins />
                    }.into_any()
                }
            })}
        </Transition>
    }
}
