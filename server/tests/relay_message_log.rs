//! The admins' message log, black box: a message relayed through the
//! sandbox, whose first send Connect refuses as busy, is found by the
//! customer's number and by Connect's transaction id, and its hops show both
//! tries with what Connect answered.

mod common;

use common::relay::*;
use common::sign_in;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The message log's page of results for a search.
async fn search(admin: &common::Browser<'_>, form: &[(&str, &str)]) -> Value {
    let (status, found) = admin.read("admin/messages", form).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    found
}

#[tokio::test]
async fn a_send_that_failed_once_shows_both_tries_in_the_message_log() {
    let app = native_app().await;
    let number = "+447700900377";
    let (token, room) = start_conversation(&app, "Lou Log", number, "sms").await;
    customer_sends(&app, "sms", number, "Where is my order?").await;
    eventually("the customer's words in the space", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(r, t)| *r == room && t == "Where is my order?")
    })
    .await;

    // Connect is busy for the next send (HTTP 503): the relay tries again.
    let fault = json!({"path": "/connect/*", "method": "POST", "count": 1,
        "kind": "status", "status": 503});
    app.driver.control("faults", &fault).await;
    agent_writes(&app, &token, &room, "It ships today").await;
    phone_shows(&app, "sms", number, "It ships today").await;

    common::add_agent(&app, "admin@example.com", domain::model::Role::Admin).await;
    let admin = sign_in(&app, "admin@example.com").await;
    // By the number as people write it: both ways, newest first.
    let found = search(&admin, &[("customer", "07700 900377")]).await;
    let items = found["items"].as_array().unwrap();
    let bodies: Vec<&str> = items.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["It ships today", "Where is my order?"], "{found}");
    let sent = &items[0];
    assert_eq!(sent["direction"], "outbound");
    assert_eq!(sent["customer"], "+44 7700 900377");
    assert_eq!(sent["agent"], "agent-a@example.com");
    assert_eq!(sent["attempts"], 2, "{sent}");
    assert_eq!(items[1]["direction"], "inbound");
    assert!(
        items[1]["sentAt"].is_string(),
        "posted in the space: {found}"
    );

    // By Connect's transaction id (what Connect answered to the second try).
    let transid = sent["connectTransid"].as_str().expect("Connect's id");
    let by_transid = search(&admin, &[("transid", transid)]).await;
    assert_eq!(by_transid["items"][0]["id"], sent["id"], "{by_transid}");
    assert_eq!(by_transid["items"].as_array().unwrap().len(), 1);
    // By the agent's Webex message id, and filters together.
    let webex_id = sent["providerMessageId"].as_str().unwrap();
    let by_webex = search(
        &admin,
        &[("webex_id", webex_id), ("agent", "Agent-A@example.com")],
    )
    .await;
    assert_eq!(by_webex["items"][0]["id"], sent["id"], "{by_webex}");

    // The hops: received from Webex, a busy try, a try Connect took.
    let id = sent["id"].as_str().unwrap();
    let (status, trail) = admin.read("admin/messages/trail", &[("id", id)]).await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    assert!(trail["receivedAt"].is_string(), "{trail}");
    let job = &trail["jobs"][0];
    assert_eq!(job["kind"], "webex_to_customer", "{trail}");
    assert_eq!(job["status"], "done");
    let tries = job["tries"].as_array().unwrap();
    assert_eq!(tries.len(), 2, "{trail}");
    assert_eq!(tries[0]["outcome"], "retry");
    assert_eq!(tries[0]["httpStatus"], 503);
    assert!(
        tries[0]["answer"].as_str().unwrap().contains("503"),
        "{trail}"
    );
    assert_eq!(tries[1]["outcome"], "done");
    assert!(
        tries[1]["answer"].as_str().unwrap().contains(transid),
        "the answer carries Connect's id: {trail}"
    );

    // Bad input is named; agents may not read the log.
    let (status, bad) = admin
        .read("admin/messages", &[("from", "last tuesday")])
        .await;
    assert_ne!(status, StatusCode::OK);
    assert_eq!(bad["field"], "from", "{bad}");
    let (status, _) = admin
        .read("admin/messages/trail", &[("id", "no-such-message")])
        .await;
    assert_ne!(status, StatusCode::OK);
    let agent = sign_in(&app, "agent-a@example.com").await;
    let (status, _) = agent.read("admin/messages", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = agent.read("admin/messages/trail", &[("id", id)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
