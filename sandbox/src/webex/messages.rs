//! Messages and the direct rooms they create, plus the webhook fan-out that
//! follows every new message.

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::{escape_html, Caller};
use super::error::ApiError;
use super::{MAX_BODY_BYTES, MAX_FILE_BYTES};
use crate::delivery::{self, Delivery, DeliveryKind};
use crate::state::{
    new_webex_id, stable_uuid, timestamp, webex_id, Content, Message, Person, PersonType, Room,
    ScanVerdict, Shared, World,
};

/// Webex's limit for `text` and `markdown`, in bytes.
pub const MAX_TEXT_BYTES: usize = 7439;

/// A file attached to a new message.
pub struct Upload {
    pub bytes: Bytes,
    pub content_type: String,
    pub filename: String,
}

/// A message to post, already parsed from JSON or multipart.
#[derive(Default)]
pub struct NewMessage {
    pub room_id: Option<String>,
    pub to_person_id: Option<String>,
    pub to_person_email: Option<String>,
    pub text: Option<String>,
    pub markdown: Option<String>,
    pub file: Option<Upload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonMessage {
    room_id: Option<String>,
    to_person_id: Option<String>,
    to_person_email: Option<String>,
    text: Option<String>,
    markdown: Option<String>,
    #[serde(default)]
    files: Vec<String>,
}

/// `POST /messages`, JSON (files as public URLs) or multipart (one `files` part).
pub async fn create(
    State(sandbox): State<Shared>,
    Caller(sender): Caller,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let message = if is_multipart {
        let multipart = Multipart::from_request(request, &sandbox)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        read_multipart(multipart).await?
    } else {
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large."))?;
        let parsed: JsonMessage = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))?;
        if parsed.files.len() > 1 {
            return Err(ApiError::bad_request(
                "Only one file per message is allowed.",
            ));
        }
        // Like Webex, fetch the public URL and keep the file as content.
        let file = match parsed.files.first() {
            Some(url) => Some(fetch_file(&sandbox, url).await?),
            None => None,
        };
        NewMessage {
            room_id: parsed.room_id,
            to_person_id: parsed.to_person_id,
            to_person_email: parsed.to_person_email,
            text: parsed.text,
            markdown: parsed.markdown,
            file,
        }
    };
    post_message(&sandbox, &sender, message).map(Json)
}

/// Reads the multipart form of `POST /messages` (also used by the agent page).
pub async fn read_multipart(mut multipart: Multipart) -> Result<NewMessage, ApiError> {
    let mut message = NewMessage::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "files" {
            if message.file.is_some() {
                return Err(ApiError::bad_request(
                    "Only one file per message is allowed.",
                ));
            }
            let filename = field.file_name().unwrap_or("file").to_string();
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = field.bytes().await.map_err(multipart_error)?;
            if bytes.len() > MAX_FILE_BYTES {
                return Err(too_large());
            }
            if !bytes.is_empty() {
                message.file = Some(Upload {
                    bytes,
                    content_type,
                    filename,
                });
            }
            continue;
        }
        let value = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "roomId" => message.room_id = Some(value),
            "toPersonId" => message.to_person_id = Some(value),
            "toPersonEmail" => message.to_person_email = Some(value),
            "text" => message.text = Some(value),
            "markdown" => message.markdown = Some(value),
            _ => {}
        }
    }
    Ok(message)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    ApiError::new(e.status(), e.body_text())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "File exceeds the maximum attachment size of 100MB.",
    )
}

