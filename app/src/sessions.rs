//! Sessions: which customers are routed to me (or, for admins, to anyone),
//! with end and take-over.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::auth::Me;
use crate::codec::Json;
use crate::contacts::label;
#[cfg(feature = "ssr")]
use crate::error::ErrorKind;
use crate::error::UiError;
use crate::layout::{ErrorNotice, LoadingLine, LoadingTransition, SignedIn};
use crate::time::Time;
use domain::model::{Direction, Message, MessageStatus, Role, Session, SessionStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub session: Session,
    pub contact_name: Option<String>,
    /// The customer's number as people write it (`+44 7700 900123`).
    pub customer: String,
    /// The transcript (filled for the detail view only).
    #[serde(default)]
    pub messages: Vec<Message>,
    /// The customer's messages the viewer has not seen (the list only).
    #[serde(default)]
    pub unread: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionsView {
    pub rows: Vec<SessionRow>,
    pub total: i64,
    pub page: u32,
    pub all: bool,
}

#[cfg(feature = "ssr")]
async fn with_contact(store: &store::Store, session: Session) -> SessionRow {
    let contact_name = match session.contact_id.as_deref() {
        Some(id) => store.contact(id).await.ok().map(|c| c.name),
        None => None,
    };
    SessionRow {
        customer: domain::phone::for_people(&session.customer_channel_id),
        session,
        contact_name,
        messages: Vec::new(),
        unread: 0,
    }
}

#[server(endpoint = "sessions/list", output = Json)]
pub async fn list_sessions(scope: String, page: u32) -> Result<SessionsView, UiError> {
    use crate::ssr::{deps, require_admin, require_agent};
    use store::{Paging, SessionQuery};
    let session = require_agent()?;
    let all = scope == "all";
    if all {
        require_admin(&session)?;
    }
    let store = deps().store;
    let paging = Paging::new(Some(page.max(1)), Some(20)).map_err(domain::DomainError::from)?;
    let result = store
        .list_sessions(&SessionQuery {
            collab_agent_id: (!all).then(|| session.agent.email.clone()),
            paging: Some(paging),
            ..Default::default()
        })
        .await?;
    let ids: Vec<String> = result.items.iter().map(|s| s.id.clone()).collect();
    let unread = store.unread_counts(&session.agent.id, &ids).await?;
    let mut rows = Vec::with_capacity(result.items.len());
    for s in result.items {
        let mut row = with_contact(&store, s).await;
        row.unread = unread.get(&row.session.id).copied().unwrap_or(0);
        rows.push(row);
    }
    Ok(SessionsView {
        rows,
        total: result.total,
        page: result.page,
        all,
    })
}

/// A session the signed-in agent may see; others are "not found", so their
/// existence is not revealed.
#[cfg(feature = "ssr")]
async fn visible_session(id: &str) -> Result<(store::WebSession, Session), UiError> {
    let web = crate::ssr::require_agent()?;
    let store = crate::ssr::deps().store;
    let not_found = || UiError::new(ErrorKind::NotFound, "no such session, or it is not yours");
    let session = store.session(id).await.map_err(|_| not_found())?;
    if !domain::access::can_view_session(&web.agent, &session) {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
        return Err(not_found());
    }
    Ok((web, session))
}

/// A session's detail page: the session, its transcript, and who is looking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionPage {
    pub row: SessionRow,
    /// WhatsApp's 24-hour window, for WhatsApp sessions.
    pub window: Option<WhatsappWindow>,
    /// The customer opted out of the channel: since when (RFC 3339), and how.
    #[serde(default)]
    pub opted_out: Option<(String, String)>,
    /// The session's conversations the viewer may see, newest first.
    pub conversations: crate::conversations::ConversationList,
    pub viewer_email: String,
    pub csrf: String,
    /// Where files may be linked from (this site, allowed media hosts):
    /// other URLs in the transcript are shown as text.
    pub link_origins: Vec<String>,
}

