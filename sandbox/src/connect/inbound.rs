//! Customer messages from the phone page, posted to the product in the
//! shapes of Connect's outbound webhook (see docs/sandbox.md, "Inbound
//! customer messages").

use axum::body::Bytes;
use serde_json::{json, Value};

use super::media::store_media;
use super::{digits, valid_msisdn};
use crate::delivery::{self, Delivery, DeliveryKind};
use crate::state::{timestamp, PhoneMessage, Shared};

/// What the phone shows as the business's WhatsApp app and SMS sender.
pub const BUSINESS_WHATSAPP_APP: &str = "sandbox-whatsapp-app";
pub const BUSINESS_SENDER_ID: &str = "SANDBOX";

/// A message the customer typed on the phone page.
pub struct CustomerMessage {
    pub channel: String,
    pub number: String,
    pub name: Option<String>,
    pub text: Option<String>,
    pub file: Option<(Bytes, String, String)>,
}

/// Records a customer's message and posts it to the product's inbound URL in
/// the shape of Connect's outbound webhook for the channel (see
/// docs/sandbox.md, "Inbound customer messages").
pub fn receive_from_customer(sandbox: &Shared, m: CustomerMessage) -> Result<PhoneMessage, String> {
    let channel = m.channel.to_lowercase();
    if !["sms", "whatsapp", "mms"].contains(&channel.as_str()) {
        return Err("channel must be sms, whatsapp or mms".into());
    }
    if !valid_msisdn(&m.number) {
        return Err("number must be an international number, e.g. +447700900123".into());
    }
    let text = m.text.filter(|t| !t.trim().is_empty());
    if text.is_none() && m.file.is_none() {
        return Err("type a message or choose a file".into());
    }
    if channel == "sms" && m.file.is_some() {
        return Err("SMS cannot carry files; choose MMS".into());
    }
    let number = digits(&m.number);
    let tid = uuid::Uuid::new_v4().to_string();
    let now = sandbox.now();
    let at = timestamp(now);
    let mut world = sandbox.world();
    let media = m.file.map(|(bytes, content_type, filename)| {
        let url = store_media(sandbox, &mut world, bytes, &content_type, &filename);
        (url, content_type, filename)
    });
    let mut payload = envelope(&channel, &number, m.name.as_deref(), &tid, &at);
    match channel.as_str() {
        "whatsapp" => {
            // With a file, the text travels as its caption.
            if media.is_none() {
                payload["message"] = json!(text.clone().unwrap_or_default());
            }
            // Connect sends the attachments as a JSON string.
            let attachments: Vec<Value> = media
                .iter()
                .map(|(url, mime, _)| json!({"mime_type": mime, "caption": text.clone().unwrap_or_default(), "url": url}))
                .collect();
            payload["attachments"] = json!(Value::from(attachments).to_string());
            world.last_inbound.insert(number.clone(), now);
        }
        "sms" => payload["message"] = json!(text.clone().unwrap_or_default()),
        _ => {
            // MMS parts: a JSON string of `{"file": url}`, text as a .txt part,
            // and the SMIL layout part real handsets add.
            let mut parts = Vec::new();
            if let Some((url, _, _)) = &media {
                parts.push(json!({ "file": url }));
            }
            if let Some(t) = &text {
                let url = store_media(
                    sandbox,
                    &mut world,
                    Bytes::from(t.clone()),
                    "text/plain",
                    "text_0.txt",
                );
                parts.push(json!({ "file": url }));
            }
            let smil = store_media(
                sandbox,
                &mut world,
                Bytes::from_static(SMIL),
                "application/smil",
                "layout.smil",
            );
            parts.push(json!({ "file": smil }));
            payload["message"] = json!(Value::from(parts).to_string());
        }
    }
    let message = PhoneMessage {
        id: tid,
        app: if channel == "whatsapp" {
            "whatsapp"
        } else {
            "sms"
        }
        .into(),
        channel: channel.clone(),
        number,
        direction: "inbound".into(),
        text,
        media_url: media.as_ref().map(|(url, _, _)| url.clone()),
        media_type: media.as_ref().map(|(_, mime, _)| mime.clone()),
        filename: media.map(|(_, _, name)| name),
        template: None,
        attachments: Vec::new(),
        status: "received".into(),
        error_code: None,
        at,
        receipt: None,
    };
    world.phone.push(message.clone());
    drop(world);
    deliver_inbound(sandbox, &payload);
    Ok(message)
}

/// A minimal SMIL layout, as MMS clients attach one.
const SMIL: &[u8] = b"<smil><body><par dur=\"5000ms\"><img src=\"image\"/><text src=\"text_0.txt\"/></par></body></smil>";

