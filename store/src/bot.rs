//! The bot's conversations with customers and its health (see
//! `domain::bot`): which customers talk to the bot, and whether it is
//! active. The relay decides; this records.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::record;
use super::{format_ms, AuditCtx, Store, WriteTx};
use domain::bot::{BotConversationStatus, BotCounts, BotHealth, MAX_CONSECUTIVE_FAILURES};
use domain::error::DomainError;
use domain::Channel;

/// A customer's conversation with the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotConversation {
    /// The seed's `Conversationid`: the bot answers with it.
    pub id: String,
    pub channel: Channel,
    /// The customer's id on the channel (digits of the number).
    pub customer_id: String,
    pub status: BotConversationStatus,
    pub started_at_ms: i64,
}

const CONVERSATION_COLUMNS: &str = "id, channel, customer_id, status, started_at";

fn conversation_from_row(row: &AnyRow) -> Result<BotConversation, DomainError> {
    let channel: String = row.try_get("channel")?;
    let status: String = row.try_get("status")?;
    Ok(BotConversation {
        id: row.try_get("id")?,
        channel: channel
            .parse()
            .map_err(|_| DomainError::Storage(format!("unknown channel {channel}")))?,
        customer_id: row.try_get("customer_id")?,
        status: BotConversationStatus::parse(&status)
            .ok_or_else(|| DomainError::Storage(format!("unknown bot status {status}")))?,
        started_at_ms: row.try_get("started_at")?,
    })
}

const HEALTH_COLUMNS: &str = "active, consecutive_failures, last_error, last_failure_at, \
     last_success_at, inactive_since, reactivated_at, reactivated_by";

fn health_from_row(row: &AnyRow) -> Result<BotHealth, DomainError> {
    let time = |name: &str| -> Result<Option<String>, DomainError> {
        Ok(row.try_get::<Option<i64>, _>(name)?.map(format_ms))
    };
    Ok(BotHealth {
        active: row.try_get::<i64, _>("active")? != 0,
        consecutive_failures: row.try_get("consecutive_failures")?,
        last_error: row.try_get("last_error")?,
        last_failure_at: time("last_failure_at")?,
        last_success_at: time("last_success_at")?,
        inactive_since: time("inactive_since")?,
        reactivated_at: time("reactivated_at")?,
        reactivated_by: row.try_get("reactivated_by")?,
    })
}

