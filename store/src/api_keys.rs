use serde::Serialize;
use sqlx::Row;

use super::{audit, format_ms, new_id, now_ms, opt_time, AuditCtx, Store};
use crate::api_key::{self, NewApiKey};
use domain::access::{key_allows, ApiScope};
use domain::error::{DomainError, FieldError};
use domain::input::text;

/// What is known about a key (never the key itself).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub display_prefix: String,
    pub scopes: Vec<ApiScope>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What a new key may do, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    scopes: Vec<ApiScope>,
    expires_in_days: Option<u32>,
}

/// The longest expiry a key can be given (ten years); no expiry is allowed too.
pub const MAX_KEY_DAYS: u32 = 3650;

impl KeyGrant {
    /// No scopes named means [`ApiScope::DEFAULT`]; `expires_in_days` must
    /// be 1 to [`MAX_KEY_DAYS`] when given.
    pub fn new(scopes: &[ApiScope], expires_in_days: Option<u32>) -> Result<KeyGrant, FieldError> {
        if let Some(days) = expires_in_days {
            if !(1..=MAX_KEY_DAYS).contains(&days) {
                return Err(FieldError::new(
                    "expiresInDays",
                    format!("must be between 1 and {MAX_KEY_DAYS} days (or empty for no expiry)"),
                ));
            }
        }
        let mut scopes: Vec<ApiScope> = if scopes.is_empty() {
            ApiScope::DEFAULT.to_vec()
        } else {
            scopes.to_vec()
        };
        scopes.sort_by_key(|s| ApiScope::ALL.iter().position(|a| a == s));
        scopes.dedup();
        Ok(KeyGrant {
            scopes,
            expires_in_days,
        })
    }
}

impl Default for KeyGrant {
    fn default() -> Self {
        KeyGrant::new(&[], None).expect("no expiry is valid")
    }
}

/// Scopes are stored space-separated; unknown words (none today) are ignored.
fn scopes_to_text(scopes: &[ApiScope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn scopes_from_text(text: &str) -> Vec<ApiScope> {
    text.split_whitespace()
        .filter_map(ApiScope::parse)
        .collect()
}

/// The key that authenticated a request.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub expires_at_ms: Option<i64>,
}

/// Why a known key may not make a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("this API key expired at {0}: create a new one")]
    Expired(String),
    #[error("this API key lacks the `{0}` scope needed for this call")]
    MissingScope(ApiScope),
}

impl VerifiedKey {
    /// Whether this key may make a call that needs `scope` at time `now_ms`.
    pub fn check(&self, scope: ApiScope, now_ms: i64) -> Result<(), KeyRefusal> {
        if let Some(at) = self.expires_at_ms.filter(|at| *at <= now_ms) {
            return Err(KeyRefusal::Expired(format_ms(at)));
        }
        if !key_allows(&self.scopes, scope) {
            return Err(KeyRefusal::MissingScope(scope));
        }
        Ok(())
    }
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
        grant: &KeyGrant,
    ) -> Result<(ApiKeyInfo, String), DomainError> {
        let name =
            text("name", Some(name), 100)?.ok_or_else(|| FieldError::new("name", "is required"))?;
        let NewApiKey {
            plaintext,
            hash,
            display_prefix,
        } = api_key::generate();
        let mut tx = self.begin_write().await?;
        let id = new_id();
        let now = now_ms();
        let expires_at = grant
            .expires_in_days
            .map(|days| now + i64::from(days) * 86_400_000);
        let inserted = sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, display_prefix, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(&id)
        .bind(&name)
        .bind(&hash)
        .bind(&display_prefix)
        .bind(scopes_to_text(&grant.scopes))
        .bind(now)
        .bind(expires_at)
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
            scopes: grant.scopes.clone(),
            created_at: format_ms(now),
            expires_at: expires_at.map(format_ms),
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

    /// Finds the unrevoked key with this plaintext (expired or not: see
    /// [`VerifiedKey::check`]). Lookup is by hash, so the comparison never
    /// touches the secret itself.
    pub async fn verify_api_key(
        &self,
        plaintext: &str,
    ) -> Result<Option<VerifiedKey>, DomainError> {
        if plaintext.is_empty() || plaintext.len() > 200 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, name, scopes, expires_at, last_used_at FROM api_keys
              WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(api_key::hash(plaintext))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key = VerifiedKey {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            scopes: scopes_from_text(&row.try_get::<String, _>("scopes")?),
            expires_at_ms: row.try_get("expires_at")?,
        };
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        let now = now_ms();
        let expired = key.expires_at_ms.is_some_and(|at| at <= now);
        if !expired && last_used.is_none_or(|t| now - t >= LAST_USED_GRANULARITY_MS) {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&key.id)
                .execute(&self.writer)
                .await?;
        }
        Ok(Some(key))
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>, DomainError> {
        let rows = sqlx::query(
            "SELECT id, name, display_prefix, scopes, created_at, expires_at, last_used_at, revoked_at
               FROM api_keys ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    display_prefix: r.try_get("display_prefix")?,
                    scopes: scopes_from_text(&r.try_get::<String, _>("scopes")?),
                    created_at: format_ms(r.try_get("created_at")?),
                    expires_at: opt_time(r, "expires_at")?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_default_to_connect_and_services_and_bound_the_expiry() {
        assert_eq!(
            KeyGrant::default().scopes,
            vec![ApiScope::Connect, ApiScope::Services]
        );
        let g = KeyGrant::new(
            &[ApiScope::Services, ApiScope::Connect, ApiScope::Services],
            Some(90),
        )
        .unwrap();
        assert_eq!(scopes_to_text(&g.scopes), "connect services");
        assert_eq!(
            scopes_from_text("services admin x"),
            vec![ApiScope::Services, ApiScope::Admin]
        );
        assert!(KeyGrant::new(&[], Some(0)).is_err());
        assert!(KeyGrant::new(&[], Some(MAX_KEY_DAYS + 1)).is_err());
    }

    #[test]
    fn expired_keys_and_missing_scopes_are_refused() {
        let key = VerifiedKey {
            id: "k".into(),
            name: "n".into(),
            scopes: vec![ApiScope::Connect],
            expires_at_ms: Some(1_000),
        };
        assert_eq!(key.check(ApiScope::Connect, 999), Ok(()));
        assert!(matches!(
            key.check(ApiScope::Connect, 1_000),
            Err(KeyRefusal::Expired(_))
        ));
        assert_eq!(
            key.check(ApiScope::Services, 999),
            Err(KeyRefusal::MissingScope(ApiScope::Services))
        );
    }
}
