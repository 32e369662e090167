//! Customers without an agent: the onboarding dialogue, the routing keyword,
//! and what a customer is told after their conversation ended.

mod common;

use common::relay::*;
use common::{sign_in, TestApp};
use reqwest::StatusCode;

/// Waits until the phone shows a business message containing `needle`.
async fn phone_shows(app: &TestApp, channel: &str, number: &str, needle: &str) {
    let what = format!("{needle:?} on the phone");
    eventually(&what, || async {
        phone_received(app, channel, number)
            .await
            .iter()
            .any(|t| t.contains(needle))
    })
    .await;
}

#[tokio::test]
async fn an_unknown_customer_is_asked_for_name_and_agent_then_connected() {
    let app = native_app().await;
    let number = "+447700900301";
    customer_sends(&app, "sms", number, "Hi").await;
    phone_shows(&app, "sms", number, "what is your name?").await;
    customer_sends(&app, "sms", number, "  Jane   Customer ").await;
    phone_shows(
        &app,
        "sms",
        number,
        "Thanks, Jane Customer. What is the email address",
    )
    .await;

    // Not an address, then an unknown one: asked again, told, still in the dialogue.
    customer_sends(&app, "sms", number, "the nice one").await;
    phone_shows(&app, "sms", number, "does not look like an email address").await;
    customer_sends(&app, "sms", number, "nobody@example.com").await;
    phone_shows(&app, "sms", number, "could not find anyone with that email").await;
    assert!(
        app.store
            .contact_by_channel(&common::customer(domain::Channel::Sms, number))
            .await
            .unwrap()
            .is_none(),
        "no contact for an unknown agent"
    );

    customer_sends(&app, "sms", number, "It is agent-a@example.com").await;
    phone_shows(&app, "sms", number, "Please wait").await;
    phone_shows(&app, "sms", number, "You are now connected with Agent A").await;

    // Create Agent Contact: owned by Agent A, named as the customer said.
    let contact = app
        .store
        .contact_by_channel(&common::customer(domain::Channel::Sms, number))
        .await
        .unwrap()
        .expect("a contact");
    assert_eq!(contact.name, "Jane Customer");
    let agent_a = app
        .store
        .agent_by_email("agent-a@example.com")
        .await
        .unwrap();
    assert_eq!(contact.owner_agent_id.as_deref(), Some(agent_a.id.as_str()));

    // The guest greets Agent A, and the customer's next words reach them.
    let token = agent_token(&app, "agent-a@example.com").await;
    let room = room_with(&app, &token, "Conversation with Jane Customer on SMS").await;
    customer_sends(&app, "sms", number, "My order is late").await;
    eventually("the customer's words in Agent A's space", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(r, t)| *r == room && t == "My order is late")
    })
    .await;
    // The dialogue's answers were not relayed to the agent.
    assert!(!agent_inbox(&app, &token)
        .await
        .iter()
        .any(|(_, t)| t.contains("nobody@example.com") || t == "Hi"));
    let session = app
        .store
        .session_of(&common::customer(domain::Channel::Sms, number))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.status, domain::model::SessionStatus::Active);
    assert_eq!(
        session.collab_agent_id.as_deref(),
        Some("agent-a@example.com")
    );
}

