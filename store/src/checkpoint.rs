//! SQLite's write-ahead log is copied back into the database by a thread of
//! its own. Left to the default, the connection that commits does it every
//! 1,000 pages, fsyncs included, and every write behind it waits: under the
//! relay's load that was many times a second (README, Benchmark). Here a
//! passive checkpoint runs every [`EVERY`] on a connection of its own, beside
//! the writer and the readers; the writer's own checkpoint
//! (`wal_autocheckpoint` in [`crate::SQLITE_PRAGMAS`]) is only the backstop
//! for a log that grows faster than this thread copies it. Once writes
//! stop, the log file (tens of MB after a flood) is cut to nothing; under
//! load it is reused as it is (SQLite's `journal_size_limit` cut it at each
//! restart instead, and the relay's p50 at 1,000 messages a second went
//! from 6-8 ms to 23-27 ms: README, Benchmark).

use sqlx::{AnyConnection, Connection, Row};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the log is copied back.
const EVERY: Duration = Duration::from_millis(100);

/// The checkpoint thread of one SQLite database. It stops when this is
/// dropped, or with [`Checkpoints::stop`], which also waits for it.
pub struct Checkpoints {
    /// Dropped to stop the thread: it wakes at once.
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpoints {
    /// Starts the checkpoint thread for the SQLite database at `url`.
    pub fn start(url: &str) -> Checkpoints {
        let (stop, stopped) = mpsc::channel();
        let url = url.to_string();
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                // A runtime of its own: the checkpoint's fsync blocks this
                // thread, not one of the server's.
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(run(&url, stopped)),
                    Err(e) => {
                        tracing::warn!(error = %e, "no checkpoint thread: the writer checkpoints")
                    }
                }
            });
        let thread = spawned
            .map_err(|e| tracing::warn!(error = %e, "no checkpoint thread: the writer checkpoints"))
            .ok();
        Checkpoints {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(thread),
        }
    }

    /// Stops the thread and waits until it has closed its connection (a
    /// checkpoint under way ends first), so that nothing opens the database
    /// file after this returns. Blocks: call it off the async runtime.
    pub fn stop(&self) {
        if let Ok(mut stop) = self.stop.lock() {
            stop.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        // Not joined here: a drop may run on the async runtime.
        if let Ok(mut stop) = self.stop.lock() {
            stop.take();
        }
    }
}

async fn run(url: &str, stopped: mpsc::Receiver<()>) {
    let mut conn = match AnyConnection::connect(url).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "no checkpoint connection: the writer checkpoints");
            return;
        }
    };
    // A write waiting behind the truncation below would wait in its busy
    // handler: the truncation gives up at once instead.
    let _ = sqlx::query("PRAGMA busy_timeout = 0")
        .execute(&mut conn)
        .await;
    // The log's length (in frames) at the last round, when all of it had
    // been copied back.
    let mut copied_before = None;
    loop {
        // PASSIVE: copies what no reader still needs, waits for no one.
        // It answers (busy, frames in the log, frames copied back).
        let copied = match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut conn)
            .await
        {
            Ok(row) => match (row.try_get::<i64, _>(1), row.try_get::<i64, _>(2)) {
                (Ok(log), Ok(copied)) if log > 0 && log == copied => Some(log),
                _ => None,
            },
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint failed; trying again");
                None
            }
        };
        // Nothing written since the last round, and all of it copied back:
        // idle, so the file is cut to nothing. A round later, writes have
        // started the log over (or nothing is left to cut).
        if copied.is_some() && copied == copied_before {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut conn)
                .await;
        }
        copied_before = copied;
        // This thread's runtime runs nothing else: blocking it is fine.
        match stopped.recv_timeout(EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = conn.close().await;
}
