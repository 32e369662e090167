//! The outbox: every call to Webex or Connect is a row first, written in the
//! same transaction as the change that causes it, then delivered by a worker.
//!
//! Rows with the same ordering key (a session) are delivered strictly in
//! order: only the key's head, its earliest pending row, is claimable. Heads
//! live in `outbox_heads` (one row per key with pending work: the job and when
//! it is due), set when a job is enqueued into a key with nothing pending and
//! moved on in the transaction that makes the head done or dead, so a claim
//! reads the due heads through an index and costs O(batch), not O(backlog).
//! A claim is a lease (`locked_until`, and the head due again at its end): a
//! worker that dies mid-delivery leaves the row claimable again when the lease
//! ends, so delivery is at least once; the idempotency key lets the receiver
//! drop the duplicate.

use serde::Serialize;
use sqlx::Row;
use std::time::Duration;

use super::{
    cacheable, format_ms, now_ms, placeholders, values_rows, Backend, Store, WriteTx,
    ROWS_PER_STATEMENT,
};
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

/// See [`Store::outbox_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: i64,
    pub oldest_pending_age_ms: i64,
    pub dead: i64,
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
    /// Whether a failure worth retrying after `attempts` tries (this one
    /// included) is the last: the job goes to the dead letters.
    pub fn gives_up(&self, attempts: i64) -> bool {
        attempts >= self.max_attempts
    }

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

/// Which transcript line a try is about, as the worker knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// Our line's id.
    Line(String),
    /// The platform's id of the message a line is made from (`webex` or
    /// `connect`): the job itself may write that line, so it is looked up
    /// when the try is recorded.
    Provider { provider: &'static str, id: String },
}

/// What the worker knows of a try besides its outcome, for the admins'
/// message log ([`Store::finish_job_noted`], [`Store::complete_job_noted`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptNote {
    pub message: Option<MessageRef>,
    /// What the platform answered to a try that went well (e.g. the id it
    /// gave the message); a failed try's answer is its error.
    pub answer: Option<String>,
    pub http_status: Option<u16>,
}

