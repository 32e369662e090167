//! The relay's outbox jobs, as one enum: what each job carries is a type,
//! every job is made here, and [`Task::from_job`] reads a claimed row back
//! (an unknown kind or a malformed row is found when it is read, once).
//!
//! A row stores the kind and the payload apart (`outbox.kind`,
//! `outbox.payload`); the payload's field names are the ones rows have
//! always had, so rows written before this type existed still read.

use serde::{Deserialize, Serialize};

use super::bot::BotEvent;
use super::conversation_key;
use super::inbound::{Inbound, Receipt};
use domain::model::{Customer, Direction, MessageStatus, Session};
use domain::Channel;
use store::{Job, MessageRef, NewJob, NewMessage};

/// The payload field naming the request a job comes from (see
/// `crate::request_id`); unknown to [`Task`], so it never changes what runs.
pub(crate) const REQUEST_ID: &str = "requestId";
/// When that request was accepted (ms since the epoch).
pub(crate) const ACCEPTED_AT: &str = "acceptedAt";

/// The request a claimed job comes from, if it was recorded.
pub(crate) fn request_of(job: &Job) -> Option<&str> {
    job.payload.get(REQUEST_ID).and_then(|v| v.as_str())
}

/// When the request a claimed job comes from was accepted, if recorded.
pub(crate) fn accepted_at_of(job: &Job) -> Option<i64> {
    job.payload.get(ACCEPTED_AT).and_then(|v| v.as_i64())
}

/// What a job does, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Task {
    /// Guest Provisioning and the greeting that opens the agent's space.
    #[serde(rename_all = "camelCase")]
    Provision {
        session_id: String,
        agent_email: String,
        contact_name: String,
    },
    /// A customer's message: the dialogue decides what becomes of it.
    /// `customer`: who wrote, as parsed when the message was accepted
    /// (rows from before it was carried lack it).
    CustomerMessage {
        message: Inbound,
        #[serde(default)]
        customer: Option<Customer>,
    },
    /// A message from the guest into an agent's space: the customer's words
    /// (with `message_id`, the transcript line it delivers) or a notice.
    /// `to`: another agent than the session's (after a takeover).
    #[serde(rename_all = "camelCase")]
    PostToAgent {
        session_id: String,
        to: Option<String>,
        text: String,
        file_url: Option<String>,
        message_id: Option<String>,
        /// The customer's words with their card numbers, for the agent
        /// (`CM_PCI_MASK_FOR_AGENT=false`), sealed with the message id as
        /// context: `text` is what is stored, masked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_text: Option<String>,
        /// The line was written `posting` with this job, so a first try
        /// need not read or mark it (rows from before say nothing: false).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        line_posting: bool,
    },
    /// An agent's Webex message, to the customer.
    #[serde(rename_all = "camelCase")]
    WebexToCustomer {
        session_id: String,
        message_id: String,
    },
    /// A message we write to the customer: a dialogue line (`text`) or the
    /// WhatsApp template (`template` with its `parameters`).
    #[serde(rename_all = "camelCase")]
    SendToCustomer {
        session_id: Option<String>,
        /// The transcript line, when there is a session.
        message_id: Option<String>,
        /// Connect's correlation id and Idempotency-Key.
        key: String,
        channel: Channel,
        customer: String,
        text: Option<String>,
        template: Option<String>,
        #[serde(default)]
        parameters: Vec<(String, String)>,
        /// The answer to STOP or START: sent whatever the customer's consent
        /// (every other message to an opted-out customer is held back).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        consent_reply: bool,
    },
    /// A customer's message to the bot (`crate::bot`), in their bot
    /// conversation; `text`: what they wrote, card numbers masked.
    #[serde(rename_all = "camelCase")]
    ToBot {
        bot_conversation_id: String,
        message: Inbound,
        text: String,
    },
    /// What the bot sent back: words for the customer, or a hand-over.
    #[serde(rename_all = "camelCase")]
    FromBot {
        bot_conversation_id: String,
        event: BotEvent,
        event_id: String,
    },
    /// A delivery receipt for one of our transcript lines.
    #[serde(rename_all = "camelCase")]
    Receipt {
        session_id: String,
        message_id: String,
        #[serde(default)]
        from_agent: bool,
        receipt: Receipt,
    },
}

impl Task {
    /// Reads a claimed row; an error says why it cannot run (it never will).
    pub(crate) fn from_job(job: &Job) -> Result<Task, String> {
        let mut row = match &job.payload {
            serde_json::Value::Object(fields) => fields.clone(),
            other => return Err(format!("unreadable {} job: payload {other}", job.kind)),
        };
        row.insert("kind".into(), job.kind.clone().into());
        serde_json::from_value(serde_json::Value::Object(row))
            .map_err(|e| format!("unreadable {} job: {e}", job.kind))
    }

