//! Wire inputs made into validated values, once, where they come in (the
//! API, the sidebar's server functions, the CSV import, the relay). The store
//! takes only these types, so it never sees an unchecked name, number or
//! status; what it still checks needs the database (an owner that exists, a
//! version that matches, a number nobody else has).
//!
//! Phone numbers are read in the server's default region, so each conversion
//! is `TryFrom<(input, PhoneRegion)>`.

use crate::channel::Channel;
use crate::error::FieldError;
use crate::model::{ContactInput, Customer, SessionInput, SessionStatus};
use crate::phone::{Msisdn, PhoneRegion};

const NAME_MAX: usize = 200;
const COLLAB_MAX: usize = 500;
const ID_MAX: usize = 100;
const CHANNEL_ID_MAX: usize = 50;

/// Optional free text: trimmed, empty means absent, bounded, no control
/// characters.
pub fn text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, FieldError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max => Err(FieldError::new(
            field,
            format!("is too long (at most {max} characters)"),
        )),
        Some(v) if v.chars().any(char::is_control) => Err(FieldError::new(
            field,
            "must not contain control characters",
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

fn msisdn(field: &str, value: &str, region: PhoneRegion) -> Result<Msisdn, FieldError> {
    Msisdn::parse(value, region).map_err(|why| FieldError::new(field, why))
}

impl Customer {
    /// The customer a channel id names: the number, read in `region` and
    /// written as the channel keeps it. `field` names the input in errors.
    pub fn parse(
        channel: Channel,
        field: &str,
        channel_id: &str,
        region: PhoneRegion,
    ) -> Result<Customer, FieldError> {
        Ok(Customer {
            channel,
            id: msisdn(field, channel_id, region)?.channel_id(channel),
        })
    }
}

/// A contact's name: required, at most 200 characters.
fn contact_name(value: Option<&str>) -> Result<String, FieldError> {
    text("name", value, NAME_MAX)?.ok_or_else(|| FieldError::new("name", "is required"))
}

/// The channels a contact can be reached on: named at least once, each once.
fn channels(list: &[String]) -> Result<Vec<Channel>, FieldError> {
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

/// A contact to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub name: String,
    pub msisdn: Msisdn,
    /// Never empty; all channels when the input named none.
    pub channels: Vec<Channel>,
    pub owner_agent_id: Option<String>,
    pub language: Option<crate::Language>,
}

impl TryFrom<(&ContactInput, PhoneRegion)> for NewContact {
    type Error = FieldError;

    fn try_from((input, region): (&ContactInput, PhoneRegion)) -> Result<Self, FieldError> {
        let contact = NewContact {
            name: contact_name(input.name.as_deref())?,
            msisdn: msisdn(
                "msisdn",
                input.msisdn.as_deref().unwrap_or_default(),
                region,
            )?,
            channels: match &input.channels {
                Some(list) => channels(list)?,
                None => Channel::ALL.to_vec(),
            },
            owner_agent_id: text("ownerAgentId", input.owner_agent_id.as_deref(), ID_MAX)?,
            language: crate::Language::parse_field("language", input.language.as_deref())?,
        };
        if input.version.is_some() {
            return Err(FieldError::new("version", "must not be set on create"));
        }
        Ok(contact)
    }
}

/// Changes to a contact; `None` keeps what is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactChanges {
    pub name: Option<String>,
    pub msisdn: Option<Msisdn>,
    pub channels: Option<Vec<Channel>>,
    /// `Some(None)` removes the owner.
    pub owner_agent_id: Option<Option<String>>,
    /// `Some(None)` goes back to the server's default.
    pub language: Option<Option<crate::Language>>,
    /// The version the change was made on, when the client says.
    pub version: Option<i64>,
}

impl TryFrom<(&ContactInput, PhoneRegion)> for ContactChanges {
    type Error = FieldError;

    fn try_from((input, region): (&ContactInput, PhoneRegion)) -> Result<Self, FieldError> {
        Ok(ContactChanges {
            name: input
                .name
                .as_deref()
                .map(|n| contact_name(Some(n)))
                .transpose()?,
            msisdn: input
                .msisdn
                .as_deref()
                .map(|m| msisdn("msisdn", m, region))
                .transpose()?,
            channels: input.channels.as_deref().map(channels).transpose()?,
            owner_agent_id: input
                .owner_agent_id
                .as_deref()
                .map(|o| text("ownerAgentId", Some(o), ID_MAX))
                .transpose()?,
            language: input
                .language
                .as_deref()
                .map(|l| crate::Language::parse_field("language", Some(l)))
                .transpose()?,
            version: input.version,
        })
    }
}

/// The fields of a session an agent, a flow or an admin may set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFields {
    pub agent: Option<String>,
    pub guest: Option<String>,
    pub extra: [Option<String>; 3],
    pub contact_id: Option<String>,
    pub status: Option<SessionStatus>,
}

impl TryFrom<&SessionInput> for SessionFields {
    type Error = FieldError;

    fn try_from(input: &SessionInput) -> Result<Self, FieldError> {
        let status = match input.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(s.parse::<SessionStatus>().map_err(|_| {
                FieldError::new(
                    "status",
                    format!("unknown status {s:?}: expected onboarding, active or ended"),
                )
            })?),
        };
        Ok(SessionFields {
            agent: text(
                "collabAgentId",
                input.collab_agent_id.as_deref(),
                COLLAB_MAX,
            )?,
            guest: text(
                "collabGuestId",
                input.collab_guest_id.as_deref(),
                COLLAB_MAX,
            )?,
            extra: [
                text("collabExtra1", input.collab_extra1.as_deref(), COLLAB_MAX)?,
                text("collabExtra2", input.collab_extra2.as_deref(), COLLAB_MAX)?,
                text("collabExtra3", input.collab_extra3.as_deref(), COLLAB_MAX)?,
            ],
            contact_id: text("contactId", input.contact_id.as_deref(), ID_MAX)?,
            status,
        })
    }
}

