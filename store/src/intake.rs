//! Webhook intake: an accepted event (its dedup key and the outbox jobs it
//! causes) is written before the webhook is answered.
//!
//! Events that arrive while the database is busy are written together, in
//! one transaction (group commit): no writers queueing on SQLite's lock, one
//! commit for many acknowledgements. Nothing waits for a batch to fill: a
//! lone event is written at once. SQLite has one writer; Postgres takes
//! [`POSTGRES_WRITERS`] batches at once, so a commit's round trips do not
//! hold up the events behind it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{Backend, NewJob, Store};
use domain::error::DomainError;
use domain::model::{Customer, MessageStatus};

/// At most this many events per transaction.
const MAX_BATCH: usize = 256;
/// Events waiting for the writers; more make callers wait (back-pressure).
const QUEUE: usize = 4096;
/// Batches written at once on Postgres (of its pool's 16 connections).
const POSTGRES_WRITERS: usize = 4;

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

type Reply = oneshot::Sender<Result<bool, DomainError>>;

/// The handle webhooks write through. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<(Acceptance, Reply)>,
    /// Webhooks waiting for their events to be written.
    waiting: Arc<AtomicUsize>,
}

/// Counts a webhook as waiting while it lives (its request may be dropped
/// mid-write: the count still goes down).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Intake {
    /// Starts the writer tasks (needs a Tokio runtime); they end when the
    /// last handle is dropped.
    pub fn start(store: Store) -> Intake {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITERS,
        };
        for _ in 0..writers {
            tokio::spawn(writer(store.clone(), receiver.clone()));
        }
        Intake {
            queue,
            waiting: Default::default(),
        }
    }

    /// How many webhooks are waiting for their events to be written: a
    /// flood of webhooks shows here first.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Writes the event's effects and returns once they are committed: true
    /// when it is new, false when it was accepted before (nothing written).
    pub async fn write(&self, acceptance: Acceptance) -> Result<bool, DomainError> {
        let _waiting = Waiting::new(&self.waiting);
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((acceptance, reply))
            .await
            .map_err(|_| DomainError::Storage("the intake writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| DomainError::Storage("the intake writer has stopped".into()))?
    }
}

async fn writer(store: Store, receiver: Arc<Mutex<mpsc::Receiver<(Acceptance, Reply)>>>) {
    let mut batch: Vec<(Acceptance, Reply)> = Vec::with_capacity(MAX_BATCH);
    loop {
        // One writer at a time takes what is waiting; it writes after
        // letting go, while the next writer takes what arrives meanwhile.
        {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        // Batches written at once take the keys' rows in one order, so
        // they wait for each other instead of deadlocking (a stable sort:
        // a key's events keep their order).
        batch.sort_by(|(a, _), (b, _)| first_key(a).cmp(first_key(b)));
        let events: Vec<&Acceptance> = batch.iter().map(|(a, _)| a).collect();
        let results = match write_batch(&store, &events).await {
            Ok(fresh) => fresh.into_iter().map(Ok).collect(),
            // One bad event must not fail the others: write them one by one.
            Err(_) => {
                let mut results = Vec::with_capacity(events.len());
                for event in &events {
                    results.push(write_batch(&store, &[*event]).await.map(|f| f[0]));
                }
                results
            }
        };
        for ((_, reply), result) in batch.drain(..).zip(results) {
            // The caller may have gone (client hung up): the write stands.
            let _ = reply.send(result);
        }
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
async fn write_batch(store: &Store, events: &[&Acceptance]) -> Result<Vec<bool>, DomainError> {
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