    /// The session the job is about, if any (a refused guest token is
    /// dropped for its guest).
    pub(crate) fn session_id(&self) -> Option<&str> {
        match self {
            Task::Provision { session_id, .. }
            | Task::PostToAgent { session_id, .. }
            | Task::WebexToCustomer { session_id, .. }
            | Task::Receipt { session_id, .. } => Some(session_id),
            Task::SendToCustomer { session_id, .. } => session_id.as_deref(),
            Task::CustomerMessage { .. } | Task::ToBot { .. } | Task::FromBot { .. } => None,
        }
    }

    /// The transcript line the job carries, for the message log: ours by
    /// id; an agent's or a customer's by the platform's id, since the job
    /// itself writes that line.
    pub(crate) fn message_ref(&self) -> Option<MessageRef> {
        match self {
            Task::PostToAgent { message_id, .. } | Task::SendToCustomer { message_id, .. } => {
                message_id.clone().map(MessageRef::Line)
            }
            Task::Receipt { message_id, .. } => Some(MessageRef::Line(message_id.clone())),
            Task::WebexToCustomer { message_id, .. } => Some(MessageRef::Provider {
                provider: "webex",
                id: message_id.clone(),
            }),
            Task::CustomerMessage { message, .. } => Some(MessageRef::Provider {
                provider: "connect",
                id: message.transid.clone(),
            }),
            Task::ToBot { message, .. } => Some(MessageRef::Provider {
                provider: "connect",
                id: message.transid.clone(),
            }),
            Task::Provision { .. } | Task::FromBot { .. } => None,
        }
    }

    /// The row to enqueue: run in order with the rest of the conversation
    /// of `(channel, customer)`; `idempotency_key` makes a second enqueue
    /// of the same effect a no-op.
    fn job(self, channel: Channel, customer: &str, idempotency_key: String) -> NewJob {
        let mut row = match serde_json::to_value(&self).expect("jobs serialize") {
            serde_json::Value::Object(fields) => fields,
            _ => unreachable!("an internally tagged enum serializes to an object"),
        };
        let kind = match row.remove("kind") {
            Some(serde_json::Value::String(kind)) => kind,
            _ => unreachable!("the tag is a string"),
        };
        // Not part of the task: the request it comes from, for the logs.
        if let Some(id) = crate::request_id::current() {
            row.insert(REQUEST_ID.into(), id.into());
        }
        if let Some(at) = crate::request_id::accepted_at_ms() {
            row.insert(ACCEPTED_AT.into(), at.into());
        }
        NewJob {
            kind,
            ordering_key: conversation_key(channel, customer),
            idempotency_key,
            payload: serde_json::Value::Object(row),
        }
    }
}

/// Provisioning the guest and greeting the agent (Web App Action Handler).
pub(crate) fn provision(
    session: &Session,
    agent_email: &str,
    contact_name: &str,
    key: &str,
) -> NewJob {
    Task::Provision {
        session_id: session.id.clone(),
        agent_email: agent_email.into(),
        contact_name: contact_name.into(),
    }
    .job(
        session.customer_channel,
        &session.customer_channel_id,
        key.into(),
    )
}

/// A customer's message, with who wrote it.
pub(crate) fn customer_message(message: Inbound, customer: Customer) -> NewJob {
    let key = format!("connect:{}", message.transid);
    let (channel, id) = (customer.channel, customer.id.clone());
    Task::CustomerMessage {
        message,
        customer: Some(customer),
    }
    .job(channel, &id, key)
}

/// A customer's message that runs again the usual way, after the bot
/// (`why`: `bot-handover` or `bot-bypass`, part of its key).
pub(crate) fn customer_message_again(message: Inbound, why: &str) -> NewJob {
    let key = format!("{why}:{}", message.transid);
    let (channel, id) = (message.channel, message.customer.clone());
    Task::CustomerMessage {
        customer: Some(message.who()),
        message,
    }
    .job(channel, &id, key)
}

/// A customer's message to the bot, in its conversation.
pub(crate) fn to_bot(bot_conversation_id: &str, message: Inbound, text: &str) -> NewJob {
    let key = format!("to-bot:{}", message.transid);
    let (channel, id) = (message.channel, message.customer.clone());
    Task::ToBot {
        bot_conversation_id: bot_conversation_id.into(),
        message,
        text: text.into(),
    }
    .job(channel, &id, key)
}

