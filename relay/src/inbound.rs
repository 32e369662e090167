//! What Connect delivers to us: customers' messages (SMS, WhatsApp, MMS) and
//! delivery receipts, parsed into one shape each. Pure: no I/O.
//!
//! Customers' messages come in the shapes of Connect's outbound webhooks /
//! data streams (docs/platform-contracts.md names the page for each): flat
//! objects whose `channel` is `SMS`, `WhatsApp` or `MMS` (any case), with
//! nested parts (WhatsApp `attachments`, `location`, `contacts`, the MMS
//! `message`) given as JSON **strings**. Arrays and objects are accepted too.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use domain::card_numbers::mask_card_numbers;
use domain::model::{Customer, MessageStatus};
use domain::phone::PhoneRegion;
use domain::FieldError;

use domain::Channel;

/// A customer's message, as stored in the job that handles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbound {
    /// SMS for MMS too: they share the customer's number and session.
    pub channel: Channel,
    pub mms: bool,
    /// The sender's channel id as Connect gave it.
    pub customer: String,
    /// Connect's id of the message (`tid`): the dedup key.
    pub transid: String,
    /// WhatsApp's profile name, when given.
    pub profile_name: Option<String>,
    /// The text, trimmed; empty when there is none. Content that has no
    /// text of its own (a location, a reaction...) is written out here.
    pub text: String,
    /// MMS text parts given by URL, to fetch.
    pub text_urls: Vec<String>,
    pub media: Vec<InboundMedia>,
    /// The customer typed nothing: `text` is only what we wrote out (a
    /// location, a reaction, a note...), so it is no answer to a question.
    #[serde(default)]
    pub written_out: bool,
    /// Card numbers were masked in `text` or `profile_name` when the
    /// message was accepted (the customer may be warned).
    #[serde(default)]
    pub cards: bool,
    /// `text` as written, sealed, for the agent only
    /// (`CM_PCI_MASK_FOR_AGENT=false`); sealed with `transid` as context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_text: Option<String>,
    /// The language we answer in: looked up when the job runs (the
    /// contact's, else the default), never carried in the job.
    #[serde(skip)]
    pub language: domain::Language,
    /// The message runs the usual way after the bot (`crate::bot`): it
    /// handed the customer over, or could not take the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_bot: Option<crate::bot::FromBot>,
}

impl Inbound {
    /// What the bot told the agent when it handed the customer over.
    pub(crate) fn bot_note(&self) -> Option<&str> {
        match &self.from_bot {
            Some(crate::bot::FromBot::HandedOver { note, .. }) => note.as_deref(),
            _ => None,
        }
    }

    /// Who wrote. The job sets `customer` to the canonical id before it is
    /// read (`Relay::customer_message`), so this is never parsed again.
    pub fn who(&self) -> Customer {
        Customer {
            channel: self.channel,
            id: self.customer.clone(),
        }
    }

    /// Masks the card numbers in what the customer wrote (seed: PCI
    /// compliance), before anything of it is stored; the text as written
    /// when it held any.
    pub fn mask_card_numbers(&mut self) -> Option<String> {
        if let Some(name) = &self.profile_name {
            let masked = mask_card_numbers(name);
            if masked.cards > 0 {
                self.profile_name = Some(masked.text);
                self.cards = true;
            }
        }
        let masked = mask_card_numbers(&self.text);
        if masked.cards == 0 {
            return None;
        }
        self.cards = true;
        Some(std::mem::replace(&mut self.text, masked.text))
    }

    /// Who wrote, from the id as Connect gave it (any written form of the
    /// number, read in `region`): the one parse of a message's sender.
    pub fn parse_customer(&self, region: PhoneRegion) -> Result<Customer, FieldError> {
        Customer::parse(self.channel, "customer", &self.customer, region)
    }
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
    /// Not a customer message we relay (another channel).
    NotRelayed(&'static str),
    Malformed(String),
}

fn text_of(v: &Value) -> Option<&str> {
    v.as_str().map(str::trim).filter(|t| !t.is_empty())
}

/// A number or a string, as text (coordinates come either way).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        _ => text_of(v).map(str::to_string),
    }
}

