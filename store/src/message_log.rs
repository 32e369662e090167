//! The admins' message log: relayed messages searched by their ids, the
//! customer, the agent, time and status, and one message's hops (the
//! webhook that brought it, the jobs that carried it with every try, the
//! times it was sent, delivered, read). Tries are written by the outbox
//! (`delivery_attempts`, see `outbox.rs`).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{format_ms, opt_time, word, Paging, Store};
use domain::error::DomainError;
use domain::message_log::{
    AttemptTrail, JobTrail, LoggedMessage, MessageLogFilter, MessageLogPage, MessageTrail,
};

/// A message with its session's customer and agent, and its tries: the
/// tries of every job that carried it, counting a job's tries from before
/// its line existed (an agent's message is written by its first job).
/// Delivery receipts (kind `receipt`) report on a message rather than carry
/// it: the trail shows them, the count leaves them out.
const LOG_SELECT: &str = "SELECT m.id, m.session_id, m.direction, m.channel, m.body, m.status,
        m.error_code, m.error_text, m.provider, m.provider_message_id, m.connect_transid,
        m.created_at, m.updated_at, m.sent_at, m.delivered_at, m.read_at,
        s.customer_channel_id, s.collab_agent_id,
        (SELECT COUNT(*) FROM delivery_attempts a WHERE a.kind <> 'receipt' AND a.job_id IN
           (SELECT b.job_id FROM delivery_attempts b WHERE b.message_id = m.id)) AS attempts
   FROM messages m JOIN sessions s ON s.id = m.session_id";

/// A query argument of the search, bound in order.
enum Arg {
    Text(String),
    Int(i64),
}

/// Adds an argument; its placeholder.
fn next(args: &mut Vec<Arg>, arg: Arg) -> String {
    args.push(arg);
    format!("${}", args.len())
}

/// `text` for a `LIKE … ESCAPE '\'` that matches it followed by `#` and
/// anything: the later parts of a customer's message split for Webex
/// (`{transid}#2`, see `relay::to_agent`).
fn parts_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("#%");
    out
}

