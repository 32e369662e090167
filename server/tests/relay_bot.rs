//! Bot hand-over (third-party bot seed), through the sandbox's scripted bot:
//! a customer without an agent talks to the bot first; the bot answers or
//! hands over; a bot that does not answer is retried, then bypassed, and
//! made inactive after five failures in a row until an admin reactivates it.

mod common;

use common::relay::*;
use common::sign_in;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The bot's callback token in these tests (the sandbox's bot uses it too).
const CALLBACK_TOKEN: &str = "test-bot-callback-token-0123456789";

async fn bot_app(retry_seconds: Option<&str>) -> common::TestApp {
    native_app_with(|c| {
        c.integrations.sandbox_bot = true;
        c.integrations.bot_callback_token = Some(server::integrations::Secret::new(CALLBACK_TOKEN));
        c.integrations.bot_retry_seconds = retry_seconds.map(str::to_string);
    })
    .await
}

/// What the scripted bot received, in order.
async fn bot_received(app: &common::TestApp) -> Vec<Value> {
    app.driver.bot_received().await
}

/// The bot answers the next `count` calls with 503.
async fn bot_fails(app: &common::TestApp, count: u32) {
    let fault = json!({"path": "/bot/webhook", "method": "POST", "count": count,
        "kind": "status", "status": 503});
    app.driver.control("faults", &fault).await;
}

