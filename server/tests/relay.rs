//! The native relay end to end through the sandbox: start a conversation,
//! agent to customer, customer to agent, Agent B taking over, redelivered
//! webhooks relayed once, forged signatures refused.

mod common;

use common::{sign_in, TestApp, PASSWORD};
use domain::store::AuditCtx;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn native_app() -> TestApp {
    let app = TestApp::spawn_with(|c| {
        c.integrations.sandbox = true;
        c.relay_mode = "native".into();
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
async fn eventually<F, Fut>(what: &str, mut check: F)
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

async fn agent_token(app: &TestApp, email: &str) -> String {
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

/// Every message in the agent's 1:1 spaces, as text.
async fn agent_inbox(app: &TestApp, token: &str) -> Vec<(String, String)> {
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
        let room_id = room["id"].as_str().unwrap().to_string();
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
        for m in messages["items"].as_array().cloned().unwrap_or_default() {
            out.push((
                room_id.clone(),
                m["text"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// What the business sent to customers through Connect, as raw JSON text.
async fn sent_to_customers(app: &TestApp) -> String {
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
async fn room_with(app: &TestApp, token: &str, needle: &str) -> String {
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

async fn customer_sends(app: &TestApp, channel: &str, number: &str, text: &str) {
    let form = reqwest::multipart::Form::new()
        .text("channel", channel.to_string())
        .text("number", number.to_string())
        .text("name", "Mr Doe")
        .text("text", text.to_string());
    let r = app
        .client
        .post(app.url("/sandbox/phone/api/send"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn agent_writes(app: &TestApp, token: &str, room_id: &str, text: &str) {
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

#[tokio::test]
async fn whatsapp_both_ways_then_agent_b_takes_over() {
    let app = native_app().await;
    let a = sign_in(&app, "agent-a@example.com").await;
    let (_, contact) = a
        .call(
            "contacts/save",
            &[
                ("id", ""),
                ("name", "Mr Doe"),
                ("msisdn", "+447700900123"),
                ("version", ""),
            ],
        )
        .await;
    let id = contact["id"].as_str().unwrap().to_string();
    let (status, started) = a
        .call(
            "contacts/start",
            &[
                ("contact_id", &id),
                ("channel", "whatsapp"),
                ("nonce", "n1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");

    // The guest opens the agent's 1:1 space with a greeting.
    let token_a = agent_token(&app, "agent-a@example.com").await;
    let room_a = room_with(&app, &token_a, "Conversation with Mr Doe on WhatsApp").await;

    // The customer writes first (opening WhatsApp's 24-hour window), the agent answers.
    customer_sends(&app, "whatsapp", "+447700900123", "Hi, it is Mr Doe").await;
    eventually("customer's message in Agent A's space", || async {
        agent_inbox(&app, &token_a)
            .await
            .iter()
            .any(|(r, t)| *r == room_a && t == "Hi, it is Mr Doe")
    })
    .await;
    agent_writes(&app, &token_a, &room_a, "Hello Mr Doe, Agent A here").await;
    eventually(
        "agent's message sent to the customer's WhatsApp",
        || async {
            sent_to_customers(&app)
                .await
                .contains("Hello Mr Doe, Agent A here")
        },
    )
    .await;
    let sent = sent_to_customers(&app).await;
    assert!(
        sent.contains("\"447700900123\""),
        "WhatsApp waid without +: {sent}"
    );

    // Transcript.
    let session = app
        .store
        .session_by_customer(domain::Channel::Whatsapp, "447700900123")
        .await
        .unwrap()
        .unwrap();
    // Posted into the space; delivered according to Connect's receipts.
    eventually("transcript statuses", || async {
        let m = app.store.messages(&session.id).await.unwrap();
        m.len() == 2 && m[0].status == "sent" && m[1].status == "delivered"
    })
    .await;
    let transcript = app.store.messages(&session.id).await.unwrap();
    assert_eq!(transcript[0].direction, "inbound");
    assert_eq!(transcript[1].direction, "outbound");

    // Agent B starts a conversation with the same customer: the next message goes to B.
    let b = sign_in(&app, "agent-b@example.com").await;
    let (status, _) = b
        .call(
            "contacts/start",
            &[
                ("contact_id", &id),
                ("channel", "whatsapp"),
                ("nonce", "n2"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token_b = agent_token(&app, "agent-b@example.com").await;
    eventually("greeting in Agent B's space", || async {
        agent_inbox(&app, &token_b)
            .await
            .iter()
            .any(|(_, t)| t.contains("Conversation with Mr Doe"))
    })
    .await;
    customer_sends(&app, "whatsapp", "447700900123", "Who is this now?").await;
    eventually("the customer's next message reaches Agent B", || async {
        agent_inbox(&app, &token_b)
            .await
            .iter()
            .any(|(_, t)| t == "Who is this now?")
    })
    .await;
    assert!(
        !agent_inbox(&app, &token_a)
            .await
            .iter()
            .any(|(_, t)| t == "Who is this now?"),
        "Agent A no longer receives the customer"
    );
}

#[tokio::test]
async fn sms_redelivered_webhooks_relay_once_and_forged_ones_are_refused() {
    let app = native_app().await;
    let a = sign_in(&app, "agent-a@example.com").await;
    let (_, contact) = a
        .call(
            "contacts/save",
            &[
                ("id", ""),
                ("name", "Ms Roe"),
                ("msisdn", "+447700900456"),
                ("version", ""),
            ],
        )
        .await;
    let id = contact["id"].as_str().unwrap().to_string();
    a.call(
        "contacts/start",
        &[("contact_id", &id), ("channel", "sms"), ("nonce", "s1")],
    )
    .await;
    let token = agent_token(&app, "agent-a@example.com").await;
    let room = room_with(&app, &token, "Ms Roe on SMS").await;

    // Every webhook and inbound delivery is sent twice from now on.
    for only in ["webhook", "inbound"] {
        let r = app
            .client
            .post(app.url("/sandbox/control/deliveries"))
            .json(&json!({ "mode": "duplicate", "count": 5, "only": only }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    agent_writes(&app, &token, &room, "Your order has shipped").await;
    customer_sends(&app, "sms", "+447700900456", "Thanks!").await;
    eventually("both directions relayed", || async {
        sent_to_customers(&app)
            .await
            .contains("Your order has shipped")
            && agent_inbox(&app, &token)
                .await
                .iter()
                .any(|(_, t)| t == "Thanks!")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sent_to_customers(&app)
            .await
            .matches("Your order has shipped")
            .count(),
        1,
        "one SMS, not two"
    );
    assert_eq!(
        agent_inbox(&app, &token)
            .await
            .iter()
            .filter(|(_, t)| t == "Thanks!")
            .count(),
        1
    );
    assert!(
        sent_to_customers(&app).await.contains("\"+447700900456\""),
        "SMS msisdn with +"
    );

    // A forged Webex event changes nothing.
    let r = app
        .client
        .post(app.url("/webhooks/webex"))
        .header("x-spark-signature", "00".repeat(20))
        .body(r#"{"resource":"messages","event":"created","createdBy":"x","data":{"id":"forged","personId":"y"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .post(app.url("/webhooks/connect/inbound?token=wrong"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
