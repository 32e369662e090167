//! Forged webhook deliveries: each route refuses a delivery without the
//! credentials its sender has (401, the same answer everywhere, nothing
//! read or stored), and no webhook is read while the relay is off (404).
//! The rules are `relay::webhook_auth`'s; the signatures here are the
//! driver's, which shares no HMAC code with the product.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::relay::{hub_signature, native_app_with, HUB_SECRET};
use crate::common::TestApp;
use sandbox::driver::spark_signature;
use server::integrations::Secret;

const INBOUND_TOKEN: &str = "inbound-token-0123456789abcdef";
const WEBEX_SECRET: &str = "webex-webhook-secret-0123456789";

async fn relay_app() -> TestApp {
    native_app_with(|c| {
        c.integrations.connect_inbound_token = Some(Secret::new(INBOUND_TOKEN));
        c.integrations.webex_webhook_secret = Some(Secret::new(WEBEX_SECRET));
    })
    .await
}

/// POSTs `body` to `path` with the headers given; the status and JSON answer.
async fn deliver(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_refused((status, answer): (StatusCode, Value), what: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
    assert_eq!(
        answer,
        json!({ "error": "signature missing or wrong" }),
        "{what}"
    );
}

/// A message event of a guest's webhook, written by someone else than the
/// guest (an agent), for a guest without a session.
fn webex_event(message_id: &str) -> String {
    json!({
        "resource": "messages", "event": "created", "createdBy": "guest-without-session",
        "data": { "id": message_id, "personId": "an-agent", "roomId": "a-room" }
    })
    .to_string()
}

#[tokio::test]
async fn a_webex_event_without_the_right_signature_is_refused_unread() {
    let app = relay_app().await;
    let event = webex_event("forged-1");
    let path = "/webhooks/webex";
    assert_refused(deliver(&app, path, &[], &event).await, "no signature");
    let other_body = spark_signature(WEBEX_SECRET, webex_event("other").as_bytes());
    assert_refused(
        deliver(&app, path, &[("x-spark-signature", &other_body)], &event).await,
        "another body's signature",
    );
    let other_secret = spark_signature("not-the-secret", event.as_bytes());
    assert_refused(
        deliver(&app, path, &[("x-spark-signature", &other_secret)], &event).await,
        "signed with another secret",
    );
    // Connect's credentials open no Webex door.
    let hub = hub_signature(event.as_bytes());
    assert_refused(
        deliver(
            &app,
            &format!("{path}?token={INBOUND_TOKEN}"),
            &[("x-hub-signature", &hub)],
            &event,
        )
        .await,
        "Connect's token and signature",
    );
    // Refused before it is parsed: junk is 401, not 400.
    assert_refused(
        deliver(&app, path, &[("x-spark-signature", "00")], "not json").await,
        "unsigned junk",
    );

    // Nothing refused was stored: the signed event is new, once.
    let signed = || async {
        let r = app
            .driver
            .webex_webhook(WEBEX_SECRET, event.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["status"].clone()
    };
    assert_eq!(signed().await, "ignored");
    assert_eq!(signed().await, "duplicate");
}

#[tokio::test]
async fn connect_deliveries_need_the_urls_token_even_when_signed() {
    let app = relay_app().await;
    let event = json!({ "channel": "SMS", "tid": "token-1", "oa": "+447700900499",
                        "da": "CONTACTMGR", "message": "hello",
                        "ts": "2026-01-01T10:00:00.000Z" })
    .to_string();
    let signed = hub_signature(event.as_bytes());
    let headers = [("x-hub-signature", signed.as_str())];
    let shouted = INBOUND_TOKEN.to_uppercase();
    let longer = format!("{INBOUND_TOKEN}0");
    let shorter = &INBOUND_TOKEN[..INBOUND_TOKEN.len() - 1];
    for route in ["inbound", "receipts"] {
        let path = format!("/webhooks/connect/{route}");
        for (query, what) in [
            (String::new(), "no token"),
            ("?token=".to_string(), "an empty token"),
            (format!("?token={shouted}"), "the token in capitals"),
            (format!("?token={longer}"), "a longer token"),
            (format!("?token={shorter}"), "a shorter token"),
            (
                format!("?key={INBOUND_TOKEN}"),
                "the token under another name",
            ),
        ] {
            let answer = deliver(&app, &format!("{path}{query}"), &headers, &event).await;
            assert_refused(answer, &format!("{route}: {what}"));
        }
    }
    // Nothing refused was stored: with the token, the message is new.
    let (status, answer) = deliver(
        &app,
        &format!("/webhooks/connect/inbound?token={INBOUND_TOKEN}"),
        &headers,
        &event,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "queued");
}

#[tokio::test]
async fn a_receipt_with_a_wrong_hub_signature_is_refused_and_one_without_is_accepted() {
    let app = relay_app().await;
    // A receipt for a message we never sent: acknowledged and ignored, and
    // remembered, so the same receipt again is a duplicate.
    let receipt = json!({ "deliveryInfoNotification": {
        "transid": "receipt-tid-1", "correlationid": "not-ours",
        "deliveryInfo": { "code": "7500", "description": "delivered" } } })
    .to_string();
    let path = format!("/webhooks/connect/receipts?token={INBOUND_TOKEN}");
    let another_body = hub_signature(b"{}");
    let another_secret = sandbox::driver::hub_signature("not-the-hub-secret", receipt.as_bytes());
    let sha1_length = "ab".repeat(20);
    for (signature, what) in [
        (another_body.as_str(), "another body's signature"),
        (another_secret.as_str(), "signed with another secret"),
        (sha1_length.as_str(), "a SHA-1-sized signature"),
        ("junk", "not hex"),
    ] {
        let answer = deliver(&app, &path, &[("x-hub-signature", signature)], &receipt).await;
        assert_refused(answer, what);
    }
    // Connect does not say receipts are signed: one without a signature is
    // taken (and the refused ones stored nothing: it is new).
    let (status, answer) = deliver(&app, &path, &[], &receipt).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "ignored", "{answer}");
    // A right signature is taken too.
    let right = hub_signature(receipt.as_bytes());
    let (status, answer) = deliver(&app, &path, &[("x-hub-signature", &right)], &receipt).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "duplicate", "{answer}");
}

