//! Conversations: a customer's engagement with one agent (the engage-nodes
//! seed's search, create, append, close and reopen).
//!
//! The rule that keeps them in step with sessions lives in one place,
//! [`follow_session`], called inside every transaction that changes a
//! session's status or agent: a live session (onboarding or active) has an
//! open conversation; an ended one has none open; a new agent means a new
//! conversation. Transcript lines name the conversation that was current
//! when they were written (`Store::add_message`).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sessions::{load_session, session_from_row, SESSION_COLUMNS};
use super::{audit, format_ms, new_id, now_ms, opt_time, AuditCtx, Paging, Store, WriteTx};
use domain::channel::Channel;
use domain::error::{DomainError, FieldError};
use domain::input::text;
use domain::model::{
    ClosedBy, Conversation, ConversationStatus, Direction, Message, MessageStatus, Page, Session,
    SessionStatus,
};

const CONVERSATION_COLUMNS: &str =
    "id, session_id, channel, customer_id, contact_id, agent, status,
    opened_at, closed_at, closed_by, close_reason, reopened_at, updated_at";
/// Longest reason a caller may give when closing.
const REASON_MAX: usize = 500;
const AGENT_MAX: usize = 500;

/// A line a Connect flow adds to a conversation.
#[derive(Debug, Clone)]
pub struct AppendedLine {
    pub direction: Direction,
    pub text: String,
    /// The flow's transaction id: the same one again adds nothing.
    pub transid: Option<String>,
}

/// Longest line that may be appended (WhatsApp's limit for a text).
const LINE_MAX: usize = 4096;

impl AppendedLine {
    pub fn parse(
        direction: Option<&str>,
        body: Option<&str>,
        transid: Option<&str>,
    ) -> Result<Self, FieldError> {
        let direction = match direction.map(str::trim) {
            None | Some("") => return Err(FieldError::new("direction", "is required")),
            Some(d) => d.parse::<Direction>().map_err(|_| {
                FieldError::new(
                    "direction",
                    "must be inbound (from the customer) or outbound (to them)",
                )
            })?,
        };
        let body = match body.map(str::trim) {
            None | Some("") => return Err(FieldError::new("text", "is required")),
            Some(t) if t.chars().count() > LINE_MAX => {
                return Err(FieldError::new(
                    "text",
                    format!("is too long (at most {LINE_MAX} characters)"),
                ))
            }
            // Line breaks and tabs are text; other control characters are not.
            Some(t)
                if t.chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
            {
                return Err(FieldError::new(
                    "text",
                    "must not contain control characters",
                ))
            }
            Some(t) => t.to_string(),
        };
        let transid = text("transid", transid, 200)?;
        Ok(AppendedLine {
            direction,
            text: body,
            transid,
        })
    }
}

/// How to search conversations. Filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub customer_channel: Option<String>,
    pub customer_channel_id: Option<String>,
    pub contact_id: Option<String>,
    /// The conversations of one session (one customer on one channel).
    pub session_id: Option<String>,
    /// The agent engaged (collabAgentId, as the session names them).
    pub agent: Option<String>,
    /// `open` or `closed`.
    pub status: Option<String>,
    /// Only the conversations these agent names are engaged in (an agent's
    /// email and Webex person id): how an agent's view is narrowed.
    pub visible_to: Option<Vec<String>>,
    pub paging: Option<Paging>,
}

/// The search's values, bound the same way for the count and the page.
struct Filters {
    channel: Option<&'static str>,
    customer: Option<String>,
    contact: Option<String>,
    agent: Option<String>,
    status: Option<&'static str>,
    restricted: i64,
    v1: Option<String>,
    v2: Option<String>,
    session: Option<String>,
}

impl Filters {
    fn bind<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        q.bind(self.channel)
            .bind(self.customer.clone())
            .bind(self.contact.clone())
            .bind(self.agent.clone())
            .bind(self.status)
            .bind(self.restricted)
            .bind(self.v1.clone())
            .bind(self.v2.clone())
            .bind(self.session.clone())
    }
}

