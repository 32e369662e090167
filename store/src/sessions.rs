use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

use super::conversations::{follow_session, Closing};
use super::RelaySession;
use super::{
    audit, cacheable, format_ms, new_id, now_ms, opt_time, placeholders, AuditCtx, Paging, Store,
    WriteTx, ROWS_PER_STATEMENT,
};
use domain::channel::Channel;
use domain::error::{DomainError, FieldError};
use domain::input::{text, NewSession, SessionChanges};
use domain::model::{ClosedBy, Customer, Page, Session, SessionStatus};

pub(crate) const SESSION_COLUMNS: &str = "id, customer_channel, customer_channel_id, collab_agent_id, collab_guest_id,
    collab_extra1, collab_extra2, collab_extra3, contact_id, status, last_inbound_at, created_at, updated_at,
    conversation_id";
/// The relay's columns, read with the session's (see `RelaySession`).
pub(crate) const RELAY_COLUMNS: &str =
    "webex_webhook_id, webex_room_id, onboarding_step, onboarding_name, template_sent_at,
     pci_warned_at, start_template";
const COLLAB_MAX: usize = 500;

/// How to list sessions. Filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    pub customer_channel: Option<String>,
    pub customer_channel_id: Option<String>,
    pub collab_guest_id: Option<String>,
    pub collab_agent_id: Option<String>,
    pub paging: Option<Paging>,
}

/// Whether a POST created the customer's session or re-routed the existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    Updated,
}

pub(crate) fn session_from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    let channel: String = row.try_get("customer_channel")?;
    let status: String = row.try_get("status")?;
    Ok(Session {
        id: row.try_get("id")?,
        customer_channel: channel.parse().map_err(|_| {
            sqlx::Error::Decode(format!("unknown channel {channel:?} in sessions").into())
        })?,
        customer_channel_id: row.try_get("customer_channel_id")?,
        collab_agent_id: row.try_get("collab_agent_id")?,
        collab_guest_id: row.try_get("collab_guest_id")?,
        collab_extra1: row.try_get("collab_extra1")?,
        collab_extra2: row.try_get("collab_extra2")?,
        collab_extra3: row.try_get("collab_extra3")?,
        contact_id: row.try_get("contact_id")?,
        status: status.parse().unwrap_or(SessionStatus::Active),
        last_inbound_at: opt_time(row, "last_inbound_at")?,
        created_at: format_ms(row.try_get("created_at")?),
        updated_at: format_ms(row.try_get("updated_at")?),
        conversation_id: row.try_get("conversation_id")?,
    })
}

async fn check_contact(tx: &mut WriteTx, contact_id: Option<&str>) -> Result<(), DomainError> {
    if let Some(id) = contact_id {
        let found = sqlx::query("SELECT id FROM contacts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        if found.is_none() {
            return Err(FieldError::new("contactId", "no contact has this id").into());
        }
    }
    Ok(())
}

pub(crate) async fn load_session(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<Session>, DomainError> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(session_from_row).transpose()?)
}

/// The agent row a `collabAgentId` names (by email or Webex person id), if any.
async fn agent_row_id(
    tx: &mut WriteTx,
    collab_agent_id: &str,
) -> Result<Option<String>, DomainError> {
    Ok(
        sqlx::query("SELECT id FROM agents WHERE email = $1 OR webex_person_id = $2")
            .bind(collab_agent_id.to_ascii_lowercase())
            .bind(collab_agent_id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get::<String, _>("id"))
            .transpose()?,
    )
}

/// Whether two `collabAgentId`s name the same agent (one may be the email,
/// the other the Webex person id).
async fn same_agent(tx: &mut WriteTx, a: &str, b: &str) -> Result<bool, DomainError> {
    if a.eq_ignore_ascii_case(b) {
        return Ok(true);
    }
    Ok(
        match (agent_row_id(tx, a).await?, agent_row_id(tx, b).await?) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    )
}

