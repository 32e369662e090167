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

/// What an agent (`$1`) has not seen: the customer's messages after their
/// read mark on the session (all of them when there is none). Follows
/// `FROM messages m`; callers add the sessions with `AND`.
const UNREAD: &str = "LEFT JOIN session_reads r ON r.session_id = m.session_id AND r.agent_id = $1
     WHERE m.direction = 'inbound' AND m.created_at > COALESCE(r.read_at, 0)";

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

    /// The agent has seen the session's transcript up to now. Written only
    /// when something was unread: viewing a session again is a read, not a
    /// write waiting for the database's writer.
    pub async fn mark_session_read(
        &self,
        agent_id: &str,
        session_id: &str,
    ) -> Result<(), DomainError> {
        let unread = sqlx::query(&format!(
            "SELECT 1 AS unread FROM messages m {UNREAD} AND m.session_id = $2 LIMIT 1"
        ))
        .bind(agent_id)
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        if unread.is_none() {
            return Ok(());
        }
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
            "SELECT m.session_id, COUNT(*) AS unread FROM messages m {UNREAD}
                AND m.session_id IN ({ids})
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