fn conversation_from_row(row: &AnyRow) -> Result<Conversation, sqlx::Error> {
    let word = |col: &str| -> Result<String, sqlx::Error> { row.try_get(col) };
    let decode = |col: &str, value: &str| {
        sqlx::Error::Decode(format!("unknown {col} {value:?} in conversations").into())
    };
    let channel = word("channel")?;
    let status = word("status")?;
    let closed_by: Option<String> = row.try_get("closed_by")?;
    Ok(Conversation {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        customer_channel: channel.parse().map_err(|_| decode("channel", &channel))?,
        customer_channel_id: row.try_get("customer_id")?,
        contact_id: row.try_get("contact_id")?,
        agent: row.try_get("agent")?,
        status: status.parse().map_err(|_| decode("status", &status))?,
        opened_at: format_ms(row.try_get("opened_at")?),
        closed_at: opt_time(row, "closed_at")?,
        closed_by: closed_by
            .map(|b| b.parse().map_err(|_| decode("closed_by", &b)))
            .transpose()?,
        close_reason: row.try_get("close_reason")?,
        reopened_at: opt_time(row, "reopened_at")?,
        updated_at: format_ms(row.try_get("updated_at")?),
    })
}

async fn load_conversation(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<Conversation>, DomainError> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(conversation_from_row).transpose()?)
}

async fn must_load(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Conversation, DomainError> {
    load_conversation(conn, id)
        .await?
        .ok_or_else(|| DomainError::not_found("conversation", id))
}

/// Why a session change closes its conversation, when it does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closing<'a> {
    pub by: ClosedBy,
    pub reason: Option<&'a str>,
}

impl Closing<'static> {
    pub(crate) const fn by(by: ClosedBy) -> Self {
        Closing { by, reason: None }
    }

    /// A session ended through a session change: by an API caller (a
    /// Connect flow) or by the agent (sidebar, CLI).
    pub(crate) fn ended_by(ctx: &AuditCtx) -> Self {
        match ctx.actor {
            domain::model::Actor::ApiKey(_) => Closing::by(ClosedBy::Api),
            _ => Closing::by(ClosedBy::Agent),
        }
    }
}

/// Keeps the session's conversation in step with the session, inside the
/// transaction that changed it (`after` as it now is). `new_agent` says the
/// session went from one agent to another: the engagement with the first
/// ends (closed as a transfer) and one with the second begins. Returns the
/// session's current conversation id.
pub(crate) async fn follow_session(
    tx: &mut WriteTx,
    ctx: &AuditCtx,
    after: &Session,
    new_agent: bool,
    closing: Closing<'_>,
) -> Result<Option<String>, DomainError> {
    let now = now_ms();
    let current = match after.conversation_id.as_deref() {
        Some(id) => load_conversation(tx, id).await?,
        None => None,
    };
    let live = after.status != SessionStatus::Ended;
    let mut open = current.filter(|c| c.status == ConversationStatus::Open);
    if let Some(c) = open.as_ref().filter(|_| !live || new_agent) {
        let closing = if live {
            Closing::by(ClosedBy::Transfer)
        } else {
            closing
        };
        close(tx, ctx, c, closing, now).await?;
        open = None;
    }
    match open {
        Some(c) => {
            // The same engagement goes on; the agent and contact it lacked
            // (the dialogue found them) are now known.
            if (c.agent.is_none() && after.collab_agent_id.is_some())
                || (c.contact_id.is_none() && after.contact_id.is_some())
            {
                sqlx::query(
                    "UPDATE conversations SET agent = COALESCE(agent, $1),
                            contact_id = COALESCE(contact_id, $2), updated_at = $3 WHERE id = $4",
                )
                .bind(&after.collab_agent_id)
                .bind(&after.contact_id)
                .bind(now)
                .bind(&c.id)
                .execute(&mut **tx)
                .await?;
            }
            Ok(Some(c.id))
        }
        None if live => Ok(Some(open_for(tx, ctx, after, now).await?)),
        None => Ok(after.conversation_id.clone()),
    }
}

async fn open_for(
    tx: &mut WriteTx,
    ctx: &AuditCtx,
    session: &Session,
    now: i64,
) -> Result<String, DomainError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO conversations (id, session_id, channel, customer_id, contact_id, agent, status,
                opened_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $7)",
    )
    .bind(&id)
    .bind(&session.id)
    .bind(session.customer_channel.as_str())
    .bind(&session.customer_channel_id)
    .bind(&session.contact_id)
    .bind(&session.collab_agent_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE sessions SET conversation_id = $1 WHERE id = $2")
        .bind(&id)
        .bind(&session.id)
        .execute(&mut **tx)
        .await?;
    let opened = must_load(tx, &id).await?;
    audit::record::<(), _>(
        tx,
        ctx,
        "conversation.open",
        "conversation",
        &id,
        None,
        Some(&opened),
    )
    .await?;
    Ok(id)
}

