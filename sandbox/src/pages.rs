//! The sandbox pages (customer phone, Webex agent client, and the demo that
//! shows both beside the product's sidebar) and the small JSON endpoints
//! they poll. The pages are plain HTML with vanilla JS.

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::connect::{self, CustomerMessage};
use crate::state::{timestamp, PersonType, Shared};
use crate::webex::error::ApiError;
use crate::webex::messages::{self, content_url};

const PHONE_HTML: &str = include_str!("../pages/phone.html");
const CLIENT_HTML: &str = include_str!("../pages/webex_client.html");
const DEMO_HTML: &str = include_str!("../pages/demo.html");
/// Files sent from the phone: WhatsApp media limits are far below this.
const MAX_PHONE_UPLOAD: usize = 20 * 1024 * 1024;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(to_demo))
        .route("/demo", get(|| async { Html(DEMO_HTML) }))
        .route("/phone", get(|| async { Html(PHONE_HTML) }))
        .route("/phone/api/thread", get(phone_thread))
        .route(
            "/phone/api/send",
            post(phone_send).layer(DefaultBodyLimit::max(MAX_PHONE_UPLOAD)),
        )
        .route("/phone/api/read", post(phone_read))
        .route("/phone/api/whatsapp-event", post(phone_whatsapp_event))
        .route("/webex-client", get(|| async { Html(CLIENT_HTML) }))
        .route("/webex-client/api/agents", get(client_agents))
        .route("/webex-client/api/spaces", get(client_spaces))
        .route("/webex-client/api/messages", get(client_messages))
        .route(
            "/webex-client/api/send",
            post(client_send).layer(DefaultBodyLimit::max(crate::webex::MAX_BODY_BYTES)),
        )
        .route("/webex-client/api/files/{id}", get(client_file))
}

/// The sandbox's root leads to the demo (its own path, so the product's
/// security headers, meant for the product's pages, stay off it).
async fn to_demo(State(sandbox): State<Shared>) -> Redirect {
    let base = &sandbox.config.base_url;
    // The path part of the base URL: "http://host:port/sandbox" → "/sandbox".
    let path = base
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    Redirect::to(&format!("{}/demo", path.trim_end_matches('/')))
}

#[derive(Deserialize)]
struct ThreadQuery {
    channel: String,
    number: String,
}

/// The phone's thread: WhatsApp alone, SMS and MMS together.
async fn phone_thread(State(sandbox): State<Shared>, Query(q): Query<ThreadQuery>) -> Json<Value> {
    let app = if q.channel == "whatsapp" {
        "whatsapp"
    } else {
        "sms"
    };
    let number = q.number.trim().trim_start_matches('+').to_string();
    let world = sandbox.world();
    let items: Vec<_> = world
        .phone
        .iter()
        .filter(|m| m.app == app && m.number == number)
        .collect();
    Json(json!({ "items": items }))
}

#[derive(Deserialize)]
struct ReadRequest {
    number: String,
}

async fn phone_read(State(sandbox): State<Shared>, Json(body): Json<ReadRequest>) -> StatusCode {
    connect::mark_read(&sandbox, body.number.trim());
    StatusCode::NO_CONTENT
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"message": message.into()})),
    )
        .into_response()
}

/// The customer sends: multipart with channel, number, name, text and file.
async fn phone_send(State(sandbox): State<Shared>, mut multipart: Multipart) -> Response {
    let mut message = CustomerMessage {
        channel: String::new(),
        number: String::new(),
        name: None,
        text: None,
        file: None,
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return bad_request(e.body_text()),
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let filename = field.file_name().unwrap_or("file").to_string();
            let mime = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            match field.bytes().await {
                Ok(bytes) if !bytes.is_empty() => message.file = Some((bytes, mime, filename)),
                Ok(_) => {}
                Err(e) => return bad_request(e.body_text()),
            }
            continue;
        }
        let value = match field.text().await {
            Ok(value) => value,
            Err(e) => return bad_request(e.body_text()),
        };
        match name.as_str() {
            "channel" => message.channel = value,
            "number" => message.number = value.trim().to_string(),
            "name" => message.name = Some(value).filter(|n| !n.trim().is_empty()),
            "text" => message.text = Some(value),
            _ => {}
        }
    }
    match connect::receive_from_customer(&sandbox, message) {
        Ok(sent) => Json(sent).into_response(),
        Err(message) => bad_request(message),
    }
}

