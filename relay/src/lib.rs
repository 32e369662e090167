//! The native relay: the seed's workflows (Guest Auth, Guest Provisioning,
//! Create Agent Contact, Web App Action Handler, Webex Message Handler,
//! WhatsApp / SMS / MMS Message Handlers) run by this server.
//!
//! Webhooks are *accepted* on the request path ([`accept`]): verified first
//! ([`webhook_auth`], the only maker of the bodies `accept` takes),
//! deduplicated by provider id, and stored together with the outbox jobs
//! they cause, before the 2xx. Everything else runs later in [`Relay::work`],
//! from the outbox, in order per customer conversation: what the customer
//! wrote ([`to_agent`]: the onboarding dialogue or a post into the agent's
//! space) and what the agent wrote ([`to_customer`]: files, routing by
//! channel, the WhatsApp 24-hour rule, delivery receipts). Jobs whose only
//! effects are database writes complete in the same transaction as those
//! writes; jobs that call out are retried, and each call carries an
//! idempotency key or is checked before it is repeated.
//!
//! Beside the worker: [`conversations`] (Start conversation, in either relay
//! mode), [`guests`] (the customers' Webex guest logins), [`media`] (the file
//! cache between the platforms) and [`request_id`] (which request caused a job).

mod accept;
pub mod bot;
pub mod conversations;
pub mod dialogue;
mod effects;
pub mod guests;
mod inactivity;
pub mod inbound;
mod jobs;
mod lines;
pub mod media;
pub mod request_id;
mod to_agent;
mod to_customer;
pub mod webhook_auth;
mod webhook_health;

pub use accept::{AcceptError, Accepted};
pub use bot::RelayBot;
pub use webhook_health::WebhookReport;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::effects::{ConsentUpdate, Effects, StatusUpdate};
use crate::guests::GuestAuth;
use crate::media::MediaCache;
use domain::error::DomainError;
use domain::input::{NewSession, SessionFields};
use domain::model::{Agent, Contact, Customer, Direction, MessageStatus, Session, SessionStatus};
use domain::templates::{TemplateChoice, WhatsappTemplates};
use domain::Channel;
use jobs::Task;
use platform::connect::{ConnectMessaging, Outgoing, SendError};
use platform::fetch::Fetcher;
use platform::webex::{guest_subject, AccessToken, WebexClient, WebexError};
use store::{
    AttemptNote, AuditCtx, Intake, Job, NewMessage, Outcome, RelaySession, RetryPolicy, Store,
};

/// A claimed job is leased this long and the lease is renewed every third of
/// it while the job runs: a job of a crashed server is retried after at most
/// this long.
const LEASE: Duration = Duration::from_secs(15);

/// Jobs one worker runs at once (each of a different conversation).
const IN_FLIGHT: usize = 64;

/// While this many webhooks wait for their events to be written (a flood;
/// a paced 1,000 messages a second kept its p99 with this rule)...
const INTAKE_FLOODED: usize = 4;
/// ...the worker runs at most this many jobs at once: answering webhooks
/// keeps the larger share of the machine (SQLite's one writer above all),
/// since a platform whose webhooks wait too long sends them again (and
/// Webex disables a failing webhook). The backlog is delivered, in order,
/// once the flood ebbs. Measured on two cores (README, Benchmark), 32
/// clients posting customers' webhooks: with 16 jobs from 16 waiting,
/// 5,500 answered a second; with 4 from 4, 8,700-9,200, delivering
/// 10 % slower (none while any waited: 9,700, but the burst was then
/// delivered at 324 a second: probably the relay's own receipts, webhooks too).
const IN_FLIGHT_WHILE_FLOODED: usize = 4;

/// Jobs of one conversation a worker slot runs one after another, each
/// leased as the last one ends (see [`Relay::deliver`]), before it goes
/// back to claiming: a busy conversation does not keep a slot for ever.
const CHAIN: usize = 16;

