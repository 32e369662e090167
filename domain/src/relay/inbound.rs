//! What Connect delivers to us: customers' messages (SMS, WhatsApp, MMS) and
//! delivery receipts, parsed into one shape each. Pure: no I/O.
//!
//! The reference documents receipts but not Connect's outbound webhook for
//! incoming messages; the shapes here are the sandbox's (docs/sandbox.md),
//! whose channel parts mirror Connect's sending APIs.

use serde::{Deserialize, Serialize};

use crate::Channel;

/// A customer's message, as stored in the job that handles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbound {
    /// SMS for MMS too: they share the customer's number and session.
    pub channel: Channel,
    pub mms: bool,
    /// The sender's channel id as Connect gave it.
    pub customer: String,
    /// Connect's id of the message: the dedup key.
    pub transid: String,
    /// WhatsApp's profile name, when given.
    pub profile_name: Option<String>,
    /// The text, trimmed; empty when there is none.
    pub text: String,
    /// MMS text parts given by URL, to fetch.
    pub text_urls: Vec<String>,
    pub media: Vec<InboundMedia>,
}

/// A file the customer sent, at Connect's URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundMedia {
    pub url: String,
    pub mime: Option<String>,
    pub filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not a customer message we relay (another event type or channel).
    NotRelayed(&'static str),
    Malformed(String),
}

fn text_of(v: &serde_json::Value) -> Option<&str> {
    v.as_str().map(str::trim).filter(|t| !t.is_empty())
}

/// Parses a Connect inbound-message event.
pub fn parse_inbound(event: &serde_json::Value) -> Result<Inbound, ParseError> {
    let transid = text_of(&event["transid"])
        .ok_or_else(|| ParseError::Malformed("transid is missing".into()))?
        .to_string();
    let number = |field: &str| {
        text_of(&event[field]).map(str::to_string).ok_or_else(|| {
            ParseError::Malformed(format!("{field} (the sender's number) is missing"))
        })
    };
    let mut inbound = Inbound {
        channel: Channel::Sms,
        mms: false,
        customer: String::new(),
        transid,
        profile_name: None,
        text: String::new(),
        text_urls: Vec::new(),
        media: Vec::new(),
    };
    match event["channel"].as_str() {
        Some("sms") => {
            inbound.customer = number("msisdn")?;
            inbound.text = text_of(&event["message"]["text"])
                .unwrap_or_default()
                .into();
        }
        Some("whatsapp") => {
            inbound.channel = Channel::Whatsapp;
            inbound.customer = number("waid")?;
            inbound.profile_name = text_of(&event["profileName"]).map(str::to_string);
            let message = &event["message"];
            let kind = message["type"].as_str().unwrap_or("text");
            if kind == "text" {
                inbound.text = text_of(&message["text"]["body"]).unwrap_or_default().into();
            } else {
                let part = &message[kind];
                let url = text_of(&part["url"]).ok_or_else(|| {
                    ParseError::Malformed(format!("message.{kind}.url is missing"))
                })?;
                inbound.text = text_of(&part["caption"]).unwrap_or_default().into();
                inbound.media.push(InboundMedia {
                    url: url.into(),
                    mime: text_of(&part["mimeType"]).map(str::to_string),
                    filename: text_of(&part["filename"]).map(str::to_string),
                });
            }
        }
        Some("mms") => {
            inbound.mms = true;
            inbound.customer = number("msisdn")?;
            let mut texts = Vec::new();
            if let Some(subject) = text_of(&event["content"]["subject"]) {
                texts.push(subject.to_string());
            }
            for part in event["content"]["attachments"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(t) = text_of(&part["messageText"]) {
                    texts.push(t.to_string());
                }
                let url = text_of(&part["mediaUrl"]);
                match (part["type"].as_str(), url) {
                    (Some("text"), Some(url)) => inbound.text_urls.push(url.into()),
                    (_, Some(url)) => inbound.media.push(InboundMedia {
                        url: url.into(),
                        mime: text_of(&part["mimeType"]).map(str::to_string),
                        filename: None,
                    }),
                    _ => {}
                }
            }
            inbound.text = texts.join("\n");
        }
        _ => {
            return Err(ParseError::NotRelayed(
                "not an SMS, MMS or WhatsApp message",
            ))
        }
    }
    Ok(inbound)
}

/// A delivery receipt (`deliveryInfoNotification`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub transid: String,
    /// What we sent as `correlationid`: our transcript line's id.
    pub correlation_id: String,
    pub code: String,
    /// `submitted`, `delivered`, `read` or `failed`.
    pub status: String,
    pub description: String,
}