/// Inside the transaction that changed a session: when it now belongs to
/// another agent than the one it had, that agent's view of the transcript
/// starts now (`agent_since`, see `access::transcript_view`), and the
/// takeover is audited as `session.takeover`, naming both agents. True
/// when the session went from one agent to another.
///
/// `agent_since` is NULL until a session first has an agent, so the first
/// agent sees the whole transcript (e.g. the onboarding dialogue). Once it
/// has had one, every later agent starts from their arrival, even when the
/// session was unassigned in between.
async fn note_agent_change(
    tx: &mut WriteTx,
    ctx: &AuditCtx,
    before: &Session,
    after: &Session,
    now: i64,
) -> Result<bool, DomainError> {
    let (previous, Some(current)) = (
        before.collab_agent_id.as_deref(),
        after.collab_agent_id.as_deref(),
    ) else {
        // Unassigned: nobody new to start a view for.
        return Ok(false);
    };
    let starts_a_view = match previous {
        Some(previous) => !same_agent(tx, previous, current).await?,
        None => {
            let had_an_agent: Option<i64> =
                sqlx::query("SELECT agent_since FROM sessions WHERE id = $1")
                    .bind(&after.id)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("agent_since")?;
            had_an_agent.is_some()
        }
    };
    if starts_a_view {
        sqlx::query("UPDATE sessions SET agent_since = $1 WHERE id = $2")
            .bind(now)
            .bind(&after.id)
            .execute(&mut **tx)
            .await?;
    } else if previous.is_none() {
        // The session's first agent: their view starts at its beginning.
        sqlx::query("UPDATE sessions SET agent_since = created_at WHERE id = $1")
            .bind(&after.id)
            .execute(&mut **tx)
            .await?;
    }
    if let (Some(previous), true) = (previous, starts_a_view) {
        audit::record(
            tx,
            ctx,
            "session.takeover",
            "session",
            &after.id,
            Some(&serde_json::json!({ "agent": previous })),
            Some(&serde_json::json!({ "agent": current })),
        )
        .await?;
    }
    Ok(previous.is_some() && starts_a_view)
}

