//! The native relay with files, MMS, WhatsApp's 24-hour rule and delivery
//! receipts, through the sandbox's Webex and Connect.

mod common;

use common::relay::*;
use common::TestApp;
use serde_json::{json, Value};
use server::integrations::Secret;

const TEMPLATE: &str = "sandbox_reengagement";
/// The sandbox's template declares customer, agent and shop.
const TEMPLATE_VARIABLES: &str = "customer=customer_name,agent=agent_name,shop=text:Acme";

/// The relay configured with the sandbox's template and its variables.
async fn template_app() -> TestApp {
    native_app_with(|c| {
        c.whatsapp_template_id = Some(TEMPLATE.into());
        c.whatsapp_template_variables =
            platform::connect::TemplateVariables::parse(TEMPLATE_VARIABLES).unwrap();
    })
    .await
}
const INBOUND_TOKEN: &str = "relay-media-inbound-token";

/// The phone's messages from the business (not the customer's own).
async fn business_messages(app: &TestApp, channel: &str, number: &str) -> Vec<Value> {
    phone_thread(app, channel, number)
        .await
        .into_iter()
        .filter(|m| m["direction"] != "inbound")
        .collect()
}

async fn session_id(app: &TestApp, channel: domain::Channel, number: &str) -> String {
    session_of(app, channel, number).await.id
}

#[tokio::test]
async fn whatsapp_images_and_documents_go_both_ways() {
    let app = native_app().await;
    let number = "447700900201";
    let (token, room) = start_conversation(&app, "Ann Image", "+447700900201", "whatsapp").await;

    // The customer sends a picture with a caption: it reaches the agent's
    // space as the guest, with the file.
    customer_sends_file(
        &app,
        "whatsapp",
        number,
        "my receipt",
        Some(("receipt.png", "image/png", png())),
    )
    .await;
    eventually("the customer's picture in the agent's space", || async {
        agent_messages(&app, &token).await.iter().any(|m| {
            m["roomId"] == room.as_str()
                && m["text"] == "my receipt"
                && m["files"].as_array().is_some_and(|f| f.len() == 1)
        })
    })
    .await;

    // The agent answers with a PNG: WhatsApp gets an image from our public cache.
    agent_sends_file(
        &app,
        &token,
        &room,
        "here it is",
        ("reply.png", "image/png", png()),
    )
    .await;
    eventually("the agent's picture on the phone", || async {
        business_messages(&app, "whatsapp", number)
            .await
            .iter()
            .any(|m| m["mediaType"] == "image/png" && m["text"] == "here it is")
    })
    .await;
    let sent = sent_to_customers(&app).await;
    let items: Value = serde_json::from_str(&sent).unwrap();
    let image = items
        .as_array()
        .unwrap()
        .iter()
        .find_map(|i| {
            let wa = &i["body"]["channels"]["OTT-Messaging"]["wa"];
            (wa["type"] == "image").then(|| wa["image"].clone())
        })
        .expect("a WhatsApp image was sent");
    assert_eq!(image["mimeType"], "image/png");
    let url = image["url"].as_str().unwrap();
    assert!(url.starts_with(&app.url("/media/")), "{url}");
    let fetched = app.client.get(url).send().await.unwrap();
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), png());

    // A PDF with no text goes as a document, with the configured default text.
    agent_sends_file(
        &app,
        &token,
        &room,
        "",
        ("terms.pdf", "application/pdf", b"%PDF-1.4 terms".to_vec()),
    )
    .await;
    eventually("the document on the phone", || async {
        business_messages(&app, "whatsapp", number)
            .await
            .iter()
            .any(|m| m["mediaType"] == "application/pdf" && m["filename"] == "terms.pdf")
    })
    .await;
    assert!(sent_to_customers(&app)
        .await
        .contains("Sent an attachment."));

    // The transcript keeps the files with their lines.
    let lines = app
        .store
        .messages(&session_id(&app, domain::Channel::Whatsapp, number).await)
        .await
        .unwrap();
    let inbound = lines.iter().find(|l| l.body == "my receipt").unwrap();
    assert_eq!(inbound.attachment_mime.as_deref(), Some("image/png"));
    let outbound = lines.iter().find(|l| l.body == "here it is").unwrap();
    assert_eq!(outbound.attachment_name.as_deref(), Some("reply.png"));
}

