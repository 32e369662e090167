use serde::Serialize;
use sqlx::Row;

use super::{audit, clean_opt, format_ms, new_id, now_ms, opt_time, AuditCtx, Store};
use crate::api_key::{self, NewApiKey};
use crate::error::{DomainError, FieldError};

/// What is known about a key (never the key itself).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub display_prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// The key that authenticated a request.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    pub id: String,
    pub name: String,
}

/// `last_used_at` is written at most this often per key, so that every API
/// call does not become a write.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

impl Store {
    /// Creates a key; the plaintext is in the result and nowhere else.
    pub async fn create_api_key(
        &self,
        ctx: &AuditCtx,
        name: &str,
    ) -> Result<(ApiKeyInfo, String), DomainError> {
        let name = clean_opt("name", Some(name), 100)?
            .ok_or_else(|| FieldError::new("name", "is required"))?;
        let NewApiKey {
            plaintext,
            hash,
            display_prefix,
        } = api_key::generate();
        let mut tx = self.begin_write().await?;
        let id = new_id();
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, display_prefix, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(&id)
        .bind(&name)
        .bind(&hash)
        .bind(&display_prefix)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            let existing: String = sqlx::query("SELECT id FROM api_keys WHERE name = $1")
                .bind(&name)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
            return Err(DomainError::Duplicate {
                message: format!("an API key named {name:?} already exists"),
                field: "name".into(),
                existing_id: existing,
            });
        }
        let info = ApiKeyInfo {
            id: id.clone(),
            name,
            display_prefix,
            created_at: format_ms(now),
            last_used_at: None,
            revoked_at: None,
        };
        audit::record::<(), _>(
            &mut tx,
            ctx,
            "api_key.create",
            "api_key",
            &id,
            None,
            Some(&info),
        )
        .await?;
        tx.commit().await?;
        Ok((info, plaintext))
    }

    /// Finds the live key with this plaintext. Lookup is by hash, so the
    /// comparison never touches the secret itself.
    pub async fn verify_api_key(
        &self,
        plaintext: &str,
    ) -> Result<Option<VerifiedKey>, DomainError> {
        if plaintext.is_empty() || plaintext.len() > 200 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, name, last_used_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(api_key::hash(plaintext))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key = VerifiedKey {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
        };
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        let now = now_ms();
        if last_used.is_none_or(|t| now - t >= LAST_USED_GRANULARITY_MS) {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&key.id)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(key))
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>, DomainError> {
        let rows = sqlx::query(
            "SELECT id, name, display_prefix, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    display_prefix: r.try_get("display_prefix")?,
                    created_at: format_ms(r.try_get("created_at")?),
                    last_used_at: opt_time(r, "last_used_at")?,
                    revoked_at: opt_time(r, "revoked_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn revoke_api_key(&self, ctx: &AuditCtx, id: &str) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(DomainError::not_found("api key", id));
        }
        audit::record::<(), ()>(&mut tx, ctx, "api_key.revoke", "api_key", id, None, None).await?;
        tx.commit().await?;
        Ok(())
    }
}
