use sqlx::any::AnyRow;
use sqlx::Row;

use super::{
    audit, format_ms, like_pattern, new_id, now_ms, placeholders, AuditCtx, Paging, Store, WriteTx,
    ROWS_PER_STATEMENT,
};
use domain::channel::Channel;
use domain::error::{DomainError, FieldError};
use domain::input::text;
use domain::input::{ContactChanges, NewContact};
use domain::model::{Contact, ContactChannels, Customer, Page};
use domain::phone::Msisdn;
use std::collections::HashMap;

const CONTACT_COLUMNS: &str =
    "c.id, c.name, c.msisdn, c.owner_agent_id, c.language, c.version, c.created_at, c.updated_at";

/// How to list contacts.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    /// Part of the name, or digits of the phone number.
    pub q: Option<String>,
    pub paging: Option<Paging>,
    /// Only the contacts owned by this agent id.
    pub owner_agent_id: Option<String>,
}

fn contact_from_row(row: &AnyRow, channels: ContactChannels) -> Result<Contact, sqlx::Error> {
    Ok(Contact {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        msisdn: Msisdn::from_trusted(row.try_get("msisdn")?),
        channels,
        owner_agent_id: row.try_get("owner_agent_id")?,
        // A code this build does not know is read as the default.
        language: row
            .try_get::<Option<String>, _>("language")?
            .and_then(|l| l.parse().ok()),
        version: row.try_get("version")?,
        created_at: format_ms(row.try_get("created_at")?),
        updated_at: format_ms(row.try_get("updated_at")?),
    })
}

impl Store {
    async fn check_owner(
        &self,
        tx: &mut WriteTx,
        owner: Option<&str>,
    ) -> Result<Option<String>, DomainError> {
        let Some(owner) = owner else {
            return Ok(None);
        };
        let found = sqlx::query("SELECT id FROM agents WHERE id = $1")
            .bind(owner)
            .fetch_optional(&mut **tx)
            .await?;
        match found {
            Some(_) => Ok(Some(owner.to_string())),
            None => Err(FieldError::new("ownerAgentId", "no agent has this id").into()),
        }
    }

    /// The channels of each of these contacts, in their order: one query
    /// for the lot (a page of contacts).
    async fn channels_of(&self, ids: &[String]) -> Result<Vec<ContactChannels>, DomainError> {
        let mut of: HashMap<String, Vec<AnyRow>> = HashMap::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let list = placeholders(1, chunk.len());
            let sql = format!(
                "SELECT contact_id, channel, channel_id FROM contact_channels WHERE contact_id IN ({list})"
            );
            // A page's size is the usual list: this text is worth caching.
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                of.entry(row.try_get("contact_id")?).or_default().push(row);
            }
        }
        ids.iter()
            .map(|id| {
                Ok(channels_from_rows(
                    of.get(id).map_or(&[][..], Vec::as_slice),
                )?)
            })
            .collect()
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
        new: &NewContact,
    ) -> Result<Contact, DomainError> {
        let mut tx = self.begin_write().await?;
        let owner = self
            .check_owner(&mut tx, new.owner_agent_id.as_deref())
            .await?;
        let id = new_id();
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO contacts (id, name, msisdn, owner_agent_id, version, created_at, updated_at, language)
             VALUES ($1, $2, $3, $4, 1, $5, $5, $6)
             ON CONFLICT (msisdn) DO NOTHING RETURNING id",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(new.msisdn.as_str())
        .bind(&owner)
        .bind(now)
        .bind(new.language.map(domain::Language::as_str))
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            let existing: String = sqlx::query("SELECT id FROM contacts WHERE msisdn = $1")
                .bind(new.msisdn.as_str())
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
            return Err(duplicate_msisdn(&new.msisdn, existing));
        }
        write_channels(&mut tx, &id, &new.msisdn, &new.channels).await?;
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
        changes: &ContactChanges,
    ) -> Result<Contact, DomainError> {
        let mut tx = self.begin_write().await?;
        let current = load_contact(&mut tx, id)
            .await?
            .ok_or_else(|| DomainError::not_found("contact", id))?;
        if let Some(expected) = changes.version {
            if expected != current.version {
                return Err(stale(&current));
            }
        }
        let owner = match &changes.owner_agent_id {
            Some(o) => self.check_owner(&mut tx, o.as_deref()).await?,
            None => current.owner_agent_id.clone(),
        };
        let name = changes.name.clone().unwrap_or_else(|| current.name.clone());
        let language = changes.language.unwrap_or(current.language);
        let msisdn = changes
            .msisdn
            .clone()
            .unwrap_or_else(|| current.msisdn.clone());
        let channels = changes.channels.clone().unwrap_or_else(|| {
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
                    version = version + 1, updated_at = $4, language = $7
              WHERE id = $5 AND version = $6",
        )
        .bind(&name)
        .bind(msisdn.as_str())
        .bind(&owner)
        .bind(now_ms())
        .bind(id)
        .bind(current.version)
        .bind(language.map(domain::Language::as_str))
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
        let q = text("q", query.q.as_deref(), 100)?;
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
        // The page, read in the index's order (`contacts_list_order`): it
        // stops at its last row rather than sorting every match.
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
        // A page that is not full and not past the end is the last one: it
        // tells the total. Otherwise, one count.
        let last_page =
            rows.len() < paging.per_page as usize && (!rows.is_empty() || paging.offset() == 0);
        let total: i64 = if last_page {
            paging.offset() + rows.len() as i64
        } else {
            sqlx::query(&format!(
                "SELECT COUNT(*) AS n FROM contacts c WHERE {filter}"
            ))
            .bind(&name_pattern)
            .bind(&digits_pattern)
            .bind(&query.owner_agent_id)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?
        };
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

    /// Finds the contact with this phone number.
    pub async fn contact_by_msisdn(&self, msisdn: &Msisdn) -> Result<Option<Contact>, DomainError> {
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

    /// The language of a customer's contact, in one query: the contact the
    /// session names (`contact_id`), else the one holding the customer's
    /// channel. None: no contact, or none set (or a code this build does
    /// not know).
    pub async fn contact_language(
        &self,
        contact_id: Option<&str>,
        customer: &Customer,
    ) -> Result<Option<domain::Language>, DomainError> {
        let row = match contact_id {
            Some(id) => {
                sqlx::query("SELECT language FROM contacts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(
                    "SELECT c.language FROM contacts c
                       JOIN contact_channels ch ON ch.contact_id = c.id
                      WHERE ch.channel = $1 AND ch.channel_id = $2",
                )
                .bind(customer.channel.as_str())
                .bind(&customer.id)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        Ok(match row {
            Some(row) => row
                .try_get::<Option<String>, _>("language")?
                .and_then(|l| l.parse().ok()),
            None => None,
        })
    }

    /// Finds the contact reached by this id on this channel.
    pub async fn contact_by_channel(
        &self,
        customer: &Customer,
    ) -> Result<Option<Contact>, DomainError> {
        let row = sqlx::query(
            "SELECT contact_id FROM contact_channels WHERE channel = $1 AND channel_id = $2",
        )
        .bind(customer.channel.as_str())
        .bind(&customer.id)
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
    tx: &mut WriteTx,
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
