//! Guest access tokens, cached by guest subject (`{channel}_{channelId}`).
//! The one cache of guest tokens: see `crate::guests::GuestAuth`.

use sqlx::Row;

use super::{now_ms, Store};
use crate::error::DomainError;
use crate::webex::AccessToken;

impl Store {
    /// The cached access token of a guest subject, if any (expired or not).
    pub async fn cached_guest_token(
        &self,
        subject: &str,
    ) -> Result<Option<AccessToken>, DomainError> {
        let row =
            sqlx::query("SELECT access_token, expires_at FROM guest_tokens WHERE subject = $1")
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(row) => Some(AccessToken {
                token: row.try_get("access_token")?,
                expires_at_ms: row.try_get("expires_at")?,
            }),
            None => None,
        })
    }

    /// Stores a guest's access token (the last write wins) and forgets
    /// tokens that have expired, so the table holds live guests only.
    pub async fn cache_guest_token(
        &self,
        subject: &str,
        token: &AccessToken,
    ) -> Result<(), DomainError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO guest_tokens (subject, access_token, expires_at, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE SET access_token = excluded.access_token,
                 expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(subject)
        .bind(&token.token)
        .bind(token.expires_at_ms)
        .bind(now)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM guest_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