#[tokio::test]
async fn an_inbound_message_without_a_hub_signature_is_refused_when_a_secret_is_set() {
    let app = relay_app().await;
    let event = json!({ "channel": "SMS", "tid": "unsigned-1", "oa": "+447700900498",
                        "da": "CONTACTMGR", "message": "hello",
                        "ts": "2026-01-01T10:00:00.000Z" })
    .to_string();
    let path = format!("/webhooks/connect/inbound?token={INBOUND_TOKEN}");
    assert_refused(deliver(&app, &path, &[], &event).await, "no signature");
    // Webex's header is not Connect's.
    let spark = spark_signature(HUB_SECRET, event.as_bytes());
    assert_refused(
        deliver(&app, &path, &[("x-spark-signature", &spark)], &event).await,
        "a Webex-style signature",
    );
    let right = hub_signature(event.as_bytes());
    let (status, answer) = deliver(&app, &path, &[("x-hub-signature", &right)], &event).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "queued", "{answer}");
}

#[tokio::test]
async fn no_webhook_is_read_while_the_relay_is_off() {
    // Connect runs the workflows: the webhooks answer 404 whatever they carry.
    let app = TestApp::spawn_with(|c| {
        c.integrations.connect_inbound_token = Some(Secret::new(INBOUND_TOKEN));
        c.integrations.webex_webhook_secret = Some(Secret::new(WEBEX_SECRET));
    })
    .await;
    let event = webex_event("relay-off-1");
    let spark = spark_signature(WEBEX_SECRET, event.as_bytes());
    let hub = hub_signature(event.as_bytes());
    let off = json!({ "error": "the native relay is off (CM_RELAY_MODE)" });
    for (path, headers) in [
        ("/webhooks/webex".to_string(), vec![]),
        (
            "/webhooks/webex".to_string(),
            vec![("x-spark-signature", spark.as_str())],
        ),
        ("/webhooks/connect/inbound?token=wrong".to_string(), vec![]),
        (
            format!("/webhooks/connect/inbound?token={INBOUND_TOKEN}"),
            vec![("x-hub-signature", hub.as_str())],
        ),
        ("/webhooks/connect/receipts".to_string(), vec![]),
        (
            format!("/webhooks/connect/receipts?token={INBOUND_TOKEN}"),
            vec![],
        ),
    ] {
        let (status, answer) = deliver(&app, &path, &headers, &event).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(answer, off, "{path}");
    }
}