/// Whether the agent's next WhatsApp message goes as written or as the template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WhatsappWindow {
    /// Open until then (RFC 3339).
    OpenUntil(String),
    /// The customer last wrote more than 24 hours ago.
    Expired,
    /// The customer has not written yet.
    NotOpened,
}

#[server(endpoint = "sessions/get", output = Json)]
pub async fn get_session(id: String) -> Result<SessionPage, UiError> {
    let (web, session) = visible_session(&id).await?;
    let store = crate::ssr::deps().store;
    let messages = store.transcript_for(&web.agent, &session).await?;
    // The viewer has now seen it: the list's unread count starts again.
    store.mark_session_read(&web.agent.id, &session.id).await?;
    let window = match session.customer_channel {
        domain::Channel::Whatsapp => {
            let last = store
                .relay_session(&session.id)
                .await?
                .relay
                .last_inbound_at_ms;
            Some(whatsapp_window(last, store::now_ms()))
        }
        domain::Channel::Sms => None,
    };
    let opted_out = store
        .opt_out_of(session.customer_channel, &session.customer_channel_id)
        .await?
        .map(|o| (o.opted_out_at, o.source));
    let conversations =
        crate::conversations::conversations_for(&web.agent, None, Some(session.id.clone())).await?;
    Ok(SessionPage {
        window,
        opted_out,
        conversations,
        row: SessionRow {
            messages,
            ..with_contact(&store, session).await
        },
        viewer_email: web.agent.email,
        csrf: web.csrf_token,
        link_origins: crate::ssr::deps().link_origins,
    })
}

#[server(endpoint = "sessions/end", output = Json)]
pub async fn end_session(csrf: String, id: String) -> Result<(), UiError> {
    use crate::ssr::{audit, deps, finish, require_csrf, Then};
    use domain::input::{SessionChanges, SessionFields};
    use domain::model::SessionStatus;
    let result = async {
        let (web, session) = visible_session(&id).await?;
        require_csrf(&web, &csrf)?;
        if !domain::access::can_end_session(&web.agent, &session) {
            return Err(UiError::new(
                ErrorKind::Forbidden,
                "you cannot end this session",
            ));
        }
        let changes = SessionChanges {
            fields: SessionFields {
                status: Some(SessionStatus::Ended),
                ..Default::default()
            },
            ..Default::default()
        };
        deps()
            .store
            .update_session(&audit(&web.agent), &id, &changes)
            .await?;
        Ok(())
    }
    .await;
    finish(
        result,
        Then::Reload(format!("/sessions/{id}?ended=1")),
        &format!("/sessions/{id}"),
        &[],
    )
}

/// Takes a customer over: the session is routed to me (latest agent wins).
#[server(endpoint = "sessions/take-over", output = Json)]
pub async fn take_over_session(csrf: String, id: String) -> Result<(), UiError> {
    use crate::ssr::{audit, deps, finish, require_agent, require_csrf, Then};
    use domain::input::{NewSession, SessionFields};
    use domain::model::Customer;
    let result = async {
        let web = require_agent()?;
        require_csrf(&web, &csrf)?;
        let store = deps().store;
        let session = store
            .session(&id)
            .await
            .map_err(|_| UiError::new(ErrorKind::NotFound, "no such session"))?;
        // Only sessions the agent can see can be taken over from the UI.
        if !domain::access::can_view_session(&web.agent, &session)
            || !domain::access::can_take_over(&web.agent, &session)
        {
            return Err(UiError::new(
                ErrorKind::NotFound,
                "no such session, or it is not yours",
            ));
        }
        let new = NewSession {
            customer: Customer {
                channel: session.customer_channel,
                id: session.customer_channel_id.clone(),
            },
            fields: SessionFields {
                agent: Some(web.agent.email.clone()),
                ..Default::default()
            },
        };
        store.upsert_session(&audit(&web.agent), &new).await?;
        Ok(())
    }
    .await;
    finish(
        result,
        Then::Reload(format!("/sessions/{id}?taken=1")),
        &format!("/sessions/{id}"),
        &[],
    )
}

