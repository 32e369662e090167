//! What the live sidebar needs: which sessions changed lately (a message in
//! or out, a receipt, a status or routing change), and how many of a
//! session's inbound messages an agent has not seen.

use std::collections::HashMap;

use sqlx::Row;

use super::{now_ms, placeholders, Store};
use domain::error::DomainError;

/// A session whose row or transcript changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionChange {
    pub session_id: String,
    /// The agent it is routed to (email), who is told, with the admins.
    pub agent: Option<String>,
    /// The latest change's time (ms).
    pub changed_at: i64,
}

impl Store {
    /// Sessions changed after `since_ms`, each once with its latest change.
    pub async fn sessions_changed_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<SessionChange>, DomainError> {
        let rows = sqlx::query(
            "SELECT id, collab_agent_id, MAX(changed_at) AS changed_at FROM (
                SELECT id, collab_agent_id, updated_at AS changed_at FROM sessions WHERE updated_at > $1
                UNION ALL
                SELECT s.id, s.collab_agent_id, m.updated_at FROM messages m
                  JOIN sessions s ON s.id = m.session_id WHERE m.updated_at > $1
             ) changed GROUP BY id, collab_agent_id",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SessionChange {
                    session_id: r.try_get("id")?,
                    agent: r.try_get("collab_agent_id")?,
                    changed_at: r.try_get("changed_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The agent has seen the session's transcript up to now.
    pub async fn mark_session_read(
        &self,
        agent_id: &str,
        session_id: &str,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO session_reads (agent_id, session_id, read_at) VALUES ($1, $2, $3)
             ON CONFLICT (agent_id, session_id) DO UPDATE SET read_at = excluded.read_at",
        )
        .bind(agent_id)
        .bind(session_id)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Inbound messages the agent has not seen, per session (sessions with
    /// none are left out).
    pub async fn unread_counts(
        &self,
        agent_id: &str,
        session_ids: &[String],
    ) -> Result<HashMap<String, i64>, DomainError> {
        if session_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids = placeholders(2, session_ids.len());
        let sql = format!(
            "SELECT m.session_id, COUNT(*) AS unread FROM messages m
               LEFT JOIN session_reads r ON r.session_id = m.session_id AND r.agent_id = $1
              WHERE m.session_id IN ({ids}) AND m.direction = 'inbound'
                AND m.created_at > COALESCE(r.read_at, 0)
              GROUP BY m.session_id"
        );
        let mut query = sqlx::query(&sql).bind(agent_id);
        for id in session_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("session_id")?, r.try_get("unread")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
