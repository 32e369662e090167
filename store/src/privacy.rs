//! Data protection: everything held about a customer (one phone number, on
//! every channel), exported for a subject access request or erased in one
//! audited transaction; and transcripts and media pruned past their retention.
//!
//! Where a customer's data lives, table by table, and what erasure does:
//! * `contacts` (name, msisdn), `contact_channels` (channel ids): deleted.
//! * `sessions` (channel id, guest and agent ids, onboarding name, relay
//!   state): deleted, with their `messages` (the transcript: bodies, files,
//!   provider ids, errors).
//! * `attachments` and `media_chunks`: the cached files the transcript lines
//!   and jobs point at (`/media/{id}/…`): deleted.
//! * `guest_tokens`: keyed by the guest subject (`{channel}_{digits}`): deleted.
//! * `outbox`: the conversation's jobs are ordered by the guest subject and
//!   carry texts and numbers: deleted, pending or not, and the key's
//!   `outbox_heads` row settled so no head points at a deleted job.
//! * `delivery_attempts` (the message log's tries, whose answers may quote
//!   the customer's words): deleted with their jobs and lines (the foreign
//!   keys cascade), so erasing the jobs erases their tries.
//! * `inbound_events`: ids of the customer's webhook events (no number, but
//!   theirs): deleted.
//! * `start_attempts` of their contact: deleted.
//! * `opt_outs` (the number replied STOP): deleted with the rest. Keeping a
//!   suppression entry would mean keeping the number; after an erasure the
//!   business no longer knows them, and a start needs a new contact.
//! * `session_reads`: go with their sessions.
//! * `bot_conversations` (channel id, status, the agent the bot named):
//!   deleted; exported.
//! * `conversations` (channel id, agent, close reason): deleted with their
//!   sessions; exported with them.
//! * `audit_log`: kept (who did what stays provable) with the number, the
//!   name and the personal fields of the rows about them replaced by
//!   `[erased]`; one `privacy.erase` row records the erasure, without the number.
//! * `agents`, `api_keys`, `web_sessions`: staff data, never a customer's.

use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};

use super::attachments::{info_from_row, INFO_COLUMNS};
use super::audit::{self, entry_from_row, AuditCtx};
use super::outbox::{settle_head, Head};
use super::relay::{message_from_row, MESSAGE_COLUMNS};
use super::sessions::{session_from_row, RELAY_COLUMNS, SESSION_COLUMNS};
use super::{contacts, format_ms, like_pattern, new_id, now_ms, opt_time, placeholders, Store};
use domain::channel::guest_subject;
use domain::error::DomainError;
use domain::privacy::{ErasureReport, HeldCounts, ERASED};
use domain::{Channel, Msisdn};

/// Values per statement in `IN (…)` lists, well under SQLite's and
/// Postgres' limits on bound parameters.
const CHUNK: usize = 300;
/// Rows deleted per transaction by the retention pruning, so a large backlog
/// never holds SQLite's write lock for long.
const PRUNE_BATCH: i64 = 1000;

/// Fields that, in an audit row about the customer's contact or session,
/// hold their personal data whatever the value looks like.
const PERSONAL_KEYS: [&str; 11] = [
    "name",
    "contactName",
    "onboardingName",
    "msisdn",
    "channelId",
    "customerChannelId",
    "channels",
    "collabGuestId",
    "customer",
    "text",
    "body",
];

/// What retention pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Transcript lines, or cached files.
    pub rows: u64,
    /// Finished outbox jobs (their payloads carry the texts), or orphan chunks.
    pub extra: u64,
}

/// A query argument.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

fn numbered(prefix: &str, n: usize) -> String {
    format!("{prefix} ({})", placeholders(1, n))
}

fn bind_all<'q>(
    sql: &'q str,
    args: &[Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    args.iter().fold(sqlx::query(sql), |q, a| match a {
        Arg::Text(s) => q.bind(s.clone()),
        Arg::Int(i) => q.bind(*i),
    })
}