fn status_label(s: SessionStatus) -> &'static str {
    match s {
        SessionStatus::Onboarding => "Onboarding",
        SessionStatus::Active => "Active",
        SessionStatus::Ended => "Ended",
    }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    view! { <SignedIn render=|me| view! { <SessionList me /> } /> }
}

#[component]
fn SessionList(me: Me) -> impl IntoView {
    let query = use_query_map();
    let scope = move || query.with(|m| m.get("scope").unwrap_or_else(|| "mine".into()));
    let page = move || query.with(|m| m.get("page").and_then(|p| p.parse().ok()).unwrap_or(1u32));
    let sessions = Resource::new(move || (scope(), page()), |(s, p)| list_sessions(s, p));
    // New messages, receipts and routing changes show without a reload.
    crate::live::on_session_change(move |_| sessions.refetch());
    let admin = me.agent.role == Role::Admin;
    let (busy, set_busy) = signal(false);
    view! {
        <div class="page-head">
            <h1>"Sessions"</h1>
            {admin.then(|| view! {
                <nav class="tabs" aria-label="Whose sessions">
                    <a href="/sessions?scope=mine" aria-current=move || (scope() != "all").then_some("page")>"Mine"</a>
                    <a href="/sessions?scope=all" aria-current=move || (scope() == "all").then_some("page")>"All"</a>
                </nav>
            })}
        </div>
        <LoadingLine busy=busy what="Loading sessions…" />
        <LoadingTransition busy=set_busy>
            {move || sessions.get().map(|r| match r {
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| sessions.refetch()) /> }.into_any(),
                Ok(v) if v.rows.is_empty() => view! {
                    <div class="empty"><p>{if v.all { "No sessions yet." } else { "No customers are routed to you yet. Start a conversation from Contacts." }}</p></div>
                }.into_any(),
                Ok(v) => {
                    let all = v.all;
                    view! {
                        <ul class="session-list" aria-label="Sessions">
                            {v.rows.into_iter().map(|row| {
                                let s = row.session;
                                let named = row.contact_name.is_some();
                                let who = row.contact_name.unwrap_or_else(|| row.customer.clone());
                                let unread = row.unread;
                                let has_unread = unread > 0;
                                view! {
                                    <li class="session" class:has-unread=has_unread>
                                        <a href=format!("/sessions/{}", s.id)>{who}</a>
                                        {(unread > 0).then(|| view! {
                                            <span class="unread" title="Messages from the customer you have not seen">
                                                {unread}<span class="visually-hidden">" unread"</span>
                                            </span>
                                        })}
                                        {named.then(|| view! { <span class="muted small number">{row.customer.clone()}</span> })}
                                        <span class="muted small">
                                            {format!("{} · {} · ", label(s.customer_channel), status_label(s.status))}
                                            <Time at=s.updated_at.clone() />
                                        </span>
                                        {all.then(|| view! { <span class="muted small">{format!("Agent: {}", s.collab_agent_id.clone().unwrap_or_else(|| "none".into()))}</span> })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        <p class="muted small">{format!("{} sessions", v.total)}</p>
                    }.into_any()
                }
            })}
        </LoadingTransition>
    }
}

#[component]
pub fn SessionDetailPage() -> impl IntoView {
    // One resource brings the session and the viewer: nested inside the
    // signed-in gate's resource, this page's server render stalled at random.
    view! { <SessionDetail /> }
}

#[component]
fn SessionDetail() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let end = ServerAction::<EndSession>::new();
    let take = ServerAction::<TakeOverSession>::new();
    let session = Resource::new(
        move || (id(), end.version().get(), take.version().get()),
        |(id, _, _)| get_session(id),
    );
    crate::live::on_session_change(move |changed| {
        if changed == "*" || params.with_untracked(|p| p.get("id")).as_deref() == Some(&changed) {
            session.refetch();
        }
    });
    let confirming_end = move || query.with(|m| m.get("confirm").as_deref() == Some("end"));
    let notice = crate::layout::action_notice([
        crate::layout::PageAction {
            version: end.version().into(),
            result: end.value().into(),
            query_word: "ended",
            done: "Session ended",
        },
        crate::layout::PageAction {
            version: take.version().into(),
            result: take.value().into(),
            query_word: "taken",
            done: "You now have this customer",
        },
    ]);
    view! {
        <p><a href="/sessions">"← Sessions"</a></p>
        {notice}
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading the session…"</p> }>
            {move || {
                session.get().map(move |r| match r {
                    Err(e) if e.kind == crate::error::ErrorKind::SignedOut => {
                        view! { <crate::layout::SignedOutNotice /> }.into_any()
                    }
                    Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| session.refetch()) /> }.into_any(),
                    Ok(page) => {
                        let window = page.window.clone();
                        let opted_out = page.opted_out.clone();
                        let conversations = page.conversations.clone();
                        let (row, me_email, csrf) = (page.row, page.viewer_email, page.csrf);
                        let link_origins = page.link_origins;
                        let s = row.session;
                        let mine = s.collab_agent_id.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&me_email));
                        let ended = s.status == SessionStatus::Ended;
                        let (c1, c2) = (csrf.clone(), csrf.clone());
                        let (id1, id2, id3) = (s.id.clone(), s.id.clone(), s.id.clone());
                        let cancel = format!("/sessions/{}", s.id);
                        view! {
                            <h1>{row.contact_name.clone().unwrap_or_else(|| row.customer.clone())}</h1>
                            {opted_out.map(|(since, how)| view! {
                                <p class="notice error" role="status">
                                    <strong>"Opted out. "</strong>
                                    {format!("The customer asked for no more {} messages ({how}, ", label(s.customer_channel))}
                                    <Time at=since />
                                    "). Nothing you write reaches them until they reply START."
                                </p>
                            })}
                            <dl class="facts">
                                <dt>"Channel"</dt><dd>{label(s.customer_channel)}</dd>
                                <dt>"Customer"</dt><dd class="number">{row.customer.clone()}</dd>
                                <dt>"Agent"</dt><dd>{s.collab_agent_id.clone().unwrap_or_else(|| "none".into())}</dd>
                                <dt>"Status"</dt><dd>{status_label(s.status)}</dd>
                                {window.map(|window| view! { <dt>"WhatsApp window"</dt><dd><WindowState window /></dd> })}
                                <dt>"Last activity"</dt><dd><Time at=s.updated_at.clone() /></dd>
                                <dt>"Started"</dt><dd><Time at=s.created_at.clone() /></dd>
                            </dl>
                            <div class="form-actions">
                                {(!mine).then(|| view! {
                                    <ActionForm action=take>
                                        <input type="hidden" name="csrf" value=c1 />
                                        <input type="hidden" name="id" value=id1 />
                                        <button type="submit" disabled=move || take.pending().get()>
                                            {move || if take.pending().get() { "Taking over…" } else { "Take over" }}
                                        </button>
                                    </ActionForm>
                                })}
                                {(!ended && !confirming_end()).then(|| view! {
                                    <a class="button danger" href=format!("/sessions/{id3}?confirm=end")>"End session"</a>
                                })}
                            </div>
                            {(!ended && confirming_end()).then(|| view! {
                                <div class="confirm" role="alertdialog" aria-labelledby="end-title">
                                    <p id="end-title"><strong>"End this session?"</strong></p>
                                    <p>"Messages written in the Webex space will no longer reach the customer. If the customer writes, they are told the conversation has ended and how to start a new one."</p>
                                    <div class="form-actions">
                                        <ActionForm action=end>
                                            <input type="hidden" name="csrf" value=c2 />
                                            <input type="hidden" name="id" value=id2.clone() />
                                            <button type="submit" class="danger" disabled=move || end.pending().get()>
                                                {move || if end.pending().get() { "Ending…" } else { "End session" }}
                                            </button>
                                        </ActionForm>
                                        <a class="button secondary" href=cancel.clone()>"Cancel"</a>
                                    </div>
                                </div>
                            })}
                            <Transcript messages=row.messages.clone() link_origins=link_origins.clone() />
                            <crate::conversations::Conversations list=conversations />
                        }.into_any()
                    }
                })
            }}
        </Transition>
    }
}