impl Store {
    /// The customer's conversation with the bot that is still open, if any.
    pub async fn open_bot_conversation(
        &self,
        channel: Channel,
        customer_id: &str,
    ) -> Result<Option<BotConversation>, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM bot_conversations
              WHERE channel = $1 AND customer_id = $2 AND status = 'open'
              ORDER BY started_at DESC LIMIT 1"
        ))
        .bind(channel.as_str())
        .bind(customer_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    pub async fn bot_conversation(&self, id: &str) -> Result<BotConversation, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM bot_conversations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DomainError::not_found("bot conversation", id))?;
        conversation_from_row(&row)
    }

    /// Opens a bot conversation in the caller's transaction (the job that
    /// sends the customer's first message to the bot).
    pub async fn open_bot_conversation_in(
        tx: &mut WriteTx,
        id: &str,
        channel: Channel,
        customer_id: &str,
    ) -> Result<(), DomainError> {
        let now = super::now_ms();
        sqlx::query(
            "INSERT INTO bot_conversations (id, channel, customer_id, status, started_at, updated_at)
             VALUES ($1, $2, $3, 'open', $4, $4)",
        )
        .bind(id)
        .bind(channel.as_str())
        .bind(customer_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Ends an open bot conversation (handed over, or bypassed); `agent`:
    /// whom the bot named. False when it had ended already: the first end
    /// wins, so a hand-over is acted on once.
    pub async fn end_bot_conversation(
        tx: &mut WriteTx,
        id: &str,
        status: BotConversationStatus,
        agent: Option<&str>,
    ) -> Result<bool, DomainError> {
        let now = super::now_ms();
        let ended = sqlx::query(
            "UPDATE bot_conversations SET status = $1, agent = $2, ended_at = $3, updated_at = $3
              WHERE id = $4 AND status = 'open'",
        )
        .bind(status.as_str())
        .bind(agent)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(ended.rows_affected() > 0)
    }

    /// The bot's health.
    pub async fn bot_health(&self) -> Result<BotHealth, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {HEALTH_COLUMNS} FROM bot_state WHERE id = 1"
        ))
        .fetch_one(&self.pool)
        .await?;
        health_from_row(&row)
    }

    /// A call reached the bot: the failures in a row start again from none.
    pub async fn bot_call_succeeded(&self) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE bot_state SET consecutive_failures = 0, last_success_at = $1 WHERE id = 1",
        )
        .bind(super::now_ms())
        // The writer, as every write: on SQLite a write through a reader
        // connection would wait for the lock in SQLite's busy handler,
        // holding its runtime thread (statements run on the calling task).
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// A call failed: counted, in one statement (calls fail concurrently);
    /// the [`MAX_CONSECUTIVE_FAILURES`]th in a row makes the bot inactive,
    /// and the conversations still open with it are bypassed (their
    /// customers' waiting messages go the usual way). Answers the health
    /// after it.
    pub async fn bot_call_failed(&self, error: &str) -> Result<BotHealth, DomainError> {
        let now = super::now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE bot_state SET
                consecutive_failures = consecutive_failures + 1,
                last_error = $1,
                last_failure_at = $2,
                inactive_since = CASE WHEN active = 1 AND consecutive_failures + 1 >= $3
                                      THEN $2 ELSE inactive_since END,
                active = CASE WHEN consecutive_failures + 1 >= $3 THEN 0 ELSE active END
              WHERE id = 1
              RETURNING {HEALTH_COLUMNS}"
        ))
        .bind(error)
        .bind(now)
        .bind(MAX_CONSECUTIVE_FAILURES)
        .fetch_one(&mut *tx)
        .await?;
        let health = health_from_row(&row)?;
        let made_inactive = health.consecutive_failures == MAX_CONSECUTIVE_FAILURES;
        if made_inactive {
            sqlx::query(
                "UPDATE bot_conversations SET status = 'bypassed', ended_at = $1, updated_at = $1
                  WHERE status = 'open'",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if made_inactive {
            tracing::warn!(
                failures = MAX_CONSECUTIVE_FAILURES,
                "the bot is now inactive: customers go straight to agents until an admin reactivates it"
            );
        }
        Ok(health)
    }

    /// An admin makes the bot active again (audited): customers without an
    /// agent go to it first once more.
    pub async fn reactivate_bot(&self, ctx: &AuditCtx) -> Result<BotHealth, DomainError> {
        let mut tx = self.begin_write().await?;
        let before = sqlx::query(&format!(
            "SELECT {HEALTH_COLUMNS} FROM bot_state WHERE id = 1"
        ))
        .fetch_one(&mut *tx)
        .await?;
        let before = health_from_row(&before)?;
        let row = sqlx::query(&format!(
            "UPDATE bot_state SET active = 1, consecutive_failures = 0, inactive_since = NULL,
                    reactivated_at = $1, reactivated_by = $2
              WHERE id = 1
              RETURNING {HEALTH_COLUMNS}"
        ))
        .bind(super::now_ms())
        .bind(ctx.actor.label())
        .fetch_one(&mut *tx)
        .await?;
        let after = health_from_row(&row)?;
        record(
            &mut tx,
            ctx,
            "bot.reactivated",
            "bot",
            "bot",
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// How many bot conversations are in each state.
    pub async fn bot_counts(&self) -> Result<BotCounts, DomainError> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM bot_conversations GROUP BY status")
                .fetch_all(&self.pool)
                .await?;
        let mut counts = BotCounts::default();
        for row in rows {
            let n: i64 = row.try_get("n")?;
            match BotConversationStatus::parse(&row.try_get::<String, _>("status")?) {
                Some(BotConversationStatus::Open) => counts.open = n,
                Some(BotConversationStatus::HandedOver) => counts.handed_over = n,
                Some(BotConversationStatus::Bypassed) => counts.bypassed = n,
                None => {}
            }
        }
        Ok(counts)
    }
}