async fn close(
    tx: &mut WriteTx,
    ctx: &AuditCtx,
    c: &Conversation,
    closing: Closing<'_>,
    now: i64,
) -> Result<(), DomainError> {
    sqlx::query(
        "UPDATE conversations SET status = 'closed', closed_at = $1, closed_by = $2,
                close_reason = $3, updated_at = $1
          WHERE id = $4 AND status = 'open'",
    )
    .bind(now)
    .bind(closing.by.as_str())
    .bind(closing.reason)
    .bind(&c.id)
    .execute(&mut **tx)
    .await?;
    let closed = must_load(tx, &c.id).await?;
    audit::record(
        tx,
        ctx,
        "conversation.close",
        "conversation",
        &c.id,
        Some(c),
        Some(&closed),
    )
    .await
}

/// A close reason as given: trimmed, at most 500 characters, none if blank.
pub fn close_reason(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    text("reason", raw, REASON_MAX)
}

impl Store {
    pub async fn conversation(&self, id: &str) -> Result<Conversation, DomainError> {
        let mut conn = self.pool.acquire().await?;
        must_load(&mut conn, id).await
    }

    /// Conversations, most recently opened first.
    pub async fn conversations(
        &self,
        query: &ConversationQuery,
    ) -> Result<Page<Conversation>, DomainError> {
        let paging = match query.paging {
            Some(p) => p,
            None => Paging::new(None, None)?,
        };
        let (channel, customer) = self.customer_filter(
            query.customer_channel.as_deref(),
            query.customer_channel_id.as_deref(),
        )?;
        let contact = text("contactId", query.contact_id.as_deref(), 100)?;
        let agent = text("collabAgentId", query.agent.as_deref(), AGENT_MAX)?;
        let status = text("status", query.status.as_deref(), 20)?
            .map(|s| {
                s.parse::<ConversationStatus>()
                    .map_err(|e| FieldError::new("status", e.to_string()))
            })
            .transpose()?;
        // An agent's names, lower-cased where they are emails; at most two.
        let visible: Vec<String> = query.visible_to.clone().unwrap_or_default();
        let (v1, v2) = (visible.first().cloned(), visible.get(1).cloned());
        let restricted = query.visible_to.is_some();
        let filter = "($1 IS NULL OR channel = $1) AND ($2 IS NULL OR customer_id = $2)
                  AND ($3 IS NULL OR contact_id = $3) AND ($4 IS NULL OR LOWER(agent) = LOWER($4))
                  AND ($5 IS NULL OR status = $5)
                  AND ($6 = 0 OR LOWER(agent) = LOWER($7) OR agent = $8)
                  AND ($9 IS NULL OR session_id = $9)";
        let filters = Filters {
            channel: channel.map(Channel::as_str),
            customer,
            contact,
            agent,
            status: status.map(ConversationStatus::as_str),
            restricted: i64::from(restricted),
            v1,
            v2,
            session: text("sessionId", query.session_id.as_deref(), 100)?,
        };
        let count_sql = format!("SELECT COUNT(*) AS n FROM conversations WHERE {filter}");
        let total: i64 = filters
            .bind(sqlx::query(&count_sql))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let list_sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE {filter}
              ORDER BY opened_at DESC, id DESC LIMIT $10 OFFSET $11"
        );
        let rows = filters
            .bind(sqlx::query(&list_sql))
            .bind(i64::from(paging.per_page))
            .bind(paging.offset())
            .fetch_all(&self.pool)
            .await?;
        Ok(Page {
            items: rows
                .iter()
                .map(conversation_from_row)
                .collect::<Result<_, _>>()?,
            page: paging.page,
            per_page: paging.per_page,
            total,
        })
    }

    /// A conversation's transcript, oldest first.
    pub async fn conversation_messages(&self, id: &str) -> Result<Vec<Message>, DomainError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM messages WHERE conversation_id = $1 ORDER BY created_at, id",
            super::relay::MESSAGE_COLUMNS
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(super::relay::message_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Opens a conversation between the customer in `new` and its agent
    /// (the engage nodes' Create): the customer's session is created or
    /// routed to the agent, as `POST /sessions` does. Refused while the
    /// customer has an open conversation: search first, append to it.
    pub async fn create_conversation(
        &self,
        ctx: &AuditCtx,
        new: &domain::input::NewSession,
    ) -> Result<Conversation, DomainError> {
        if new.fields.agent.is_none() {
            return Err(FieldError::new("collabAgentId", "is required").into());
        }
        // The check and the opening in one transaction, the customer's
        // creates one at a time: of two at once, one opens it and the other
        // is told it is open.
        let mut tx = self.begin_write().await?;
        if self.backend == super::Backend::Postgres {
            // SQLite's write transaction is exclusive already.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!(
                    "conversation:{}:{}",
                    new.customer.channel.as_str(),
                    new.customer.id
                ))
                .execute(&mut *tx)
                .await?;
        }
        let open = sqlx::query(
            "SELECT c.id FROM sessions s JOIN conversations c ON c.id = s.conversation_id
              WHERE s.customer_channel = $1 AND s.customer_channel_id = $2 AND c.status = 'open'",
        )
        .bind(new.customer.channel.as_str())
        .bind(&new.customer.id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = open {
            return Err(DomainError::Duplicate {
                message: "the customer already has an open conversation on this channel; append to it, or close it first".into(),
                field: "customerChannelId".into(),
                existing_id: row.try_get("id")?,
            });
        }
        let mut new = new.clone();
        new.fields.status = Some(SessionStatus::Active);
        let (session, _) = Self::upsert_session_in(&mut tx, ctx, &new).await?;
        let id = session.conversation_id.ok_or_else(|| {
            DomainError::Storage("an active session without a conversation".into())
        })?;
        let conversation = must_load(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(conversation)
    }

    /// Adds a line to an open conversation's transcript (the engage nodes'
    /// Append): what a Connect flow relayed itself. The same `transid`
    /// again adds nothing and answers the first line (false: not added).
    pub async fn append_to_conversation(
        &self,
        ctx: &AuditCtx,
        id: &str,
        line: &AppendedLine,
    ) -> Result<(Message, bool), DomainError> {
        let mut tx = self.begin_write().await?;
        let c = must_load(&mut tx, id).await?;
        if let Some(transid) = &line.transid {
            let row = sqlx::query(&format!(
                "SELECT {} FROM messages WHERE provider = 'api' AND provider_message_id = $1",
                super::relay::MESSAGE_COLUMNS
            ))
            .bind(transid)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                let m = super::relay::message_from_row(&row)?;
                if m.conversation_id.as_deref() != Some(id) {
                    return Err(FieldError::new(
                        "transid",
                        "was already used for a line of another conversation",
                    )
                    .into());
                }
                return Ok((m, false));
            }
        }
        if c.status == ConversationStatus::Closed {
            return Err(DomainError::conflict(
                "conversation_closed",
                "this conversation is closed: reopen it, or create a new one",
            ));
        }
        let now = now_ms();
        let message_id = new_id();
        let status = match line.direction {
            Direction::Inbound => MessageStatus::Received,
            Direction::Outbound => MessageStatus::Sent,
        };
        sqlx::query(
            "INSERT INTO messages (id, session_id, conversation_id, direction, channel, body, provider,
                    provider_message_id, connect_transid, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'api', $7, $7, $8, $9, $9)",
        )
        .bind(&message_id)
        .bind(&c.session_id)
        .bind(&c.id)
        .bind(line.direction.as_str())
        .bind(c.customer_channel.as_str())
        .bind(&line.text)
        .bind(&line.transid)
        .bind(status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The session is busy again: not idle, and live views refresh.
        sqlx::query("UPDATE sessions SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&c.session_id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {} FROM messages WHERE id = $1",
            super::relay::MESSAGE_COLUMNS
        ))
        .bind(&message_id)
        .fetch_one(&mut *tx)
        .await?;
        let m = super::relay::message_from_row(&row)?;
        audit::record::<(), _>(
            &mut tx,
            ctx,
            "conversation.append",
            "conversation",
            id,
            None,
            Some(&serde_json::json!({ "messageId": m.id, "direction": m.direction })),
        )
        .await?;
        tx.commit().await?;
        Ok((m, true))
    }

    /// Closes an open conversation, and with it the session (it is always
    /// the session's current one): messages stop flowing until the customer
    /// starts again or the conversation is reopened.
    pub async fn close_conversation(
        &self,
        ctx: &AuditCtx,
        id: &str,
        by: ClosedBy,
        reason: Option<&str>,
    ) -> Result<Conversation, DomainError> {
        let mut tx = self.begin_write().await?;
        let c = must_load(&mut tx, id).await?;
        if c.status == ConversationStatus::Closed {
            return Err(DomainError::conflict(
                "conversation_closed",
                "this conversation is already closed",
            ));
        }
        let before = load_session(&mut tx, &c.session_id)
            .await?
            .ok_or_else(|| DomainError::not_found("session", &c.session_id))?;
        sqlx::query("UPDATE sessions SET status = 'ended', updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(&c.session_id)
            .execute(&mut *tx)
            .await?;
        let after = load_session(&mut tx, &c.session_id)
            .await?
            .ok_or_else(|| DomainError::not_found("session", &c.session_id))?;
        audit::record(
            &mut tx,
            ctx,
            "session.update",
            "session",
            &after.id,
            Some(&before),
            Some(&after),
        )
        .await?;
        follow_session(&mut tx, ctx, &after, false, Closing { by, reason }).await?;
        let closed = must_load(&mut tx, id).await?;
        tx.commit().await?;
        Ok(closed)
    }

    /// Opens a closed conversation again, with its agent, while it is still
    /// the customer's latest (a newer one has the customer now) and the
    /// customer has not opted out of the channel.
    pub async fn reopen_conversation(
        &self,
        ctx: &AuditCtx,
        id: &str,
    ) -> Result<Conversation, DomainError> {
        let mut tx = self.begin_write().await?;
        let c = must_load(&mut tx, id).await?;
        reopen(&mut tx, ctx, &c).await?;
        let reopened = must_load(&mut tx, id).await?;
        tx.commit().await?;
        Ok(reopened)
    }
}

