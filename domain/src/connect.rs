//! The startConversation trigger: the seed's exact payload, posted to the
//! Webex Connect inbound webhook that starts the conversation flow.

use serde::Serialize;
use std::time::Duration;

use crate::channel::Channel;

/// The seed's "Conversation initiation payload", field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartConversationPayload {
    pub system_id: &'static str,
    pub channel: Channel,
    pub channel_id: String,
    pub action: &'static str,
    pub agent_id: String,
    pub contact_name: String,
}

impl StartConversationPayload {
    pub fn new(channel: Channel, channel_id: &str, agent_email: &str, contact_name: &str) -> Self {
        StartConversationPayload {
            system_id: "webex",
            channel,
            channel_id: channel_id.to_string(),
            action: "startConversation",
            agent_id: agent_email.to_string(),
            contact_name: contact_name.to_string(),
        }
    }
}

/// Why the trigger did not reach Connect, in words an agent can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("the Webex Connect webhook is not configured (CM_CONNECT_WEBHOOK_URL)")]
    NotConfigured,
    #[error("Webex Connect could not be reached: {0}")]
    Unreachable(String),
    #[error("Webex Connect did not answer within {0} seconds")]
    Timeout(u64),
    #[error("Webex Connect rejected the request (HTTP {status}): {body}")]
    Rejected { status: u16, body: String },
}

/// The configured Connect inbound webhook.
#[derive(Debug, Clone)]
pub struct ConnectWebhook {
    url: Option<String>,
    key: Option<String>,
    timeout: Duration,
    client: reqwest::Client,
}

impl ConnectWebhook {
    pub fn new(url: Option<String>, key: Option<String>, timeout: Duration) -> Self {
        ConnectWebhook {
            url,
            key,
            timeout,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    pub async fn send(&self, payload: &StartConversationPayload) -> Result<(), TriggerError> {
        let url = self.url.as_deref().ok_or(TriggerError::NotConfigured)?;
        let mut request = self.client.post(url).timeout(self.timeout).json(payload);
        if let Some(key) = &self.key {
            request = request.header("key", key);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                TriggerError::Timeout(self.timeout.as_secs())
            } else {
                TriggerError::Unreachable(root_cause(&e))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        // An HTML error page says nothing useful to an agent.
        let body: String = if text.trim_start().starts_with('<') {
            "(no details)".into()
        } else {
            text.chars().take(300).collect()
        };
        Err(TriggerError::Rejected {
            status: status.as_u16(),
            body,
        })
    }
}

/// Whether an endpoint answers HTTP at all (any status counts as an answer),
/// for the admin's integrations view.
pub async fn probe(url: &str) -> Result<u16, String> {
    let client = reqwest::Client::new();
    match client.get(url).timeout(Duration::from_secs(3)).send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) if e.is_timeout() => Err("no answer within 3 seconds".into()),
        Err(e) => Err(root_cause(&e)),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_the_seeds_exactly() {
        let p = StartConversationPayload::new(
            Channel::Whatsapp,
            "447700900123",
            "me@example.com",
            "Mr Doe",
        );
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({
                "systemId": "webex",
                "channel": "whatsapp",
                "channelId": "447700900123",
                "action": "startConversation",
                "agentId": "me@example.com",
                "contactName": "Mr Doe"
            })
        );
    }
}
