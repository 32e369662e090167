//! Outbox drain benchmark (a command, not a test): `cargo bench -p store --bench drain`.
//!
//! Fills an outbox with a backlog of pending jobs (1k, 10k, 100k, spread over
//! 200 conversations, enqueued straight through the store), then drains a
//! fixed number of them the way the relay's worker does: claim a batch of 32
//! (one per conversation, the earliest of each), mark each one done; then
//! tops the backlog up again (not timed) and drains again, five rounds. Reports
//! the median claim+complete throughput per backlog and its ratio to the 1k
//! rate: when claiming costs O(batch), the ratio stays near 1.
//!
//! Runs on SQLite (a file in the temp directory) and, when `TEST_POSTGRES_URL`
//! is set, on Postgres too (a database of its own, dropped afterwards).
//! `DRAIN_BACKLOGS=1000,10000` picks other backlog sizes.

use std::time::{Duration, Instant};
use store::scratch::ScratchDb;
use store::{NewJob, Outcome, RetryPolicy, Rules, Store};

const CONVERSATIONS: usize = 200;
const BATCH: i64 = 32;
/// Jobs drained per measurement (all of the smallest backlog).
const DRAINED: usize = 1_000;
const LEASE: Duration = Duration::from_secs(15);
const ROUNDS: usize = 5;

fn backlogs() -> Vec<usize> {
    std::env::var("DRAIN_BACKLOGS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
}

/// Enqueues jobs `from..to`, round robin over the conversations.
async fn fill(store: &Store, from: usize, to: usize) {
    let jobs: Vec<NewJob> = (from..to)
        .map(|n| NewJob {
            kind: "bench.call".into(),
            ordering_key: format!("conversation-{}", n % CONVERSATIONS),
            idempotency_key: format!("bench-{n}"),
            payload: serde_json::json!({ "n": n, "text": "a customer's message of ordinary length" }),
        })
        .collect();
    for chunk in jobs.chunks(2_000) {
        store.enqueue_now(chunk).await.expect("enqueue");
    }
}

/// Claims and completes `DRAINED` jobs; returns jobs per second.
async fn drain(store: &Store) -> f64 {
    let policy = RetryPolicy::default();
    let started = Instant::now();
    let mut done = 0;
    while done < DRAINED {
        let jobs = store.claim_jobs(BATCH, LEASE).await.expect("claim");
        assert!(!jobs.is_empty(), "the backlog ran dry after {done} jobs");
        for job in &jobs {
            store
                .finish_job(job, &Outcome::Done, &policy, 1.0)
                .await
                .expect("finish");
        }
        done += jobs.len();
    }
    done as f64 / started.elapsed().as_secs_f64()
}

async fn open(db: &ScratchDb) -> Store {
    let store = Store::connect(&db.url(), Rules::default())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::main]
async fn main() {
    sqlx::any::install_default_drivers();
    let mut databases = vec!["sqlite"];
    let postgres = std::env::var("TEST_POSTGRES_URL").ok();
    if postgres.is_some() {
        databases.push("postgres");
    } else {
        eprintln!("(Postgres skipped: set TEST_POSTGRES_URL to measure it too)");
    }
    let mut rows = Vec::new();
    for database in databases {
        let mut base = None;
        for backlog in backlogs() {
            let db = match database {
                "sqlite" => ScratchDb::sqlite("cm-drain"),
                _ => ScratchDb::postgres(postgres.as_deref().unwrap(), "cm_drain")
                    .await
                    .expect("create a Postgres bench database"),
            };
            let store = open(&db).await;
            let filled = Instant::now();
            fill(&store, 0, backlog).await;
            eprintln!(
                "{database}: {backlog} jobs enqueued in {:.1} s",
                filled.elapsed().as_secs_f64()
            );
            let mut rates = Vec::with_capacity(ROUNDS);
            for round in 0..ROUNDS {
                rates.push(drain(&store).await);
                let next = backlog + round * DRAINED;
                fill(&store, next, next + DRAINED).await;
            }
            rates.sort_by(f64::total_cmp);
            let rate = rates[ROUNDS / 2];
            eprintln!("{database}: {backlog}: rounds {rates:.0?} jobs/s");
            let base_rate = *base.get_or_insert(rate);
            rows.push((database, backlog, rate, rate / base_rate));
            store.close().await;
            db.remove().await;
        }
    }
    // Rows of the table `scripts/bench` prints.
    println!();
    println!("| measure | database | result | goal |");
    println!("|---|---|---|---|");
    for (database, backlog, rate, ratio) in rows {
        let database = if database == "sqlite" {
            "SQLite"
        } else {
            "Postgres"
        };
        println!(
            "| outbox claim and complete, backlog of {backlog} jobs | {database} | {rate:.0} jobs/s, {:.0} % of the rate at the smallest backlog | within 20 % at 100k |",
            ratio * 100.0
        );
    }
}
