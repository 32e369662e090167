//! Customer to agent (seed: WhatsApp, SMS and MMS Message Handlers): the
//! routing keyword, the onboarding dialogue for customers without an agent,
//! "session has ended", and posting the customer's words and files into the
//! agent's 1:1 space as the guest.

use super::bot::FromBot;
use super::dialogue::{self, Line, Step};
use super::inbound::Inbound;
use super::jobs::{self, post as post_job, provision as provision_job};
use super::{ConsentUpdate, Done, Effects, Failure, Ran, Relay, StatusUpdate};
use domain::agent_links::PublicAgentId;
use domain::card_numbers::mask_card_numbers;
use domain::consent::ConsentChange;
use domain::error::DomainError;
use domain::input::{NewContact, NewSession, SessionFields};
use domain::model::{
    Agent, ClosedBy, ContactInput, ConversationStatus, Customer, Direction, MessageStatus, Session,
    SessionStatus,
};
use domain::Language;
use platform::fetch::FetchError;
use platform::webex::AccessToken;
use store::{Attachment, AuditCtx, Job, NewJob, NewMessage, RelaySession};

/// The largest MMS text part fetched (text parts are short; this is room to spare).
const MMS_TEXT_MAX_BYTES: u64 = 64 * 1024;

/// What the customer wrote: as stored (card numbers masked) and, when the
/// agent is to read card numbers (`CM_PCI_MASK_FOR_AGENT=false`), as written.
#[derive(Debug, Default)]
pub(super) struct Words {
    text: String,
    for_agent: Option<String>,
    cards: bool,
}

/// What the agent reads instead of a file that was not handed to Webex.
fn refused_file_note(e: &FetchError) -> String {
    format!(
        "The customer sent a file that was not relayed, because its address is not allowed ({e})."
    )
}

