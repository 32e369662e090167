//! The native relay (seed workflows Guest Auth, Guest Provisioning, Web App
//! Action Handler, Webex Message Handler, WhatsApp / SMS Message Handlers).
//!
//! Webhooks are *accepted* on the request path: verified, deduplicated by
//! provider id, and stored together with the outbox jobs they cause in one
//! transaction, before the 2xx. Everything that calls Webex or Connect runs
//! later in [`Relay::work`], from the outbox, so nothing acknowledged is lost
//! and a redelivered webhook causes nothing twice.

use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

use crate::connect::{ConnectMessaging, SendError};
use crate::error::DomainError;
use crate::model::{Agent, Contact, Session, SessionInput, SessionStatus};
use crate::store::{AuditCtx, Job, NewJob, Outcome, RetryPolicy, Store};
use crate::webex::{
    guest_subject, signature_valid, AccessToken, GuestIssuer, WebexClient, WebexError,
};
use crate::Channel;

/// Refresh a cached guest token this long before it expires.
const TOKEN_MARGIN_MS: i64 = 5 * 60 * 1000;
const GUEST_JWT_TTL: Duration = Duration::from_secs(10 * 60);
const LEASE: Duration = Duration::from_secs(60);

/// What became of an accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Queued,
    /// Seen before: acknowledged, nothing done.
    Duplicate,
    /// Nothing to relay (an echo of our own message, no session, ...).
    Ignored(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("signature missing or wrong")]
    BadSignature,
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Storage(#[from] DomainError),
}

#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    webex: WebexClient,
    issuer: GuestIssuer,
    connect: ConnectMessaging,
    webhook_url: String,
    webhook_secret: String,
    policy: RetryPolicy,
    wake: Notify,
}

