//! What a job decided to write, and the writing of it: one transaction
//! for the job's writes and its end, on SQLite shared with the writes of
//! other jobs that end meanwhile ([`store::group_commit`]): under load the
//! worker commits once for many jobs instead of once per job.

use super::LEASE;
use domain::error::DomainError;
use domain::model::{MessageStatus, OnboardingStep};
use domain::Channel;
use store::group_commit::{BatchFuture, GroupCommit};
use store::{AttemptNote, AuditCtx, Backend, Job, NewJob, NewMessage, Store, WriteTx};

/// Writes a job decides on: transcript lines, further jobs, the dialogue.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) lines: Vec<NewMessage>,
    pub(crate) jobs: Vec<NewJob>,
    /// (session, step, name) of the onboarding dialogue.
    pub(crate) onboarding: Option<(String, Option<OnboardingStep>, Option<String>)>,
    /// A transcript line's new status (a delivery receipt).
    pub(crate) status: Option<StatusUpdate>,
    /// The session whose customer was just sent the WhatsApp template.
    pub(crate) template_sent: Option<String>,
    /// The customer opted out or back in (a keyword).
    pub(crate) consent: Option<ConsentUpdate>,
    /// The session whose customer was just told not to send card numbers.
    pub(crate) pci_warned: Option<String>,
    /// A start's template choice on its session (JSON; `None`: none chosen).
    pub(crate) start_template: Option<(String, Option<String>)>,
    /// A bot conversation opened: (id, channel, customer).
    pub(crate) bot_opened: Option<(String, Channel, String)>,
    /// A bot conversation ended: (id, how, the agent the bot named). The
    /// rest of the effects are written only if it was still open.
    pub(crate) bot_ended: Option<(String, domain::bot::BotConversationStatus, Option<String>)>,
}

pub(crate) struct ConsentUpdate {
    pub(crate) channel: Channel,
    pub(crate) customer: String,
    pub(crate) change: domain::consent::ConsentChange,
    pub(crate) source: String,
}

pub(crate) struct StatusUpdate {
    pub(crate) line: String,
    pub(crate) status: MessageStatus,
    /// The id Connect gave the message it accepted.
    pub(crate) connect_transid: Option<String>,
    /// Connect's code and reason, for a failure.
    pub(crate) error: Option<(String, String)>,
}

impl Effects {
    pub(crate) fn add(&mut self, (line, job): (Option<NewMessage>, NewJob)) {
        self.lines.extend(line);
        self.jobs.push(job);
    }
}

/// One job's writes, for the shared transaction.
pub(crate) struct Commit {
    /// The job that decided them (id, conversation): marked done with them.
    pub(crate) job: Option<(i64, String)>,
    pub(crate) effects: Effects,
    /// The try's note, for the message log.
    pub(crate) note: AttemptNote,
    /// The job may lease its conversation's next one, if it enqueued one.
    pub(crate) lease_next: bool,
}

/// The worker's writes: each answers with the job it leased, if any.
/// Grouped on SQLite, whose one writer commits them one after another
/// anyway. On Postgres each job commits on a connection of its own: the
/// pool's sixteen commit at once, which a few batch writers, a round trip
/// per statement, only slowed (at 250 messages a second, p50 54-120 ms
/// became 0.9-1.2 s).
pub(crate) enum Commits {
    Grouped(GroupCommit<Commit, Option<Job>>),
    Each(Store),
}

impl Commits {
    /// Starts the writers, if grouped (needs a Tokio runtime).
    pub(crate) fn start(store: Store) -> Commits {
        match store.backend() {
            Backend::Sqlite => Commits::Grouped(GroupCommit::start(
                store,
                "relay",
                write_batch,
                conversation,
            )),
            Backend::Postgres => Commits::Each(store),
        }
    }

    /// Writes a job's decision; once committed, the job it leased, if any.
    pub(crate) async fn write(&self, commit: Commit) -> Result<Option<Job>, DomainError> {
        match self {
            Commits::Grouped(commits) => commits.write(commit).await,
            Commits::Each(store) => {
                let mut leased = write_batch(store, std::slice::from_ref(&commit)).await?;
                Ok(leased.pop().flatten())
            }
        }
    }
}

fn conversation(commit: &Commit) -> &str {
    match &commit.job {
        Some((_, key)) => key,
        None => commit
            .effects
            .jobs
            .first()
            .map_or("", |job| job.ordering_key.as_str()),
    }
}

fn write_batch<'a>(store: &'a Store, commits: &'a [Commit]) -> BatchFuture<'a, Option<Job>> {
    Box::pin(async move {
        let mut tx = store.begin_write().await?;
        let mut leased = Vec::with_capacity(commits.len());
        for commit in commits {
            leased.push(write(&mut tx, commit).await?);
        }
        tx.commit().await?;
        Ok(leased)
    })
}

/// One job's writes, and its end when it is a job's.
async fn write(tx: &mut WriteTx, commit: &Commit) -> Result<Option<Job>, DomainError> {
    let Commit {
        job,
        effects,
        note,
        lease_next,
    } = commit;
    if let Some((id, status, agent)) = &effects.bot_ended {
        let ended = Store::end_bot_conversation(tx, id, *status, agent.as_deref()).await?;
        // A second hand-over of one conversation changes nothing. A
        // message that bypasses the bot runs whatever became of its
        // conversation (it may have been handed over meanwhile).
        if !ended && *status == domain::bot::BotConversationStatus::HandedOver {
            if let Some((job, _)) = job {
                Store::complete_job_noted(tx, *job, note).await?;
            }
            return Ok(None);
        }
    }
    if let Some((session, step, name)) = &effects.onboarding {
        Store::set_onboarding(tx, session, *step, name.as_deref()).await?;
    }
    if let Some(u) = &effects.status {
        let error = u.error.as_ref().map(|(c, d)| (c.as_str(), d.as_str()));
        Store::set_message_status_in(tx, &u.line, u.status, u.connect_transid.as_deref(), error)
            .await?;
    }
    if let Some(session) = &effects.template_sent {
        Store::set_template_sent(tx, session).await?;
    }
    if let Some(c) = &effects.consent {
        let ctx = AuditCtx::system();
        Store::change_consent(tx, &ctx, c.channel, &c.customer, c.change, &c.source).await?;
    }
    if let Some((session, choice)) = &effects.start_template {
        Store::set_start_template(tx, session, choice.as_deref()).await?;
    }
    if let Some(session) = &effects.pci_warned {
        Store::set_pci_warned(tx, session).await?;
    }
    if let Some((id, channel, customer)) = &effects.bot_opened {
        Store::open_bot_conversation_in(tx, id, *channel, customer).await?;
    }
    for line in &effects.lines {
        Store::add_message(tx, line).await?;
    }
    Store::enqueue(tx, &effects.jobs).await?;
    let Some((job, key)) = job else {
        return Ok(None);
    };
    // Its conversation has more to do (this job just enqueued it): its
    // next job is leased here for this worker slot to run.
    let more = effects.jobs.iter().any(|j| &j.ordering_key == key);
    if more && *lease_next {
        Store::complete_job_and_lease_next(tx, *job, note, LEASE).await
    } else {
        Store::complete_job_noted(tx, *job, note).await?;
        Ok(None)
    }
}
