//! The SQLite checkpoint thread ends with the store: after `Store::close`
//! nothing holds the database file or opens it again (a test or the
//! benchmark removes it next). A binary of its own, since it counts this
//! process' threads by name.

use store::scratch::ScratchDb;
use store::{Rules, Store};

/// Threads of this process named as the checkpoint thread (Linux shows
/// the first 15 bytes of a thread's name).
fn checkpoint_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("this process' threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "sqlite-checkpoi")
        .count()
}

#[tokio::test]
async fn closing_a_sqlite_store_stops_its_checkpoint_thread() {
    let db = ScratchDb::sqlite("cm-checkpoint");
    let store = Store::connect(&db.url(), Rules::default())
        .await
        .expect("open the database");
    store.migrate().await.expect("migrate");
    assert_eq!(checkpoint_threads(), 1, "the store runs one");
    // A clone still held (as a handler or the worker would) does not keep
    // it running once the store is closed.
    let clone = store.clone();
    store.close().await;
    assert_eq!(checkpoint_threads(), 0, "closed: the thread has ended");
    drop(clone);
    db.remove().await;
}
