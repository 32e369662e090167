//! Customers without an agent: the onboarding dialogue, the routing keyword,
//! and what a customer is told after their conversation ended.

mod common;

use common::relay::*;
use common::sign_in;
use reqwest::StatusCode;

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
    let session = session_of(&app, domain::Channel::Sms, number).await;
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
    let session = session_of(&app, domain::Channel::Sms, number).await;
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

/// STOP (any case, any of the carriers' words) opts the number out of the
/// channel: the customer gets one confirmation, the agent is told, nothing
/// the agent writes goes out and starting a conversation is refused with the
/// reason; the admins' list shows it; START opts back in.
#[tokio::test]
async fn stop_opts_the_customer_out_of_the_channel_until_they_reply_start() {
    let app = native_app().await;
    let number = "+447700900371";
    let (token, room) = start_conversation(&app, "Olive Optout", number, "sms").await;
    let in_space = |needle: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            eventually(&format!("{needle:?} in the agent's space"), || async {
                agent_inbox(app, token)
                    .await
                    .iter()
                    .any(|(_, t)| t.contains(needle))
            })
            .await
        }
    };

    customer_sends(&app, "sms", number, "Stop.").await;
    phone_shows(&app, "sms", number, "You have unsubscribed").await;
    in_space("they opted out of SMS").await;
    // The opt-out closes the conversation; START reopens the same one (below).
    let stopped = session_of(&app, domain::Channel::Sms, number).await;
    let conversation_id = stopped.conversation_id.clone().unwrap();
    let closed = app.store.conversation(&conversation_id).await.unwrap();
    assert_eq!(closed.closed_by, Some(domain::model::ClosedBy::OptOut));
    let (status, refused) = app
        .post(
            &format!("/api/v1/conversations/{conversation_id}/reopen"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("opted_out"))
    );
    agent_writes(&app, &token, &room, "Sorry to see you go").await;
    in_space("so they did not receive your message").await;

    // Starting again is refused with the reason, through the API too.
    let (_, contacts) = app.get("/api/v1/contacts?q=Olive").await;
    let contact_id = contacts["items"][0]["id"].as_str().unwrap().to_string();
    let (status, refused) = app
        .post(
            "/api/v1/conversations/start",
            serde_json::json!({
                "contactId": contact_id,
                "channel": "sms",
                "agentEmail": "agent-a@example.com",
                "attemptId": "after-stop-1",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "opted_out");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("keyword STOP"),
        "{refused}"
    );
    // The admins' list.
    common::add_agent(&app, "admin@example.com", domain::model::Role::Admin).await;
    let admin = sign_in(&app, "admin@example.com").await;
    let (status, listed) = admin.read("admin/opt-outs", &[]).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0][0]["customer"], "+44 7700 900371", "{listed}");
    assert_eq!(listed[0][0]["source"], "keyword STOP");

    customer_sends(&app, "sms", number, "START").await;
    phone_shows(&app, "sms", number, "You have subscribed again").await;
    in_space("they opted back in to SMS").await;
    let reopened = app.store.conversation(&conversation_id).await.unwrap();
    assert_eq!(reopened.status, domain::model::ConversationStatus::Open);
    assert!(reopened.reopened_at.is_some());
    agent_writes(&app, &token, &room, "Welcome back").await;
    phone_shows(&app, "sms", number, "Welcome back").await;
    let received = phone_received(&app, "sms", number).await;
    assert!(
        !received.iter().any(|t| t.contains("Sorry to see you go")),
        "{received:?}"
    );
    assert_eq!(
        received
            .iter()
            .filter(|t| t.contains("You have unsubscribed"))
            .count(),
        1
    );
}