impl Relay {
    /// Decides what a customer's message means and writes the decision,
    /// completing the job in the same transaction.
    pub(super) async fn customer_message(
        &self,
        job: &Job,
        mut m: Inbound,
        customer: Option<Customer>,
    ) -> Ran {
        let customer = match customer {
            Some(customer) => customer,
            // A row from before jobs carried who wrote.
            None => m
                .parse_customer(self.store().rules().phone_region)
                .map_err(|e| Failure::Fatal(e.to_string()))?,
        };
        // One written form of the number from here on (keys, replies, contacts).
        m.customer = customer.id.clone();
        let conversation = self.store().relay_session_of(&customer).await?;
        m.language = self
            .language_of(&customer, conversation.as_ref().map(|c| &c.session))
            .await?;
        let session = conversation.as_ref().map(|c| &c.session);
        let mut effects = Effects::default();
        if let Some(FromBot::HandedOver { agent, .. }) = &m.from_bot {
            let agent = agent.clone();
            return self
                .after_handover(job, conversation.as_ref(), &m, agent.as_deref())
                .await;
        }

        // An MMS goes to an open conversation or nowhere (seed: MMS handler).
        if m.mms && !session.is_some_and(|s| s.status == SessionStatus::Active) {
            effects.add(self.say(session, &m, Line::SessionNotFound));
            return self.apply(Some(job), effects).await;
        }
        // Only now, the message known to belong to a conversation, are the
        // URLs it names fetched: a stranger cannot make us fetch anything.
        let words = self.inbound_text(&m).await?;
        if words.cards {
            self.warn_about_cards(conversation.as_ref(), &m).await?;
        }
        let text = words.text.clone();
        if let Some((change, word)) = domain::consent::consent_keyword(&text) {
            // START from a customer who never opted out is the dialogue's
            // word for a new conversation (the same word, the same wish).
            let opted_out = self.store().opt_out_of(m.channel, &m.customer).await?;
            if change == ConsentChange::OptOut || opted_out.is_some() {
                return self
                    .change_consent(job, conversation.as_ref(), &m, &words, change, &word)
                    .await;
            }
        }
        if let Some(request) = dialogue::routing_request(&text) {
            match self.find_agent(&request.agent).await? {
                Some(agent) => {
                    let name = self.customer_name(conversation.as_ref(), &m).await?;
                    let rest_for_agent = words
                        .for_agent
                        .as_deref()
                        .and_then(dialogue::routing_request)
                        .map(|r| r.rest);
                    let rest = Words {
                        text: request.rest,
                        for_agent: rest_for_agent,
                        cards: words.cards,
                    };
                    return self
                        .connect_customer(job, &m, &agent, &name, &rest, true)
                        .await;
                }
                // An email the customer typed: they are told to check it.
                None if request.agent.contains('@') => {
                    effects.add(self.say(session, &m, Line::AgentNotFound));
                    return self.apply(Some(job), effects).await;
                }
                // A link or code of an agent who is gone or disabled: the
                // customer is asked who they want, as without a keyword.
                None => {}
            }
        }
        // A customer without an agent talks to the bot first, if there is
        // one (`crate::bot`); what it cannot take comes back marked.
        if m.from_bot.is_none() && self.bot_takes(session).await? {
            return self.send_to_bot(job, &m, &text).await;
        }
        let Some(conversation) = conversation else {
            return self.begin_dialogue(job, &m, None).await;
        };
        let session = &conversation.session;
        match session.status {
            SessionStatus::Active => {
                // A session made through the API (not by Start) has no guest
                // yet: provision first, or the agent's replies go nowhere.
                if conversation.guest_id().is_none() {
                    if let Some(agent) = session.collab_agent_id.as_deref() {
                        let name = self.customer_name(Some(&conversation), &m).await?;
                        effects.jobs.push(provision_job(
                            session,
                            agent,
                            &name,
                            &format!("provision:{}", m.transid),
                        ));
                    }
                }
                self.forward(session, &m, &words, &mut effects);
                self.apply(Some(job), effects).await
            }
            SessionStatus::Ended if dialogue::is_restart(&text) => {
                let last_agent = session.collab_agent_id.as_deref();
                self.begin_dialogue(job, &m, last_agent).await
            }
            SessionStatus::Ended => {
                effects.add(self.say(Some(session), &m, Line::SessionEnded));
                self.apply(Some(job), effects).await
            }
            SessionStatus::Onboarding => self.onboarding_step(job, &conversation, &m, &text).await,
        }
    }

    /// STOP, START and their kin (`domain::consent`): the customer's consent
    /// for this channel changes (audited), they get the confirmation, and
    /// their agent sees the word and what it did.
    async fn change_consent(
        &self,
        job: &Job,
        conversation: Option<&RelaySession>,
        m: &Inbound,
        words: &Words,
        change: ConsentChange,
        word: &str,
    ) -> Ran {
        let mut effects = Effects {
            consent: Some(ConsentUpdate {
                channel: m.channel,
                customer: m.customer.clone(),
                change,
                source: format!("keyword {word}"),
            }),
            ..Effects::default()
        };
        let session = match conversation.map(|c| &c.session) {
            Some(s) if s.status == SessionStatus::Active => Some(s),
            // START reopens the conversation the opt-out closed
            // (`Store::change_consent`): its agent hears of it.
            Some(s) if change == ConsentChange::OptIn && self.closed_by_opt_out(s).await? => {
                Some(s)
            }
            _ => None,
        };
        if let Some(session) = session {
            self.forward(session, m, words, &mut effects);
            let channel = m.channel.label();
            let what = match change {
                ConsentChange::OptOut => format!(
                    "The customer replied {word}: they opted out of {channel}. Nothing you write reaches them until they reply START."
                ),
                ConsentChange::OptIn => format!(
                    "The customer replied {word}: they opted back in to {channel}, so your messages reach them again."
                ),
            };
            effects.jobs.push(jobs::notice(
                session,
                format!("notice:{}:consent", m.transid),
                None,
                &what,
            ));
        }
        let line = match change {
            ConsentChange::OptOut => Line::OptedOut,
            ConsentChange::OptIn => Line::OptedIn,
        };
        effects.add(self.say(session, m, line));
        self.apply(Some(job), effects).await
    }

