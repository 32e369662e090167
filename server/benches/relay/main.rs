//! Relay benchmark (a command, not a test): `cargo bench -p server --bench relay`,
//! or `scripts/bench` for every benchmark in one table.
//!
//! Starts the product in native relay mode with the sandbox as Webex and
//! Connect, on SQLite (a file in the temp directory) or, with `--postgres`,
//! on a Postgres database of its own (`TEST_POSTGRES_URL` names the server;
//! the database is dropped afterwards). With `--replicas N` (Postgres only)
//! it starts N products on that database, each with its own port and
//! worker, and a sandbox of their own; the conversations' customers write to
//! them in turn. It provisions 200 SMS conversations, then over real HTTP on
//! loopback:
//! 1. **Acknowledgement.** 32 closed-loop clients post customers' webhooks
//!    for 5 s, to the product and to [`floor`] (the least any service can do
//!    for the same webhook, on the same database); the product's rate and
//!    p99 are given beside the floor's. Then signed Webex webhooks, the same
//!    way. The outbox each burst leaves is drained and timed.
//! 2. **Capacity.** Paced loads at rising rates, customers' and agents'
//!    messages alternating over the 200 conversations, 4 s each: the time
//!    from each POST to the message's arrival at the other side (the guest's
//!    post into the agent's space; the send to the customer through
//!    Connect), and how many were still on their way when the load stopped.
//!    Capacity is the highest rate with p99 <= 50 ms and at most 100 ms of
//!    messages left behind.
//! 3. **One busy conversation.** One customer sends 100 messages a second
//!    for 4 s: the rate they reach the agent, and whether in order.
//! 4. **Pages.** The signed-in agent's contacts page, rendered on the
//!    server, for 1 and for 32 closed-loop clients.
//!
//! To profile one part: `--pages-only` runs only the pages, `--ack-only`
//! only the acknowledgement bursts (phase 1), `--rate N` only a paced load
//! of N messages a second.
//!
//! Client, server, worker and sandbox share the machine's cores. Prints its
//! rows of the table `scripts/bench` prints (`| measure | database | result |
//! goal |`).

mod floor;

// The product's allocator (server/src/main.rs), for the product, the
// sandbox and the clients alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use reqwest::Client;
use sandbox::driver::{free_port, Driver};
use sandbox::standalone::{Standalone, HUB_SECRET, INBOUND_TOKEN, WEBHOOK_SECRET};
use serde_json::{json, Value};
use server::config::{Config, Sources};
use server::integrations::Secret;
use server::startup::Application;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::scratch::ScratchDb;
use store::Store;

const CONVERSATIONS: usize = 200;
const CONCURRENCY: usize = 32;
const BURST: Duration = Duration::from_secs(5);
const RATES: [u64; 5] = [100, 250, 500, 1_000, 2_000];
const PACED: Duration = Duration::from_secs(4);
const BUSY_RATE: u64 = 100;
/// A paced run meets its rate when p99 is at most this...
const P99_GOAL_MS: f64 = 50.0;
/// ...and what is still on its way when the load stops is at most this much of it.
const LEFT_BEHIND: Duration = Duration::from_millis(100);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One row of the table.
fn row(measure: &str, database: &str, result: String, goal: &str) {
    println!("| {measure} | {database} | {result} | {goal} |");
}

/// The benchmark's databases: on the Postgres server of `admin_url` (with
/// `--postgres`), else SQLite files; all removed at the end.
struct Db {
    admin_url: Option<String>,
    /// Products on the database (1, or more with `--replicas`).
    replicas: usize,
    /// `--pages-only`: only the pages (phase 4), e.g. to profile them.
    pages_only: bool,
    /// `--rate N`: only the paced load at N messages a second (phase 2),
    /// e.g. to profile it.
    rate: Option<u64>,
    /// `--ack-only`: only the acknowledgement bursts and their delivery
    /// (phase 1), e.g. to profile them.
    ack_only: bool,
    made: std::sync::Mutex<Vec<ScratchDb>>,
}