async fn bot_calls(app: &common::TestApp, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url("/webhooks/bot")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_new_customer_talks_to_the_bot_until_it_hands_them_to_the_agent_it_names() {
    let app = bot_app(None).await;
    let number = "+447700900601";
    customer_sends(&app, "sms", number, "Hi").await;
    phone_shows(&app, "sms", number, "I am the sandbox's bot").await;
    // The bot got the seed's event; no agent has anything yet.
    let received = bot_received(&app).await;
    assert_eq!(received.len(), 1, "{received:?}");
    let event = &received[0];
    assert_eq!(event["Message"], "Hi");
    assert_eq!(event["ConversationType"], "BOT");
    assert_eq!(event["Event"], "Incoming message");
    assert_eq!(event["Channel"], "sms");
    assert_eq!(event["MessageType"], "text");
    let conversation = event["Conversationid"].as_str().unwrap().to_string();
    let customer = common::customer(domain::Channel::Sms, number);
    assert!(app.store.session_of(&customer).await.unwrap().is_none());

    // The same bot conversation for the customer's next words.
    customer_sends(&app, "sms", number, "What are your hours?").await;
    phone_shows(&app, "sms", number, "Monday to Friday").await;
    assert_eq!(bot_received(&app).await[1]["Conversationid"], conversation);

    // The customer asks for a person, naming one: handed over to Agent A.
    customer_sends(&app, "sms", number, "An agent please: agent-a@example.com").await;
    phone_shows(&app, "sms", number, "You are now connected with Agent A").await;
    let token = agent_token(&app, "agent-a@example.com").await;
    let room = room_with(&app, &token, "The bot handed").await;
    assert!(agent_inbox(&app, &token)
        .await
        .iter()
        .any(|(r, t)| *r == room && t.contains("An agent please")));
    // From now on the customer's words go to the agent, not the bot.
    customer_sends(&app, "sms", number, "My order is late").await;
    eventually("the customer's words in Agent A's space", || async {
        agent_inbox(&app, &token)
            .await
            .iter()
            .any(|(r, t)| *r == room && t == "My order is late")
    })
    .await;
    assert_eq!(bot_received(&app).await.len(), 3);
    let session = session_of(&app, domain::Channel::Sms, number).await;
    assert_eq!(
        session.collab_agent_id.as_deref(),
        Some("agent-a@example.com")
    );
    let counts = app.store.bot_counts().await.unwrap();
    assert_eq!((counts.open, counts.handed_over), (0, 1));

    // A late word from the bot for the handed-over conversation goes nowhere.
    let late = json!({"eventid": "1001", "conversation_id": conversation,
        "message": "Anything else?", "messageid": "late-1"});
    assert_eq!(
        bot_calls(&app, &late, Some(CALLBACK_TOKEN)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!phone_received(&app, "sms", number)
        .await
        .iter()
        .any(|t| t == "Anything else?"));
}

#[tokio::test]
async fn a_hand_over_without_an_agent_starts_the_usual_routing() {
    let app = bot_app(None).await;
    let number = "+447700900602";
    customer_sends(&app, "sms", number, "Hello").await;
    phone_shows(&app, "sms", number, "I am the sandbox's bot").await;
    customer_sends(&app, "sms", number, "Can I talk to a person?").await;
    phone_shows(&app, "sms", number, "what is your name?").await;
    // The dialogue goes on as without a bot.
    customer_sends(&app, "sms", number, "Jane").await;
    phone_shows(&app, "sms", number, "Thanks, Jane.").await;
    assert_eq!(bot_received(&app).await.len(), 2);
}

#[tokio::test]
async fn the_bots_calls_need_its_token_and_are_taken_once() {
    let app = bot_app(None).await;
    let number = "+447700900603";
    customer_sends(&app, "sms", number, "Hi").await;
    phone_shows(&app, "sms", number, "I am the sandbox's bot").await;
    let conversation = bot_received(&app).await[0]["Conversationid"]
        .as_str()
        .unwrap()
        .to_string();
    let event = json!({"eventid": "1001", "conversation_id": conversation,
        "message": "Your parcel left the depot.", "messageid": "bot-m1"});
    // No token, a wrong one: refused, nothing sent.
    assert_eq!(
        bot_calls(&app, &event, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        bot_calls(&app, &event, Some("not-the-token-at-all"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Malformed, and an unknown conversation: said so.
    let r = bot_calls(&app, &json!({"eventid": "1001"}), Some(CALLBACK_TOKEN)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("conversation_id"));
    let unknown = json!({"eventid": "1001", "conversation_id": "nope", "message": "x"});
    assert_eq!(
        bot_calls(&app, &unknown, Some(CALLBACK_TOKEN))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // The right token: queued once, the same message again a duplicate.
    let first: Value = bot_calls(&app, &event, Some(CALLBACK_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["status"], "queued");
    let again: Value = bot_calls(&app, &event, Some(CALLBACK_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "duplicate");
    phone_shows(&app, "sms", number, "Your parcel left the depot.").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let copies = phone_received(&app, "sms", number)
        .await
        .iter()
        .filter(|t| *t == "Your parcel left the depot.")
        .count();
    assert_eq!(copies, 1);
}

#[tokio::test]
async fn a_bot_that_does_not_answer_is_retried_bypassed_then_inactive_until_reactivated() {
    // Two retries a second apart (the default is four within an hour).
    let app = bot_app(Some("1,1")).await;

    // Down for one call: the retry reaches it, the customer hears the bot.
    bot_fails(&app, 1).await;
    customer_sends(&app, "sms", "+447700900611", "Hi").await;
    phone_shows(&app, "sms", "+447700900611", "I am the sandbox's bot").await;
    assert_eq!(
        app.store.bot_health().await.unwrap().consecutive_failures,
        0
    );

    // Down for every try of a message: after the last retry it goes the
    // usual way (the dialogue), and the bot conversation is bypassed.
    bot_fails(&app, 100).await;
    customer_sends(&app, "sms", "+447700900612", "Hello").await;
    phone_shows(&app, "sms", "+447700900612", "what is your name?").await;
    let health = app.store.bot_health().await.unwrap();
    assert_eq!(health.consecutive_failures, 3);
    assert!(health.active);
    assert!(health.last_error.unwrap().contains("503"));
    assert_eq!(app.store.bot_counts().await.unwrap().bypassed, 1);

    // Two more failed calls make five in a row: inactive, and the message
    // that made it so goes the usual way at once.
    customer_sends(&app, "sms", "+447700900613", "Hello").await;
    phone_shows(&app, "sms", "+447700900613", "what is your name?").await;
    let health = app.store.bot_health().await.unwrap();
    assert!(!health.active);
    assert_eq!(health.consecutive_failures, 5);

    // While inactive, new customers go straight to the agents' routing.
    let calls_before = app.driver.faults_left().await;
    customer_sends(&app, "sms", "+447700900614", "Hello").await;
    phone_shows(&app, "sms", "+447700900614", "what is your name?").await;
    assert_eq!(
        app.driver.faults_left().await,
        calls_before,
        "the bot was not called"
    );

    // An admin sees it inactive and reactivates it; the bot answers again.
    common::add_agent(&app, "admin@example.com", domain::model::Role::Admin).await;
    let admin = sign_in(&app, "admin@example.com").await;
    let (status, overview) = admin.read("admin/bot", &[]).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["health"]["active"], false, "{overview}");
    // Two customers' messages went past the bot, and the first customer's
    // conversation, still open when the bot went down, was bypassed too.
    assert_eq!(overview["counts"]["bypassed"], 3, "{overview}");
    assert_eq!(overview["counts"]["open"], 0, "{overview}");
    let (status, answer) = admin.call("admin/bot/reactivate", &[]).await;
    assert!(status.is_success(), "{status} {answer}");
    assert!(app.store.bot_health().await.unwrap().active);
    app.driver.clear_faults().await;
    customer_sends(&app, "sms", "+447700900615", "Hi").await;
    phone_shows(&app, "sms", "+447700900615", "I am the sandbox's bot").await;

    // An agent may not reactivate it.
    let agent = sign_in(&app, "agent-a@example.com").await;
    let (status, _) = agent.call("admin/bot/reactivate", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn words_written_while_the_bot_hands_over_are_not_lost() {
    let app = bot_app(None).await;
    let token = agent_token(&app, "agent-a@example.com").await;
    for (n, number) in ["+447700900621", "+447700900622", "+447700900623"]
        .into_iter()
        .enumerate()
    {
        customer_sends(&app, "sms", number, "Hi").await;
        phone_shows(&app, "sms", number, "I am the sandbox's bot").await;
        let conversation = bot_received(&app)
            .await
            .iter()
            .rev()
            .find_map(|e| e["Conversationid"].as_str().map(str::to_string))
            .unwrap();
        // The customer writes again as the bot hands them over: the two
        // meet in either order.
        let words = format!("Are you there? ({n})");
        let handover = json!({"eventid": "1002", "conversation_id": conversation,
            "agent": "agent-a@example.com", "message": "wants a person"});
        let (_, answer) = tokio::join!(
            customer_sends(&app, "sms", number, &words),
            bot_calls(&app, &handover, Some(CALLBACK_TOKEN)),
        );
        assert_eq!(answer.status(), StatusCode::OK);
        phone_shows(&app, "sms", number, "You are now connected with Agent A").await;
        // The words reached the bot before the hand-over, or the agent after it.
        eventually("the customer's words with the bot or the agent", || async {
            bot_received(&app)
                .await
                .iter()
                .any(|e| e["Message"] == words.as_str())
                || agent_inbox(&app, &token)
                    .await
                    .iter()
                    .any(|(_, t)| *t == words)
        })
        .await;
    }
}
