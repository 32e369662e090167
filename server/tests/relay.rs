//! The native relay end to end through the sandbox: start a conversation,
//! agent to customer, customer to agent, Agent B taking over, redelivered
//! webhooks relayed once, forged signatures refused.

mod common;

use common::relay::*;
use common::sign_in;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::integrations::Secret;
use std::time::Duration;

const INBOUND_TOKEN: &str = "relay-inbound-token";

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
    let session = session_of(&app, domain::Channel::Whatsapp, "447700900123").await;
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
    // Agent A writing in the old space reaches nobody, and A is told why.
    agent_writes(&app, &token_a, &room_a, "Still there, Mr Doe?").await;
    eventually("a notice in Agent A's space", || async {
        agent_inbox(&app, &token_a).await.iter().any(|(r, t)| {
            *r == room_a && t.contains("agent-b@example.com has taken this conversation over")
        })
    })
    .await;
    assert!(!sent_to_customers(&app)
        .await
        .contains("Still there, Mr Doe?"));
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
    // Without a token at all, inbound messages and receipts alike.
    for path in ["/webhooks/connect/inbound", "/webhooks/connect/receipts"] {
        let r = app
            .client
            .post(app.url(path))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn a_session_made_through_the_api_is_provisioned_on_the_customers_first_message() {
    let app = native_app().await;
    let number = "+447700900401";
    let (status, body) = app
        .post(
            "/api/v1/sessions",
            json!({ "customerChannel": "sms", "customerChannelId": number,
                    "collabAgentId": "agent-a@example.com" }),
        )
        .await;
    assert!(status.is_success(), "{body}");
    customer_sends(&app, "sms", number, "Hello from an API session").await;
    let token = agent_token(&app, "agent-a@example.com").await;
    let room = room_with(&app, &token, "Hello from an API session").await;
    // The guest's webhook exists now: the agent's answer reaches the customer.
    agent_writes(&app, &token, &room, "Answer to the API session").await;
    eventually("the answer on the phone", || async {
        sent_to_customers(&app)
            .await
            .contains("Answer to the API session")
    })
    .await;
}

async fn relay_app() -> common::TestApp {
    native_app_with(|c| c.integrations.connect_inbound_token = Some(Secret::new(INBOUND_TOKEN)))
        .await
}

/// An SMS as Connect's outbound webhook posts it.
fn sms_mo(tid: &str, text: &str) -> Value {
    json!({ "channel": "SMS", "tid": tid, "oa": "+447700900499", "da": "CONTACTMGR",
            "message": text, "ts": "2026-01-01T10:00:00.000Z" })
}

#[tokio::test]
async fn webhook_urls_answer_connects_save_test_with_no_token_and_no_effect() {
    let app = relay_app().await;
    let event = sms_mo("save-test", "hello");
    for path in [
        "/webhooks/connect/inbound",
        "/webhooks/connect/receipts",
        "/webhooks/webex",
    ] {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            // A body and no token: still 200, and nothing is read or stored.
            let r = app
                .client
                .request(method.clone(), app.url(path))
                .body(event.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{method} {path}");
        }
    }
    // The same event posted for real is new, so the save test stored nothing.
    let r = connect_delivers(&app, INBOUND_TOKEN, &event).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "queued");
}

