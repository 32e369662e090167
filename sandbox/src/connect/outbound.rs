//! An accepted send: recorded for the phone and the control API, answered
//! "Queued", remembered under its Idempotency-Key, its receipts scheduled.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::receipts::send_receipts;
use super::{digits, text_field, ConnectError};
use crate::calls::Replayed;
use crate::state::{
    timestamp, ConnectRequest, IdempotentAnswer, PhoneAttachment, PhoneMessage, ReceiptTarget,
    Shared,
};

/// Connect's sandbox SMS API takes an `Idempotency-Key` of at most 64
/// characters and rejects a repeat within an hour (reference 2.3).
const MAX_IDEMPOTENCY_KEY: usize = 64;
const IDEMPOTENCY_WINDOW_MINUTES: i64 = 60;

/// One message to one recipient, validated and ready to "send".
#[derive(Clone)]
pub struct Outbound {
    pub channel: &'static str,
    /// Destination exactly as given (msisdn with +, waid without).
    pub destination: String,
    pub text: Option<String>,
    pub media_url: Option<String>,
    pub media_type: Option<String>,
    pub filename: Option<String>,
    pub template: Option<String>,
    /// MMS: every attachment, for the phone.
    pub attachments: Vec<PhoneAttachment>,
    /// A failure known before sending: (code, description).
    pub failure: Option<(&'static str, String)>,
    /// WhatsApp media is fetched by the platform; a bad URL fails later.
    pub fetch_media: bool,
}

/// A send's `Idempotency-Key`, remembered per route.
pub struct Idempotency {
    route: &'static str,
    key: String,
}

/// The optional `Idempotency-Key` header; a header value is ASCII, so its
/// length in bytes is its length in characters.
pub fn idempotency(
    route: &'static str,
    headers: &HeaderMap,
) -> Result<Option<Idempotency>, ConnectError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| ConnectError::invalid("Idempotency-Key must be 1 to 64 characters"))?;
    Ok(Some(Idempotency {
        route,
        key: key.to_string(),
    }))
}

/// Whether an answer given at `at` still stands for a repeated key at `now`
/// (both wall time).
fn remembered(at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> bool {
    now - at < chrono::Duration::minutes(IDEMPOTENCY_WINDOW_MINUTES)
}

/// Records accepted messages, answers "Queued" and sends the receipts later.
/// A send repeating an Idempotency-Key of the last hour gets the first
/// answer again and nothing else happens. The check is made here, under the
/// lock that records the messages, so two concurrent repeats cannot both send.
pub fn accept(
    sandbox: &Shared,
    api: &str,
    request: &Value,
    outbound: Vec<Outbound>,
    notify_url: Option<String>,
    idempotency: Option<Idempotency>,
) -> Response {
    let callback_data = text_field(request, "/callbackData").unwrap_or_default();
    let correlation_id = text_field(request, "/correlationid")
        .or_else(|| text_field(request, "/to/0/correlationId"))
        .unwrap_or_default();
    let at = timestamp(sandbox.now());
    let wall = chrono::Utc::now();
    // v1 answers 200, v2 201 Created (send-sms-message-api-v2).
    let status = if api == "v2" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = Vec::new();
    let mut world = sandbox.world();
    let idempotency = idempotency.map(|i| (i.route.to_string(), i.key));
    if let Some(id) = &idempotency {
        world
            .idempotent_answers
            .retain(|_, answer| remembered(answer.at, wall));
        if let Some(answer) = world.idempotent_answers.get(id) {
            let mut replay = (status, Json(answer.body.clone())).into_response();
            replay.extensions_mut().insert(Replayed);
            return replay;
        }
    }
    let mut scheduled = Vec::new();
    for o in outbound {
        let transid = uuid::Uuid::new_v4().to_string();
        let (delivery_channel, destination_type) = match o.channel {
            "whatsapp" => ("whatsapp", "waid"),
            "mms" => ("MMS", "msisdn"),
            _ => ("SMS", "msisdn"),
        };
        world.connect_requests.push(ConnectRequest {
            transid: transid.clone(),
            api: api.to_string(),
            channel: o.channel.to_string(),
            destination: o.destination.clone(),
            body: request.clone(),
            at: at.clone(),
        });
        world.phone.push(PhoneMessage {
            id: transid.clone(),
            app: if o.channel == "whatsapp" {
                "whatsapp"
            } else {
                "sms"
            }
            .into(),
            channel: o.channel.into(),
            number: digits(&o.destination),
            direction: "outbound".into(),
            text: o.text.clone(),
            media_url: o.media_url.clone(),
            media_type: o.media_type.clone(),
            filename: o.filename.clone(),
            template: o.template.clone(),
            attachments: o.attachments.clone(),
            status: "queued".into(),
            error_code: None,
            at: at.clone(),
            receipt: notify_url.clone().map(|notify_url| ReceiptTarget {
                notify_url,
                callback_data: callback_data.clone(),
                correlation_id: correlation_id.clone(),
                destination: o.destination.clone(),
                destination_type: destination_type.into(),
                delivery_channel: delivery_channel.into(),
            }),
        });
        response.push(json!({"code": "1001", "transid": transid, "description": "Queued"}));
        scheduled.push((transid, o.failure, o.media_url.filter(|_| o.fetch_media)));
    }
    let answer = if api == "v2" {
        // One id per request in the documented answer: the first recipient's
        // (we send to one at a time).
        let first = response.first().map(|r| r["transid"].clone());
        json!({"requestTimestamp": at, "messageId": first.unwrap_or_default(),
               "correlationId": correlation_id, "status": "queued"})
    } else {
        json!({ "response": response })
    };
    if let Some(id) = idempotency {
        let stored = IdempotentAnswer {
            at: wall,
            body: answer.clone(),
        };
        world.idempotent_answers.insert(id, stored);
    }
    let generation = world.generation;
    drop(world);
    for (transid, failure, media_url) in scheduled {
        tokio::spawn(send_receipts(
            sandbox.clone(),
            generation,
            transid,
            failure,
            media_url,
        ));
    }
    (status, Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idempotency_key_is_remembered_for_one_hour_of_wall_time() {
        let now = chrono::Utc::now();
        assert!(remembered(now - chrono::Duration::minutes(59), now));
        assert!(!remembered(now - chrono::Duration::minutes(61), now));
    }
}
