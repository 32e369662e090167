//! Start conversation: the one operation behind the sidebar's buttons,
//! `POST /api/v1/conversations/start` and `contact-manager start-conversation`.
//!
//! It checks that the contact can be reached on the channel, makes one
//! attempt per attempt key, starts the conversation natively (the relay
//! routes the customer to the agent and queues the guest's provisioning) or
//! through the Connect startConversation webhook, and audits every attempt.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::{Relay, StartTemplate};
use domain::error::{DomainError, FieldError};
use domain::input::text;
use domain::model::{Agent, Contact, Customer, Session};
use domain::templates::{TemplateChoice, WhatsappTemplate};
use domain::Channel;
use platform::connect::{ConnectWebhook, StartConversationPayload, TriggerError};
use store::{AttemptStatus, AuditCtx, Store};

/// Longest attempt id a caller may give.
const ATTEMPT_ID_MAX: usize = 200;

/// The caller's name for one attempt: the same key again is the same
/// attempt, so a double click or a retried request sends once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKey {
    key: String,
    /// The input it came from, for errors about it.
    field: String,
}

impl AttemptKey {
    /// The caller's id `raw` (given in `field`) within `scope`, so that
    /// different callers' ids (a page's nonce, an API key's ids) never meet.
    pub fn new(scope: &str, field: &str, raw: &str) -> Result<AttemptKey, FieldError> {
        let raw = text(field, Some(raw), ATTEMPT_ID_MAX)?
            .ok_or_else(|| FieldError::new(field, "is required"))?;
        Ok(AttemptKey {
            key: format!("{scope}:{raw}"),
            field: field.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }
}

/// Who runs the conversation's workflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// This server's relay (`CM_RELAY_MODE=native`).
    Native,
    /// Webex Connect flows, started by the startConversation webhook.
    Connect,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Connect => "connect",
        }
    }
}

/// A WhatsApp template asked for at start, as the caller gave it: checked
/// by [`Conversations::start`] against the configured ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateRequest {
    pub id: String,
    /// The values of the template's `ask:` variables, by variable name.
    pub values: BTreeMap<String, String>,
}

/// A conversation this call started.
#[derive(Debug, Clone)]
pub struct Started {
    pub contact: Contact,
    pub channel: Channel,
    pub via: Via,
    /// The WhatsApp template asked for, if one was, and what became of it.
    pub template: Option<(WhatsappTemplate, StartTemplate)>,
}

#[derive(Debug, Clone)]
pub enum Via {
    /// The customer's session, now routed to the agent; the relay
    /// provisions the guest and greets the agent from its outbox.
    Native(Box<Session>),
    /// Connect took the trigger; its flow makes the session.
    Connect,
}

impl Via {
    pub fn mode(&self) -> Mode {
        match self {
            Via::Native(_) => Mode::Native,
            Via::Connect => Mode::Connect,
        }
    }
}

/// Why a start did not happen on this call. The repeats (`AlreadyStarted`,
/// `InProgress`, `AlreadyFailed`) sent nothing: the attempt key was used before.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// The earlier attempt started the conversation.
    #[error("{} conversation with {contact_name} already started", channel.label())]
    AlreadyStarted {
        contact_name: String,
        channel: Channel,
        /// Native mode: the customer's session on the channel, if it still exists.
        session_id: Option<String>,
    },
    /// The earlier attempt has no outcome yet.
    #[error("this conversation start is already being sent")]
    InProgress,
    /// The earlier attempt failed; another key tries again.
    #[error("this attempt already failed ({reason}): try again as a new attempt")]
    AlreadyFailed { reason: String },
    /// The customer opted out of the channel: nothing may be sent to them.
    #[error("{contact_name} opted out of {} messages ({how}, since {since}): they can opt back in by sending START", channel.label())]
    OptedOut {
        contact_name: String,
        channel: Channel,
        since: String,
        /// How they opted out (`keyword STOP`); a field named `source` would be thiserror's cause.
        how: String,
    },
    /// The start did not get through (recorded and audited as failed).
    #[error("could not start the conversation: {0}")]
    Trigger(TriggerFailure),
    #[error("storage error: {0}")]
    Storage(String),
}

