//! The simulated Webex Connect: messaging API v1 (SMS, WhatsApp) and v2
//! (MMS, SMS), the inbound-webhook events that start flows, delivery
//! receipts, and customer messages from the phone page.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::calls::Replayed;
use crate::delivery::{self, Delivery, DeliveryKind};
use crate::state::{
    timestamp, ConnectRequest, IdempotentAnswer, Media, PhoneAttachment, PhoneMessage,
    ReceiptTarget, RecordedEvent, Shared,
};

/// Connect accepts at most 1000 destinations per request.
const MAX_DESTINATIONS: usize = 1000;
const MAX_SMS_CHARS: usize = 1024;
const MAX_WHATSAPP_CHARS: usize = 4096;
/// WhatsApp free-form messages only within 24 h of the customer's last message.
const WHATSAPP_WINDOW_HOURS: i64 = 24;
/// Pause between the "submitted" and "delivered" receipts.
const DELIVERY_DELAY: Duration = Duration::from_millis(200);
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
const MMS_ATTACHMENT_TYPES: &[&str] = &["image", "video", "audio", "text", "vcard", "pdf"];
/// Connect's sandbox SMS API takes an `Idempotency-Key` of at most 64
/// characters and rejects a repeat within an hour (reference 2.3).
const MAX_IDEMPOTENCY_KEY: usize = 64;
const IDEMPOTENCY_WINDOW_MINUTES: i64 = 60;
/// The send routes, each with its own Idempotency-Key memory.
const V1_ROUTE: &str = "/connect/resources/v1/messaging";
const V2_ROUTE: &str = "/connect/v2/messages";
/// WhatsApp templates "registered" in the sandbox, with every variable they
/// declare: a send must give all of them and no others, as Connect requires
/// ("Configuration of all parameters is mandatory",
/// https://developers.webexconnect.io/reference/whatsapp-template-messages).
/// Other template ids are accepted with any variables.
pub const TEMPLATES: &[(&str, &[&str])] =
    &[("sandbox_reengagement", &["customer", "agent", "shop"])];
/// What the phone shows as the business's WhatsApp app and SMS sender.
pub const BUSINESS_WHATSAPP_APP: &str = "sandbox-whatsapp-app";
pub const BUSINESS_SENDER_ID: &str = "SANDBOX";

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/resources/v1/messaging", post(messaging_v1))
        .route("/v2/messages", post(messages_v2))
        .route("/events/{event_id}", post(event))
        .route("/media/{id}/{filename}", get(media))
}

/// A Connect API error: v1 answers it with HTTP 200 and
/// `{"response": {"code", "description", "transid"}}` (send-message-api-v1);
/// v2 with HTTP 400 and `{"code", "message"}`, or 401 without a body when
/// the key is missing or wrong (send-sms-message-api-v2).
#[derive(Debug)]
pub struct ConnectError {
    code: &'static str,
    description: String,
}

impl ConnectError {
    fn new(code: &'static str, description: impl Into<String>) -> ConnectError {
        ConnectError {
            code,
            description: description.into(),
        }
    }

    fn missing(what: &str) -> ConnectError {
        ConnectError::new("7003", format!("Mandatory parameters missing: {what}"))
    }

    fn invalid(what: &str) -> ConnectError {
        ConnectError::new("7004", format!("Invalid parameters: {what}"))
    }
}

impl ConnectError {
    /// The same error in the v2 shape.
    fn v2(self) -> Response {
        if matches!(self.code, "7001" | "7002") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let body = json!({"code": self.code, "message": self.description});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        let body = json!({"response": {
            "code": self.code,
            "description": self.description,
            "transid": uuid::Uuid::new_v4().to_string(),
        }});
        (StatusCode::OK, Json(body)).into_response()
    }
}

