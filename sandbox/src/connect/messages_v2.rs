//! `POST /v2/messages`: MMS (subject, attachments with mediaUrl) and SMS,
//! answered in the v2 shape.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::outbound::{accept, idempotency, Outbound};
use super::{check_key, parse_json, text_field, url_filename, valid_msisdn};
use super::{ConnectError, MAX_DESTINATIONS};
use crate::state::{PhoneAttachment, Shared};

const MMS_ATTACHMENT_TYPES: &[&str] = &["image", "video", "audio", "text", "vcard", "pdf"];
/// The send route, with its own Idempotency-Key memory.
const V2_ROUTE: &str = "/connect/v2/messages";

/// `POST /v2/messages`: MMS (subject, attachments with mediaUrl) and SMS.
pub async fn messages_v2(
    State(sandbox): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = check_key(&sandbox, &headers)
        .and_then(|_| idempotency(V2_ROUTE, &headers))
        .and_then(|idempotency| {
            let request = parse_json(&body)?;
            let outbound = validate_v2(&request)?;
            let notify = text_field(&request, "/notifyUrl");
            Ok(accept(
                &sandbox,
                "v2",
                &request,
                outbound,
                notify,
                idempotency,
            ))
        });
    match result {
        Ok(answer) => answer,
        Err(e) => e.v2(),
    }
}

fn validate_v2(request: &Value) -> Result<Vec<Outbound>, ConnectError> {
    let channel =
        text_field(request, "/channel").ok_or_else(|| ConnectError::missing("channel"))?;
    let channel: &'static str = match channel.to_lowercase().as_str() {
        "mms" => "mms",
        "sms" => "sms",
        _ => return Err(ConnectError::invalid("channel")),
    };
    text_field(request, "/from").ok_or_else(|| ConnectError::missing("from"))?;
    let mut addresses = Vec::new();
    for to in request
        .get("to")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for msisdn in to
            .get("msisdn")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let msisdn = msisdn
                .as_str()
                .ok_or_else(|| ConnectError::invalid("to.msisdn"))?;
            addresses.push(msisdn.to_string());
        }
    }
    if addresses.is_empty() {
        return Err(ConnectError::missing("to.msisdn"));
    }
    if addresses.len() > MAX_DESTINATIONS {
        return Err(ConnectError::new(
            "7009",
            "Maximum destinations per request exceeded.",
        ));
    }
    let content = request
        .get("content")
        .ok_or_else(|| ConnectError::missing("content"))?;
    let text;
    let mut media_url = None;
    let mut media_type = None;
    let mut attachments = Vec::new();
    let mut failure = None;
    if channel == "mms" {
        let items = content
            .get("attachments")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ConnectError::missing("content.attachments"))?;
        for attachment in items {
            let kind = text_field(attachment, "/type")
                .ok_or_else(|| ConnectError::missing("attachments.type"))?;
            if !MMS_ATTACHMENT_TYPES.contains(&kind.as_str()) {
                failure = Some(("7148", format!("Invalid attachment type {kind}")));
            }
            let url = if kind == "text" {
                None
            } else {
                Some(
                    text_field(attachment, "/mediaUrl")
                        .ok_or_else(|| ConnectError::missing("attachments.mediaUrl"))?,
                )
            };
            if media_url.is_none() && url.is_some() {
                media_url = url.clone();
                media_type = Some(kind.clone());
            }
            attachments.push(PhoneAttachment {
                filename: url.as_deref().and_then(url_filename),
                media_url: url,
                kind,
                message_text: text_field(attachment, "/messageText"),
            });
        }
        // Each attachment keeps its own messageText; the subject heads the message.
        text = text_field(content, "/subject");
    } else {
        text = Some(
            text_field(content, "/text").ok_or_else(|| ConnectError::missing("content.text"))?,
        );
    }
    Ok(addresses
        .into_iter()
        .map(|destination| Outbound {
            channel,
            failure: if valid_msisdn(&destination) {
                failure.clone()
            } else {
                Some(("7102", "Invalid address".into()))
            },
            destination,
            text: text.clone(),
            media_url: media_url.clone(),
            media_type: media_type.clone(),
            filename: None,
            template: None,
            attachments: attachments.clone(),
            fetch_media: false,
        })
        .collect())
}
