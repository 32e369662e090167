use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// A customer's digital channel. Both current channels address the customer
/// by phone number, but with different channel ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Whatsapp,
    Sms,
}

impl Channel {
    /// The channel's name for people ("WhatsApp", "SMS").
    pub fn label(self) -> &'static str {
        match self {
            Channel::Whatsapp => "WhatsApp",
            Channel::Sms => "SMS",
        }
    }

    /// Parses a channel named in the given field, with an error that says which
    /// channels exist.
    pub fn parse_field(field: &str, value: &str) -> Result<Channel, FieldError> {
        value.parse().map_err(|_| {
            FieldError::new(
                field,
                format!("unknown channel {value:?}: expected \"whatsapp\" or \"sms\""),
            )
        })
    }
}

/// The guest's identity within the issuer: channel and channel id together,
/// because SMS and WhatsApp share the phone number but are different guests.
/// Also the ordering key of the customer's outbox jobs and the key of their
/// cached guest token.
pub fn guest_subject(channel: Channel, channel_id: &str) -> String {
    format!(
        "{}_{}",
        channel.as_str(),
        channel_id.trim_start_matches('+')
    )
}

crate::named_enum!(Channel, "channel", { Whatsapp => "whatsapp", Sms => "sms" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_rejects_unknown() {
        assert_eq!("WhatsApp".parse::<Channel>(), Ok(Channel::Whatsapp));
        assert_eq!(" sms ".parse::<Channel>(), Ok(Channel::Sms));
        let err = Channel::parse_field("customerChannel", "fax").unwrap_err();
        assert_eq!(err.field, "customerChannel");
        assert!(err.message.contains("fax"));
    }
}
