//! The control API for tests and demos: reset, clock, faults, call log,
//! recorded events, agent tokens, guest token revocation and the webhooks'
//! delivery health.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::delivery::{DeliveryFault, DeliveryKind, DeliveryMode};
use crate::faults::{FaultAction, RouteFault};
use crate::state::{timestamp, GuestSource, PersonType, ScanVerdict, Shared, Webhook};
use crate::webex::error::ApiError;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/reset", post(reset))
        .route("/calls", get(calls))
        .route("/events/{event_id}", get(events))
        .route("/clock", get(clock).post(advance_clock))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/deliveries", post(add_delivery_fault))
        .route("/scanning", post(scanning))
        .route("/contents", post(content_verdicts))
        .route("/agent-token", post(agent_token))
        .route("/connect/messages", get(connect_messages))
        .route("/bot", get(bot_received))
        .route("/connect/messaging", post(business_sends))
        .route("/guest-token", post(guest_token))
        .route("/guest-tokens/revoke", post(revoke_guest_tokens))
        .route("/webhooks", get(webhooks))
        .route(
            "/webhooks/threshold",
            get(webhook_threshold).post(set_webhook_threshold),
        )
        .route("/webhooks/{id}/deactivate", post(deactivate_webhook))
        .route("/people", get(people))
}