impl Relay {
    pub fn new(
        store: Store,
        webex: WebexClient,
        issuer: GuestIssuer,
        connect: ConnectMessaging,
        webhook_url: String,
        webhook_secret: String,
    ) -> Relay {
        Relay {
            inner: Arc::new(Inner {
                store,
                webex,
                issuer,
                connect,
                webhook_url,
                webhook_secret,
                policy: RetryPolicy::default(),
                wake: Notify::new(),
            }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// "Start conversation" in native mode: route the customer to this agent
    /// (latest agent wins) and queue the guest's provisioning and greeting.
    pub async fn start(
        &self,
        ctx: &AuditCtx,
        agent: &Agent,
        contact: &Contact,
        channel: Channel,
        attempt: &str,
    ) -> Result<Session, DomainError> {
        let channel_id = contact.channels.get(channel).ok_or_else(|| {
            crate::FieldError::new("channel", format!("{} has no {channel} id", contact.name))
        })?;
        let input = SessionInput {
            customer_channel: Some(channel.as_str().into()),
            customer_channel_id: Some(channel_id.into()),
            collab_agent_id: Some(agent.email.clone()),
            contact_id: Some(contact.id.clone()),
            ..Default::default()
        };
        let (session, _) = self.store().upsert_session(ctx, &input).await?;
        self.store()
            .enqueue_now(&[NewJob {
                kind: "provision".into(),
                ordering_key: session.id.clone(),
                idempotency_key: format!("start:{attempt}"),
                payload: json!({ "sessionId": session.id, "agentEmail": agent.email, "contactName": contact.name }),
            }])
            .await?;
        self.inner.wake.notify_one();
        Ok(session)
    }

    /// `POST /webhooks/webex`: a message was created in a space of a guest.
    pub async fn accept_webex(
        &self,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<Accepted, AcceptError> {
        if !signature.is_some_and(|s| signature_valid(&self.inner.webhook_secret, body, s)) {
            return Err(AcceptError::BadSignature);
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Envelope {
            resource: String,
            event: String,
            created_by: String,
            data: Data,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            id: String,
            person_id: String,
        }
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|e| AcceptError::Malformed(e.to_string()))?;
        if envelope.resource != "messages" || envelope.event != "created" {
            return Ok(Accepted::Ignored("not a new message"));
        }
        // The webhook belongs to the guest (createdBy); messages the guest
        // wrote are our own relayed ones: relaying them back would loop.
        let session = self.store().session_by_guest(&envelope.created_by).await?;
        let mut tx = self.store().begin_write().await?;
        if !Store::accept_event(&mut tx, "webex", &envelope.data.id).await? {
            return Ok(Accepted::Duplicate);
        }
        let outcome = match session {
            _ if envelope.data.person_id == envelope.created_by => {
                Accepted::Ignored("written by the guest")
            }
            None => Accepted::Ignored("no session for this guest"),
            Some(session) => {
                Store::enqueue(
                    &mut tx,
                    &[NewJob {
                        kind: "webex_to_customer".into(),
                        ordering_key: session.id.clone(),
                        idempotency_key: format!("webex:{}", envelope.data.id),
                        payload: json!({ "sessionId": session.id, "messageId": envelope.data.id }),
                    }],
                )
                .await?;
                Accepted::Queued
            }
        };
        tx.commit().await.map_err(DomainError::from)?;
        if outcome == Accepted::Queued {
            self.inner.wake.notify_one();
        }
        Ok(outcome)
    }

    /// `POST /webhooks/connect/inbound`: a customer wrote on SMS or WhatsApp.
    pub async fn accept_connect(&self, body: &[u8]) -> Result<Accepted, AcceptError> {
        let event: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| AcceptError::Malformed(e.to_string()))?;
        let transid = event["transid"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AcceptError::Malformed("transid is missing".into()))?;
        let (channel, customer, text) = match event["channel"].as_str() {
            Some("sms") => (
                Channel::Sms,
                event["msisdn"].as_str(),
                event["message"]["text"].as_str(),
            ),
            Some("whatsapp") => (
                Channel::Whatsapp,
                event["waid"].as_str(),
                event["message"]["text"]["body"].as_str(),
            ),
            _ => return Ok(Accepted::Ignored("channel not relayed yet")),
        };
        let customer = customer
            .ok_or_else(|| AcceptError::Malformed("the sender's number is missing".into()))?;
        let Some(text) = text else {
            return Ok(Accepted::Ignored("only text is relayed yet"));
        };
        let session = match self.store().session_by_customer(channel, customer).await {
            Ok(s) => s,
            Err(DomainError::Invalid(f)) => return Err(AcceptError::Malformed(f.to_string())),
            Err(e) => return Err(e.into()),
        };
        let mut tx = self.store().begin_write().await?;
        if !Store::accept_event(&mut tx, "connect", transid).await? {
            return Ok(Accepted::Duplicate);
        }
        let outcome = match session {
            Some(session) if session.status == SessionStatus::Active => {
                Store::touch_inbound(&mut tx, &session.id).await?;
                let message_id = Store::add_message(
                    &mut tx,
                    &session.id,
                    "inbound",
                    channel.as_str(),
                    text,
                    Some("connect"),
                    Some(transid),
                    "received",
                )
                .await?;
                Store::enqueue(
                    &mut tx,
                    &[NewJob {
                        kind: "customer_to_agent".into(),
                        ordering_key: session.id.clone(),
                        idempotency_key: format!("connect:{transid}"),
                        payload: json!({ "sessionId": session.id, "messageId": message_id, "text": text }),
                    }],
                )
                .await?;
                Accepted::Queued
            }
            _ => Accepted::Ignored("no active session for this customer"),
        };
        tx.commit().await.map_err(DomainError::from)?;
        if outcome == Accepted::Queued {
            self.inner.wake.notify_one();
        }
        Ok(outcome)
    }

    /// Delivers outbox jobs until `stop` fires.
    pub async fn work(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let jobs = match self.store().claim_jobs(32, LEASE).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox claim failed");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    _ = self.inner.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            // Jobs of one claim have distinct ordering keys: run them side by side.
            let mut running = tokio::task::JoinSet::new();
            for job in jobs {
                let relay = self.clone();
                running.spawn(async move {
                    let outcome = relay.run(&job).await;
                    if let Outcome::Retry { error, .. } | Outcome::Fatal { error } = &outcome {
                        tracing::warn!(kind = %job.kind, attempt = job.attempts, error = %error, "delivery failed");
                    }
                    let jitter = rand::random::<f64>();
                    if let Err(e) = relay.store().finish_job(&job, &outcome, &relay.inner.policy, jitter).await {
                        tracing::error!(error = %e, "could not record a delivery outcome");
                    }
                });
            }
            while running.join_next().await.is_some() {}
        }
    }

    async fn run(&self, job: &Job) -> Outcome {
        let session_id = job.payload["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let result = match job.kind.as_str() {
            "provision" => self.provision(&session_id, &job.payload).await,
            "webex_to_customer" => {
                self.webex_to_customer(
                    &session_id,
                    job.payload["messageId"].as_str().unwrap_or_default(),
                )
                .await
            }
            "customer_to_agent" => {
                self.customer_to_agent(&session_id, &job.payload, job.attempts)
                    .await
            }
            other => Err(Failure::Fatal(format!("unknown job kind {other}"))),
        };
        match result {
            Ok(()) => Outcome::Done,
            Err(Failure::Retry(error, retry_after)) => Outcome::Retry { error, retry_after },
            Err(Failure::Fatal(error)) => Outcome::Fatal { error },
        }
    }

    /// Guest Auth: the cached token, or a fresh login when it is about to expire.
    async fn guest_token(&self, session: &Session) -> Result<AccessToken, Failure> {
        let now = crate::store::now_ms();
        let state = self.store().guest_state(&session.id).await?;
        if let (Some(token), Some(expires)) = (state.token, state.token_expires_at_ms) {
            if expires - TOKEN_MARGIN_MS > now {
                return Ok(AccessToken {
                    token,
                    expires_at_ms: expires,
                });
            }
        }
        let name = match session.contact_id.as_deref() {
            Some(id) => self.store().contact(id).await.map(|c| c.name).ok(),
            None => None,
        }
        .unwrap_or_else(|| session.customer_channel_id.clone());
        let subject = guest_subject(session.customer_channel, &session.customer_channel_id);
        let jwt = self
            .inner
            .issuer
            .token(&subject, &name, now / 1000, GUEST_JWT_TTL);
        let token = self.inner.webex.jwt_login(&jwt, now).await?;
        self.store()
            .save_guest_token(&session.id, &token.token, token.expires_at_ms)
            .await?;
        Ok(token)
    }

    /// Guest Provisioning + Web App Action Handler: who the guest is, their
    /// webhook, and a message from the guest that opens the agent's 1:1 space.
    async fn provision(
        &self,
        session_id: &str,
        payload: &serde_json::Value,
    ) -> Result<(), Failure> {
        let session = self.store().session(session_id).await?;
        let token = self.guest_token(&session).await?;
        let me = self.inner.webex.me(&token).await?;
        let state = self.store().guest_state(session_id).await?;
        let webhook_id = match state.webhook_id {
            Some(id) if state.guest_id.as_deref() == Some(me.id.as_str()) => Some(id),
            _ => Some(
                self.inner
                    .webex
                    .create_message_webhook(
                        &token,
                        "Contact Manager relay",
                        &self.inner.webhook_url,
                        &self.inner.webhook_secret,
                    )
                    .await?,
            ),
        };
        self.store()
            .save_guest_identity(session_id, &me.id, webhook_id.as_deref())
            .await?;
        let agent = payload["agentEmail"].as_str().unwrap_or_default();
        let name = payload["contactName"].as_str().unwrap_or_default();
        let channel = match session.customer_channel {
            Channel::Whatsapp => "WhatsApp",
            Channel::Sms => "SMS",
        };
        let greeting = format!(
            "Conversation with {name} on {channel} ({}) started. Write here to message them.",
            session.customer_channel_id
        );
        let posted = self
            .inner
            .webex
            .message_person(&token, agent, &greeting)
            .await?;
        self.store().save_room(session_id, &posted.room_id).await?;
        Ok(())
    }

    /// Webex Message Handler (text): the agent's message, to the customer.
    async fn webex_to_customer(&self, session_id: &str, message_id: &str) -> Result<(), Failure> {
        let session = self.store().session(session_id).await?;
        let token = self.guest_token(&session).await?;
        let message = self.inner.webex.message(&token, message_id).await?;
        let guest = self.store().guest_state(session_id).await?.guest_id;
        if guest.as_deref() == Some(message.person_id.as_str()) {
            return Ok(());
        }
        let text = message
            .text
            .or(message.markdown)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "(the agent sent an attachment)".into());
        // One transcript line per Webex message, even when this job is retried.
        let row = match self
            .store()
            .message_by_provider_id("webex", message_id)
            .await?
        {
            Some(existing) if existing.status == "sent" => return Ok(()),
            Some(existing) => existing.id,
            None => {
                let mut tx = self.store().begin_write().await?;
                let id = Store::add_message(
                    &mut tx,
                    session_id,
                    "outbound",
                    session.customer_channel.as_str(),
                    &text,
                    Some("webex"),
                    Some(message_id),
                    "queued",
                )
                .await?;
                tx.commit().await.map_err(DomainError::from)?;
                id
            }
        };
        match self
            .inner
            .connect
            .send_text(
                session.customer_channel,
                &session.customer_channel_id,
                &text,
                &row,
            )
            .await
        {
            Ok(transid) => {
                self.store()
                    .set_message_status(&row, "sent", Some(&transid), None)
                    .await?;
                Ok(())
            }
            Err(SendError::Refused { code, description }) => {
                self.store()
                    .set_message_status(&row, "failed", None, Some((&code, &description)))
                    .await?;
                Err(Failure::Fatal(format!(
                    "Connect refused ({code}): {description}"
                )))
            }
            Err(SendError::Unavailable(e)) => Err(Failure::Retry(e, None)),
        }
    }

    /// WhatsApp / SMS Message Handler (text): the customer's message, posted
    /// into the agent's 1:1 space as the guest.
    async fn customer_to_agent(
        &self,
        session_id: &str,
        payload: &serde_json::Value,
        attempt: i64,
    ) -> Result<(), Failure> {
        let session = self.store().session(session_id).await?;
        let agent = session
            .collab_agent_id
            .clone()
            .ok_or_else(|| Failure::Fatal("the session has no agent".into()))?;
        let token = self.guest_token(&session).await?;
        let text = payload["text"].as_str().unwrap_or_default();
        let row = payload["messageId"].as_str().unwrap_or_default();
        // A retry may follow a post that succeeded just before a crash (the
        // row still says "posting"): Webex has no idempotency key, so look
        // before posting again. A post that failed visibly resets the row.
        if attempt > 1
            && self.store().message_status(row).await?.as_deref() == Some("posting")
            && self.already_posted(session_id, &token, text).await?
        {
            self.store()
                .set_message_status(row, "sent", None, None)
                .await?;
            return Ok(());
        }
        self.store()
            .set_message_status(row, "posting", None, None)
            .await?;
        match self.inner.webex.message_person(&token, &agent, text).await {
            Ok(posted) => {
                self.store().save_room(session_id, &posted.room_id).await?;
                self.store()
                    .set_message_status(row, "sent", None, None)
                    .await?;
                Ok(())
            }
            Err(e) => {
                self.store()
                    .set_message_status(row, "received", None, None)
                    .await?;
                Err(e.into())
            }
        }
    }

    /// Whether the guest's newest message in the agent's space is this text.
    /// Jobs of a session run in order, so only that message can be the one
    /// posted just before a crash.
    async fn already_posted(
        &self,
        session_id: &str,
        token: &AccessToken,
        text: &str,
    ) -> Result<bool, Failure> {
        let state = self.store().guest_state(session_id).await?;
        let (Some(room), Some(guest)) = (state.room_id, state.guest_id) else {
            return Ok(false);
        };
        let recent = self.inner.webex.recent_messages(token, &room, 10).await?;
        Ok(recent
            .iter()
            .find(|m| m.person_id == guest)
            .is_some_and(|m| m.text.as_deref() == Some(text)))
    }
}

/// How a job step failed.
enum Failure {
    Retry(String, Option<Duration>),
    Fatal(String),
}

impl From<WebexError> for Failure {
    fn from(e: WebexError) -> Self {
        match e {
            WebexError::Unavailable {
                message,
                retry_after,
            } => Failure::Retry(format!("Webex: {message}"), retry_after),
            WebexError::Refused { status, message } => {
                Failure::Fatal(format!("Webex refused (HTTP {status}): {message}"))
            }
        }
    }
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { .. } => Failure::Fatal(e.to_string()),
            other => Failure::Retry(other.to_string(), None),
        }
    }
}
