//! Card numbers customers write (seed: CCE flows, PCI compliance): masked in
//! the transcript, the outbox and the audit log, masked for the agent unless
//! `CM_PCI_MASK_FOR_AGENT=false`, and the customer told once per session.

mod common;

use common::relay::*;
use common::TestApp;
use domain::Channel;

const WARNING: &str = "please don't send card numbers here";

async fn agent_reads(app: &TestApp, token: &str, room: &str, text: &str) {
    eventually(&format!("{text:?} in the agent's space"), || async {
        agent_inbox(app, token)
            .await
            .iter()
            .any(|(r, t)| r == room && t == text)
    })
    .await;
}

/// Rows of `table` whose `column` contains `needle` (raw SQL: what is at rest).
async fn rows_with(app: &TestApp, table: &str, column: &str, needle: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url()).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM {table} WHERE {column} LIKE $1"
    ))
    .bind(format!("%{needle}%"))
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    n
}

async fn transcript(app: &TestApp, channel: Channel, number: &str) -> Vec<String> {
    let session = session_of(app, channel, number).await;
    app.store
        .messages(&session.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect()
}

#[tokio::test]
async fn a_card_number_is_masked_everywhere_and_the_customer_is_warned_once() {
    let app = native_app().await;
    let number = "+447700900401";
    let (token, room) = start_conversation(&app, "Carla Card", number, "sms").await;

    customer_sends(&app, "sms", number, "my card is 4111 1111 1111 1111").await;
    agent_reads(&app, &token, &room, "my card is [card number ending 1111]").await;
    phone_shows(&app, "sms", number, WARNING).await;

    // A second card number in the same session: masked, no second warning.
    customer_sends(&app, "sms", number, "or 5555-5555-5555-4444").await;
    agent_reads(&app, &token, &room, "or [card number ending 4444]").await;
    customer_sends(&app, "sms", number, "thanks").await;
    agent_reads(&app, &token, &room, "thanks").await;
    let warnings = phone_received(&app, "sms", number)
        .await
        .iter()
        .filter(|t| t.contains(WARNING))
        .count();
    assert_eq!(warnings, 1, "warned once per session");

    let lines = transcript(&app, Channel::Sms, number).await;
    assert!(lines.contains(&"my card is [card number ending 1111]".to_string()));
    assert!(lines.contains(&"or [card number ending 4444]".to_string()));
    assert!(lines.iter().any(|l| l.contains(WARNING)), "{lines:?}");
    for needle in ["4111 1111", "5555-5555"] {
        assert_eq!(rows_with(&app, "messages", "body", needle).await, 0);
        assert_eq!(rows_with(&app, "outbox", "payload", needle).await, 0);
    }
    // Nothing else in the agent's space has the number either.
    assert!(!agent_inbox(&app, &token)
        .await
        .iter()
        .any(|(_, t)| t.contains("4111 1111") || t.contains("5555-5555")));
}

#[tokio::test]
async fn with_masking_for_agents_off_the_agent_reads_the_number_but_nothing_stored_has_it() {
    let app = native_app_with(|c| c.pci_mask_for_agent = false).await;
    let number = "+447700900402";
    let (token, room) = start_conversation(&app, "Otto Original", number, "sms").await;

    customer_sends(&app, "sms", number, "card 4111-1111-1111-1111 exp 12/29").await;
    agent_reads(&app, &token, &room, "card 4111-1111-1111-1111 exp 12/29").await;
    phone_shows(&app, "sms", number, WARNING).await;

    let lines = transcript(&app, Channel::Sms, number).await;
    assert!(
        lines.contains(&"card [card number ending 1111] exp 12/29".to_string()),
        "{lines:?}"
    );
    assert_eq!(rows_with(&app, "messages", "body", "4111-1111").await, 0);
    assert_eq!(rows_with(&app, "outbox", "payload", "4111-1111").await, 0);
}

#[tokio::test]
async fn a_card_number_given_as_a_name_is_masked_in_the_contact_and_the_audit_log() {
    let app = native_app_with(|c| c.pci_warn_customer = false).await;
    let number = "+447700900403";
    customer_sends(&app, "sms", number, "Hi").await;
    phone_shows(&app, "sms", number, "what is your name?").await;
    customer_sends(&app, "sms", number, "Jo 4111111111111111").await;
    phone_shows(&app, "sms", number, "Thanks, Jo [card number ending 1111].").await;
    customer_sends(&app, "sms", number, "agent-a@example.com").await;
    phone_shows(&app, "sms", number, "You are now connected with Agent A").await;

    let contact = app
        .store
        .contact_by_channel(&common::customer(Channel::Sms, number))
        .await
        .unwrap()
        .expect("a contact");
    assert_eq!(contact.name, "Jo [card number ending 1111]");
    assert_eq!(
        rows_with(&app, "audit_log", "after_json", "4111111111111111").await,
        0
    );
    assert_eq!(
        rows_with(&app, "sessions", "onboarding_name", "4111111111111111").await,
        0
    );
    // The warning is off: never sent.
    assert!(!phone_received(&app, "sms", number)
        .await
        .iter()
        .any(|t| t.contains(WARNING)));
}

#[tokio::test]
async fn a_card_number_in_an_mms_text_part_is_masked_when_fetched() {
    let app = native_app().await;
    let number = "+447700900404";
    let (token, _) = start_conversation(&app, "Mia Mms", number, "sms").await;
    // The sandbox's phone sends an MMS's text as a .txt part, fetched by URL
    // once the conversation is known: masked then, not when accepted.
    let file = ("card.png", "image/png", png());
    customer_sends_file(&app, "mms", number, "card 4111 1111 1111 1111", Some(file)).await;
    eventually("the MMS in the agent's space, masked", || async {
        agent_messages(&app, &token)
            .await
            .iter()
            .any(|m| m["text"] == "card [card number ending 1111]")
    })
    .await;
    phone_shows(&app, "sms", number, WARNING).await;
    let lines = transcript(&app, Channel::Sms, number).await;
    assert!(lines.contains(&"card [card number ending 1111]".to_string()));
    assert_eq!(rows_with(&app, "messages", "body", "4111 1111").await, 0);
    assert_eq!(rows_with(&app, "outbox", "payload", "4111 1111").await, 0);
}
