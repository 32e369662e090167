//! Presses of the Start conversation button. The attempt id comes from the
//! page, so a double click or a retried request is one attempt.

use sqlx::Row;

use super::{now_ms, Store};
use crate::error::DomainError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartAttempt {
    pub id: String,
    pub status: String,
    pub detail: Option<String>,
}

impl Store {
    /// Records a new attempt; `None` if this id was seen before (then the
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
        .fetch_optional(&self.pool)
        .await?;
        Ok(inserted.is_some())
    }

    pub async fn finish_start_attempt(
        &self,
        id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE start_attempts SET status = $1, detail = $2, finished_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(detail)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn start_attempt(&self, id: &str) -> Result<Option<StartAttempt>, DomainError> {
        let row = sqlx::query("SELECT id, status, detail FROM start_attempts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(StartAttempt {
                id: r.try_get("id")?,
                status: r.try_get("status")?,
                detail: r.try_get("detail")?,
            }),
            None => None,
        })
    }
}