/// The common part of Connect's inbound events: `channel` capitalised as
/// Connect writes it, `tid` (also as `transid`), times, and the sender
/// (`oa` and our number `da` for SMS/MMS; `waid`, `username`, `appId` and
/// `event: "MO"` with the empty parts as JSON strings for WhatsApp).
fn envelope(channel: &str, number: &str, name: Option<&str>, tid: &str, at: &str) -> Value {
    let mut payload = json!({"tid": tid, "transid": tid, "ts": at, "datetime": at});
    match channel {
        "whatsapp" => {
            payload["channel"] = json!("WhatsApp");
            payload["event"] = json!("MO");
            payload["waid"] = json!(number);
            payload["appId"] = json!(BUSINESS_WHATSAPP_APP);
            payload["username"] = json!(name.unwrap_or("Customer"));
            payload["userId"] = json!("");
            payload["message"] = json!("");
            payload["attachments"] = json!("[]");
            payload["location"] = json!("");
            payload["contacts"] = json!("[]");
            payload["system"] = json!("");
        }
        _ => {
            payload["channel"] = json!(if channel == "mms" { "MMS" } else { "SMS" });
            payload["oa"] = json!(format!("+{number}"));
            payload["da"] = json!(BUSINESS_SENDER_ID);
        }
    }
    payload
}

/// Posts an inbound event to the product, signed with `x-hub-signature`
/// (hex HMAC-SHA256 of the exact body) when the sandbox has a hub secret.
fn deliver_inbound(sandbox: &Shared, payload: &Value) {
    let Some(url) = &sandbox.config.connect_inbound_url else {
        return;
    };
    let body = serde_json::to_vec(payload).expect("JSON values serialize");
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(secret) = &sandbox.config.connect_webhook_secret {
        headers.push(("x-hub-signature".to_string(), hub_signature(secret, &body)));
    }
    delivery::enqueue(
        sandbox,
        Delivery::new(DeliveryKind::Inbound, url.clone(), body, headers),
    );
}

/// Hex HMAC-SHA256 of `body` (Connect's outbound webhook signature).
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// WhatsApp content that is not text or a file, sent from the phone's API.
#[derive(Debug, serde::Deserialize)]
pub struct WhatsAppEvent {
    pub number: String,
    pub name: Option<String>,
    /// location | contacts | button | interactive | reaction | unsupported
    pub kind: String,
    /// location: `{latitude, longitude, name?, address?}`; contacts: a list
    /// of WhatsApp contact objects; button: `{text, payload?}`; interactive:
    /// `{type, button_reply | list_reply}`; reaction: `{emoji, message_id?}`;
    /// unsupported: `{type}`.
    pub content: Value,
}

/// Delivers a WhatsApp location, contacts card, button or list reply,
/// reaction, or a message of a type we cannot show, in Connect's shape
/// (parts as JSON strings, a button reply as the `postback` event).
pub fn receive_whatsapp_event(sandbox: &Shared, e: WhatsAppEvent) -> Result<PhoneMessage, String> {
    if !valid_msisdn(&e.number) {
        return Err("number must be an international number, e.g. +447700900123".into());
    }
    let number = digits(&e.number);
    let tid = uuid::Uuid::new_v4().to_string();
    let now = sandbox.now();
    let at = timestamp(now);
    let mut payload = envelope("whatsapp", &number, e.name.as_deref(), &tid, &at);
    let c = &e.content;
    match e.kind.as_str() {
        "location" if c["latitude"].is_number() && c["longitude"].is_number() => {
            payload["location"] = json!(c.to_string());
        }
        "contacts" if c.is_array() => payload["contacts"] = json!(c.to_string()),
        "button" if c["text"].is_string() => {
            payload["event"] = json!("postback");
            payload["buttonText"] = c["text"].clone();
            payload["buttonPayload"] = c.get("payload").cloned().unwrap_or(c["text"].clone());
        }
        "interactive" if c.is_object() => payload["interactive"] = json!(c.to_string()),
        "reaction" if c["emoji"].is_string() => payload["reaction"] = json!(c.to_string()),
        "unsupported" if c["type"].is_string() => payload["type"] = c["type"].clone(),
        _ => {
            return Err(format!(
                "kind {} needs its content: location {{latitude, longitude}}, contacts [..], \
                 button {{text}}, interactive {{..}}, reaction {{emoji}}, unsupported {{type}}",
                e.kind
            ))
        }
    }
    let message = PhoneMessage {
        id: tid,
        app: "whatsapp".into(),
        channel: "whatsapp".into(),
        number: number.clone(),
        direction: "inbound".into(),
        text: Some(format!("[{}] {}", e.kind, c)),
        media_url: None,
        media_type: None,
        filename: None,
        template: None,
        attachments: Vec::new(),
        status: "received".into(),
        error_code: None,
        at,
        receipt: None,
    };
    let mut world = sandbox.world();
    world.last_inbound.insert(number, now);
    world.phone.push(message.clone());
    drop(world);
    deliver_inbound(sandbox, &payload);
    Ok(message)
}