/// The bot's call, in order with its customer's messages.
pub(crate) fn from_bot(
    conversation: &store::BotConversation,
    event: BotEvent,
    event_id: &str,
) -> NewJob {
    Task::FromBot {
        bot_conversation_id: conversation.id.clone(),
        event,
        event_id: event_id.into(),
    }
    .job(
        conversation.channel,
        &conversation.customer_id,
        format!("from-bot:{}:{event_id}", conversation.id),
    )
}

/// The bot's words to a customer (no session, so no transcript line).
pub(crate) fn bot_reply(channel: Channel, customer: &str, text: &str, key: String) -> NewJob {
    Task::SendToCustomer {
        session_id: None,
        message_id: None,
        // Connect's correlation id: the job's own key keeps it queued once.
        key: store::new_id(),
        channel,
        customer: customer.into(),
        text: Some(text.into()),
        template: None,
        parameters: Vec::new(),
        consent_reply: false,
    }
    .job(channel, customer, key)
}

/// The customer's words, or a notice from us, into an agent's space.
/// `line`: the customer's transcript line, written `posting` in the
/// transaction that enqueues this job.
pub(crate) fn post(
    session: &Session,
    key: String,
    to: Option<&str>,
    text: &str,
    file_url: Option<&str>,
    line: Option<&str>,
    sealed_text: Option<String>,
) -> NewJob {
    Task::PostToAgent {
        session_id: session.id.clone(),
        to: to.map(str::to_string),
        text: text.into(),
        file_url: file_url.map(str::to_string),
        message_id: line.map(str::to_string),
        sealed_text,
        line_posting: line.is_some(),
    }
    .job(session.customer_channel, &session.customer_channel_id, key)
}

/// A notice to the agent in their space, e.g. why a message did not reach
/// the customer. `to`: another agent than the session's (after a takeover).
pub(crate) fn notice(session: &Session, key: String, to: Option<&str>, text: &str) -> NewJob {
    post(session, key, to, &format!("⚠️ {text}"), None, None, None)
}

/// The agent's Webex message, to the customer (Webex Message Handler).
pub(crate) fn webex_to_customer(session: &Session, message_id: &str) -> NewJob {
    Task::WebexToCustomer {
        session_id: session.id.clone(),
        message_id: message_id.into(),
    }
    .job(
        session.customer_channel,
        &session.customer_channel_id,
        format!("webex:{message_id}"),
    )
}

/// A dialogue line to a customer: its transcript line when there is a
/// session (whose id is also Connect's correlation id), and the job that
/// sends it. `key`: the job's idempotency key.
pub(crate) fn say(
    channel: Channel,
    customer: &str,
    session: Option<&Session>,
    spoken: &crate::dialogue::Line,
    language: domain::Language,
    key: String,
) -> (Option<NewMessage>, NewJob) {
    let text = spoken.text(language);
    let transcript = session.map(|s| {
        NewMessage::new(
            &s.id,
            Direction::Outbound,
            channel,
            &text,
            MessageStatus::Queued,
        )
    });
    let correlation = transcript
        .as_ref()
        .map_or_else(store::new_id, |t| t.id.clone());
    let job = Task::SendToCustomer {
        session_id: session.map(|s| s.id.clone()),
        message_id: transcript.as_ref().map(|t| t.id.clone()),
        key: correlation,
        channel,
        customer: customer.into(),
        text: Some(text),
        template: None,
        parameters: Vec::new(),
        consent_reply: spoken.is_consent_reply(),
    }
    .job(channel, customer, key);
    (transcript, job)
}

/// The WhatsApp re-engagement template, with its transcript line.
pub(crate) fn template(
    session: &Session,
    line: &str,
    template: &str,
    parameters: Vec<(String, String)>,
    key: String,
) -> NewJob {
    Task::SendToCustomer {
        session_id: Some(session.id.clone()),
        message_id: Some(line.into()),
        key: line.into(),
        channel: Channel::Whatsapp,
        customer: session.customer_channel_id.clone(),
        text: None,
        template: Some(template.into()),
        parameters,
        consent_reply: false,
    }
    .job(session.customer_channel, &session.customer_channel_id, key)
}

