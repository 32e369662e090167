use sqlx::any::AnyRow;
use sqlx::Row;

use super::{audit, clean_opt, format_ms, like_pattern, new_id, now_ms, AuditCtx, Paging, Store};
use domain::channel::Channel;
use domain::error::{DomainError, FieldError};
use domain::model::{Contact, ContactChannels, ContactInput, Page};
use domain::phone::Msisdn;

const CONTACT_COLUMNS: &str =
    "c.id, c.name, c.msisdn, c.owner_agent_id, c.version, c.created_at, c.updated_at";
const NAME_MAX: usize = 200;

/// How to list contacts.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    /// Part of the name, or digits of the phone number.
    pub q: Option<String>,
    pub paging: Option<Paging>,
    /// Only the contacts owned by this agent id.
    pub owner_agent_id: Option<String>,
}

/// A contact input after validation.
struct ValidContact {
    name: String,
    msisdn: Msisdn,
    channels: Vec<Channel>,
    owner_agent_id: Option<String>,
}

fn contact_from_row(row: &AnyRow, channels: ContactChannels) -> Result<Contact, sqlx::Error> {
    Ok(Contact {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        msisdn: Msisdn::from_trusted(row.try_get("msisdn")?),
        channels,
        owner_agent_id: row.try_get("owner_agent_id")?,
        version: row.try_get("version")?,
        created_at: format_ms(row.try_get("created_at")?),
        updated_at: format_ms(row.try_get("updated_at")?),
    })
}

fn parse_channels(input: Option<&Vec<String>>) -> Result<Vec<Channel>, FieldError> {
    let Some(list) = input else {
        return Ok(Channel::ALL.to_vec());
    };
    let mut out = Vec::new();
    for name in list {
        let channel = Channel::parse_field("channels", name)?;
        if !out.contains(&channel) {
            out.push(channel);
        }
    }
    if out.is_empty() {
        return Err(FieldError::new(
            "channels",
            "must name at least one channel",
        ));
    }
    Ok(out)
}

fn validate_name(value: Option<&str>) -> Result<String, FieldError> {
    clean_opt("name", value, NAME_MAX)?.ok_or_else(|| FieldError::new("name", "is required"))
}

impl Store {
    fn parse_msisdn(&self, value: Option<&str>) -> Result<Msisdn, FieldError> {
        Msisdn::parse(value.unwrap_or_default(), self.rules.phone_region)
            .map_err(|why| FieldError::new("msisdn", why))
    }

    async fn check_owner(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        owner: Option<&str>,
    ) -> Result<Option<String>, DomainError> {
        let Some(owner) = clean_opt("ownerAgentId", owner, 100)? else {
            return Ok(None);
        };
        let found = sqlx::query("SELECT id FROM agents WHERE id = $1")
            .bind(&owner)
            .fetch_optional(&mut **tx)
            .await?;
        match found {
            Some(_) => Ok(Some(owner)),
            None => Err(FieldError::new("ownerAgentId", "no agent has this id").into()),
        }
    }

