//! Three replicas of the product on one Postgres, behind a round-robin load
//! balancer: customer and agent messages of two conversations flow both ways
//! while one replica is SIGKILLed and started again. Every message whose
//! delivery was acknowledged arrives exactly once, each conversation's
//! messages arrive in the order they were sent, and no job is given up.
//!
//! Needs Postgres (`TEST_POSTGRES_URL`; scripts/test provides it).

mod processes;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use processes::{acknowledged_deliveries, fate, Fate, World, AGENT, PASSWORD};
use sandbox::driver::Driver;
use serde_json::Value;
use store::scratch::{ScratchDb, POSTGRES_ENV};
use store::{Rules, Store};

const REPLICAS: usize = 3;
/// The replica that is killed.
const VICTIM: usize = 1;
/// The customers, each with a conversation of their own (a space, a key).
const CUSTOMERS: [(&str, &str); 2] = [("+447700900123", "Ann"), ("+447700900124", "Ben")];
/// Messages per conversation and direction.
const MESSAGES: usize = 25;
/// The dead replica's jobs stay leased until `relay`'s 15 s lease runs out;
/// then another replica takes them; then some slack.
const RECOVERY: Duration = Duration::from_secs(15 + 45);

fn customer_text(who: &str, i: usize) -> String {
    format!("[{who} customer {i:02}]")
}

fn agent_text(who: &str, i: usize) -> String {
    format!("[{who} agent {i:02}]")
}