/// How the relay behaves (each is a setting; see the README).
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Our `/webhooks/webex` URL, and the secret the guests' webhooks sign with.
    pub webhook_url: String,
    pub webhook_secret: String,
    /// The text that goes with a file when a message has only the file.
    pub attachment_text: String,
    /// The approved WhatsApp templates (none: templates are off): the one
    /// an agent chooses at start, and the one sent when an agent writes
    /// outside the 24-hour window (the start's choice, else the first).
    pub whatsapp_templates: WhatsappTemplates,
    /// The token Connect's deliveries carry in our URLs (`?token=`).
    pub connect_inbound_token: String,
    /// Connect's outbound webhook hub secret: when set, customers' messages
    /// must carry a valid `x-hub-signature`.
    pub connect_webhook_secret: Option<String>,
    /// How far back an agent's messages that a webhook missed are looked
    /// for: shorter than the dedup retention, so the ones relayed are known.
    pub catch_up_window: Duration,
    /// Card numbers (always masked in what is stored and logged): masked in
    /// the agent's space too (`CM_PCI_MASK_FOR_AGENT`), and the customer
    /// told once per session that they are not accepted (`CM_PCI_WARN_CUSTOMER`).
    pub pci_mask_for_agent: bool,
    pub pci_warn_customer: bool,
    /// The language of customers whose contact names none (`CM_CUSTOMER_LANGUAGE`).
    pub customer_language: domain::Language,
}

/// The services the relay calls.
pub struct RelayClients {
    pub guests: GuestAuth,
    pub connect: ConnectMessaging,
    pub media: MediaCache,
    /// Customer media (MMS text parts, WhatsApp and MMS files): Connect's
    /// allowed hosts. Files are checked by it before Webex is asked to
    /// fetch them in our name.
    pub customer_media: Fetcher,
    /// The bot new customers talk to first, when one is configured.
    pub bot: Option<RelayBot>,
}

#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    webex: WebexClient,
    guests: GuestAuth,
    connect: ConnectMessaging,
    media: MediaCache,
    customer_media: Fetcher,
    bot: Option<RelayBot>,
    /// Seals the customer's words with card numbers for the agent while
    /// they wait in the outbox (`CM_PCI_MASK_FOR_AGENT=false`); the guest
    /// tokens' key.
    cipher: Option<store::token_cipher::TokenCipher>,
    settings: RelaySettings,
    policy: RetryPolicy,
    intake: Intake,
    /// The worker's writes ([`effects`]).
    commits: effects::Commits,
    wake: Notify,
    /// A request for the next round of webhook checks.
    check_webhooks: Notify,
}

tokio::task_local! {
    /// What the running try of a job learned for the admins' message log:
    /// the transcript line it carries and the platform's answer. Set along
    /// the job's path, written with the try's outcome.
    static NOTE: std::cell::RefCell<AttemptNote>;
    /// Whether the running try may lease its conversation's next job as it
    /// ends, and that job once leased ([`Relay::deliver`]).
    static NEXT: std::cell::RefCell<Chain>;
}

#[derive(Default)]
struct Chain {
    allowed: bool,
    next: Option<Job>,
}

/// Adds to the running try's note; outside a try (tests calling a handler
/// directly) there is none and nothing happens.
pub(crate) fn note(change: impl FnOnce(&mut AttemptNote)) {
    let _ = NOTE.try_with(|n| change(&mut n.borrow_mut()));
}

/// The running try's note so far.
fn current_note() -> AttemptNote {
    NOTE.try_with(|n| n.borrow().clone()).unwrap_or_default()
}

/// The HTTP status an error's text names (`HTTP 503`, `(HTTP 404)`): the
/// platform clients write it so, when there was an answer.
pub(crate) fn http_status_in(text: &str) -> Option<u16> {
    text.match_indices("HTTP ").find_map(|(i, _)| {
        let digits = text.get(i + 5..i + 8)?;
        let more = text[i + 8..].starts_with(|c: char| c.is_ascii_digit());
        if more || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    })
}