/// What stopped the start, in words an agent can act on.
#[derive(Debug, thiserror::Error)]
pub enum TriggerFailure {
    #[error(transparent)]
    Connect(TriggerError),
    /// The relay could not route the session or queue its provisioning.
    #[error(transparent)]
    Native(DomainError),
}

impl From<DomainError> for StartError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(f) => StartError::Invalid(f),
            DomainError::NotFound { entity, id } => StartError::NotFound { entity, id },
            // Duplicates and stale versions do not arise from these reads and writes.
            other => StartError::Storage(other.to_string()),
        }
    }
}

/// Starts conversations in the configured mode.
#[derive(Clone)]
pub struct Conversations {
    store: Store,
    /// The native relay; `None` when Webex Connect runs the workflows.
    relay: Option<Relay>,
    /// The startConversation webhook (in native mode only named in the audit).
    connect: ConnectWebhook,
}

impl Conversations {
    pub fn new(store: Store, relay: Option<Relay>, connect: ConnectWebhook) -> Self {
        Conversations {
            store,
            relay,
            connect,
        }
    }

    pub fn mode(&self) -> Mode {
        if self.relay.is_some() {
            Mode::Native
        } else {
            Mode::Connect
        }
    }

    /// The agent a start is for, named by email in `field` (the API, the
    /// command line): an existing agent who is not disabled. (A sidebar
    /// session ends when its agent is disabled, so the sidebar needs no check.)
    pub async fn agent_by_email(&self, field: &str, email: &str) -> Result<Agent, StartError> {
        let agent = self
            .store
            .agent_by_email(email)
            .await
            .map_err(|e| match e {
                DomainError::NotFound { .. } => {
                    FieldError::new(field, "no agent has this email").into()
                }
                DomainError::Invalid(f) => FieldError::new(field, f.message).into(),
                other => StartError::from(other),
            })?;
        if agent.disabled {
            return Err(FieldError::new(
                field,
                "this agent is disabled and cannot start conversations",
            )
            .into());
        }
        Ok(agent)
    }

    /// The WhatsApp templates an agent may choose from at start: native
    /// mode only (in Connect mode Connect's flow sends what it sends).
    pub fn whatsapp_templates(&self) -> Option<&[WhatsappTemplate]> {
        self.relay
            .as_ref()
            .map(|r| r.whatsapp_templates().all())
            .filter(|t| !t.is_empty())
    }

    /// For each contact, whether starting on WhatsApp with them now would
    /// open with a template (native mode, templates configured, the window
    /// closed): the sidebar asks the agent to choose one first. One read for
    /// the whole list.
    pub async fn starts_need_template(
        &self,
        contacts: &[Contact],
    ) -> Result<Vec<bool>, DomainError> {
        fn whatsapp(c: &Contact) -> Option<&str> {
            c.channels.get(Channel::Whatsapp)
        }
        let closed = match &self.relay {
            Some(relay) => {
                let ids: Vec<&str> = contacts.iter().filter_map(whatsapp).collect();
                relay.whatsapp_windows_closed(&ids).await?
            }
            None => Default::default(),
        };
        Ok(contacts
            .iter()
            .map(|c| whatsapp(c).is_some_and(|id| closed.contains(id)))
            .collect())
    }