/// The seed's "most recent agent": a customer whose conversation ended and
/// who starts again goes to the agent who last engaged them (here Agent B,
/// who took over), not to their contact's owner (Agent A).
#[tokio::test]
async fn a_returning_customer_goes_back_to_the_agent_who_last_engaged_them() {
    let app = native_app().await;
    let number = "+447700900381";
    let (token_a, _) = start_conversation(&app, "Rita Return", number, "sms").await;
    customer_sends(&app, "sms", number, "hello").await;
    room_with(&app, &token_a, "hello").await;
    let session = session_of(&app, domain::Channel::Sms, number).await;
    // Agent B starts a conversation with the same contact (latest agent wins), then ends it.
    let b = sign_in(&app, "agent-b@example.com").await;
    let contact_id = session.contact_id.clone().unwrap();
    let start = [
        ("contact_id", contact_id.as_str()),
        ("channel", "sms"),
        ("nonce", "b-starts"),
    ];
    let (status, body) = b.call("contacts/start", &start).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = b.call("sessions/end", &[("id", &session.id)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    customer_sends(&app, "sms", number, "START").await;
    phone_shows(&app, "sms", number, "You are now connected with Agent B").await;
    let routed = session_of(&app, domain::Channel::Sms, number).await;
    assert_eq!(
        routed.collab_agent_id.as_deref(),
        Some("agent-b@example.com")
    );
    let contact = app
        .store
        .contact(routed.contact_id.as_deref().unwrap())
        .await
        .unwrap();
    let a = app
        .store
        .agent_by_email("agent-a@example.com")
        .await
        .unwrap();
    assert_eq!(
        contact.owner_agent_id.as_deref(),
        Some(a.id.as_str()),
        "the owner stays"
    );
}

/// A conversation with no message either way for the idle time ends: the
/// customer is told how to start again, the agent gets a notice; one that
/// had a message within the time stays open.
#[tokio::test]
async fn a_conversation_idle_for_the_idle_time_ends_and_both_sides_are_told() {
    let app = native_app().await;
    let (quiet, busy) = ("+447700900391", "+447700900392");
    let (token, _) = start_conversation(&app, "Quinn Quiet", quiet, "sms").await;
    start_conversation(&app, "Bea Busy", busy, "sms").await;
    customer_sends(&app, "sms", quiet, "hello?").await;
    customer_sends(&app, "sms", busy, "hello?").await;
    room_with(&app, &token, "hello?").await;
    // Quinn's conversation went quiet 25 hours ago; Bea wrote an hour ago.
    let day_ago = |hours: i64| store::now_ms() - hours * 3600 * 1000;
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(&app.database_url()).await.unwrap();
    for (number, hours) in [(quiet, 25), (busy, 1)] {
        let session = session_of(&app, domain::Channel::Sms, number).await;
        sqlx::query("UPDATE sessions SET updated_at = $1 WHERE id = $2")
            .bind(day_ago(hours))
            .bind(&session.id)
            .execute(&db)
            .await
            .unwrap();
        sqlx::query("UPDATE messages SET created_at = $1 WHERE session_id = $2")
            .bind(day_ago(hours))
            .bind(&session.id)
            .execute(&db)
            .await
            .unwrap();
    }

    let relay = app.relay.as_ref().unwrap();
    let idle = std::time::Duration::from_secs(24 * 3600);
    assert_eq!(relay.close_idle_sessions(idle).await.unwrap(), 1);
    phone_shows(&app, "sms", quiet, "This conversation has ended after 24 hours without messages. To start a new one, reply START.").await;
    eventually("the agent's notice", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(_, t)| t.contains("ended after 24 hours without a message either way"))
    })
    .await;
    let status = |number: &'static str| {
        let app = &app;
        async move { session_of(app, domain::Channel::Sms, number).await.status }
    };
    assert_eq!(status(quiet).await, domain::model::SessionStatus::Ended);
    assert_eq!(status(busy).await, domain::model::SessionStatus::Active);
    // Its conversation is closed for inactivity, and stays readable.
    let ended = session_of(&app, domain::Channel::Sms, quiet).await;
    let conversation = app
        .store
        .conversation(ended.conversation_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        conversation.closed_by,
        Some(domain::model::ClosedBy::Inactivity)
    );
    // A second round ends nothing more and says nothing twice.
    assert_eq!(relay.close_idle_sessions(idle).await.unwrap(), 0);
    let told = phone_received(&app, "sms", quiet).await;
    assert_eq!(
        told.iter()
            .filter(|t| t.contains("has ended after"))
            .count(),
        1
    );
    assert!(!phone_received(&app, "sms", busy)
        .await
        .iter()
        .any(|t| t.contains("has ended after")));
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
    let session = session_of(&app, domain::Channel::Whatsapp, number).await;
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

/// A contact whose language is Spanish is answered in Spanish (the files in
/// relay/locales); the agent's words go as written; the carriers' START
/// stays as it is. A customer without a contact gets the default, English.
#[tokio::test]
async fn a_customer_is_answered_in_their_contacts_language() {
    let app = native_app().await;
    let number = "+447700900391";
    let (token, room) = start_conversation(&app, "Sofía Spanish", number, "sms").await;
    let session = session_of(&app, domain::Channel::Sms, number).await;
    let contact_id = session.contact_id.clone().unwrap();
    let (status, contact) = app
        .put(
            &format!("/api/v1/contacts/{contact_id}"),
            serde_json::json!({ "language": "es" }),
        )
        .await;
    assert_eq!(
        (status, contact["language"].as_str()),
        (StatusCode::OK, Some("es")),
        "{contact}"
    );
    let (status, refused) = app
        .put(
            &format!("/api/v1/contacts/{contact_id}"),
            serde_json::json!({ "language": "tlh" }),
        )
        .await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("language"))
    );

    agent_writes(&app, &token, &room, "Hello Sofía").await;
    phone_shows(&app, "sms", number, "Hello Sofía").await;
    let a = sign_in(&app, "agent-a@example.com").await;
    let (status, body) = a.call("sessions/end", &[("id", &session.id)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    customer_sends(&app, "sms", number, "¿hola?").await;
    phone_shows(
        &app,
        "sms",
        number,
        "Esta conversación ha terminado. Para empezar una nueva, responda START.",
    )
    .await;
    // The transcript keeps what the customer was sent.
    let transcript = app.store.messages(&session.id).await.unwrap();
    assert!(transcript
        .iter()
        .any(|m| m.body.starts_with("Esta conversación ha terminado")));

    // Someone the business does not know yet: the default language.
    customer_sends(&app, "sms", "+447700900392", "hi").await;
    phone_shows(
        &app,
        "sms",
        "+447700900392",
        "Hello! To connect you with the right person",
    )
    .await;
}
