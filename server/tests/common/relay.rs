//! Helpers for the relay's tests: the native app with the sandbox, and the
//! agent's and the customer's side of the sandbox.

use super::{TestApp, PASSWORD};
use domain::store::AuditCtx;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub async fn native_app() -> TestApp {
    native_app_with(|_| {}).await
}

/// The hub secret of Connect's outbound webhook in these tests: the sandbox
/// signs its deliveries with it and the product checks them.
pub const HUB_SECRET: &str = "test-connect-hub-secret";

/// Connect's `x-hub-signature` for `body`: hex HMAC-SHA256 (the documented
/// format, computed here independently of the product's code).
pub fn hub_signature(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HUB_SECRET.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Posts an event to `/webhooks/connect/inbound` as Connect does: the URL's
/// token, the body signed.
pub async fn connect_delivers(app: &TestApp, token: &str, event: &Value) -> reqwest::Response {
    let body = event.to_string();
    app.client
        .post(app.url(&format!("/webhooks/connect/inbound?token={token}")))
        .header("content-type", "application/json")
        .header("x-hub-signature", hub_signature(body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
}

pub async fn native_app_with(adjust: impl FnOnce(&mut server::config::Config)) -> TestApp {
    let app = TestApp::spawn_with(|c| {
        c.integrations.sandbox = true;
        c.relay_mode = server::config::RelayMode::Native;
        c.integrations.connect_webhook_secret = Some(server::integrations::Secret::new(HUB_SECRET));
        adjust(c);
    })
    .await;
    for email in ["agent-a@example.com", "agent-b@example.com"] {
        let agent = app.store.agent_by_email(email).await.unwrap();
        app.store
            .set_password(&AuditCtx::system(), &agent.id, PASSWORD)
            .await
            .unwrap();
    }
    app
}

/// Polls until `check` holds (bounded: 10 s).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn agent_token(app: &TestApp, email: &str) -> String {
    let body: Value = app
        .client
        .post(app.url("/sandbox/control/agent-token"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .expect("agent token")
        .to_string()
}

/// Every message in the agent's 1:1 spaces, as (room, text).
pub async fn agent_inbox(app: &TestApp, token: &str) -> Vec<(String, String)> {
    agent_messages(app, token)
        .await
        .iter()
        .map(|m| {
            (
                m["roomId"].as_str().unwrap_or_default().to_string(),
                m["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// What the business sent to customers through Connect, as raw JSON text.
pub async fn sent_to_customers(app: &TestApp) -> String {
    let all: Value = app
        .client
        .get(app.url("/sandbox/control/connect/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all["items"].to_string()
}

/// Waits for a message containing `needle` in the agent's spaces; its room.
pub async fn room_with(app: &TestApp, token: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((room, _)) = agent_inbox(app, token)
            .await
            .into_iter()
            .find(|(_, t)| t.contains(needle))
        {
            return room;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {needle:?} in the agent's spaces"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn customer_sends(app: &TestApp, channel: &str, number: &str, text: &str) {
    customer_sends_file(app, channel, number, text, None).await
}

pub async fn agent_writes(app: &TestApp, token: &str, room_id: &str, text: &str) {
    let r = app
        .client
        .post(app.url("/sandbox/webex/v1/messages"))
        .bearer_auth(token)
        .json(&json!({ "roomId": room_id, "text": text }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Every message in the agent's 1:1 spaces, as the Webex API gives them.
pub async fn agent_messages(app: &TestApp, token: &str) -> Vec<Value> {
    let rooms: Value = app
        .client
        .get(app.url("/sandbox/webex/v1/rooms"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for room in rooms["items"].as_array().cloned().unwrap_or_default() {
        let room_id = room["id"].as_str().unwrap();
        let messages: Value = app
            .client
            .get(app.url(&format!("/sandbox/webex/v1/messages?roomId={room_id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.extend(messages["items"].as_array().cloned().unwrap_or_default());
    }
    out
}

/// What the customer's phone shows (oldest first), as the phone page reads it.
pub async fn phone_thread(app: &TestApp, channel: &str, number: &str) -> Vec<Value> {
    let thread: Value = app
        .client
        .get(app.url("/sandbox/phone/api/thread"))
        .query(&[("channel", channel), ("number", number)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    thread["items"].as_array().cloned().unwrap_or_default()
}

/// The texts the business sent to the phone.
pub async fn phone_received(app: &TestApp, channel: &str, number: &str) -> Vec<String> {
    phone_thread(app, channel, number)
        .await
        .iter()
        .filter(|m| m["direction"] != "inbound")
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The customer sends from the phone page, with an optional file.
pub async fn customer_sends_file(
    app: &TestApp,
    channel: &str,
    number: &str,
    text: &str,
    file: Option<(&str, &str, Vec<u8>)>,
) {
    let mut form = reqwest::multipart::Form::new()
        .text("channel", channel.to_string())
        .text("number", number.to_string())
        .text("name", "Mr Doe")
        .text("text", text.to_string());
    if let Some((name, mime, bytes)) = file {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap(),
        );
    }
    let r = app
        .client
        .post(app.url("/sandbox/phone/api/send"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// The agent posts a file (and text) into a space, as the Webex App does.
pub async fn agent_sends_file(
    app: &TestApp,
    token: &str,
    room_id: &str,
    text: &str,
    (name, mime, bytes): (&str, &str, Vec<u8>),
) {
    let form = reqwest::multipart::Form::new()
        .text("roomId", room_id.to_string())
        .text("text", text.to_string())
        .part(
            "files",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap(),
        );
    let r = app
        .client
        .post(app.url("/sandbox/webex/v1/messages"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// The customer shares a location, a contact card, taps a reply, reacts...
/// through the sandbox phone (delivered as Connect's WhatsApp webhook).
pub async fn customer_whatsapp_event(app: &TestApp, number: &str, kind: &str, content: Value) {
    let r = app
        .client
        .post(app.url("/sandbox/phone/api/whatsapp-event"))
        .json(&json!({ "number": number, "kind": kind, "content": content }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Agent A adds a contact and starts a conversation on `channel` from the
/// sidebar; returns Agent A's token and the space the greeting opened.
pub async fn start_conversation(
    app: &TestApp,
    name: &str,
    msisdn: &str,
    channel: &str,
) -> (String, String) {
    let a = super::sign_in(app, "agent-a@example.com").await;
    let (_, contact) = a
        .call(
            "contacts/save",
            &[
                ("id", ""),
                ("name", name),
                ("msisdn", msisdn),
                ("version", ""),
            ],
        )
        .await;
    let id = contact["id"].as_str().expect("contact saved").to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let (status, started) = a
        .call(
            "contacts/start",
            &[("contact_id", &id), ("channel", channel), ("nonce", &nonce)],
        )
        .await;
    assert!(status.is_success(), "{started}");
    let token = agent_token(app, "agent-a@example.com").await;
    let room = room_with(app, &token, &format!("Conversation with {name}")).await;
    (token, room)
}

/// A tiny valid PNG.
pub fn png() -> Vec<u8> {
    vec![
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ]
}
