//! Guest access tokens, cached by guest subject (`{channel}_{channelId}`).
//! The one cache of guest tokens: see `relay::guests::GuestAuth`. Tokens are
//! stored sealed (`crate::token_cipher`), never in plaintext: both methods
//! need the cipher.

use sqlx::Row;

use super::{now_ms, Store};
use crate::token_cipher::TokenCipher;
use domain::error::DomainError;
use domain::model::AccessToken;

impl Store {
    /// The cached access token of a guest subject, if any (expired or not).
    /// A row that does not open with this key counts as no token.
    pub async fn cached_guest_token(
        &self,
        cipher: &TokenCipher,
        subject: &str,
    ) -> Result<Option<AccessToken>, DomainError> {
        let row =
            sqlx::query("SELECT sealed_token, expires_at FROM guest_tokens WHERE subject = $1")
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("sealed_token")?;
        Ok(cipher
            .open(&sealed, subject)
            .map(|token| -> Result<AccessToken, sqlx::Error> {
                Ok(AccessToken {
                    token,
                    expires_at_ms: row.try_get("expires_at")?,
                })
            })
            .transpose()?)
    }

    /// Stores a guest's access token, sealed (the last write wins), and
    /// forgets tokens that have expired, so the table holds live guests only.
    pub async fn cache_guest_token(
        &self,
        cipher: &TokenCipher,
        subject: &str,
        token: &AccessToken,
    ) -> Result<(), DomainError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO guest_tokens (subject, sealed_token, expires_at, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE SET sealed_token = excluded.sealed_token,
                 expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(subject)
        .bind(cipher.seal(&token.token, subject))
        .bind(token.expires_at_ms)
        .bind(now)
        .execute(&self.writer)
        .await?;
        sqlx::query("DELETE FROM guest_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Forgets a guest's cached token (Webex refused it).
    pub async fn forget_guest_token(&self, subject: &str) -> Result<(), DomainError> {
        sqlx::query("DELETE FROM guest_tokens WHERE subject = $1")
            .bind(subject)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