    /// Whether the session's current conversation was closed by an opt-out.
    async fn closed_by_opt_out(&self, session: &Session) -> Result<bool, DomainError> {
        let Some(id) = session.conversation_id.as_deref() else {
            return Ok(false);
        };
        let c = self.store().conversation(id).await?;
        Ok(c.status == ConversationStatus::Closed && c.closed_by == Some(ClosedBy::OptOut))
    }

    /// No agent yet: a customer already assigned to one (their contact's
    /// owner) goes straight to them; anyone else is asked for their name.
    ///
    /// A returning customer whose conversation ended goes back to the agent
    /// who last engaged them (`last_agent`, the seed's "most recent agent"),
    /// then to their contact's owner, while that agent is enabled.
    pub(super) async fn begin_dialogue(
        &self,
        job: &Job,
        m: &Inbound,
        last_agent: Option<&str>,
    ) -> Ran {
        let contact = self.store().contact_by_channel(&m.who()).await?;
        let owner = contact.as_ref().and_then(|c| c.owner_agent_id.as_deref());
        let mut candidates = Vec::new();
        if let Some(email) = last_agent {
            candidates.extend(self.find_agent(email).await?);
        }
        if let Some(owner) = owner {
            candidates.extend(self.find_agent(owner).await?);
        }
        if let Some(agent) = candidates.first() {
            let name = match &contact {
                Some(contact) => contact.name.clone(),
                None => self.customer_name(None, m).await?,
            };
            return self
                .connect_customer(job, m, agent, &name, &Words::default(), false)
                .await;
        }
        let session = self.route(m, None, SessionStatus::Onboarding).await?;
        let mut effects = Effects {
            onboarding: Some((session.id.clone(), Some(Step::AskName), None)),
            ..Effects::default()
        };
        effects.add(self.say(Some(&session), m, Line::AskName));
        self.apply(Some(job), effects).await
    }

    async fn onboarding_step(
        &self,
        job: &Job,
        conversation: &RelaySession,
        m: &Inbound,
        text: &str,
    ) -> Ran {
        let (session, state) = (&conversation.session, &conversation.relay);
        let mut effects = Effects::default();
        match state.onboarding {
            Some(Step::AskAgent) => {
                let Some(email) = dialogue::find_email(text) else {
                    effects.add(self.say(Some(session), m, Line::NotAnEmail));
                    return self.apply(Some(job), effects).await;
                };
                match self.find_agent(&email).await? {
                    Some(agent) => {
                        let name = state
                            .onboarding_name
                            .clone()
                            .unwrap_or_else(|| m.customer.clone());
                        return self
                            .connect_customer(job, m, &agent, &name, &Words::default(), true)
                            .await;
                    }
                    None => {
                        effects.add(self.say(Some(session), m, Line::PleaseWait));
                        effects.add(self.say(Some(session), m, Line::AgentNotFound));
                    }
                }
            }
            // Asked for the name (or lost track: ask again). A location or a
            // reaction is no name.
            _ => match dialogue::clean_name(text).filter(|_| !m.written_out) {
                Some(name) => {
                    effects.onboarding =
                        Some((session.id.clone(), Some(Step::AskAgent), Some(name.clone())));
                    effects.add(self.say(Some(session), m, Line::AskAgent { name }));
                }
                None => effects.add(self.say(Some(session), m, Line::AskName)),
            },
        }
        self.apply(Some(job), effects).await
    }

