//! `POST /resources/v1/messaging`: SMS and WhatsApp (text, media, template).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::outbound::{accept, idempotency, Outbound};
use super::{check_key, parse_json, text_field, url_filename, valid_msisdn};
use super::{ConnectError, MAX_DESTINATIONS};
use crate::state::Shared;

const MAX_SMS_CHARS: usize = 1024;
const MAX_WHATSAPP_CHARS: usize = 4096;
/// WhatsApp free-form messages only within 24 h of the customer's last message.
const WHATSAPP_WINDOW_HOURS: i64 = 24;
const WHATSAPP_MEDIA_TYPES: &[&str] = &["image", "audio", "document", "video", "sticker"];
const WHATSAPP_MIME_TYPES: &[&str] = &[
    "image/jpeg",
    "image/jpg",
    "image/png",
    "image/webp",
    "audio/aac",
    "audio/mp4",
    "audio/mpeg",
    "audio/amr",
    "audio/ogg",
    "video/mp4",
    "video/3gpp",
    "application/pdf",
    "text/plain",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];
/// The send route, with its own Idempotency-Key memory.
const V1_ROUTE: &str = "/connect/resources/v1/messaging";
/// WhatsApp templates "registered" in the sandbox, with every variable they
/// declare: a send must give all of them and no others, as Connect requires
/// ("Configuration of all parameters is mandatory",
/// https://developers.webexconnect.io/reference/whatsapp-template-messages).
/// Other template ids are accepted with any variables. Both are the
/// sandbox's own: a re-engagement message, and an order update whose order
/// number an agent types when choosing it at start.
pub const TEMPLATES: &[(&str, &[&str])] = &[
    ("sandbox_reengagement", &["customer", "agent", "shop"]),
    ("sandbox_order_update", &["customer", "order"]),
];

/// `POST /resources/v1/messaging`: SMS and WhatsApp (text, media, template).
pub async fn messaging_v1(
    State(sandbox): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match check_key(&sandbox, &headers) {
        Ok(()) => send_v1(&sandbox, V1_ROUTE, &headers, &body),
        Err(e) => e.into_response(),
    }
}

/// The messaging API v1 after authentication; `route` scopes the
/// Idempotency-Key.
pub fn send_v1(
    sandbox: &Shared,
    route: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let result = idempotency(route, headers).and_then(|idempotency| {
        let request = parse_json(body)?;
        let outbound = validate_v1(sandbox, &request)?;
        let notify = text_field(&request, "/notifyurl");
        Ok(accept(
            sandbox,
            "v1",
            &request,
            outbound,
            notify,
            idempotency,
        ))
    });
    match result {
        Ok(answer) => answer,
        Err(e) => e.into_response(),
    }
}

fn validate_v1(sandbox: &Shared, request: &Value) -> Result<Vec<Outbound>, ConnectError> {
    let channel = text_field(request, "/deliverychannel")
        .ok_or_else(|| ConnectError::missing("deliverychannel"))?
        .to_lowercase();
    let address_field = match channel.as_str() {
        "sms" => "msisdn",
        "whatsapp" => "waid",
        _ => return Err(ConnectError::invalid("deliverychannel")),
    };
    let destinations = request
        .get("destination")
        .and_then(Value::as_array)
        .ok_or_else(|| ConnectError::missing("destination"))?;
    let mut addresses = Vec::new();
    for destination in destinations {
        for address in destination
            .get(address_field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let address = address
                .as_str()
                .ok_or_else(|| ConnectError::invalid(address_field))?;
            addresses.push(address.to_string());
        }
    }
    if addresses.is_empty() {
        return Err(ConnectError::missing(&format!(
            "destination.{address_field}"
        )));
    }
    if addresses.len() > MAX_DESTINATIONS {
        return Err(ConnectError::new(
            "7009",
            "Maximum destinations per request exceeded.",
        ));
    }
    if channel == "sms" {
        let text = text_field(request, "/channels/sms/text")
            .ok_or_else(|| ConnectError::missing("channels.sms.text"))?;
        return Ok(addresses
            .into_iter()
            .map(|destination| {
                let failure = if !valid_msisdn(&destination) {
                    Some(("7102", "Invalid address".to_string()))
                } else if text.chars().count() > MAX_SMS_CHARS {
                    Some(("7107", "Message length exceeded".to_string()))
                } else {
                    None
                };
                Outbound {
                    channel: "sms",
                    destination,
                    text: Some(text.clone()),
                    media_url: None,
                    media_type: None,
                    filename: None,
                    template: None,
                    attachments: Vec::new(),
                    failure,
                    fetch_media: false,
                }
            })
            .collect());
    }
    validate_whatsapp(sandbox, request, addresses)
}

