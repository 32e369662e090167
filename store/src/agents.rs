use sqlx::any::AnyRow;
use sqlx::Row;

use super::{audit, format_ms, new_id, now_ms, AuditCtx, Store};
use domain::agent_links::PublicAgentId;
use domain::error::{DomainError, FieldError};
use domain::input::text;
use domain::model::{Agent, Role};

pub(crate) const AGENT_COLUMNS: &str =
    "id, public_id, email, display_name, webex_person_id, role, disabled, created_at";

pub(crate) fn agent_from_row(row: &AnyRow) -> Result<Agent, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(Agent {
        id: row.try_get("id")?,
        public_id: PublicAgentId::parse(&row.try_get::<String, _>("public_id")?)
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        webex_person_id: row.try_get("webex_person_id")?,
        role: role.parse().unwrap_or(Role::Agent),
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: format_ms(row.try_get("created_at")?),
    })
}

/// Validates and lowercases an email address (agents are found by email).
pub fn normalize_email(field: &str, input: &str) -> Result<String, FieldError> {
    let email = input.trim().to_ascii_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
               && !domain.ends_with('.') && !domain.contains('@'));
    if email.is_empty() {
        Err(FieldError::new(field, "is required"))
    } else if valid {
        Ok(email)
    } else {
        Err(FieldError::new(field, "not a valid email address"))
    }
}

impl Store {
    pub async fn agent_by_email(&self, email: &str) -> Result<Agent, DomainError> {
        let email = normalize_email("email", email)?;
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE email = $1"
        ))
        .bind(&email)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(agent_from_row(&row)?),
            None => Err(DomainError::not_found("agent", email)),
        }
    }

    pub async fn agent_by_id(&self, id: &str) -> Result<Agent, DomainError> {
        let row = sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(agent_from_row(&row)?),
            None => Err(DomainError::not_found("agent", id)),
        }
    }

    /// The agent a link or QR code names (`webexAgent_{public id}`).
    pub async fn agent_by_public_id(&self, id: &PublicAgentId) -> Result<Agent, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE public_id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(agent_from_row(&row)?),
            None => Err(DomainError::not_found("agent", id.as_str())),
        }
    }

    /// Creates an agent, or updates the name and role of an existing one with
    /// the same email (so the CLI can be re-run safely).
    pub async fn upsert_agent(
        &self,
        ctx: &AuditCtx,
        email: &str,
        display_name: Option<&str>,
        role: Role,
    ) -> Result<Agent, DomainError> {
        let email = normalize_email("email", email)?;
        let name = text("displayName", display_name, 200)?
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
        let mut tx = self.begin_write().await?;
        let before = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE email = $1"
        ))
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| agent_from_row(&r))
        .transpose()?;
        let now = now_ms();
        let row = sqlx::query(&format!(
            "INSERT INTO agents (id, email, display_name, role, disabled, created_at, updated_at, public_id)
             VALUES ($1, $2, $3, $4, 0, $5, $5, $6)
             ON CONFLICT (email) DO UPDATE SET display_name = excluded.display_name,
                 role = excluded.role, updated_at = excluded.updated_at
             RETURNING {AGENT_COLUMNS}"
        ))
        .bind(new_id())
        .bind(&email)
        .bind(&name)
        .bind(role.as_str())
        .bind(now)
        .bind(PublicAgentId::from_bytes(rand::random()).as_str())
        .fetch_one(&mut *tx)
        .await?;
        let agent = agent_from_row(&row)?;
        let action = if before.is_some() {
            "agent.update"
        } else {
            "agent.create"
        };
        audit::record(
            &mut tx,
            ctx,
            action,
            "agent",
            &agent.id,
            before.as_ref(),
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
    fn emails() {
        assert_eq!(
            normalize_email("e", " Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "ann",
            "@x.com",
            "ann@",
            "ann@x",
            "a b@x.com",
            "ann@.com",
            "a@b@c.com",
        ] {
            assert!(normalize_email("e", bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_email("e", "").unwrap_err().message, "is required");
    }
}