    async fn channels_of(&self, ids: &[String]) -> Result<Vec<ContactChannels>, DomainError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let rows = sqlx::query(
                "SELECT channel, channel_id FROM contact_channels WHERE contact_id = $1",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            out.push(channels_from_rows(&rows)?);
        }
        Ok(out)
    }

    pub async fn contact(&self, id: &str) -> Result<Contact, DomainError> {
        let mut conn = self.pool.acquire().await?;
        load_contact(&mut conn, id)
            .await?
            .ok_or_else(|| DomainError::not_found("contact", id))
    }

    pub async fn create_contact(
        &self,
        ctx: &AuditCtx,
        input: &ContactInput,
    ) -> Result<Contact, DomainError> {
        let valid = ValidContact {
            name: validate_name(input.name.as_deref())?,
            msisdn: self.parse_msisdn(input.msisdn.as_deref())?,
            channels: parse_channels(input.channels.as_ref())?,
            owner_agent_id: None,
        };
        if input.version.is_some() {
            return Err(FieldError::new("version", "must not be set on create").into());
        }
        let mut tx = self.begin_write().await?;
        let valid = ValidContact {
            owner_agent_id: self
                .check_owner(&mut tx, input.owner_agent_id.as_deref())
                .await?,
            ..valid
        };
        let id = new_id();
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO contacts (id, name, msisdn, owner_agent_id, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 1, $5, $5)
             ON CONFLICT (msisdn) DO NOTHING RETURNING id",
        )
        .bind(&id)
        .bind(&valid.name)
        .bind(valid.msisdn.as_str())
        .bind(&valid.owner_agent_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            let existing: String = sqlx::query("SELECT id FROM contacts WHERE msisdn = $1")
                .bind(valid.msisdn.as_str())
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
            return Err(duplicate_msisdn(&valid.msisdn, existing));
        }
        write_channels(&mut tx, &id, &valid.msisdn, &valid.channels).await?;
        let contact = load_contact(&mut tx, &id)
            .await?
            .ok_or_else(|| DomainError::not_found("contact", &id))?;
        audit::record::<(), _>(
            &mut tx,
            ctx,
            "contact.create",
            "contact",
            &id,
            None,
            Some(&contact),
        )
        .await?;
        tx.commit().await?;
        Ok(contact)
    }

    pub async fn update_contact(
        &self,
        ctx: &AuditCtx,
        id: &str,
        input: &ContactInput,
    ) -> Result<Contact, DomainError> {
        // Validate what was sent before touching the database.
        let name = input
            .name
            .as_deref()
            .map(|n| validate_name(Some(n)))
            .transpose()?;
        let msisdn = input
            .msisdn
            .as_deref()
            .map(|m| self.parse_msisdn(Some(m)))
            .transpose()?;
        let channels = input
            .channels
            .as_ref()
            .map(|c| parse_channels(Some(c)))
            .transpose()?;

        let mut tx = self.begin_write().await?;
        let current = load_contact(&mut tx, id)
            .await?
            .ok_or_else(|| DomainError::not_found("contact", id))?;
        if let Some(expected) = input.version {
            if expected != current.version {
                return Err(stale(&current));
            }
        }
        let owner = match &input.owner_agent_id {
            Some(o) => self.check_owner(&mut tx, Some(o)).await?,
            None => current.owner_agent_id.clone(),
        };
        let name = name.unwrap_or_else(|| current.name.clone());
        let msisdn = msisdn.unwrap_or_else(|| current.msisdn.clone());
        let channels = channels.unwrap_or_else(|| {
            Channel::ALL
                .iter()
                .copied()
                .filter(|c| current.channels.get(*c).is_some())
                .collect()
        });
        if msisdn != current.msisdn {
            let taken = sqlx::query("SELECT id FROM contacts WHERE msisdn = $1 AND id <> $2")
                .bind(msisdn.as_str())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = taken {
                return Err(duplicate_msisdn(&msisdn, row.try_get("id")?));
            }
        }
        let updated = sqlx::query(
            "UPDATE contacts SET name = $1, msisdn = $2, owner_agent_id = $3,
                    version = version + 1, updated_at = $4
              WHERE id = $5 AND version = $6",
        )
        .bind(&name)
        .bind(msisdn.as_str())
        .bind(&owner)
        .bind(now_ms())
        .bind(id)
        .bind(current.version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // Another writer got in between our read and our write.
            drop(tx);
            return Err(stale(&self.contact(id).await?));
        }
        sqlx::query("DELETE FROM contact_channels WHERE contact_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        write_channels(&mut tx, id, &msisdn, &channels).await?;
        let contact = load_contact(&mut tx, id)
            .await?
            .ok_or_else(|| DomainError::not_found("contact", id))?;
        audit::record(
            &mut tx,
            ctx,
            "contact.update",
            "contact",
            id,
            Some(&current),
            Some(&contact),
        )
        .await?;
        tx.commit().await?;
        Ok(contact)
    }

    pub async fn delete_contact(&self, ctx: &AuditCtx, id: &str) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        let current = load_contact(&mut tx, id)
            .await?
            .ok_or_else(|| DomainError::not_found("contact", id))?;
        sqlx::query("DELETE FROM contact_channels WHERE contact_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET contact_id = NULL WHERE contact_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM contacts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::record::<_, ()>(
            &mut tx,
            ctx,
            "contact.delete",
            "contact",
            id,
            Some(&current),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lists contacts by name, searching name or phone digits.
    pub async fn list_contacts(&self, query: &ContactQuery) -> Result<Page<Contact>, DomainError> {
        let paging = match query.paging {
            Some(p) => p,
            None => Paging::new(None, None)?,
        };
        let q = clean_opt("q", query.q.as_deref(), 100)?;
        let name_pattern = q.as_deref().map(|q| like_pattern(&q.to_lowercase()));
        let digits: String = q
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        // Only search phone digits when the query looks like a number.
        let digits_pattern = (!digits.is_empty()
            && q.as_deref().is_some_and(|q| {
                q.chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c))
            }))
        .then(|| like_pattern(&digits));
        let filter = "($1 IS NULL OR LOWER(c.name) LIKE $1 ESCAPE '\\' OR ($2 IS NOT NULL AND c.msisdn LIKE $2 ESCAPE '\\'))
                      AND ($3 IS NULL OR c.owner_agent_id = $3)";
        let total: i64 = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM contacts c WHERE {filter}"
        ))
        .bind(&name_pattern)
        .bind(&digits_pattern)
        .bind(&query.owner_agent_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE {filter}
              ORDER BY LOWER(c.name), c.id LIMIT $4 OFFSET $5"
        ))
        .bind(&name_pattern)
        .bind(&digits_pattern)
        .bind(&query.owner_agent_id)
        .bind(i64::from(paging.per_page))
        .bind(paging.offset())
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let channels = self.channels_of(&ids).await?;
        let items = rows
            .iter()
            .zip(channels)
            .map(|(row, ch)| contact_from_row(row, ch))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            page: paging.page,
            per_page: paging.per_page,
            total,
        })
    }

    /// Finds the contact with this phone number (any written form).
    pub async fn contact_by_msisdn(&self, msisdn: &str) -> Result<Option<Contact>, DomainError> {
        let msisdn = self.parse_msisdn(Some(msisdn))?;
        let row = sqlx::query("SELECT id FROM contacts WHERE msisdn = $1")
            .bind(msisdn.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                load_contact(
                    &mut *self.pool.acquire().await?,
                    &row.try_get::<String, _>("id")?,
                )
                .await
            }
            None => Ok(None),
        }
    }

    /// Finds the contact reached by this id on this channel.
    pub async fn contact_by_channel(
        &self,
        channel: Channel,
        channel_id: &str,
    ) -> Result<Option<Contact>, DomainError> {
        let channel_id = self.canonical_channel_id(channel, "channelId", channel_id)?;
        let row = sqlx::query(
            "SELECT contact_id FROM contact_channels WHERE channel = $1 AND channel_id = $2",
        )
        .bind(channel.as_str())
        .bind(&channel_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => {
                load_contact(
                    &mut *self.pool.acquire().await?,
                    &row.try_get::<String, _>("contact_id")?,
                )
                .await
            }
            None => Ok(None),
        }
    }

    /// The canonical id of a customer on a channel: phone-addressed channels
    /// accept any written form of the number.
    /// A customer on a channel from a number in any written form; the
    /// error names `field`.
    pub fn customer(
        &self,
        channel: Channel,
        field: &str,
        channel_id: &str,
    ) -> Result<domain::model::Customer, FieldError> {
        Ok(domain::model::Customer {
            channel,
            id: self.canonical_channel_id(channel, field, channel_id)?,
        })
    }

    pub fn canonical_channel_id(
        &self,
        channel: Channel,
        field: &str,
        channel_id: &str,
    ) -> Result<String, FieldError> {
        match channel {
            Channel::Whatsapp | Channel::Sms => Msisdn::parse(channel_id, self.rules.phone_region)
                .map(|m| m.channel_id(channel))
                .map_err(|why| FieldError::new(field, why)),
        }
    }
}