/// A session to create (or, when the customer has one, to re-route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub customer: Customer,
    pub fields: SessionFields,
}

impl TryFrom<(&SessionInput, PhoneRegion)> for NewSession {
    type Error = FieldError;

    fn try_from((input, region): (&SessionInput, PhoneRegion)) -> Result<Self, FieldError> {
        let channel = text(
            "customerChannel",
            input.customer_channel.as_deref(),
            CHANNEL_ID_MAX,
        )?
        .ok_or_else(|| FieldError::new("customerChannel", "is required"))?;
        let channel = Channel::parse_field("customerChannel", &channel)?;
        let raw_id = text(
            "customerChannelId",
            input.customer_channel_id.as_deref(),
            CHANNEL_ID_MAX,
        )?
        .ok_or_else(|| FieldError::new("customerChannelId", "is required"))?;
        Ok(NewSession {
            customer: Customer::parse(channel, "customerChannelId", &raw_id, region)?,
            fields: SessionFields::try_from(input)?,
        })
    }
}

/// Changes to a session; `None` keeps what is stored. The customer cannot
/// change: when the input names one, it must be the session's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionChanges {
    pub channel: Option<Channel>,
    /// The number, compared with the stored id in the session's channel's form.
    pub number: Option<Msisdn>,
    pub fields: SessionFields,
}

impl TryFrom<(&SessionInput, PhoneRegion)> for SessionChanges {
    type Error = FieldError;

    fn try_from((input, region): (&SessionInput, PhoneRegion)) -> Result<Self, FieldError> {
        Ok(SessionChanges {
            channel: input
                .customer_channel
                .as_deref()
                .map(|c| Channel::parse_field("customerChannel", c))
                .transpose()?,
            number: input
                .customer_channel_id
                .as_deref()
                .map(|raw| msisdn("customerChannelId", raw, region))
                .transpose()?,
            fields: SessionFields::try_from(input)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb() -> PhoneRegion {
        PhoneRegion::default()
    }

    #[test]
    fn a_new_contact_is_named_numbered_and_reachable_somewhere() {
        let input = ContactInput {
            name: Some("  Ada  ".into()),
            msisdn: Some("07700 900123".into()),
            channels: Some(vec!["sms".into(), "SMS".into()]),
            ..Default::default()
        };
        let contact = NewContact::try_from((&input, gb())).unwrap();
        assert_eq!(contact.name, "Ada");
        assert_eq!(contact.msisdn.as_str(), "+447700900123");
        assert_eq!(contact.channels, vec![Channel::Sms]);

        let all = ContactInput {
            channels: None,
            ..input.clone()
        };
        assert_eq!(
            NewContact::try_from((&all, gb())).unwrap().channels,
            Channel::ALL.to_vec()
        );
        for (bad, field) in [
            (
                ContactInput {
                    name: None,
                    ..input.clone()
                },
                "name",
            ),
            (
                ContactInput {
                    msisdn: Some("call me".into()),
                    ..input.clone()
                },
                "msisdn",
            ),
            (
                ContactInput {
                    channels: Some(vec![]),
                    ..input.clone()
                },
                "channels",
            ),
            (
                ContactInput {
                    channels: Some(vec!["fax".into()]),
                    ..input.clone()
                },
                "channels",
            ),
            (
                ContactInput {
                    version: Some(1),
                    ..input.clone()
                },
                "version",
            ),
            (
                ContactInput {
                    name: Some("x".repeat(201)),
                    ..input.clone()
                },
                "name",
            ),
        ] {
            assert_eq!(NewContact::try_from((&bad, gb())).unwrap_err().field, field);
        }
    }

    #[test]
    fn contact_changes_keep_what_was_not_sent_and_an_empty_owner_removes_it() {
        let changes = ContactChanges::try_from((
            &ContactInput {
                owner_agent_id: Some(" ".into()),
                ..Default::default()
            },
            gb(),
        ))
        .unwrap();
        assert_eq!(changes.name, None);
        assert_eq!(changes.msisdn, None);
        assert_eq!(changes.owner_agent_id, Some(None));
        let bad = ContactInput {
            name: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(
            ContactChanges::try_from((&bad, gb())).unwrap_err().field,
            "name"
        );
    }

    #[test]
    fn a_new_session_names_its_customer_in_the_channels_form() {
        let input = SessionInput {
            customer_channel: Some("whatsapp".into()),
            customer_channel_id: Some("+44 7700 900123".into()),
            status: Some("Active".into()),
            ..Default::default()
        };
        let session = NewSession::try_from((&input, gb())).unwrap();
        assert_eq!(session.customer.channel, Channel::Whatsapp);
        assert_eq!(session.customer.id, "447700900123");
        assert_eq!(session.fields.status, Some(SessionStatus::Active));
        for (bad, field) in [
            (
                SessionInput {
                    customer_channel: None,
                    ..input.clone()
                },
                "customerChannel",
            ),
            (
                SessionInput {
                    customer_channel_id: Some("abc".into()),
                    ..input.clone()
                },
                "customerChannelId",
            ),
            (
                SessionInput {
                    status: Some("paused".into()),
                    ..input.clone()
                },
                "status",
            ),
            (
                SessionInput {
                    collab_extra2: Some("a\u{7}".into()),
                    ..input.clone()
                },
                "collabExtra2",
            ),
        ] {
            assert_eq!(NewSession::try_from((&bad, gb())).unwrap_err().field, field);
        }
    }
}
