//! Webhook CRUD and signed `messages:created` deliveries.

mod common;

use common::*;
use sandbox::driver::spark_signature;
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
    let token = h.driver.agent_token(AGENT_A).await;
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
    let other = h.driver.agent_token(AGENT_B).await;
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
    let agent = h.driver.agent_token(AGENT_A).await;
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
        let expected = spark_signature("guest-secret", &d.body);
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
    let outsider = h.driver.agent_token(AGENT_B).await;
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
    let a = h.driver.agent_token(AGENT_A).await;
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

/// The control API's view of one webhook (status, consecutiveFailures).
async fn health(h: &Harness, id: &str) -> Value {
    let all = h.get_json("/control/webhooks").await;
    all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("webhook {id} in {all}"))
}

/// Waits (bounded) until the webhook's failure count is `n`: the count is
/// recorded just after the delivery's last attempt.
async fn wait_for_failures(h: &Harness, id: &str, n: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let got = health(h, id).await;
        if got["consecutiveFailures"] == n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} failures: {got}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A URL on a loopback port nothing listens on: deliveries get no answer.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/webex")
}

#[tokio::test]
async fn a_webhook_failing_n_times_in_a_row_goes_inactive_until_put_reenables_it() {
    let h = start().await;
    let set: Value = h
        .post_json(
            "/control/webhooks/threshold",
            &json!({"consecutiveFailures": 2}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(set, json!({"consecutiveFailures": 2}));
    let dead = dead_url().await;
    let agent = h.driver.agent_token(AGENT_A).await;
    let (_, relay) = create_webhook(
        &h,
        &agent,
        json!({"name": "relay", "targetUrl": dead, "resource": "messages", "event": "created"}),
    )
    .await;
    let id = relay["id"].as_str().unwrap();
    // The guest's working webhook goes on being delivered meanwhile (each
    // webhook has its own lane).
    let guest = h.guest_token("marker", "Jane").await;
    create_webhook(
        &h,
        &guest,
        json!({"name": "marker", "targetUrl": h.receiver.url("/marker"), "resource": "messages",
               "event": "created"}),
    )
    .await;
    let send = |text: &'static str| {
        let (h, guest) = (&h, &guest);
        async move {
            let (status, message) = h
                .send_message(guest, &json!({"toPersonEmail": AGENT_A, "text": text}))
                .await;
            assert_eq!(status, 200);
            message
        }
    };

    send("one").await;
    h.receiver.wait_for("/marker", 1).await;
    let after_one = wait_for_failures(&h, id, 1).await;
    assert_eq!(after_one["status"], "active");
    send("two").await;
    h.receiver.wait_for("/marker", 2).await;
    let after_two = wait_for_failures(&h, id, 2).await;
    assert_eq!(after_two["status"], "inactive", "{after_two}");
    assert_eq!(after_two["createdBy"], relay["createdBy"]);
    let (_, seen) = h.webex_get(&agent, &format!("/webhooks/{id}")).await;
    assert_eq!(seen["status"], "inactive", "the owner sees it too");

    let dead_attempts = |calls: &[Value]| {
        calls
            .iter()
            .filter(|c| c["kind"] == "delivery" && c["url"] == dead.as_str())
            .count()
    };
    assert_eq!(
        dead_attempts(&h.driver.calls(None).await),
        6,
        "two deliveries, three attempts each"
    );
    send("three, while inactive").await;
    h.receiver.wait_for("/marker", 3).await;
    assert_eq!(
        dead_attempts(&h.driver.calls(None).await),
        6,
        "nothing sent while inactive"
    );

    // PUT needs name and targetUrl; with status active it re-enables.
    let put = |body: Value| {
        h.http
            .put(h.webex(&format!("/webhooks/{id}")))
            .bearer_auth(&agent)
            .json(&body)
            .send()
    };
    let refused = put(json!({"status": "active"})).await.unwrap();
    assert_eq!(refused.status(), 400);
    let updated: Value = put(
        json!({"name": "relay", "targetUrl": h.receiver.url("/relay"),
                                    "status": "active"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(updated["status"], "active");
    assert_eq!(health(&h, id).await["consecutiveFailures"], 0);

    let four = send("four").await;
    let delivered = h.receiver.wait_for("/relay", 1).await;
    assert_eq!(delivered[0].json()["data"]["id"], four["id"]);
    h.receiver.wait_for("/marker", 4).await;
    assert_eq!(
        h.receiver.captured("/relay").len(),
        1,
        "the message sent while inactive is never delivered"
    );
}

#[tokio::test]
async fn deliveries_queued_before_a_webhook_went_inactive_are_dropped() {
    let h = start().await;
    h.post_json(
        "/control/webhooks/threshold",
        &json!({"consecutiveFailures": 1}),
    )
    .await;
    let dead = dead_url().await;
    let agent = h.driver.agent_token(AGENT_A).await;
    let (_, relay) = create_webhook(
        &h,
        &agent,
        json!({"name": "relay", "targetUrl": dead, "resource": "messages", "event": "created"}),
    )
    .await;
    let guest = h.guest_token("marker", "Jane").await;
    create_webhook(
        &h,
        &guest,
        json!({"name": "marker", "targetUrl": h.receiver.url("/marker"), "resource": "messages",
               "event": "created"}),
    )
    .await;
    // Both messages are queued while the relay is still active: its first
    // delivery takes three attempts (about a second) before it fails.
    for text in ["one", "two"] {
        h.send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": text}))
            .await;
    }
    h.receiver.wait_for("/marker", 2).await;
    let id = relay["id"].as_str().unwrap();
    wait_for_failures(&h, id, 1).await;
    // The relay's lane takes the second delivery right after the first's
    // last attempt; had it been tried, its first attempt would show by now.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let attempts = h
        .driver
        .calls(None)
        .await
        .iter()
        .filter(|c| c["kind"] == "delivery" && c["url"] == dead.as_str())
        .count();
    assert_eq!(attempts, 3, "only the first delivery was tried");
    assert_eq!(health(&h, id).await["status"], "inactive");
}

#[tokio::test]
async fn non_2xx_answers_count_as_failures_and_a_delivery_clears_the_count() {
    let h = start().await;
    let threshold = h.get_json("/control/webhooks/threshold").await;
    assert_eq!(
        threshold,
        json!({"consecutiveFailures": 100}),
        "the default"
    );
    let agent = h.driver.agent_token(AGENT_A).await;
    let (_, hook) = create_webhook(
        &h,
        &agent,
        json!({"name": "relay", "targetUrl": h.receiver.url("/hook"), "resource": "messages",
               "event": "created"}),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    let guest = h.guest_token("g", "Jane").await;
    let status = |code: u16| {
        h.receiver
            .status
            .store(code, std::sync::atomic::Ordering::SeqCst)
    };

    status(500);
    h.send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "1"}))
        .await;
    h.receiver.wait_for("/hook", 3).await;
    wait_for_failures(&h, id, 1).await;
    // A 4xx is not retried, but is a failure all the same.
    status(404);
    h.send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "2"}))
        .await;
    h.receiver.wait_for("/hook", 4).await;
    wait_for_failures(&h, id, 2).await;
    status(200);
    h.send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "3"}))
        .await;
    h.receiver.wait_for("/hook", 5).await;
    let healthy = wait_for_failures(&h, id, 0).await;
    assert_eq!(healthy["status"], "active");
}

#[tokio::test]
async fn the_control_api_deactivates_a_webhook_and_reset_restores_the_threshold() {
    let h = start().await;
    let agent = h.driver.agent_token(AGENT_A).await;
    let (_, hook) = create_webhook(
        &h,
        &agent,
        json!({"name": "relay", "targetUrl": h.receiver.url("/hook"), "resource": "messages",
               "event": "created"}),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    let response = h
        .post_json(&format!("/control/webhooks/{id}/deactivate"), &json!({}))
        .await;
    assert_eq!(response.status(), 200);
    let (_, seen) = h.webex_get(&agent, &format!("/webhooks/{id}")).await;
    assert_eq!(seen["status"], "inactive");
    let unknown = h
        .post_json("/control/webhooks/nope/deactivate", &json!({}))
        .await;
    assert_eq!(unknown.status(), 404);

    h.post_json(
        "/control/webhooks/threshold",
        &json!({"consecutiveFailures": 0}),
    )
    .await;
    assert_eq!(h.get_json("/control/webhooks").await["failureThreshold"], 0);
    h.post_json("/control/reset", &json!({})).await;
    let after = h.get_json("/control/webhooks").await;
    assert_eq!(after, json!({"failureThreshold": 100, "items": []}));
}