/// WhatsApp allows free-form messages this long after the customer's last one.
pub const WHATSAPP_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// When WhatsApp's window for free-form messages closes, given the
/// customer's last message (None: they never wrote, so it is closed).
pub fn whatsapp_window_closes_at(last_inbound_ms: Option<i64>) -> Option<i64> {
    last_inbound_ms.map(|t| t + WHATSAPP_WINDOW.as_millis() as i64)
}

/// Whether WhatsApp takes a free-form message now (the customer wrote in
/// the last 24 hours); when it does not, only a template may go.
pub fn whatsapp_window_open(last_inbound_ms: Option<i64>, now_ms: i64) -> bool {
    whatsapp_window_closes_at(last_inbound_ms).is_some_and(|closes| now_ms <= closes)
}

/// Whether a template already went to the customer since they last wrote:
/// one per silence, whether it went at a start or for an agent's message.
fn template_already_sent(state: &store::RelayState) -> bool {
    match (state.template_sent_at_ms, state.last_inbound_at_ms) {
        (Some(sent), Some(inbound)) => sent >= inbound,
        (Some(_), None) => true,
        _ => false,
    }
}

/// What became of a template chosen at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTemplate {
    /// None was chosen (or the channel is SMS).
    NotChosen,
    /// Queued for the customer.
    Sent,
    /// Not needed: the customer wrote in the last 24 hours.
    WindowOpen,
    /// Not sent again: one went since the customer last wrote.
    AlreadySent,
}

/// Jobs of one customer conversation run one at a time, in order. SMS and
/// MMS share it, as they share the number and the session.
pub(crate) fn conversation_key(channel: Channel, canonical_id: &str) -> String {
    guest_subject(channel, canonical_id)
}

