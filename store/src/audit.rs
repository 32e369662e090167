use serde::Serialize;
use sqlx::Row;

use super::{format_ms, now_ms, Store, WriteTx};
use domain::error::DomainError;
use domain::model::Actor;

/// Who is changing something, and the request it came in on.
#[derive(Debug, Clone)]
pub struct AuditCtx {
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl AuditCtx {
    pub fn new(actor: Actor, request_id: Option<String>) -> Self {
        Self { actor, request_id }
    }

    pub fn system() -> Self {
        Self::new(Actor::System, None)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

/// Writes one audit row inside the caller's transaction, so the change and its
/// record commit together.
pub(crate) async fn record<B: Serialize, A: Serialize>(
    tx: &mut WriteTx,
    ctx: &AuditCtx,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    before: Option<&B>,
    after: Option<&A>,
) -> Result<(), DomainError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, entity_type, entity_id, before_json, after_json, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_ms())
    .bind(ctx.actor.label())
    .bind(action)
    .bind(entity_type)
    .bind(entity_id)
    .bind(before.map(to_json))
    .bind(after.map(to_json))
    .bind(ctx.request_id.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Filters of the audit log listing; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// Part of the actor label, e.g. an agent's email or an API key's name.
    pub actor: Option<String>,
    /// Part of the action, e.g. `contact.` or `session.reroute`.
    pub action: Option<String>,
}

impl Store {
    /// Records an event that is not part of a data change (e.g. a call to
    /// Webex Connect), in its own transaction.
    pub async fn record_event<A: Serialize>(
        &self,
        ctx: &AuditCtx,
        action: &str,
        entity_type: &str,
        entity_id: &str,
        details: &A,
    ) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        record::<(), A>(
            &mut tx,
            ctx,
            action,
            entity_type,
            entity_id,
            None,
            Some(details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest matching audit entries first.
    pub async fn search_audit(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, DomainError> {
        let actor = filter
            .actor
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|a| super::like_pattern(&a.trim().to_lowercase()));
        let action = filter
            .action
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|a| super::like_pattern(a.trim()));
        let rows = sqlx::query(
            "SELECT id, at, actor, action, entity_type, entity_id, before_json, after_json, request_id
               FROM audit_log
              WHERE ($1 IS NULL OR entity_type = $1) AND ($2 IS NULL OR entity_id = $2)
                AND ($3 IS NULL OR LOWER(actor) LIKE $3 ESCAPE '\\') AND ($4 IS NULL OR action LIKE $4 ESCAPE '\\')
              ORDER BY id DESC LIMIT $5",
        )
        .bind(filter.entity_type.as_deref().filter(|s| !s.is_empty()))
        .bind(filter.entity_id.as_deref().filter(|s| !s.is_empty()))
        .bind(actor)
        .bind(action)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(entry_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The newest audit entries first, optionally for one entity.
    pub async fn audit_entries(
        &self,
        entity_type: Option<&str>,
        entity_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, DomainError> {
        let filter = AuditFilter {
            entity_type: entity_type.map(str::to_string),
            entity_id: entity_id.map(str::to_string),
            ..Default::default()
        };
        self.search_audit(&filter, limit).await
    }
}

pub(crate) fn entry_from_row(r: &sqlx::any::AnyRow) -> Result<AuditEntry, sqlx::Error> {
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: format_ms(r.try_get("at")?),
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        entity_type: r.try_get("entity_type")?,
        entity_id: r.try_get("entity_id")?,
        before: parse(r.try_get("before_json")?),
        after: parse(r.try_get("after_json")?),
        request_id: r.try_get("request_id")?,
    })
}
