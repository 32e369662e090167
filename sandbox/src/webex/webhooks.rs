//! `/webhooks` create, list, get, update, delete. A webhook belongs to the
//! person whose token created it and fires for rooms that person is in.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::error::ApiError;
use crate::state::{new_webex_id, org_id, timestamp, Shared, Webhook};

const RESOURCES: &[&str] = &[
    "all",
    "attachmentActions",
    "memberships",
    "messages",
    "rooms",
    "meetings",
    "recordings",
];
const EVENTS: &[&str] = &["all", "created", "updated", "deleted", "started", "ended"];

/// A Webex Webhook object (also the base of the delivery envelope).
pub fn webhook_json(w: &Webhook) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(w.id));
    out.insert("name".into(), json!(w.name));
    out.insert("targetUrl".into(), json!(w.target_url));
    out.insert("resource".into(), json!(w.resource));
    out.insert("event".into(), json!(w.event));
    if let Some(filter) = &w.filter {
        out.insert("filter".into(), json!(filter));
    }
    if let Some(secret) = &w.secret {
        out.insert("secret".into(), json!(secret));
    }
    out.insert("orgId".into(), json!(org_id()));
    out.insert("createdBy".into(), json!(w.created_by));
    out.insert(
        "appId".into(),
        json!(crate::state::webex_id(
            "APPLICATION",
            &crate::state::stable_uuid("sandbox-app")
        )),
    );
    out.insert("ownedBy".into(), json!("creator"));
    out.insert("status".into(), json!(w.status));
    out.insert("created".into(), json!(timestamp(w.created)));
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhook {
    name: Option<String>,
    target_url: Option<String>,
    resource: Option<String>,
    event: Option<String>,
    filter: Option<String>,
    secret: Option<String>,
}

pub async fn create(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: CreateWebhook = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))?;
    let (Some(name), Some(target_url), Some(resource), Some(event)) =
        (req.name, req.target_url, req.resource, req.event)
    else {
        return Err(ApiError::bad_request(
            "name, targetUrl, resource and event are required.",
        ));
    };
    if !RESOURCES.contains(&resource.as_str()) || !EVENTS.contains(&event.as_str()) {
        return Err(ApiError::bad_request("Unsupported resource or event."));
    }
    if !(target_url.starts_with("http://") || target_url.starts_with("https://")) {
        return Err(ApiError::bad_request("targetUrl must be an http(s) URL."));
    }
    let webhook = Webhook {
        id: new_webex_id("WEBHOOK"),
        name,
        target_url,
        resource,
        event,
        filter: req.filter.filter(|f| !f.is_empty()),
        secret: req.secret.filter(|s| !s.is_empty()),
        status: "active".into(),
        created: sandbox.now(),
        created_by: caller.id,
        consecutive_failures: 0,
    };
    let json = webhook_json(&webhook);
    sandbox.world().webhooks.push(webhook);
    Ok(Json(json))
}

pub async fn list(State(sandbox): State<Shared>, Caller(caller): Caller) -> Json<Value> {
    let world = sandbox.world();
    let items: Vec<Value> = world
        .webhooks
        .iter()
        .filter(|w| w.created_by == caller.id)
        .map(webhook_json)
        .collect();
    Json(json!({ "items": items }))
}

fn not_found() -> ApiError {
    ApiError::not_found("The requested resource could not be found.")
}

pub async fn get_one(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let world = sandbox.world();
    world
        .webhooks
        .iter()
        .find(|w| w.id == id && w.created_by == caller.id)
        .map(|w| Json(webhook_json(w)))
        .ok_or_else(not_found)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhook {
    name: Option<String>,
    target_url: Option<String>,
    secret: Option<String>,
    status: Option<String>,
}

/// PUT changes only name, targetUrl, secret and status (to "active", which
/// re-enables a webhook deactivated after failed deliveries, with its failure
/// count cleared; what it missed while inactive is not sent).
pub async fn update(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: UpdateWebhook = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))?;
    let (Some(name), Some(target_url)) = (req.name, req.target_url) else {
        return Err(ApiError::bad_request("name and targetUrl are required."));
    };
    if req.status.as_deref().is_some_and(|s| s != "active") {
        return Err(ApiError::bad_request("status can only be set to active."));
    }
    let mut world = sandbox.world();
    let webhook = world
        .webhooks
        .iter_mut()
        .find(|w| w.id == id && w.created_by == caller.id)
        .ok_or_else(not_found)?;
    webhook.name = name;
    webhook.target_url = target_url;
    if let Some(secret) = req.secret {
        webhook.secret = Some(secret).filter(|s| !s.is_empty());
    }
    if req.status.is_some() {
        webhook.status = "active".into();
        webhook.consecutive_failures = 0;
    }
    Ok(Json(webhook_json(webhook)))
}

pub async fn delete(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut world = sandbox.world();
    let before = world.webhooks.len();
    world
        .webhooks
        .retain(|w| !(w.id == id && w.created_by == caller.id));
    if world.webhooks.len() == before {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