#[tokio::test]
async fn the_routing_keyword_connects_straight_to_the_agent_without_the_keyword() {
    let app = native_app().await;
    let number = "447700900302";
    customer_sends(
        &app,
        "whatsapp",
        number,
        "webexAgent_agent-b@example.com I need a quote",
    )
    .await;
    phone_shows(
        &app,
        "whatsapp",
        number,
        "You are now connected with Agent B",
    )
    .await;
    let token = agent_token(&app, "agent-b@example.com").await;
    let room = room_with(&app, &token, "I need a quote").await;
    let inbox = agent_inbox(&app, &token).await;
    assert!(inbox
        .iter()
        .any(|(r, t)| *r == room && t.starts_with("Conversation with")));
    assert!(
        !inbox
            .iter()
            .any(|(_, t)| t.to_lowercase().contains("webexagent_")),
        "the keyword is removed: {inbox:?}"
    );
    // WhatsApp's profile name names the new contact.
    let contact = app
        .store
        .contact_by_channel(&common::customer(domain::Channel::Whatsapp, number))
        .await
        .unwrap()
        .expect("a contact");
    assert_eq!(contact.name, "Mr Doe");

    // A keyword naming nobody: told so, nothing routed.
    let other = "447700900303";
    customer_sends(
        &app,
        "whatsapp",
        other,
        "webexAgent_ghost@example.com hello",
    )
    .await;
    phone_shows(&app, "whatsapp", other, "could not find anyone").await;
    assert!(app
        .store
        .session_of(&common::customer(domain::Channel::Whatsapp, other))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn after_the_session_ended_the_customer_is_told_and_can_start_again() {
    let app = native_app().await;
    let number = "+447700900304";
    let (token, room) = start_conversation(&app, "Eve Ended", number, "sms").await;
    customer_sends(&app, "sms", number, "first question").await;
    room_with(&app, &token, "first question").await;

    // Agent A ends the session in the sidebar.
    let a = sign_in(&app, "agent-a@example.com").await;
    let session = app
        .store
        .session_of(&common::customer(domain::Channel::Sms, number))
        .await
        .unwrap()
        .unwrap();
    let (status, body) = a.call("sessions/end", &[("id", &session.id)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    customer_sends(&app, "sms", number, "hello again?").await;
    phone_shows(
        &app,
        "sms",
        number,
        "This conversation has ended. To start a new one, reply START.",
    )
    .await;
    assert!(
        !agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(_, t)| t == "hello again?"),
        "nothing reaches the agent after the end"
    );
    // The agent's words no longer reach the customer either; they are told.
    agent_writes(&app, &token, &room, "one more thing").await;
    eventually("a notice that the conversation ended", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(r, t)| *r == room && t.contains("has ended"))
    })
    .await;
    assert!(!phone_received(&app, "sms", number)
        .await
        .iter()
        .any(|t| t == "one more thing"));

    // START: the contact belongs to Agent A, so they are connected again.
    customer_sends(&app, "sms", number, "start").await;
    phone_shows(&app, "sms", number, "You are now connected with Agent A").await;
    customer_sends(&app, "sms", number, "second question").await;
    room_with(&app, &token, "second question").await;
}

#[tokio::test]
async fn an_mms_without_a_conversation_is_answered_session_not_found() {
    let app = native_app().await;
    let number = "+16475550188";
    customer_sends_file(
        &app,
        "mms",
        number,
        "look",
        Some(("a.png", "image/png", png())),
    )
    .await;
    phone_shows(&app, "sms", number, "could not find an open conversation").await;
    assert!(app
        .store
        .session_of(&common::customer(domain::Channel::Sms, number))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_location_is_no_answer_to_whats_your_name() {
    let app = native_app().await;
    let number = "+447700900311";
    customer_sends(&app, "whatsapp", number, "Hi").await;
    phone_shows(&app, "whatsapp", number, "what is your name?").await;
    let asked = phone_received(&app, "whatsapp", number).await.len();
    customer_whatsapp_event(
        &app,
        number,
        "location",
        serde_json::json!({"latitude": 51.5, "longitude": -0.12}),
    )
    .await;
    // Asked again, not "Thanks, 📍 Location…".
    eventually("the name asked again", || async {
        let got = phone_received(&app, "whatsapp", number).await;
        got.len() > asked
            && got[asked..]
                .iter()
                .any(|t| t.contains("what is your name?"))
    })
    .await;
    assert!(!phone_received(&app, "whatsapp", number)
        .await
        .iter()
        .any(|t| t.contains("Thanks,")));
    customer_sends(&app, "whatsapp", number, "Jane").await;
    phone_shows(&app, "whatsapp", number, "Thanks, Jane.").await;
}

#[tokio::test]
async fn an_agents_link_names_them_by_public_id_and_its_keyword_connects_to_them() {
    let app = native_app().await;
    let b = common::sign_in(&app, "agent-b@example.com").await;
    let agent_b = app
        .store
        .agent_by_email("agent-b@example.com")
        .await
        .unwrap();
    let keyword = format!("webexAgent_{}", agent_b.public_id);

    // The links page: both links carry the public id, never the email.
    let (status, links) = b.read("agent-links", &[]).await;
    assert_eq!(status, StatusCode::OK, "{links}");
    assert_eq!(links["keyword"], keyword.as_str());
    let url = |i: usize| {
        links["links"][i]["link"]["Ok"]["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(url(0), format!("https://wa.me/447700900100?text={keyword}"));
    assert_eq!(url(1), format!("sms:+447700900200?body={keyword}"));
    let qr = links["links"][1]["link"]["Ok"]["qr_svg"].as_str().unwrap();
    assert!(
        qr.starts_with(r#"<svg role="img" aria-label="QR code: SMS link to Agent B""#),
        "{qr}"
    );
    let text = links.to_string();
    for email in ["agent-b@example.com", "agent-b%40example.com", "agent-b"] {
        assert!(!text.contains(email), "{email} in {text}");
    }
    // An agent sees only their own; an admin anyone's.
    let (status, _) = b.read("agent-links", &[("agent", &agent_b.id)]).await;
    assert_eq!(status, StatusCode::OK);
    let a = common::sign_in(&app, "agent-a@example.com").await;
    let (status, _) = a.read("agent-links", &[("agent", &agent_b.id)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The customer sends what the link wrote for them.
    let number = "447700900311";
    customer_sends(&app, "whatsapp", number, &keyword).await;
    phone_shows(
        &app,
        "whatsapp",
        number,
        "You are now connected with Agent B",
    )
    .await;
    let session = app
        .store
        .session_of(&common::customer(domain::Channel::Whatsapp, number))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        session.collab_agent_id.as_deref(),
        Some("agent-b@example.com")
    );

    // Retyped from a printed sheet, in capitals, on SMS: the same agent.
    let other = "+447700900312";
    customer_sends(
        &app,
        "sms",
        other,
        &format!("hello {}", keyword.to_uppercase()),
    )
    .await;
    phone_shows(&app, "sms", other, "You are now connected with Agent B").await;

    // An id naming nobody, or a disabled agent: the dialogue asks who.
    let stranger = "+447700900313";
    customer_sends(&app, "sms", stranger, "webexAgent_00000000ff").await;
    phone_shows(&app, "sms", stranger, "what is your name?").await;
    app.store
        .update_agent_access(
            &store::AuditCtx::system(),
            None,
            &agent_b.id,
            None,
            Some(true),
        )
        .await
        .unwrap();
    let late = "+447700900314";
    customer_sends(&app, "sms", late, &keyword).await;
    phone_shows(&app, "sms", late, "what is your name?").await;
}