pub(crate) async fn load_contact(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<Contact>, DomainError> {
    let row = sqlx::query(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let channels =
        sqlx::query("SELECT channel, channel_id FROM contact_channels WHERE contact_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(Some(contact_from_row(
        &row,
        channels_from_rows(&channels)?,
    )?))
}

fn channels_from_rows(rows: &[AnyRow]) -> Result<ContactChannels, sqlx::Error> {
    let mut channels = ContactChannels::default();
    for row in rows {
        let name: String = row.try_get("channel")?;
        if let Ok(channel) = name.parse::<Channel>() {
            channels.set(channel, Some(row.try_get("channel_id")?));
        }
    }
    Ok(channels)
}

async fn write_channels(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    contact_id: &str,
    msisdn: &Msisdn,
    channels: &[Channel],
) -> Result<(), DomainError> {
    for channel in channels {
        sqlx::query(
            "INSERT INTO contact_channels (contact_id, channel, channel_id) VALUES ($1, $2, $3)",
        )
        .bind(contact_id)
        .bind(channel.as_str())
        .bind(msisdn.channel_id(*channel))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn duplicate_msisdn(msisdn: &Msisdn, existing_id: String) -> DomainError {
    DomainError::Duplicate {
        message: format!("a contact with msisdn {msisdn} already exists: {existing_id}"),
        field: "msisdn".into(),
        existing_id,
    }
}

fn stale(current: &Contact) -> DomainError {
    DomainError::StaleVersion {
        entity: "contact",
        id: current.id.clone(),
        current_version: current.version,
        current: serde_json::to_value(current).unwrap_or_default(),
    }
}
