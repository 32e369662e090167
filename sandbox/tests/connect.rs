//! The simulated Webex Connect against reference section 2 and 5.

mod common;

use common::*;
use sandbox::driver::hub_signature;
use serde_json::{json, Value};

fn sms(to: &str, text: &str, notify: &str) -> Value {
    json!({"deliverychannel": "sms", "destination": [{"msisdn": [to]}],
           "channels": {"sms": {"senderid": "SANDBOX", "text": text, "type": "1"}},
           "correlationid": "corr-1", "callbackData": "cb-1", "notifyurl": notify})
}

fn whatsapp_text(waid: &str, text: &str, notify: &str) -> Value {
    json!({"deliverychannel": "whatsapp", "appid": "a_1", "destination": [{"waid": [waid]}],
           "channels": {"OTT-Messaging": {"wa": {"type": "text", "text": {"body": text}}}},
           "correlationid": "", "callbackData": "", "notifyurl": notify})
}

fn receipt_codes(h: &Harness, path: &str) -> Vec<String> {
    h.receiver
        .captured(path)
        .iter()
        .map(|c| {
            c.json()["deliveryInfoNotification"]["deliveryInfo"]["code"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn sms_is_queued_then_receipted_submitted_and_delivered() {
    let h = start().await;
    let body = h
        .connect_v1(&sms("+447700900123", "Hello", &h.receiver.url("/dr")))
        .await;
    assert_eq!(body["response"][0]["code"], "1001");
    assert_eq!(body["response"][0]["description"], "Queued");
    let transid = body["response"][0]["transid"].as_str().unwrap();

    let receipts = h.receiver.wait_for("/dr", 2).await;
    let first = receipts[0].json();
    let info = &first["deliveryInfoNotification"]["deliveryInfo"];
    assert_eq!(info["code"], "7501");
    assert_eq!(info["deliveryStatus"], "Submitted");
    assert_eq!(info["destination"], "+447700900123");
    assert_eq!(info["destinationType"], "msisdn");
    assert_eq!(first["deliveryInfoNotification"]["transid"], transid);
    assert_eq!(first["deliveryInfoNotification"]["callbackData"], "cb-1");
    assert_eq!(first["deliveryInfoNotification"]["correlationid"], "corr-1");
    assert_eq!(receipt_codes(&h, "/dr"), ["7501", "7500"]);

    let thread = h
        .get_json("/phone/api/thread?channel=sms&number=%2B447700900123")
        .await;
    assert_eq!(thread["items"][0]["text"], "Hello");
    assert_eq!(thread["items"][0]["status"], "delivered");
}

#[tokio::test]
async fn errors_are_http_200_with_connect_codes() {
    let h = start().await;
    let send = |key: Option<&'static str>, body: String| {
        let h = &h;
        async move {
            let mut request = h
                .http
                .post(h.url("/connect/resources/v1/messaging"))
                .header("content-type", "application/json")
                .body(body);
            if let Some(key) = key {
                request = request.header("key", key);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let valid = sms("+447700900123", "x", "").to_string();
    let wrong_key = send(Some("wrong"), valid.clone()).await;
    assert_eq!(wrong_key["response"]["code"], "7001");
    assert!(wrong_key["response"]["transid"].is_string());
    assert_eq!(send(None, valid).await["response"]["code"], "7002");
    assert_eq!(
        send(Some(CONNECT_KEY), "{not json".into()).await["response"]["code"],
        "7000"
    );
    let no_text = json!({"deliverychannel": "sms", "destination": [{"msisdn": ["+447700900123"]}]});
    assert_eq!(
        send(Some(CONNECT_KEY), no_text.to_string()).await["response"]["code"],
        "7003"
    );
    let no_destination = json!({"deliverychannel": "sms", "channels": {"sms": {"text": "x"}}});
    assert_eq!(
        send(Some(CONNECT_KEY), no_destination.to_string()).await["response"]["code"],
        "7003"
    );
    let wa_no_app = json!({"deliverychannel": "whatsapp", "destination": [{"waid": ["447700900123"]}],
        "channels": {"OTT-Messaging": {"wa": {"type": "text", "text": {"body": "x"}}}}});
    assert_eq!(
        send(Some(CONNECT_KEY), wa_no_app.to_string()).await["response"]["code"],
        "7003"
    );
    let image_no_mime = json!({"deliverychannel": "whatsapp", "appid": "a", "destination": [{"waid": ["447700900123"]}],
        "channels": {"OTT-Messaging": {"wa": {"type": "image", "image": {"url": "http://x/y.png"}}}}});
    assert_eq!(
        send(Some(CONNECT_KEY), image_no_mime.to_string()).await["response"]["code"],
        "7003"
    );
}

#[tokio::test]
async fn whatsapp_free_form_needs_a_customer_message_in_the_last_24_hours() {
    let h = start().await;
    let dr = h.receiver.url("/dr");
    // Never wrote: free-form fails with 7710 (the sync answer is still "Queued").
    let body = h
        .connect_v1(&whatsapp_text("447700900123", "hi", &dr))
        .await;
    assert_eq!(body["response"][0]["code"], "1001");
    h.receiver.wait_for("/dr", 1).await;
    assert_eq!(receipt_codes(&h, "/dr"), ["7710"]);
    let failed = h.receiver.captured("/dr")[0].json();
    assert_eq!(
        failed["deliveryInfoNotification"]["deliveryInfo"]["deliveryStatus"],
        "Failed"
    );
    assert_eq!(
        failed["deliveryInfoNotification"]["deliveryInfo"]["destinationType"],
        "waid"
    );

    // The customer writes: the window opens.
    assert_eq!(
        h.driver
            .phone_send("whatsapp", "+447700900123", "Jane Doe", "hello", None)
            .await
            .status(),
        200
    );
    h.connect_v1(&whatsapp_text("447700900123", "within window", &dr))
        .await;
    h.receiver.wait_for("/dr", 3).await;
    assert_eq!(receipt_codes(&h, "/dr"), ["7710", "7501", "7500"]);

    // 25 hours later the window is closed again...
    h.post_json("/control/clock", &json!({"advanceSeconds": 90000}))
        .await;
    h.connect_v1(&whatsapp_text("447700900123", "too late", &dr))
        .await;
    h.receiver.wait_for("/dr", 4).await;
    assert_eq!(receipt_codes(&h, "/dr")[3], "7710");

    // ...but a template still goes out.
    let template = json!({"deliverychannel": "whatsapp", "appid": "a_1", "destination": [{"waid": ["447700900123"]}],
        "message": {"template": "602076559564625", "parameters": {"variable1": "Jane"}},
        "channels": {"OTT-Messaging": {"wa": {}}}, "notifyurl": dr});
    assert_eq!(h.connect_v1(&template).await["response"][0]["code"], "1001");
    h.receiver.wait_for("/dr", 6).await;
    assert_eq!(receipt_codes(&h, "/dr")[4..], ["7501", "7500"]);
}

#[tokio::test]
async fn a_registered_template_needs_every_declared_variable_and_no_other() {
    let h = start().await;
    let send = |parameters: Value| {
        json!({"deliverychannel": "whatsapp", "appid": "a_1", "destination": [{"waid": ["447700900123"]}],
               "message": {"template": "sandbox_reengagement", "parameters": parameters},
               "channels": {"OTT-Messaging": {"wa": {}}}})
    };
    let all = json!({"customer": "Jane", "agent": "Ann", "shop": "Acme"});
    assert_eq!(
        h.connect_v1(&send(all)).await["response"][0]["code"],
        "1001"
    );

    let missing = h
        .connect_v1(&send(json!({"customer": "Jane", "agent": "Ann"})))
        .await;
    assert_eq!(missing["response"]["code"], "7003", "{missing}");
    assert!(missing["response"]["description"]
        .as_str()
        .unwrap()
        .contains("shop"));
    let old_names = h
        .connect_v1(&send(json!({"variable1": "Jane", "variable2": "Ann"})))
        .await;
    assert_eq!(old_names["response"]["code"], "7003", "{old_names}");
    let extra = h
        .connect_v1(&send(
            json!({"customer": "J", "agent": "A", "shop": "S", "coupon": "X"}),
        ))
        .await;
    assert_eq!(extra["response"]["code"], "7004", "{extra}");

    // The second registered template, the order update, declares its own variables.
    let order = |parameters: Value| {
        let mut body = send(parameters);
        body["message"]["template"] = json!("sandbox_order_update");
        body
    };
    assert_eq!(
        h.connect_v1(&order(json!({"customer": "Jane", "order": "A-1"})))
            .await["response"][0]["code"],
        "1001"
    );
    let no_order = h.connect_v1(&order(json!({"customer": "Jane"}))).await;
    assert_eq!(no_order["response"]["code"], "7003", "{no_order}");
    assert!(no_order["response"]["description"]
        .as_str()
        .unwrap()
        .contains("order"));
    assert_eq!(
        h.get_json("/control/connect/messages").await["items"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "refused sends are not sent"
    );
}

#[tokio::test]
async fn route_faults_answer_in_the_shape_of_the_api_version() {
    let h = start().await;
    for path in [V1, "/connect/v2/messages"] {
        let fault = json!({"path": path, "kind": "status", "status": 503});
        assert_eq!(h.post_json("/control/faults", &fault).await.status(), 204);
    }
    let v1 = h
        .http
        .post(h.url(V1))
        .header("key", CONNECT_KEY)
        .json(&sms("+447700900123", "x", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 503);
    let v1: Value = v1.json().await.unwrap();
    assert_eq!(v1["response"]["code"], "7006");
    let v2 = h
        .http
        .post(h.url("/connect/v2/messages"))
        .header("key", CONNECT_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 503);
    let v2: Value = v2.json().await.unwrap();
    assert_eq!(v2["code"], "7006");
    assert!(v2["message"].is_string());

    // A refusal: v1 HTTP 200 with the code; v2 HTTP 400 {code, message}.
    for path in [V1, "/connect/v2/messages"] {
        let fault = json!({"path": path, "kind": "refuse", "code": "7004", "message": "Invalid parameters"});
        assert_eq!(h.post_json("/control/faults", &fault).await.status(), 204);
    }
    let v1 = h.connect_v1(&sms("+447700900123", "x", "")).await;
    assert_eq!(v1["response"]["code"], "7004");
    assert_eq!(v1["response"]["description"], "Invalid parameters");
    let v2 = h
        .http
        .post(h.url("/connect/v2/messages"))
        .header("key", CONNECT_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 400);
    let v2: Value = v2.json().await.unwrap();
    assert_eq!(v2, json!({"code": "7004", "message": "Invalid parameters"}));
}

#[tokio::test]
async fn whatsapp_read_receipt_when_the_phone_shows_the_message() {
    let h = start().await;
    let dr = h.receiver.url("/dr");
    h.driver
        .customer_sends("whatsapp", "+447700900123", "hello")
        .await;
    let image = json!({"deliverychannel": "whatsapp", "appid": "a", "destination": [{"waid": ["447700900123"]}],
        "channels": {"OTT-Messaging": {"wa": {"type": "image",
            "image": {"url": h.receiver.url("/media/x.png"), "mimeType": "image/png", "caption": "look"}}}},
        "notifyurl": dr});
    h.connect_v1(&image).await;
    h.receiver.wait_for("/dr", 2).await;
    let read = h
        .post_json("/phone/api/read", &json!({"number": "+447700900123"}))
        .await;
    assert_eq!(read.status(), 204);
    h.receiver.wait_for("/dr", 3).await;
    assert_eq!(receipt_codes(&h, "/dr"), ["7501", "7500", "7502"]);
    let thread = h
        .get_json("/phone/api/thread?channel=whatsapp&number=447700900123")
        .await;
    assert_eq!(thread["items"][1]["status"], "read");
    assert_eq!(thread["items"][1]["mediaType"], "image/png");
}

#[tokio::test]
async fn whatsapp_media_that_cannot_be_downloaded_fails_with_7701() {
    let h = start().await;
    h.driver
        .customer_sends("whatsapp", "+447700900123", "hello")
        .await;
    let image = json!({"deliverychannel": "whatsapp", "appid": "a", "destination": [{"waid": ["447700900123"]}],
        "channels": {"OTT-Messaging": {"wa": {"type": "document",
            "document": {"url": h.url("/missing.pdf"), "mimeType": "application/pdf", "filename": "a.pdf"}}}},
        "notifyurl": h.receiver.url("/dr")});
    h.connect_v1(&image).await;
    h.receiver.wait_for("/dr", 1).await;
    assert_eq!(receipt_codes(&h, "/dr"), ["7701"]);
}

#[tokio::test]
async fn mms_v2_is_queued_and_shown_on_the_phone() {
    let h = start().await;
    let mms = json!({"channel": "mms", "from": "34343",
        "to": [{"msisdn": ["+16475550100"], "correlationId": "c1"}],
        "callbackData": "cb", "notifyUrl": h.receiver.url("/dr"),
        "content": {"subject": "Your order", "attachments": [
            {"type": "image", "messageText": "here it is", "mediaUrl": h.receiver.url("/media/x.png")}]}});
    let response = h
        .http
        .post(h.url("/connect/v2/messages"))
        .header("key", CONNECT_KEY)
        .json(&mms)
        .send()
        .await
        .unwrap();
    // The documented v2 answer (send-sms-message-api-v2): 201 Created.
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["correlationId"], "c1");
    assert!(body["requestTimestamp"].is_string());
    let message_id = body["messageId"].as_str().unwrap().to_string();
    h.receiver.wait_for("/dr", 2).await;
    let info = h.receiver.captured("/dr")[1].json();
    assert_eq!(
        info["deliveryInfoNotification"]["deliveryInfo"]["deliveryChannel"],
        "MMS"
    );
    assert_eq!(info["deliveryInfoNotification"]["correlationid"], "c1");
    assert_eq!(
        info["deliveryInfoNotification"]["transid"], message_id,
        "receipts carry the messageId"
    );
    let thread = h
        .get_json("/phone/api/thread?channel=mms&number=16475550100")
        .await;
    assert_eq!(thread["items"][0]["channel"], "mms");
    assert_eq!(thread["items"][0]["text"], "Your order");
    assert_eq!(
        thread["items"][0]["attachments"][0]["messageText"],
        "here it is"
    );

    // Refusals in the v2 shape: 400 {"code", "message"}; 401 without a body.
    let no_attachments = json!({"channel": "mms", "from": "1", "to": [{"msisdn": ["+16475550100"]}], "content": {"subject": "x"}});
    let refused = h
        .http
        .post(h.url("/connect/v2/messages"))
        .header("key", CONNECT_KEY)
        .json(&no_attachments)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "7003");
    assert!(body["message"].as_str().unwrap().contains("attachments"));
    let wrong_key = h
        .http
        .post(h.url("/connect/v2/messages"))
        .header("key", "wrong")
        .json(&mms)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 401);
    assert_eq!(wrong_key.text().await.unwrap(), "");
    let recorded = h.get_json("/control/connect/messages").await;
    assert_eq!(recorded["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        recorded["items"][0]["body"]["content"]["subject"],
        "Your order"
    );
}

#[tokio::test]
async fn inbound_webhook_events_are_recorded_byte_for_byte() {
    let h = start().await;
    let raw = r#"{"systemId":"webex","channel":"whatsapp","channelId":"447700900123","action":"startConversation","agentId":"agent-a@example.com","contactName":"Mr Doe"}"#;
    let response = h
        .http
        .post(h.url("/connect/events/CMSTART001"))
        .header("content-type", "application/json")
        .header("key", "any-key")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let events = h.get_json("/control/events/CMSTART001").await;
    assert_eq!(events["items"][0]["body"], raw);
    assert_eq!(events["items"][0]["key"], "any-key");
    assert_eq!(
        h.get_json("/control/events/OTHER00001").await["items"],
        json!([])
    );
}

#[tokio::test]
async fn customer_messages_reach_the_product_in_each_channel_shape() {
    let h = start().await;
    assert_eq!(
        h.driver
            .phone_send("sms", "+447700900123", "Jane Doe", "by sms", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        h.driver
            .phone_send("whatsapp", "+447700900123", "Jane Doe", "by whatsapp", None)
            .await
            .status(),
        200
    );
    let form = reqwest::multipart::Form::new()
        .text("channel", "whatsapp")
        .text("number", "+447700900123")
        .text("text", "a photo")
        .part(
            "file",
            reqwest::multipart::Part::bytes(PNG.to_vec())
                .file_name("p.png")
                .mime_str("image/png")
                .unwrap(),
        );
    assert_eq!(
        h.http
            .post(h.url("/phone/api/send"))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let form = reqwest::multipart::Form::new()
        .text("channel", "mms")
        .text("number", "+16475550100")
        .text("text", "mms text")
        .part(
            "file",
            reqwest::multipart::Part::bytes(PNG.to_vec())
                .file_name("m.png")
                .mime_str("image/png")
                .unwrap(),
        );
    assert_eq!(
        h.http
            .post(h.url("/phone/api/send"))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The shapes of Connect's outbound webhooks (docs/platform-contracts.md).
    let inbound = h.receiver.wait_for("/inbound", 4).await;
    for delivery in &inbound {
        assert_eq!(
            delivery.headers["x-hub-signature"].to_str().unwrap(),
            hub_signature(HUB_SECRET, &delivery.body),
            "signed with the hub secret, bare hex"
        );
    }
    let sms = inbound[0].json();
    assert_eq!(sms["channel"], "SMS");
    assert_eq!(sms["oa"], "+447700900123");
    assert_eq!(sms["message"], "by sms");
    assert!(sms["tid"].is_string());
    let wa = inbound[1].json();
    assert_eq!(wa["channel"], "WhatsApp");
    assert_eq!(wa["event"], "MO");
    assert_eq!(wa["waid"], "447700900123", "waid has no +");
    assert_eq!(wa["username"], "Jane Doe");
    assert_eq!(wa["message"], "by whatsapp");
    assert_eq!(wa["attachments"], "[]", "parts are JSON strings");
    let image = inbound[2].json();
    let attachments: Value =
        serde_json::from_str(image["attachments"].as_str().expect("a JSON string")).unwrap();
    assert_eq!(attachments[0]["caption"], "a photo");
    assert_eq!(attachments[0]["mime_type"], "image/png");
    let media = h
        .http
        .get(attachments[0]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(media.headers()["content-type"], "image/png");
    assert_eq!(media.bytes().await.unwrap().as_ref(), PNG);
    let mms = inbound[3].json();
    assert_eq!(mms["channel"], "MMS");
    assert_eq!(mms["oa"], "+16475550100");
    let parts: Value =
        serde_json::from_str(mms["message"].as_str().expect("a JSON string")).unwrap();
    let files: Vec<&str> = parts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 3, "image, text, layout: {files:?}");
    assert!(files[0].ends_with("/m.png"));
    assert!(files[1].ends_with(".txt"));
    assert!(files[2].ends_with(".smil"));
    let text = h.http.get(files[1]).send().await.unwrap();
    assert_eq!(text.text().await.unwrap(), "mms text");

    let bad = h
        .driver
        .phone_send("sms", "not a number", "Jane Doe", "x", None)
        .await;
    assert_eq!(bad.status(), 400);
}

/// A send to `path` (the control route ignores the `key` header) with an
/// optional Idempotency-Key; returns the body.
async fn send_keyed(h: &Harness, path: &str, idempotency_key: Option<&str>, body: &Value) -> Value {
    let mut request = h
        .http
        .post(h.url(path))
        .header("key", CONNECT_KEY)
        .json(body);
    if let Some(k) = idempotency_key {
        request = request.header("Idempotency-Key", k);
    }
    let response = request.send().await.unwrap();
    // v1 always answers 200; v2 201 when queued, 400 when refused.
    let expected: &[u16] = if path.contains("/v2/") {
        &[201, 400]
    } else {
        &[200]
    };
    assert!(
        expected.contains(&response.status().as_u16()),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// The id of a queued message: v1 `transid`, v2 `messageId`.
fn transid(answer: &Value) -> String {
    answer["response"][0]["transid"]
        .as_str()
        .or(answer["messageId"].as_str())
        .unwrap_or_else(|| panic!("not queued: {answer}"))
        .to_string()
}

const V1: &str = "/connect/resources/v1/messaging";

#[tokio::test]
async fn a_repeated_idempotency_key_gets_the_first_answer_and_sends_nothing() {
    let h = start().await;
    let dr = h.receiver.url("/dr");
    let first = send_keyed(&h, V1, Some("send-1"), &sms("+447700900123", "once", &dr)).await;
    let first_transid = transid(&first);
    h.receiver.wait_for("/dr", 2).await;

    // The retry (even with another body) is answered from memory.
    let again = send_keyed(&h, V1, Some("send-1"), &sms("+447700900123", "twice?", &dr)).await;
    assert_eq!(again, first, "the original body, transid included");

    // Moving the sandbox clock does not expire the key: the hour is wall time.
    h.post_json("/control/clock", &json!({"advanceSeconds": 7200}))
        .await;
    let later = send_keyed(&h, V1, Some("send-1"), &sms("+447700900123", "once", &dr)).await;
    assert_eq!(transid(&later), first_transid);

    // Without a key, or with another key, every send is new.
    let unkeyed = sms("+447700900123", "no key", &dr);
    let a = transid(&send_keyed(&h, V1, None, &unkeyed).await);
    let b = transid(&send_keyed(&h, V1, None, &unkeyed).await);
    let c = transid(&send_keyed(&h, V1, Some("send-2"), &unkeyed).await);
    assert_ne!(a, b);
    assert!(![a.as_str(), b.as_str()].contains(&c.as_str()));
    assert!(![&a, &b, &c].contains(&&first_transid));

    // One message and one pair of receipts for "send-1".
    h.receiver.wait_for("/dr", 8).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let receipts = h.receiver.captured("/dr");
    assert_eq!(receipts.len(), 8, "two receipts for each of four messages");
    let for_first = receipts
        .iter()
        .filter(|r| r.json()["deliveryInfoNotification"]["transid"] == first_transid.as_str())
        .count();
    assert_eq!(for_first, 2);
    let recorded = h.get_json("/control/connect/messages").await;
    assert_eq!(recorded["items"].as_array().unwrap().len(), 4);
    let thread = h
        .get_json("/phone/api/thread?channel=sms&number=447700900123")
        .await;
    let texts: Vec<&str> = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["once", "no key", "no key", "no key"]);

    // The call log tells the replays apart.
    let replays: Vec<bool> = h
        .driver
        .calls(None)
        .await
        .iter()
        .filter(|c| c["path"] == V1)
        .map(|c| c["replay"] == true)
        .collect();
    assert_eq!(replays, [false, true, true, false, false, false]);
}

#[tokio::test]
async fn idempotency_keys_are_per_route_and_forgotten_on_reset() {
    let h = start().await;
    let mms = json!({"channel": "mms", "from": "34343", "to": [{"msisdn": ["+16475550100"]}],
        "content": {"subject": "s", "attachments": [
            {"type": "image", "mediaUrl": h.receiver.url("/media/x.png")}]}});
    let first = transid(&send_keyed(&h, "/connect/v2/messages", Some("k"), &mms).await);
    let repeat = transid(&send_keyed(&h, "/connect/v2/messages", Some("k"), &mms).await);
    assert_eq!(repeat, first);

    // The same key on another route is another send.
    let sms_body = sms("+16475550100", "sms", "");
    let v1 = transid(&send_keyed(&h, V1, Some("k"), &sms_body).await);
    assert_ne!(v1, first);
    let control =
        transid(&send_keyed(&h, "/control/connect/messaging", Some("k"), &sms_body).await);
    assert_ne!(control, v1);
    let control_again =
        transid(&send_keyed(&h, "/control/connect/messaging", Some("k"), &sms_body).await);
    assert_eq!(
        control_again, control,
        "the key-less control route honours it too"
    );
    assert_eq!(
        h.get_json("/control/connect/messages").await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    h.post_json("/control/reset", &json!({})).await;
    let after_reset = transid(&send_keyed(&h, "/connect/v2/messages", Some("k"), &mms).await);
    assert_ne!(after_reset, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_with_one_idempotency_key_send_once() {
    let h = start().await;
    let body = sms("+447700900123", "race", "");
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let request = h
            .http
            .post(h.url(V1))
            .header("key", CONNECT_KEY)
            .header("Idempotency-Key", "race-key")
            .json(&body);
        sends.spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() });
    }
    let answers = sends.join_all().await;
    let first = transid(&answers[0]);
    assert!(answers.iter().all(|a| transid(a) == first), "{answers:?}");
    assert_eq!(
        h.get_json("/control/connect/messages").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_idempotency_key_over_64_characters_is_a_7004() {
    let h = start().await;
    let body = sms("+447700900123", "x", "");
    let long = "k".repeat(65);
    for path in [V1, "/connect/v2/messages", "/control/connect/messaging"] {
        let answer = send_keyed(&h, path, Some(&long), &body).await;
        // v1 {"response": {code, description, transid}}; v2 {code, message}.
        let error = if path.contains("/v2/") {
            answer.clone()
        } else {
            assert!(answer["response"]["transid"].is_string());
            answer["response"].clone()
        };
        assert_eq!(error["code"], "7004", "{path}: {answer}");
        let description = error["description"].as_str().or(error["message"].as_str());
        assert!(description.unwrap().contains("Idempotency-Key"), "{answer}");
    }
    assert_eq!(
        send_keyed(&h, V1, Some(""), &body).await["response"]["code"],
        "7004",
        "an empty key is no key"
    );
    assert_eq!(
        h.get_json("/control/connect/messages").await["items"],
        json!([])
    );
    let exactly_64 = send_keyed(&h, V1, Some(&"k".repeat(64)), &body).await;
    assert_eq!(exactly_64["response"][0]["code"], "1001");
}

#[tokio::test]
async fn the_phone_thread_carries_business_media_templates_and_mms_attachments() {
    let h = start().await;
    h.driver
        .customer_sends("whatsapp", "+447700900123", "hello")
        .await;
    let whatsapp = |wa: Value| {
        json!({"deliverychannel": "whatsapp", "appid": "a", "destination": [{"waid": ["447700900123"]}],
               "channels": {"OTT-Messaging": {"wa": wa}}})
    };
    let photo = h.receiver.url("/media/photo.png");
    let invoice = h.receiver.url("/media/doc-123");
    let banner = h.receiver.url("/media/banner.png");
    h.connect_v1(&whatsapp(json!({"type": "image",
        "image": {"url": photo, "mimeType": "image/png", "caption": "look"}})))
        .await;
    h.connect_v1(&whatsapp(json!({"type": "document",
        "document": {"url": invoice, "mimeType": "application/pdf", "filename": "invoice.pdf"}})))
        .await;
    let template = json!({"deliverychannel": "whatsapp", "appid": "a", "destination": [{"waid": ["447700900123"]}],
        "message": {"template": "602076559564625", "parameters": {
            "variable2": "SRN9492294", "variable10": "ten", "variable1": "Mr Doe",
            "image": {"link": banner}}},
        "channels": {"OTT-Messaging": {"wa": {}}}});
    h.connect_v1(&template).await;

    let thread = h
        .get_json("/phone/api/thread?channel=whatsapp&number=447700900123")
        .await;
    let image = &thread["items"][1];
    assert_eq!(image["mediaUrl"], photo);
    assert_eq!(image["mediaType"], "image/png");
    assert_eq!(image["filename"], "photo.png", "named after the URL");
    assert_eq!(image["text"], "look");
    let document = &thread["items"][2];
    assert_eq!(document["mediaUrl"], invoice);
    assert_eq!(document["filename"], "invoice.pdf");
    let template = &thread["items"][3];
    assert_eq!(template["template"], "602076559564625");
    assert_eq!(
        template["text"], "Mr Doe, SRN9492294, ten",
        "values in order"
    );
    assert_eq!(template["mediaUrl"], banner, "the header image");
    assert_eq!(template["mediaType"], "image");

    let mms = json!({"channel": "mms", "from": "34343", "to": [{"msisdn": ["+16475550100"]}],
        "content": {"subject": "Your order", "attachments": [
            {"type": "image", "messageText": "front", "mediaUrl": photo},
            {"type": "pdf", "messageText": "the manual", "mediaUrl": h.receiver.url("/media/manual.pdf?v=2")},
            {"type": "video", "mediaUrl": h.receiver.url("/media/clip.mp4")},
            {"type": "text", "messageText": "thanks"}]}});
    let answer = send_keyed(&h, "/connect/v2/messages", None, &mms).await;
    assert_eq!(answer["status"], "queued");
    let thread = h
        .get_json("/phone/api/thread?channel=mms&number=16475550100")
        .await;
    assert_eq!(thread["items"][0]["text"], "Your order");
    assert_eq!(
        thread["items"][0]["attachments"],
        json!([
            {"kind": "image", "mediaUrl": photo, "filename": "photo.png", "messageText": "front"},
            {"kind": "pdf", "mediaUrl": h.receiver.url("/media/manual.pdf?v=2"),
             "filename": "manual.pdf", "messageText": "the manual"},
            {"kind": "video", "mediaUrl": h.receiver.url("/media/clip.mp4"),
             "filename": "clip.mp4", "messageText": null},
            {"kind": "text", "mediaUrl": null, "filename": null, "messageText": "thanks"},
        ])
    );
}

#[tokio::test]
async fn whatsapp_locations_contacts_replies_and_reactions_are_sent_as_connect_does() {
    let h = start().await;
    let send = |kind: &str, content: Value| {
        h.http
            .post(h.url("/phone/api/whatsapp-event"))
            .json(&json!({"number": "+447700900123", "name": "Jane", "kind": kind, "content": content}))
            .send()
    };
    let location = json!({"latitude": 51.5, "longitude": -0.12, "name": "Office"});
    assert_eq!(
        send("location", location.clone()).await.unwrap().status(),
        200
    );
    let contacts =
        json!([{"name": {"formatted_name": "Ann Smith"}, "phones": [{"phone": "+447700900777"}]}]);
    assert_eq!(
        send("contacts", contacts.clone()).await.unwrap().status(),
        200
    );
    assert_eq!(
        send("button", json!({"text": "Yes"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send("reaction", json!({"emoji": "👍"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send("location", json!({"latitude": "x"}))
            .await
            .unwrap()
            .status(),
        400
    );

    let inbound = h.receiver.wait_for("/inbound", 4).await;
    let parsed = |i: usize, field: &str| -> Value {
        serde_json::from_str(inbound[i].json()[field].as_str().expect("a JSON string")).unwrap()
    };
    assert_eq!(parsed(0, "location"), location);
    assert_eq!(parsed(1, "contacts"), contacts);
    let button = inbound[2].json();
    assert_eq!(
        (button["event"].as_str(), button["buttonText"].as_str()),
        (Some("postback"), Some("Yes"))
    );
    assert_eq!(parsed(3, "reaction")["emoji"], "👍");
    assert!(inbound.iter().all(|d| d.json()["channel"] == "WhatsApp"));
}
