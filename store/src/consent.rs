//! Customers who opted out of a channel, and opting back in. Each change is
//! audited in the transaction that makes it; a row exists only while the
//! customer is opted out.

use serde::Serialize;
use sqlx::Row;

use super::audit::record;
use super::conversations::{closed_by_opt_out, follow_session, reopen, Closing};
use super::sessions::load_session;
use super::{format_ms, AuditCtx, Store, WriteTx};
use domain::consent::ConsentChange;
use domain::error::DomainError;
use domain::model::ClosedBy;
use domain::Channel;

/// A customer who will not be sent anything on `channel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOut {
    pub channel: Channel,
    /// The customer's id on the channel (digits of the number).
    pub customer_id: String,
    /// When (RFC 3339).
    pub opted_out_at: String,
    /// How, e.g. `keyword STOP`.
    pub source: String,
}

impl Store {
    /// Records a consent change inside the caller's transaction (the job
    /// that read the keyword). True when it changed something: a second
    /// STOP, or START from someone never opted out, changes nothing.
    pub async fn change_consent(
        tx: &mut WriteTx,
        ctx: &AuditCtx,
        channel: Channel,
        customer_id: &str,
        change: ConsentChange,
        source: &str,
    ) -> Result<bool, DomainError> {
        let now = super::now_ms();
        let changed = match change {
            ConsentChange::OptOut => sqlx::query(
                "INSERT INTO opt_outs (channel, customer_id, opted_out_at, source) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (channel, customer_id) DO NOTHING",
            )
            .bind(channel.as_str())
            .bind(customer_id)
            .bind(now)
            .bind(source)
            .execute(&mut **tx)
            .await?,
            ConsentChange::OptIn => {
                sqlx::query("DELETE FROM opt_outs WHERE channel = $1 AND customer_id = $2")
                    .bind(channel.as_str())
                    .bind(customer_id)
                    .execute(&mut **tx)
                    .await?
            }
        }
        .rows_affected()
            > 0;
        if changed {
            let action = match change {
                ConsentChange::OptOut => "consent.opt_out",
                ConsentChange::OptIn => "consent.opt_in",
            };
            let details = serde_json::json!({ "channel": channel.as_str(), "source": source });
            let entity = format!("{}:{customer_id}", channel.as_str());
            record::<(), _>(tx, ctx, action, "customer", &entity, None, Some(&details)).await?;
            match change {
                ConsentChange::OptOut => end_for_opt_out(tx, ctx, channel, customer_id).await?,
                // The conversation the opt-out closed goes on where it stopped.
                ConsentChange::OptIn => {
                    if let Some(c) = closed_by_opt_out(tx, channel, customer_id).await? {
                        reopen(tx, ctx, &c).await?;
                    }
                }
            }
        }
        Ok(changed)
    }

    /// The customer's opt-out of `channel`, if they are opted out.
    pub async fn opt_out_of(
        &self,
        channel: Channel,
        customer_id: &str,
    ) -> Result<Option<OptOut>, DomainError> {
        let row = sqlx::query(
            "SELECT channel, customer_id, opted_out_at, source FROM opt_outs
              WHERE channel = $1 AND customer_id = $2",
        )
        .bind(channel.as_str())
        .bind(customer_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(opt_out_from_row).transpose()
    }

    /// Opted-out customers, newest first, and how many there are.
    pub async fn opt_outs(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<OptOut>, i64), DomainError> {
        let rows = sqlx::query(
            "SELECT channel, customer_id, opted_out_at, source FROM opt_outs
              ORDER BY opted_out_at DESC, customer_id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM opt_outs")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let items = rows
            .iter()
            .map(opt_out_from_row)
            .collect::<Result<_, _>>()?;
        Ok((items, total))
    }
}

fn opt_out_from_row(row: &sqlx::any::AnyRow) -> Result<OptOut, DomainError> {
    let channel: String = row.try_get("channel")?;
    Ok(OptOut {
        channel: channel.parse().map_err(|_| {
            DomainError::Storage(format!("unknown channel {channel:?} in opt_outs"))
        })?,
        customer_id: row.try_get("customer_id")?,
        opted_out_at: format_ms(row.try_get("opted_out_at")?),
        source: row.try_get("source")?,
    })
}

/// An opt-out ends the customer's session on the channel and closes its
/// conversation (closed by `opt_out`), in the transaction that records it.
async fn end_for_opt_out(
    tx: &mut WriteTx,
    ctx: &AuditCtx,
    channel: Channel,
    customer_id: &str,
) -> Result<(), DomainError> {
    let Some(id) = sqlx::query(
        "SELECT id FROM sessions WHERE customer_channel = $1 AND customer_channel_id = $2
            AND status <> 'ended'",
    )
    .bind(channel.as_str())
    .bind(customer_id)
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| r.try_get::<String, _>("id"))
    .transpose()?
    else {
        return Ok(());
    };
    let before = load_session(tx, &id).await?;
    sqlx::query("UPDATE sessions SET status = 'ended', updated_at = $1 WHERE id = $2")
        .bind(super::now_ms())
        .bind(&id)
        .execute(&mut **tx)
        .await?;
    let Some(after) = load_session(tx, &id).await? else {
        return Ok(());
    };
    record(
        tx,
        ctx,
        "session.update",
        "session",
        &id,
        before.as_ref(),
        Some(&after),
    )
    .await?;
    follow_session(tx, ctx, &after, false, Closing::by(ClosedBy::OptOut)).await?;
    Ok(())
}
