//! A third-party bot's webhook (Webex Connect's "Generic Bot" integration,
//! as the third-party bot seed describes it): we POST each customer message
//! to the bot's URL with the bot's access token, and the bot answers later
//! by calling our `/webhooks/bot` (see `relay::bot`). The event's fields are
//! the seed's, spelled as the seed spells them; see
//! docs/platform-contracts.md ("Bot webhook").

use std::time::Duration;

use serde::Serialize;

/// One customer message, as the bot receives it (seed: "Incoming message").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncomingMessage {
    /// Ours, per customer conversation with the bot: the bot answers with it.
    #[serde(rename = "Conversationid")]
    pub conversation_id: String,
    /// Always `BOT` (the seed: then only the bot is expected to answer).
    #[serde(rename = "ConversationType")]
    pub conversation_type: &'static str,
    /// The customer's words, card numbers masked.
    #[serde(rename = "Message")]
    pub message: String,
    /// `text`, or `media` when the message is only files.
    #[serde(rename = "MessageType")]
    pub message_type: &'static str,
    /// Connect's id of the customer's message.
    #[serde(rename = "Messageid")]
    pub message_id: String,
    /// The first file's URL, or empty.
    #[serde(rename = "Media")]
    pub media: String,
    /// `whatsapp` or `sms`.
    #[serde(rename = "Channel")]
    pub channel: String,
    /// Always `Incoming message`.
    #[serde(rename = "Event")]
    pub event: &'static str,
    /// `YYYY-MM-DD hh:mm:ss.SS`, GMT.
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BotCallError {
    #[error("the bot did not answer within {0} seconds")]
    Timeout(u64),
    #[error("the bot could not be reached: {0}")]
    Unreachable(String),
    #[error("the bot answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
}

/// The configured bot's webhook.
#[derive(Debug, Clone)]
pub struct BotWebhook {
    url: String,
    access_token: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl BotWebhook {
    pub fn new(url: &str, access_token: &str, timeout: Duration) -> Self {
        BotWebhook {
            url: url.to_string(),
            access_token: access_token.to_string(),
            timeout,
            client: reqwest::Client::new(),
        }
    }

    /// The URL's host, for the admins (the path or query may carry a key).
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Sends one event; any 2xx is taken (the seed says nothing of a body).
    pub async fn send(&self, event: &IncomingMessage) -> Result<(), BotCallError> {
        let response = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .bearer_auth(&self.access_token)
            // The same message again (a retry after a lost answer) carries
            // the same key, for a bot that deduplicates.
            .header("Idempotency-Key", &event.message_id)
            .json(event)
            .send()
            .await;
        crate::count_answer("bot", response.as_ref().ok().map(|r| r.status().as_u16()));
        let response = response.map_err(|e| {
            if e.is_timeout() {
                BotCallError::Timeout(self.timeout.as_secs())
            } else {
                BotCallError::Unreachable(crate::connect::root_cause(&e))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let body = if text.trim_start().starts_with('<') {
            "(no details)".into()
        } else {
            text.chars().take(200).collect()
        };
        Err(BotCallError::Refused {
            status: status.as_u16(),
            body,
        })
    }
}