#[tokio::test]
async fn mms_carries_files_both_ways_and_several_parts_become_several_messages() {
    let app = native_app_with(|c| {
        c.integrations.connect_inbound_token = Some(Secret::new(INBOUND_TOKEN));
    })
    .await;
    let number = "+16475550123";
    let (token, room) = start_conversation(&app, "Max Mms", number, "sms").await;

    customer_sends_file(
        &app,
        "mms",
        number,
        "photo of the damage",
        Some(("damage.png", "image/png", png())),
    )
    .await;
    eventually("the MMS in the agent's space", || async {
        agent_messages(&app, &token).await.iter().any(|m| {
            m["text"] == "photo of the damage"
                && m["files"].as_array().is_some_and(|f| f.len() == 1)
        })
    })
    .await;

    // A file from the agent to an SMS customer goes as MMS (Connect API v2).
    agent_sends_file(
        &app,
        &token,
        &room,
        "the form",
        ("form.png", "image/png", png()),
    )
    .await;
    eventually("an MMS on the phone", || async {
        business_messages(&app, "sms", number)
            .await
            .iter()
            .any(|m| m["channel"] == "mms" && !m["attachments"].as_array().unwrap().is_empty())
    })
    .await;
    let sent = sent_to_customers(&app).await;
    assert!(sent.contains("\"channel\":\"mms\""), "{sent}");
    // Text alone still goes as SMS.
    agent_writes(&app, &token, &room, "thanks, noted").await;
    eventually("the SMS on the phone", || async {
        business_messages(&app, "sms", number)
            .await
            .iter()
            .any(|m| m["channel"] == "sms" && m["text"] == "thanks, noted")
    })
    .await;

    // An MMS with two files and no text: two messages in the space, in
    // order, each with the default text.
    let before = agent_messages(&app, &token).await.len();
    // As Connect delivers an MMS: the parts a JSON string of `{"file": url}`.
    let parts = json!([
        { "file": app.url("/media/nonexistent/one.png") },
        { "file": app.url("/media/nonexistent/two.png") }
    ]);
    let mms = json!({
        "channel": "MMS", "tid": "mms-two-parts", "ts": "2026-01-01T10:00:00.000Z",
        "oa": number, "da": "CONTACTMGR", "message": parts.to_string()
    });
    let sid = session_id(&app, domain::Channel::Sms, number).await;
    let r = connect_delivers(&app, INBOUND_TOKEN, &mms).await;
    assert!(r.status().is_success());
    // The sandbox's Webex cannot download those URLs (404): the posts are
    // refused and the transcript says so, line by line, in order.
    eventually(
        "two transcript lines for the two parts, both refused",
        || async {
            let lines = app.store.messages(&sid).await.unwrap();
            lines
                .iter()
                .filter(|l| {
                    l.body == "Sent an attachment."
                        && l.direction == "inbound"
                        && l.status == "failed"
                })
                .count()
                == 2
        },
    )
    .await;
    let lines = app.store.messages(&sid).await.unwrap();
    let parts: Vec<_> = lines
        .iter()
        .filter(|l| l.body == "Sent an attachment.")
        .map(|l| l.attachment_url.clone().unwrap())
        .collect();
    assert!(
        parts[0].ends_with("one.png") && parts[1].ends_with("two.png"),
        "{parts:?}"
    );

    let after = agent_messages(&app, &token).await;
    assert_eq!(
        after.len(),
        before,
        "nothing posted for unreachable files: {after:#?}"
    );
}

