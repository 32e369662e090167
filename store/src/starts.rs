//! Attempts to start a conversation. The attempt id comes from the caller
//! (the page's nonce, an API client's `attemptId`), so a double click or a
//! retried request is one attempt.

use sqlx::Row;

use super::{now_ms, Store};
use domain::error::DomainError;

/// Where an attempt is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptStatus {
    /// Begun, no outcome recorded yet.
    Sending,
    Sent,
    /// Did not get through, for this reason.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartAttempt {
    pub id: String,
    pub agent_id: String,
    pub contact_id: String,
    pub channel: String,
    pub status: AttemptStatus,
}

impl Store {
    /// Records a new attempt; `false` if this id was seen before (then the
    /// earlier attempt is returned by [`Store::start_attempt`]).
    pub async fn begin_start_attempt(
        &self,
        id: &str,
        agent_id: &str,
        contact_id: &str,
        channel: &str,
    ) -> Result<bool, DomainError> {
        let inserted = sqlx::query(
            "INSERT INTO start_attempts (id, agent_id, contact_id, channel, status, created_at)
             VALUES ($1, $2, $3, $4, 'sending', $5) ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(id)
        .bind(agent_id)
        .bind(contact_id)
        .bind(channel)
        .bind(now_ms())
        .fetch_optional(&self.writer)
        .await?;
        Ok(inserted.is_some())
    }

    /// Records the outcome: sent, or failed with the reason.
    pub async fn finish_start_attempt(
        &self,
        id: &str,
        failure: Option<&str>,
    ) -> Result<(), DomainError> {
        let status = if failure.is_some() { "failed" } else { "sent" };
        sqlx::query(
            "UPDATE start_attempts SET status = $1, detail = $2, finished_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(failure)
        .bind(now_ms())
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn start_attempt(&self, id: &str) -> Result<Option<StartAttempt>, DomainError> {
        let row = sqlx::query(
            "SELECT id, agent_id, contact_id, channel, status, detail FROM start_attempts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let status = match r.try_get::<String, _>("status")?.as_str() {
            "sent" => AttemptStatus::Sent,
            "failed" => AttemptStatus::Failed(
                r.try_get::<Option<String>, _>("detail")?
                    .unwrap_or_default(),
            ),
            _ => AttemptStatus::Sending,
        };
        Ok(Some(StartAttempt {
            id: r.try_get("id")?,
            agent_id: r.try_get("agent_id")?,
            contact_id: r.try_get("contact_id")?,
            channel: r.try_get("channel")?,
            status,
        }))
    }
}