/// One message to one recipient, validated and ready to "send".
#[derive(Clone)]
struct Outbound {
    channel: &'static str,
    /// Destination exactly as given (msisdn with +, waid without).
    destination: String,
    text: Option<String>,
    media_url: Option<String>,
    media_type: Option<String>,
    filename: Option<String>,
    template: Option<String>,
    /// MMS: every attachment, for the phone.
    attachments: Vec<PhoneAttachment>,
    /// A failure known before sending: (code, description).
    failure: Option<(&'static str, String)>,
    /// WhatsApp media is fetched by the platform; a bad URL fails later.
    fetch_media: bool,
}

fn check_key(sandbox: &Shared, headers: &HeaderMap) -> Result<(), ConnectError> {
    let key = headers
        .get("key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ConnectError::new("7002", "Service key missing."))?;
    if key != sandbox.config.connect_api_key {
        return Err(ConnectError::new("7001", "Authentication failed."));
    }
    Ok(())
}

/// A send's `Idempotency-Key`, remembered per route.
struct Idempotency {
    route: &'static str,
    key: String,
}

/// The optional `Idempotency-Key` header; a header value is ASCII, so its
/// length in bytes is its length in characters.
fn idempotency(
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

fn parse_json(body: &[u8]) -> Result<Value, ConnectError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ConnectError::new("7000", "Invalid JSON."))?;
    if !value.is_object() {
        return Err(ConnectError::new("7000", "Invalid JSON."));
    }
    Ok(value)
}

fn text_field(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The file name at the end of a media URL ("https://h/a/x.jpg?s=1" gives
/// "x.jpg"), so the phone can name a file the request did not name.
fn url_filename(url: &str) -> Option<String> {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let path = without_query
        .split_once("://")
        .map_or(without_query, |(_, rest)| rest);
    let (_, name) = path.rsplit_once('/')?;
    Some(name.to_string()).filter(|n| !n.is_empty())
}

fn digits(number: &str) -> String {
    number.trim_start_matches('+').to_string()
}

fn valid_msisdn(number: &str) -> bool {
    let d = number.strip_prefix('+').unwrap_or(number);
    (6..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
}

/// `POST /resources/v1/messaging`: SMS and WhatsApp (text, media, template).
async fn messaging_v1(State(sandbox): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
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

/// `POST /v2/messages`: MMS (subject, attachments with mediaUrl) and SMS.
async fn messages_v2(State(sandbox): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
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

/// Records accepted messages, answers "Queued" and sends the receipts later.
/// A send repeating an Idempotency-Key of the last hour gets the first
/// answer again and nothing else happens. The check is made here, under the
/// lock that records the messages, so two concurrent repeats cannot both send.
fn accept(
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

/// Submitted (7501) then delivered (7500), or the failure receipt.
async fn send_receipts(
    sandbox: Shared,
    generation: u64,
    transid: String,
    mut failure: Option<(&'static str, String)>,
    media_url: Option<String>,
) {
    if let Some(url) = media_url {
        let fetched = crate::files::fetch(&sandbox.files, &sandbox.config.base_url, &url).await;
        if fetched.is_err() {
            failure = Some(("7701", format!("Media download error: {url}")));
        }
    }
    match failure {
        Some((code, description)) => {
            update_status(
                &sandbox,
                generation,
                &transid,
                "failed",
                Some(code),
                &description,
            );
        }
        None => {
            update_status(&sandbox, generation, &transid, "sent", None, "Submitted");
            tokio::time::sleep(DELIVERY_DELAY).await;
            update_status(
                &sandbox,
                generation,
                &transid,
                "delivered",
                None,
                "Delivered",
            );
        }
    }
}

/// Moves a message to a new status and posts its receipt, if it has a notify URL.
fn update_status(
    sandbox: &Shared,
    generation: u64,
    transid: &str,
    status: &str,
    failure_code: Option<&str>,
    description: &str,
) {
    let (code, delivery_status) = match (status, failure_code) {
        (_, Some(code)) => (code, "Failed"),
        ("sent", _) => ("7501", "Submitted"),
        ("delivered", _) => ("7500", "Delivered"),
        _ => ("7502", "Read"),
    };
    let now = sandbox.now();
    let receipt = {
        let mut world = sandbox.world();
        if world.generation != generation {
            return;
        }
        let Some(message) = world.phone.iter_mut().find(|m| m.id == transid) else {
            return;
        };
        message.status = status.to_string();
        message.error_code = failure_code.map(str::to_string);
        message.receipt.clone()
    };
    let Some(target) = receipt else { return };
    let body = json!({"deliveryInfoNotification": {
        "deliveryInfo": {
            "timeStamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            "Description": description,
            "code": code,
            "deliveryChannel": target.delivery_channel,
            "additionalInfo": "",
            "destination": target.destination,
            "destinationType": target.destination_type,
            "deliveryStatus": delivery_status,
        },
        "subtid": "",
        "transid": transid,
        "callbackData": target.callback_data,
        "correlationid": target.correlation_id,
    }});
    delivery::enqueue(
        sandbox,
        Delivery::json(DeliveryKind::Receipt, target.notify_url, &body),
    );
}

/// The phone displayed the thread: WhatsApp messages become "read" (7502).
/// SMS has no read receipts.
pub fn mark_read(sandbox: &Shared, number: &str) {
    let (generation, ids) = {
        let world = sandbox.world();
        let ids: Vec<String> = world
            .phone
            .iter()
            .filter(|m| m.app == "whatsapp" && m.number == digits(number))
            .filter(|m| m.direction == "outbound" && m.status == "delivered")
            .map(|m| m.id.clone())
            .collect();
        (world.generation, ids)
    };
    for id in ids {
        update_status(sandbox, generation, &id, "read", None, "Read");
    }
}

/// `POST /events/{EVENTID}`: the inbound webhook a Connect flow starts from.
/// Records the body byte for byte.
async fn event(
    State(sandbox): State<Shared>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let key = headers
        .get("key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let record = RecordedEvent {
        received_at: timestamp(sandbox.now()),
        content_type: header_text(header::CONTENT_TYPE),
        key,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    sandbox
        .world()
        .events
        .entry(event_id)
        .or_default()
        .push(record);
    let transid = uuid::Uuid::new_v4().to_string();
    Json(json!({"status": "queued", "transid": transid})).into_response()
}

/// Media the customer sent, at a public URL as a provider would host it.
async fn media(
    State(sandbox): State<Shared>,
    Path((id, filename)): Path<(String, String)>,
) -> Response {
    let world = sandbox.world();
    match world.media.get(&id) {
        Some(media) => {
            crate::files::file_response(media.bytes.clone(), &media.content_type, &filename)
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

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

/// Keeps a file the customer sent and returns its public URL.
fn store_media(
    sandbox: &Shared,
    world: &mut crate::state::World,
    bytes: Bytes,
    content_type: &str,
    filename: &str,
) -> String {
    let id = crate::state::random_token(16);
    let safe_name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let url = sandbox.url(&format!("/connect/media/{id}/{safe_name}"));
    world.media.insert(
        id,
        Media {
            bytes,
            content_type: content_type.to_string(),
        },
    );
    url
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idempotency_key_is_remembered_for_one_hour_of_wall_time() {
        let now = chrono::Utc::now();
        assert!(remembered(now - chrono::Duration::minutes(59), now));
        assert!(!remembered(now - chrono::Duration::minutes(61), now));
    }

    #[test]
    fn media_urls_name_their_file() {
        assert_eq!(
            url_filename("https://h/a/x.jpg?sig=1").as_deref(),
            Some("x.jpg")
        );
        assert_eq!(url_filename("https://h/a/"), None);
        assert_eq!(url_filename("https://example.com"), None);
    }
}