/// Parses a delivery receipt; codes 7500 / 7501 / 7502 are successes, any
/// other is a failure.
pub fn parse_receipt(event: &serde_json::Value) -> Result<Receipt, ParseError> {
    let n = &event["deliveryInfoNotification"];
    if n.is_null() {
        return Err(ParseError::Malformed(
            "deliveryInfoNotification is missing".into(),
        ));
    }
    let info = &n["deliveryInfo"];
    let code = match &info["code"] {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(ParseError::Malformed("deliveryInfo.code is missing".into())),
    };
    let status = match code.as_str() {
        "7501" => "submitted",
        "7500" => "delivered",
        "7502" => "read",
        _ => "failed",
    };
    let description = [
        text_of(&info["Description"]).or(text_of(&info["description"])),
        text_of(&info["additionalInfo"]),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    Ok(Receipt {
        transid: text_of(&n["transid"]).unwrap_or_default().to_string(),
        correlation_id: text_of(&n["correlationid"])
            .or(text_of(&n["correlationId"]))
            .unwrap_or_default()
            .to_string(),
        code,
        status: status.into(),
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sms_whatsapp_text_and_media_are_read() {
        let sms = parse_inbound(
            &json!({"channel":"sms","transid":"t1","msisdn":"+447700900123",
            "message":{"type":"text","text":"  hello "}}),
        )
        .unwrap();
        assert_eq!(
            (
                sms.channel,
                sms.mms,
                sms.customer.as_str(),
                sms.text.as_str()
            ),
            (Channel::Sms, false, "+447700900123", "hello")
        );

        let wa = parse_inbound(
            &json!({"channel":"whatsapp","transid":"t2","waid":"447700900123",
            "profileName":"Jane","message":{"type":"image","image":{"url":"https://c/m/1/a.png",
            "mimeType":"image/png","caption":"look"}}}),
        )
        .unwrap();
        assert_eq!(wa.channel, Channel::Whatsapp);
        assert_eq!(wa.profile_name.as_deref(), Some("Jane"));
        assert_eq!(wa.text, "look");
        assert_eq!(wa.media[0].url, "https://c/m/1/a.png");
        assert_eq!(wa.media[0].mime.as_deref(), Some("image/png"));
    }

    #[test]
    fn mms_parts_keep_their_order_and_text_parts_by_url_are_listed() {
        let mms = parse_inbound(
            &json!({"channel":"mms","transid":"t3","msisdn":"+16475550100",
            "content":{"subject":"","attachments":[
                {"type":"text","messageText":"hi"},
                {"type":"image","mediaUrl":"https://c/1.png","mimeType":"image/png"},
                {"type":"text","mediaUrl":"https://c/t.txt"},
                {"type":"video","mediaUrl":"https://c/2.mp4","mimeType":"video/mp4"}]}}),
        )
        .unwrap();
        assert!(mms.mms);
        assert_eq!(mms.channel, Channel::Sms);
        assert_eq!(mms.text, "hi");
        assert_eq!(mms.text_urls, vec!["https://c/t.txt"]);
        let urls: Vec<_> = mms.media.iter().map(|m| m.url.as_str()).collect();
        assert_eq!(urls, vec!["https://c/1.png", "https://c/2.mp4"]);
    }

    #[test]
    fn bad_events_name_what_is_missing() {
        assert_eq!(
            parse_inbound(&json!({"channel":"sms","msisdn":"+1"})),
            Err(ParseError::Malformed("transid is missing".into()))
        );
        assert!(matches!(
            parse_inbound(&json!({"channel":"whatsapp","transid":"t"})),
            Err(ParseError::Malformed(m)) if m.contains("waid")
        ));
        assert!(matches!(
            parse_inbound(&json!({"channel":"rcs","transid":"t"})),
            Err(ParseError::NotRelayed(_))
        ));
    }

    #[test]
    fn receipts_map_codes_to_statuses() {
        let r = |code: &str| {
            parse_receipt(
                &json!({"deliveryInfoNotification":{"deliveryInfo":{"code":code,
                "Description":"Re-engagement message","additionalInfo":"(#131047)"},
                "transid":"tx","correlationid":"row-1"}}),
            )
            .unwrap()
        };
        assert_eq!(r("7501").status, "submitted");
        assert_eq!(r("7500").status, "delivered");
        assert_eq!(r("7502").status, "read");
        let failed = r("7710");
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.correlation_id, "row-1");
        assert_eq!(failed.description, "Re-engagement message (#131047)");
        assert!(parse_receipt(&json!({"x":1})).is_err());
    }
}
