//! SQLite's write-ahead log is copied back into the database by a thread of
//! its own. Left to the default, the connection that commits does it every
//! 1,000 pages, fsyncs included, and every write behind it waits: under the
//! relay's load that was many times a second (README, Benchmark). Here a
//! passive checkpoint runs every [`EVERY`] on a connection of its own, beside
//! the writer and the readers; the writer's own checkpoint
//! (`wal_autocheckpoint` in [`crate::SQLITE_PRAGMAS`]) is only the backstop
//! for a log that grows faster than this thread copies it.

use sqlx::{AnyConnection, Connection};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the log is copied back.
const EVERY: Duration = Duration::from_millis(100);

/// Starts the checkpoint thread for the SQLite database at `url`. It runs
/// while the returned token (or a clone of it) is held.
pub fn start_checkpoints(url: &str) -> Arc<()> {
    let token = Arc::new(());
    let (url, alive) = (url.to_string(), Arc::downgrade(&token));
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            // A runtime of its own: the checkpoint's fsync blocks this
            // thread, not one of the server's.
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::warn!(error = %e, "no checkpoint thread: the writer checkpoints");
                    return;
                }
            };
            runtime.block_on(run(&url, alive));
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no checkpoint thread: the writer checkpoints");
    }
    token
}

async fn run(url: &str, alive: Weak<()>) {
    let mut conn = match AnyConnection::connect(url).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "no checkpoint connection: the writer checkpoints");
            return;
        }
    };
    while alive.strong_count() > 0 {
        // PASSIVE: copies what no reader still needs, waits for no one.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            tracing::warn!(error = %e, "checkpoint failed; trying again");
        }
        tokio::time::sleep(EVERY).await;
    }
    let _ = conn.close().await;
}