    /// Maps the customer to the agent (seed: Create Agent Contact, Provision
    /// Guest): the contact, owned by the agent, if there is none; the session
    /// routed to the agent; the guest provisioned; "conversation initiated";
    /// and what else the customer wrote, forwarded.
    pub(super) async fn connect_customer(
        &self,
        job: &Job,
        m: &Inbound,
        agent: &Agent,
        name: &str,
        rest: &Words,
        please_wait: bool,
    ) -> Ran {
        let ctx = AuditCtx::system();
        let contact = match self.store().contact_by_channel(&m.who()).await? {
            Some(contact) => contact,
            None => {
                let input = ContactInput {
                    name: Some(name.to_string()),
                    msisdn: Some(format!("+{}", m.customer.trim_start_matches('+'))),
                    channels: Some(vec![m.channel.as_str().into()]),
                    owner_agent_id: Some(agent.id.clone()),
                    // They wrote in the dialogue's (the default) language.
                    language: None,
                    version: None,
                };
                // The name is the customer's own words: checked like any input.
                let region = self.store().rules().phone_region;
                let created = match NewContact::try_from((&input, region)) {
                    Ok(new) => self.store().create_contact(&ctx, &new).await,
                    Err(invalid) => Err(invalid.into()),
                };
                match created {
                    Ok(contact) => contact,
                    // The number is known on the other channel: that's them.
                    Err(DomainError::Duplicate { existing_id, .. }) => {
                        self.store().contact(&existing_id).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let session = self
            .route(m, Some((agent, &contact.id)), SessionStatus::Active)
            .await?;
        let mut effects = Effects {
            onboarding: Some((session.id.clone(), None, None)),
            ..Effects::default()
        };
        if please_wait {
            effects.add(self.say(Some(&session), m, Line::PleaseWait));
        }
        effects.jobs.push(provision_job(
            &session,
            &agent.email,
            &contact.name,
            &format!("provision:{}", m.transid),
        ));
        if let Some(note) = m.bot_note() {
            effects.jobs.push(jobs::notice(
                &session,
                format!("notice:{}", m.transid),
                None,
                &format!("The bot handed {} over to you: {note}", contact.name),
            ));
        }
        effects.add(self.say(
            Some(&session),
            m,
            Line::Initiated {
                agent: agent.display_name.clone(),
            },
        ));
        if !rest.text.is_empty() || !m.media.is_empty() {
            self.forward(&session, m, rest, &mut effects);
        }
        self.apply(Some(job), effects).await
    }

    /// Creates or re-routes the customer's session (latest agent wins).
    async fn route(
        &self,
        m: &Inbound,
        agent: Option<(&Agent, &str)>,
        status: SessionStatus,
    ) -> Result<Session, Failure> {
        let new = NewSession {
            customer: m.who(),
            fields: SessionFields {
                agent: agent.map(|(a, _)| a.email.clone()),
                contact_id: agent.map(|(_, c)| c.to_string()),
                status: Some(status),
                ..Default::default()
            },
        };
        Ok(self
            .store()
            .upsert_session(&AuditCtx::system(), &new)
            .await?
            .0)
    }

    /// The customer's words into the agent's space: one Webex message per
    /// file (Webex takes one), the text with the first, in order. Webex
    /// fetches the files in our name, so a file whose URL is not on
    /// Connect's allowed hosts is not handed on: its message says so.
    fn forward(&self, session: &Session, m: &Inbound, words: &Words, effects: &mut Effects) {
        let default = &self.inner.settings.attachment_text;
        let text = words.text.as_str();
        type Part<'a> = (
            String,
            Option<String>,
            Option<&'a super::inbound::InboundMedia>,
        );
        let parts: Vec<Part> = if m.media.is_empty() {
            vec![(text.to_string(), words.for_agent.clone(), None)]
        } else {
            m.media
                .iter()
                .enumerate()
                .map(|(i, media)| {
                    let (t, for_agent) = if i == 0 && !text.is_empty() {
                        (text, words.for_agent.as_deref())
                    } else {
                        (default.as_str(), None)
                    };
                    match self.inner.customer_media.check(&media.url) {
                        Ok(_) => (t.to_string(), for_agent.map(str::to_string), Some(media)),
                        Err(e) => {
                            tracing::warn!(error = %e, "a customer's file was not relayed");
                            let note = refused_file_note(&e);
                            (
                                format!("{t}\n\n⚠️ {note}"),
                                for_agent.map(|o| format!("{o}\n\n⚠️ {note}")),
                                None,
                            )
                        }
                    }
                })
                .collect()
        };
        // Webex takes at most 7439 bytes of text a message: longer words
        // (WhatsApp allows 4096 characters, an MMS text part more) go as
        // several messages and lines, in order (the agent's unmasked copy,
        // if any, cut the same way).
        let parts = parts.into_iter().flat_map(|(text, for_agent, media)| {
            let texts = platform::webex::split_text(&text);
            let originals = for_agent
                .as_deref()
                .map(platform::webex::split_text)
                .unwrap_or_default();
            (0..texts.len().max(originals.len()))
                .map(|n| {
                    (
                        texts.get(n).copied().unwrap_or_default().to_string(),
                        originals.get(n).map(|o| o.to_string()),
                        if n == 0 { media } else { None },
                    )
                })
                .collect::<Vec<_>>()
        });
        for (i, (text, for_agent, media)) in parts.enumerate() {
            if text.is_empty() && for_agent.is_none() && media.is_none() {
                continue;
            }
            let provider_id = if i == 0 {
                m.transid.clone()
            } else {
                format!("{}#{}", m.transid, i + 1)
            };
            // `posting` from the start: the job that posts it is written in
            // the same transaction, so its first try need not mark it (a
            // write the more per message).
            let line = NewMessage::new(
                &session.id,
                Direction::Inbound,
                m.channel,
                &text,
                MessageStatus::Posting,
            )
            .from_provider("connect", &provider_id)
            .with_attachment(media.map(|f| Attachment {
                url: f.url.clone(),
                mime: f.mime.clone(),
                name: f.filename.clone(),
            }));
            let sealed = for_agent.and_then(|o| self.seal_original(&o, &line.id));
            effects.jobs.push(post_job(
                session,
                format!("post:{provider_id}"),
                None,
                &text,
                media.map(|f| f.url.as_str()),
                Some(&line.id),
                sealed,
            ));
            effects.lines.push(line);
        }
    }

    /// A line from us to the customer (transcript line when there is a
    /// session, and the job that sends it).
    fn say(
        &self,
        session: Option<&Session>,
        m: &Inbound,
        line: Line,
    ) -> (Option<NewMessage>, NewJob) {
        let key = format!("say:{}:{}", m.transid, line.key());
        jobs::say(m.channel, &m.customer, session, &line, m.language, key)
    }

    /// The language to write to a customer in: their contact's, else the
    /// server's default (`CM_CUSTOMER_LANGUAGE`).
    pub(crate) async fn language_of(
        &self,
        customer: &Customer,
        session: Option<&Session>,
    ) -> Result<Language, DomainError> {
        let contact = session.and_then(|s| s.contact_id.as_deref());
        Ok(self
            .store()
            .contact_language(contact, customer)
            .await?
            .unwrap_or(self.inner.settings.customer_language))
    }

    /// An agent named by email or id, if enabled.
    pub(super) async fn find_agent(&self, reference: &str) -> Result<Option<Agent>, Failure> {
        let found = if reference.contains('@') {
            self.store().agent_by_email(&reference.to_lowercase()).await
        } else if let Ok(id) = PublicAgentId::parse(reference) {
            self.store().agent_by_public_id(&id).await
        } else {
            self.store().agent_by_id(reference).await
        };
        match found {
            Ok(agent) if !agent.disabled => Ok(Some(agent)),
            Ok(_) | Err(DomainError::NotFound { .. }) | Err(DomainError::Invalid(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The name we know the customer by: their contact, what they told the
    /// dialogue, WhatsApp's profile name, or their number.
    pub(super) async fn customer_name(
        &self,
        conversation: Option<&RelaySession>,
        m: &Inbound,
    ) -> Result<String, Failure> {
        if let Some(contact) = self.store().contact_by_channel(&m.who()).await? {
            return Ok(contact.name);
        }
        if let Some(name) = conversation.and_then(|c| c.relay.onboarding_name.clone()) {
            return Ok(name);
        }
        Ok(m.profile_name.clone().unwrap_or_else(|| m.customer.clone()))
    }

    /// Tells the customer, once per session, that card numbers are not
    /// accepted here. Written ahead of the job's other effects, so it is
    /// sent first; a retry of the job finds it recorded (and the line's key
    /// makes a second enqueue a no-op). A customer with no session yet is
    /// told without a record: they may be told again once they have one.
    async fn warn_about_cards(
        &self,
        conversation: Option<&RelaySession>,
        m: &Inbound,
    ) -> Result<(), Failure> {
        if !self.inner.settings.pci_warn_customer
            || conversation.is_some_and(|c| c.relay.pci_warned_at_ms.is_some())
        {
            return Ok(());
        }
        let session = conversation.map(|c| &c.session);
        let mut effects = Effects {
            pci_warned: session.map(|s| s.id.clone()),
            ..Effects::default()
        };
        effects.add(self.say(session, m, Line::CardNumberHidden));
        self.apply(None, effects).await?;
        Ok(())
    }

    /// The message's words: inline, plus MMS text parts fetched by URL
    /// (through Connect's fetcher; a part that may not be fetched is a
    /// note), with card numbers masked; as written too when the agent is to
    /// read them.
    async fn inbound_text(&self, m: &Inbound) -> Result<Words, Failure> {
        let mut texts = vec![m.text.clone()];
        for url in &m.text_urls {
            let fetched = match self
                .inner
                .customer_media
                .get(url, None, MMS_TEXT_MAX_BYTES)
                .await
            {
                Ok(f) if f.status().is_success() => f.bytes().await,
                Ok(f) if f.status().is_client_error() => {
                    tracing::warn!(status = %f.status(), "an MMS text part could not be fetched");
                    continue;
                }
                Ok(f) => {
                    return Err(Failure::Retry(
                        format!("MMS text part: HTTP {}", f.status()),
                        None,
                    ))
                }
                Err(e) => Err(e),
            };
            match fetched {
                Ok(bytes) => texts.push(String::from_utf8_lossy(&bytes).into_owned()),
                Err(FetchError::Unavailable(e)) => {
                    return Err(Failure::Retry(format!("MMS text part: {e}"), None))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "an MMS text part was not fetched");
                    texts.push(format!("⚠️ A text part of this MMS was not fetched: {e}."));
                }
            }
        }
        let join = |texts: &[String]| {
            texts
                .iter()
                .map(|t| t.trim())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        };
        // The inline text was masked when accepted; fetched parts are now.
        let masked = mask_card_numbers(&join(&texts));
        let cards = m.cards || masked.cards > 0;
        let for_agent = (cards && !self.inner.settings.pci_mask_for_agent).then(|| {
            if let Some(original) = m
                .sealed_text
                .as_deref()
                .and_then(|s| self.open_original(s, &m.transid))
            {
                texts[0] = original;
            }
            join(&texts)
        });
        Ok(Words {
            text: masked.text,
            for_agent,
            cards,
        })
    }

    /// Posts into an agent's space as the guest: the customer's words (then
    /// the transcript line says "sent") or a notice from us.
    pub(super) async fn post_to_agent(
        &self,
        job: &Job,
        conversation: &RelaySession,
        to: Option<&str>,
        text: &str,
        file: Option<&str>,
        line: Option<(&str, bool)>,
    ) -> Ran {
        let session = &conversation.session;
        let to = match to {
            Some(to) => to.to_string(),
            None => session
                .collab_agent_id
                .clone()
                .ok_or_else(|| Failure::Fatal("the session has no agent".into()))?,
        };
        let token = self.token(conversation).await?;
        let Some((row, first_try_of_posting_line)) = line else {
            self.inner
                .webex
                .message_person(&token, &to, text, file)
                .await?;
            return Ok(Done::Unrecorded);
        };
        // A retry may follow a post that succeeded just before a crash (the
        // row still says "posting"): Webex has no idempotency key, so look
        // before posting again. A post that failed visibly resets the row.
        // A first try of a line written `posting` with its job knows it.
        let status = match first_try_of_posting_line {
            true => Some(MessageStatus::Posting),
            false => self.store().message_status(row).await?,
        };
        // Posted, then the process died before the job was marked done.
        if status.is_some_and(|s| s >= MessageStatus::Sent && s != MessageStatus::Failed) {
            tracing::info!(attempt = job.attempts, status = ?status, "already posted");
            return Ok(Done::Unrecorded);
        }
        if job.attempts > 1 && status == Some(MessageStatus::Posting) {
            let there = self.already_posted(conversation, &token, text).await?;
            tracing::info!(
                attempt = job.attempts,
                already_posted = there,
                "retrying a post whose outcome is unknown"
            );
            if there {
                self.store()
                    .set_message_status(row, MessageStatus::Sent, None, None)
                    .await?;
                return Ok(Done::Unrecorded);
            }
        } else if job.attempts > 1 {
            tracing::info!(attempt = job.attempts, status = ?status, "retrying a post");
        }
        // A line is written `posting` with its job; one a failed try reset
        // (or from before that) is marked again before this try.
        if status != Some(MessageStatus::Posting) {
            self.store()
                .set_message_status(row, MessageStatus::Posting, None, None)
                .await?;
        }
        match self
            .inner
            .webex
            .message_person(&token, &to, text, file)
            .await
        {
            Ok(posted) => {
                super::note(|n| n.answer = Some(format!("Webex posted it: {}", posted.id)));
                if conversation.relay.room_id.as_deref() != Some(posted.room_id.as_str()) {
                    self.store().save_room(&session.id, &posted.room_id).await?;
                }
                // The line's status and the job's end commit together.
                let effects = Effects {
                    status: Some(StatusUpdate {
                        line: row.to_string(),
                        status: MessageStatus::Sent,
                        connect_transid: None,
                        error: None,
                    }),
                    ..Effects::default()
                };
                self.apply(Some(job), effects).await
            }
            Err(e) => {
                let failure = Failure::from(e.clone());
                match &failure {
                    // A refused token is retried once at once (see
                    // `Relay::run`), which sets the row again.
                    Failure::Fatal(why) | Failure::TokenRefused(why) => {
                        self.store()
                            .set_message_status(
                                row,
                                MessageStatus::Failed,
                                None,
                                Some(("webex", why)),
                            )
                            .await?
                    }
                    Failure::Retry(..) => {
                        self.store()
                            .set_message_status(row, MessageStatus::Received, None, None)
                            .await?
                    }
                }
                Err(failure)
            }
        }
    }

    /// Whether the guest's newest message in the agent's space is this text.
    /// Jobs of a conversation run in order, so only that message can be the
    /// one posted just before a crash; the agent may have written many
    /// since, so page back until the guest's newest message (bounded).
    async fn already_posted(
        &self,
        conversation: &RelaySession,
        token: &AccessToken,
        text: &str,
    ) -> Result<bool, Failure> {
        const PAGE: u32 = 100;
        const PAGES: usize = 10;
        let (Some(room), Some(guest)) = (&conversation.relay.room_id, conversation.guest_id())
        else {
            return Ok(false);
        };
        let mut before: Option<String> = None;
        for _ in 0..PAGES {
            let page = self
                .inner
                .webex
                .recent_messages(token, room, PAGE, before.as_deref())
                .await?;
            if let Some(m) = page.iter().find(|m| m.person_id == guest) {
                return Ok(m.text.as_deref() == Some(text));
            }
            match page.last() {
                Some(oldest) if page.len() == PAGE as usize => before = Some(oldest.id.clone()),
                _ => return Ok(false),
            }
        }
        Ok(false)
    }
}
