//! Contacts in and out as CSV: one import rule for the CLI and the sidebar,
//! one export format.

use serde::{Deserialize, Serialize};

use crate::{AuditCtx, ContactQuery, Paging, Store};
use domain::error::{DomainError, FieldError};
use domain::input::NewContact;
use domain::model::ContactInput;
use domain::Channel;

/// The outcome of one data row (row numbers count the header as row 1, as a
/// spreadsheet shows them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowOutcome {
    pub row: usize,
    pub name: String,
    /// The new contact's id, or why the row was refused.
    pub error: Option<String>,
}

/// Finds the name and phone columns in a header line.
fn columns(header: &csv::StringRecord) -> Result<(usize, usize), FieldError> {
    let find = |names: &[&str]| {
        header.iter().position(|h| {
            names.contains(
                &h.trim()
                    .trim_start_matches('\u{feff}')
                    .to_ascii_lowercase()
                    .as_str(),
            )
        })
    };
    let name = find(&["name", "contact name", "contactname"]);
    let phone = find(&["msisdn", "phone", "phone number", "mobile", "number"]);
    match (name, phone) {
        (Some(n), Some(p)) => Ok((n, p)),
        _ => Err(FieldError::new(
            "file",
            "the first line must name the columns, with at least `name` and `msisdn` (or `phone`)",
        )),
    }
}

/// Imports the rows of `body` (CSV without its header) under `header`. Good
/// rows are kept, bad rows are reported; each row is its own change.
pub async fn import_rows(
    store: &Store,
    ctx: &AuditCtx,
    owner_agent_id: Option<&str>,
    header: &str,
    body: &str,
    first_row: usize,
) -> Result<Vec<RowOutcome>, DomainError> {
    let mut header_reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(header.as_bytes());
    let header = header_reader
        .records()
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| FieldError::new("file", "the file is empty"))?;
    let (name_col, phone_col) = columns(&header)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = first_row + i;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.push(RowOutcome {
                    row,
                    name: String::new(),
                    error: Some(format!("unreadable line: {e}")),
                });
                continue;
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let name = record.get(name_col).unwrap_or_default().to_string();
        let input = ContactInput {
            name: Some(name.clone()),
            msisdn: Some(record.get(phone_col).unwrap_or_default().to_string()),
            owner_agent_id: owner_agent_id.map(str::to_string),
            ..Default::default()
        };
        let created = match NewContact::try_from((&input, store.rules().phone_region)) {
            Ok(new) => store.create_contact(ctx, &new).await,
            Err(invalid) => Err(invalid.into()),
        };
        let error = match created {
            Ok(_) => None,
            Err(DomainError::Invalid(f)) => Some(f.to_string()),
            Err(DomainError::Duplicate { existing_id, .. }) => {
                Some(format!("msisdn: already belongs to contact {existing_id}"))
            }
            Err(other) => return Err(other),
        };
        out.push(RowOutcome { row, name, error });
    }
    Ok(out)
}

/// Splits a whole file into its header and body.
pub fn split_header(text: &str) -> (&str, &str) {
    match text.split_once('\n') {
        Some((header, body)) => (header.trim_end_matches('\r'), body),
        None => (text, ""),
    }
}

/// A spreadsheet would run cells starting with these as formulas.
fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// Every contact as CSV, sorted by name.
pub async fn export_all(store: &Store) -> Result<String, DomainError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| DomainError::Storage(e.to_string());
    writer
        .write_record([
            "id",
            "name",
            "msisdn",
            "whatsapp",
            "sms",
            "ownerAgentId",
            "createdAt",
            "updatedAt",
        ])
        .map_err(io)?;
    let mut page = 1;
    loop {
        let result = store
            .list_contacts(&ContactQuery {
                paging: Some(Paging::new(Some(page), Some(Paging::MAX_PER_PAGE))?),
                ..Default::default()
            })
            .await?;
        for c in &result.items {
            // The E.164 number keeps its + (it is not a formula).
            writer
                .write_record([
                    c.id.clone(),
                    defuse(&c.name),
                    c.msisdn.to_string(),
                    c.channels
                        .get(Channel::Whatsapp)
                        .unwrap_or_default()
                        .to_string(),
                    c.channels.get(Channel::Sms).unwrap_or_default().to_string(),
                    c.owner_agent_id.clone().unwrap_or_default(),
                    c.created_at.clone(),
                    c.updated_at.clone(),
                ])
                .map_err(io)?;
        }
        if (i64::from(page) * i64::from(Paging::MAX_PER_PAGE)) >= result.total {
            break;
        }
        page += 1;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| DomainError::Storage(e.to_string()))?;
    Ok(String::from_utf8(bytes).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused() {
        assert_eq!(defuse("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("Ann"), "Ann");
    }

    #[test]
    fn header_needs_name_and_phone() {
        let rec = csv::StringRecord::from(vec!["\u{feff}Name", "Phone"]);
        assert_eq!(columns(&rec).unwrap(), (0, 1));
        assert!(columns(&csv::StringRecord::from(vec!["first", "last"])).is_err());
        assert_eq!(
            split_header("name,msisdn\r\nAnn,1\n"),
            ("name,msisdn", "Ann,1\n")
        );
    }
}
