//! Storage for the relay: accepted webhook events (dedup), the transcript,
//! and the guest's Webex state on the session.

use sqlx::Row;

use super::{format_ms, new_id, now_ms, Store};
use crate::error::DomainError;
use crate::model::{Message, Session};

/// The guest's cached Webex access token, kept on the session.
#[derive(Clone)]
pub struct GuestState {
    pub guest_id: Option<String>,
    pub token: Option<String>,
    pub token_expires_at_ms: Option<i64>,
    pub webhook_id: Option<String>,
    pub room_id: Option<String>,
}

impl Store {
    /// Records a webhook event id; false when it was accepted before.
    pub async fn accept_event(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        provider: &str,
        event_id: &str,
    ) -> Result<bool, DomainError> {
        let inserted = sqlx::query(
            "INSERT INTO inbound_events (provider, event_id, received_at) VALUES ($1, $2, $3)
             ON CONFLICT (provider, event_id) DO NOTHING RETURNING event_id",
        )
        .bind(provider)
        .bind(event_id)
        .bind(now_ms())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(inserted.is_some())
    }

    /// Adds a transcript line; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_message(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        session_id: &str,
        direction: &str,
        channel: &str,
        body: &str,
        provider: Option<&str>,
        provider_message_id: Option<&str>,
        status: &str,
    ) -> Result<String, DomainError> {
        let id = new_id();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO messages (id, session_id, direction, channel, body, provider, provider_message_id, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&id)
        .bind(session_id)
        .bind(direction)
        .bind(channel)
        .bind(body)
        .bind(provider)
        .bind(provider_message_id)
        .bind(status)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }

    pub async fn set_message_status(
        &self,
        id: &str,
        status: &str,
        connect_transid: Option<&str>,
        error: Option<(&str, &str)>,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE messages SET status = $1, connect_transid = COALESCE($2, connect_transid),
                    error_code = $3, error_text = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(connect_transid)
        .bind(error.map(|e| e.0))
        .bind(error.map(|e| e.1))
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn message_by_provider_id(
        &self,
        provider: &str,
        id: &str,
    ) -> Result<Option<Message>, DomainError> {
        let row = sqlx::query(
            "SELECT id, session_id, direction, channel, body, status, error_code, error_text, created_at
               FROM messages WHERE provider = $1 AND provider_message_id = $2",
        )
        .bind(provider)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(message_from_row).transpose()?)
    }

    /// The transcript of a session, oldest first.
    pub async fn messages(&self, session_id: &str) -> Result<Vec<Message>, DomainError> {
        let rows = sqlx::query(
            "SELECT id, session_id, direction, channel, body, status, error_code, error_text, created_at
               FROM messages WHERE session_id = $1 ORDER BY created_at, id",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(message_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn guest_state(&self, session_id: &str) -> Result<GuestState, DomainError> {
        let row = sqlx::query(
            "SELECT collab_guest_id, guest_token, guest_token_expires_at, webex_webhook_id, webex_room_id
               FROM sessions WHERE id = $1",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DomainError::not_found("session", session_id))?;
        Ok(GuestState {
            guest_id: row.try_get("collab_guest_id")?,
            token: row.try_get("guest_token")?,
            token_expires_at_ms: row.try_get("guest_token_expires_at")?,
            webhook_id: row.try_get("webex_webhook_id")?,
            room_id: row.try_get("webex_room_id")?,
        })
    }

    pub async fn save_guest_token(
        &self,
        session_id: &str,
        token: &str,
        expires_at_ms: i64,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE sessions SET guest_token = $1, guest_token_expires_at = $2 WHERE id = $3",
        )
        .bind(token)
        .bind(expires_at_ms)
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(())
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn message_status(&self, id: &str) -> Result<Option<String>, DomainError> {
        let row = sqlx::query("SELECT status FROM messages WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("status")).transpose()?)
    }

    /// Remembers the 1:1 space of the guest and the session's current agent.
    pub async fn save_room(&self, session_id: &str, room_id: &str) -> Result<(), DomainError> {
        sqlx::query("UPDATE sessions SET webex_room_id = $1 WHERE id = $2")
            .bind(room_id)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The session whose guest is this Webex person.
    pub async fn session_by_guest(&self, guest_id: &str) -> Result<Option<Session>, DomainError> {
        let page = self
            .list_sessions(&super::SessionQuery {
                collab_guest_id: Some(guest_id.to_string()),
                ..Default::default()
            })
            .await?;
        Ok(page.items.into_iter().next())
    }

    /// The customer's session on a channel (channel id in any written form).
    pub async fn session_by_customer(
        &self,
        channel: crate::Channel,
        channel_id: &str,
    ) -> Result<Option<Session>, DomainError> {
        let page = self
            .list_sessions(&super::SessionQuery {
                customer_channel: Some(channel.as_str().to_string()),
                customer_channel_id: Some(channel_id.to_string()),
                ..Default::default()
            })
            .await?;
        Ok(page.items.into_iter().next())
    }

    pub async fn touch_inbound(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        session_id: &str,
    ) -> Result<(), DomainError> {
        let now = now_ms();
        sqlx::query("UPDATE sessions SET last_inbound_at = $1, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(session_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

fn message_from_row(r: &sqlx::any::AnyRow) -> Result<Message, sqlx::Error> {
    Ok(Message {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        direction: r.try_get("direction")?,
        channel: r.try_get("channel")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        error_code: r.try_get("error_code")?,
        error_text: r.try_get("error_text")?,
        created_at: format_ms(r.try_get("created_at")?),
    })
}