fn validate_whatsapp(
    sandbox: &Shared,
    request: &Value,
    addresses: Vec<String>,
) -> Result<Vec<Outbound>, ConnectError> {
    text_field(request, "/appid").ok_or_else(|| ConnectError::missing("appid"))?;
    let mut outbound = Outbound {
        channel: "whatsapp",
        destination: String::new(),
        text: None,
        media_url: None,
        media_type: None,
        filename: None,
        template: None,
        attachments: Vec::new(),
        failure: None,
        fetch_media: false,
    };
    let free_form = if let Some(message) = request.get("message") {
        let template = text_field(message, "/template")
            .ok_or_else(|| ConnectError::missing("message.template"))?;
        // variable1, variable2, ... in number order (variable10 after variable9);
        // a header image, video or document comes as {"link": ...}.
        let mut variables: Vec<(u32, &str, &str)> = Vec::new();
        for (name, value) in message
            .get("parameters")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(value) = value.as_str() {
                let number = name
                    .strip_prefix("variable")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(u32::MAX);
                variables.push((number, name, value));
            } else if let Some(link) = text_field(value, "/link") {
                outbound.filename = url_filename(&link);
                outbound.media_url = Some(link);
                outbound.media_type = Some(name.clone());
            }
        }
        check_template_variables(&template, &variables)?;
        variables.sort();
        let values: Vec<&str> = variables.iter().map(|(_, _, value)| *value).collect();
        outbound.text = Some(values.join(", ")).filter(|t| !t.is_empty());
        outbound.template = Some(template);
        false
    } else {
        let wa = request
            .pointer("/channels/OTT-Messaging/wa")
            .ok_or_else(|| ConnectError::missing("channels.OTT-Messaging.wa"))?;
        let kind = text_field(wa, "/type").ok_or_else(|| ConnectError::missing("wa.type"))?;
        if kind == "text" {
            let body = text_field(wa, "/text/body")
                .ok_or_else(|| ConnectError::missing("wa.text.body"))?;
            if body.chars().count() > MAX_WHATSAPP_CHARS {
                outbound.failure = Some(("7714", "Message text exceeds 4096 characters".into()));
            }
            outbound.text = Some(body);
        } else if WHATSAPP_MEDIA_TYPES.contains(&kind.as_str()) {
            let media = wa
                .get(&kind)
                .ok_or_else(|| ConnectError::missing(&format!("wa.{kind}")))?;
            let url = text_field(media, "/url")
                .ok_or_else(|| ConnectError::missing(&format!("wa.{kind}.url")))?;
            let mime = text_field(media, "/mimeType")
                .ok_or_else(|| ConnectError::missing(&format!("wa.{kind}.mimeType")))?;
            if !WHATSAPP_MIME_TYPES.contains(&mime.to_lowercase().as_str()) {
                outbound.failure = Some(("7861", format!("Unsupported media type {mime}")));
            }
            outbound.text = text_field(media, "/caption");
            outbound.filename = text_field(media, "/filename").or_else(|| url_filename(&url));
            outbound.media_url = Some(url);
            outbound.media_type = Some(mime);
            outbound.fetch_media = true;
        } else {
            return Err(ConnectError::invalid("wa.type"));
        }
        true
    };
    let now = sandbox.now();
    let world = sandbox.world();
    Ok(addresses
        .into_iter()
        .map(|destination| {
            let mut o = Outbound {
                destination: destination.clone(),
                ..outbound.clone()
            };
            // A waid is the number without '+'.
            let digits_only =
                !destination.is_empty() && destination.bytes().all(|b| b.is_ascii_digit());
            if !digits_only || !valid_msisdn(&destination) {
                o.failure = Some(("7102", "Invalid address".into()));
            } else if free_form {
                let open = world
                    .last_inbound
                    .get(&destination)
                    .is_some_and(|at| now - *at <= chrono::Duration::hours(WHATSAPP_WINDOW_HOURS));
                if !open {
                    o.failure = Some((
                        "7710",
                        "Re-engagement message - Message failed to send because more than 24 \
                         hours have passed since the customer last replied to this number. Use \
                         a message template to respond."
                            .into(),
                    ));
                }
            }
            o.fetch_media = outbound.fetch_media && o.failure.is_none();
            o
        })
        .collect())
}

/// A registered template's send must give every declared variable (7003
/// when one is missing) and no undeclared one (7004).
fn check_template_variables(
    template: &str,
    given: &[(u32, &str, &str)],
) -> Result<(), ConnectError> {
    let Some((_, declared)) = TEMPLATES.iter().find(|(id, _)| *id == template) else {
        return Ok(());
    };
    if let Some(missing) = declared
        .iter()
        .find(|name| !given.iter().any(|(_, n, _)| n == *name))
    {
        return Err(ConnectError::missing(&format!(
            "message.parameters.{missing} (template {template})"
        )));
    }
    if let Some((_, extra, _)) = given.iter().find(|(_, n, _)| !declared.contains(n)) {
        return Err(ConnectError::invalid(&format!(
            "message.parameters.{extra} is not a variable of template {template}"
        )));
    }
    Ok(())
}