/// How WhatsApp's 24-hour window stands.
#[cfg(feature = "ssr")]
fn whatsapp_window(last_inbound_ms: Option<i64>, now_ms: i64) -> WhatsappWindow {
    match (
        last_inbound_ms,
        relay::whatsapp_window_closes_at(last_inbound_ms),
    ) {
        (_, Some(closes)) if now_ms <= closes => {
            WhatsappWindow::OpenUntil(store::format_ms(closes))
        }
        (Some(_), _) => WhatsappWindow::Expired,
        (None, _) => WhatsappWindow::NotOpened,
    }
}

#[component]
fn WindowState(window: WhatsappWindow) -> impl IntoView {
    match window {
        WhatsappWindow::OpenUntil(at) => view! { "open until " <Time at /> }.into_any(),
        WhatsappWindow::Expired => "closed: the customer last wrote more than 24 hours ago; your next message goes as the template".into_any(),
        WhatsappWindow::NotOpened => "closed: the customer has not written yet; your next message goes as the template".into_any(),
    }
}

fn status_text(m: &Message) -> String {
    use MessageStatus::*;
    match (m.status, &m.error_text) {
        (Failed, Some(why)) => format!(
            "failed: {why}{}",
            m.error_code
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        ),
        (Failed, None) => "failed".into(),
        // A customer's line is `posting` while it goes into the agent's space.
        (Received | Posting, _) if m.direction == Direction::Inbound => "received".into(),
        (Queued | Posting, _) => "sending…".into(),
        (Received, _) => "received".into(),
        (Sent, _) => "✓ sent".into(),
        (Submitted, _) => "✓ submitted".into(),
        (Delivered, _) => "✓✓ delivered".into(),
        (Read, _) => "✓✓ read".into(),
    }
}