impl Store {
    /// When the session was routed to its current agent (ms), the start of
    /// that agent's view of the transcript; its creation while it has never
    /// had an agent.
    pub async fn session_agent_since(&self, id: &str) -> Result<i64, DomainError> {
        let row = sqlx::query("SELECT agent_since, created_at FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DomainError::not_found("session", id))?;
        let since: Option<i64> = row.try_get("agent_since")?;
        Ok(match since {
            Some(ms) => ms,
            None => row.try_get("created_at")?,
        })
    }

    /// The session whose guest is this Webex person (webhook path: one
    /// indexed lookup).
    pub async fn session_by_guest(&self, guest_id: &str) -> Result<Option<Session>, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE collab_guest_id = $1 ORDER BY updated_at DESC LIMIT 1"
        ))
        .bind(guest_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    /// A session with the relay's state on it, in one read.
    pub async fn relay_session(&self, session_id: &str) -> Result<RelaySession, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS}, {RELAY_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DomainError::not_found("session", session_id))?;
        Ok(RelaySession::from_row(&row)?)
    }

    /// The customer's session with the relay's state on it, if they have one.
    pub async fn relay_session_of(
        &self,
        customer: &Customer,
    ) -> Result<Option<RelaySession>, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS}, {RELAY_COLUMNS} FROM sessions WHERE customer_channel = $1 AND customer_channel_id = $2"
        ))
        .bind(customer.channel.as_str())
        .bind(&customer.id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(RelaySession::from_row).transpose()?)
    }

    /// When each of these customers of one channel last wrote, by their id
    /// on it, in one read (a page of contacts): customers with no session,
    /// or who have not written yet, are left out.
    pub async fn last_inbound_of(
        &self,
        channel: Channel,
        ids: &[&str],
    ) -> Result<HashMap<String, i64>, DomainError> {
        let mut last = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let list = placeholders(2, chunk.len());
            let sql = format!(
                "SELECT customer_channel_id, last_inbound_at FROM sessions
                  WHERE customer_channel = $1 AND customer_channel_id IN ({list})
                    AND last_inbound_at IS NOT NULL"
            );
            let mut query = sqlx::query(&sql)
                .persistent(cacheable(chunk.len()))
                .bind(channel.as_str());
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                last.insert(
                    row.try_get("customer_channel_id")?,
                    row.try_get("last_inbound_at")?,
                );
            }
        }
        Ok(last)
    }

    /// The customer's session, if they have one.
    pub async fn session_of(&self, customer: &Customer) -> Result<Option<Session>, DomainError> {
        Ok(self.relay_session_of(customer).await?.map(|c| c.session))
    }

    /// Active sessions whose guest has a Webex webhook (what the webhook
    /// health check looks at).
    pub async fn relay_sessions_with_webhooks(&self) -> Result<Vec<RelaySession>, DomainError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS}, {RELAY_COLUMNS} FROM sessions
              WHERE status = 'active' AND webex_webhook_id IS NOT NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(RelaySession::from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn session(&self, id: &str) -> Result<Session, DomainError> {
        let mut conn = self.pool.acquire().await?;
        load_session(&mut conn, id)
            .await?
            .ok_or_else(|| DomainError::not_found("session", id))
    }

    /// Creates the customer's session on a channel, or, when one exists,
    /// routes it to the agent in `new` (the latest agent to engage wins).
    /// There is never more than one session per customer and channel.
    pub async fn upsert_session(
        &self,
        ctx: &AuditCtx,
        new: &NewSession,
    ) -> Result<(Session, UpsertOutcome), DomainError> {
        let mut tx = self.begin_write().await?;
        let upserted = Self::upsert_session_in(&mut tx, ctx, new).await?;
        tx.commit().await?;
        Ok(upserted)
    }

    /// [`Store::upsert_session`] in the caller's transaction.
    pub(crate) async fn upsert_session_in(
        tx: &mut WriteTx,
        ctx: &AuditCtx,
        new: &NewSession,
    ) -> Result<(Session, UpsertOutcome), DomainError> {
        let (channel, channel_id, fields) = (new.customer.channel, &new.customer.id, &new.fields);
        check_contact(tx, fields.contact_id.as_deref()).await?;
        // Without an explicit contact, link the contact known on this channel.
        let contact_id = match fields.contact_id.clone() {
            Some(id) => Some(id),
            None => sqlx::query(
                "SELECT contact_id FROM contact_channels WHERE channel = $1 AND channel_id = $2",
            )
            .bind(channel.as_str())
            .bind(channel_id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get::<String, _>("contact_id"))
            .transpose()?,
        };
        let status = fields.status.unwrap_or(SessionStatus::Active);
        let now = now_ms();
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO sessions (id, customer_channel, customer_channel_id, collab_agent_id, collab_guest_id,
                    collab_extra1, collab_extra2, collab_extra3, contact_id, status, created_at, updated_at,
                    agent_since)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
             ON CONFLICT (customer_channel, customer_channel_id) DO NOTHING RETURNING id",
        )
        .bind(&id)
        .bind(channel.as_str())
        .bind(channel_id)
        .bind(&fields.agent)
        .bind(&fields.guest)
        .bind(&fields.extra[0])
        .bind(&fields.extra[1])
        .bind(&fields.extra[2])
        .bind(&contact_id)
        .bind(status.as_str())
        .bind(now)
        // A session made with its agent is theirs from the start; without
        // one, the first agent it gets sees it all (`note_agent_change`).
        .bind(fields.agent.as_ref().map(|_| now))
        .fetch_optional(&mut **tx)
        .await?;

        if inserted.is_some() {
            let mut session = load_session(tx, &id)
                .await?
                .ok_or_else(|| DomainError::not_found("session", &id))?;
            audit::record::<(), _>(
                tx,
                ctx,
                "session.create",
                "session",
                &id,
                None,
                Some(&session),
            )
            .await?;
            session.conversation_id =
                follow_session(tx, ctx, &session, false, Closing::ended_by(ctx)).await?;
            return Ok((session, UpsertOutcome::Created));
        }

        // The customer already has a session: re-route it. Fields that were
        // not sent keep their value, except the agent, which is replaced.
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE customer_channel = $1 AND customer_channel_id = $2"
        ))
        .bind(channel.as_str())
        .bind(channel_id)
        .fetch_one(&mut **tx)
        .await?;
        let before = session_from_row(&row)?;
        sqlx::query(
            "UPDATE sessions SET collab_agent_id = $1,
                    collab_guest_id = COALESCE($2, collab_guest_id),
                    collab_extra1 = COALESCE($3, collab_extra1),
                    collab_extra2 = COALESCE($4, collab_extra2),
                    collab_extra3 = COALESCE($5, collab_extra3),
                    contact_id = COALESCE($6, contact_id),
                    status = $7, updated_at = $8
              WHERE id = $9",
        )
        .bind(&fields.agent)
        .bind(&fields.guest)
        .bind(&fields.extra[0])
        .bind(&fields.extra[1])
        .bind(&fields.extra[2])
        .bind(&contact_id)
        .bind(status.as_str())
        .bind(now)
        .bind(&before.id)
        .execute(&mut **tx)
        .await?;
        let mut session = load_session(tx, &before.id)
            .await?
            .ok_or_else(|| DomainError::not_found("session", &before.id))?;
        let new_agent = note_agent_change(tx, ctx, &before, &session, now).await?;
        session.conversation_id =
            follow_session(tx, ctx, &session, new_agent, Closing::ended_by(ctx)).await?;
        audit::record(
            tx,
            ctx,
            "session.reroute",
            "session",
            &session.id,
            Some(&before),
            Some(&session),
        )
        .await?;
        Ok((session, UpsertOutcome::Updated))
    }

    /// Changes a session's fields; omitted fields keep their value.
    pub async fn update_session(
        &self,
        ctx: &AuditCtx,
        id: &str,
        changes: &SessionChanges,
    ) -> Result<Session, DomainError> {
        let fields = &changes.fields;
        let mut tx = self.begin_write().await?;
        let before = load_session(&mut tx, id)
            .await?
            .ok_or_else(|| DomainError::not_found("session", id))?;
        if changes
            .channel
            .is_some_and(|channel| channel != before.customer_channel)
        {
            return Err(FieldError::new(
                "customerChannel",
                "cannot be changed: create a session for the other channel instead",
            )
            .into());
        }
        if changes
            .number
            .as_ref()
            .is_some_and(|n| n.channel_id(before.customer_channel) != before.customer_channel_id)
        {
            return Err(FieldError::new(
                "customerChannelId",
                "cannot be changed: create a session for the other customer instead",
            )
            .into());
        }
        check_contact(&mut tx, fields.contact_id.as_deref()).await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE sessions SET collab_agent_id = COALESCE($1, collab_agent_id),
                    collab_guest_id = COALESCE($2, collab_guest_id),
                    collab_extra1 = COALESCE($3, collab_extra1),
                    collab_extra2 = COALESCE($4, collab_extra2),
                    collab_extra3 = COALESCE($5, collab_extra3),
                    contact_id = COALESCE($6, contact_id),
                    status = COALESCE($7, status), updated_at = $8
              WHERE id = $9",
        )
        .bind(&fields.agent)
        .bind(&fields.guest)
        .bind(&fields.extra[0])
        .bind(&fields.extra[1])
        .bind(&fields.extra[2])
        .bind(&fields.contact_id)
        .bind(fields.status.map(SessionStatus::as_str))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let mut session = load_session(&mut tx, id)
            .await?
            .ok_or_else(|| DomainError::not_found("session", id))?;
        let new_agent = note_agent_change(&mut tx, ctx, &before, &session, now).await?;
        session.conversation_id =
            follow_session(&mut tx, ctx, &session, new_agent, Closing::ended_by(ctx)).await?;
        audit::record(
            &mut tx,
            ctx,
            "session.update",
            "session",
            id,
            Some(&before),
            Some(&session),
        )
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    pub async fn delete_session(&self, ctx: &AuditCtx, id: &str) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        let before = load_session(&mut tx, id)
            .await?
            .ok_or_else(|| DomainError::not_found("session", id))?;
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::record::<_, ()>(
            &mut tx,
            ctx,
            "session.delete",
            "session",
            id,
            Some(&before),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A search's `customerChannel` and `customerChannelId` filters: the
    /// channel, and the customer's id on it as stored (a number in any
    /// written form; the id needs the channel).
    pub(crate) fn customer_filter(
        &self,
        channel: Option<&str>,
        channel_id: Option<&str>,
    ) -> Result<(Option<Channel>, Option<String>), DomainError> {
        let channel = text("customerChannel", channel, 50)?
            .map(|c| Channel::parse_field("customerChannel", &c))
            .transpose()?;
        let id = match text("customerChannelId", channel_id, 50)? {
            None => None,
            Some(raw) => {
                let channel = channel.ok_or_else(|| {
                    FieldError::new("customerChannel", "is required with customerChannelId")
                })?;
                let region = self.rules.phone_region;
                Some(Customer::parse(channel, "customerChannelId", &raw, region)?.id)
            }
        };
        Ok((channel, id))
    }

    /// Lists sessions, most recently active first.
    pub async fn list_sessions(&self, query: &SessionQuery) -> Result<Page<Session>, DomainError> {
        let paging = match query.paging {
            Some(p) => p,
            None => Paging::new(None, None)?,
        };
        let (channel, channel_id) = self.customer_filter(
            query.customer_channel.as_deref(),
            query.customer_channel_id.as_deref(),
        )?;
        let guest = text(
            "collabGuestId",
            query.collab_guest_id.as_deref(),
            COLLAB_MAX,
        )?;
        let agent = text(
            "collabAgentId",
            query.collab_agent_id.as_deref(),
            COLLAB_MAX,
        )?;
        let filter = "($1 IS NULL OR customer_channel = $1) AND ($2 IS NULL OR customer_channel_id = $2)
                  AND ($3 IS NULL OR collab_guest_id = $3) AND ($4 IS NULL OR collab_agent_id = $4)";
        let channel = channel.map(Channel::as_str);
        let total: i64 = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM sessions WHERE {filter}"
        ))
        .bind(channel)
        .bind(&channel_id)
        .bind(&guest)
        .bind(&agent)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE {filter}
              ORDER BY updated_at DESC, id LIMIT $5 OFFSET $6"
        ))
        .bind(channel)
        .bind(&channel_id)
        .bind(&guest)
        .bind(&agent)
        .bind(i64::from(paging.per_page))
        .bind(paging.offset())
        .fetch_all(&self.pool)
        .await?;
        Ok(Page {
            items: rows
                .iter()
                .map(session_from_row)
                .collect::<Result<_, _>>()?,
            page: paging.page,
            per_page: paging.per_page,
            total,
        })
    }
}

