//! An agent's own links (seed: "a QR code with a routing command"): a
//! customer who opens one finds the routing keyword `webexAgent_{id}`
//! written for them in WhatsApp or their SMS app, and sending it connects
//! them straight to that agent. The id is the agent's public id, which says
//! nothing about them (no email); the keyword still accepts an email or the
//! internal id, so codes printed before keep working.

use crate::phone::Msisdn;
use std::fmt;

/// The routing keyword's prefix (any case is accepted when reading it).
pub const ROUTING_KEYWORD: &str = "webexAgent_";

/// An agent's public id: 10 lowercase hex digits (40 random bits). Hex has
/// no run of 13 digits, so a card-number mask never touches a keyword.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicAgentId(String);

impl PublicAgentId {
    pub const LEN: usize = 10;

    /// Accepts any case (customers retype keywords); stores lowercase.
    pub fn parse(raw: &str) -> Result<PublicAgentId, String> {
        let id = raw.trim().to_ascii_lowercase();
        if id.len() == Self::LEN && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(PublicAgentId(id))
        } else {
            Err(format!(
                "an agent's public id is {} hex digits, not {raw:?}",
                Self::LEN
            ))
        }
    }

    /// From 5 random bytes.
    pub fn from_bytes(bytes: [u8; 5]) -> PublicAgentId {
        PublicAgentId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the customer sends: `webexAgent_{id}`.
    pub fn keyword(&self) -> String {
        format!("{ROUTING_KEYWORD}{}", self.0)
    }
}

impl TryFrom<String> for PublicAgentId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        PublicAgentId::parse(&raw)
    }
}

impl From<PublicAgentId> for String {
    fn from(id: PublicAgentId) -> String {
        id.0
    }
}

impl fmt::Display for PublicAgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The numbers customers write to, for the agents' links: each a number, or
/// what to set to have one (the page says so instead of a broken link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessNumbers {
    pub whatsapp: Result<Msisdn, String>,
    pub sms: Result<Msisdn, String>,
}

/// WhatsApp's click to chat: `https://wa.me/{number}?text={text}`, the number
/// in international form with digits only (no `+`), the text URL-encoded.
pub fn whatsapp_link(business: &Msisdn, text: &str) -> String {
    format!(
        "https://wa.me/{}?text={}",
        business.digits(),
        percent_encode(text)
    )
}

/// An `sms:` URI (RFC 5724): `sms:+{number}?body={text}`, the number a
/// global telephone-subscriber (RFC 3966, with `+`), the body percent-encoded.
pub fn sms_link(number: &Msisdn, text: &str) -> String {
    format!("sms:{}?body={}", number.as_str(), percent_encode(text))
}

/// Percent-encodes all but RFC 3986's unreserved characters (as
/// `encodeURIComponent` does, `!'()*` included): safe in a query value of
/// both links.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn number(e164: &str) -> Msisdn {
        Msisdn::from_trusted(e164.into())
    }

    #[test]
    fn links_carry_the_keyword_to_the_business_number() {
        let id = PublicAgentId::parse("0A1b2c3D4e").unwrap();
        assert_eq!(id.keyword(), "webexAgent_0a1b2c3d4e");
        assert_eq!(
            whatsapp_link(&number("+447700900000"), &id.keyword()),
            "https://wa.me/447700900000?text=webexAgent_0a1b2c3d4e"
        );
        assert_eq!(
            sms_link(&number("+447700900001"), &id.keyword()),
            "sms:+447700900001?body=webexAgent_0a1b2c3d4e"
        );
        assert_eq!(
            whatsapp_link(&number("+15105550101"), "Hi there & webexAgent_x?"),
            "https://wa.me/15105550101?text=Hi%20there%20%26%20webexAgent_x%3F"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn public_ids_are_ten_hex_digits() {
        for bad in [
            "",
            "0a1b2c3d4",
            "0a1b2c3d4e5",
            "0a1b2c3d4g",
            "ann@example.com",
        ] {
            assert!(PublicAgentId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PublicAgentId::from_bytes([0, 1, 0xab, 0xcd, 0xff]).as_str(),
            "0001abcdff"
        );
    }

    proptest! {
        #[test]
        fn every_public_id_reads_back_and_its_keyword_survives_card_masking(bytes in any::<[u8; 5]>()) {
            let id = PublicAgentId::from_bytes(bytes);
            prop_assert_eq!(PublicAgentId::parse(&id.as_str().to_uppercase()), Ok(id.clone()));
            let keyword = id.keyword();
            prop_assert_eq!(crate::card_numbers::mask_card_numbers(&keyword).text, keyword);
        }

        #[test]
        fn encoded_text_has_only_unreserved_characters_and_escapes(text in ".{0,40}") {
            let encoded = percent_encode(&text);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        }
    }
}