/// Rows of `prefix (…)`, e.g. `SELECT id FROM messages WHERE session_id IN`,
/// with the values bound a chunk at a time.
async fn fetch_in(
    conn: &mut AnyConnection,
    prefix: &str,
    values: &[Arg],
) -> Result<Vec<AnyRow>, DomainError> {
    let mut rows = Vec::new();
    for chunk in values.chunks(CHUNK) {
        let sql = numbered(prefix, chunk.len());
        rows.extend(bind_all(&sql, chunk).fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// `prefix (…)` run a chunk at a time (a DELETE); rows affected.
async fn execute_in(
    conn: &mut AnyConnection,
    prefix: &str,
    values: &[Arg],
) -> Result<u64, DomainError> {
    let mut done = 0;
    for chunk in values.chunks(CHUNK) {
        let sql = numbered(prefix, chunk.len());
        done += bind_all(&sql, chunk)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(done)
}

fn texts<'a>(values: impl IntoIterator<Item = &'a String>) -> Vec<Arg> {
    values.into_iter().map(|v| Arg::Text(v.clone())).collect()
}

/// `col LIKE $1 ESCAPE '\' OR …` for the patterns.
fn like_any(col: &str, from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("{col} LIKE ${i} ESCAPE '\\'"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The ids of cached files named in a text: `…/media/{id}/{filename}`.
fn media_ids_in(text: &str, into: &mut BTreeSet<String>) {
    for (at, _) in text.match_indices("/media/") {
        let id: String = text[at + "/media/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if !id.is_empty() && text[at + "/media/".len() + id.len()..].starts_with('/') {
            into.insert(id);
        }
    }
}

/// Every row held about one customer, by table: found once, then counted,
/// exported or deleted by these keys.
#[derive(Debug, Default)]
struct Scope {
    /// Text that means the number is in a value (`Msisdn::written_forms`).
    forms: Vec<String>,
    /// The number as a channel id, in both stored forms (`+44…`, `44…`).
    channel_ids: Vec<String>,
    /// Names the customer is known by (contacts, onboarding answers).
    names: Vec<String>,
    contact_ids: Vec<String>,
    contact_channels: i64,
    session_ids: Vec<String>,
    message_ids: Vec<String>,
    media_ids: Vec<String>,
    guest_subjects: Vec<String>,
    outbox_ids: Vec<i64>,
    /// Ordering keys that lose a pending job: their heads are settled.
    pending_keys: BTreeSet<String>,
    pending_jobs: i64,
    events: Vec<(String, String)>,
    start_attempt_ids: Vec<String>,
    audit_ids: Vec<i64>,
}

impl Scope {
    fn counts(&self) -> HeldCounts {
        let n = |len: usize| len as i64;
        HeldCounts {
            contacts: n(self.contact_ids.len()),
            contact_channels: self.contact_channels,
            sessions: n(self.session_ids.len()),
            messages: n(self.message_ids.len()),
            media_files: n(self.media_ids.len()),
            guest_tokens: n(self.guest_subjects.len()),
            outbox_jobs: n(self.outbox_ids.len()),
            pending_jobs: self.pending_jobs,
            dedup_records: n(self.events.len()),
            start_attempts: n(self.start_attempt_ids.len()),
            audit_entries: n(self.audit_ids.len()),
        }
    }

    /// Finds the customer's rows. Runs inside the erasing transaction, so
    /// what is found is what is deleted.
    async fn find(conn: &mut AnyConnection, msisdn: &Msisdn) -> Result<Scope, DomainError> {
        let mut scope = Scope {
            forms: msisdn.written_forms(),
            ..Scope::default()
        };
        let patterns: Vec<Arg> = scope
            .forms
            .iter()
            .map(|f| Arg::Text(like_pattern(f)))
            .collect();
        // Both channel-id forms (`+44…` and `44…`), whichever a row was written with.
        let ids = [msisdn.as_str().to_string(), msisdn.digits().to_string()];
        scope.channel_ids = ids.to_vec();

        // Contacts: by number, or reached by it on a channel.
        let mut args = vec![Arg::Text(ids[0].clone())];
        args.extend(texts(&ids));
        for row in bind_all(
            "SELECT id, name FROM contacts WHERE msisdn = $1
                OR id IN (SELECT contact_id FROM contact_channels WHERE channel_id IN ($2, $3))",
            &args,
        )
        .fetch_all(&mut *conn)
        .await?
        {
            scope.contact_ids.push(row.try_get("id")?);
            scope.names.push(row.try_get("name")?);
        }
        let contact_args = texts(&scope.contact_ids);
        scope.contact_channels = fetch_in(
            conn,
            "SELECT contact_id FROM contact_channels WHERE contact_id IN",
            &contact_args,
        )
        .await?
        .len() as i64;

        // Sessions: the number on any channel, or the contact's.
        let mut sessions = BTreeMap::new();
        for channel in Channel::ALL {
            for id in &ids {
                let rows = sqlx::query(
                    "SELECT id, customer_channel, customer_channel_id, onboarding_name FROM sessions
                      WHERE customer_channel = $1 AND customer_channel_id = $2",
                )
                .bind(channel.as_str())
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                for row in rows {
                    sessions.insert(row.try_get::<String, _>("id")?, row);
                }
            }
        }
        for row in fetch_in(
            conn,
            "SELECT id, customer_channel, customer_channel_id, onboarding_name FROM sessions WHERE contact_id IN",
            &contact_args,
        )
        .await?
        {
            sessions.insert(row.try_get::<String, _>("id")?, row);
        }
        let mut subjects: BTreeSet<String> = Channel::ALL
            .iter()
            .map(|c| guest_subject(*c, msisdn.digits()))
            .collect();
        for (id, row) in &sessions {
            scope.session_ids.push(id.clone());
            if let Ok(channel) = row.try_get::<String, _>("customer_channel")?.parse() {
                subjects.insert(guest_subject(
                    channel,
                    &row.try_get::<String, _>("customer_channel_id")?,
                ));
            }
            if let Some(name) = row.try_get::<Option<String>, _>("onboarding_name")? {
                scope.names.push(name);
            }
        }
        scope.names.retain(|n| !n.trim().is_empty());

        // The transcript, the files it points at, and its webhook events.
        let mut media = BTreeSet::new();
        let mut events = BTreeSet::new();
        let mut receipt_lines = Vec::new();
        for row in fetch_in(
            conn,
            "SELECT id, provider, provider_message_id, attachment_url FROM messages WHERE session_id IN",
            &texts(&scope.session_ids),
        )
        .await?
        {
            let id: String = row.try_get("id")?;
            if let (Some(p), Some(pid)) = (
                row.try_get::<Option<String>, _>("provider")?,
                row.try_get::<Option<String>, _>("provider_message_id")?,
            ) {
                events.insert((p, pid));
            }
            if let Some(url) = row.try_get::<Option<String>, _>("attachment_url")? {
                media_ids_in(&url, &mut media);
            }
            receipt_lines.push(id.clone());
            scope.message_ids.push(id);
        }

        // The conversation's jobs (ordered by the guest subject), and
        // finished jobs elsewhere that mention the number. Pending jobs of
        // other customers are theirs to deliver, and are left alone.
        let subject_args = texts(&subjects);
        let mut jobs = fetch_in(
            conn,
            "SELECT id, ordering_key, idempotency_key, status, payload FROM outbox WHERE ordering_key IN",
            &subject_args,
        )
        .await?;
        if !patterns.is_empty() {
            let sql = format!(
                "SELECT id, ordering_key, idempotency_key, status, payload FROM outbox
                  WHERE status <> 'pending' AND ({})",
                like_any("payload", 1, patterns.len())
            );
            jobs.extend(bind_all(&sql, &patterns).fetch_all(&mut *conn).await?);
        }
        let mut outbox = BTreeSet::new();
        for row in jobs {
            let id: i64 = row.try_get("id")?;
            if !outbox.insert(id) {
                continue;
            }
            let key: String = row.try_get("idempotency_key")?;
            // The job's key names the webhook event that caused it.
            for (prefix, provider) in [
                ("connect:", "connect"),
                ("webex:", "webex"),
                ("receipt:", "connect-receipt"),
            ] {
                if let Some(event) = key.strip_prefix(prefix) {
                    events.insert((provider.to_string(), event.to_string()));
                }
            }
            if row.try_get::<String, _>("status")? == "pending" {
                scope.pending_jobs += 1;
                scope.pending_keys.insert(row.try_get("ordering_key")?);
            }
            media_ids_in(&row.try_get::<String, _>("payload")?, &mut media);
        }
        scope.outbox_ids = outbox.into_iter().collect();

        // Rows that exist, of the keys gathered.
        for row in fetch_in(
            conn,
            "SELECT id FROM attachments WHERE id IN",
            &texts(&media),
        )
        .await?
        {
            scope.media_ids.push(row.try_get("id")?);
        }
        for row in fetch_in(
            conn,
            "SELECT subject FROM guest_tokens WHERE subject IN",
            &subject_args,
        )
        .await?
        {
            scope.guest_subjects.push(row.try_get("subject")?);
        }
        let mut found_events: BTreeSet<(String, String)> = BTreeSet::new();
        for chunk in events.iter().collect::<Vec<_>>().chunks(CHUNK / 2) {
            let sql = format!(
                "SELECT provider, event_id FROM inbound_events WHERE {}",
                (0..chunk.len())
                    .map(|i| format!("(provider = ${} AND event_id = ${})", 2 * i + 1, 2 * i + 2))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            );
            let args: Vec<Arg> = chunk
                .iter()
                .flat_map(|(p, e)| [Arg::Text(p.clone()), Arg::Text(e.clone())])
                .collect();
            for row in bind_all(&sql, &args).fetch_all(&mut *conn).await? {
                found_events.insert((row.try_get("provider")?, row.try_get("event_id")?));
            }
        }
        // Receipts name our transcript line: `{transid}:{line}:{code}`.
        let receipt_patterns: Vec<Arg> = receipt_lines
            .iter()
            .map(|line| Arg::Text(format!("%:{line}:%")))
            .chain(patterns.iter().cloned())
            .collect();
        for chunk in receipt_patterns.chunks(CHUNK) {
            let sql = format!(
                "SELECT provider, event_id FROM inbound_events WHERE {}",
                like_any("event_id", 1, chunk.len())
            );
            for row in bind_all(&sql, chunk).fetch_all(&mut *conn).await? {
                found_events.insert((row.try_get("provider")?, row.try_get("event_id")?));
            }
        }
        scope.events = found_events.into_iter().collect();

        for row in fetch_in(
            conn,
            "SELECT id FROM start_attempts WHERE contact_id IN",
            &contact_args,
        )
        .await?
        {
            scope.start_attempt_ids.push(row.try_get("id")?);
        }

        // Audit rows about the contact or a session, or mentioning the number.
        let mut audit_ids = BTreeSet::new();
        for (kind, ids) in [
            ("contact", &scope.contact_ids),
            ("session", &scope.session_ids),
        ] {
            let mut args = vec![Arg::Text(kind.to_string())];
            for chunk in ids.chunks(CHUNK) {
                args.truncate(1);
                args.extend(texts(chunk));
                let sql = format!(
                    "SELECT id FROM audit_log WHERE entity_type = $1 AND entity_id IN ({})",
                    placeholders(2, chunk.len())
                );
                for row in bind_all(&sql, &args).fetch_all(&mut *conn).await? {
                    audit_ids.insert(row.try_get::<i64, _>("id")?);
                }
            }
        }
        if !patterns.is_empty() {
            let n = patterns.len();
            let sql = format!(
                "SELECT id FROM audit_log WHERE {} OR {} OR {}",
                like_any("entity_id", 1, n),
                like_any("before_json", n + 1, n),
                like_any("after_json", 2 * n + 1, n)
            );
            let args: Vec<Arg> = patterns.iter().cycle().take(3 * n).cloned().collect();
            for row in bind_all(&sql, &args).fetch_all(&mut *conn).await? {
                audit_ids.insert(row.try_get::<i64, _>("id")?);
            }
        }
        scope.audit_ids = audit_ids.into_iter().collect();
        Ok(scope)
    }

    /// Whether a text carries the number or one of the customer's names.
    fn mentions(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        self.forms.iter().any(|f| text.contains(f.as_str()))
            || self.names.iter().any(|n| {
                let n = n.trim().to_lowercase();
                // A short name inside a longer text would hit other words.
                lower.trim() == n || (n.chars().count() >= 4 && lower.contains(&n))
            })
    }

    /// Replaces the customer's data in a JSON value by `[erased]`:
    /// strings that mention them, and, in rows about them (`about`), the
    /// personal fields whatever they hold.
    fn redact(&self, value: &mut Value, about: bool) -> bool {
        match value {
            Value::String(s) if s.as_str() != ERASED && self.mentions(s) => {
                *s = ERASED.to_string();
                true
            }
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, v| self.redact(v, about) | changed),
            Value::Object(fields) => {
                let mut changed = false;
                for (key, v) in fields.iter_mut() {
                    let personal = about && PERSONAL_KEYS.contains(&key.as_str());
                    if personal && !v.is_null() && *v != Value::String(ERASED.into()) {
                        *v = Value::String(ERASED.into());
                        changed = true;
                    } else {
                        changed |= self.redact(v, about);
                    }
                }
                changed
            }
            _ => false,
        }
    }

    /// One stored JSON text, redacted; `None` when unchanged.
    fn redact_json(&self, text: Option<String>, about: bool) -> Option<Option<String>> {
        let text = text?;
        match serde_json::from_str::<Value>(&text) {
            Ok(mut value) => self
                .redact(&mut value, about)
                .then(|| Some(value.to_string())),
            // Not JSON (written by hand?): all of it, if it mentions them.
            Err(_) => self
                .mentions(&text)
                .then(|| Some(Value::String(ERASED.into()).to_string())),
        }
    }
}

impl Store {
    /// What is held about the customer with this number, by kind.
    pub async fn held_about(&self, msisdn: &Msisdn) -> Result<HeldCounts, DomainError> {
        let mut conn = self.pool.acquire().await?;
        Ok(Scope::find(&mut conn, msisdn).await?.counts())
    }

    /// Everything held about the customer with this number, as JSON (a
    /// subject access request), and an audit entry `privacy.export` saying
    /// who took it (without the number). Cached guest tokens are listed by
    /// subject and expiry only: the token is a credential, not their data.
    pub async fn export_customer(
        &self,
        ctx: &AuditCtx,
        msisdn: &Msisdn,
    ) -> Result<Value, DomainError> {
        let export = self.read_export(msisdn).await?;
        self.record_event(
            ctx,
            "privacy.export",
            "privacy",
            &new_id(),
            &json!({ "contactIds": export["contacts"].as_array().map(|c| c.iter().map(|c| c["id"].clone()).collect::<Vec<_>>()), "held": export["held"] }),
        )
        .await?;
        Ok(export)
    }

    async fn read_export(&self, msisdn: &Msisdn) -> Result<Value, DomainError> {
        let mut conn = self.pool.acquire().await?;
        let scope = Scope::find(&mut conn, msisdn).await?;
        let mut contacts = Vec::new();
        for id in &scope.contact_ids {
            if let Some(c) = contacts::load_contact(&mut conn, id).await? {
                contacts.push(serde_json::to_value(c).unwrap_or_default());
            }
        }
        let mut sessions = Vec::new();
        for row in fetch_in(
            &mut conn,
            &format!("SELECT {SESSION_COLUMNS}, {RELAY_COLUMNS}, onboarding_step, webex_room_id, webex_webhook_id FROM sessions WHERE id IN"),
            &texts(&scope.session_ids),
        )
        .await?
        {
            let mut session = serde_json::to_value(session_from_row(&row)?).unwrap_or_default();
            if let Value::Object(fields) = &mut session {
                for (key, col) in [
                    ("onboardingStep", "onboarding_step"),
                    ("onboardingName", "onboarding_name"),
                    ("webexRoomId", "webex_room_id"),
                    ("webexWebhookId", "webex_webhook_id"),
                ] {
                    fields.insert(key.into(), json!(row.try_get::<Option<String>, _>(col)?));
                }
                fields.insert(
                    "templateSentAt".into(),
                    json!(opt_time(&row, "template_sent_at")?),
                );
                // When the customer was told not to send card numbers here.
                fields.insert(
                    "pciWarnedAt".into(),
                    json!(opt_time(&row, "pci_warned_at")?),
                );
                // The template chosen at start, with the values the agent typed.
                let chosen: Option<String> = row.try_get("start_template")?;
                fields.insert(
                    "startTemplate".into(),
                    chosen
                        .and_then(|c| serde_json::from_str::<Value>(&c).ok())
                        .unwrap_or(Value::Null),
                );
            }
            sessions.push(session);
        }
        let messages = fetch_in(
            &mut conn,
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN"),
            &texts(&scope.message_ids),
        )
        .await?
        .iter()
        .map(|r| Ok(serde_json::to_value(message_from_row(r)?).unwrap_or_default()))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let media = fetch_in(
            &mut conn,
            &format!("SELECT {INFO_COLUMNS} FROM attachments WHERE id IN"),
            &texts(&scope.media_ids),
        )
        .await?
        .iter()
        .map(|r| {
            let f = info_from_row(r)?;
            Ok(json!({
                "id": f.id, "filename": f.filename, "mimeType": f.mime_type, "size": f.size,
                "createdAt": format_ms(f.created_at_ms), "expiresAt": format_ms(f.expires_at_ms),
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let tokens = fetch_in(
            &mut conn,
            "SELECT subject, expires_at FROM guest_tokens WHERE subject IN",
            &texts(&scope.guest_subjects),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(json!({
                "subject": r.try_get::<String, _>("subject")?,
                "expiresAt": format_ms(r.try_get("expires_at")?),
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let outbox_args: Vec<Arg> = scope.outbox_ids.iter().map(|i| Arg::Int(*i)).collect();
        let jobs = fetch_in(
            &mut conn,
            "SELECT id, kind, status, attempts, payload, last_error, created_at FROM outbox WHERE id IN",
            &outbox_args,
        )
        .await?
        .iter()
        .map(|r| {
            let payload: String = r.try_get("payload")?;
            Ok(json!({
                "id": r.try_get::<i64, _>("id")?,
                "kind": r.try_get::<String, _>("kind")?,
                "status": r.try_get::<String, _>("status")?,
                "attempts": r.try_get::<i64, _>("attempts")?,
                "lastError": r.try_get::<Option<String>, _>("last_error")?,
                "createdAt": format_ms(r.try_get("created_at")?),
                "payload": serde_json::from_str::<Value>(&payload).unwrap_or(Value::String(payload)),
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        // The message log's tries of those jobs: their answers may quote
        // what the platforms said about the customer's messages.
        let tries = fetch_in(
            &mut conn,
            "SELECT job_id, message_id, kind, attempt, started_at, finished_at, outcome, answer, http_status
               FROM delivery_attempts WHERE job_id IN",
            &outbox_args,
        )
        .await?
        .iter()
        .map(|r| {
            Ok(json!({
                "jobId": r.try_get::<i64, _>("job_id")?,
                "messageId": r.try_get::<Option<String>, _>("message_id")?,
                "kind": r.try_get::<String, _>("kind")?,
                "attempt": r.try_get::<i64, _>("attempt")?,
                "startedAt": format_ms(r.try_get("started_at")?),
                "finishedAt": format_ms(r.try_get("finished_at")?),
                "outcome": r.try_get::<String, _>("outcome")?,
                "answer": r.try_get::<Option<String>, _>("answer")?,
                "httpStatus": r.try_get::<Option<i64>, _>("http_status")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let mut events = Vec::new();
        for (provider, event_id) in &scope.events {
            let row = sqlx::query(
                "SELECT received_at FROM inbound_events WHERE provider = $1 AND event_id = $2",
            )
            .bind(provider)
            .bind(event_id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(row) = row {
                events.push(json!({
                    "provider": provider, "eventId": event_id,
                    "receivedAt": format_ms(row.try_get("received_at")?),
                }));
            }
        }
        let attempts = fetch_in(
            &mut conn,
            "SELECT id, agent_id, contact_id, channel, status, detail, created_at, finished_at FROM start_attempts WHERE id IN",
            &texts(&scope.start_attempt_ids),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(json!({
                "id": r.try_get::<String, _>("id")?,
                "agentId": r.try_get::<String, _>("agent_id")?,
                "contactId": r.try_get::<String, _>("contact_id")?,
                "channel": r.try_get::<String, _>("channel")?,
                "status": r.try_get::<String, _>("status")?,
                "detail": r.try_get::<Option<String>, _>("detail")?,
                "createdAt": format_ms(r.try_get("created_at")?),
                "finishedAt": opt_time(r, "finished_at")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let audit_args: Vec<Arg> = scope.audit_ids.iter().map(|i| Arg::Int(*i)).collect();
        let mut audit_rows = fetch_in(
            &mut conn,
            "SELECT id, at, actor, action, entity_type, entity_id, before_json, after_json, request_id FROM audit_log WHERE id IN",
            &audit_args,
        )
        .await?
        .iter()
        .map(entry_from_row)
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        audit_rows.sort_by_key(|e| e.id);
        let mut out = Map::new();
        out.insert("number".into(), json!(msisdn.as_str()));
        out.insert("exportedAt".into(), json!(format_ms(now_ms())));
        out.insert("held".into(), json!(scope.counts()));
        out.insert("contacts".into(), json!(contacts));
        out.insert("sessions".into(), json!(sessions));
        out.insert("messages".into(), json!(messages));
        out.insert("mediaFiles".into(), json!(media));
        out.insert("guestTokens".into(), json!(tokens));
        out.insert("outboxJobs".into(), json!(jobs));
        out.insert("deliveryAttempts".into(), json!(tries));
        out.insert("dedupRecords".into(), json!(events));
        out.insert("startAttempts".into(), json!(attempts));
        let opt_outs = fetch_in(
            &mut conn,
            "SELECT channel, opted_out_at, source FROM opt_outs WHERE customer_id IN",
            &texts(&scope.channel_ids),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(json!({
                "channel": r.try_get::<String, _>("channel")?,
                "optedOutAt": format_ms(r.try_get("opted_out_at")?),
                "source": r.try_get::<String, _>("source")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.insert("optOuts".into(), json!(opt_outs));
        let bot_conversations = fetch_in(
            &mut conn,
            "SELECT id, channel, status, started_at, ended_at, agent FROM bot_conversations WHERE customer_id IN",
            &texts(&scope.channel_ids),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(json!({
                "id": r.try_get::<String, _>("id")?,
                "channel": r.try_get::<String, _>("channel")?,
                "status": r.try_get::<String, _>("status")?,
                "startedAt": format_ms(r.try_get("started_at")?),
                "endedAt": r.try_get::<Option<i64>, _>("ended_at")?.map(format_ms),
                "agent": r.try_get::<Option<String>, _>("agent")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.insert("botConversations".into(), json!(bot_conversations));
        let conversations = fetch_in(
            &mut conn,
            "SELECT id, session_id, channel, agent, status, opened_at, closed_at, closed_by, close_reason
               FROM conversations WHERE session_id IN",
            &texts(&scope.session_ids),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(json!({
                "id": r.try_get::<String, _>("id")?,
                "sessionId": r.try_get::<String, _>("session_id")?,
                "channel": r.try_get::<String, _>("channel")?,
                "agent": r.try_get::<Option<String>, _>("agent")?,
                "status": r.try_get::<String, _>("status")?,
                "openedAt": format_ms(r.try_get("opened_at")?),
                "closedAt": opt_time(r, "closed_at")?,
                "closedBy": r.try_get::<Option<String>, _>("closed_by")?,
                "closeReason": r.try_get::<Option<String>, _>("close_reason")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.insert("conversations".into(), json!(conversations));
        out.insert("auditEntries".into(), json!(audit_rows));
        Ok(Value::Object(out))
    }

    /// Erases the customer with the contact `id` (see [`Store::erase_customer`]).
    pub async fn erase_contact(
        &self,
        ctx: &AuditCtx,
        id: &str,
    ) -> Result<ErasureReport, DomainError> {
        let contact = self.contact(id).await?;
        self.erase_customer(ctx, &contact.msisdn).await
    }

    /// Erases everything held about the customer with this number, on every
    /// channel, in one transaction (see the module's table of what happens
    /// to each table), and records it in the audit log without the number.
    /// Erasing a number with nothing held succeeds and is recorded too: the
    /// request was honoured.
    pub async fn erase_customer(
        &self,
        ctx: &AuditCtx,
        msisdn: &Msisdn,
    ) -> Result<ErasureReport, DomainError> {
        let mut tx = self.begin_write().await?;
        let scope = Scope::find(&mut tx, msisdn).await?;
        let mut removed = scope.counts();

        // The audit log is kept, its mentions of the customer redacted.
        let about: BTreeSet<(&str, &str)> = scope
            .contact_ids
            .iter()
            .map(|id| ("contact", id.as_str()))
            .chain(scope.session_ids.iter().map(|id| ("session", id.as_str())))
            .collect();
        for id in &scope.audit_ids {
            let row = sqlx::query(
                "SELECT entity_type, entity_id, before_json, after_json FROM audit_log WHERE id = $1",
            )
            .bind(*id)
            .fetch_one(&mut *tx)
            .await?;
            let entity_type: String = row.try_get("entity_type")?;
            let entity_id: String = row.try_get("entity_id")?;
            let is_about = about.contains(&(entity_type.as_str(), entity_id.as_str()));
            let before = scope.redact_json(row.try_get("before_json")?, is_about);
            let after = scope.redact_json(row.try_get("after_json")?, is_about);
            let new_entity = scope.mentions(&entity_id).then(|| ERASED.to_string());
            if before.is_none() && after.is_none() && new_entity.is_none() {
                continue;
            }
            sqlx::query(
                "UPDATE audit_log SET entity_id = COALESCE($1, entity_id),
                        before_json = CASE WHEN $2 THEN $3 ELSE before_json END,
                        after_json = CASE WHEN $4 THEN $5 ELSE after_json END
                  WHERE id = $6",
            )
            .bind(new_entity)
            .bind(before.is_some())
            .bind(before.flatten())
            .bind(after.is_some())
            .bind(after.flatten())
            .bind(*id)
            .execute(&mut *tx)
            .await?;
        }

        // Jobs first, then the heads of the keys that lost a pending job.
        let outbox_args: Vec<Arg> = scope.outbox_ids.iter().map(|i| Arg::Int(*i)).collect();
        execute_in(&mut tx, "DELETE FROM outbox WHERE id IN", &outbox_args).await?;
        for key in &scope.pending_keys {
            settle_head(&mut tx, key, Head::Unlocked, None).await?;
        }
        for (provider, event_id) in &scope.events {
            sqlx::query("DELETE FROM inbound_events WHERE provider = $1 AND event_id = $2")
                .bind(provider)
                .bind(event_id)
                .execute(&mut *tx)
                .await?;
        }
        execute_in(
            &mut tx,
            "DELETE FROM guest_tokens WHERE subject IN",
            &texts(&scope.guest_subjects),
        )
        .await?;
        execute_in(
            &mut tx,
            "DELETE FROM opt_outs WHERE customer_id IN",
            &texts(&scope.channel_ids),
        )
        .await?;
        execute_in(
            &mut tx,
            "DELETE FROM bot_conversations WHERE customer_id IN",
            &texts(&scope.channel_ids),
        )
        .await?;
        let media = texts(&scope.media_ids);
        execute_in(
            &mut tx,
            "DELETE FROM media_chunks WHERE media_id IN",
            &media,
        )
        .await?;
        execute_in(&mut tx, "DELETE FROM attachments WHERE id IN", &media).await?;
        let sessions = texts(&scope.session_ids);
        execute_in(
            &mut tx,
            "DELETE FROM messages WHERE session_id IN",
            &sessions,
        )
        .await?;
        let contacts = texts(&scope.contact_ids);
        execute_in(
            &mut tx,
            "DELETE FROM start_attempts WHERE contact_id IN",
            &contacts,
        )
        .await?;
        execute_in(
            &mut tx,
            "DELETE FROM conversations WHERE session_id IN",
            &sessions,
        )
        .await?;
        execute_in(&mut tx, "DELETE FROM sessions WHERE id IN", &sessions).await?;
        execute_in(
            &mut tx,
            "DELETE FROM contact_channels WHERE contact_id IN",
            &contacts,
        )
        .await?;
        execute_in(&mut tx, "DELETE FROM contacts WHERE id IN", &contacts).await?;

        // Lines are deleted by session, so one written since the find goes
        // too; the report counts what was found.
        removed.pending_jobs = scope.pending_jobs;
        let erasure_id = new_id();
        audit::record::<(), _>(
            &mut tx,
            ctx,
            "privacy.erase",
            "privacy",
            &erasure_id,
            None,
            Some(&json!({
                "contactIds": scope.contact_ids,
                "sessionIds": scope.session_ids,
                "removed": removed,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(ErasureReport {
            erasure_id,
            removed,
        })
    }

    /// Deletes transcript lines written before `cutoff_ms`, and finished
    /// outbox jobs (whose payloads carry the same texts) last touched before
    /// it. Sessions with a job still pending keep their lines until it is
    /// done: the relay may still read or update them. Sessions themselves
    /// (the routing) are kept. The message log's tries go with their lines
    /// and jobs (the foreign keys cascade).
    pub async fn prune_transcripts(&self, cutoff_ms: i64) -> Result<Pruned, DomainError> {
        // `outbox_heads` holds one row per conversation with pending work,
        // keyed by the guest subject (`domain::channel::guest_subject`,
        // written here in SQL: channel, `_`, the channel id without `+`).
        let lines = self
            .prune_in_batches(
                "DELETE FROM messages WHERE id IN (
                   SELECT id FROM messages WHERE created_at < $1 AND session_id NOT IN (
                     SELECT s.id FROM sessions s JOIN outbox_heads h
                       ON h.ordering_key = s.customer_channel || '_' || REPLACE(s.customer_channel_id, '+', ''))
                   LIMIT $2)",
                cutoff_ms,
            )
            .await?;
        let jobs = self
            .prune_in_batches(
                "DELETE FROM outbox WHERE id IN (
                   SELECT id FROM outbox WHERE status IN ('done', 'dead')
                      AND next_attempt_at < $1 AND updated_at < $1 LIMIT $2)",
                cutoff_ms,
            )
            .await?;
        Ok(Pruned {
            rows: lines,
            extra: jobs,
        })
    }

    /// Deletes cached files stored before `cutoff_ms`, whatever their link's
    /// expiry, except those a pending job is still to hand on (they go once
    /// it is delivered), and chunks older than that left without a file.
    pub async fn prune_media(&self, cutoff_ms: i64) -> Result<Pruned, DomainError> {
        let files = self
            .prune_in_batches(
                "DELETE FROM attachments WHERE id IN (
                   SELECT id FROM attachments WHERE created_at < $1 AND NOT EXISTS (
                     SELECT 1 FROM outbox o WHERE o.status = 'pending'
                        AND o.payload LIKE '%/media/' || attachments.id || '/%')
                   LIMIT $2)",
                cutoff_ms,
            )
            .await?;
        // Chunks of the files just deleted, and of downloads that never finished.
        let chunks = self
            .prune_in_batches(
                "DELETE FROM media_chunks WHERE media_id IN (
                   SELECT DISTINCT media_id FROM media_chunks WHERE created_at < $1
                      AND media_id NOT IN (SELECT id FROM attachments) LIMIT $2)",
                cutoff_ms,
            )
            .await?;
        Ok(Pruned {
            rows: files,
            extra: chunks,
        })
    }

    /// Runs a `DELETE … LIMIT $2` (cutoff in `$1`) one batch per transaction
    /// until nothing is left; rows deleted.
    async fn prune_in_batches(&self, sql: &str, cutoff_ms: i64) -> Result<u64, DomainError> {
        let mut total = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(sql)
                .bind(cutoff_ms)
                .bind(PRUNE_BATCH)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            total += done;
            if (done as i64) < PRUNE_BATCH {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ids_are_read_from_links() {
        let mut ids = BTreeSet::new();
        media_ids_in(
            r#"{"fileUrl":"https://cm.example/media/AbC-12_x/photo.jpg","x":"/media/"}"#,
            &mut ids,
        );
        media_ids_in("https://cm.example/media/nofile", &mut ids);
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["AbC-12_x"]);
    }

    #[test]
    fn redaction_replaces_mentions_and_personal_fields() {
        let scope = Scope {
            forms: vec!["7700900123".into()],
            names: vec!["Jane Roe".into()],
            ..Scope::default()
        };
        let mut row = json!({
            "name": "Jane Roe", "msisdn": "+447700900123", "ownerAgentId": "a1",
            "payload": { "contactName": "Mr J", "note": "call 07700900123" }
        });
        assert!(scope.redact(&mut row, false));
        assert_eq!(row["name"], ERASED);
        assert_eq!(row["msisdn"], ERASED);
        assert_eq!(row["payload"]["note"], ERASED);
        // Not about them: a name that is not theirs stays.
        assert_eq!(row["payload"]["contactName"], "Mr J");
        assert_eq!(row["ownerAgentId"], "a1");
        assert!(scope.redact(&mut row, true));
        assert_eq!(row["payload"]["contactName"], ERASED);
        assert!(
            !scope.redact(&mut row, true),
            "a second pass changes nothing"
        );
    }
}