async fn fetch_file(sandbox: &Shared, url: &str) -> Result<Upload, ApiError> {
    let unreachable = || ApiError::bad_request(format!("Unable to retrieve content from {url}"));
    let (bytes, content_type) =
        match crate::files::fetch(&sandbox.files, &sandbox.config.base_url, url).await {
            Ok(fetched) => fetched,
            Err(crate::files::FetchFailure::TooLarge) => return Err(too_large()),
            Err(crate::files::FetchFailure::Unreachable) => return Err(unreachable()),
        };
    let filename = url
        .split(['?', '#'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|f| !f.is_empty())
        .unwrap_or("file")
        .to_string();
    Ok(Upload {
        bytes,
        content_type,
        filename,
    })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Validates and stores a message from `sender`, creating the direct room on
/// first contact, then delivers `messages:created` to matching webhooks.
pub fn post_message(sandbox: &Shared, sender: &Person, new: NewMessage) -> Result<Value, ApiError> {
    let room_id = non_empty(new.room_id);
    let to_person_id = non_empty(new.to_person_id);
    let to_person_email = non_empty(new.to_person_email);
    let text = non_empty(new.text);
    let markdown = non_empty(new.markdown);
    let targets = [&room_id, &to_person_id, &to_person_email]
        .iter()
        .filter(|t| t.is_some())
        .count();
    if targets != 1 {
        return Err(ApiError::bad_request(
            "Exactly one of roomId, toPersonId or toPersonEmail must be specified.",
        ));
    }
    for body in [&text, &markdown].into_iter().flatten() {
        if body.len() > MAX_TEXT_BYTES {
            return Err(ApiError::bad_request(format!(
                "Message text exceeds the maximum length of {MAX_TEXT_BYTES} bytes."
            )));
        }
    }
    if text.is_none() && markdown.is_none() && new.file.is_none() {
        return Err(ApiError::bad_request(
            "A message needs text, markdown or a file.",
        ));
    }

    let now = sandbox.now();
    let mut world = sandbox.world();
    let room_id = match room_id {
        Some(id) => {
            if !world.is_member(&id, &sender.id) {
                return Err(ApiError::not_found(
                    "Could not find a room with provided ID.",
                ));
            }
            id
        }
        None => {
            let recipient = match (&to_person_id, &to_person_email) {
                (Some(id), _) => world.person(id),
                (_, Some(email)) => world.person_by_email(email),
                _ => None,
            }
            .cloned()
            .ok_or_else(|| ApiError::not_found("Person not found."))?;
            if recipient.id == sender.id {
                return Err(ApiError::bad_request("Cannot send a message to yourself."));
            }
            if recipient.kind == PersonType::Appuser && sender.kind == PersonType::Appuser {
                return Err(ApiError::forbidden(
                    "Guest users cannot send messages to other guest users.",
                ));
            }
            direct_room(&mut world, &sender.id, &recipient.id, now)
        }
    };

    let mut content_ids = Vec::new();
    if let Some(file) = new.file {
        let content_id = new_webex_id("CONTENT");
        let scanned_at = now + chrono::Duration::seconds(world.scanning_seconds);
        let verdict = world
            .next_verdicts
            .pop_front()
            .unwrap_or(ScanVerdict::Clean);
        world.contents.insert(
            content_id.clone(),
            Content {
                room_id: room_id.clone(),
                bytes: file.bytes,
                content_type: file.content_type,
                filename: file.filename,
                scanned_at,
                verdict,
            },
        );
        content_ids.push(content_id);
    }
    let message = Message {
        id: new_webex_id("MESSAGE"),
        room_id: room_id.clone(),
        person_id: sender.id.clone(),
        person_email: sender.email.clone(),
        to_person_id,
        to_person_email,
        text,
        markdown,
        content_ids,
        created: now,
    };
    if let Some(room) = world.rooms.iter_mut().find(|r| r.id == room_id) {
        room.last_activity = now;
    }
    let json = message_json(sandbox, &message);
    let deliveries = webhook_deliveries(sandbox, &world, &message);
    world.push_message(message);
    drop(world);
    for d in deliveries {
        delivery::enqueue(sandbox, d);
    }
    Ok(json)
}

/// The direct room of two people; created on their first message.
fn direct_room(world: &mut World, a: &str, b: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    if let Some(room) = world
        .rooms
        .iter()
        .find(|r| r.members.contains(&a.to_string()) && r.members.contains(&b.to_string()))
    {
        return room.id.clone();
    }
    let (first, second) = if a < b { (a, b) } else { (b, a) };
    let id = webex_id("ROOM", &stable_uuid(&format!("direct:{first}:{second}")));
    world.rooms.push(Room {
        id: id.clone(),
        members: [a.to_string(), b.to_string()],
        created: now,
        last_activity: now,
    });
    id
}

pub fn content_url(sandbox: &Shared, content_id: &str) -> String {
    sandbox.url(&format!("/webex/v1/contents/{content_id}"))
}

/// A Webex Message object.
pub fn message_json(sandbox: &Shared, m: &Message) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(m.id));
    out.insert("roomId".into(), json!(m.room_id));
    out.insert("roomType".into(), json!("direct"));
    if let Some(v) = &m.to_person_id {
        out.insert("toPersonId".into(), json!(v));
    }
    if let Some(v) = &m.to_person_email {
        out.insert("toPersonEmail".into(), json!(v));
    }
    if let Some(v) = &m.text {
        out.insert("text".into(), json!(v));
    }
    if let Some(v) = &m.markdown {
        out.insert("markdown".into(), json!(v));
        out.insert("html".into(), json!(format!("<p>{}</p>", escape_html(v))));
    }
    if !m.content_ids.is_empty() {
        let files: Vec<String> = m
            .content_ids
            .iter()
            .map(|c| content_url(sandbox, c))
            .collect();
        out.insert("files".into(), json!(files));
    }
    out.insert("personId".into(), json!(m.person_id));
    out.insert("personEmail".into(), json!(m.person_email));
    out.insert("created".into(), json!(timestamp(m.created)));
    out.insert("isVoiceClip".into(), json!(false));
    Value::Object(out)
}

