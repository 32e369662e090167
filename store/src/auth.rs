//! Agent sign-in: local passwords and server-side browser sessions.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{agents::agent_from_row, agents::AGENT_COLUMNS, audit, now_ms, AuditCtx, Store};
use crate::password;
use domain::error::DomainError;
use domain::model::{Agent, Role};

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
    #[error("the Webex account that signed in is not the one linked to {0}: sign in to Webex as yourself, or ask an admin")]
    WrongWebexAccount(String),
}

/// Counts a sign-in for `/metrics` (`cm_sign_ins_total{method, result}`).
fn count_sign_in(method: &str, checked: &Result<Agent, SignInError>) {
    let result = match checked {
        Ok(_) => "ok",
        Err(SignInError::BadCredentials) => "bad_credentials",
        Err(SignInError::UnknownAgent(_)) => "unknown_agent",
        Err(SignInError::Disabled(_)) => "disabled",
        Err(SignInError::Busy) => "busy",
        Err(SignInError::WrongWebexAccount(_)) => "wrong_webex_account",
    };
    metrics::counter!("cm_sign_ins_total", "method" => method.to_string(), "result" => result)
        .increment(1);
}

/// Whether two Webex person ids name the same person. Webex ids are base64
/// of `ciscospark://{cluster}/PEOPLE/{uuid}`; identity tokens may carry the
/// bare uuid. Both forms compare by the uuid.
fn same_webex_person(a: &str, b: &str) -> bool {
    let (a, b) = (person_uuid(a), person_uuid(b));
    !a.is_empty() && a == b
}

fn person_uuid(id: &str) -> String {
    use base64::Engine;
    let id = id.trim();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded
        .as_deref()
        .filter(|d| d.starts_with("ciscospark://"))
        .and_then(|d| d.rsplit_once("/PEOPLE/"))
    {
        Some((_, uuid)) => uuid.to_ascii_lowercase(),
        None => id.to_ascii_lowercase(),
    }
}

/// 256 bits from the operating system's random source, as 64 hex digits:
/// browser session cookies, CSRF tokens, OAuth state and PKCE verifiers.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
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
        let checked = self.check_password(email, password).await;
        count_sign_in("password", &checked);
        checked
    }

    async fn check_password(&self, email: &str, password: &str) -> Result<Agent, SignInError> {
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
    /// Embedded App token, named by `how`): must exist and be enabled. The
    /// first Webex sign-in links the agent to that Webex person; from then on
    /// the person id must match too, not only the email (an email can be
    /// reassigned or spoofed by another Webex org). A mismatch is refused and
    /// audited.
    pub async fn agent_for_sign_in(
        &self,
        email: &str,
        webex_person_id: Option<&str>,
        how: &str,
    ) -> Result<Agent, SignInError> {
        let checked = self.check_proven_agent(email, webex_person_id, how).await;
        count_sign_in(how, &checked);
        checked
    }

    async fn check_proven_agent(
        &self,
        email: &str,
        webex_person_id: Option<&str>,
        how: &str,
    ) -> Result<Agent, SignInError> {
        let agent = self
            .agent_by_email(email)
            .await
            .map_err(|_| SignInError::UnknownAgent(email.trim().to_ascii_lowercase()))?;
        if agent.disabled {
            return Err(SignInError::Disabled(agent.email));
        }
        match (webex_person_id, agent.webex_person_id.as_deref()) {
            (Some(presented), Some(linked)) if same_webex_person(presented, linked) => {}
            (presented, Some(_)) => {
                let ctx = AuditCtx::new(domain::model::Actor::System, None);
                let refused = serde_json::json!({
                    "method": how,
                    "reason": "webex person id does not match the linked one",
                    "presentedPersonId": presented,
                });
                if let Err(e) = self
                    .record_event(&ctx, "agent.sign_in_refused", "agent", &agent.id, &refused)
                    .await
                {
                    tracing::error!(error = %e, "could not audit a refused sign-in");
                }
                tracing::warn!(agent = %agent.email, method = how, "sign-in refused: Webex person id mismatch");
                return Err(SignInError::WrongWebexAccount(agent.email));
            }
            (Some(presented), None) => {
                // Only while still unlinked, so two first sign-ins cannot both link.
                let linked = sqlx::query(
                    "UPDATE agents SET webex_person_id = $1 WHERE id = $2 AND webex_person_id IS NULL",
                )
                .bind(presented)
                .bind(&agent.id)
                .execute(&self.writer)
                .await;
                if let Err(e) = linked {
                    tracing::warn!(error = %e, "could not link the agent to their Webex person");
                }
                return self
                    .agent_by_id(&agent.id)
                    .await
                    .ok()
                    .filter(|a| {
                        a.webex_person_id
                            .as_deref()
                            .is_none_or(|linked| same_webex_person(presented, linked))
                    })
                    .ok_or(SignInError::WrongWebexAccount(agent.email));
            }
            (None, None) => {}
        }
        Ok(agent)
    }

    /// Starts a browser session; returns the cookie value (shown only here).
    pub async fn create_web_session(
        &self,
        agent: &Agent,
        lifetime_ms: i64,
    ) -> Result<(String, WebSession), DomainError> {
        let token = random_token();
        let csrf = random_token();
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
        .execute(&self.writer)
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
                .execute(&self.writer)
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
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Sets a local password (hashing happens off the async threads) and ends
    /// every browser session of the agent, in the same transaction.
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
        // Whoever knew the old password is signed out with it.
        sqlx::query("DELETE FROM web_sessions WHERE agent_id = $1")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?;
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
    /// Disabling ends the agent's browser sessions in the same transaction.
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
                domain::FieldError::new("role", "you cannot remove your own admin access").into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webex_person_ids_compare_by_uuid() {
        use base64::Engine;
        let uuid = "5b0d3f1e-8a4c-4a5e-9b7d-1c2e3f4a5b6c";
        let spark = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("ciscospark://us/PEOPLE/{uuid}"));
        assert!(same_webex_person(&spark, uuid));
        assert!(same_webex_person(&spark, &spark));
        assert!(same_webex_person(&spark, &uuid.to_ascii_uppercase()));
        let other = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode("ciscospark://us/PEOPLE/00000000-0000-4000-8000-000000000000");
        assert!(!same_webex_person(&spark, &other));
        assert!(!same_webex_person("", ""));
    }

    #[test]
    fn random_tokens_are_256_bits_of_hex() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_token());
    }
}