#[tokio::test]
async fn outside_whatsapp_window_the_template_goes_and_the_agent_is_told() {
    let app = template_app().await;
    let number = "447700900202";
    let (token, room) =
        start_conversation(&app, "Tess Template", "+447700900202", "whatsapp").await;

    // The customer has never written: a free-form message is not allowed.
    agent_writes(&app, &token, &room, "Are you still interested?").await;
    eventually("the template on the phone", || async {
        business_messages(&app, "whatsapp", number)
            .await
            .iter()
            .any(|m| m["template"] == TEMPLATE)
    })
    .await;
    eventually("a notice in the agent's space", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(r, t)| *r == room && t.contains("template") && t.contains("24 hours"))
    })
    .await;
    assert!(
        !business_messages(&app, "whatsapp", number)
            .await
            .iter()
            .any(|m| m["text"] == "Are you still interested?"),
        "the free-form message must not be sent"
    );
    let sid = session_id(&app, domain::Channel::Whatsapp, number).await;
    let lines = app.store.messages(&sid).await.unwrap();
    let agent_line = lines
        .iter()
        .find(|l| l.body == "Are you still interested?")
        .unwrap();
    assert_eq!(agent_line.status, "failed");

    // A second message while waiting: no second template, another notice.
    agent_writes(&app, &token, &room, "Hello?").await;
    eventually("a notice that the template was already sent", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(_, t)| t.contains("already sent"))
    })
    .await;
    let templates = business_messages(&app, "whatsapp", number)
        .await
        .iter()
        .filter(|m| m["template"] == TEMPLATE)
        .count();
    assert_eq!(templates, 1);
    // Exactly the configured variables, each from its named field.
    let agent = app
        .store
        .agent_by_email("agent-a@example.com")
        .await
        .unwrap()
        .display_name;
    let sent = app.driver.connect_messages().await;
    let template = sent
        .iter()
        .find(|m| m["body"]["message"]["template"] == TEMPLATE)
        .expect("the template request");
    assert_eq!(
        template["body"]["message"]["parameters"],
        json!({"customer": "Tess Template", "agent": agent, "shop": "Acme"})
    );

    // The customer replies: the window opens and the agent's words go through.
    customer_sends(&app, "whatsapp", number, "Yes, still interested").await;
    room_with(&app, &token, "Yes, still interested").await;
    agent_writes(&app, &token, &room, "Great, here are the details").await;
    eventually("the agent's text on the phone", || async {
        business_messages(&app, "whatsapp", number)
            .await
            .iter()
            .any(|m| m["text"] == "Great, here are the details")
    })
    .await;
}

#[tokio::test]
async fn a_7710_receipt_sends_the_template_instead() {
    let app = template_app().await;
    let number = "447700900203";
    let (token, room) = start_conversation(&app, "Sam Seven", "+447700900203", "whatsapp").await;
    customer_sends(&app, "whatsapp", number, "hi there").await;
    room_with(&app, &token, "hi there").await;

    // By our clock the window is open; Connect's (the sandbox's) says it closed.
    let r = app
        .client
        .post(app.url("/sandbox/control/clock"))
        .json(&json!({ "advanceSeconds": 25 * 3600 }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    agent_writes(&app, &token, &room, "Sorry for the delay").await;
    eventually("the template after the 7710 receipt", || async {
        business_messages(&app, "whatsapp", number)
            .await
            .iter()
            .any(|m| m["template"] == TEMPLATE)
    })
    .await;
    let sid = session_id(&app, domain::Channel::Whatsapp, number).await;
    eventually("the agent's line failed with 7710", || async {
        app.store.messages(&sid).await.unwrap().iter().any(|l| {
            l.body == "Sorry for the delay"
                && l.status == "failed"
                && l.error_code.as_deref() == Some("7710")
        })
    })
    .await;
    eventually("a notice about the template in the space", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(_, t)| t.contains(TEMPLATE))
    })
    .await;
}

#[tokio::test]
async fn a_template_missing_a_variable_is_refused_and_the_line_says_why() {
    // The old default names (variable1, variable2) do not match the
    // sandbox's template: Connect refuses, and the transcript shows it.
    let app = native_app_with(|c| c.whatsapp_template_id = Some(TEMPLATE.into())).await;
    let number = "447700900205";
    let (token, room) = start_conversation(&app, "Val Var", "+447700900205", "whatsapp").await;
    agent_writes(&app, &token, &room, "Still there?").await;
    let sid = session_id(&app, domain::Channel::Whatsapp, number).await;
    eventually("the template line refused with 7003", || async {
        app.store.messages(&sid).await.unwrap().iter().any(|l| {
            l.body.starts_with("WhatsApp template")
                && l.status == "failed"
                && l.error_code.as_deref() == Some("7003")
                && l.error_text
                    .as_deref()
                    .is_some_and(|t| t.contains("customer"))
        })
    })
    .await;
}

