//! The outbox: every call to Webex or Connect is a row first, written in the
//! same transaction as the change that causes it, then delivered by a worker.
//!
//! Rows with the same ordering key (a session) are delivered strictly in
//! order: a row is claimable only when no earlier row of its key is pending.
//! A claim is a lease (`locked_until`): a worker that dies mid-delivery leaves
//! the row claimable again when the lease ends, so delivery is at least once;
//! the idempotency key lets the receiver drop the duplicate.

use serde::Serialize;
use sqlx::Row;
use std::time::Duration;

use super::{format_ms, now_ms, Backend, Store};
use domain::error::DomainError;

/// A call to make, as enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What to do, e.g. `webex.post_message`.
    pub kind: String,
    /// Jobs with the same key run one at a time, in the order enqueued.
    pub ordering_key: String,
    /// Unique per intended effect: enqueueing the same key twice is a no-op.
    pub idempotency_key: String,
    pub payload: serde_json::Value,
}

/// A claimed job, leased to one worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub ordering_key: String,
    pub idempotency_key: String,
    pub payload: serde_json::Value,
    /// Including this one.
    pub attempts: i64,
}

/// A job that used up its retry budget, for the admins' dead-letter view.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadJob {
    pub id: i64,
    pub kind: String,
    pub ordering_key: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
}

/// Retry policy: exponential backoff with full jitter, never sooner than a
/// server's Retry-After, at most `max_attempts` tries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: i64,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next try after `attempts` failed tries.
    pub fn delay(&self, attempts: i64, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempts.clamp(0, 20) as u32)
            .min(self.cap);
        let jittered = exp.mul_f64(jitter.clamp(0.0, 1.0));
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// What the worker reports for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Worth another try (timeouts, 5xx, 429).
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Will never work (4xx other than 429): straight to the dead letters.
    Fatal {
        error: String,
    },
}

impl Store {
    /// Enqueues jobs inside the caller's transaction. Returns how many were
    /// new (an idempotency key seen before is skipped).
    pub async fn enqueue(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        jobs: &[NewJob],
    ) -> Result<usize, DomainError> {
        let now = now_ms();
        let mut added = 0;
        for job in jobs {
            let inserted = sqlx::query(
                "INSERT INTO outbox (kind, ordering_key, idempotency_key, payload, status, attempts, next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5)
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            )
            .bind(&job.kind)
            .bind(&job.ordering_key)
            .bind(&job.idempotency_key)
            .bind(job.payload.to_string())
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
            added += usize::from(inserted.is_some());
        }
        Ok(added)
    }

    /// Enqueues jobs in a transaction of their own.
    pub async fn enqueue_now(&self, jobs: &[NewJob]) -> Result<usize, DomainError> {
        let mut tx = self.begin_write().await?;
        let added = Store::enqueue(&mut tx, jobs).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Leases up to `limit` due jobs, at most one per ordering key and only
    /// the earliest pending one of each key.
    pub async fn claim_jobs(&self, limit: i64, lease: Duration) -> Result<Vec<Job>, DomainError> {
        let now = now_ms();
        let skip_locked = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET locked_until = $1, attempts = attempts + 1, updated_at = $2
              WHERE id IN (
                SELECT o.id FROM outbox o
                 WHERE o.status = 'pending' AND o.next_attempt_at <= $2
                   AND (o.locked_until IS NULL OR o.locked_until < $2)
                   AND NOT EXISTS (SELECT 1 FROM outbox p
                                    WHERE p.ordering_key = o.ordering_key AND p.status = 'pending' AND p.id < o.id)
                 ORDER BY o.id LIMIT $3 {skip_locked})
              RETURNING id, kind, ordering_key, idempotency_key, payload, attempts"
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&sql)
            .bind(now + lease.as_millis() as i64)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut jobs = rows
            .iter()
            .map(|r| {
                let payload: String = r.try_get("payload")?;
                Ok(Job {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    ordering_key: r.try_get("ordering_key")?,
                    idempotency_key: r.try_get("idempotency_key")?,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Marks a job done inside the transaction that made its effects, so a
    /// job whose effects are only database writes runs exactly once.
    pub async fn complete_job(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        job_id: i64,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE outbox SET status = 'done', locked_until = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now_ms())
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Keeps a running job's lease: a worker renews it while it works, so a
    /// lease can be short and a job of a crashed worker is retried soon.
    pub async fn extend_lease(&self, job_id: i64, lease: Duration) -> Result<(), DomainError> {
        sqlx::query("UPDATE outbox SET locked_until = $1 WHERE id = $2 AND status = 'pending'")
            .bind(now_ms() + lease.as_millis() as i64)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records how a claimed job went: done, retried later, or dead.
    pub async fn finish_job(
        &self,
        job: &Job,
        outcome: &Outcome,
        policy: &RetryPolicy,
        jitter: f64,
    ) -> Result<(), DomainError> {
        let now = now_ms();
        let (status, next, error) = match outcome {
            Outcome::Done => ("done", now, None),
            Outcome::Fatal { error } => ("dead", now, Some(error.clone())),
            Outcome::Retry { error, retry_after } => {
                if job.attempts >= policy.max_attempts {
                    ("dead", now, Some(error.clone()))
                } else {
                    let wait = policy.delay(job.attempts, *retry_after, jitter);
                    (
                        "pending",
                        now + wait.as_millis() as i64,
                        Some(error.clone()),
                    )
                }
            }
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = COALESCE($3, last_error),
                    locked_until = NULL, updated_at = $4
              WHERE id = $5 AND status = 'pending'",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(now)
        .bind(job.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Jobs that will not be retried, newest first.
    pub async fn dead_jobs(&self, limit: i64) -> Result<Vec<DeadJob>, DomainError> {
        let rows = sqlx::query(
            "SELECT id, kind, ordering_key, attempts, last_error, created_at FROM outbox
              WHERE status = 'dead' ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadJob {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    ordering_key: r.try_get("ordering_key")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                    created_at: format_ms(r.try_get("created_at")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// How many jobs are waiting (for health and metrics).
    pub async fn pending_jobs(&self) -> Result<i64, DomainError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, None, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(3, None, 1.0), Duration::from_secs(4));
        assert_eq!(p.delay(30, None, 1.0), Duration::from_secs(300));
        assert_eq!(p.delay(3, None, 0.5), Duration::from_secs(2));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(30)), 1.0),
            Duration::from_secs(30)
        );
    }
}
