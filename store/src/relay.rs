//! Storage for the relay: accepted webhook events (dedup), the transcript
//! with delivery status, and the relay's state on the session (the guest's
//! Webex ids, the onboarding dialogue, the WhatsApp template).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sessions::session_from_row;
use super::{
    cacheable, format_ms, new_id, now_ms, placeholders, values_rows, word, Store, WriteTx,
    ROWS_PER_STATEMENT,
};
use domain::error::DomainError;
use domain::model::{Customer, Direction, Message, MessageStatus, OnboardingStep, Session};
use domain::Channel;

/// A transcript line to add.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub session_id: String,
    pub direction: Direction,
    pub channel: Channel,
    pub body: String,
    /// Where the message came from (`webex`, `connect`) and its id there:
    /// unique together, so a redelivered event adds no second line.
    pub provider: Option<&'static str>,
    pub provider_message_id: Option<String>,
    pub status: MessageStatus,
    pub attachment: Option<Attachment>,
}

/// A file carried by a transcript line: where it can be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub url: String,
    pub mime: Option<String>,
    pub name: Option<String>,
}

impl NewMessage {
    pub fn new(
        session_id: &str,
        direction: Direction,
        channel: Channel,
        body: &str,
        status: MessageStatus,
    ) -> NewMessage {
        NewMessage {
            id: new_id(),
            session_id: session_id.to_string(),
            direction,
            channel,
            body: body.to_string(),
            provider: None,
            provider_message_id: None,
            status,
            attachment: None,
        }
    }

    pub fn with_attachment(mut self, attachment: Option<Attachment>) -> NewMessage {
        self.attachment = attachment;
        self
    }

    pub fn from_provider(mut self, provider: &'static str, id: &str) -> NewMessage {
        self.provider = Some(provider);
        self.provider_message_id = Some(id.to_string());
        self
    }
}

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, session_id, conversation_id, direction, channel, body, provider, status, error_code, error_text,
     attachment_url, attachment_mime, attachment_name, created_at";

/// The relay's state on a session, beside what the API shows of it.
#[derive(Debug, Clone, Default)]
pub struct RelayState {
    /// The guest's Webex webhook and 1:1 space with the agent (the guest's
    /// person id is the session's `collab_guest_id`).
    pub webhook_id: Option<String>,
    pub room_id: Option<String>,
    /// The onboarding dialogue: the step, and the name the customer gave.
    pub onboarding: Option<OnboardingStep>,
    pub onboarding_name: Option<String>,
    /// The customer's last message (WhatsApp's 24-hour window).
    pub last_inbound_at_ms: Option<i64>,
    pub template_sent_at_ms: Option<i64>,
    /// When the customer was told not to send card numbers here.
    pub pci_warned_at_ms: Option<i64>,
    /// The WhatsApp template chosen at the conversation's start, as the
    /// relay wrote it (JSON of `domain::templates::TemplateChoice`).
    pub start_template: Option<String>,
}

/// A session and the relay's state on it: one row, read once per job.
#[derive(Debug, Clone)]
pub struct RelaySession {
    pub session: Session,
    pub relay: RelayState,
}

impl RelaySession {
    pub(crate) fn from_row(row: &AnyRow) -> Result<RelaySession, sqlx::Error> {
        Ok(RelaySession {
            session: session_from_row(row)?,
            relay: RelayState {
                webhook_id: row.try_get("webex_webhook_id")?,
                room_id: row.try_get("webex_room_id")?,
                // An unknown step is treated as no step: the dialogue asks again.
                onboarding: row
                    .try_get::<Option<String>, _>("onboarding_step")?
                    .and_then(|s| s.parse().ok()),
                onboarding_name: row.try_get("onboarding_name")?,
                last_inbound_at_ms: row.try_get("last_inbound_at")?,
                template_sent_at_ms: row.try_get("template_sent_at")?,
                pci_warned_at_ms: row.try_get("pci_warned_at")?,
                start_template: row.try_get("start_template")?,
            },
        })
    }

    /// The guest's Webex person id, once provisioned.
    pub fn guest_id(&self) -> Option<&str> {
        self.session.collab_guest_id.as_deref()
    }
}