/// The first of `fields` that has text.
fn first_text<'a>(v: &'a Value, fields: &[&str]) -> Option<&'a str> {
    fields.iter().find_map(|f| text_of(&v[*f]))
}

/// A nested part: Connect sends it as a JSON string ("[]", "" when empty);
/// an array or object is taken as is. `None` when empty or absent.
fn nested(v: &Value) -> Option<Value> {
    let value = match v {
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => serde_json::from_str(s).ok()?,
        Value::Null => return None,
        other => other.clone(),
    };
    match &value {
        Value::Array(a) if a.is_empty() => None,
        Value::Object(o) if o.is_empty() => None,
        _ => Some(value),
    }
}

/// A nested part, or the string itself when it is not JSON.
fn nested_or_text(v: &Value) -> Option<Value> {
    nested(v).or_else(|| text_of(v).map(|t| Value::String(t.to_string())))
}

/// A nested part as a list (one object counts as a list of one).
fn nested_list(v: &Value) -> Vec<Value> {
    match nested(v) {
        Some(Value::Array(items)) => items,
        Some(item) => vec![item],
        None => Vec::new(),
    }
}

/// What the agent reads for a message we cannot show.
pub fn unsupported_note(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("(The customer sent {article} {kind} message, which cannot be shown here.)")
}

/// Parses a Connect inbound-message event.
pub fn parse_inbound(event: &Value) -> Result<Inbound, ParseError> {
    // `tid` is the id every channel's example carries; `transid` the older
    // name, `messageid` RCS-style events'.
    let transid = first_text(
        event,
        &["tid", "transid", "transId", "messageid", "messageId"],
    )
    .ok_or_else(|| ParseError::Malformed("tid (the message id) is missing".into()))?
    .to_string();
    let channel = event["channel"].as_str().unwrap_or_default().to_lowercase();
    let sender = |fields: &[&str]| {
        first_text(event, fields)
            .map(str::to_string)
            .ok_or_else(|| ParseError::Malformed(format!("{} (the sender) is missing", fields[0])))
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
        written_out: false,
        cards: false,
        sealed_text: None,
        language: domain::Language::default(),
        from_bot: None,
    };
    match channel.as_str() {
        "sms" => {
            inbound.customer = sender(&["oa"])?;
            inbound.text = text_of(&event["message"]).unwrap_or_default().into();
        }
        "whatsapp" => {
            inbound.channel = Channel::Whatsapp;
            inbound.customer = sender(&["waid"])?;
            inbound.profile_name = text_of(&event["username"]).map(str::to_string);
            whatsapp_content(event, &mut inbound);
        }
        "mms" => {
            inbound.mms = true;
            inbound.customer = sender(&["oa"])?;
            mms_content(event, &mut inbound);
        }
        _ => {
            return Err(ParseError::NotRelayed(
                "not an SMS, MMS or WhatsApp message",
            ))
        }
    }
    Ok(inbound)
}

