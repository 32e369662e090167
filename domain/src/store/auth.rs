//! Agent sign-in: local passwords and server-side browser sessions.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{
    agents::agent_from_row, agents::AGENT_COLUMNS, audit, new_id, now_ms, AuditCtx, Store,
};
use crate::error::DomainError;
use crate::model::{Agent, Role};
use crate::password;

/// A signed-in browser session.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub agent: Agent,
    /// Sent back with every state-changing form and server call.
    pub csrf_token: String,
}

/// Why a sign-in was refused. The UI shows these to the person signing in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("email or password is wrong")]
    BadCredentials,
    #[error("no agent account for {0}: ask an admin to add you")]
    UnknownAgent(String),
    #[error("the account {0} is disabled: ask an admin")]
    Disabled(String),
    #[error("the server is busy checking passwords: try again in a moment")]
    Busy,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `last_seen_at` is written at most this often, so page views stay reads.
const TOUCH_GRANULARITY_MS: i64 = 60_000;

impl Store {
    /// Checks a local account's password. Unknown emails cost the same time
    /// as wrong passwords.
    pub async fn verify_password(&self, email: &str, password: &str) -> Result<Agent, SignInError> {
        let email = email.trim().to_ascii_lowercase();
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS}, password_hash FROM agents WHERE email = $1"
        ))
        .bind(&email)
        .fetch_optional(&self.pool)
        .await
        .ok()
        .flatten();
        let (agent, stored) = match row {
            Some(row) => (
                agent_from_row(&row).ok(),
                row.try_get::<Option<String>, _>("password_hash")
                    .ok()
                    .flatten(),
            ),
            None => (None, None),
        };
        let stored_for_check = stored
            .clone()
            .unwrap_or_else(|| password::dummy_hash().to_string());
        let password = password.to_string();
        let matches = password::bounded(move || password::verify(&password, &stored_for_check))
            .await
            .map_err(|_| SignInError::Busy)?;
        match agent {
            Some(agent) if matches && stored.is_some() => {
                if agent.disabled {
                    Err(SignInError::Disabled(agent.email))
                } else {
                    Ok(agent)
                }
            }
            _ => Err(SignInError::BadCredentials),
        }
    }

    /// The agent behind an identity proven elsewhere (Webex OAuth or the
    /// Embedded App token): must exist and be enabled.
    pub async fn agent_for_sign_in(
        &self,
        email: &str,
        webex_person_id: Option<&str>,
    ) -> Result<Agent, SignInError> {
        let agent = self
            .agent_by_email(email)
            .await
            .map_err(|_| SignInError::UnknownAgent(email.trim().to_ascii_lowercase()))?;
        if agent.disabled {
            return Err(SignInError::Disabled(agent.email));
        }
        if let (Some(pid), None) = (webex_person_id, agent.webex_person_id.as_deref()) {
            let _ = sqlx::query("UPDATE agents SET webex_person_id = $1 WHERE id = $2")
                .bind(pid)
                .bind(&agent.id)
                .execute(&self.pool)
                .await;
        }
        Ok(agent)
    }

    /// Starts a browser session; returns the cookie value (shown only here).
    pub async fn create_web_session(
        &self,
        agent: &Agent,
        lifetime_ms: i64,
    ) -> Result<(String, WebSession), DomainError> {
        let token = format!("{}{}", new_id().replace('-', ""), new_id().replace('-', ""));
        let csrf = new_id().replace('-', "");
        let now = now_ms();
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, agent_id, csrf_token, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(token_hash(&token))
        .bind(&agent.id)
        .bind(&csrf)
        .bind(now)
        .bind(now + lifetime_ms)
        .execute(&self.pool)
        .await?;
        Ok((
            token,
            WebSession {
                agent: agent.clone(),
                csrf_token: csrf,
            },
        ))
    }

    /// The live session for a cookie value. A session ends after `idle_ms`
    /// without use, at its absolute expiry, or when its agent is disabled.
    pub async fn web_session(
        &self,
        token: &str,
        idle_ms: i64,
    ) -> Result<Option<WebSession>, DomainError> {
        if token.is_empty() || token.len() > 200 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let row = sqlx::query(&format!(
            "SELECT {cols}, w.csrf_token, w.last_seen_at, w.expires_at
               FROM web_sessions w JOIN agents a ON a.id = w.agent_id WHERE w.token_hash = $1",
            cols = AGENT_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let agent = agent_from_row(&row)?;
        let last_seen: i64 = row.try_get("last_seen_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        let now = now_ms();
        if agent.disabled || now > expires || now - last_seen > idle_ms {
            self.end_web_session(token).await?;
            return Ok(None);
        }
        if now - last_seen >= TOUCH_GRANULARITY_MS {
            sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(&hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(WebSession {
            agent,
            csrf_token: row.try_get("csrf_token")?,
        }))
    }

    pub async fn end_web_session(&self, token: &str) -> Result<(), DomainError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a local password (hashing happens off the async threads).
    pub async fn set_password(
        &self,
        ctx: &AuditCtx,
        agent_id: &str,
        password: &str,
    ) -> Result<(), DomainError> {
        password::validate(password)?;
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || password::hash(&password))
            .await
            .map_err(|e| DomainError::Storage(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE agents SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now_ms())
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(DomainError::not_found("agent", agent_id));
        }
        audit::record::<(), ()>(
            &mut tx,
            ctx,
            "agent.password",
            "agent",
            agent_id,
            None,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_agents(&self) -> Result<Vec<Agent>, DomainError> {
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents ORDER BY email"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(agent_from_row).collect::<Result<_, _>>()?)
    }

    /// Changes role or enabled state. An admin cannot demote or disable
    /// themselves, so there is always someone left to undo a mistake.
    pub async fn update_agent_access(
        &self,
        ctx: &AuditCtx,
        acting_agent_id: Option<&str>,
        agent_id: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<Agent, DomainError> {
        if acting_agent_id == Some(agent_id)
            && (role == Some(Role::Agent) || disabled == Some(true))
        {
            return Err(
                crate::FieldError::new("role", "you cannot remove your own admin access").into(),
            );
        }
        let mut tx = self.begin_write().await?;
        let before = sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"))
            .bind(agent_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| agent_from_row(&r))
            .transpose()?
            .ok_or_else(|| DomainError::not_found("agent", agent_id))?;
        let row = sqlx::query(&format!(
            "UPDATE agents SET role = COALESCE($1, role), disabled = COALESCE($2, disabled), updated_at = $3
              WHERE id = $4 RETURNING {AGENT_COLUMNS}"
        ))
        .bind(role.map(Role::as_str))
        .bind(disabled.map(i64::from))
        .bind(now_ms())
        .bind(agent_id)
        .fetch_one(&mut *tx)
        .await?;
        let agent = agent_from_row(&row)?;
        if agent.disabled {
            sqlx::query("DELETE FROM web_sessions WHERE agent_id = $1")
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
        }
        audit::record(
            &mut tx,
            ctx,
            "agent.access",
            "agent",
            agent_id,
            Some(&before),
            Some(&agent),
        )
        .await?;
        tx.commit().await?;
        Ok(agent)
    }
}
