//! A scripted third-party bot (third-party bot seed), for the product's
//! bot hand-over. It takes the seed's "Incoming message" events at
//! `POST /bot/webhook` (the product's access token required) and answers
//! as a bot does, by calling the product back (`/webhooks/bot`, with the
//! callback token) after it acknowledged:
//!
//! * words with "agent", "person" or "human": hand-over (event `1002`),
//!   naming the agent when the customer wrote an email;
//! * "hours": the opening hours (event `1001`);
//! * anything else: a greeting that says both.
//!
//! Make it fail with a route fault on `/bot/webhook` (`/control/faults`);
//! `GET /control/bot` lists what it received.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new().route("/webhook", post(incoming))
}

/// What the scripted bot answers to a customer's words.
pub fn script(conversation_id: &str, text: &str) -> Value {
    let lower = text.to_lowercase();
    if ["agent", "person", "human"]
        .iter()
        .any(|w| lower.contains(w))
    {
        let agent = text
            .split_whitespace()
            // An address starts and ends with a letter or digit: what is
            // around it is punctuation ("agent-a@example.com.").
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .find(|w| w.contains('@'));
        return json!({
            "eventid": "1002",
            "conversation_id": conversation_id,
            "message": format!("The customer asked the bot for a person. They wrote: \"{text}\""),
            "agent": agent,
        });
    }
    let reply = if lower.contains("hours") {
        "We are open Monday to Friday, 9:00 to 17:00. Reply AGENT to talk to a person."
    } else {
        "Hello, I am the sandbox's bot. Reply HOURS for our opening hours, or AGENT to talk to a person."
    };
    json!({ "eventid": "1001", "conversation_id": conversation_id, "message": reply })
}

async fn incoming(
    State(sandbox): State<Shared>,
    headers: HeaderMap,
    Json(event): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(bot) = sandbox.config.bot.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "the sandbox's bot is off (CM_SANDBOX_BOT)"})),
        );
    };
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(bot.access_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "the bot's access token is missing or wrong"})),
        );
    }
    let (Some(conversation), Some(text)) = (
        event.get("Conversationid").and_then(Value::as_str),
        event.get("Message").and_then(Value::as_str),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "Conversationid and Message are required"})),
        );
    };
    let answer = script(conversation, text);
    sandbox.world().bot_received.push(event.clone());
    // A bot answers later, on its own call, as the seed says.
    let http = sandbox.http.clone();
    tokio::spawn(async move {
        for attempt in 0..3 {
            let sent = http
                .post(&bot.callback_url)
                .bearer_auth(&bot.callback_token)
                .json(&answer)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() || r.status().is_client_error() => return,
                _ if attempt < 2 => tokio::time::sleep(Duration::from_millis(300)).await,
                _ => tracing::warn!("the sandbox's bot could not answer the product"),
            }
        }
    });
    (StatusCode::OK, Json(json!({"status": "received"})))
}

#[cfg(test)]
mod tests {
    use super::script;

    #[test]
    fn the_script_hands_over_on_request_and_names_the_agent() {
        let a = script("c1", "I want an agent: agent-a@example.com.");
        assert_eq!(a["eventid"], "1002");
        assert_eq!(a["agent"], "agent-a@example.com");
        let b = script("c1", "Can I talk to a person?");
        assert_eq!(b["eventid"], "1002");
        assert!(b["agent"].is_null());
        let c = script("c1", "What are your hours?");
        assert_eq!(c["eventid"], "1001");
        assert!(c["message"].as_str().unwrap().contains("Monday"));
        assert_eq!(script("c1", "hi")["conversation_id"], "c1");
    }
}