/// An attempt's answer is kept this short: enough to tell what happened.
const ANSWER_MAX: usize = 500;

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
    /// new (an idempotency key seen before is skipped). Two statements
    /// whatever the number of jobs: the rows, then the heads of keys that
    /// had none.
    pub async fn enqueue(tx: &mut WriteTx, jobs: &[NewJob]) -> Result<usize, DomainError> {
        let jobs: Vec<&NewJob> = jobs.iter().collect();
        Store::enqueue_all(tx, &jobs).await
    }

    /// [`Store::enqueue`] of jobs gathered from several events.
    pub async fn enqueue_all(tx: &mut WriteTx, jobs: &[&NewJob]) -> Result<usize, DomainError> {
        let mut added = 0;
        for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
            added += enqueue_rows(tx, chunk).await?;
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
    /// the earliest pending one of each key: the due rows of `outbox_heads`,
    /// read through its index, so a claim costs the same whatever the
    /// backlog behind the heads.
    pub async fn claim_jobs(&self, limit: i64, lease: Duration) -> Result<Vec<Job>, DomainError> {
        let now = now_ms();
        let until = now + lease.as_millis() as i64;
        let skip_locked = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        // A leased head is due again when its lease ends.
        let heads = sqlx::query(&format!(
            "UPDATE outbox_heads SET due_at = $1
              WHERE ordering_key IN (
                SELECT ordering_key FROM outbox_heads WHERE due_at <= $2
                 ORDER BY due_at, job_id LIMIT $3 {skip_locked})
              RETURNING ordering_key, job_id"
        ))
        .bind(until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("ordering_key")?, r.try_get("job_id")?)))
        .collect::<Result<Vec<(String, i64)>, sqlx::Error>>()?;
        if heads.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let ids = placeholders(3, heads.len());
        let sql = format!(
            // `NOT IN ('done', 'dead')` is `= 'pending'` (the only other
            // status) in a form SQLite does not answer through `outbox_due`,
            // which would read every pending row instead of these few ids.
            "UPDATE outbox SET {LEASE}
              WHERE id IN ({ids}) AND status NOT IN ('done', 'dead')
              RETURNING {JOB_COLUMNS}"
        );
        // Kept in the statement cache whatever the number of heads: a claim
        // is the worker's most frequent statement, and preparing it anew
        // each time made delivery at 250 messages a second 5 times slower
        // (README, Benchmark).
        let mut query = sqlx::query(&sql).bind(until).bind(now);
        for (_, id) in &heads {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&mut *tx).await?;
        let mut jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        // A head that is no longer pending (it cannot be, but a row edited by
        // hand could make it so) must not hold its key up: put it right (its
        // row is locked: the update above took it).
        if jobs.len() < heads.len() {
            for (key, id) in &heads {
                if !jobs.iter().any(|j| j.id == *id) {
                    settle_head(&mut tx, key, Head::Held, None).await?;
                }
            }
        }
        tx.commit().await?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Marks a job done inside the transaction that made its effects, so a
    /// job whose effects are only database writes runs exactly once. The
    /// key's next pending job becomes its head in the same transaction.
    pub async fn complete_job(tx: &mut WriteTx, job_id: i64) -> Result<(), DomainError> {
        Store::complete_job_noted(tx, job_id, &AttemptNote::default()).await
    }

    /// [`Store::complete_job`], with what the worker knows of the try for
    /// the message log: the try's row is written in the same transaction.
    pub async fn complete_job_noted(
        tx: &mut WriteTx,
        job_id: i64,
        note: &AttemptNote,
    ) -> Result<(), DomainError> {
        complete(tx, job_id, note, None).await.map(|_| ())
    }

    /// [`Store::complete_job_noted`], and the key's next job, if it is due
    /// now, leased in the same transaction to the worker that ran this one:
    /// a conversation's jobs run one after another without a claim each
    /// (e.g. a customer's message, then its post into the agent's space).
    pub async fn complete_job_and_lease_next(
        tx: &mut WriteTx,
        job_id: i64,
        note: &AttemptNote,
        lease: Duration,
    ) -> Result<Option<Job>, DomainError> {
        complete(tx, job_id, note, Some(lease)).await
    }

    /// Keeps a running job's lease: a worker renews it while it works, so a
    /// lease can be short and a job of a crashed worker is retried soon.
    pub async fn extend_lease(&self, job_id: i64, lease: Duration) -> Result<(), DomainError> {
        let until = now_ms() + lease.as_millis() as i64;
        let mut tx = self.begin_write().await?;
        lock_head_of(&mut tx, job_id).await?;
        let key = sqlx::query(
            "UPDATE outbox SET locked_until = $1 WHERE id = $2 AND status = 'pending'
             RETURNING ordering_key",
        )
        .bind(until)
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = key {
            sqlx::query(
                "UPDATE outbox_heads SET due_at = $1 WHERE ordering_key = $2 AND job_id = $3",
            )
            .bind(until)
            .bind(row.try_get::<String, _>("ordering_key")?)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records how a claimed job went: done, retried later, or dead. The
    /// key's head follows in the same transaction: the next pending job when
    /// this one is done or dead, this one again at its next try.
    pub async fn finish_job(
        &self,
        job: &Job,
        outcome: &Outcome,
        policy: &RetryPolicy,
        jitter: f64,
    ) -> Result<(), DomainError> {
        self.finish_job_noted(job, outcome, policy, jitter, &AttemptNote::default())
            .await
    }

    /// [`Store::finish_job`], with what the worker knows of the try for the
    /// message log: the try's row is written in the same transaction as its
    /// outcome, so a try is never logged twice or missed.
    pub async fn finish_job_noted(
        &self,
        job: &Job,
        outcome: &Outcome,
        policy: &RetryPolicy,
        jitter: f64,
        note: &AttemptNote,
    ) -> Result<(), DomainError> {
        let now = now_ms();
        let (status, next, error) = match outcome {
            Outcome::Done => ("done", now, None),
            Outcome::Fatal { error } => ("dead", now, Some(error.clone())),
            Outcome::Retry { error, retry_after } => {
                if policy.gives_up(job.attempts) {
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
        let logged = match status {
            "pending" => "retry",
            other => other,
        };
        let mut tx = self.begin_write().await?;
        let head = lock_head_of(&mut tx, job.id).await?;
        // Logged even when another worker finished the job meanwhile (its
        // lease ran out): the try happened, and a duplicate is worth seeing.
        record_attempt(
            &mut tx,
            job.id,
            Some(job.attempts),
            logged,
            note,
            error.as_deref(),
        )
        .await?;
        let key = sqlx::query(
            "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = COALESCE($3, last_error),
                    locked_until = NULL, updated_at = $4
              WHERE id = $5 AND status = 'pending'
              RETURNING ordering_key",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(now)
        .bind(job.id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = key {
            settle_head(
                &mut tx,
                &row.try_get::<String, _>("ordering_key")?,
                head,
                None,
            )
            .await?;
        }
        tx.commit().await?;
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

    /// The queue at a glance, for `/metrics`: jobs waiting, how long the
    /// oldest has waited, and jobs given up.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, DomainError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest,
                    (SELECT COUNT(*) FROM outbox WHERE status = 'dead') AS dead
               FROM outbox WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        Ok(OutboxStats {
            pending: row.try_get("pending")?,
            oldest_pending_age_ms: oldest.map_or(0, |t| (now_ms() - t).max(0)),
            dead: row.try_get("dead")?,
        })
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

async fn enqueue_rows(tx: &mut WriteTx, jobs: &[&NewJob]) -> Result<usize, DomainError> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let values = values_rows(jobs.len(), 4, "'pending', 0, $1, $1, $1");
    let sql = format!(
        "INSERT INTO outbox (kind, ordering_key, idempotency_key, payload, status, attempts, next_attempt_at, created_at, updated_at)
         VALUES {values}
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, ordering_key"
    );
    let now = now_ms();
    let mut query = sqlx::query(&sql)
        .persistent(cacheable(jobs.len()))
        .bind(now);
    for job in jobs {
        query = query
            .bind(&job.kind)
            .bind(&job.ordering_key)
            .bind(&job.idempotency_key)
            .bind(job.payload.to_string());
    }
    let rows = query.fetch_all(&mut **tx).await?;
    // Each key's earliest new job, in key order (so transactions writing
    // the same keys on Postgres lock their heads in the same order).
    let mut firsts: std::collections::BTreeMap<String, i64> = Default::default();
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        firsts
            .entry(row.try_get("ordering_key")?)
            .and_modify(|first| *first = (*first).min(id))
            .or_insert(id);
    }
    if firsts.is_empty() {
        return Ok(0);
    }
    // A key with no pending job gets its first new job as its head; a key
    // with a head keeps it. On Postgres the no-op update locks the head's
    // row: a transaction moving the head on either waits for this one (and
    // then sees these jobs) or went first (and then this insert finds the
    // row gone and makes the job the head).
    let values = values_rows(firsts.len(), 2, "$1");
    let sql = format!(
        "INSERT INTO outbox_heads (ordering_key, job_id, due_at) VALUES {values}
         ON CONFLICT (ordering_key) DO UPDATE SET job_id = outbox_heads.job_id"
    );
    let mut query = sqlx::query(&sql)
        .persistent(cacheable(firsts.len()))
        .bind(now);
    for (key, id) in &firsts {
        query = query.bind(key).bind(*id);
    }
    query.execute(&mut **tx).await?;
    Ok(rows.len())
}

/// Marks a job done (see [`Store::complete_job_noted`]); with a lease, the
/// key's next job is leased if it is due.
async fn complete(
    tx: &mut WriteTx,
    job_id: i64,
    note: &AttemptNote,
    lease: Option<Duration>,
) -> Result<Option<Job>, DomainError> {
    let head = lock_head_of(tx, job_id).await?;
    record_attempt(tx, job_id, None, "done", note, None).await?;
    let key = sqlx::query(
        "UPDATE outbox SET status = 'done', locked_until = NULL, updated_at = $1 WHERE id = $2
         RETURNING ordering_key",
    )
    .bind(now_ms())
    .bind(job_id)
    .fetch_optional(&mut **tx)
    .await?;
    match key {
        Some(row) => settle_head(tx, &row.try_get::<String, _>("ordering_key")?, head, lease).await,
        None => Ok(None),
    }
}

/// What leasing a job writes, the same for a claim and for a job leased as
/// the one before it ends: `$1` the lease's end, `$2` now.
const LEASE: &str = "locked_until = $1, attempts = attempts + 1, updated_at = $2, claimed_at = $2";

/// The columns [`job_from_row`] reads.
const JOB_COLUMNS: &str = "id, kind, ordering_key, idempotency_key, payload, attempts";

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<Job, sqlx::Error> {
    let payload: String = r.try_get("payload")?;
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        ordering_key: r.try_get("ordering_key")?,
        idempotency_key: r.try_get("idempotency_key")?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        attempts: r.try_get("attempts")?,
    })
}

/// Writes one try of a job into the message log, in the transaction that
/// records its outcome. `attempt`: the try's number as claimed (None: the
/// job's count now). The message is linked only if its line exists (a line
/// erased meanwhile leaves the try unlinked); a job gone (erased) logs nothing.
async fn record_attempt(
    tx: &mut WriteTx,
    job_id: i64,
    attempt: Option<i64>,
    outcome: &str,
    note: &AttemptNote,
    error: Option<&str>,
) -> Result<(), DomainError> {
    let (line, provider, provider_id) = match &note.message {
        Some(MessageRef::Line(id)) => (Some(id.as_str()), None, None),
        Some(MessageRef::Provider { provider, id }) => (None, Some(*provider), Some(id.as_str())),
        None => (None, None, None),
    };
    let answer = match (outcome, &note.answer, error) {
        ("done", Some(answer), _) => Some(answer.as_str()),
        (_, _, Some(error)) => Some(error),
        (_, answer, None) => answer.as_deref(),
    }
    .map(short);
    sqlx::query(
        "INSERT INTO delivery_attempts
                (job_id, message_id, kind, attempt, started_at, finished_at, outcome, answer, http_status)
         SELECT o.id,
                COALESCE((SELECT m.id FROM messages m WHERE m.id = $2),
                         (SELECT m.id FROM messages m WHERE m.provider = $3 AND m.provider_message_id = $4)),
                o.kind, COALESCE($5, o.attempts), COALESCE(o.claimed_at, $6), $6, $7, $8, $9
           FROM outbox o WHERE o.id = $1",
    )
    .bind(job_id)
    .bind(line)
    .bind(provider)
    .bind(provider_id)
    .bind(attempt)
    .bind(now_ms())
    .bind(outcome)
    .bind(answer)
    .bind(note.http_status.map(i64::from))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// At most [`ANSWER_MAX`] characters, cut on a character boundary.
fn short(text: &str) -> String {
    match text.char_indices().nth(ANSWER_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// On Postgres, locks the head of the job's key before the job's own row is
/// touched. A claim locks heads first and their jobs second; doing the same
/// here means a completion and a claim of the same key (its lease just ran
/// out) wait for each other instead of deadlocking. SQLite has one writer.
async fn lock_head_of(tx: &mut WriteTx, job_id: i64) -> Result<Head, DomainError> {
    if tx.backend_name() != "PostgreSQL" {
        return Ok(Head::Held);
    }
    let locked = sqlx::query(
        "SELECT job_id FROM outbox_heads
          WHERE ordering_key = (SELECT ordering_key FROM outbox WHERE id = $1) FOR UPDATE",
    )
    .bind(job_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match locked {
        Some(_) => Head::Held,
        None => Head::Unlocked,
    })
}

/// Whether the transaction holds the lock on a key's head row (Postgres;
/// SQLite has one writer, so it always does). A lock is held to the
/// commit: taken once, it need not be taken again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Head {
    Held,
    /// Not locked yet, or there was no row to lock when it was tried.
    Unlocked,
}

/// Points a key's head at its earliest pending job, due when that job is
/// (its next try, or the end of its lease), or removes the head when the key
/// has nothing pending. Runs in the transaction that changed the key's jobs.
///
/// On Postgres the head's row is locked first (unless `head` says the
/// transaction holds it already), and the earliest pending job read after: a
/// transaction enqueueing into the key holds that lock until it commits, so
/// the job it adds is seen here, never left without a head.
///
/// With a `lease`, that job, if it is due now, is leased as a claim would
/// lease it (the head due again at the lease's end) and returned.
pub(crate) async fn settle_head(
    tx: &mut WriteTx,
    ordering_key: &str,
    head: Head,
    lease: Option<Duration>,
) -> Result<Option<Job>, DomainError> {
    if head == Head::Unlocked && tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT job_id FROM outbox_heads WHERE ordering_key = $1 FOR UPDATE")
            .bind(ordering_key)
            .fetch_optional(&mut **tx)
            .await?;
    }
    if let Some(lease) = lease {
        let now = now_ms();
        let until = now + lease.as_millis() as i64;
        let leased = sqlx::query(&format!(
            "UPDATE outbox SET {LEASE}
              WHERE id = (SELECT id FROM outbox WHERE ordering_key = $3 AND status = 'pending'
                           ORDER BY id LIMIT 1)
                AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until <= $2)
              RETURNING {JOB_COLUMNS}"
        ))
        .bind(until)
        .bind(now)
        .bind(ordering_key)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = leased {
            let job = job_from_row(&row)?;
            sqlx::query(
                "INSERT INTO outbox_heads (ordering_key, job_id, due_at) VALUES ($1, $2, $3)
                 ON CONFLICT (ordering_key) DO UPDATE SET job_id = excluded.job_id, due_at = excluded.due_at",
            )
            .bind(ordering_key)
            .bind(job.id)
            .bind(until)
            .execute(&mut **tx)
            .await?;
            return Ok(Some(job));
        }
    }
    // No pending job, no head: the common end of a conversation's work,
    // so tried first (one statement).
    let removed = sqlx::query(
        "DELETE FROM outbox_heads WHERE ordering_key = $1
           AND NOT EXISTS (SELECT 1 FROM outbox WHERE ordering_key = $1 AND status = 'pending')",
    )
    .bind(ordering_key)
    .execute(&mut **tx)
    .await?;
    if removed.rows_affected() > 0 {
        return Ok(None);
    }
    // The earliest pending job is the head, due at its next try or at the
    // end of its lease.
    sqlx::query(
        "INSERT INTO outbox_heads (ordering_key, job_id, due_at)
         SELECT ordering_key, id,
                CASE WHEN locked_until > next_attempt_at THEN locked_until ELSE next_attempt_at END
           FROM outbox WHERE ordering_key = $1 AND status = 'pending' ORDER BY id LIMIT 1
         ON CONFLICT (ordering_key) DO UPDATE SET job_id = excluded.job_id, due_at = excluded.due_at",
    )
    .bind(ordering_key)
    .execute(&mut **tx)
    .await?;
    Ok(None)
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
