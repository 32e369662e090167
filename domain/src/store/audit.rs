use serde::Serialize;
use sqlx::Row;

use super::{format_ms, now_ms, Store};
use crate::error::DomainError;
use crate::model::Actor;

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
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
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

impl Store {
    /// The newest audit entries first, optionally for one entity.
    pub async fn audit_entries(
        &self,
        entity_type: Option<&str>,
        entity_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, DomainError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, entity_type, entity_id, before_json, after_json, request_id
               FROM audit_log
              WHERE ($1 IS NULL OR entity_type = $1) AND ($2 IS NULL OR entity_id = $2)
              ORDER BY id DESC LIMIT $3",
        )
        .bind(entity_type)
        .bind(entity_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
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
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