/// Reopens `c` inside the caller's transaction (the API's reopen, and the
/// customer's START after an opt-out closed it).
pub(crate) async fn reopen(
    tx: &mut WriteTx,
    ctx: &AuditCtx,
    c: &Conversation,
) -> Result<(), DomainError> {
    if c.status == ConversationStatus::Open {
        return Err(DomainError::conflict(
            "conversation_open",
            "this conversation is already open",
        ));
    }
    let session = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
    ))
    .bind(&c.session_id)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(session_from_row)
    .transpose()?
    .ok_or_else(|| DomainError::not_found("session", &c.session_id))?;
    if session.conversation_id.as_deref() != Some(c.id.as_str()) {
        return Err(DomainError::conflict(
            "newer_conversation",
            "the customer has a newer conversation; only the latest can be reopened",
        ));
    }
    let opted_out =
        sqlx::query("SELECT 1 AS x FROM opt_outs WHERE channel = $1 AND customer_id = $2")
            .bind(c.customer_channel.as_str())
            .bind(&c.customer_channel_id)
            .fetch_optional(&mut **tx)
            .await?;
    if opted_out.is_some() {
        return Err(DomainError::conflict(
            "opted_out",
            "the customer opted out of this channel; it can be reopened once they reply START",
        ));
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE conversations SET status = 'open', closed_at = NULL, closed_by = NULL,
                close_reason = NULL, reopened_at = $1, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(&c.id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE sessions SET status = 'active', collab_agent_id = COALESCE($1, collab_agent_id),
                updated_at = $2 WHERE id = $3",
    )
    .bind(&c.agent)
    .bind(now)
    .bind(&c.session_id)
    .execute(&mut **tx)
    .await?;
    let reopened = must_load(tx, &c.id).await?;
    audit::record(
        tx,
        ctx,
        "conversation.reopen",
        "conversation",
        &c.id,
        Some(c),
        Some(&reopened),
    )
    .await
}

/// The conversation an opt-out closed, if it is still the customer's
/// latest: START opens it again.
pub(crate) async fn closed_by_opt_out(
    tx: &mut WriteTx,
    channel: Channel,
    customer_id: &str,
) -> Result<Option<Conversation>, DomainError> {
    let row = sqlx::query(
        "SELECT c.id FROM sessions s JOIN conversations c ON c.id = s.conversation_id
          WHERE s.customer_channel = $1 AND s.customer_channel_id = $2
            AND c.status = 'closed' AND c.closed_by = 'opt_out'",
    )
    .bind(channel.as_str())
    .bind(customer_id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(r) => load_conversation(tx, &r.try_get::<String, _>("id")?).await,
        None => Ok(None),
    }
}