impl Store {
    /// Messages matching every filter set, newest first, a page at a time.
    pub async fn search_message_log(
        &self,
        filter: &MessageLogFilter,
        paging: Paging,
    ) -> Result<MessageLogPage, DomainError> {
        let mut wheres: Vec<String> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        if let Some(transid) = &filter.transid {
            // Ours carry Connect's id as `connect_transid`; the customer's
            // are keyed by it (and its split parts).
            let id = next(&mut args, Arg::Text(transid.clone()));
            let parts = next(&mut args, Arg::Text(parts_of(transid)));
            wheres.push(format!(
                "(m.connect_transid = {id} OR (m.provider = 'connect'
                   AND (m.provider_message_id = {id} OR m.provider_message_id LIKE {parts} ESCAPE '\\')))"
            ));
        }
        if let Some(webex_id) = &filter.webex_id {
            let id = next(&mut args, Arg::Text(webex_id.clone()));
            wheres.push(format!(
                "m.provider = 'webex' AND m.provider_message_id = {id}"
            ));
        }
        if let Some(number) = &filter.customer {
            // Both stored forms: `+44…` (SMS) and `44…` (WhatsApp).
            let plus = next(&mut args, Arg::Text(number.as_str().to_string()));
            let digits = next(&mut args, Arg::Text(number.digits().to_string()));
            wheres.push(format!("s.customer_channel_id IN ({plus}, {digits})"));
        }
        if let Some(agent) = &filter.agent {
            let agent = next(&mut args, Arg::Text(agent.clone()));
            wheres.push(format!("LOWER(s.collab_agent_id) = {agent}"));
        }
        if let Some(from) = filter.from_ms {
            let from = next(&mut args, Arg::Int(from));
            wheres.push(format!("m.created_at >= {from}"));
        }
        if let Some(to) = filter.to_ms {
            let to = next(&mut args, Arg::Int(to));
            wheres.push(format!("m.created_at < {to}"));
        }
        if let Some(status) = filter.status {
            let status = next(&mut args, Arg::Text(status.as_str().to_string()));
            wheres.push(format!("m.status = {status}"));
        }
        let limit = next(&mut args, Arg::Int(i64::from(paging.per_page) + 1));
        let offset = next(&mut args, Arg::Int(paging.offset()));
        let condition = if wheres.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", wheres.join(" AND "))
        };
        let sql = format!(
            "{LOG_SELECT}{condition} ORDER BY m.created_at DESC, m.id DESC LIMIT {limit} OFFSET {offset}"
        );
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = match arg {
                Arg::Text(t) => query.bind(t),
                Arg::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut items = rows
            .iter()
            .map(logged_from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let more = items.len() > paging.per_page as usize;
        items.truncate(paging.per_page as usize);
        Ok(MessageLogPage {
            items,
            page: paging.page,
            more,
        })
    }

    /// One message and its hops: the webhook that brought it (while its
    /// dedup record is kept), and each job that tried it with every try.
    pub async fn message_trail(&self, id: &str) -> Result<MessageTrail, DomainError> {
        let row = sqlx::query(&format!("{LOG_SELECT} WHERE m.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DomainError::not_found("message", id))?;
        let message = logged_from_row(&row)?;
        // Webhook events are deduplicated by the platform's id: Connect's
        // transid (the first part's, for a split message), Webex's message id.
        let received_at = match (&message.provider, &message.provider_message_id) {
            (Some(provider), Some(pid)) if provider == "connect" || provider == "webex" => {
                let event = pid.split('#').next().unwrap_or(pid);
                sqlx::query(
                    "SELECT received_at FROM inbound_events WHERE provider = $1 AND event_id = $2",
                )
                .bind(provider)
                .bind(event)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get::<i64, _>("received_at"))
                .transpose()?
                .map(format_ms)
            }
            _ => None,
        };
        let jobs_of = "SELECT DISTINCT job_id FROM delivery_attempts WHERE message_id = $1";
        let tries = sqlx::query(&format!(
            "SELECT job_id, attempt, started_at, finished_at, outcome, answer, http_status
               FROM delivery_attempts WHERE job_id IN ({jobs_of}) ORDER BY job_id, attempt, id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let jobs = sqlx::query(&format!(
            "SELECT id, kind, status, attempts, last_error, created_at FROM outbox
              WHERE id IN ({jobs_of}) ORDER BY id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let mut trails = jobs
            .iter()
            .map(|r| {
                Ok(JobTrail {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                    created_at: format_ms(r.try_get("created_at")?),
                    tries: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        for r in &tries {
            let job_id: i64 = r.try_get("job_id")?;
            let Some(job) = trails.iter_mut().find(|j| j.id == job_id) else {
                continue;
            };
            job.tries.push(AttemptTrail {
                attempt: r.try_get("attempt")?,
                started_at: format_ms(r.try_get("started_at")?),
                finished_at: format_ms(r.try_get("finished_at")?),
                outcome: r.try_get("outcome")?,
                answer: r.try_get("answer")?,
                http_status: r.try_get("http_status")?,
            });
        }
        Ok(MessageTrail {
            message,
            received_at,
            jobs: trails,
        })
    }
}

fn logged_from_row(r: &AnyRow) -> Result<LoggedMessage, sqlx::Error> {
    Ok(LoggedMessage {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        direction: word(r, "direction")?,
        channel: r.try_get("channel")?,
        body: r.try_get("body")?,
        customer: r.try_get("customer_channel_id")?,
        agent: r.try_get("collab_agent_id")?,
        status: word(r, "status")?,
        error_code: r.try_get("error_code")?,
        error_text: r.try_get("error_text")?,
        provider: r.try_get("provider")?,
        provider_message_id: r.try_get("provider_message_id")?,
        connect_transid: r.try_get("connect_transid")?,
        created_at: format_ms(r.try_get("created_at")?),
        updated_at: format_ms(r.try_get("updated_at")?),
        sent_at: opt_time(r, "sent_at")?,
        delivered_at: opt_time(r, "delivered_at")?,
        read_at: opt_time(r, "read_at")?,
        attempts: r.try_get("attempts")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_parts_are_matched_literally() {
        assert_eq!(parts_of("t_1%"), "t\\_1\\%#%");
    }
}