/// Where `texts` occur in `seen` (in its order), each by its index in `texts`.
fn order_of(texts: &[String], seen: &[String]) -> Vec<usize> {
    seen.iter()
        .filter_map(|s| texts.iter().position(|t| s.contains(t.as_str())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_deliver_everything_once_and_in_order_when_one_is_killed() {
    let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
        assert_ne!(
            std::env::var("REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "REQUIRE_POSTGRES=1 but {POSTGRES_ENV} is not set"
        );
        eprintln!("SKIPPED: the replica test needs Postgres (set {POSTGRES_ENV})");
        return;
    };
    let db = ScratchDb::postgres(&admin_url, "cm_replicas")
        .await
        .expect("create the test database");
    let (mut world, driver) = World::start(db, REPLICAS).await;

    // Through the balancer: the agent signs in and starts both conversations.
    let agent = driver.sign_in(AGENT, PASSWORD).await;
    let token = driver.agent_token(AGENT).await;
    let mut rooms = Vec::new();
    for (number, name) in CUSTOMERS {
        let name = format!("{name} Replica");
        agent.start_conversation(&name, number, "sms").await;
        let greeting = format!("Conversation with {name} on SMS");
        rooms.push(driver.room_with(&token, &greeting).await);
    }

    // Both directions of both conversations, interleaved, from a task. It
    // stops half way until the kill is done, so the kill falls mid-flow
    // however fast or slow this machine is; the second half flows while
    // the replica is down and after it is back.
    let (half_sent, mut half_sent_rx) = tokio::sync::oneshot::channel::<()>();
    let (killed, killed_rx) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let (driver, token, rooms) = (driver.clone(), token.clone(), rooms.clone());
        tokio::spawn(async move {
            let (mut half_sent, mut killed_rx) = (Some(half_sent), Some(killed_rx));
            let mut agent_ids: Vec<Vec<String>> = vec![Vec::new(); CUSTOMERS.len()];
            for i in 0..MESSAGES {
                if i == MESSAGES / 2 {
                    let _ = half_sent.take().unwrap().send(());
                    let _ = killed_rx.take().unwrap().await;
                }
                for (c, (number, who)) in CUSTOMERS.iter().enumerate() {
                    driver
                        .customer_sends("sms", number, &customer_text(who, i))
                        .await;
                    let id = driver
                        .agent_writes(&token, &rooms[c], &agent_text(who, i))
                        .await;
                    agent_ids[c].push(id);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            agent_ids
        })
    };

    // Half sent: kill a replica, preferably while the relay has work in hand.
    let store = Store::connect(&world.db.url(), Rules::default())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), &mut half_sent_rx)
        .await
        .expect("half the messages sent within a minute")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.pending_jobs().await.unwrap() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acked_at_kill = acknowledged_deliveries(&driver).await;
    world.kill_replica(VICTIM);
    killed.send(()).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.start_replica(VICTIM);
    driver
        .wait_ready(&world.replica_url(VICTIM, "/readyz"))
        .await;
    let agent_ids = sender.await.unwrap();

    // Settled, drained and arrived, as in the crash test, per conversation.
    let deadline = Instant::now() + RECOVERY;
    loop {
        let deliveries = driver.calls(Some("delivery")).await;
        let outcome = Outcome::read(&driver, &token, &rooms, &agent_ids, &deliveries).await;
        let drained = store.pending_jobs().await.unwrap() == 0;
        if outcome.settled() && drained && outcome.arrived() {
            outcome.assert_once_and_in_order();
            let acked_in_all = acknowledged_deliveries(&driver).await;
            assert!(
                acked_in_all > acked_at_kill,
                "nothing was acknowledged after the kill ({acked_at_kill} before)"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not recovered within {RECOVERY:?}: settled {}, drained {drained}, arrived {}\n{outcome:#?}",
            outcome.settled(),
            outcome.arrived(),
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let dead = store.dead_jobs(100).await.unwrap();
    assert!(dead.is_empty(), "jobs given up: {dead:?}");
    store.close().await;
}

/// One conversation's messages: what became of each delivery to the
/// product, and what arrived at the other side, in arrival order.
#[derive(Debug)]
struct Conversation {
    customer_texts: Vec<String>,
    customer_fates: Vec<Fate>,
    /// The customer's texts as they appear in the agent's space, oldest first.
    in_space: Vec<String>,
    agent_texts: Vec<String>,
    agent_fates: Vec<Fate>,
    /// The agent's texts as Connect was asked to send them, oldest first.
    to_customer: Vec<String>,
}

#[derive(Debug)]
struct Outcome(Vec<Conversation>);

impl Outcome {
    async fn read(
        driver: &Driver,
        token: &str,
        rooms: &[String],
        agent_ids: &[Vec<String>],
        deliveries: &[Value],
    ) -> Outcome {
        let messages = driver.agent_messages(token).await;
        let sent: Vec<String> = driver
            .connect_messages()
            .await
            .iter()
            .map(Value::to_string)
            .collect();
        let mut conversations = Vec::new();
        for (c, (number, who)) in CUSTOMERS.iter().enumerate() {
            let customer_texts: Vec<String> =
                (0..MESSAGES).map(|i| customer_text(who, i)).collect();
            let agent_texts: Vec<String> = (0..MESSAGES).map(|i| agent_text(who, i)).collect();
            // Webex lists a space's messages newest first.
            let mut in_space: Vec<String> = messages
                .iter()
                .filter(|m| m["roomId"] == rooms[c].as_str())
                .filter_map(|m| m["text"].as_str())
                .filter(|t| customer_texts.iter().any(|c| c == t))
                .map(str::to_string)
                .collect();
            in_space.reverse();
            let to_customer: Vec<String> = sent
                .iter()
                .filter(|s| s.contains(&number[1..]))
                .flat_map(|s| agent_texts.iter().filter(|t| s.contains(t.as_str())))
                .cloned()
                .collect();
            conversations.push(Conversation {
                customer_fates: customer_texts.iter().map(|t| fate(deliveries, t)).collect(),
                agent_fates: agent_ids[c].iter().map(|id| fate(deliveries, id)).collect(),
                customer_texts,
                in_space,
                agent_texts,
                to_customer,
            });
        }
        Outcome(conversations)
    }

    /// The sandbox has stopped retrying every delivery.
    fn settled(&self) -> bool {
        self.0.iter().all(|c| {
            !c.customer_fates.contains(&Fate::Pending) && !c.agent_fates.contains(&Fate::Pending)
        })
    }

    /// Every acknowledged message is at the other side.
    fn arrived(&self) -> bool {
        let all_in = |texts: &[String], fates: &[Fate], seen: &[String]| {
            texts
                .iter()
                .zip(fates)
                .all(|(t, f)| *f != Fate::Acknowledged || seen.contains(t))
        };
        self.0.iter().all(|c| {
            all_in(&c.customer_texts, &c.customer_fates, &c.in_space)
                && all_in(&c.agent_texts, &c.agent_fates, &c.to_customer)
        })
    }

    fn assert_once_and_in_order(&self) {
        let mut problems = Vec::new();
        let mut acked = 0;
        for c in &self.0 {
            for (texts, fates, seen) in [
                (&c.customer_texts, &c.customer_fates, &c.in_space),
                (&c.agent_texts, &c.agent_fates, &c.to_customer),
            ] {
                let mut count: HashMap<&str, usize> = HashMap::new();
                for s in seen {
                    *count.entry(s.as_str()).or_default() += 1;
                }
                for (t, f) in texts.iter().zip(fates) {
                    let n = count.get(t.as_str()).copied().unwrap_or(0);
                    // Stored before a replica died but never acknowledged: it may arrive, once.
                    let ok = if *f == Fate::Acknowledged {
                        n == 1
                    } else {
                        n <= 1
                    };
                    if !ok {
                        problems.push(format!("{t}: {f:?}, delivered {n} times"));
                    }
                    acked += usize::from(*f == Fate::Acknowledged);
                }
                let order = order_of(texts, seen);
                if order.windows(2).any(|w| w[0] >= w[1]) {
                    problems.push(format!("out of order: {seen:?}"));
                }
            }
        }
        assert!(problems.is_empty(), "with a replica killed: {problems:#?}");
        eprintln!("{acked} messages acknowledged, each arrived once and in order");
    }
}