impl Store {
    /// Active sessions with no message either way, and no change, since
    /// `idle_since_ms`: the inactivity rule's candidates (at most `limit`).
    pub async fn idle_sessions(
        &self,
        idle_since_ms: i64,
        limit: i64,
    ) -> Result<Vec<Session>, DomainError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s
              WHERE s.status = 'active' AND s.updated_at < $1
                AND NOT EXISTS (SELECT 1 FROM messages m
                                 WHERE m.session_id = s.id AND m.created_at >= $1)
              ORDER BY s.updated_at LIMIT $2"
        ))
        .bind(idle_since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(session_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Ends a session for inactivity inside the caller's transaction, if it
    /// is still active and still idle since `idle_since_ms` (a message that
    /// arrived meanwhile keeps it open). Audited; true when it ended it.
    pub async fn end_idle_session(
        tx: &mut WriteTx,
        id: &str,
        idle_since_ms: i64,
    ) -> Result<bool, DomainError> {
        let Some(before) = load_session(tx, id).await? else {
            return Ok(false);
        };
        let ended = sqlx::query(
            "UPDATE sessions SET status = 'ended', updated_at = $1
              WHERE id = $2 AND status = 'active' AND updated_at < $3
                AND NOT EXISTS (SELECT 1 FROM messages m
                                 WHERE m.session_id = sessions.id AND m.created_at >= $3)",
        )
        .bind(now_ms())
        .bind(id)
        .bind(idle_since_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            > 0;
        if ended {
            let after = load_session(tx, id)
                .await?
                .ok_or_else(|| DomainError::not_found("session", id))?;
            let ctx = AuditCtx::system();
            follow_session(tx, &ctx, &after, false, Closing::by(ClosedBy::Inactivity)).await?;
            audit::record(
                tx,
                &ctx,
                "session.idle_end",
                "session",
                id,
                Some(&before),
                Some(&after),
            )
            .await?;
        }
        Ok(ended)
    }
}
