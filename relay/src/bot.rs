//! Bot hand-over (third-party bot seed; rules in `domain::bot`): with a bot
//! configured and active, a customer who has no agent session talks to the
//! bot first. Their messages go to the bot's webhook ([`Relay::to_bot`]);
//! the bot answers through `POST /webhooks/bot` ([`Relay::accept_bot`]),
//! either with words for the customer or with a hand-over, and then the
//! usual routing takes the customer (to the agent the bot names, else the
//! most recent agent, the contact's owner or the dialogue).
//!
//! A call that fails is retried ([`domain::bot::RETRY_DELAYS`]); after the
//! last retry, or once failures in a row made the bot inactive, the message
//! goes the usual way instead: nothing a customer writes is lost to a bot
//! that is down.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::accept::{AcceptError, Accepted};
use super::inbound::Inbound;
use super::jobs;
use super::webhook_auth::{Bot, VerifiedBody};
use super::{Done, Effects, Failure, Ran, Relay};
use domain::bot::{BotConversationStatus, BotOverview};
use domain::error::DomainError;
use domain::model::{Session, SessionStatus};
use platform::bot::{BotWebhook, IncomingMessage};
use store::{Acceptance, AuditCtx, BotConversation, Job, RelaySession};

/// The configured bot (`CM_BOT_*`).
#[derive(Debug, Clone)]
pub struct RelayBot {
    pub webhook: BotWebhook,
    /// What the bot's calls to `/webhooks/bot` must carry (`Authorization: Bearer`).
    pub callback_token: String,
    /// The waits before each retry of a failed call (at most four within
    /// an hour: `domain::bot::RETRY_DELAYS` unless a test shortens them).
    pub retry_delays: Vec<Duration>,
}

/// Why a customer's message runs the usual way after the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "after", rename_all = "snake_case")]
pub enum FromBot {
    /// The bot handed the customer over: to `agent` when it named one
    /// (an email, or an agent's id or public id); `note`: what it tells
    /// the agent.
    HandedOver {
        agent: Option<String>,
        note: Option<String>,
    },
    /// The bot could not take the message (down or inactive).
    Bypassed,
}

/// What the bot sent us (seed: events `1001`, a message for the customer,
/// and `1002`, the hand-over; the seed lets a bot name the event instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BotEvent {
    Message {
        text: String,
    },
    Handover {
        agent: Option<String>,
        note: Option<String>,
    },
}

/// The first of these fields that holds text (the seed spells its fields
/// in several ways: `conversation_id`, `Conversationid`...).
fn field<'a>(event: &'a Value, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        event
            .get(*n)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    })
}

/// Reads a bot's call: (its conversation id, the event, its own id if it
/// gave one). The error names what is missing or wrong.
pub fn parse_bot_event(event: &Value) -> Result<(String, BotEvent, Option<String>), String> {
    let conversation = field(
        event,
        &[
            "conversation_id",
            "conversationid",
            "Conversationid",
            "conversationId",
        ],
    )
    .ok_or("conversation_id is missing")?;
    let kind = match event.get("eventid").or_else(|| event.get("eventId")) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        _ => return Err("eventid is missing (1001: a message, 1002: hand-over)".into()),
    };
    let message = field(event, &["message", "Message"]);
    let parsed = match kind.as_str() {
        "1001" | "message" => BotEvent::Message {
            text: message
                .ok_or("message is missing: event 1001 sends text to the customer")?
                .to_string(),
        },
        "1002" | "handover" => BotEvent::Handover {
            agent: field(event, &["agent", "agent_email", "agentEmail"]).map(str::to_string),
            note: message.map(str::to_string),
        },
        other => {
            return Err(format!(
                "eventid {other} is unknown (1001: a message, 1002: hand-over)"
            ))
        }
    };
    let id = field(
        event,
        &["messageid", "Messageid", "message_id", "messageId"],
    );
    Ok((conversation.to_string(), parsed, id.map(str::to_string)))
}