impl Relay {
    /// Starts the intake's and the worker's writers: needs a Tokio runtime.
    pub fn new(store: Store, clients: RelayClients, settings: RelaySettings) -> Relay {
        Relay {
            inner: Arc::new(Inner {
                intake: Intake::start(store.clone()),
                commits: effects::Commits::start(store.clone()),
                store,
                webex: clients.guests.webex().clone(),
                cipher: clients.guests.cipher().cloned(),
                guests: clients.guests,
                connect: clients.connect,
                media: clients.media,
                customer_media: clients.customer_media,
                bot: clients.bot,
                settings,
                policy: RetryPolicy::default(),
                wake: Notify::new(),
                check_webhooks: Notify::new(),
            }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The customer's words as written, sealed for the agent, when the agent
    /// is to read card numbers (else nothing is kept but the masked text).
    fn seal_original(&self, original: &str, context: &str) -> Option<String> {
        if self.inner.settings.pci_mask_for_agent {
            return None;
        }
        self.inner
            .cipher
            .as_ref()
            .map(|c| c.seal(original, context))
    }

    fn open_original(&self, sealed: &str, context: &str) -> Option<String> {
        self.inner.cipher.as_ref()?.open(sealed, context)
    }

    /// The configured WhatsApp templates.
    pub fn whatsapp_templates(&self) -> &WhatsappTemplates {
        &self.inner.settings.whatsapp_templates
    }

    /// Of these WhatsApp customers (their ids on WhatsApp), those a
    /// conversation would open with a template now: templates are configured
    /// and the window is closed (they never wrote, or not in the last 24
    /// hours). One read for them all: a page of contacts asks for twenty.
    pub async fn whatsapp_windows_closed(
        &self,
        ids: &[&str],
    ) -> Result<HashSet<String>, DomainError> {
        if ids.is_empty() || self.whatsapp_templates().is_empty() {
            return Ok(HashSet::new());
        }
        let last = self.store().last_inbound_of(Channel::Whatsapp, ids).await?;
        let now = store::now_ms();
        Ok(ids
            .iter()
            .filter(|id| !whatsapp_window_open(last.get(**id).copied(), now))
            .map(|id| id.to_string())
            .collect())
    }

    /// "Start conversation" in native mode: route the customer to this agent
    /// (latest agent wins) and queue the guest's provisioning and greeting.
    /// With a `template` chosen and WhatsApp's window closed, the template
    /// goes to the customer right after (its transcript line, and the agent
    /// told in the space); with the window open it is not needed and does
    /// not go, nor when one already went since the customer last wrote.
    /// Every job's key comes from the attempt, so it is queued once.
    /// Answers the session and what became of the template.
    pub async fn start(
        &self,
        ctx: &AuditCtx,
        agent: &Agent,
        contact: &Contact,
        channel: Channel,
        attempt: &str,
        template: Option<&TemplateChoice>,
    ) -> Result<(Session, StartTemplate), DomainError> {
        let channel_id = contact.channels.get(channel).ok_or_else(|| {
            domain::FieldError::new("channel", format!("{} has no {channel} id", contact.name))
        })?;
        let new = NewSession {
            // Stored ids are canonical already.
            customer: Customer {
                channel,
                id: channel_id.to_string(),
            },
            fields: SessionFields {
                agent: Some(agent.email.clone()),
                contact_id: Some(contact.id.clone()),
                status: Some(SessionStatus::Active),
                ..Default::default()
            },
        };
        let (session, _) = self.store().upsert_session(ctx, &new).await?;
        let mut effects = Effects {
            jobs: vec![jobs::provision(
                &session,
                &agent.email,
                &contact.name,
                &format!("start:{attempt}"),
            )],
            ..Effects::default()
        };
        let mut outcome = StartTemplate::NotChosen;
        let chosen = match template {
            Some(choice) if channel == Channel::Whatsapp => {
                let state = self.store().relay_session(&session.id).await?.relay;
                if whatsapp_window_open(state.last_inbound_at_ms, store::now_ms()) {
                    outcome = StartTemplate::WindowOpen;
                    None
                } else if template_already_sent(&state) {
                    outcome = StartTemplate::AlreadySent;
                    None
                } else {
                    self.whatsapp_templates()
                        .get(choice.id())
                        .map(|t| (choice, t))
                }
            }
            _ => None,
        };
        if let Some((choice, t)) = chosen {
            outcome = StartTemplate::Sent;
            let parameters =
                t.variables
                    .values(&contact.name, &agent.display_name, choice.values());
            let line = template_line(&session, t, &parameters);
            effects.jobs.push(jobs::template(
                &session,
                &line.id,
                &t.id,
                parameters,
                format!("start:{attempt}:template"),
            ));
            effects.lines.push(line);
            effects.template_sent = Some(session.id.clone());
            effects.jobs.push(jobs::post(
                &session,
                format!("start:{attempt}:template-told"),
                None,
                &format!(
                    "{} has not written on WhatsApp in the last 24 hours, and WhatsApp then allows only approved templates: the template \"{}\" ({}) was sent to them. Once they reply, write here to talk to them.",
                    contact.name, t.label, t.id
                ),
                None,
                None,
                None,
            ));
        }
        let stored = chosen.map(|(choice, _)| {
            serde_json::to_string(choice).expect("a template choice serializes")
        });
        effects.start_template = Some((session.id.clone(), stored));
        self.commit(None, effects).await?;
        Ok((session, outcome))
    }

    /// Delivers outbox jobs until `stop` fires, then lets the running ones end.
    ///
    /// Up to [`IN_FLIGHT`] jobs run at once ([`IN_FLIGHT_WHILE_FLOODED`]
    /// while webhooks flood in), each of a different conversation
    /// (a claim hands out only heads). A conversation's next job is claimed
    /// as soon as a slot frees, not when a whole batch has ended: one slow
    /// call holds up its own conversation only.
    pub async fn work(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut running = tokio::task::JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            let limit = match self.flooded() {
                true => IN_FLIGHT_WHILE_FLOODED,
                false => IN_FLIGHT,
            };
            let free = limit.saturating_sub(running.len());
            let claimed = if free == 0 {
                0
            } else {
                match self.store().claim_jobs(free as i64, LEASE).await {
                    Ok(jobs) => {
                        let claimed = jobs.len();
                        for job in jobs {
                            running.spawn(self.clone().deliver(job, stop.clone()));
                        }
                        claimed
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox claim failed");
                        0
                    }
                }
            };
            // A full claim may have left more due jobs: claim again at once.
            if claimed > 0 && claimed == free {
                continue;
            }
            tokio::select! {
                // A slot is free and the job's conversation may have its next one due.
                Some(_) = running.join_next(), if !running.is_empty() => {
                    // Take every other ended job too: one claim for all of them.
                    while running.try_join_next().is_some() {}
                }
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    /// Whether webhooks flood in (see [`IN_FLIGHT_WHILE_FLOODED`]).
    fn flooded(&self) -> bool {
        self.inner.intake.waiting() >= INTAKE_FLOODED
    }

    /// Runs a claimed job and records how it went. A job that ends by
    /// enqueueing more of its conversation (a customer's message, then its
    /// post) leases the next one in the same transaction, and it runs here
    /// at once: no claim, no wait for a free slot.
    async fn deliver(self, job: Job, stop: tokio::sync::watch::Receiver<bool>) {
        let mut job = job;
        for left in (0..CHAIN).rev() {
            // While webhooks flood in, a slot ends with its job, so that
            // the worker runs fewer at once.
            let chain = Chain {
                allowed: left > 0 && !*stop.borrow() && !self.flooded(),
                next: None,
            };
            let next = NEXT
                .scope(std::cell::RefCell::new(chain), async {
                    self.deliver_one(job).await;
                    NEXT.with(|c| c.borrow_mut().next.take())
                })
                .await;
            match next {
                Some(next) => job = next,
                None => return,
            }
        }
    }

    /// Runs one job and records how it went.
    async fn deliver_one(&self, job: Job) {
        // One job's path reads in the logs under its span. The ordering key
        // holds a phone number, so it stays out.
        let span = tracing::info_span!(
            "job",
            id = job.id,
            kind = %job.kind,
            attempt = job.attempts,
            session = tracing::field::Empty,
            request_id = jobs::request_of(&job).unwrap_or("-"),
        );
        let attempt = async move {
            // Jobs this one causes carry the same request id.
            let outcome = match (jobs::request_of(&job), jobs::accepted_at_of(&job)) {
                (Some(id), Some(at)) => {
                    crate::request_id::scope_from(id.to_string(), at, self.run_leased(&job)).await
                }
                (Some(id), None) => {
                    crate::request_id::scope(id.to_string(), self.run_leased(&job)).await
                }
                _ => self.run_leased(&job).await,
            };
            self.count_attempt(&job, outcome.as_ref());
            // Done with its writes: nothing left to record.
            let Some(outcome) = outcome else { return };
            let mut note = current_note();
            if let Outcome::Retry { error, .. } | Outcome::Fatal { error } = &outcome {
                tracing::warn!(error = %error, "delivery failed");
                note.http_status = note.http_status.or_else(|| http_status_in(error));
            }
            let jitter = rand::random::<f64>();
            if let Err(e) = self
                .store()
                .finish_job_noted(&job, &outcome, &self.inner.policy, jitter, &note)
                .await
            {
                tracing::error!(error = %e, "could not record a delivery outcome");
            }
        };
        NOTE.scope(std::cell::RefCell::new(AttemptNote::default()), attempt)
            .instrument(span)
            .await
    }

    /// Counts the attempt for `/metrics` (`None`: done, recorded by the
    /// job's own writes) and, for a message that reached its destination,
    /// how long it took from its acceptance.
    fn count_attempt(&self, job: &Job, outcome: Option<&Outcome>) {
        let result = match outcome {
            None | Some(Outcome::Done) => "done",
            Some(Outcome::Retry { .. }) if !self.inner.policy.gives_up(job.attempts) => "retry",
            Some(_) => "dead",
        };
        let kind = job.kind.clone();
        metrics::counter!("cm_outbox_attempts_total", "kind" => kind.clone(), "result" => result)
            .increment(1);
        if result == "dead" {
            metrics::counter!("cm_outbox_dead_letters_total", "kind" => kind.clone()).increment(1);
        }
        let direction = match kind.as_str() {
            "post_to_agent" => "to_agent",
            "webex_to_customer" | "send_to_customer" => "to_customer",
            _ => return,
        };
        if let (Some(at), "done") = (jobs::accepted_at_of(job), result) {
            let seconds = (store::now_ms() - at).max(0) as f64 / 1000.0;
            metrics::histogram!("cm_relay_end_to_end_seconds", "direction" => direction)
                .record(seconds);
        }
    }

    /// Runs a job, renewing its lease until it ends.
    async fn run_leased(&self, job: &Job) -> Option<Outcome> {
        let run = self.run(job);
        tokio::pin!(run);
        let mut renew =
            tokio::time::interval_at(tokio::time::Instant::now() + LEASE / 3, LEASE / 3);
        loop {
            tokio::select! {
                outcome = &mut run => return outcome,
                _ = renew.tick() => {
                    if let Err(e) = self.store().extend_lease(job.id, LEASE).await {
                        tracing::warn!(error = %e, "could not renew a job's lease");
                    }
                }
            }
        }
    }

    /// Runs a job; when Webex refused the guest's token (401), the token is
    /// dropped and the job runs once more with a new login before it fails.
    /// The outcome to record, or None when the job's own writes recorded it.
    async fn run(&self, job: &Job) -> Option<Outcome> {
        let task = match Task::from_job(job) {
            Ok(task) => task,
            Err(error) => return Some(Outcome::Fatal { error }),
        };
        if let Some(session) = task.session_id() {
            tracing::Span::current().record("session", session);
        }
        note(|n| n.message = task.message_ref());
        let mut result = self.run_once(job, &task, true).await;
        if let (Err(Failure::TokenRefused(error)), Some(session)) = (&result, task.session_id()) {
            match self.store().session(session).await {
                Ok(session) => {
                    self.forget_refused_token(&session, error).await;
                    result = self.run_once(job, &task, false).await;
                }
                Err(e) => tracing::warn!(error = %e, "a refused token's session is unknown"),
            }
        }
        match result {
            Ok(Done::Recorded) => None,
            Ok(Done::Unrecorded) => Some(Outcome::Done),
            Err(Failure::Retry(error, retry_after)) => Some(Outcome::Retry { error, retry_after }),
            Err(Failure::Fatal(error) | Failure::TokenRefused(error)) => {
                Some(Outcome::Fatal { error })
            }
        }
    }

    /// One run of a job; `first`: not the run again after a refused token
    /// (whose failure changed the job's line).
    async fn run_once(&self, job: &Job, task: &Task, first: bool) -> Ran {
        // The session and the relay's state on it, read once for the job.
        let conversation = match task {
            Task::Provision { session_id, .. }
            | Task::PostToAgent { session_id, .. }
            | Task::WebexToCustomer { session_id, .. }
            | Task::Receipt { session_id, .. } => {
                Some(self.store().relay_session(session_id).await?)
            }
            Task::CustomerMessage { .. }
            | Task::SendToCustomer { .. }
            | Task::ToBot { .. }
            | Task::FromBot { .. } => None,
        };
        let conversation = || conversation.as_ref().expect("read above for this task");
        match task {
            Task::Provision {
                agent_email,
                contact_name,
                ..
            } => {
                self.provision(conversation(), agent_email, contact_name)
                    .await
            }
            Task::CustomerMessage { message, customer } => {
                self.customer_message(job, message.clone(), customer.clone())
                    .await
            }
            Task::PostToAgent {
                to,
                text,
                file_url,
                message_id,
                sealed_text,
                line_posting,
                ..
            } => {
                // The agent reads the card numbers only when the setting
                // says so and the sealed words still open (a new key, e.g.
                // the sandbox's after a restart, leaves the masked text).
                let text = match (sealed_text, message_id) {
                    (Some(sealed), Some(line)) => self
                        .open_original(sealed, line)
                        .unwrap_or_else(|| text.clone()),
                    _ => text.clone(),
                };
                self.post_to_agent(
                    job,
                    conversation(),
                    to.as_deref(),
                    &text,
                    file_url.as_deref(),
                    message_id
                        .as_deref()
                        .map(|line| (line, *line_posting && job.attempts == 1 && first)),
                )
                .await
            }
            Task::WebexToCustomer { message_id, .. } => {
                self.webex_to_customer(job, conversation(), message_id)
                    .await
            }
            Task::SendToCustomer {
                message_id,
                key,
                channel,
                customer,
                text,
                template,
                parameters,
                consent_reply,
                ..
            } => {
                if !consent_reply {
                    if let Some(opt_out) = self.store().opt_out_of(*channel, customer).await? {
                        return self.hold_back(message_id.as_deref(), &opt_out).await;
                    }
                }
                let outgoing = match template {
                    Some(template) => Outgoing::WhatsappTemplate {
                        template: template.clone(),
                        parameters: parameters.clone(),
                    },
                    None => Outgoing::Text(text.clone().unwrap_or_default()),
                };
                self.send_to_customer(
                    job,
                    *channel,
                    customer,
                    key,
                    message_id.as_deref(),
                    &outgoing,
                )
                .await
            }
            Task::ToBot {
                bot_conversation_id,
                message,
                text,
            } => self.to_bot(job, bot_conversation_id, message, text).await,
            Task::FromBot {
                bot_conversation_id,
                event,
                event_id,
            } => {
                self.bot_answered(job, bot_conversation_id, event, event_id)
                    .await
            }
            Task::Receipt {
                message_id,
                from_agent,
                receipt,
                ..
            } => {
                note(|n| {
                    n.answer = Some(format!(
                        "receipt {} ({}): {}",
                        receipt.status, receipt.code, receipt.description
                    ))
                });
                self.receipt(job, conversation(), message_id, *from_agent, receipt)
                    .await
            }
        }
    }

    /// Drops the guest's token Webex refused, so the next call logs the
    /// guest in again (the one retry of a job or a webhook check).
    async fn forget_refused_token(&self, session: &Session, error: &str) {
        tracing::info!(session = %session.id, error = %error, "Webex refused the guest's token; logging the guest in again");
        self.inner
            .guests
            .forget(session.customer_channel, &session.customer_channel_id)
            .await;
    }

    /// Guest Auth: the guest's access token (cached by guest, refreshed
    /// before it expires). The display name is looked up only for a login.
    async fn token(&self, conversation: &RelaySession) -> Result<AccessToken, Failure> {
        let session = &conversation.session;
        Ok(self
            .inner
            .guests
            .access_token_named(
                session.customer_channel,
                &session.customer_channel_id,
                async || self.display_name(conversation).await,
            )
            .await?)
    }

    /// What the business calls the customer: their contact's name, the name
    /// they gave the dialogue, else their number. A lookup that fails falls
    /// back to the next (the name is only for display).
    async fn display_name(&self, conversation: &RelaySession) -> String {
        let session = &conversation.session;
        if let Some(id) = session.contact_id.as_deref() {
            if let Ok(contact) = self.store().contact(id).await {
                return contact.name;
            }
        }
        conversation
            .relay
            .onboarding_name
            .clone()
            .unwrap_or_else(|| session.customer_channel_id.clone())
    }

    /// Writes what a job decided, in one transaction, and marks the job done
    /// in it when given: a job that only writes runs exactly once.
    async fn apply(&self, job: Option<&Job>, effects: Effects) -> Ran {
        self.commit(job, effects).await?;
        Ok(match job {
            Some(_) => Done::Recorded,
            None => Done::Unrecorded,
        })
    }

    /// [`Relay::apply`]'s transaction, shared with other jobs' writes that
    /// arrive meanwhile ([`effects`]). A job that enqueued more of its
    /// conversation may lease the next one in it ([`Relay::deliver`]).
    async fn commit(&self, job: Option<&Job>, effects: Effects) -> Result<(), DomainError> {
        let wake = !effects.jobs.is_empty();
        let commit = effects::Commit {
            job: job.map(|job| (job.id, job.ordering_key.clone())),
            effects,
            note: current_note(),
            lease_next: NEXT.try_with(|c| c.borrow().allowed).unwrap_or(false),
        };
        let leased = self.inner.commits.write(commit).await?;
        if leased.is_some() {
            let _ = NEXT.try_with(|c| c.borrow_mut().next = leased);
        }
        if wake {
            self.inner.wake.notify_one();
        }
        Ok(())
    }
}

/// The transcript line of a WhatsApp template: which one, and every value.
fn template_line(
    session: &Session,
    template: &domain::templates::WhatsappTemplate,
    parameters: &[(String, String)],
) -> NewMessage {
    let shown: Vec<String> = parameters.iter().map(|(n, v)| format!("{n}={v}")).collect();
    NewMessage::new(
        &session.id,
        Direction::Outbound,
        Channel::Whatsapp,
        &format!(
            "WhatsApp template {} ({}): {}",
            template.id,
            template.language,
            shown.join(", ")
        ),
        MessageStatus::Queued,
    )
}

/// How a job step ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    /// Marked done in the transaction of its writes ([`Relay::apply`]).
    Recorded,
    /// The worker is still to mark it done.
    Unrecorded,
}

/// A job step's end.
type Ran = Result<Done, Failure>;

/// How a job step failed.
enum Failure {
    Retry(String, Option<Duration>),
    Fatal(String),
    /// Webex answered 401 to the guest's token (revoked or expired early).
    TokenRefused(String),
}

impl From<WebexError> for Failure {
    fn from(e: WebexError) -> Self {
        match e {
            WebexError::Unavailable {
                message,
                retry_after,
            } => Failure::Retry(format!("Webex: {message}"), retry_after),
            WebexError::Refused {
                status: 401,
                message,
            } => Failure::TokenRefused(format!("Webex refused the guest's token: {message}")),
            WebexError::Refused { status, message } => {
                Failure::Fatal(format!("Webex refused (HTTP {status}): {message}"))
            }
        }
    }
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { .. } | DomainError::Invalid(_) => Failure::Fatal(e.to_string()),
            other => Failure::Retry(other.to_string(), None),
        }
    }
}

impl From<SendError> for Failure {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Unavailable {
                reason,
                retry_after,
            } => Failure::Retry(reason, retry_after),
            SendError::Refused { code, description } => {
                Failure::Fatal(format!("Connect refused ({code}): {description}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::http_status_in;

    #[test]
    fn http_statuses_are_read_from_errors_that_name_one() {
        assert_eq!(http_status_in("HTTP 503: 7006 busy"), Some(503));
        assert_eq!(
            http_status_in("Webex refused (HTTP 404): not found"),
            Some(404)
        );
        assert_eq!(http_status_in("no answer in time"), None);
        assert_eq!(http_status_in("HTTP 50"), None);
        assert_eq!(http_status_in("HTTP 5030"), None);
    }
}