#[tokio::test]
async fn an_mms_is_sent_with_connects_message_id_and_a_v2_refusal_reaches_the_agent() {
    let app = native_app().await;
    let number = "+16475550125";
    let (token, room) = start_conversation(&app, "Mo Mms", number, "sms").await;
    agent_sends_file(
        &app,
        &token,
        &room,
        "the form",
        ("form.png", "image/png", png()),
    )
    .await;
    let sid = session_id(&app, domain::Channel::Sms, number).await;
    eventually("the MMS line sent, not failed", || async {
        app.store.messages(&sid).await.unwrap().iter().any(|l| {
            l.body == "the form" && matches!(l.status.as_str(), "sent" | "submitted" | "delivered")
        })
    })
    .await;
    // The id Connect answered (v2 messageId) is the line's: receipts match it.
    // It is written with the send's outcome, which a receipt (found by our
    // correlation id) may overtake: the status above can come first.
    let phone = business_messages(&app, "sms", "16475550125").await;
    let mms = phone
        .iter()
        .find(|m| m["channel"] == "mms")
        .expect("the MMS");
    let message_id = mms["id"].as_str().unwrap();
    eventually("the line found by Connect's messageId", || async {
        app.store
            .message_for_receipt("", message_id)
            .await
            .unwrap()
            .is_some_and(|line| line.body == "the form")
    })
    .await;

    // Connect refuses the next MMS (v2: HTTP 400 {code, message}).
    let fault = json!({"path": "/connect/v2/messages", "kind": "refuse",
        "code": "7148", "message": "Invalid attachment type"});
    app.driver.control("faults", &fault).await;
    agent_sends_file(
        &app,
        &token,
        &room,
        "again",
        ("again.png", "image/png", png()),
    )
    .await;
    eventually("the refusal in the agent's space", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(r, t)| *r == room && t.contains("Invalid attachment type") && t.contains("7148"))
    })
    .await;
    let lines = app.store.messages(&sid).await.unwrap();
    let line = lines.iter().find(|l| l.body == "again").unwrap();
    assert_eq!(line.status, "failed");
    assert_eq!(line.error_code.as_deref(), Some("7148"));
}

#[tokio::test]
async fn a_failed_delivery_is_shown_in_the_space_and_the_transcript() {
    let app = native_app().await;
    let number = "+447700900204";
    let (token, room) = start_conversation(&app, "Lou Long", number, "sms").await;
    // Over SMS's 1024 characters: Connect queues it, then reports 7107.
    let long = "x".repeat(1100);
    agent_writes(&app, &token, &room, &long).await;
    eventually("a notice about the failure in the space", || async {
        agent_inbox(&app, &token).await.iter().any(|(r, t)| {
            *r == room && t.contains("Not delivered to the customer") && t.contains("7107")
        })
    })
    .await;
    let sid = session_id(&app, domain::Channel::Sms, number).await;
    let lines = app.store.messages(&sid).await.unwrap();
    let line = lines.iter().find(|l| l.body == long).unwrap();
    assert_eq!(line.status, "failed");
    assert_eq!(line.error_code.as_deref(), Some("7107"));
}

#[tokio::test]
async fn an_infected_file_is_reported_to_the_agent_and_the_text_still_goes() {
    let app = native_app().await;
    let number = "+447700900205";
    let (token, room) = start_conversation(&app, "Vic Virus", number, "sms").await;
    let r = app
        .client
        .post(app.url("/sandbox/control/contents"))
        .json(&json!({ "outcome": "infected" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    agent_sends_file(
        &app,
        &token,
        &room,
        "see attached",
        ("bad.png", "image/png", png()),
    )
    .await;
    eventually("a notice about the infected file", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(_, t)| t.contains("not sent") && t.contains("infected"))
    })
    .await;
    eventually("the text alone, as SMS", || async {
        business_messages(&app, "sms", number)
            .await
            .iter()
            .any(|m| m["channel"] == "sms" && m["text"] == "see attached")
    })
    .await;
    assert!(!sent_to_customers(&app)
        .await
        .contains("\"channel\":\"mms\""));
}

/// Two templates, as `CM_WHATSAPP_TEMPLATES` gives them: the sandbox's
/// re-engagement one first (the default), and its order update, whose
/// order number the agent types when choosing it.
const TEMPLATES: &str = r#"[
    {"id": "sandbox_reengagement", "label": "Re-engagement",
     "variables": {"customer": "customer_name", "agent": "agent_name", "shop": "text:Acme"}},
    {"id": "sandbox_order_update", "label": "Order update",
     "preview": "Hello {{customer}}, news about your order {{order}}.",
     "variables": {"customer": "customer_name", "order": "ask:Order number"}}
]"#;
const ORDER_TEMPLATE: &str = "sandbox_order_update";

