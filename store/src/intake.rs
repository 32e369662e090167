//! Webhook intake: an accepted event (its dedup key and the outbox jobs it
//! causes) is written before the webhook is answered, events that arrive
//! together in one transaction ([`crate::group_commit`]).

use super::group_commit::{BatchFuture, GroupCommit};
use super::{NewJob, Store};
use domain::error::DomainError;
use domain::model::{Customer, MessageStatus};

/// The writes one accepted webhook event causes.
#[derive(Debug, Clone)]
pub struct Acceptance {
    /// Dedup key: (provider, event id) is accepted once.
    pub provider: &'static str,
    pub event_id: String,
    /// A customer wrote: their session's last-inbound time (WhatsApp's 24 h
    /// window), if they have a session. Set in the same transaction, so the
    /// webhook reads nothing before it writes.
    pub touch_customer: Option<Customer>,
    /// A delivery receipt that only moves its transcript line's status
    /// (forward only: see [`MessageStatus`]), written in the same
    /// transaction: no job, nothing to call.
    pub receipt: Option<LineStatus>,
    pub jobs: Vec<NewJob>,
}

/// A transcript line's new status, as a receipt reports it.
#[derive(Debug, Clone)]
pub struct LineStatus {
    pub line: String,
    pub status: MessageStatus,
}

/// The handle webhooks write through. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    events: GroupCommit<Acceptance, bool>,
}

impl Intake {
    /// Starts the writer tasks (needs a Tokio runtime); they end when the
    /// last handle is dropped.
    pub fn start(store: Store) -> Intake {
        Intake {
            events: GroupCommit::start(store, "intake", write_batch, first_key),
        }
    }

    /// How many webhooks are waiting for their events to be written: a
    /// flood of webhooks shows here first.
    pub fn waiting(&self) -> usize {
        self.events.waiting()
    }

    /// Writes the event's effects and returns once they are committed: true
    /// when it is new, false when it was accepted before (nothing written).
    pub async fn write(&self, acceptance: Acceptance) -> Result<bool, DomainError> {
        self.events.write(acceptance).await
    }
}

fn first_key(acceptance: &Acceptance) -> &str {
    acceptance
        .jobs
        .first()
        .map_or("", |job| job.ordering_key.as_str())
}

/// Writes a batch in one transaction, a few statements whatever its size:
/// the dedup keys, the customers' sessions, the new events' jobs (and a
/// statement per receipt: they are few beside the messages).
fn write_batch<'a>(store: &'a Store, events: &'a [Acceptance]) -> BatchFuture<'a, bool> {
    Box::pin(write_events(store, events))
}

async fn write_events(store: &Store, events: &[Acceptance]) -> Result<Vec<bool>, DomainError> {
    let mut tx = store.begin_write().await?;
    let keys: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.provider, e.event_id.as_str()))
        .collect();
    let fresh = Store::accept_events(&mut tx, &keys).await?;
    let new = || {
        events
            .iter()
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .map(|(e, _)| e)
    };
    let customers: Vec<&Customer> = new().filter_map(|e| e.touch_customer.as_ref()).collect();
    Store::touch_inbound(&mut tx, &customers).await?;
    for receipt in new().filter_map(|e| e.receipt.as_ref()) {
        Store::set_message_status_in(&mut tx, &receipt.line, receipt.status, None, None).await?;
    }
    let jobs: Vec<&NewJob> = new().flat_map(|e| &e.jobs).collect();
    Store::enqueue_all(&mut tx, &jobs).await?;
    tx.commit().await?;
    Ok(fresh)
}