    /// Checks a template asked for at start (before anything is sent, so a
    /// refusal costs no attempt): WhatsApp only, native mode only (the
    /// seed's startConversation payload has no field for it), and a
    /// configured template with every value it asks for.
    fn check_template(
        &self,
        channel: Channel,
        template: Option<&TemplateRequest>,
    ) -> Result<Option<TemplateChoice>, FieldError> {
        let Some(request) = template else {
            return Ok(None);
        };
        if channel != Channel::Whatsapp {
            return Err(FieldError::new(
                "template",
                "only WhatsApp conversations start with a template",
            ));
        }
        let Some(relay) = &self.relay else {
            return Err(FieldError::new(
                "template",
                "with CM_RELAY_MODE=connect the Connect flow sends what it sends: the startConversation payload has no field for a template, so none can be chosen here",
            ));
        };
        relay
            .whatsapp_templates()
            .choose(&request.id, &request.values)
            .map(Some)
    }

    /// Starts a conversation between `agent` and the contact on `channel`,
    /// once per `attempt`: a repeat sends nothing and says how the first
    /// attempt went. Every attempt that sends is recorded and audited
    /// (`conversation.start`), whether it got through or not. `template`:
    /// a WhatsApp template to send to the customer right away if their
    /// window is closed (see [`Relay::start`]).
    pub async fn start(
        &self,
        ctx: &AuditCtx,
        agent: &Agent,
        contact_id: &str,
        channel: Channel,
        attempt: &AttemptKey,
        template: Option<&TemplateRequest>,
    ) -> Result<Started, StartError> {
        let choice = self.check_template(channel, template)?;
        let contact = self.store.contact(contact_id).await?;
        let channel_id = contact.channels.get(channel).ok_or_else(|| {
            FieldError::new(
                "channel",
                format!("{} has no {} number", contact.name, channel.label()),
            )
        })?;
        if let Some(opt_out) = self.store.opt_out_of(channel, channel_id).await? {
            return Err(StartError::OptedOut {
                contact_name: contact.name.clone(),
                channel,
                since: opt_out.opted_out_at,
                how: opt_out.source,
            });
        }
        let begun = self
            .store
            .begin_start_attempt(attempt.as_str(), &agent.id, &contact.id, channel.as_str())
            .await?;
        if !begun {
            return Err(self
                .repeat(attempt, agent, &contact, channel, channel_id)
                .await);
        }
        // Built in both modes: the audit shows what Connect would get.
        let payload =
            StartConversationPayload::new(channel, channel_id, &agent.email, &contact.name);
        let mut template_outcome = None;
        let outcome = match &self.relay {
            Some(relay) => relay
                .start(
                    ctx,
                    agent,
                    &contact,
                    channel,
                    attempt.as_str(),
                    choice.as_ref(),
                )
                .await
                .map(|(session, outcome)| {
                    template_outcome = choice
                        .as_ref()
                        .and_then(|c| relay.whatsapp_templates().get(c.id()).cloned())
                        .map(|t| (t, outcome));
                    Via::Native(Box::new(session))
                })
                .map_err(TriggerFailure::Native),
            None => self
                .connect
                .send(&payload)
                .await
                .map(|()| Via::Connect)
                .map_err(TriggerFailure::Connect),
        };
        let failure = outcome.as_ref().err().map(ToString::to_string);
        self.store
            .finish_start_attempt(attempt.as_str(), failure.as_deref())
            .await?;
        self.store
            .record_event(
                ctx,
                "conversation.start",
                "contact",
                &contact.id,
                &serde_json::json!({
                    "mode": self.mode().as_str(),
                    "payload": payload,
                    "url": self.connect.url(),
                    "status": if failure.is_some() { "failed" } else { "sent" },
                    "error": failure,
                    // The values typed stay in the transcript, not in the audit.
                    "template": choice.as_ref().map(|c| serde_json::json!({
                        "id": c.id(),
                        "sent": matches!(template_outcome, Some((_, StartTemplate::Sent))),
                    })),
                }),
            )
            .await?;
        let via = outcome.map_err(StartError::Trigger)?;
        Ok(Started {
            contact,
            channel,
            via,
            template: template_outcome,
        })
    }