/// Envelopes for every active `messages:created` webhook whose owner can see
/// the room and whose filter matches. The envelope carries no message text.
fn webhook_deliveries(sandbox: &Shared, world: &World, m: &Message) -> Vec<Delivery> {
    let mut data = Map::new();
    data.insert("id".into(), json!(m.id));
    data.insert("roomId".into(), json!(m.room_id));
    data.insert("roomType".into(), json!("direct"));
    data.insert("personId".into(), json!(m.person_id));
    data.insert("personEmail".into(), json!(m.person_email));
    data.insert("created".into(), json!(timestamp(m.created)));
    if !m.content_ids.is_empty() {
        let files: Vec<String> = m
            .content_ids
            .iter()
            .map(|c| content_url(sandbox, c))
            .collect();
        data.insert("files".into(), json!(files));
    }
    // The room's members, found once: every guest has a webhook, so a
    // lookup per webhook made each message cost webhooks x rooms.
    let members = world.room(&m.room_id).map_or(&[][..], |r| &r.members[..]);
    world
        .webhooks
        .iter()
        .filter(|w| w.status == "active" && w.resource == "messages")
        .filter(|w| w.event == "created" || w.event == "all")
        .filter(|w| members.contains(&w.created_by))
        .filter(|w| filter_matches(w.filter.as_deref(), m))
        .map(|w| {
            let mut envelope = super::webhooks::webhook_json(w);
            envelope["actorId"] = json!(m.person_id);
            envelope["data"] = Value::Object(data.clone());
            let body = serde_json::to_vec(&envelope).expect("JSON values serialize");
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            if let Some(secret) = &w.secret {
                headers.push(("x-spark-signature".to_string(), sign(secret, &body)));
            }
            Delivery::new(DeliveryKind::Webhook, w.target_url.clone(), body, headers)
                .for_webhook(w.id.clone())
        })
        .collect()
}

/// Hex HMAC-SHA1 of the exact body bytes, as in `X-Spark-Signature`.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Webhook filters are `key=value` pairs joined by `&`.
fn filter_matches(filter: Option<&str>, m: &Message) -> bool {
    let Some(filter) = filter else { return true };
    filter.split('&').filter(|p| !p.is_empty()).all(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = value.replace("%40", "@");
        match key {
            "roomId" => m.room_id == value,
            "roomType" => value == "direct",
            "personId" => m.person_id == value,
            "personEmail" => m.person_email.eq_ignore_ascii_case(&value),
            // No mentions in direct rooms.
            "mentionedPeople" => false,
            _ => true,
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    room_id: Option<String>,
    max: Option<usize>,
    before_message: Option<String>,
    before: Option<String>,
}

/// `GET /messages?roomId=`: newest first, paged with a `Link: rel="next"`.
pub async fn list(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let room_id = q
        .room_id
        .ok_or_else(|| ApiError::bad_request("roomId is required."))?;
    let max = q.max.unwrap_or(50);
    if max == 0 || max > 1000 {
        return Err(ApiError::bad_request("max must be between 1 and 1000."));
    }
    let before = match &q.before {
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| ApiError::bad_request("before must be an ISO 8601 date."))?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    let world = sandbox.world();
    if !world.is_member(&room_id, &caller.id) {
        return Err(ApiError::not_found(
            "Could not find a room with provided ID.",
        ));
    }
    let newest_first = world
        .messages()
        .iter()
        .rev()
        .filter(|m| m.room_id == room_id);
    let mut candidates: Vec<&Message> = match &q.before_message {
        Some(id) => newest_first.skip_while(|m| &m.id != id).skip(1).collect(),
        None => newest_first.collect(),
    };
    if let Some(before) = before {
        candidates.retain(|m| m.created < before);
    }
    let has_more = candidates.len() > max;
    candidates.truncate(max);
    let items: Vec<Value> = candidates
        .iter()
        .map(|m| message_json(&sandbox, m))
        .collect();
    let mut response = Json(json!({ "items": items })).into_response();
    if let (true, Some(last)) = (has_more, candidates.last()) {
        let next = sandbox.url(&format!(
            "/webex/v1/messages?roomId={room_id}&max={max}&beforeMessage={}",
            last.id
        ));
        if let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(response)
}

/// `GET /messages/{id}`: 404 unless the caller is in the room.
pub async fn get_one(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let world = sandbox.world();
    let message = world
        .message(&id)
        .filter(|m| world.is_member(&m.room_id, &caller.id))
        .ok_or_else(|| ApiError::not_found("The requested resource could not be found."))?;
    Ok(Json(message_json(&sandbox, message)))
}

/// `GET /rooms`: the caller's direct rooms, most recently active first.
pub async fn list_rooms(State(sandbox): State<Shared>, Caller(caller): Caller) -> Json<Value> {
    let world = sandbox.world();
    let mut rooms: Vec<&Room> = world
        .rooms
        .iter()
        .filter(|r| r.members.contains(&caller.id))
        .collect();
    rooms.sort_by_key(|r| std::cmp::Reverse(r.last_activity));
    let items: Vec<Value> = rooms
        .iter()
        .map(|r| {
            let other = r.members.iter().find(|m| **m != caller.id);
            let title = other
                .and_then(|id| world.person(id))
                .map(|p| p.display_name.clone())
                .unwrap_or_default();
            json!({
                "id": r.id,
                "title": title,
                "type": "direct",
                "isLocked": false,
                "lastActivity": timestamp(r.last_activity),
                "creatorId": r.members[0],
                "created": timestamp(r.created),
            })
        })
        .collect();
    Json(json!({ "items": items }))
}
