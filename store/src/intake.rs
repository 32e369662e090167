//! Webhook intake: an accepted event (its dedup key and the outbox jobs it
//! causes) is written before the webhook is answered.
//!
//! Events that arrive while the database is busy are written together, in
//! one transaction by one writer (group commit): no writers queueing on
//! SQLite's lock, one commit for many acknowledgements. Nothing waits for a
//! batch to fill: a lone event is written at once.

use tokio::sync::{mpsc, oneshot};

use super::{NewJob, Store};
use domain::error::DomainError;

/// At most this many events per transaction.
const MAX_BATCH: usize = 256;
/// Events waiting for the writer; more make callers wait (back-pressure).
const QUEUE: usize = 4096;

/// The writes one accepted webhook event causes.
#[derive(Debug, Clone)]
pub struct Acceptance {
    /// Dedup key: (provider, event id) is accepted once.
    pub provider: &'static str,
    pub event_id: String,
    /// A customer wrote: the session's last-inbound time (WhatsApp's 24 h window).
    pub touch_session: Option<String>,
    pub jobs: Vec<NewJob>,
}

type Reply = oneshot::Sender<Result<bool, DomainError>>;

/// The handle webhooks write through. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<(Acceptance, Reply)>,
}

impl Intake {
    /// Starts the writer task (needs a Tokio runtime); it ends when the last
    /// handle is dropped.
    pub fn start(store: Store) -> Intake {
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, receiver));
        Intake { queue }
    }

    /// Writes the event's effects and returns once they are committed: true
    /// when it is new, false when it was accepted before (nothing written).
    pub async fn write(&self, acceptance: Acceptance) -> Result<bool, DomainError> {
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

async fn writer(store: Store, mut receiver: mpsc::Receiver<(Acceptance, Reply)>) {
    let mut batch: Vec<(Acceptance, Reply)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
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

async fn write_batch(store: &Store, events: &[&Acceptance]) -> Result<Vec<bool>, DomainError> {
    let mut tx = store.begin_write().await?;
    let mut fresh = Vec::with_capacity(events.len());
    for event in events {
        let new = Store::accept_event(&mut tx, event.provider, &event.event_id).await?;
        if new {
            if let Some(session) = &event.touch_session {
                Store::touch_inbound(&mut tx, session).await?;
            }
            Store::enqueue(&mut tx, &event.jobs).await?;
        }
        fresh.push(new);
    }
    tx.commit().await?;
    Ok(fresh)
}