/// The conversation as relayed, with each message's delivery status.
#[component]
pub(crate) fn Transcript(messages: Vec<Message>, link_origins: Vec<String>) -> impl IntoView {
    view! {
        <h2>"Messages"</h2>
        {if messages.is_empty() {
            view! {
                <p class="muted">"No messages relayed yet. (With Webex Connect running the flows, the history is in Connect.)"</p>
            }.into_any()
        } else {
            view! {
                <ol class="transcript" aria-label="Messages">
                    {messages.into_iter().map(|m| {
                        let who = match (m.direction, m.provider.as_deref()) {
                            (Direction::Inbound, _) => "Customer",
                            (_, Some("webex")) => "Agent",
                            (_, Some("api")) => "Sent by a flow",
                            _ => "Automatic reply",
                        };
                        let failed = m.status == MessageStatus::Failed;
                        let file = m.attachment_url.clone().map(|url| {
                            let name = m.attachment_name.clone().unwrap_or_else(|| "attachment".into());
                            // A URL from elsewhere is shown, never followed or loaded.
                            if !domain::links::linkable(&url, &link_origins) {
                                return view! {
                                    <p class="attachment">{format!("📎 {name} (not opened: {url})")}</p>
                                }.into_any();
                            }
                            let image = m.attachment_mime.as_deref().is_some_and(|t| t.starts_with("image/"));
                            view! {
                                <p class="attachment">
                                    {image.then(|| view! { <img src=url.clone() alt=name.clone() loading="lazy" /> })}
                                    <a href=url rel="external noopener noreferrer" target="_blank">{format!("📎 {name}")}</a>
                                </p>
                            }.into_any()
                        });
                        view! {
                            <li class=format!("msg {}", m.direction)>
                                <span class="muted small">{format!("{who} · ")}<Time at=m.created_at.clone() /></span>
                                <p>{m.body.clone()}</p>
                                {file}
                                <span class=if failed { "small bad" } else { "small muted" }>{status_text(&m)}</span>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            }.into_any()
        }}
    }
}