/// A WhatsApp message's content: text, files, or one of the kinds without
/// text of their own, written out for the agent. Anything else becomes a
/// note, so nothing a customer sends disappears silently.
fn whatsapp_content(event: &Value, inbound: &mut Inbound) {
    let mut lines: Vec<String> = Vec::new();
    if let Some(text) = text_of(&event["message"]) {
        lines.push(text.into());
    }
    let mut typed = lines.len();
    for part in nested_list(&event["attachments"]) {
        let Some(url) = first_text(&part, &["url", "link", "file", "mediaUrl"]) else {
            continue;
        };
        if let Some(caption) = text_of(&part["caption"]) {
            if !lines.iter().any(|l| l == caption) {
                lines.push(caption.into());
                typed += 1;
            }
        }
        inbound.media.push(InboundMedia {
            url: url.into(),
            mime: first_text(&part, &["mime_type", "mimeType", "contentType"]).map(str::to_string),
            filename: first_text(&part, &["filename", "fileName"]).map(str::to_string),
        });
    }
    if let Some(location) = nested(&event["location"]) {
        lines.push(location_line(&location));
    }
    for contact in nested_list(&event["contacts"]) {
        lines.push(contact_line(&contact));
    }
    if let Some(reply) = first_text(event, &["buttonText", "buttonPayload"]) {
        lines.push(format!("Replied: {reply}"));
    }
    if let Some(interactive) = nested(&event["interactive"]) {
        lines.push(interactive_line(&interactive));
    }
    if let Some(reaction) = nested(&event["reaction"]) {
        lines.push(match text_of(&reaction["emoji"]) {
            Some(emoji) => format!("Reacted {emoji} to a message"),
            None => "Removed a reaction from a message".into(),
        });
    }
    // WhatsApp's notices (e.g. the customer changed number): an object with
    // a `body`, or plain text.
    match nested_or_text(&event["system"]) {
        Some(Value::String(t)) => lines.push(format!("(WhatsApp: {t})")),
        Some(system) => lines.push(format!(
            "(WhatsApp: {})",
            first_text(&system, &["body"]).unwrap_or("a system notice")
        )),
        None => {}
    }
    inbound.written_out = typed == 0;
    if lines.is_empty() && inbound.media.is_empty() {
        let kind = first_text(event, &["type", "messageType", "message_type"])
            .or_else(|| text_of(&event["event"]).filter(|e| !e.eq_ignore_ascii_case("MO")))
            .unwrap_or("new kind of");
        lines.push(unsupported_note(kind));
    }
    inbound.text = lines.join("\n");
}

/// "📍 Location: 51.5, -0.12 (name, address)" (WhatsApp's location fields).
fn location_line(l: &Value) -> String {
    let at = [scalar(&l["latitude"]), scalar(&l["longitude"])];
    let mut line = match at {
        [Some(lat), Some(lon)] => format!("📍 Location: {lat}, {lon}"),
        _ => "📍 Location".to_string(),
    };
    let named: Vec<&str> = ["name", "address"]
        .iter()
        .filter_map(|f| text_of(&l[*f]))
        .collect();
    if !named.is_empty() {
        line.push_str(&format!(" ({})", named.join(", ")));
    }
    if let Some(url) = text_of(&l["url"]) {
        line.push_str(&format!(" {url}"));
    }
    line
}

