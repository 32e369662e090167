//! Leases for background tasks that must run on one replica at a time.
//!
//! Every replica runs the same loops; before each round a loop asks for its
//! task's lease. The holder gets it again (a renewal), anyone gets it when
//! the last holder's lease has run out (that replica died or stopped), and
//! nobody else gets it meanwhile. One conditional upsert decides, so two
//! replicas asking at once cannot both win on either database.

use sqlx::Row;
use std::time::Duration;

use super::{now_ms, Store};
use domain::error::DomainError;

/// The last report a task saved, with when.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    pub report: serde_json::Value,
    pub reported_at_ms: i64,
}

impl Store {
    /// Takes or renews the lease on `task` for `holder` (one id per process)
    /// for `ttl`. True when `holder` now holds it.
    pub async fn take_lease(
        &self,
        task: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, DomainError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let won = sqlx::query(
            "INSERT INTO background_leases (name, holder, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
              WHERE background_leases.holder = excluded.holder OR background_leases.until_ms < $4
             RETURNING name",
        )
        .bind(task)
        .bind(holder)
        .bind(now + ttl.as_millis() as i64)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        tx.commit().await?;
        Ok(won)
    }

    /// Gives the lease up (a graceful stop), so another replica need not wait
    /// for it to run out.
    pub async fn release_lease(&self, task: &str, holder: &str) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE background_leases SET until_ms = 0 WHERE name = $1 AND holder = $2")
            .bind(task)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps what the task's last run found, for every replica to show.
    pub async fn save_task_report(
        &self,
        task: &str,
        report: &serde_json::Value,
    ) -> Result<(), DomainError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // A run without the lease (an admin's "check now") reports too: the
        // row may not exist yet, and then nobody holds the task.
        sqlx::query(
            "INSERT INTO background_leases (name, holder, until_ms, report, reported_at)
             VALUES ($1, '', 0, $2, $3)
             ON CONFLICT (name) DO UPDATE SET report = excluded.report, reported_at = excluded.reported_at",
        )
        .bind(task)
        .bind(report.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The task's last report, if it made one.
    pub async fn task_report(&self, task: &str) -> Result<Option<TaskReport>, DomainError> {
        let row = sqlx::query(
            "SELECT report, reported_at FROM background_leases WHERE name = $1 AND report IS NOT NULL",
        )
        .bind(task)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get("report")?;
        Ok(Some(TaskReport {
            report: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            reported_at_ms: row.try_get("reported_at")?,
        }))
    }
}