async fn reset(State(sandbox): State<Shared>) -> StatusCode {
    sandbox.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct CallsQuery {
    kind: Option<String>,
    /// Only calls after this sequence number (a benchmark reads its own).
    since: Option<u64>,
}

async fn calls(State(sandbox): State<Shared>, Query(q): Query<CallsQuery>) -> Json<Value> {
    let world = sandbox.world();
    let items: Vec<_> = world
        .calls
        .iter()
        .filter(|c| q.kind.as_deref().is_none_or(|k| c.kind == k))
        .filter(|c| q.since.is_none_or(|since| c.seq > since))
        .collect();
    Json(json!({ "items": items }))
}

async fn events(State(sandbox): State<Shared>, Path(event_id): Path<String>) -> Json<Value> {
    let world = sandbox.world();
    let items = world.events.get(&event_id).cloned().unwrap_or_default();
    Json(json!({ "items": items }))
}

async fn clock(State(sandbox): State<Shared>) -> Json<Value> {
    let offset = sandbox.world().clock_offset_seconds;
    Json(json!({"now": timestamp(sandbox.now()), "offsetSeconds": offset}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdvanceClock {
    advance_seconds: i64,
}

/// Moves the sandbox clock forward (never back: timestamps stay ordered).
async fn advance_clock(
    State(sandbox): State<Shared>,
    Json(body): Json<AdvanceClock>,
) -> Result<Json<Value>, ApiError> {
    if body.advance_seconds < 0 {
        return Err(ApiError::bad_request("advanceSeconds must not be negative"));
    }
    sandbox.world().clock_offset_seconds += body.advance_seconds;
    Ok(clock(State(sandbox)).await)
}

async fn faults(State(sandbox): State<Shared>) -> Json<Value> {
    let world = sandbox.world();
    Json(json!({"routes": world.route_faults, "deliveries": world.delivery_faults}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewFault {
    method: Option<String>,
    path: String,
    #[serde(default = "one")]
    count: u32,
    #[serde(flatten)]
    action: FaultAction,
}

fn one() -> u32 {
    1
}

/// `{"path": "/webex/v1/messages", "method": "POST", "count": 2, "kind": "status", "status": 503}`,
/// `"kind": "rateLimit", "retryAfterSeconds": 2` or `"kind": "hang", "hangSeconds": 30`.
async fn add_fault(
    State(sandbox): State<Shared>,
    Json(fault): Json<NewFault>,
) -> Result<StatusCode, ApiError> {
    if fault.count == 0 || !fault.path.starts_with('/') {
        return Err(ApiError::bad_request(
            "count must be positive and path must start with /",
        ));
    }
    sandbox.world().route_faults.push(RouteFault {
        method: fault.method,
        path: fault.path,
        remaining: fault.count,
        action: fault.action,
    });
    Ok(StatusCode::NO_CONTENT)
}

async fn clear_faults(State(sandbox): State<Shared>) -> StatusCode {
    let mut world = sandbox.world();
    world.route_faults.clear();
    world.delivery_faults.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewDeliveryFault {
    mode: DeliveryMode,
    #[serde(default = "two")]
    count: u32,
    only: Option<DeliveryKind>,
}

fn two() -> u32 {
    2
}

/// `{"mode": "duplicate", "count": 1}`: the next delivery is sent twice;
/// `{"mode": "outOfOrder", "count": 3, "only": "webhook"}`: the next three
/// webhook deliveries are held and sent newest first.
async fn add_delivery_fault(
    State(sandbox): State<Shared>,
    Json(fault): Json<NewDeliveryFault>,
) -> Result<StatusCode, ApiError> {
    if fault.count == 0 {
        return Err(ApiError::bad_request("count must be positive"));
    }
    sandbox.world().delivery_faults.push(DeliveryFault {
        mode: fault.mode,
        remaining: fault.count,
        only: fault.only,
    });
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Scanning {
    seconds: i64,
}

/// Files posted from now on stay "being scanned" (423) for this long.
async fn scanning(State(sandbox): State<Shared>, Json(body): Json<Scanning>) -> StatusCode {
    sandbox.world().scanning_seconds = body.seconds.max(0);
    StatusCode::NO_CONTENT
}

/// At most this many verdicts wait at once: enough for any test.
const MAX_PENDING_VERDICTS: usize = 1000;

#[derive(Deserialize)]
struct NewVerdicts {
    outcome: ScanVerdict,
    #[serde(default = "one")]
    count: u32,
}

/// `{"outcome": "infected" | "unscannable", "count": 2}`: the next `count`
/// files posted answer 410 / 428 once scanned (`"clean"` queues a clean one).
async fn content_verdicts(
    State(sandbox): State<Shared>,
    Json(body): Json<NewVerdicts>,
) -> Result<StatusCode, ApiError> {
    let mut world = sandbox.world();
    let count = body.count as usize;
    if count == 0 || world.next_verdicts.len() + count > MAX_PENDING_VERDICTS {
        return Err(ApiError::bad_request(format!(
            "count must be positive, with at most {MAX_PENDING_VERDICTS} verdicts waiting"
        )));
    }
    world
        .next_verdicts
        .extend(std::iter::repeat_n(body.outcome, count));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct AgentTokenRequest {
    email: String,
}

/// An agent's access token without the OAuth dance.
async fn agent_token(
    State(sandbox): State<Shared>,
    Json(body): Json<AgentTokenRequest>,
) -> Result<Json<Value>, ApiError> {
    let mut world = sandbox.world();
    let person_id = world
        .person_by_email(&body.email)
        .filter(|p| p.kind == PersonType::Person)
        .map(|p| p.id.clone())
        .ok_or_else(|| ApiError::not_found("No such agent."))?;
    Ok(Json(crate::webex::token_response(&mut world, &person_id)))
}

async fn connect_messages(State(sandbox): State<Shared>) -> Json<Value> {
    let world = sandbox.world();
    Json(json!({"items": world.connect_requests, "phone": world.phone}))
}

/// What the scripted bot received (`crate::bot`), in order.
async fn bot_received(State(sandbox): State<Shared>) -> Json<Value> {
    let world = sandbox.world();
    Json(json!({"received": world.bot_received}))
}

async fn people(State(sandbox): State<Shared>) -> Json<Value> {
    let world = sandbox.world();
    let items: Vec<Value> = world.people.iter().map(crate::webex::people_json).collect();
    Json(json!({ "items": items }))
}

/// Sends as the business without the API key (demos and page tests): the
/// body and every rule are those of `/connect/resources/v1/messaging`,
/// Idempotency-Key included (remembered apart from that route's keys).
async fn business_sends(
    State(sandbox): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    crate::connect::send_v1(&sandbox, "/control/connect/messaging", &headers, &body)
}

#[derive(Deserialize)]
struct GuestTokenRequest {
    sub: String,
    name: String,
}

/// A guest access token for the configured issuer, as `/jwt/login` would give.
async fn guest_token(
    State(sandbox): State<Shared>,
    Json(body): Json<GuestTokenRequest>,
) -> Result<Json<Value>, ApiError> {
    if body.sub.is_empty() || body.name.is_empty() {
        return Err(ApiError::bad_request("sub and name are required"));
    }
    let (guest, token) = crate::webex::login_guest(
        &sandbox,
        GuestSource::GuestIssuer,
        &body.sub,
        body.name,
        crate::webex::GUEST_TOKEN_LIFETIME,
    );
    Ok(Json(json!({
        "token": token,
        "expiresIn": crate::webex::GUEST_TOKEN_LIFETIME,
        "personId": guest.id,
    })))
}

#[derive(Deserialize)]
struct RevokeRequest {
    subject: Option<String>,
}

/// `POST /guest-tokens/revoke` with no body (every guest's tokens, of the
/// Guest Issuer and of the Service App) or `{"subject": "..."}` (the guests
/// with that subject, of either). Revoked tokens answer 401 like any invalid
/// token; logging in again gives a working one.
async fn revoke_guest_tokens(
    State(sandbox): State<Shared>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let subject = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let req: RevokeRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))?;
        if req.subject.as_deref() == Some("") {
            return Err(ApiError::bad_request("subject must not be empty"));
        }
        req.subject
    };
    let revoked = sandbox.world().revoke_guest_tokens(subject.as_deref());
    Ok(Json(json!({ "revoked": revoked })))
}

/// A webhook as the control API shows it: what the tests need to see, with
/// the failure count Webex keeps to itself.
fn webhook_health(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "name": w.name,
        "targetUrl": w.target_url,
        "resource": w.resource,
        "event": w.event,
        "createdBy": w.created_by,
        "status": w.status,
        "consecutiveFailures": w.consecutive_failures,
    })
}

/// `GET /webhooks`: every webhook of every owner, and the threshold.
async fn webhooks(State(sandbox): State<Shared>) -> Json<Value> {
    let world = sandbox.world();
    let items: Vec<Value> = world.webhooks.iter().map(webhook_health).collect();
    Json(json!({
        "failureThreshold": world.webhook_failure_threshold,
        "items": items,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Threshold {
    consecutive_failures: u32,
}

async fn webhook_threshold(State(sandbox): State<Shared>) -> Json<Value> {
    let threshold = sandbox.world().webhook_failure_threshold;
    Json(json!({ "consecutiveFailures": threshold }))
}

/// `{"consecutiveFailures": N}`: a webhook becomes inactive after N failed
/// deliveries in a row (0 = never). Until `/reset`, which restores the default.
async fn set_webhook_threshold(
    State(sandbox): State<Shared>,
    Json(body): Json<Threshold>,
) -> Json<Value> {
    sandbox.world().webhook_failure_threshold = body.consecutive_failures;
    webhook_threshold(State(sandbox)).await
}

/// `POST /webhooks/{id}/deactivate`: the webhook becomes inactive, as after
/// too many failed deliveries; `PUT /webex/v1/webhooks/{id}` re-enables it.
async fn deactivate_webhook(
    State(sandbox): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut world = sandbox.world();
    let webhook = world
        .webhooks
        .iter_mut()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::not_found("No such webhook."))?;
    webhook.status = "inactive".into();
    Ok(Json(webhook_health(webhook)))
}