impl Store {
    /// Records a webhook event id; false when it was accepted before.
    pub async fn accept_event(
        tx: &mut WriteTx,
        provider: &str,
        event_id: &str,
    ) -> Result<bool, DomainError> {
        Ok(Store::accept_events(tx, &[(provider, event_id)]).await?[0])
    }

    /// [`Store::accept_event`] for several events in one statement: for
    /// each, whether it is new (an id twice in `events` is new once).
    pub async fn accept_events(
        tx: &mut WriteTx,
        events: &[(&str, &str)],
    ) -> Result<Vec<bool>, DomainError> {
        let mut fresh = Vec::with_capacity(events.len());
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let values = values_rows(chunk.len(), 2, "$1");
            let sql = format!(
                "INSERT INTO inbound_events (provider, event_id, received_at) VALUES {values}
                 ON CONFLICT (provider, event_id) DO NOTHING RETURNING provider, event_id"
            );
            let mut query = sqlx::query(&sql)
                .persistent(cacheable(chunk.len()))
                .bind(now_ms());
            for (provider, event_id) in chunk {
                query = query.bind(*provider).bind(*event_id);
            }
            let mut inserted = std::collections::HashSet::new();
            for row in query.fetch_all(&mut **tx).await? {
                inserted.insert((
                    row.try_get::<String, _>("provider")?,
                    row.try_get::<String, _>("event_id")?,
                ));
            }
            fresh.extend(chunk.iter().map(|(provider, event_id)| {
                inserted.remove(&(provider.to_string(), event_id.to_string()))
            }));
        }
        Ok(fresh)
    }

    /// Forgets webhook event ids received before `before_ms` (the dedup
    /// retention), in small batches so acknowledgements never wait long.
    /// Returns how many were removed.
    pub async fn prune_inbound_events(&self, before_ms: i64) -> Result<u64, DomainError> {
        const BATCH: i64 = 1000;
        let mut removed = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "DELETE FROM inbound_events WHERE (provider, event_id) IN
                   (SELECT provider, event_id FROM inbound_events WHERE received_at < $1 LIMIT $2)",
            )
            .bind(before_ms)
            .bind(BATCH)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            removed += done.rows_affected();
            if done.rows_affected() < BATCH as u64 {
                return Ok(removed);
            }
        }
    }

    /// Adds a transcript line.
    pub async fn add_message(tx: &mut WriteTx, m: &NewMessage) -> Result<(), DomainError> {
        let now = now_ms();
        sqlx::query(
            // A line belongs to the conversation current when it is written.
            "INSERT INTO messages (id, session_id, direction, channel, body, provider, provider_message_id, status,
                    attachment_url, attachment_mime, attachment_name, created_at, updated_at, conversation_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12,
                     (SELECT conversation_id FROM sessions WHERE id = $2))",
        )
        .bind(&m.id)
        .bind(&m.session_id)
        .bind(m.direction.as_str())
        .bind(m.channel.as_str())
        .bind(&m.body)
        .bind(m.provider)
        .bind(&m.provider_message_id)
        .bind(m.status.as_str())
        .bind(m.attachment.as_ref().map(|a| a.url.as_str()))
        .bind(m.attachment.as_ref().and_then(|a| a.mime.as_deref()))
        .bind(m.attachment.as_ref().and_then(|a| a.name.as_deref()))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn set_message_status(
        &self,
        id: &str,
        status: MessageStatus,
        connect_transid: Option<&str>,
        error: Option<(&str, &str)>,
    ) -> Result<(), DomainError> {
        update_status(&self.writer, id, status, connect_transid, error, Moves::Any).await
    }

    pub async fn message_by_provider_id(
        &self,
        provider: &str,
        id: &str,
    ) -> Result<Option<Message>, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE provider = $1 AND provider_message_id = $2"
        ))
        .bind(provider)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(message_from_row).transpose()?)
    }

    /// The part of a session's transcript that `viewer` may read, oldest
    /// first (takeover visibility: `access::transcript_view`). Every surface
    /// that shows a transcript to an agent reads it here.
    pub async fn transcript_for(
        &self,
        viewer: &domain::model::Agent,
        session: &domain::model::Session,
    ) -> Result<Vec<Message>, DomainError> {
        use domain::access::{transcript_view, TranscriptView};
        let since = self.session_agent_since(&session.id).await?;
        let from = match transcript_view(viewer, session, since) {
            TranscriptView::All => i64::MIN,
            TranscriptView::Since(ms) => ms,
            TranscriptView::Nothing => return Ok(Vec::new()),
        };
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = $1 AND created_at >= $2
              ORDER BY created_at, id"
        ))
        .bind(&session.id)
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(message_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The whole transcript of a session, oldest first (the relay's own
    /// view; agents read [`Store::transcript_for`]).
    pub async fn messages(&self, session_id: &str) -> Result<Vec<Message>, DomainError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = $1 ORDER BY created_at, id"
        ))
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(message_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Moves the onboarding dialogue (None: out of it).
    pub async fn set_onboarding(
        tx: &mut WriteTx,
        session_id: &str,
        step: Option<OnboardingStep>,
        name: Option<&str>,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE sessions SET onboarding_step = $1, onboarding_name = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(step.map(OnboardingStep::as_str))
        .bind(name)
        .bind(now_ms())
        .bind(session_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn set_template_sent(tx: &mut WriteTx, session_id: &str) -> Result<(), DomainError> {
        sqlx::query("UPDATE sessions SET template_sent_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(session_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records the WhatsApp template chosen at a conversation's start (JSON),
    /// or that none was (`None`), replacing an earlier conversation's.
    pub async fn set_start_template(
        tx: &mut WriteTx,
        session_id: &str,
        choice: Option<&str>,
    ) -> Result<(), DomainError> {
        sqlx::query("UPDATE sessions SET start_template = $1 WHERE id = $2")
            .bind(choice)
            .bind(session_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records that the customer was told card numbers are not accepted.
    pub async fn set_pci_warned(tx: &mut WriteTx, session_id: &str) -> Result<(), DomainError> {
        sqlx::query("UPDATE sessions SET pci_warned_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(session_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The transcript line a delivery receipt is about: by our correlation
    /// id (the line's id), else by Connect's transid.
    pub async fn message_for_receipt(
        &self,
        correlation_id: &str,
        transid: &str,
    ) -> Result<Option<Message>, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
              WHERE direction = 'outbound' AND (id = $1 OR ($2 <> '' AND connect_transid = $2))
              ORDER BY created_at LIMIT 1"
        ))
        .bind(correlation_id)
        .bind(transid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(message_from_row).transpose()?)
    }

    /// Moves a transcript line's status forward inside a transaction (a
    /// send's outcome or a delivery receipt, together with what it causes);
    /// a status it has passed leaves it as it is.
    pub async fn set_message_status_in(
        tx: &mut WriteTx,
        id: &str,
        status: MessageStatus,
        connect_transid: Option<&str>,
        error: Option<(&str, &str)>,
    ) -> Result<(), DomainError> {
        update_status(
            &mut **tx,
            id,
            status,
            connect_transid,
            error,
            Moves::Forward,
        )
        .await
    }

    pub async fn save_guest_identity(
        &self,
        session_id: &str,
        guest_id: &str,
        webhook_id: Option<&str>,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE sessions SET collab_guest_id = $1, webex_webhook_id = COALESCE($2, webex_webhook_id), updated_at = $3
              WHERE id = $4",
        )
        .bind(guest_id)
        .bind(webhook_id)
        .bind(now_ms())
        .bind(session_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records a guest's new webhook (the old one was gone).
    pub async fn set_webhook(&self, session_id: &str, webhook_id: &str) -> Result<(), DomainError> {
        sqlx::query("UPDATE sessions SET webex_webhook_id = $1 WHERE id = $2")
            .bind(webhook_id)
            .bind(session_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn message_status(&self, id: &str) -> Result<Option<MessageStatus>, DomainError> {
        let row = sqlx::query("SELECT status FROM messages WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| word(&r, "status")).transpose()?)
    }

    /// Remembers the 1:1 space of the guest and the session's current agent.
    pub async fn save_room(&self, session_id: &str, room_id: &str) -> Result<(), DomainError> {
        sqlx::query("UPDATE sessions SET webex_room_id = $1 WHERE id = $2")
            .bind(room_id)
            .bind(session_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// These customers wrote: their sessions (those who have one) remember when.
    pub async fn touch_inbound(
        tx: &mut WriteTx,
        customers: &[&Customer],
    ) -> Result<(), DomainError> {
        let mut by_channel: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for customer in customers {
            by_channel
                .entry(customer.channel.as_str())
                .or_default()
                .push(&customer.id);
        }
        let now = now_ms();
        for (channel, ids) in by_channel {
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let list = placeholders(3, chunk.len());
                let sql = format!(
                    "UPDATE sessions SET last_inbound_at = $1, updated_at = $1
                      WHERE customer_channel = $2 AND customer_channel_id IN ({list})"
                );
                let mut query = sqlx::query(&sql)
                    .persistent(cacheable(chunk.len()))
                    .bind(now)
                    .bind(channel);
                for id in chunk {
                    query = query.bind(*id);
                }
                query.execute(&mut **tx).await?;
            }
        }
        Ok(())
    }
}

/// Whether a status write may move a line back (a failed post's line goes
/// back to `received`) or only forward, in [`MessageStatus`]'s order (what
/// the relay learns as it goes: a send's outcome and a receipt may arrive
/// in either order, and a late "submitted" must not undo "read").
#[derive(Clone, Copy)]
enum Moves {
    Any,
    Forward,
}

/// The status write. A status that does not move leaves the line's status
/// and error as they are; Connect's transid is kept unless a new one is
/// given, and the first time a line reaches each status is kept for the
/// message log (a repeated status keeps its first time).
static UPDATE_STATUS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    // The stored status's place in the order ($7: the new one's, or past
    // the end when any move is allowed).
    let rank: String = MessageStatus::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| format!(" WHEN '{}' THEN {i}", s.as_str()))
        .collect();
    let moves = format!("(CASE status{rank} ELSE -1 END) < $7");
    format!(
        "UPDATE messages SET status = CASE WHEN {moves} THEN $1 ELSE status END,
                error_code = CASE WHEN {moves} THEN $3 ELSE error_code END,
                error_text = CASE WHEN {moves} THEN $4 ELSE error_text END,
                connect_transid = COALESCE($2, connect_transid), updated_at = $5,
                sent_at = CASE WHEN $1 IN ('sent', 'submitted') THEN COALESCE(sent_at, $5) ELSE sent_at END,
                delivered_at = CASE WHEN $1 = 'delivered' THEN COALESCE(delivered_at, $5) ELSE delivered_at END,
                read_at = CASE WHEN $1 = 'read' THEN COALESCE(read_at, $5) ELSE read_at END
          WHERE id = $6"
    )
});

async fn update_status<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    id: &str,
    status: MessageStatus,
    connect_transid: Option<&str>,
    error: Option<(&str, &str)>,
    moves: Moves,
) -> Result<(), DomainError> {
    let limit = match moves {
        Moves::Any => MessageStatus::ALL.len(),
        Moves::Forward => MessageStatus::ALL
            .iter()
            .position(|s| *s == status)
            .expect("every status is in ALL"),
    };
    sqlx::query(&UPDATE_STATUS)
        .bind(status.as_str())
        .bind(connect_transid)
        .bind(error.map(|e| e.0))
        .bind(error.map(|e| e.1))
        .bind(now_ms())
        .bind(id)
        .bind(limit as i64)
        .execute(executor)
        .await?;
    Ok(())
}

pub(crate) fn message_from_row(r: &sqlx::any::AnyRow) -> Result<Message, sqlx::Error> {
    Ok(Message {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        conversation_id: r.try_get("conversation_id")?,
        direction: word(r, "direction")?,
        channel: r.try_get("channel")?,
        body: r.try_get("body")?,
        provider: r.try_get("provider")?,
        status: word(r, "status")?,
        error_code: r.try_get("error_code")?,
        error_text: r.try_get("error_text")?,
        attachment_url: r.try_get("attachment_url")?,
        attachment_mime: r.try_get("attachment_mime")?,
        attachment_name: r.try_get("attachment_name")?,
        created_at: format_ms(r.try_get("created_at")?),
    })
}
