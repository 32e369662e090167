//! Group commit: writes that arrive while the database is busy are written
//! together, in one transaction. No writers queue on SQLite's lock, and one
//! commit serves many callers. Nothing waits for a batch to fill: a lone
//! write is written at once. SQLite has one writer; Postgres takes
//! [`POSTGRES_WRITERS`] batches at once, so a commit's round trips do not
//! hold up the writes behind it.
//!
//! Used by the webhook intake ([`crate::Intake`]) and, on SQLite, by the
//! relay's worker for what its jobs decide.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{Backend, Store};
use domain::error::DomainError;

/// At most this many writes per transaction.
const MAX_BATCH: usize = 256;
/// Writes waiting for the writers; more make callers wait (back-pressure).
const QUEUE: usize = 4096;
/// Batches written at once on Postgres (of its pool's 16 connections).
const POSTGRES_WRITERS: usize = 4;

/// A batch's writes, in one transaction: one result per write, in order.
pub type BatchFuture<'a, R> =
    Pin<Box<dyn Future<Output = Result<Vec<R>, DomainError>> + Send + 'a>>;

/// Writes a batch (see [`BatchFuture`]).
pub type WriteBatch<T, R> = for<'a> fn(&'a Store, &'a [T]) -> BatchFuture<'a, R>;

/// The key that orders a batch: batches written at once (Postgres) take
/// their rows in one order, so they wait for each other instead of
/// deadlocking (a stable sort: one key's writes keep their order).
pub type OrderKey<T> = fn(&T) -> &str;

type Reply<R> = oneshot::Sender<Result<R, DomainError>>;
/// The queue's end the writers share: one takes a batch at a time.
type Receiver<T, R> = Arc<Mutex<mpsc::Receiver<(T, Reply<R>)>>>;

/// The handle callers write through. Cheap to clone.
pub struct GroupCommit<T, R> {
    queue: mpsc::Sender<(T, Reply<R>)>,
    /// Callers waiting for their writes to be committed.
    waiting: Arc<AtomicUsize>,
    /// What is written, for errors.
    what: &'static str,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
            waiting: self.waiting.clone(),
            what: self.what,
        }
    }
}

/// Counts a caller as waiting while it lives (its request may be dropped
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

impl<T: Send + Sync + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the writer tasks (needs a Tokio runtime); they end when the
    /// last handle is dropped. `what` names the writes in errors.
    pub fn start(
        store: Store,
        what: &'static str,
        write: WriteBatch<T, R>,
        key: OrderKey<T>,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver: Receiver<T, R> = Arc::new(Mutex::new(receiver));
        let writers = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITERS,
        };
        for _ in 0..writers {
            tokio::spawn(writer(store.clone(), receiver.clone(), write, key, what));
        }
        GroupCommit {
            queue,
            waiting: Default::default(),
            what,
        }
    }

    /// How many callers are waiting for their writes to be committed.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Writes `item` and returns its result once it is committed.
    pub async fn write(&self, item: T) -> Result<R, DomainError> {
        let _waiting = Waiting::new(&self.waiting);
        let stopped = || DomainError::Storage(format!("the {} writer has stopped", self.what));
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn writer<T, R>(
    store: Store,
    receiver: Receiver<T, R>,
    write: WriteBatch<T, R>,
    key: OrderKey<T>,
    what: &'static str,
) {
    let mut batch: Vec<(T, Reply<R>)> = Vec::with_capacity(MAX_BATCH);
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
        batch.sort_by(|(a, _), (b, _)| key(a).cmp(key(b)));
        let (items, replies): (Vec<T>, Vec<Reply<R>>) = batch.drain(..).unzip();
        let results = match write(&store, &items).await {
            Ok(results) => results.into_iter().map(Ok).collect(),
            // One bad write must not fail the others: write them one by one.
            Err(e) => {
                tracing::debug!(error = %e, writes = items.len(), "{what} batch failed; writing one by one");
                let mut results = Vec::with_capacity(items.len());
                for item in &items {
                    let one = write(&store, std::slice::from_ref(item)).await;
                    results.push(one.and_then(|mut r| {
                        r.pop()
                            .ok_or_else(|| DomainError::Storage(format!("no {what} result")))
                    }));
                }
                results
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (client hung up): the write stands.
            let _ = reply.send(result);
        }
    }
}