/// `YYYY-MM-DD hh:mm:ss.SS` in GMT, as the seed's events carry time.
fn seed_timestamp(ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!(
        "{}.{:02}",
        t.format("%Y-%m-%d %H:%M:%S"),
        (ms.rem_euclid(1000)) / 10
    )
}

impl Relay {
    /// Whether a message from a customer with this session goes to the
    /// bot: one is configured and active, and the customer has no agent
    /// session (none, or it ended). The one place of that rule.
    pub(super) async fn bot_takes(&self, session: Option<&Session>) -> Result<bool, Failure> {
        if self.inner.bot.is_none() {
            return Ok(false);
        }
        if session.is_some_and(|s| s.status != SessionStatus::Ended) {
            return Ok(false);
        }
        Ok(self.store().bot_health().await?.active)
    }

    /// The customer's message to the bot: in their open bot conversation,
    /// or a new one; the call is a job of its own, in order with the rest
    /// of the customer's.
    pub(super) async fn send_to_bot(&self, job: &Job, m: &Inbound, text: &str) -> Ran {
        let mut effects = Effects::default();
        let id = match self
            .store()
            .open_bot_conversation(m.channel, &m.customer)
            .await?
        {
            Some(open) => open.id,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                effects.bot_opened = Some((id.clone(), m.channel, m.customer.clone()));
                id
            }
        };
        effects.jobs.push(jobs::to_bot(&id, m.clone(), text));
        self.apply(Some(job), effects).await
    }

    /// Calls the bot with one message. A failure is counted against the
    /// bot and retried; the last retry, or a bot made inactive, sends the
    /// message the usual way.
    pub(super) async fn to_bot(
        &self,
        job: &Job,
        conversation_id: &str,
        m: &Inbound,
        text: &str,
    ) -> Ran {
        let Some(bot) = self.inner.bot.as_ref() else {
            return self.bypass_bot(job, conversation_id, m).await;
        };
        let conversation = self.store().bot_conversation(conversation_id).await?;
        if conversation.status != BotConversationStatus::Open {
            // Handed over since it was queued: the usual way now.
            return self.bypass_bot(job, conversation_id, m).await;
        }
        if !self.store().bot_health().await?.active {
            return self.bypass_bot(job, conversation_id, m).await;
        }
        let event = IncomingMessage {
            conversation_id: conversation_id.to_string(),
            conversation_type: "BOT",
            message: text.to_string(),
            message_type: if text.is_empty() && !m.media.is_empty() {
                "media"
            } else {
                "text"
            },
            message_id: m.transid.clone(),
            media: m.media.first().map(|f| f.url.clone()).unwrap_or_default(),
            channel: m.channel.as_str().to_string(),
            event: "Incoming message",
            timestamp: seed_timestamp(store::now_ms()),
        };
        match bot.webhook.send(&event).await {
            Ok(()) => {
                super::note(|n| n.answer = Some("the bot took the message".into()));
                self.store().bot_call_succeeded().await?;
                Ok(Done::Unrecorded)
            }
            Err(e) => {
                let error = e.to_string();
                super::note(|n| n.answer = Some(error.clone()));
                let health = self.store().bot_call_failed(&error).await?;
                let retries_used = (job.attempts - 1).max(0) as usize;
                match bot.retry_delays.get(retries_used) {
                    Some(wait) if health.active => Err(Failure::Retry(error, Some(*wait))),
                    _ => {
                        tracing::warn!(error = %error, "the bot did not take a customer's message: it goes to the agents");
                        self.bypass_bot(job, conversation_id, m).await
                    }
                }
            }
        }
    }

    /// The bot cannot take the message: its conversation ends as bypassed
    /// and the message runs the usual way, in the same transaction.
    async fn bypass_bot(&self, job: &Job, conversation_id: &str, m: &Inbound) -> Ran {
        let mut m = m.clone();
        m.from_bot = Some(FromBot::Bypassed);
        let effects = Effects {
            bot_ended: Some((
                conversation_id.to_string(),
                BotConversationStatus::Bypassed,
                None,
            )),
            jobs: vec![jobs::customer_message_again(m, "bot-bypass")],
            ..Effects::default()
        };
        self.apply(Some(job), effects).await
    }

    /// What the bot sent, in order with the customer's messages: words go
    /// to the customer; a hand-over ends the bot conversation and runs the
    /// usual routing. Calls for a conversation the bot no longer has (it
    /// was handed over or bypassed) change nothing.
    pub(super) async fn bot_answered(
        &self,
        job: &Job,
        conversation_id: &str,
        event: &BotEvent,
        event_id: &str,
    ) -> Ran {
        let conversation = self.store().bot_conversation(conversation_id).await?;
        if conversation.status != BotConversationStatus::Open {
            super::note(|n| {
                n.answer = Some(format!(
                    "not relayed: the bot's conversation was {}",
                    conversation.status.as_str().replace('_', " ")
                ))
            });
            return Ok(Done::Unrecorded);
        }
        let mut effects = Effects::default();
        match event {
            BotEvent::Message { text } => {
                effects.jobs.push(jobs::bot_reply(
                    conversation.channel,
                    &conversation.customer_id,
                    text,
                    format!("bot:{conversation_id}:{event_id}"),
                ));
            }
            BotEvent::Handover { agent, note } => {
                effects.bot_ended = Some((
                    conversation_id.to_string(),
                    BotConversationStatus::HandedOver,
                    agent.clone(),
                ));
                effects.jobs.push(jobs::customer_message_again(
                    handover_message(&conversation, agent, note),
                    "bot-handover",
                ));
            }
        }
        self.apply(Some(job), effects).await
    }

    /// `POST /webhooks/bot`: the bot answers (a verified body). Stored with
    /// the job it causes before the 2xx, deduplicated by the bot's message
    /// id or, when it gives none, by the body's hash.
    pub async fn accept_bot(&self, body: VerifiedBody<Bot>) -> Result<Accepted, AcceptError> {
        let value: Value = serde_json::from_slice(body.bytes())
            .map_err(|e| AcceptError::Malformed(e.to_string()))?;
        let (conversation_id, event, id) =
            parse_bot_event(&value).map_err(AcceptError::Malformed)?;
        let conversation = match self.store().bot_conversation(&conversation_id).await {
            Ok(c) => c,
            Err(DomainError::NotFound { .. }) => {
                return Err(AcceptError::Unknown(format!(
                    "no bot conversation {conversation_id}"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let event_id = id.unwrap_or_else(|| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(body.bytes()))
        });
        let job = jobs::from_bot(&conversation, event, &event_id);
        self.intake(
            Acceptance {
                provider: "bot",
                event_id: format!("{conversation_id}:{event_id}"),
                touch_customer: None,
                receipt: None,
                jobs: vec![job],
            },
            Accepted::Queued,
        )
        .await
    }

    /// Where the customer goes after the bot handed them over: to the
    /// agent it named, else the usual way (most recent agent, the contact's
    /// owner, or the dialogue). The bot's note goes to the agent.
    pub(super) async fn after_handover(
        &self,
        job: &Job,
        conversation: Option<&RelaySession>,
        m: &Inbound,
        agent: Option<&str>,
    ) -> Ran {
        let session = conversation.map(|c| &c.session);
        // An agent started a conversation meanwhile: it stands.
        if let Some(session) = session.filter(|s| s.status != SessionStatus::Ended) {
            let mut effects = Effects::default();
            if let Some(note) = m.bot_note() {
                effects.jobs.push(jobs::notice(
                    session,
                    format!("notice:{}", m.transid),
                    None,
                    &format!("The bot handed this customer over: {note}"),
                ));
            }
            return self.apply(Some(job), effects).await;
        }
        if let Some(reference) = agent {
            if let Some(agent) = self.find_agent(reference).await? {
                let name = self.customer_name(conversation, m).await?;
                return self
                    .connect_customer(job, m, &agent, &name, &Default::default(), true)
                    .await;
            }
        }
        let last_agent = session.and_then(|s| s.collab_agent_id.as_deref());
        self.begin_dialogue(job, m, last_agent).await
    }

    /// The admins' view of the bot (None: no bot is configured).
    pub async fn bot_overview(&self) -> Result<Option<BotOverview>, DomainError> {
        let Some(bot) = self.inner.bot.as_ref() else {
            return Ok(None);
        };
        Ok(Some(BotOverview {
            host: Some(bot.webhook.host()),
            health: self.store().bot_health().await?,
            counts: self.store().bot_counts().await?,
        }))
    }

    /// An admin reactivates the bot (audited).
    pub async fn reactivate_bot(&self, ctx: &AuditCtx) -> Result<(), DomainError> {
        if self.inner.bot.is_none() {
            return Err(DomainError::Invalid(domain::FieldError::new(
                "bot",
                "no bot is configured (CM_BOT_URL)",
            )));
        }
        self.store().reactivate_bot(ctx).await?;
        Ok(())
    }

    /// The callback token the bot must present, if a bot is configured.
    pub(super) fn bot_callback_token(&self) -> Option<&str> {
        self.inner.bot.as_ref().map(|b| b.callback_token.as_str())
    }
}

/// The message that runs the usual routing after a hand-over: the bot's
/// conversation stands for the customer's words (the agent gets the note).
fn handover_message(
    conversation: &BotConversation,
    agent: &Option<String>,
    note: &Option<String>,
) -> Inbound {
    Inbound {
        channel: conversation.channel,
        mms: false,
        customer: conversation.customer_id.clone(),
        transid: format!("bot-handover:{}", conversation.id),
        profile_name: None,
        text: String::new(),
        text_urls: Vec::new(),
        media: Vec::new(),
        written_out: true,
        cards: false,
        sealed_text: None,
        language: Default::default(),
        from_bot: Some(FromBot::HandedOver {
            agent: agent.clone(),
            note: note.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seeds_events_are_read_in_their_spellings() {
        let (id, event, mid) =
            parse_bot_event(&json!({"eventid": "1001", "conversation_id": "c1", "message": "Hi"}))
                .unwrap();
        assert_eq!(id, "c1");
        assert_eq!(event, BotEvent::Message { text: "Hi".into() });
        assert_eq!(mid, None);
        let (_, event, mid) = parse_bot_event(&json!({
            "eventid": 1002, "Conversationid": "c1", "agent": "a@example.com",
            "message": "wants a refund", "messageid": "m9"
        }))
        .unwrap();
        assert_eq!(
            event,
            BotEvent::Handover {
                agent: Some("a@example.com".into()),
                note: Some("wants a refund".into())
            }
        );
        assert_eq!(mid.as_deref(), Some("m9"));
        let (_, event, _) =
            parse_bot_event(&json!({"eventid": "handover", "conversation_id": "c1"})).unwrap();
        assert_eq!(
            event,
            BotEvent::Handover {
                agent: None,
                note: None
            }
        );
    }

    #[test]
    fn a_bad_event_says_what_is_wrong() {
        let e = parse_bot_event(&json!({"eventid": "1001", "message": "Hi"})).unwrap_err();
        assert!(e.contains("conversation_id"), "{e}");
        let e = parse_bot_event(&json!({"eventid": "1001", "conversation_id": "c"})).unwrap_err();
        assert!(e.contains("message"), "{e}");
        let e = parse_bot_event(&json!({"eventid": "7", "conversation_id": "c"})).unwrap_err();
        assert!(e.contains("unknown"), "{e}");
        let e = parse_bot_event(&json!({"conversation_id": "c"})).unwrap_err();
        assert!(e.contains("eventid"), "{e}");
    }

    #[test]
    fn timestamps_are_the_seeds_format() {
        // 2026-11-30T17:35:01.234Z
        assert_eq!(seed_timestamp(1_796_060_101_234), "2026-11-30 17:35:01.23");
    }
}
