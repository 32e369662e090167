//! Webhook CRUD and signed `messages:created` deliveries.

mod common;

use common::*;
use serde_json::{json, Value};

async fn create_webhook(h: &Harness, token: &str, body: Value) -> (u16, Value) {
    let response = h
        .http
        .post(h.webex("/webhooks"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn webhook_crud() {
    let h = start().await;
    let token = h.agent_token(AGENT_A).await;
    let (status, _) = create_webhook(&h, &token, json!({"name": "x"})).await;
    assert_eq!(status, 400, "name, targetUrl, resource, event are required");

    let (status, created) = create_webhook(
        &h,
        &token,
        json!({"name": "relay", "targetUrl": h.receiver.url("/webex"), "resource": "messages",
               "event": "created", "secret": "s3cret"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(created["status"], "active");
    assert_eq!(created["secret"], "s3cret");
    let id = created["id"].as_str().unwrap();

    let list: Value = h
        .http
        .get(h.webex("/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let other = h.agent_token(AGENT_B).await;
    let list: Value = h
        .http
        .get(h.webex("/webhooks"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]), "webhooks belong to their creator");

    let got: Value = h
        .http
        .get(h.webex(&format!("/webhooks/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "relay");

    let updated: Value = h
        .http
        .put(h.webex(&format!("/webhooks/{id}")))
        .bearer_auth(&token)
        .json(&json!({"name": "renamed", "targetUrl": h.receiver.url("/webex2")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["targetUrl"], h.receiver.url("/webex2"));
    assert_eq!(updated["resource"], "messages", "resource cannot change");

    let deleted = h
        .http
        .delete(h.webex(&format!("/webhooks/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = h
        .http
        .get(h.webex(&format!("/webhooks/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn message_events_are_signed_envelopes_without_text() {
    let h = start().await;
    let guest = h.guest_token("whatsapp_447700900123", "Jane").await;
    let guest_me = h.me(&guest).await;
    let (_, hook) = create_webhook(
        &h,
        &guest,
        json!({"name": "guest", "targetUrl": h.receiver.url("/webex"), "resource": "messages",
               "event": "created", "secret": "guest-secret"}),
    )
    .await;
    // A second webhook without a secret, filtered to the agent's messages only.
    let agent = h.agent_token(AGENT_A).await;
    create_webhook(
        &h,
        &agent,
        json!({"name": "agent", "targetUrl": h.receiver.url("/agent-hook"), "resource": "messages",
               "event": "created", "filter": format!("personEmail={AGENT_A}")}),
    )
    .await;

    let (_, first) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "text": "secret words"}),
        )
        .await;
    let (_, reply) = h
        .send_message(&agent, &json!({"roomId": first["roomId"], "text": "hello"}))
        .await;

    let deliveries = h.receiver.wait_for("/webex", 2).await;
    for d in &deliveries {
        let expected = hmac_sha1_hex(b"guest-secret", &d.body);
        assert_eq!(d.headers["x-spark-signature"].to_str().unwrap(), expected);
        assert!(!String::from_utf8_lossy(&d.body).contains("secret words"));
    }
    let envelope = deliveries[0].json();
    assert_eq!(envelope["id"], hook["id"]);
    assert_eq!(envelope["resource"], "messages");
    assert_eq!(envelope["event"], "created");
    assert_eq!(envelope["actorId"], guest_me["id"]);
    assert_eq!(envelope["data"]["id"], first["id"]);
    assert_eq!(envelope["data"]["roomId"], first["roomId"]);
    assert_eq!(envelope["data"]["roomType"], "direct");
    assert_eq!(envelope["data"]["personEmail"], guest_me["emails"][0]);
    assert!(envelope["data"].get("text").is_none());
    assert_eq!(deliveries[1].json()["data"]["id"], reply["id"]);

    let filtered = h.receiver.wait_for("/agent-hook", 1).await;
    assert_eq!(filtered[0].json()["data"]["id"], reply["id"]);
    assert!(filtered[0].headers.get("x-spark-signature").is_none());
    // Give a wrongly matched delivery a chance to arrive before counting.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        h.receiver.captured("/agent-hook").len(),
        1,
        "filter excludes the guest's message"
    );
}

#[tokio::test]
async fn webhooks_do_not_fire_for_rooms_their_owner_is_not_in() {
    let h = start().await;
    let outsider = h.agent_token(AGENT_B).await;
    create_webhook(
        &h,
        &outsider,
        json!({"name": "b", "targetUrl": h.receiver.url("/b"), "resource": "messages", "event": "created"}),
    )
    .await;
    let guest = h.guest_token("g", "Jane").await;
    h.send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "hi"}))
        .await;
    // A marker delivery proves the worker ran past the message above.
    let a = h.agent_token(AGENT_A).await;
    create_webhook(
        &h,
        &a,
        json!({"name": "a", "targetUrl": h.receiver.url("/a"), "resource": "messages", "event": "created"}),
    )
    .await;
    h.send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "again"}))
        .await;
    h.receiver.wait_for("/a", 1).await;
    assert!(h.receiver.captured("/b").is_empty());
}