impl Db {
    /// The table's database column.
    fn name(&self) -> String {
        match (&self.admin_url, self.replicas) {
            (None, _) => "SQLite".into(),
            (Some(_), 1) => "Postgres".into(),
            (Some(_), n) => format!("Postgres, {n} replicas"),
        }
    }

    /// A new database's URL (`purpose`: part of its name).
    async fn create(&self, purpose: &str) -> String {
        let db = match &self.admin_url {
            Some(admin_url) => ScratchDb::postgres(admin_url, &format!("cm_bench_{purpose}"))
                .await
                .expect("create a bench database"),
            None => ScratchDb::sqlite(&format!("cm-bench-{purpose}")),
        };
        let url = db.url();
        self.made.lock().unwrap().push(db);
        url
    }

    async fn drop_all(&self) {
        let made = std::mem::take(&mut *self.made.lock().unwrap());
        for db in made {
            db.remove().await;
        }
    }
}

#[tokio::main]
async fn main() {
    // The product's log, when asked for (e.g. RUST_LOG=warn), on stderr.
    if let Ok(filter) = std::env::var("RUST_LOG") {
        server::telemetry::init(server::config::LogFormat::Text, Some(&filter));
    }
    sqlx::any::install_default_drivers();
    let admin_url = std::env::args().any(|a| a == "--postgres").then(|| {
        std::env::var("TEST_POSTGRES_URL").expect(
            "--postgres needs TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)",
        )
    });
    let replicas =
        flag_value("--replicas").map_or(1, |n| n.parse().expect("--replicas takes a number"));
    assert!(
        replicas == 1 || admin_url.is_some(),
        "--replicas needs --postgres: SQLite has one writer"
    );
    let db = Db {
        admin_url,
        replicas,
        pages_only: std::env::args().any(|a| a == "--pages-only"),
        rate: flag_value("--rate").map(|n| n.parse().expect("--rate takes messages a second")),
        ack_only: std::env::args().any(|a| a == "--ack-only"),
        made: Default::default(),
    };
    let store = run(&db).await;
    // Closed before its file goes: a connection opened afterwards would
    // create the file again.
    store.close().await;
    db.drop_all().await;
}

/// The argument after `flag`, if given.
fn flag_value(flag: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != flag).nth(1)
}