    /// How the earlier attempt with this key went.
    async fn repeat(
        &self,
        attempt: &AttemptKey,
        agent: &Agent,
        contact: &Contact,
        channel: Channel,
        channel_id: &str,
    ) -> StartError {
        let earlier = match self.store.start_attempt(attempt.as_str()).await {
            Ok(Some(earlier)) => earlier,
            // Only if it was deleted between the two statements.
            Ok(None) => return StartError::InProgress,
            Err(e) => return e.into(),
        };
        // Answering for a different start would claim something that did not happen.
        if earlier.agent_id != agent.id
            || earlier.contact_id != contact.id
            || earlier.channel != channel.as_str()
        {
            return FieldError::new(
                &attempt.field,
                "was already used for another conversation start: use a new one",
            )
            .into();
        }
        match earlier.status {
            AttemptStatus::Sent => {
                let session = match self.mode() {
                    Mode::Native => {
                        // Stored ids are canonical already.
                        let customer = Customer {
                            channel,
                            id: channel_id.to_string(),
                        };
                        self.store.session_of(&customer).await
                    }
                    Mode::Connect => Ok(None),
                };
                match session {
                    Ok(session) => StartError::AlreadyStarted {
                        contact_name: contact.name.clone(),
                        channel,
                        session_id: session.map(|s| s.id),
                    },
                    Err(e) => e.into(),
                }
            }
            AttemptStatus::Sending => StartError::InProgress,
            AttemptStatus::Failed(reason) => StartError::AlreadyFailed { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::input::NewContact;
    use domain::model::{Actor, Role};
    use domain::phone::PhoneRegion;
    use domain::Msisdn;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use store::Rules;

    struct Fixture {
        store: Store,
        path: std::path::PathBuf,
        agent: Agent,
        contact: Contact,
        /// Bodies the fake Connect webhook received.
        seen: Arc<Mutex<Vec<serde_json::Value>>>,
        url: String,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
            }
        }
    }

    /// A store with one agent and one contact, and a Connect webhook that
    /// answers `status`.
    async fn fixture(status: u16) -> Fixture {
        let path = std::env::temp_dir().join(format!("cm-start-{}.db", uuid::Uuid::new_v4()));
        let store = Store::connect(&format!("sqlite://{}", path.display()), Rules::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let ctx = AuditCtx::system();
        let agent = store
            .upsert_agent(&ctx, "a@example.com", None, Role::Agent)
            .await
            .unwrap();
        let contact = store
            .create_contact(
                &ctx,
                &NewContact {
                    name: "Mr Doe".into(),
                    msisdn: Msisdn::parse("+447700900123", PhoneRegion::default()).unwrap(),
                    channels: vec![Channel::Sms],
                    owner_agent_id: None,
                    language: None,
                },
            )
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let app = axum::Router::new().route(
            "/events/x",
            axum::routing::post(move |body: axum::body::Bytes| {
                let record = record.clone();
                async move {
                    record
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events/x", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fixture {
            store,
            path,
            agent,
            contact,
            seen,
            url,
        }
    }

    fn connect_mode(f: &Fixture) -> Conversations {
        Conversations::new(
            f.store.clone(),
            None,
            ConnectWebhook::new(Some(f.url.clone()), None, Duration::from_secs(2)),
        )
    }

    fn ctx() -> AuditCtx {
        AuditCtx::new(Actor::ApiKey("tests".into()), None)
    }

    fn key(raw: &str) -> AttemptKey {
        AttemptKey::new("test", "attemptId", raw).unwrap()
    }

    #[tokio::test]
    async fn one_attempt_sends_once_and_a_repeat_says_it_started() {
        let f = fixture(200).await;
        let c = connect_mode(&f);
        let started = c
            .start(
                &ctx(),
                &f.agent,
                &f.contact.id,
                Channel::Sms,
                &key("k1"),
                None,
            )
            .await
            .unwrap();
        assert!(matches!(started.via, Via::Connect));
        let again = c
            .start(
                &ctx(),
                &f.agent,
                &f.contact.id,
                Channel::Sms,
                &key("k1"),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(
            again.to_string(),
            "SMS conversation with Mr Doe already started"
        );
        let seen = f.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "sent once");
        assert_eq!(seen[0]["channelId"], "+447700900123");
        assert_eq!(seen[0]["agentId"], "a@example.com");

        let audit = f
            .store
            .audit_entries(Some("contact"), Some(&f.contact.id), 10)
            .await
            .unwrap();
        let starts: Vec<_> = audit
            .iter()
            .filter(|e| e.action == "conversation.start")
            .collect();
        assert_eq!(
            starts.len(),
            1,
            "the repeat sent nothing and is not audited"
        );
        let detail = starts[0].after.as_ref().unwrap();
        assert_eq!(detail["mode"], "connect");
        assert_eq!(detail["status"], "sent");
        assert_eq!(detail["url"], f.url.as_str());
        assert_eq!(detail["payload"]["action"], "startConversation");
        assert_eq!(starts[0].actor, "api-key:tests");
    }

    #[tokio::test]
    async fn a_key_used_for_another_start_is_refused_naming_its_field() {
        let f = fixture(200).await;
        let c = connect_mode(&f);
        c.start(
            &ctx(),
            &f.agent,
            &f.contact.id,
            Channel::Sms,
            &key("k1"),
            None,
        )
        .await
        .unwrap();
        let other = f
            .store
            .upsert_agent(&AuditCtx::system(), "b@example.com", None, Role::Agent)
            .await
            .unwrap();
        match c
            .start(
                &ctx(),
                &other,
                &f.contact.id,
                Channel::Sms,
                &key("k1"),
                None,
            )
            .await
        {
            Err(StartError::Invalid(e)) => assert_eq!(e.field, "attemptId"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(f.seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_missing_number_or_contact_sends_nothing() {
        let f = fixture(200).await;
        let c = connect_mode(&f);
        match c
            .start(
                &ctx(),
                &f.agent,
                &f.contact.id,
                Channel::Whatsapp,
                &key("k1"),
                None,
            )
            .await
        {
            Err(StartError::Invalid(e)) => {
                assert_eq!(e.field, "channel");
                assert_eq!(e.message, "Mr Doe has no WhatsApp number");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            c.start(
                &ctx(),
                &f.agent,
                "no-such-id",
                Channel::Sms,
                &key("k2"),
                None
            )
            .await,
            Err(StartError::NotFound {
                entity: "contact",
                ..
            })
        ));
        assert!(f.seen.lock().unwrap().is_empty());
        // Neither used up its key.
        c.start(
            &ctx(),
            &f.agent,
            &f.contact.id,
            Channel::Sms,
            &key("k1"),
            None,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_template_is_refused_on_sms_and_in_connect_mode_before_anything_is_sent() {
        let f = fixture(200).await;
        let c = connect_mode(&f);
        let wanted = TemplateRequest {
            id: "sandbox_reengagement".into(),
            values: BTreeMap::new(),
        };
        match c
            .start(
                &ctx(),
                &f.agent,
                &f.contact.id,
                Channel::Sms,
                &key("k1"),
                Some(&wanted),
            )
            .await
        {
            Err(StartError::Invalid(e)) => {
                assert_eq!(e.field, "template");
                assert!(e.message.contains("only WhatsApp"), "{}", e.message);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(c.whatsapp_templates().is_none());
        assert_eq!(
            c.starts_need_template(std::slice::from_ref(&f.contact))
                .await
                .unwrap(),
            [false]
        );
        let wa = f
            .store
            .create_contact(
                &AuditCtx::system(),
                &NewContact {
                    name: "Ms Roe".into(),
                    msisdn: Msisdn::parse("+447700900124", PhoneRegion::default()).unwrap(),
                    channels: vec![Channel::Whatsapp],
                    owner_agent_id: None,
                    language: None,
                },
            )
            .await
            .unwrap();
        match c
            .start(
                &ctx(),
                &f.agent,
                &wa.id,
                Channel::Whatsapp,
                &key("k2"),
                Some(&wanted),
            )
            .await
        {
            Err(StartError::Invalid(e)) => {
                assert_eq!(e.field, "template");
                assert!(e.message.contains("CM_RELAY_MODE=connect"), "{}", e.message);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(f.seen.lock().unwrap().is_empty(), "nothing was sent");
        // Neither used up its key.
        c.start(
            &ctx(),
            &f.agent,
            &wa.id,
            Channel::Whatsapp,
            &key("k2"),
            None,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_refused_trigger_is_recorded_and_its_repeat_says_so() {
        let f = fixture(500).await;
        let c = connect_mode(&f);
        let err = c
            .start(
                &ctx(),
                &f.agent,
                &f.contact.id,
                Channel::Sms,
                &key("k1"),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            StartError::Trigger(TriggerFailure::Connect(TriggerError::Rejected {
                status: 500,
                ..
            }))
        ));
        assert!(
            err.to_string().starts_with(
                "could not start the conversation: Webex Connect rejected the request (HTTP 500)"
            ),
            "{err}"
        );
        match c
            .start(
                &ctx(),
                &f.agent,
                &f.contact.id,
                Channel::Sms,
                &key("k1"),
                None,
            )
            .await
        {
            Err(StartError::AlreadyFailed { reason }) => {
                assert!(reason.contains("HTTP 500"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(f.seen.lock().unwrap().len(), 1);
        let audit = f
            .store
            .audit_entries(Some("contact"), Some(&f.contact.id), 10)
            .await
            .unwrap();
        let detail = audit
            .iter()
            .find(|e| e.action == "conversation.start")
            .and_then(|e| e.after.clone())
            .unwrap();
        assert_eq!(detail["status"], "failed");
        assert!(detail["error"].as_str().unwrap().contains("HTTP 500"));
    }

    #[tokio::test]
    async fn agents_named_by_email_must_exist_and_be_enabled() {
        let f = fixture(200).await;
        let c = connect_mode(&f);
        assert_eq!(
            c.agent_by_email("agentEmail", "A@Example.com")
                .await
                .unwrap()
                .id,
            f.agent.id
        );
        for (email, why) in [
            ("nobody@example.com", "no agent"),
            ("not-an-email", "email"),
        ] {
            match c.agent_by_email("agentEmail", email).await {
                Err(StartError::Invalid(e)) => {
                    assert_eq!(e.field, "agentEmail");
                    assert!(e.message.contains(why), "{email}: {}", e.message);
                }
                other => panic!("{email}: unexpected {other:?}"),
            }
        }
        f.store
            .update_agent_access(&AuditCtx::system(), None, &f.agent.id, None, Some(true))
            .await
            .unwrap();
        match c.agent_by_email("agentEmail", "a@example.com").await {
            Err(StartError::Invalid(e)) => assert!(e.message.contains("disabled"), "{e}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn attempt_keys_are_checked_and_scoped() {
        let a = AttemptKey::new("api:k1", "attemptId", " x-1 ").unwrap();
        let b = AttemptKey::new("api:k2", "attemptId", "x-1").unwrap();
        assert_eq!(a.as_str(), "api:k1:x-1");
        assert_ne!(a, b, "another caller's id is another attempt");
        for (raw, why) in [
            ("", "is required"),
            ("  ", "is required"),
            ("a\nb", "control characters"),
        ] {
            let e = AttemptKey::new("s", "attemptId", raw).unwrap_err();
            assert_eq!(e.field, "attemptId");
            assert!(e.message.contains(why), "{raw:?}: {}", e.message);
        }
        assert!(AttemptKey::new("s", "attemptId", &"x".repeat(201)).is_err());
        assert!(AttemptKey::new("s", "attemptId", &"x".repeat(200)).is_ok());
    }
}