/// The customer shares a location, a contact, taps a button, reacts...
async fn phone_whatsapp_event(
    State(sandbox): State<Shared>,
    Json(event): Json<connect::WhatsAppEvent>,
) -> Response {
    match connect::receive_whatsapp_event(&sandbox, event) {
        Ok(sent) => Json(sent).into_response(),
        Err(message) => bad_request(message),
    }
}

async fn client_agents(State(sandbox): State<Shared>) -> Json<Value> {
    let world = sandbox.world();
    let items: Vec<Value> = world
        .people
        .iter()
        .filter(|p| p.kind == PersonType::Person)
        .map(|p| json!({"id": p.id, "email": p.email, "displayName": p.display_name}))
        .collect();
    Json(json!({ "items": items }))
}

#[derive(Deserialize)]
struct AgentQuery {
    email: String,
}

/// The agent's 1:1 spaces, most recently active first.
async fn client_spaces(
    State(sandbox): State<Shared>,
    Query(q): Query<AgentQuery>,
) -> Result<Json<Value>, ApiError> {
    let world = sandbox.world();
    let agent = world
        .person_by_email(&q.email)
        .ok_or_else(|| ApiError::not_found("No such agent."))?;
    let mut rooms: Vec<_> = world
        .rooms
        .iter()
        .filter(|r| r.members.contains(&agent.id))
        .collect();
    rooms.sort_by_key(|r| std::cmp::Reverse(r.last_activity));
    let items: Vec<Value> = rooms
        .iter()
        .filter_map(|r| {
            let other_id = r.members.iter().find(|m| **m != agent.id)?;
            let other = world.person(other_id)?;
            Some(json!({
                "roomId": r.id,
                "title": other.display_name,
                "email": other.email,
                "isGuest": other.kind == PersonType::Appuser,
                "lastActivity": timestamp(r.last_activity),
            }))
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpaceQuery {
    email: String,
    room_id: String,
}

/// A space's messages, oldest first, with page-local file links.
async fn client_messages(
    State(sandbox): State<Shared>,
    Query(q): Query<SpaceQuery>,
) -> Result<Json<Value>, ApiError> {
    let world = sandbox.world();
    let agent = world
        .person_by_email(&q.email)
        .ok_or_else(|| ApiError::not_found("No such agent."))?;
    if !world.is_member(&q.room_id, &agent.id) {
        return Err(ApiError::not_found("No such space."));
    }
    let items: Vec<Value> = world
        .messages()
        .iter()
        .filter(|m| m.room_id == q.room_id)
        .map(|m| {
            let author = world.person(&m.person_id);
            let files: Vec<Value> = m
                .content_ids
                .iter()
                .filter_map(|id| {
                    let c = world.contents.get(id)?;
                    Some(json!({
                        "url": format!("webex-client/api/files/{id}"),
                        "apiUrl": content_url(&sandbox, id),
                        "filename": c.filename,
                        "contentType": c.content_type,
                        "size": c.bytes.len(),
                    }))
                })
                .collect();
            json!({
                "id": m.id,
                "mine": m.person_id == agent.id,
                "author": author.map(|p| p.display_name.clone()).unwrap_or_default(),
                "text": m.text.clone().or_else(|| m.markdown.clone()),
                "files": files,
                "created": timestamp(m.created),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// The agent posts through the same logic as `POST /messages`, so webhooks fire.
async fn client_send(
    State(sandbox): State<Shared>,
    Query(q): Query<AgentQuery>,
    multipart: Multipart,
) -> Result<Json<Value>, ApiError> {
    let agent = sandbox
        .world()
        .person_by_email(&q.email)
        .cloned()
        .ok_or_else(|| ApiError::not_found("No such agent."))?;
    let message = messages::read_multipart(multipart).await?;
    messages::post_message(&sandbox, &agent, message).map(Json)
}

/// Attachment bytes for the agent page (no token needed on the dev page).
async fn client_file(State(sandbox): State<Shared>, Path(id): Path<String>) -> Response {
    let world = sandbox.world();
    let Some(content) = world.contents.get(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    crate::files::file_response(
        content.bytes.clone(),
        &content.content_type,
        &content.filename,
    )
}