/// "Contact: Ann Smith +447700900123, ann@example.com" (a shared vCard).
fn contact_line(c: &Value) -> String {
    let name = first_text(&c["name"], &["formatted_name", "formattedName"])
        .map(str::to_string)
        .or_else(|| {
            let parts: Vec<&str> = ["first_name", "last_name"]
                .iter()
                .filter_map(|f| text_of(&c["name"][*f]))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
        .or_else(|| text_of(&c["name"]).map(str::to_string))
        .unwrap_or_else(|| "(no name)".into());
    let mut details: Vec<String> = Vec::new();
    for phone in c["phones"].as_array().into_iter().flatten() {
        if let Some(p) = first_text(phone, &["phone", "wa_id"]) {
            details.push(p.into());
        }
    }
    for email in c["emails"].as_array().into_iter().flatten() {
        if let Some(e) = text_of(&email["email"]) {
            details.push(e.into());
        }
    }
    if details.is_empty() {
        format!("Contact: {name}")
    } else {
        format!("Contact: {name} {}", details.join(", "))
    }
}

/// "Replied: Yes" for a reply button or a list row.
fn interactive_line(i: &Value) -> String {
    let reply = ["button_reply", "list_reply", "nfm_reply"]
        .iter()
        .map(|k| &i[*k])
        .find(|r| r.is_object())
        .unwrap_or(i);
    let title = first_text(reply, &["title", "text", "body", "id"]).unwrap_or("(no title)");
    match text_of(&reply["description"]) {
        Some(d) => format!("Replied: {title} ({d})"),
        None => format!("Replied: {title}"),
    }
}

/// An MMS's parts (`message`: a JSON string of `[{"file": url}]`): SMIL
/// layout skipped, text files listed to fetch, the rest are files in order.
/// A `message` that is not a part list is the text itself.
fn mms_content(event: &Value, inbound: &mut Inbound) {
    let mut texts: Vec<String> = Vec::new();
    if let Some(subject) = text_of(&event["subject"]) {
        texts.push(subject.into());
    }
    let parts = match &event["message"] {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ (Value::Array(_) | Value::Object(_))) => nested_list(&v),
            _ => {
                if let Some(t) = text_of(&event["message"]) {
                    texts.push(t.into());
                }
                Vec::new()
            }
        },
        other => nested_list(other),
    };
    for part in parts {
        if let Some(t) = first_text(&part, &["text", "messageText"]) {
            texts.push(t.into());
        }
        let Some(url) = first_text(&part, &["file", "url", "mediaUrl"]) else {
            continue;
        };
        let mime = first_text(
            &part,
            &["contentType", "content-type", "mimeType", "mime_type"],
        )
        .map(str::to_lowercase);
        let path = url.split(['?', '#']).next().unwrap_or(url).to_lowercase();
        let is = |ext: &str, kind: &str| {
            path.ends_with(ext) || mime.as_deref().is_some_and(|m| m.starts_with(kind))
        };
        if is(".smil", "application/smil") {
            continue;
        }
        if is(".txt", "text/plain") {
            inbound.text_urls.push(url.into());
            continue;
        }
        inbound.media.push(InboundMedia {
            url: url.into(),
            mime,
            filename: None,
        });
    }
    inbound.text = texts.join("\n");
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
    pub status: MessageStatus,
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
        "7501" => MessageStatus::Submitted,
        "7500" => MessageStatus::Delivered,
        "7502" => MessageStatus::Read,
        _ => MessageStatus::Failed,
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
        status,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A fixture written from Connect's documentation (see its README).
    fn fixture(name: &str) -> Inbound {
        let path = format!(
            "{}/../platform/tests/fixtures/connect/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse_inbound(&serde_json::from_str(&body).unwrap()).unwrap()
    }

    #[test]
    fn sms_mo_is_read_from_oa_message_and_tid() {
        let sms = fixture("sms_mo");
        assert_eq!(
            (
                sms.channel,
                sms.mms,
                sms.customer.as_str(),
                sms.text.as_str()
            ),
            (
                Channel::Sms,
                false,
                "+447700900543",
                "Hello, is anyone there?"
            )
        );
        assert_eq!(sms.transid, "cq9a0c81-2b1e-4f05-9c2d-36a1b2c3d43a");
    }

    #[test]
    fn whatsapp_text_and_media_are_read() {
        let text = fixture("whatsapp_text");
        assert_eq!(text.channel, Channel::Whatsapp);
        assert_eq!(text.customer, "447700900123");
        assert_eq!(text.profile_name.as_deref(), Some("Jane Doe"));
        assert_eq!(text.text, "Hi, I would like to book an appointment");
        assert!(text.media.is_empty());

        let image = fixture("whatsapp_image");
        assert_eq!(image.text, "My receipt");
        assert_eq!(
            image.media,
            vec![InboundMedia {
                url: "https://media.us.webexconnect.io/wa/a1b2c3d4/receipt.jpg".into(),
                mime: Some("image/jpeg".into()),
                filename: None,
            }]
        );
    }

    #[test]
    fn whatsapp_kinds_without_text_are_written_out() {
        assert_eq!(
            fixture("whatsapp_location").text,
            "📍 Location: 51.5, -0.12 (Head office, 1 Main Street, London)"
        );
        assert_eq!(
            fixture("whatsapp_contacts").text,
            "Contact: Ann Smith +447700900777, ann@example.com"
        );
        assert_eq!(fixture("whatsapp_button").text, "Replied: Yes");
        assert_eq!(
            fixture("whatsapp_interactive").text,
            "Replied: Tuesday 10:00 (Dr Patel)"
        );
        assert_eq!(fixture("whatsapp_reaction").text, "Reacted 👍 to a message");
        assert!(fixture("whatsapp_location").written_out);
        assert!(!fixture("whatsapp_text").written_out);
        assert!(!fixture("whatsapp_image").written_out);
    }

    #[test]
    fn an_unknown_whatsapp_kind_becomes_a_note() {
        let m = fixture("whatsapp_unsupported");
        assert_eq!(m.text, unsupported_note("order"));
        assert!(m
            .text
            .contains("sent an order message, which cannot be shown here"));
    }

    #[test]
    fn mms_parts_from_a_json_string_skip_layout_and_list_text_files() {
        let mms = fixture("mms");
        assert!(mms.mms);
        assert_eq!(mms.channel, Channel::Sms);
        assert_eq!(mms.customer, "+16475550100");
        assert_eq!(
            mms.text_urls,
            vec!["http://mms.us.webexconnect.io/mms/0a1b2c3d/text_0.txt"]
        );
        let urls: Vec<_> = mms.media.iter().map(|m| m.url.as_str()).collect();
        assert_eq!(
            urls,
            vec!["http://mms.us.webexconnect.io/mms/0a1b2c3d/IMG_0001.jpg"]
        );
    }

    #[test]
    fn parts_are_accepted_as_arrays_and_objects_and_channels_in_any_case() {
        let wa = parse_inbound(&json!({"channel":"whatsapp","tid":"t","waid":"44",
            "attachments":[{"mimeType":"application/pdf","url":"https://c/a.pdf","filename":"a.pdf"}],
            "location":{"latitude":"1.5","longitude":"2"}}))
        .unwrap();
        assert_eq!(wa.media[0].filename.as_deref(), Some("a.pdf"));
        assert_eq!(wa.text, "📍 Location: 1.5, 2");
        let mms = parse_inbound(&json!({"channel":"mms","tid":"t","oa":"+1",
            "message":[{"file":"https://c/1.png"},{"file":"https://c/2.mp4"}]}))
        .unwrap();
        assert_eq!(mms.media.len(), 2);
        let sms = parse_inbound(&json!({"channel":"Sms","transid":"t2","oa":"+1","message":"hi"}))
            .unwrap();
        assert_eq!((sms.transid.as_str(), sms.text.as_str()), ("t2", "hi"));
        let notice = |system: Value| {
            parse_inbound(&json!({"channel":"WhatsApp","tid":"t","waid":"44","system":system}))
                .unwrap()
                .text
        };
        assert_eq!(
            notice(json!("{\"body\":\"Jane changed her number\"}")),
            "(WhatsApp: Jane changed her number)"
        );
        assert_eq!(
            notice(json!("number changed")),
            "(WhatsApp: number changed)"
        );
    }

    #[test]
    fn bad_events_name_what_is_missing() {
        assert_eq!(
            parse_inbound(&json!({"channel":"SMS","oa":"+1"})),
            Err(ParseError::Malformed(
                "tid (the message id) is missing".into()
            ))
        );
        assert!(matches!(
            parse_inbound(&json!({"channel":"WhatsApp","tid":"t"})),
            Err(ParseError::Malformed(m)) if m.contains("waid")
        ));
        assert!(matches!(
            parse_inbound(&json!({"channel":"RCS","tid":"t"})),
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
        assert_eq!(r("7501").status, MessageStatus::Submitted);
        assert_eq!(r("7500").status, MessageStatus::Delivered);
        assert_eq!(r("7502").status, MessageStatus::Read);
        let failed = r("7710");
        assert_eq!(failed.status, MessageStatus::Failed);
        assert_eq!(failed.correlation_id, "row-1");
        assert_eq!(failed.description, "Re-engagement message (#131047)");
        assert!(parse_receipt(&json!({"x":1})).is_err());
    }
}