async fn templates_app() -> TestApp {
    native_app_with(|c| c.whatsapp_templates = Some(TEMPLATES.into())).await
}

/// Adds a contact with the API; its id.
async fn api_contact(app: &TestApp, name: &str, msisdn: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": name, "msisdn": msisdn }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// The requests for `template` that went to Connect.
async fn template_requests(app: &TestApp, template: &str) -> Vec<Value> {
    app.driver
        .connect_messages()
        .await
        .into_iter()
        .filter(|m| m["body"]["message"]["template"] == template)
        .collect()
}

#[tokio::test]
async fn a_template_chosen_at_start_goes_at_once_with_the_typed_value() {
    let app = templates_app().await;
    let number = "447700900211";
    let id = api_contact(&app, "Olga Order", "+447700900211").await;
    let a = common::sign_in(&app, "agent-a@example.com").await;

    // The contacts page knows the window is closed, and offers both templates.
    let (status, page) = a
        .read("contacts/list", &[("q", "Olga Order"), ("page", "1")])
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{page}");
    assert_eq!(page["page"]["items"][0]["whatsapp_needs_template"], true);
    let offered: Vec<&str> = page["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["Re-engagement", "Order update"]);

    // The sidebar's chooser posts the template and its value (`values[order]`).
    let start = [
        ("contact_id", id.as_str()),
        ("channel", "whatsapp"),
        ("nonce", "order-1"),
        ("template", ORDER_TEMPLATE),
        ("values[order]", " A-1042 "),
    ];
    let (status, started) = a.call("contacts/start", &start).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{started}");
    assert!(
        started["message"]
            .as_str()
            .unwrap()
            .contains("the template “Order update” was sent"),
        "{started}"
    );

    // The phone gets template B with exactly its parameters, nothing else.
    eventually("the chosen template on the phone", || async {
        business_messages(&app, "whatsapp", number)
            .await
            .iter()
            .any(|m| m["template"] == ORDER_TEMPLATE)
    })
    .await;
    let sent = template_requests(&app, ORDER_TEMPLATE).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["body"]["message"]["parameters"],
        json!({"customer": "Olga Order", "order": "A-1042"})
    );
    assert!(template_requests(&app, TEMPLATE).await.is_empty());

    // The transcript has the template's line; the agent's space says so.
    let sid = session_id(&app, domain::Channel::Whatsapp, number).await;
    eventually("the template's line sent", || async {
        app.store.messages(&sid).await.unwrap().iter().any(|l| {
            l.body
                == "WhatsApp template sandbox_order_update (en): customer=Olga Order, order=A-1042"
                && l.status != "queued"
                && l.status != "failed"
        })
    })
    .await;
    let token = agent_token(&app, "agent-a@example.com").await;
    let room = room_with(&app, &token, "Conversation with Olga Order").await;
    room_with(&app, &token, "the template \"Order update\"").await;

    // The same click again sends nothing more.
    let (status, again) = a.call("contacts/start", &start).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already started"),
        "{again}"
    );

    // Until the customer answers, the agent's words do not go, and the
    // template is not sent twice.
    agent_writes(&app, &token, &room, "Did you see it?").await;
    eventually("a notice that the template was already sent", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(r, t)| *r == room && t.contains("already sent"))
    })
    .await;
    assert_eq!(template_requests(&app, ORDER_TEMPLATE).await.len(), 1);

    // The customer answers; a day later (by Connect's clock) the agent's
    // text is refused (7710) and the template chosen at start goes again,
    // with the value typed then, not the first configured one.
    customer_sends(&app, "whatsapp", number, "Yes, thanks").await;
    room_with(&app, &token, "Yes, thanks").await;
    let r = app
        .client
        .post(app.url("/sandbox/control/clock"))
        .json(&json!({ "advanceSeconds": 25 * 3600 }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    agent_writes(&app, &token, &room, "One more thing").await;
    eventually("the chosen template again after 7710", || async {
        template_requests(&app, ORDER_TEMPLATE).await.len() == 2
    })
    .await;
    let sent = template_requests(&app, ORDER_TEMPLATE).await;
    assert_eq!(
        sent[1]["body"]["message"]["parameters"],
        json!({"customer": "Olga Order", "order": "A-1042"})
    );
    assert!(template_requests(&app, TEMPLATE).await.is_empty());
}

#[tokio::test]
async fn a_start_with_a_bad_template_choice_is_refused_naming_the_field_and_sends_nothing() {
    let app = templates_app().await;
    let id = api_contact(&app, "Rita Refused", "+447700900212").await;
    let body = |template: Value, channel: &str| {
        json!({ "contactId": id, "channel": channel, "agentEmail": "agent-a@example.com",
                "attemptId": "refused-1", "template": template })
    };
    for (template, channel, field, says) in [
        (
            json!({"id": ORDER_TEMPLATE}),
            "whatsapp",
            "template.values.order",
            "Order number is required",
        ),
        (
            json!({"id": ORDER_TEMPLATE, "values": {"order": "  "}}),
            "whatsapp",
            "template.values.order",
            "Order number is required",
        ),
        (
            json!({"id": ORDER_TEMPLATE, "values": {"order": "A-1", "shop": "x"}}),
            "whatsapp",
            "template.values.shop",
            "does not ask",
        ),
        (
            json!({"id": "nope", "values": {}}),
            "whatsapp",
            "template.id",
            "sandbox_reengagement, sandbox_order_update",
        ),
        (
            json!({"values": {}}),
            "whatsapp",
            "template.id",
            "is required",
        ),
        (json!({"id": TEMPLATE}), "sms", "template", "only WhatsApp"),
    ] {
        let (status, answer) = app
            .post(
                "/api/v1/conversations/start",
                body(template.clone(), channel),
            )
            .await;
        assert_eq!(
            status,
            reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            "{template}: {answer}"
        );
        assert_eq!(answer["field"], field, "{template}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{template}: {answer}"
        );
    }
    // Nothing was sent, no session routed, and the attempt id is still unused.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.driver.connect_messages().await.is_empty());
    let customer = common::customer(domain::Channel::Whatsapp, "+447700900212");
    assert!(app.store.session_of(&customer).await.unwrap().is_none());
    let (status, answer) = app
        .post(
            "/api/v1/conversations/start",
            body(
                json!({"id": ORDER_TEMPLATE, "values": {"order": "B-7"}}),
                "whatsapp",
            ),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{answer}");
    assert_eq!(
        answer["template"],
        json!({"id": ORDER_TEMPLATE, "sent": true})
    );
}

#[tokio::test]
async fn with_the_window_open_a_start_sends_no_template() {
    let app = templates_app().await;
    let number = "447700900213";
    let (token, _room) = start_conversation(&app, "Otto Open", "+447700900213", "whatsapp").await;
    customer_sends(&app, "whatsapp", number, "I'm here").await;
    room_with(&app, &token, "I'm here").await;
    api_contact(&app, "Otto Closed", "+447700900214").await;
    let a = common::sign_in(&app, "agent-a@example.com").await;
    // One page, one read of both windows: each contact gets its own.
    let (_, page) = a
        .read("contacts/list", &[("q", "Otto"), ("page", "1")])
        .await;
    let needs: Vec<(&str, bool)> = page["page"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["contact"]["name"].as_str().unwrap(),
                c["whatsapp_needs_template"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        needs,
        [("Otto Closed", true), ("Otto Open", false)],
        "the chooser only where the window is closed: {page}"
    );

    let id = session_of(&app, domain::Channel::Whatsapp, number)
        .await
        .contact_id
        .unwrap();
    let (status, answer) = app
        .post(
            "/api/v1/conversations/start",
            json!({ "contactId": id, "channel": "whatsapp", "agentEmail": "agent-a@example.com",
                    "attemptId": "open-1", "template": {"id": ORDER_TEMPLATE, "values": {"order": "C-3"}} }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{answer}");
    assert_eq!(
        answer["template"],
        json!({"id": ORDER_TEMPLATE, "sent": false, "notSentBecause": "window_open"})
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(template_requests(&app, ORDER_TEMPLATE).await.is_empty());
    assert!(template_requests(&app, TEMPLATE).await.is_empty());
    assert!(!business_messages(&app, "whatsapp", number)
        .await
        .iter()
        .any(|m| !m["template"].is_null()));
}