#[tokio::test]
async fn inbound_deliveries_need_connects_signature_when_a_hub_secret_is_set() {
    let app = relay_app().await;
    let event = sms_mo("signed-1", "hello");
    let url = app.url(&format!("/webhooks/connect/inbound?token={INBOUND_TOKEN}"));
    let post = |signature: Option<String>| {
        let mut r = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(event.to_string());
        if let Some(s) = signature {
            r = r.header("x-hub-signature", s);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let wrong = hub_signature(sms_mo("signed-1", "tampered").to_string().as_bytes());
    assert_eq!(
        post(Some(wrong)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let sha1_length = "ab".repeat(20);
    assert_eq!(
        post(Some(sha1_length)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Refused ones stored nothing: the first signed delivery is new.
    let right = hub_signature(event.to_string().as_bytes());
    let r = post(Some(right.clone())).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "queued");
    let again = post(Some(right)).await.unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
}

#[tokio::test]
async fn whatsapp_locations_contacts_replies_reactions_and_unknown_kinds_reach_the_agent() {
    let app = native_app().await;
    let number = "+447700900488";
    let (token, _) = start_conversation(&app, "Lena Location", number, "whatsapp").await;
    customer_whatsapp_event(
        &app,
        number,
        "location",
        json!({"latitude": 51.5, "longitude": -0.12, "name": "Office", "address": "1 Main St"}),
    )
    .await;
    customer_whatsapp_event(
        &app,
        number,
        "contacts",
        json!([{"name": {"formatted_name": "Ann Smith"}, "phones": [{"phone": "+447700900777"}]}]),
    )
    .await;
    customer_whatsapp_event(&app, number, "button", json!({"text": "Yes"})).await;
    customer_whatsapp_event(
        &app,
        number,
        "interactive",
        json!({"type": "button_reply", "button_reply": {"id": "b1", "title": "Call me"}}),
    )
    .await;
    customer_whatsapp_event(&app, number, "reaction", json!({"emoji": "👍"})).await;
    customer_whatsapp_event(&app, number, "unsupported", json!({"type": "sticker"})).await;
    let expected = [
        "📍 Location: 51.5, -0.12 (Office, 1 Main St)",
        "Contact: Ann Smith +447700900777",
        "Replied: Yes",
        "Replied: Call me",
        "Reacted 👍 to a message",
        "(The customer sent a sticker message, which cannot be shown here.)",
    ];
    eventually("each one readable in the agent's space", || async {
        let inbox = agent_inbox(&app, &token).await;
        expected.iter().all(|e| inbox.iter().any(|(_, t)| t == e))
    })
    .await;
}

/// The sandbox's Webex API calls of one method and path suffix.
async fn api_calls(app: &common::TestApp, method: &str, path_ends: &str) -> usize {
    let calls = app.driver.calls(Some("api")).await;
    calls
        .iter()
        .filter(|c| c["method"] == method && c["path"].as_str().unwrap_or("").ends_with(path_ends))
        .count()
}

/// Every webhook the sandbox's Webex has, as its control API lists them.
async fn webex_webhooks(app: &common::TestApp) -> Vec<Value> {
    let all: Value = app
        .client
        .get(app.url("/sandbox/control/webhooks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all["items"].as_array().expect("a list").clone()
}

#[tokio::test]
async fn guests_come_from_the_service_app_and_a_refused_token_logs_the_guest_in_again() {
    let app = native_app().await;
    let number = "447700900301";
    let (token, room) = start_conversation(&app, "Mr Service", number, "sms").await;
    assert!(api_calls(&app, "POST", "/guests/token").await >= 1);
    assert_eq!(
        api_calls(&app, "POST", "/jwt/login").await,
        0,
        "a new install makes guests with its Service App"
    );
    agent_writes(&app, &token, &room, "First reply").await;
    eventually("the first reply reaches the phone", || async {
        phone_received(&app, "sms", number)
            .await
            .contains(&"First reply".to_string())
    })
    .await;
    let logins = api_calls(&app, "POST", "/guests/token").await;

    // Webex stops accepting the guest's cached token.
    let r = app
        .client
        .post(app.url("/sandbox/control/guest-tokens/revoke"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    agent_writes(&app, &token, &room, "Second reply").await;
    eventually("the second reply reaches the phone", || async {
        phone_received(&app, "sms", number)
            .await
            .contains(&"Second reply".to_string())
    })
    .await;
    assert_eq!(
        api_calls(&app, "POST", "/guests/token").await,
        logins + 1,
        "the refused token was dropped and the guest logged in once more"
    );
}

#[tokio::test]
async fn installs_with_a_guest_issuer_keep_working() {
    let app = native_app_with(|c| {
        c.integrations.webex_guests = Some(server::integrations::GuestMode::GuestIssuer)
    })
    .await;
    let number = "447700900302";
    let (token, room) = start_conversation(&app, "Mr Issuer", number, "sms").await;
    agent_writes(&app, &token, &room, "Hello from the issuer").await;
    eventually("the reply reaches the phone", || async {
        phone_received(&app, "sms", number)
            .await
            .contains(&"Hello from the issuer".to_string())
    })
    .await;
    assert!(api_calls(&app, "POST", "/jwt/login").await >= 1);
    assert_eq!(api_calls(&app, "POST", "/guests/token").await, 0);
    let admin = admin_browser(&app).await;
    let (_, status) = admin.read("admin/integrations", &[]).await;
    assert!(
        status.to_string().contains("Guest Issuer"),
        "the admin page says which guest app is in use: {status}"
    );
}

async fn admin_browser(app: &common::TestApp) -> common::Browser<'_> {
    common::add_agent(app, "ops@example.com", domain::model::Role::Admin).await;
    sign_in(app, "ops@example.com").await
}

#[tokio::test]
async fn webhooks_webex_turned_off_are_turned_back_on_and_missing_ones_created_again() {
    let app = native_app().await;
    let number = "447700900303";
    let (token, room) = start_conversation(&app, "Mr Hook", number, "sms").await;
    agent_writes(&app, &token, &room, "Before the outage").await;
    eventually("the first reply reaches the phone", || async {
        phone_received(&app, "sms", number)
            .await
            .contains(&"Before the outage".to_string())
    })
    .await;
    let hooks = webex_webhooks(&app).await;
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let hook_id = hooks[0]["id"].as_str().unwrap().to_string();

    // Webex gives up on the webhook (as after repeated failed deliveries):
    // the agent's words no longer reach the relay.
    let r = app
        .client
        .post(app.url(&format!("/sandbox/control/webhooks/{hook_id}/deactivate")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    agent_writes(&app, &token, &room, "Lost while off").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!phone_received(&app, "sms", number)
        .await
        .contains(&"Lost while off".to_string()));

    let admin = admin_browser(&app).await;
    let (status, body) = admin.call("admin/webhooks/check", &[]).await;
    assert!(status.is_success(), "{body}");
    let hooks = webex_webhooks(&app).await;
    assert_eq!(hooks[0]["status"], "active", "{hooks:?}");
    let (_, report) = admin.read("admin/integrations", &[]).await;
    assert!(report.to_string().contains("1 turned back on"), "{report}");
    eventually(
        "what the agent wrote while it was off reaches the phone",
        || async {
            phone_received(&app, "sms", number)
                .await
                .contains(&"Lost while off".to_string())
        },
    )
    .await;
    agent_writes(&app, &token, &room, "Back on").await;
    eventually("the reply after the fix reaches the phone", || async {
        phone_received(&app, "sms", number)
            .await
            .contains(&"Back on".to_string())
    })
    .await;

    // The webhook is deleted: the next check creates it again.
    let (_, guest) = app
        .post(
            "/api/v1/guests/token",
            json!({ "channel": "sms", "channelId": number, "exchange": true }),
        )
        .await;
    let guest_token = guest["accessToken"].as_str().expect("a guest token");
    let r = app
        .client
        .delete(app.url(&format!("/sandbox/webex/v1/webhooks/{hook_id}")))
        .bearer_auth(guest_token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let (status, _) = admin.call("admin/webhooks/check", &[]).await;
    assert!(status.is_success());
    let hooks = webex_webhooks(&app).await;
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_ne!(hooks[0]["id"], hook_id.as_str(), "a new webhook");
    let (_, report) = admin.read("admin/integrations", &[]).await;
    assert!(report.to_string().contains("1 created again"), "{report}");
    agent_writes(&app, &token, &room, "Through the new webhook").await;
    eventually(
        "the reply through the new webhook reaches the phone",
        || async {
            phone_received(&app, "sms", number)
                .await
                .contains(&"Through the new webhook".to_string())
        },
    )
    .await;
    let received = phone_received(&app, "sms", number).await;
    for text in ["Before the outage", "Lost while off", "Back on"] {
        assert_eq!(
            received.iter().filter(|t| *t == text).count(),
            1,
            "looking through the space again sends nothing twice: {received:?}"
        );
    }
}

#[tokio::test]
async fn the_jobs_a_webhook_causes_carry_its_request_id() {
    let app = relay_app().await;
    let body = sms_mo("trace-tid-1", "where is my parcel?").to_string();
    let r = app
        .driver
        .connect_inbound(INBOUND_TOKEN, HUB_SECRET, body)
        .header("x-request-id", "trace-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-request-id"], "trace-req-1");
    // The customer has no session: the dialogue's reply is a second job,
    // made by the first, and carries the same id.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url()).await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..200 {
        kinds = sqlx::query_as::<_, (String,)>(
            "SELECT kind FROM outbox WHERE payload LIKE '%\"requestId\":\"trace-req-1\"%' ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(k,)| k)
        .collect();
        if kinds.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kinds, ["customer_message", "send_to_customer"], "{kinds:?}");
}

/// `/metrics` for Prometheus, behind its bearer token: a relayed message
/// shows up as an acknowledged webhook, an outbox attempt, a delivery time
/// and Webex's answers; the queue is read from the database at each scrape.
#[tokio::test]
async fn metrics_count_what_the_relay_did_for_a_scraper_with_the_token() {
    const TOKEN: &str = "a-metrics-token-for-the-tests";
    let app = native_app_with(|c| c.metrics_token = Some(Secret::new(TOKEN))).await;
    let scrape = |token: Option<&'static str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    assert_eq!(scrape(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(Some("not-the-token-at-all")).await.0,
        StatusCode::UNAUTHORIZED
    );

    let (token, room) = start_conversation(&app, "Mr Metrics", "+447700900181", "sms").await;
    customer_sends(&app, "sms", "+447700900181", "counted, I hope").await;
    eventually("the customer's message in the space", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(r, t)| *r == room && t == "counted, I hope")
    })
    .await;
    // Tests share the process's recorder: look for this test's series, not totals.
    let series = [
        "cm_webhook_requests_total{source=\"connect_inbound\",result=\"queued\"}",
        "cm_webhook_ack_seconds_bucket{source=\"connect_inbound\",le=\"0.1\"}",
        "cm_outbox_attempts_total{kind=\"post_to_agent\",result=\"done\"}",
        "cm_relay_end_to_end_seconds_bucket{direction=\"to_agent\",le=\"+Inf\"}",
        "cm_platform_responses_total{platform=\"webex\",status=\"200\"}",
        "cm_sign_ins_total{method=\"password\",result=\"ok\"}",
        "cm_outbox_pending_jobs ",
        "cm_outbox_oldest_pending_age_seconds ",
        "cm_outbox_dead_jobs ",
    ];
    let (status, text) = scrape(Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    for s in series {
        assert!(text.contains(s), "{s} missing from:\n{text}");
    }
}

/// Reads an event stream in the background; what it has received so far.
fn listen(mut response: reqwest::Response) -> std::sync::Arc<std::sync::Mutex<String>> {
    let received = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let into = received.clone();
    tokio::spawn(async move {
        while let Ok(Some(chunk)) = response.chunk().await {
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    received
}

/// The live sidebar: `/events` tells a signed-in agent that one of their
/// sessions changed (and not another agent), refuses anyone signed out,
/// and the sessions list counts what the agent has not seen until they
/// open the session.
#[tokio::test]
async fn the_sidebar_hears_of_its_own_sessions_live_and_counts_unread_messages() {
    let app = native_app().await;
    let (_, room) = start_conversation(&app, "Mr Live", "+447700900191", "sms").await;
    let a = sign_in(&app, "agent-a@example.com").await;
    let b = sign_in(&app, "agent-b@example.com").await;
    let (_, list) = a
        .read("sessions/list", &[("scope", "mine"), ("page", "1")])
        .await;
    let session_id = list["rows"][0]["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!room.is_empty());

    let stream = |cookie: Option<&str>| {
        let mut request = app.client.get(app.url("/events"));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    assert_eq!(
        stream(None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let to_a = stream(Some(&a.cookie)).await.unwrap();
    assert_eq!(to_a.status(), StatusCode::OK);
    assert_eq!(to_a.headers()["content-type"], "text/event-stream");
    let (heard_by_a, heard_by_b) = (listen(to_a), listen(stream(Some(&b.cookie)).await.unwrap()));

    customer_sends(&app, "sms", "+447700900191", "are you there?").await;
    customer_sends(&app, "sms", "+447700900191", "hello?").await;
    let event = format!("event: session\ndata: {{\"id\":\"{session_id}\"}}");
    eventually("Agent A hears that the session changed", || async {
        heard_by_a.lock().unwrap().contains(&event)
    })
    .await;
    let unread = || async {
        let (_, list) = a
            .read("sessions/list", &[("scope", "mine"), ("page", "1")])
            .await;
        list["rows"][0]["unread"].as_i64().unwrap_or(-1)
    };
    eventually("two unread messages in the list", || async {
        unread().await == 2
    })
    .await;
    // Agent B (no admin) is not told of Agent A's customer.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !heard_by_b.lock().unwrap().contains(&session_id),
        "{}",
        heard_by_b.lock().unwrap()
    );
    // Opening the session reads it.
    let (status, _) = a.read("sessions/get", &[("id", &session_id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unread().await, 0);
}

/// Webex takes at most 7439 bytes of text a message; WhatsApp allows 4096
/// characters, which can be more bytes: such a message reaches the agent as
/// several messages, in order, with nothing lost.
#[tokio::test]
async fn a_customer_message_longer_than_webex_takes_arrives_in_pieces_in_order() {
    let app = native_app().await;
    let number = "+447700900193";
    let (token, room) = start_conversation(&app, "Lena Long", number, "whatsapp").await;
    let long = format!("{}{}", "é".repeat(3500), " fin ".repeat(100)); // 7,500 bytes, 4,000 characters
    assert!(long.len() > platform::webex::MAX_TEXT_BYTES && long.chars().count() <= 4096);
    customer_sends(&app, "whatsapp", number, &long).await;
    let pieces = eventually_value(&app, &token, &room, &long).await;
    assert_eq!(pieces.len(), 2, "two messages");
    assert!(pieces
        .iter()
        .all(|p| p.len() <= platform::webex::MAX_TEXT_BYTES));
}

/// Waits until the space holds the pieces of `whole` (oldest first); them.
async fn eventually_value(
    app: &common::TestApp,
    token: &str,
    room: &str,
    whole: &str,
) -> Vec<String> {
    let what = "every piece in the agent's space, in order";
    sandbox::driver::wait_for(what, Duration::from_secs(20), || async {
        // Webex lists a space newest first.
        let mut texts: Vec<String> = agent_inbox(app, token)
            .await
            .into_iter()
            .filter(|(r, t)| r == room && (t.contains('é') || t.contains("fin")))
            .map(|(_, t)| t)
            .collect();
        texts.reverse();
        // Pieces are cut after a space, which Webex trims: compare the words.
        let joined = texts.join(" ");
        joined
            .split_whitespace()
            .eq(whole.split_whitespace())
            .then_some(texts)
    })
    .await
}
