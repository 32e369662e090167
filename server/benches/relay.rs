//! Relay benchmark (a command, not a test): `cargo bench -p server --bench relay`.
//!
//! Starts the product in native relay mode on SQLite with the sandbox as
//! Webex and Connect, provisions conversations, then measures over real HTTP
//! on loopback:
//! 1. acknowledgement throughput and latency of inbound customer webhooks
//!    (each one verified, deduplicated and stored with its outbox job);
//! 2. agent-to-customer: signed Webex webhooks, the same way;
//! 3. end-to-end relay latency at a paced 200 messages per second, from the
//!    inbound POST to the guest's message arriving at (the sandbox's) Webex.
//!
//! Client, server and sandbox share the machine's cores, so the figures are a floor.

use reqwest::Client;
use sandbox::driver::Driver;
use serde_json::json;
use server::config::Config;
use server::integrations::Secret;
use server::startup::Application;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const WEBHOOK_SECRET: &str = "bench-webhook-secret";
const INBOUND_TOKEN: &str = "bench-inbound-token";
const HUB_SECRET: &str = "bench-connect-hub-secret";
const CONVERSATIONS: usize = 20;
const CONCURRENCY: usize = 32;
const BURST: Duration = Duration::from_secs(5);
const PACED_RATE: u64 = 200;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut ms: Vec<f64>, elapsed: Duration) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name}: {} acknowledged in {:.1} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms",
        ms.len(),
        elapsed.as_secs_f64(),
        ms.len() as f64 / elapsed.as_secs_f64(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99)
    );
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("cm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::for_tests(format!("sqlite://{}/bench.db", dir.display()));
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
        http: Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .unwrap(),
        ..Driver::mounted(&base)
    };

    // An agent signs in and starts SMS conversations with the customers.
    let agent = store.agent_by_email("agent-a@example.com").await.unwrap();
    store
        .set_password(&store::AuditCtx::system(), &agent.id, "bench-password-1")
        .await
        .unwrap();
    let agent = driver
        .sign_in("agent-a@example.com", "bench-password-1")
        .await;
    let mut numbers = Vec::new();
    for i in 0..CONVERSATIONS {
        let number = format!("+4477009{:05}", 10000 + i);
        agent
            .start_conversation(&format!("Customer {i}"), &number, "sms")
            .await;
        numbers.push(number);
    }
    let mut guests = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for number in &numbers {
        loop {
            let conversation = store
                .conversation_of(&customer(domain::Channel::Sms, number))
                .await
                .unwrap()
                .unwrap();
            if let (Some(guest), Some(_)) =
                (conversation.guest_id(), conversation.relay.room_id.as_ref())
            {
                guests.push(guest.to_string());
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
    let drain = |label: &'static str| {
        let store = store.clone();
        async move {
            let start = Instant::now();
            while store.pending_jobs().await.unwrap() > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            println!(
                "  ({label}: outbox drained {:.1} s after the burst)",
                start.elapsed().as_secs_f64()
            );
        }
    };
    println!(
        "{CONVERSATIONS} conversations provisioned; SQLite; {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // 1. Inbound customer messages, as fast as CONCURRENCY clients can send.
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let run = |make: Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>| {
        let counter = counter.clone();
        async move {
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..CONCURRENCY {
                let make = make.clone();
                let counter = counter.clone();
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while start.elapsed() < BURST {
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let sent = Instant::now();
                        let r = make(n).send().await.expect("server answers");
                        assert!(r.status().is_success(), "{}", r.status());
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                    latencies
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            (all, start.elapsed())
        }
    };
    let d = driver.clone();
    let nums = numbers.clone();
    let (lat, elapsed) = run(Arc::new(move |n| {
        let body = json!({
            "channel": "SMS", "tid": format!("burst-{n}"), "oa": nums[n % nums.len()],
            "da": "CONTACTMGR", "message": format!("burst {n}")
        })
        .to_string();
        d.connect_inbound(INBOUND_TOKEN, HUB_SECRET, body)
    }))
    .await;
    report("customer → agent webhooks (Connect inbound)", lat, elapsed);
    drain("customer → agent").await;

    // 2. Signed Webex webhooks (agent → customer). The messages do not exist
    // in Webex, so the worker's deliveries fail fast; this measures the ack.
    let d = driver.clone();
    let gs = guests.clone();
    let (lat, elapsed) = run(Arc::new(move |n| {
        let body = json!({
            "id": "bench-webhook", "resource": "messages", "event": "created", "createdBy": gs[n % gs.len()],
            "data": { "id": format!("bench-msg-{n}"), "personId": "bench-agent", "roomId": "r" }
        })
        .to_string();
        d.webex_webhook(WEBHOOK_SECRET, body)
    }))
    .await;
    report("agent → customer webhooks (signed Webex)", lat, elapsed);
    drain("agent → customer").await;

    // 3. End to end at a paced rate: inbound POST → guest's message at Webex.
    let total = PACED_RATE as usize * 5;
    let sent_at = Arc::new(Mutex::new(HashMap::new()));
    let wall = |i: Instant| chrono::Utc::now() - chrono::Duration::from_std(i.elapsed()).unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..total {
        let due = start + Duration::from_micros(n as u64 * 1_000_000 / PACED_RATE);
        tokio::time::sleep_until(due.into()).await;
        let (d, number, sent_at) = (
            driver.clone(),
            numbers[n % numbers.len()].clone(),
            sent_at.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let text = format!("e2e-{n}-end");
            let body = json!({ "channel": "SMS", "tid": format!("e2e-{n}"), "oa": number,
                               "da": "CONTACTMGR", "message": text })
            .to_string();
            let r = d
                .connect_inbound(INBOUND_TOKEN, HUB_SECRET, body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            sent_at.lock().await.insert(text, wall(t));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drain("paced").await;
    let calls = driver.calls(Some("api")).await;
    let sent_at = sent_at.lock().await;
    let mut e2e = Vec::new();
    for call in &calls {
        if call["method"] != "POST"
            || !call["path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/messages")
        {
            continue;
        }
        let body = call["body"].as_str().unwrap_or_default();
        let Some(start) = body.find("e2e-") else {
            continue;
        };
        let Some(len) = body[start..].find("-end") else {
            continue;
        };
        let text = &body[start..start + len + 4];
        if let (Some(sent), Ok(at)) = (
            sent_at.get(text),
            chrono::DateTime::parse_from_rfc3339(call["at"].as_str().unwrap_or_default()),
        ) {
            e2e.push(
                (at.with_timezone(&chrono::Utc) - *sent)
                    .num_microseconds()
                    .unwrap_or(0) as f64
                    / 1000.0,
            );
        }
    }
    e2e.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "end to end at {PACED_RATE}/s: {} of {total} relayed; p50 {:.1} ms, p99 {:.1} ms",
        e2e.len(),
        percentile(&e2e, 0.5),
        percentile(&e2e, 0.99)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A customer on a channel, from a number in any written form (region GB).
fn customer(channel: domain::Channel, number: &str) -> domain::model::Customer {
    domain::model::Customer::parse(channel, "customer", number, Default::default())
        .expect("a valid test number")
}
