//! Helpers for the relay's tests: the native app with the sandbox, and the
//! agent's and the customer's side of the sandbox. The work is done by the
//! shared driver (`sandbox::driver`); these keep the names the tests use.

use super::{TestApp, PASSWORD};
use sandbox::driver::File;
use serde_json::Value;
use store::AuditCtx;

// Not every test binary polls.
#[allow(unused_imports)]
pub use sandbox::driver::eventually;

pub async fn native_app() -> TestApp {
    native_app_with(|_| {}).await
}

/// The hub secret of Connect's outbound webhook in these tests: the sandbox
/// signs its deliveries with it and the product checks them.
pub const HUB_SECRET: &str = "test-connect-hub-secret";

/// Connect's `x-hub-signature` for `body` (computed by the driver,
/// independently of the product's code).
pub fn hub_signature(body: &[u8]) -> String {
    sandbox::driver::hub_signature(HUB_SECRET, body)
}

/// Posts an event to `/webhooks/connect/inbound` as Connect does: the URL's
/// token, the body signed.
pub async fn connect_delivers(app: &TestApp, token: &str, event: &Value) -> reqwest::Response {
    let delivery = app
        .driver
        .connect_inbound(token, HUB_SECRET, event.to_string());
    delivery.send().await.unwrap()
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

pub async fn agent_token(app: &TestApp, email: &str) -> String {
    app.driver.agent_token(email).await
}

/// Every message in the agent's 1:1 spaces, as (room, text).
pub async fn agent_inbox(app: &TestApp, token: &str) -> Vec<(String, String)> {
    app.driver.agent_inbox(token).await
}

/// What the business sent to customers through Connect, as raw JSON text.
pub async fn sent_to_customers(app: &TestApp) -> String {
    Value::from(app.driver.connect_messages().await).to_string()
}

/// Waits for a message containing `needle` in the agent's spaces; its room.
pub async fn room_with(app: &TestApp, token: &str, needle: &str) -> String {
    app.driver.room_with(token, needle).await
}

pub async fn customer_sends(app: &TestApp, channel: &str, number: &str, text: &str) {
    app.driver.customer_sends(channel, number, text).await
}

pub async fn agent_writes(app: &TestApp, token: &str, room_id: &str, text: &str) {
    app.driver.agent_writes(token, room_id, text).await;
}

/// Every message in the agent's 1:1 spaces, as the Webex API gives them.
pub async fn agent_messages(app: &TestApp, token: &str) -> Vec<Value> {
    app.driver.agent_messages(token).await
}

/// What the customer's phone shows (oldest first), as the phone page reads it.
pub async fn phone_thread(app: &TestApp, channel: &str, number: &str) -> Vec<Value> {
    app.driver.phone_thread(channel, number).await
}

/// The customer's session on the channel (it must exist).
pub async fn session_of(
    app: &TestApp,
    channel: domain::Channel,
    number: &str,
) -> domain::model::Session {
    let customer = super::customer(channel, number);
    app.store
        .session_of(&customer)
        .await
        .unwrap()
        .expect("the customer has a session")
}

/// Waits until the phone shows a business message containing `needle`.
pub async fn phone_shows(app: &TestApp, channel: &str, number: &str, needle: &str) {
    let what = format!("{needle:?} on the phone");
    eventually(&what, || async {
        phone_received(app, channel, number)
            .await
            .iter()
            .any(|t| t.contains(needle))
    })
    .await;
}

/// The texts the business sent to the phone.
pub async fn phone_received(app: &TestApp, channel: &str, number: &str) -> Vec<String> {
    app.driver.phone_received(channel, number).await
}

/// The customer sends from the phone page, with an optional file.
pub async fn customer_sends_file(
    app: &TestApp,
    channel: &str,
    number: &str,
    text: &str,
    file: Option<File<'_>>,
) {
    let driver = &app.driver;
    driver
        .customer_sends_file(channel, number, text, file)
        .await
}

/// The agent posts a file (and text) into a space, as the Webex App does.
pub async fn agent_sends_file(
    app: &TestApp,
    token: &str,
    room_id: &str,
    text: &str,
    file: File<'_>,
) {
    app.driver
        .agent_sends_file(token, room_id, text, file)
        .await
}

/// The customer shares a location, a contact card, taps a reply, reacts...
/// through the sandbox phone (delivered as Connect's WhatsApp webhook).
pub async fn customer_whatsapp_event(app: &TestApp, number: &str, kind: &str, content: Value) {
    app.driver
        .customer_whatsapp_event(number, kind, content)
        .await
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
    a.start_conversation(name, msisdn, channel).await;
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