/// A delivery receipt for a transcript line (`from_agent`: the line is an
/// agent's message, so a failure is told to them).
pub(crate) fn receipt(
    session: &Session,
    line: &str,
    from_agent: bool,
    receipt: Receipt,
    event_id: &str,
) -> NewJob {
    Task::Receipt {
        session_id: session.id.clone(),
        message_id: line.into(),
        from_agent,
        receipt,
    }
    .job(
        session.customer_channel,
        &session.customer_channel_id,
        format!("receipt:{event_id}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(kind: &str, payload: serde_json::Value) -> Job {
        Job {
            id: 1,
            kind: kind.into(),
            ordering_key: "sms_447700900123".into(),
            idempotency_key: "k".into(),
            payload,
            attempts: 1,
        }
    }

    #[test]
    fn rows_written_before_the_enum_still_read() {
        // Payloads exactly as the relay wrote them with json! before.
        let post = row(
            "post_to_agent",
            json!({ "sessionId": "s1", "to": null, "text": "hi", "fileUrl": null, "messageId": "m1" }),
        );
        assert_eq!(
            Task::from_job(&post).unwrap(),
            Task::PostToAgent {
                session_id: "s1".into(),
                to: None,
                text: "hi".into(),
                file_url: None,
                message_id: Some("m1".into()),
                sealed_text: None,
                line_posting: false,
            }
        );
        let template = row(
            "send_to_customer",
            json!({ "sessionId": "s1", "messageId": "l1", "key": "l1", "channel": "whatsapp",
                    "customer": "447700900123", "template": "t1", "parameters": [["customer", "Mr Doe"]] }),
        );
        let Task::SendToCustomer {
            template,
            parameters,
            text,
            ..
        } = Task::from_job(&template).unwrap()
        else {
            panic!("a send");
        };
        assert_eq!(
            (template.as_deref(), text, parameters),
            (
                Some("t1"),
                None,
                vec![("customer".to_string(), "Mr Doe".to_string())]
            )
        );
        let message = row(
            "customer_message",
            json!({ "message": { "transid": "t1", "channel": "sms", "customer": "07700 900123",
                                  "text": "hi", "mms": false, "textUrls": [], "media": [] } }),
        );
        match Task::from_job(&message) {
            Ok(Task::CustomerMessage { customer, .. }) => {
                assert_eq!(customer, None, "parsed again when it runs")
            }
            other => panic!("a customer message, not {other:?}"),
        }
        let provision = row(
            "provision",
            json!({ "sessionId": "s1", "agentEmail": "a@example.com", "contactName": "Mr Doe" }),
        );
        assert_eq!(Task::from_job(&provision).unwrap().session_id(), Some("s1"));
    }

    #[test]
    fn unknown_kinds_and_broken_rows_are_refused_when_read() {
        let err = Task::from_job(&row("fax", json!({}))).unwrap_err();
        assert!(err.contains("fax"), "{err}");
        let err =
            Task::from_job(&row("webex_to_customer", json!({ "sessionId": "s1" }))).unwrap_err();
        assert!(err.contains("messageId"), "{err}");
        assert!(Task::from_job(&row("provision", json!("text"))).is_err());
    }

    #[tokio::test]
    async fn jobs_made_during_a_request_carry_its_id_and_still_read() {
        let made = crate::request_id::scope("req-1".into(), async {
            webex_to_customer(&session(), "m1")
        })
        .await;
        assert_eq!(made.payload["requestId"], "req-1");
        let claimed = claim(made);
        assert_eq!(request_of(&claimed), Some("req-1"));
        assert!(Task::from_job(&claimed).is_ok());
        let outside = webex_to_customer(&session(), "m2");
        assert!(outside.payload.get("requestId").is_none());
    }

    /// A made job as the worker would claim it.
    fn claim(made: NewJob) -> Job {
        Job {
            id: 1,
            kind: made.kind,
            ordering_key: made.ordering_key,
            idempotency_key: made.idempotency_key,
            payload: made.payload,
            attempts: 1,
        }
    }

    fn session() -> Session {
        Session {
            id: "s1".into(),
            customer_channel: Channel::Sms,
            customer_channel_id: "+447700900123".into(),
            collab_agent_id: None,
            collab_guest_id: None,
            collab_extra1: None,
            collab_extra2: None,
            collab_extra3: None,
            contact_id: None,
            status: domain::model::SessionStatus::Active,
            last_inbound_at: None,
            created_at: String::new(),
            updated_at: String::new(),
            conversation_id: None,
        }
    }

    #[test]
    fn a_made_job_reads_back_as_itself() {
        let task = Task::WebexToCustomer {
            session_id: "s1".into(),
            message_id: "m1".into(),
        };
        let made = task
            .clone()
            .job(Channel::Sms, "447700900123", "webex:m1".into());
        assert_eq!(made.kind, "webex_to_customer");
        assert_eq!(made.ordering_key, "sms_447700900123");
        assert!(
            made.payload.get("kind").is_none(),
            "the kind has its column"
        );
        let claimed = claim(made);
        assert_eq!(Task::from_job(&claimed).unwrap(), task);
    }
}