/// Runs the benchmark's phases; the product's store, to close.
async fn run(db: &Db) -> Store {
    let database = &db.name();
    let url = db.create("product").await;
    let http = Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let (drivers, store) = if db.replicas == 1 {
        start_product(url, &http).await
    } else {
        start_replicas(url, db.replicas, &http).await
    };
    let driver = &drivers[0];
    let (conversations, cookie) = provision(driver, &store).await;
    let agent_token = driver.agent_token("agent-a@example.com").await;
    eprintln!(
        "{database}: {CONVERSATIONS} conversations provisioned; {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    if let Some(rate) = db.rate {
        let rates = [rate];
        capacity(
            database,
            &rates,
            &drivers,
            &store,
            &conversations,
            &agent_token,
        )
        .await;
        return store;
    }
    if !db.pages_only {
        relay(db, &drivers, &store, &conversations, &agent_token).await;
    }
    if db.ack_only {
        return store;
    }
    // 4. The agent's contacts page, rendered on the server.
    let first = driver
        .http
        .get(driver.product_url("/contacts"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.url().path(),
        "/contacts",
        "signed in, not sent to sign in"
    );
    assert!(
        first.text().await.unwrap().contains("Customer 1"),
        "the page lists contacts"
    );
    for clients in [1, CONCURRENCY] {
        let (d, cookie) = (drivers.clone(), cookie.clone());
        let page = burst_with(
            clients,
            Arc::new(move |n| {
                let d = &d[n % d.len()];
                d.http
                    .get(d.product_url("/contacts"))
                    .header("cookie", &cookie)
                    .header("accept", "text/html")
            }),
        )
        .await;
        row(
            &format!("contacts page, signed in ({CONVERSATIONS} contacts, first page), {clients} client(s) for 5 s"),
            database,
            format!(
                "{:.0} pages/s; p50 {:.1} ms, p99 {:.1} ms",
                page.rate(),
                page.p(0.5),
                page.p(0.99)
            ),
            if clients == 1 { "" } else { "p99 <= 10 ms" },
        );
    }

    let peak_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    row(
        "peak memory of the run (product, sandbox and clients in one process)",
        database,
        format!("{} MB", peak_kb / 1024),
        "",
    );
    store
}

/// Phases 1 to 3: acknowledgement, capacity, one busy conversation.
async fn relay(
    db: &Db,
    drivers: &[Driver],
    store: &Store,
    conversations: &[Conversation],
    agent_token: &str,
) {
    let database = &db.name();
    let driver = &drivers[0];
    // 1. Acknowledgement: the floor first, while the product is idle.
    let floor = floor::start(&db.create("floor").await, INBOUND_TOKEN, HUB_SECRET).await;
    let floor_driver = Driver {
        http: driver.http.clone(),
        ..Driver::mounted(&format!("http://{floor}"))
    };
    let floor_ack = burst(Arc::new(customer_webhook(
        std::slice::from_ref(&floor_driver),
        conversations,
        "floor",
    )))
    .await;
    let ack = burst(Arc::new(customer_webhook(drivers, conversations, "burst"))).await;
    let (floor_rate, floor_p99) = (floor_ack.rate(), floor_ack.p(0.99));
    row(
        "customer webhooks acknowledged (32 clients, 5 s)",
        database,
        format!(
            "{:.0}/s = {:.0} % of the floor ({floor_rate:.0}/s); p50 {:.1} ms, p99 {:.1} ms (floor {floor_p99:.1} ms)",
            ack.rate(),
            100.0 * ack.rate() / floor_rate,
            ack.p(0.5),
            ack.p(0.99)
        ),
        ">= 80 % of the floor, p99 <= 20 ms",
    );
    let (drained, took) = drain(store).await;
    let delivering = ack.elapsed + took;
    row(
        "delivery of that burst (it starts with the burst)",
        database,
        format!(
            "{} messages delivered {:.1} s after the burst ended = {:.0}/s",
            ack.latencies.len(),
            took.as_secs_f64(),
            ack.latencies.len() as f64 / delivering.as_secs_f64()
        ),
        "keeps up with acknowledgement",
    );
    eprintln!("  ({drained} jobs)");

    // Signed Webex webhooks (agent → customer). The messages do not exist in
    // Webex, so their deliveries fail at once; this measures the ack.
    let guests: Vec<String> = conversations.iter().map(|c| c.guest.clone()).collect();
    let d = drivers.to_vec();
    let webex = burst(Arc::new(move |n| {
        let body = json!({
            "id": "bench-webhook", "resource": "messages", "event": "created",
            "createdBy": guests[n % guests.len()],
            "data": { "id": format!("bench-msg-{n}"), "personId": "bench-agent", "roomId": "r" }
        })
        .to_string();
        d[n % d.len()].webex_webhook(WEBHOOK_SECRET, body)
    }))
    .await;
    row(
        "signed Webex webhooks acknowledged (32 clients, 5 s)",
        database,
        format!(
            "{:.0}/s; p50 {:.1} ms, p99 {:.1} ms",
            webex.rate(),
            webex.p(0.5),
            webex.p(0.99)
        ),
        ">= 2,000/s, p99 <= 20 ms",
    );
    drain(store).await;
    if db.ack_only {
        return;
    }

    // 2. Capacity: paced, mixed, rising.
    capacity(database, &RATES, drivers, store, conversations, agent_token).await;

    // 3. One busy conversation.
    let busy = Load {
        drivers,
        agent_token,
        conversations: &conversations[..1],
        store,
    }
    .paced("busy", BUSY_RATE, PACED, Mix::Customers)
    .await;
    let span = busy
        .arrived
        .iter()
        .map(|m| m.arrived_ms)
        .fold(f64::NAN, f64::max);
    // Arrivals are in the sandbox's log order.
    let in_order = busy.arrived.windows(2).all(|w| w[0].index < w[1].index);
    row(
        &format!("one conversation, {BUSY_RATE} customer messages/s for 4 s"),
        database,
        format!(
            "{} of {} relayed, {}; {:.0} messages/s reached the agent; p50 {:.1} ms, p99 {:.1} ms",
            busy.arrived.len(),
            busy.sent,
            if in_order { "in order" } else { "OUT OF ORDER" },
            busy.arrived.len() as f64 / (span / 1000.0),
            busy.p50(),
            busy.p99()
        ),
        ">= 50 messages/s, in order",
    );
}

/// Phase 2: paced loads at `rates`, and the highest that meets the goals.
async fn capacity(
    database: &str,
    rates: &[u64],
    drivers: &[Driver],
    store: &Store,
    conversations: &[Conversation],
    agent_token: &str,
) {
    let mut capacity = None;
    for &rate in rates {
        let load = Load {
            drivers,
            agent_token,
            conversations,
            store,
        };
        let result = load
            .paced(&format!("r{rate}"), rate, PACED, Mix::Both)
            .await;
        let left_limit = (rate as f64 * LEFT_BEHIND.as_secs_f64()).ceil() as usize;
        let met = result.p99() <= P99_GOAL_MS && result.left_behind <= left_limit;
        if met {
            capacity = Some(rate);
        }
        row(
            &format!("{rate} messages/s for 4 s, customers' and agents' mixed"),
            database,
            format!(
                "{} of {} relayed; p50 {:.1} ms, p99 {:.1} ms; {} on their way when the load stopped ({} jobs in our outbox); {}{}",
                result.arrived.len(),
                result.sent,
                result.p50(),
                result.p99(),
                result.left_behind,
                result.backlog_jobs,
                if result.arrived.len() == result.sent {
                    format!("the last arrived {:.1} s later", result.drained_after.as_secs_f64())
                } else {
                    format!("MISSING {} after {:.0} s", result.sent - result.arrived.len(), result.drained_after.as_secs_f64())
                },
                if met { "" } else { " (over)" }
            ),
            "p99 <= 50 ms, <= 100 ms of messages left",
        );
    }
    row(
        "capacity (highest rate within both goals)",
        database,
        match capacity {
            Some(rate) => format!("{rate} messages/s"),
            None => format!("below {} messages/s", rates[0]),
        },
        ">= 1,000 messages/s (SQLite)",
    );
}

/// The product with the sandbox mounted on it, as `scripts/run` starts it:
/// its driver and store.
async fn start_product(url: String, http: &Client) -> (Vec<Driver>, Store) {
    let mut config = Config::for_tests(url);
    config.integrations.sandbox = true;
    config.relay_mode = server::config::RelayMode::Native;
    config.integrations.webex_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    config.integrations.connect_inbound_token = Some(Secret::new(INBOUND_TOKEN));
    config.integrations.connect_webhook_secret = Some(Secret::new(HUB_SECRET));
    config.max_body_bytes = 1 << 20;
    let app = Application::build(config).await.expect("server starts");
    let base = format!("http://{}", app.addr());
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    let driver = Driver {
        http: http.clone(),
        ..Driver::mounted(&base)
    };
    (vec![driver], store)
}

/// `replicas` products on one database, as a deployment runs them, with a
/// sandbox of their own as Webex and Connect: a driver for each (all with
/// the one sandbox) and the store. The agent is created (no sandbox seeds it).
async fn start_replicas(url: String, replicas: usize, http: &Client) -> (Vec<Driver>, Store) {
    let sandbox = Standalone { port: free_port() };
    // Runs until the benchmark ends.
    drop(sandbox.serve(None).await);
    let mut drivers = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..replicas {
        let port = free_port();
        let public = format!("http://127.0.0.1:{port}");
        let mut env = sandbox.product_env();
        env.extend([
            ("DATABASE_URL".to_string(), url.clone()),
            ("CM_BIND".to_string(), format!("127.0.0.1:{port}")),
            ("CM_PUBLIC_URL".to_string(), public.clone()),
        ]);
        let mut config = Config::load(Sources {
            env,
            ..Sources::default()
        })
        .expect("the replica's settings are valid")
        .config;
        config.max_body_bytes = 1 << 20;
        let app = Application::build(config).await.expect("server starts");
        stores.push(app.store().clone());
        tokio::spawn(app.run_until_stopped());
        drivers.push(Driver {
            http: http.clone(),
            ..Driver::new(&public, &sandbox.url())
        });
    }
    let store = stores.swap_remove(0);
    store
        .upsert_agent(
            &store::AuditCtx::system(),
            "agent-a@example.com",
            Some("Agent A"),
            domain::model::Role::Agent,
        )
        .await
        .expect("the agent is created");
    (drivers, store)
}

/// A provisioned conversation: its customer, guest and agent's space.
struct Conversation {
    number: String,
    guest: String,
    room: String,
}

/// Agent A starts an SMS conversation with each customer; waits until each
/// has its guest and space.
async fn provision(driver: &Driver, store: &Store) -> (Vec<Conversation>, String) {
    let agent = store.agent_by_email("agent-a@example.com").await.unwrap();
    store
        .set_password(&store::AuditCtx::system(), &agent.id, "bench-password-1")
        .await
        .unwrap();
    let agent = driver
        .sign_in("agent-a@example.com", "bench-password-1")
        .await;
    let numbers: Vec<String> = (0..CONVERSATIONS)
        .map(|i| format!("+4477009{:05}", 10000 + i))
        .collect();
    for (i, number) in numbers.iter().enumerate() {
        agent
            .start_conversation(&format!("Customer {i}"), number, "sms")
            .await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut out = Vec::new();
    for number in numbers {
        loop {
            let customer = domain::model::Customer::parse(
                domain::Channel::Sms,
                "customer",
                &number,
                Default::default(),
            )
            .expect("a valid test number");
            let conversation = store.relay_session_of(&customer).await.unwrap().unwrap();
            if let (Some(guest), Some(room)) =
                (conversation.guest_id(), conversation.relay.room_id.as_ref())
            {
                out.push(Conversation {
                    number: number.clone(),
                    guest: guest.to_string(),
                    room: room.clone(),
                });
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "provisioning did not finish: pending {}, dead {:?}",
                    store.pending_jobs().await.unwrap(),
                    store.dead_jobs(3).await.unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    drain(store).await;
    (out, agent.cookie)
}

/// Connect delivering customer `n`'s message (round robin over the conversations).
fn customer_webhook(
    drivers: &[Driver],
    conversations: &[Conversation],
    label: &'static str,
) -> impl Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static {
    let drivers = drivers.to_vec();
    let numbers: Vec<String> = conversations.iter().map(|c| c.number.clone()).collect();
    move |n| {
        let c = n % numbers.len();
        let body = json!({
            "channel": "SMS", "tid": format!("{label}-{n}"), "oa": numbers[c],
            "da": "CONTACTMGR", "message": format!("{label} {n}")
        })
        .to_string();
        drivers[c % drivers.len()].connect_inbound(INBOUND_TOKEN, HUB_SECRET, body)
    }
}

/// The latencies of a closed-loop burst.
struct Burst {
    latencies: Vec<f64>,
    elapsed: Duration,
}

impl Burst {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn p(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }
}

/// `CONCURRENCY` clients each send the next request as soon as the last is
/// answered, for `BURST`; every answer must be a 2xx.
async fn burst(make: Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>) -> Burst {
    burst_with(CONCURRENCY, make).await
}

async fn burst_with(
    clients: usize,
    make: Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>,
) -> Burst {
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let make = make.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while start.elapsed() < BURST {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let r = make(n).send().await.expect("server answers");
                assert!(r.status().is_success(), "{}", r.status());
                // The whole answer, as a client reads it.
                r.bytes().await.expect("the body arrives");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort_by(f64::total_cmp);
    Burst { latencies, elapsed }
}

/// Waits until the outbox is empty; how many jobs were pending, and how long it took.
async fn drain(store: &Store) -> (i64, Duration) {
    let start = Instant::now();
    let pending = store.pending_jobs().await.unwrap();
    while store.pending_jobs().await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "the outbox did not drain in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (pending, start.elapsed())
}

#[derive(Clone, Copy, PartialEq)]
enum Mix {
    /// Customers' and agents' messages alternate in each conversation.
    Both,
    Customers,
}

impl Mix {
    /// Whether message `n` of a load over `count` conversations is an agent's.
    fn is_agents(self, n: usize, count: usize) -> bool {
        self == Mix::Both && (n / count) % 2 == 1
    }
}

struct Load<'a> {
    /// A conversation's customer writes to the product of its index (mod their number).
    drivers: &'a [Driver],
    agent_token: &'a str,
    conversations: &'a [Conversation],
    store: &'a Store,
}

/// A message that arrived: which one, when (ms after the load started),
/// and how long after it was sent.
struct Arrival {
    index: usize,
    arrived_ms: f64,
    latency_ms: f64,
}

struct Paced {
    sent: usize,
    /// In the order they arrived.
    arrived: Vec<Arrival>,
    /// Sorted latencies.
    latencies: Vec<f64>,
    /// Messages not yet at the other side when the load stopped.
    left_behind: usize,
    backlog_jobs: i64,
    /// From the end of the load until the last message arrived.
    drained_after: Duration,
}

impl Paced {
    fn p50(&self) -> f64 {
        percentile(&self.latencies, 0.5)
    }
    fn p99(&self) -> f64 {
        percentile(&self.latencies, 0.99)
    }
}

impl Load<'_> {
    /// Sends `rate` messages a second for `duration`, round robin over the
    /// conversations; message `n` carries the text `{label}-{n}-end`.
    async fn paced(&self, label: &str, rate: u64, duration: Duration, mix: Mix) -> Paced {
        let since = self.drivers[0]
            .calls(Some("api"))
            .await
            .last()
            .and_then(|c| c["seq"].as_u64())
            .unwrap_or(0);
        let total = (rate as f64 * duration.as_secs_f64()) as usize;
        let start = Instant::now();
        let started_at = chrono::Utc::now();
        // Message n is due at n / rate, in conversation n mod the count. A
        // conversation's messages go one after another, each once the last is
        // acknowledged, as a platform delivers them: their order is defined.
        let count = self.conversations.len();
        let mut tasks = Vec::with_capacity(count);
        for (c, conversation) in self.conversations.iter().enumerate() {
            let driver = self.drivers[c % self.drivers.len()].clone();
            let (number, room, token, label) = (
                conversation.number.clone(),
                conversation.room.clone(),
                self.agent_token.to_string(),
                label.to_string(),
            );
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                for n in (c..total).step_by(count) {
                    let due = start + Duration::from_micros(n as u64 * 1_000_000 / rate);
                    tokio::time::sleep_until(due.into()).await;
                    let text = format!("{label}-{n}-end");
                    sent.push((n, chrono::Utc::now()));
                    if mix.is_agents(n, count) {
                        driver.agent_writes(&token, &room, &text).await;
                    } else {
                        let body = json!({ "channel": "SMS", "tid": text, "oa": number,
                                           "da": "CONTACTMGR", "message": text })
                        .to_string();
                        let r = driver
                            .connect_inbound(INBOUND_TOKEN, HUB_SECRET, body)
                            .send()
                            .await
                            .unwrap();
                        assert!(r.status().is_success(), "{}", r.status());
                    }
                }
                sent
            }));
        }
        let mut sent_at = vec![started_at; total];
        for t in tasks {
            for (n, at) in t.await.unwrap() {
                sent_at[n] = at;
            }
        }
        let ended_at = chrono::Utc::now();
        let backlog_jobs = self.store.pending_jobs().await.unwrap();
        // Until every message is at the other side (the platforms' own queues
        // included, not only our outbox), or nothing more comes for 30 s.
        let waited = Instant::now();
        let prefix = format!("{label}-");
        let mut arrived = Vec::new();
        let mut seen = vec![false; total];
        // Each poll reads only the calls logged since the last one, so
        // waiting takes little from the delivery it waits for.
        let mut cursor = since;
        let mut last_progress = Instant::now();
        loop {
            let calls = self.drivers[0].calls_since("api", cursor).await;
            cursor = calls
                .last()
                .and_then(|c| c["seq"].as_u64())
                .unwrap_or(cursor);
            let before = arrived.len();
            let found = Found {
                prefix: &prefix,
                mix,
                started_at,
                sent_at: &sent_at,
            };
            self.arrivals(&calls, &found, &mut seen, &mut arrived);
            if arrived.len() > before {
                last_progress = Instant::now();
            }
            if arrived.len() == total || last_progress.elapsed() > Duration::from_secs(30) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let drained_after = waited.elapsed();
        drain(self.store).await;
        let load_ms = ms_between(started_at, ended_at);
        let left_behind = total - arrived.iter().filter(|a| a.arrived_ms <= load_ms).count();
        let mut latencies: Vec<f64> = arrived.iter().map(|a| a.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        for (who, agent) in [("customers'", false), ("agents'", true)] {
            let mut of: Vec<f64> = arrived
                .iter()
                .filter(|a| mix.is_agents(a.index, count) == agent)
                .map(|a| a.latency_ms)
                .collect();
            of.sort_by(f64::total_cmp);
            if !of.is_empty() {
                eprintln!(
                    "  {label}: {who} {} arrived, p50 {:.1} ms, p99 {:.1} ms",
                    of.len(),
                    percentile(&of, 0.5),
                    percentile(&of, 0.99)
                );
            }
        }
        Paced {
            sent: total,
            arrived,
            latencies,
            left_behind,
            backlog_jobs,
            drained_after,
        }
    }

    /// Adds the messages of a load found in these calls of the sandbox's
    /// log to `arrived`, in arrival order; `seen` marks those already there.
    fn arrivals(
        &self,
        calls: &[Value],
        found: &Found<'_>,
        seen: &mut [bool],
        arrived: &mut Vec<Arrival>,
    ) {
        let count = self.conversations.len();
        for call in calls {
            if call["method"] != "POST" {
                continue;
            }
            let Some(index) = tagged(call, found.prefix).filter(|&n| n < seen.len()) else {
                continue;
            };
            if !arrives(call, found.mix.is_agents(index, count)) {
                continue;
            }
            let Ok(at) = chrono::DateTime::parse_from_rfc3339(call["at"].as_str().unwrap_or(""))
            else {
                continue;
            };
            // The first arrival counts (a retry's second post would be a duplicate).
            if std::mem::replace(&mut seen[index], true) {
                continue;
            }
            let at = at.with_timezone(&chrono::Utc);
            arrived.push(Arrival {
                index,
                arrived_ms: ms_between(found.started_at, at),
                latency_ms: ms_between(found.sent_at[index], at),
            });
        }
    }
}

/// What tells a load's messages and their times.
struct Found<'a> {
    /// Message n carries `{prefix}{n}-end`.
    prefix: &'a str,
    mix: Mix,
    started_at: chrono::DateTime<chrono::Utc>,
    sent_at: &'a [chrono::DateTime<chrono::Utc>],
}

fn ms_between(from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1000.0
}

/// Where a message arrives: an agent's at Connect (a send to the customer),
/// a customer's at Webex (the guest's post into the agent's space; the
/// agent's own post is at Webex too, but is where it starts).
fn arrives(call: &Value, from_agent: bool) -> bool {
    let path = call["path"].as_str().unwrap_or_default();
    if from_agent {
        path.starts_with("/connect/")
    } else {
        path == "/webex/v1/messages"
    }
}

/// The `n` of the first `{prefix}{n}-end` in the call's body.
fn tagged(call: &Value, prefix: &str) -> Option<usize> {
    let body = call["body"].as_str()?;
    let start = body.find(prefix)? + prefix.len();
    let len = body[start..].find("-end")?;
    body[start..start + len].parse().ok()
}
