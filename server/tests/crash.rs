//! Crash safety of the native relay with real processes: the product is
//! SIGKILLed while messages flow both ways and restarted on the same port and
//! database; every message whose delivery it acknowledged reaches its
//! destination exactly once, and nothing is delivered twice.
//!
//! The simulated Webex / Connect runs as its own process (the `sandbox`
//! binary) so that its state, the destinations and the call log, survives
//! the product's death.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::driver::{free_port, wait_for, Driver};
use serde_json::Value;
use store::{Rules, Store};

const PRODUCT: &str = env!("CARGO_BIN_EXE_contact-manager");

const AGENT: &str = "agent-a@example.com"; // seeded in the standalone sandbox
const PASSWORD: &str = "a-long-test-password";
const CUSTOMER: &str = "+447700900123";

// Fixed secrets shared by both processes.
const GUEST_ISSUER_ID: &str = "crash-test-issuer";
const GUEST_ISSUER_SECRET: &str = "Y3Jhc2gtdGVzdC1ndWVzdC1pc3N1ZXItc2VjcmV0"; // base64
const OAUTH_CLIENT_ID: &str = "crash-test-client";
const OAUTH_CLIENT_SECRET: &str = "crash-test-client-secret";
const CONNECT_API_KEY: &str = "crash-test-connect-key";
const WEBHOOK_SECRET: &str = "crash-test-webhook-secret";
const INBOUND_TOKEN: &str = "crash-test-inbound-token";
const HUB_SECRET: &str = "crash-test-connect-hub-secret";

/// Messages per direction, and after how many acknowledged deliveries (both
/// directions, plus the echoes of the guest's own messages) the product is killed.
const MESSAGES: usize = 40;
const KILL_AFTER: usize = 30;
/// A job that was running when the product died stays leased (and blocks its
/// conversation) until `relay`'s 15 s lease runs out; then some slack.
const RECOVERY: Duration = Duration::from_secs(15 + 30);

/// The `sandbox` binary, next to ours. Cargo builds only the binaries of the
/// package under test (artifact dev-dependencies are unstable), so build it
/// here; cargo releases its lock before running tests, and this is a no-op
/// when it is up to date.
fn sandbox_binary() -> PathBuf {
    let product = Path::new(PRODUCT);
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-p", "sandbox", "--bin", "sandbox"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    if product.parent().and_then(|d| d.file_name()) == Some("release".as_ref()) {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p sandbox failed");
    product.with_file_name("sandbox")
}

/// Both processes and the temporary directory; killed and removed on drop,
/// also when the test panics (then their logs are printed first).
struct World {
    dir: PathBuf,
    sandbox: Option<Child>,
    product: Option<Child>,
    product_starts: u32,
    port: u16,
}

impl World {
    fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.join("db.sqlite").display())
    }

    fn product_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self, name: &str) -> Stdio {
        std::fs::File::create(self.dir.join(name)).unwrap().into()
    }

    fn start_sandbox(&mut self, port: u16) {
        let inbound = format!(
            "{}/webhooks/connect/inbound?token={INBOUND_TOKEN}",
            self.product_url()
        );
        let child = Command::new(sandbox_binary())
            .env("SANDBOX_BIND", format!("127.0.0.1:{port}"))
            .env("SANDBOX_GUEST_ISSUER_ID", GUEST_ISSUER_ID)
            .env("SANDBOX_GUEST_ISSUER_SECRET", GUEST_ISSUER_SECRET)
            .env("SANDBOX_OAUTH_CLIENT_ID", OAUTH_CLIENT_ID)
            .env("SANDBOX_OAUTH_CLIENT_SECRET", OAUTH_CLIENT_SECRET)
            .env("SANDBOX_CONNECT_API_KEY", CONNECT_API_KEY)
            .env("SANDBOX_INBOUND_URL", inbound)
            .env("SANDBOX_CONNECT_WEBHOOK_SECRET", HUB_SECRET)
            .stdout(self.log("sandbox.log"))
            .stderr(self.log("sandbox.err"))
            .spawn()
            .expect("the sandbox starts");
        self.sandbox = Some(child);
    }

    fn start_product(&mut self, sandbox: &str) {
        self.product_starts += 1;
        let log = format!("product-{}.log", self.product_starts);
        let webex = format!("{sandbox}/webex/v1");
        let child = Command::new(PRODUCT)
            .arg("serve")
            .env_remove("CM_CONFIG")
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", self.database_url())
            .env("CM_BIND", format!("127.0.0.1:{}", self.port))
            .env("CM_PUBLIC_URL", self.product_url())
            .env("CM_SANDBOX", "false")
            .env("CM_RELAY_MODE", "native")
            .env("CM_WEBEX_API_URL", &webex)
            .env("CM_WEBEX_AUTHORIZE_URL", format!("{webex}/authorize"))
            .env("CM_WEBEX_CLIENT_ID", OAUTH_CLIENT_ID)
            .env("CM_WEBEX_CLIENT_SECRET", OAUTH_CLIENT_SECRET)
            .env("CM_WEBEX_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env(
                "CM_EMBEDDED_APP_ISSUER",
                format!("{sandbox}/webex/embedded"),
            )
            .env("CM_EMBEDDED_APP_AUDIENCE", "sandbox-embedded-app")
            .env("CM_GUEST_ISSUER_ID", GUEST_ISSUER_ID)
            .env("CM_GUEST_ISSUER_SECRET", GUEST_ISSUER_SECRET)
            .env("CM_CONNECT_API_URL", format!("{sandbox}/connect"))
            .env("CM_CONNECT_API_KEY", CONNECT_API_KEY)
            .env("CM_CONNECT_SMS_SENDER_ID", "CONTACTMGR")
            .env("CM_CONNECT_WHATSAPP_APP_ID", "sandbox-whatsapp-app")
            .env("CM_CONNECT_INBOUND_TOKEN", INBOUND_TOKEN)
            .env("CM_CONNECT_WEBHOOK_SECRET", HUB_SECRET)
            .stdout(Stdio::null())
            .stderr(self.log(&log))
            .spawn()
            .expect("the product starts");
        self.product = Some(child);
    }

    /// SIGKILL: no graceful shutdown, in-flight work is cut off.
    fn kill_product(&mut self) {
        if let Some(mut child) = self.product.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for child in [self.product.take(), self.sandbox.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let mut names: Vec<_> = std::fs::read_dir(&self.dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".log") || n.ends_with(".err"))
                .collect();
            names.sort();
            for name in names {
                let text = std::fs::read_to_string(self.dir.join(&name)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(60).collect();
                eprintln!("---- {name} (last lines) ----");
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the sandbox's delivery attempts containing `needle` came to.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Fate {
    /// Still being tried (or not yet tried).
    #[default]
    Pending,
    /// The product answered 2xx: it owns the message now.
    Acknowledged,
    /// Given up: every attempt failed, or a final refusal.
    Failed,
}

fn fate(deliveries: &[Value], needle: &str) -> Fate {
    let attempts: Vec<&Value> = deliveries
        .iter()
        .filter(|d| d["body"].as_str().unwrap_or_default().contains(needle))
        .collect();
    let statuses: Vec<Option<u64>> = attempts.iter().map(|d| d["status"].as_u64()).collect();
    if statuses.iter().flatten().any(|s| (200..300).contains(s)) {
        Fate::Acknowledged
    } else if statuses.len() >= 3 // the sandbox's attempts per delivery
        || statuses
            .iter()
            .flatten()
            .any(|s| *s != 429 && *s < 500)
    {
        Fate::Failed
    } else {
        Fate::Pending
    }
}

/// How many deliveries to the product it answered with a 2xx so far.
async fn acknowledged_deliveries(driver: &Driver) -> usize {
    let calls = driver.calls(Some("delivery")).await;
    calls
        .iter()
        .filter(|c| {
            c["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s))
        })
        .count()
}

/// The sandbox and the product, running, with the agent created; the
/// driver points at both.
async fn start_world() -> (World, Driver) {
    let dir = std::env::temp_dir().join(format!("cm-crash-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut world = World {
        dir,
        sandbox: None,
        product: None,
        product_starts: 0,
        port: free_port(),
    };

    // The product's agent, with a password (the sandbox seeds the same email).
    let mut create = Command::new(PRODUCT)
        .args(["create-agent", AGENT, "--password-stdin"])
        .env_remove("CM_CONFIG")
        .env("DATABASE_URL", world.database_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = create.stdin.take().unwrap();
        writeln!(stdin, "{PASSWORD}").unwrap();
    }
    assert!(create.wait().unwrap().success(), "create-agent");

    let sandbox_port = free_port();
    let sandbox = format!("http://127.0.0.1:{sandbox_port}/sandbox");
    let driver = Driver::new(&world.product_url(), &sandbox);
    world.start_sandbox(sandbox_port);
    driver
        .wait_ready(&driver.sandbox_url("/control/clock"))
        .await;
    world.start_product(&sandbox);
    driver.wait_ready(&driver.product_url("/readyz")).await;

    (world, driver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_onboarding_dialogue_survives_a_restart() {
    let (mut world, driver) = start_world().await;
    let store = Store::connect(&world.database_url(), Rules::default())
        .await
        .unwrap();
    let phone_shows = |needle: &'static str| {
        let driver = driver.clone();
        async move {
            let what = format!("{needle:?} to reach the phone");
            wait_for(&what, Duration::from_secs(30), || async {
                let received = driver.phone_received("sms", CUSTOMER).await;
                received.iter().any(|t| t.contains(needle)).then_some(())
            })
            .await
        }
    };
    // An unknown number writes: the dialogue asks for the name.
    driver.customer_sends("sms", CUSTOMER, "Hello?").await;
    phone_shows("what is your name?").await;
    while store.pending_jobs().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    world.kill_product();
    world.start_product(&driver.sandbox);
    driver.wait_ready(&driver.product_url("/readyz")).await;

    // The restarted server remembers where the customer was.
    driver.customer_sends("sms", CUSTOMER, "Dana Restart").await;
    phone_shows("Thanks, Dana Restart.").await;
    driver.customer_sends("sms", CUSTOMER, AGENT).await;
    phone_shows("You are now connected with").await;
    let session = store
        .session_of(&customer(domain::Channel::Sms, CUSTOMER))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.collab_agent_id.as_deref(), Some(AGENT));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_messages_flow_loses_and_doubles_nothing_acknowledged() {
    let (mut world, driver) = start_world().await;

    // Provisioning done: the guest's greeting opens the agent's space.
    let agent = driver.sign_in(AGENT, PASSWORD).await;
    agent.start_conversation("Mr Doe", CUSTOMER, "sms").await;
    let token = driver.agent_token(AGENT).await;
    let greeting = "Conversation with Mr Doe on SMS";
    let room = wait_for(
        "the greeting in the agent's space",
        Duration::from_secs(20),
        || async {
            let inbox = driver.agent_inbox(&token).await;
            let found = inbox.into_iter().find(|(_, t)| t.contains(greeting));
            found.map(|(room, _)| room)
        },
    )
    .await;

    // Both directions at once, from a task; it says when to kill.
    let sender = {
        let (driver, token, room) = (driver.clone(), token.clone(), room.clone());
        tokio::spawn(async move {
            let mut agent_ids = Vec::new();
            for i in 0..MESSAGES {
                let text = format!("[customer {i:02}]");
                driver.customer_sends("sms", CUSTOMER, &text).await;
                let id = driver
                    .agent_writes(&token, &room, &format!("[agent {i:02}]"))
                    .await;
                agent_ids.push(id);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            agent_ids
        })
    };
    // Kill by the product's progress, not by the clock: once it has
    // acknowledged KILL_AFTER deliveries and its relay has work in hand (a
    // pending job is being or about to be delivered: the riskiest moment).
    let store = Store::connect(&world.database_url(), Rules::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let acked_before_kill = loop {
        let n = acknowledged_deliveries(&driver).await;
        if n >= KILL_AFTER && store.pending_jobs().await.unwrap() > 0 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} deliveries acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    world.kill_product();
    // Messages keep coming while it is down, long enough for the sandbox to
    // give up on some deliveries (3 attempts over 0.9 s); then it comes back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.start_product(&driver.sandbox);
    driver.wait_ready(&driver.product_url("/readyz")).await;
    let restarted = Instant::now();
    let agent_ids = sender.await.unwrap();

    // Wait until the sandbox has settled every delivery, the product's outbox
    // is empty, and every acknowledged message has arrived.
    let customer_texts: Vec<String> = (0..MESSAGES)
        .map(|i| format!("[customer {i:02}]"))
        .collect();
    let agent_texts: Vec<String> = (0..MESSAGES).map(|i| format!("[agent {i:02}]")).collect();
    let deadline = Instant::now() + RECOVERY;
    let (customer_fates, agent_fates, in_space, to_customer) = loop {
        let deliveries = driver.calls(Some("delivery")).await;
        // Inbound deliveries carry the customer's text; webhooks only the message id.
        let customer_fates: Vec<Fate> = customer_texts
            .iter()
            .map(|t| fate(&deliveries, t))
            .collect();
        let agent_fates: Vec<Fate> = agent_ids.iter().map(|id| fate(&deliveries, id)).collect();

        let mut in_space: HashMap<&str, usize> = HashMap::new();
        for (r, text) in driver.agent_inbox(&token).await {
            if let Some(t) = customer_texts.iter().find(|t| **t == text) {
                assert_eq!(r, room, "{t} landed in another space");
                *in_space.entry(t.as_str()).or_default() += 1;
            }
        }
        let mut to_customer: HashMap<&str, usize> = HashMap::new();
        for item in driver.connect_messages().await {
            let item = item.to_string();
            for t in agent_texts.iter().filter(|t| item.contains(t.as_str())) {
                *to_customer.entry(t.as_str()).or_default() += 1;
            }
        }

        let settled =
            !customer_fates.contains(&Fate::Pending) && !agent_fates.contains(&Fate::Pending);
        let drained = store.pending_jobs().await.unwrap() == 0;
        let arrived = customer_texts
            .iter()
            .zip(&customer_fates)
            .all(|(t, f)| *f != Fate::Acknowledged || in_space.contains_key(t.as_str()))
            && agent_texts
                .iter()
                .zip(&agent_fates)
                .all(|(t, f)| *f != Fate::Acknowledged || to_customer.contains_key(t.as_str()));
        if settled && drained && arrived {
            break (customer_fates, agent_fates, in_space, to_customer);
        }
        assert!(
            Instant::now() < deadline,
            "not recovered within {RECOVERY:?}: settled {settled}, outbox drained {drained}, \
             arrived {arrived}\ncustomer fates {customer_fates:?}\nin the space {in_space:?}\n\
             agent fates {agent_fates:?}\nto the customer {to_customer:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let dead = store.dead_jobs(100).await.unwrap();
    assert!(dead.is_empty(), "jobs given up: {dead:?}");
    let report = |texts: &[String], fates: &[Fate], seen: &HashMap<&str, usize>| {
        let mut problems = Vec::new();
        for (t, f) in texts.iter().zip(fates) {
            let n = seen.get(t.as_str()).copied().unwrap_or(0);
            let ok = match f {
                Fate::Acknowledged => n == 1,
                // Stored before the product died but never acknowledged: it may arrive, once.
                _ => n <= 1,
            };
            if !ok {
                problems.push(format!("{t}: {f:?}, delivered {n} times"));
            }
        }
        problems
    };
    let mut problems = report(&customer_texts, &customer_fates, &in_space);
    problems.extend(report(&agent_texts, &agent_fates, &to_customer));
    let acked = |fates: &[Fate]| fates.iter().filter(|f| **f == Fate::Acknowledged).count();
    // For a failure: when the product called Webex / Connect with each text in question.
    let calls = driver.calls(Some("api")).await;
    let mut evidence = Vec::new();
    for problem in &problems {
        let text = &problem[..problem.find(':').unwrap()];
        for c in &calls {
            if c["body"].as_str().unwrap_or_default().contains(text) {
                evidence.push(format!(
                    "{text}: {} {} {} -> {}",
                    c["at"], c["method"], c["path"], c["status"]
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "after the crash: {problems:#?}\n({} of {MESSAGES} customer and {} of {MESSAGES} agent messages acknowledged)\n\
         calls carrying them: {evidence:#?}",
        acked(&customer_fates),
        acked(&agent_fates),
    );
    let failed = |fates: &[Fate]| fates.iter().filter(|f| **f == Fate::Failed).count();
    eprintln!(
        "acknowledged: {} customer, {} agent messages; given up by the sandbox: {} customer, {} agent; \
         recovered {:?} after the restart",
        acked(&customer_fates),
        acked(&agent_fates),
        failed(&customer_fates),
        failed(&agent_fates),
        restarted.elapsed(),
    );
    // The crash happened mid-flow: messages were acknowledged after the restart too.
    assert!(acked(&customer_fates) + acked(&agent_fates) > acked_before_kill);
    store.close().await;
}

/// A customer on a channel, from a number in any written form (region GB).
fn customer(channel: domain::Channel, number: &str) -> domain::model::Customer {
    domain::model::Customer::parse(channel, "customer", number, Default::default())
        .expect("a valid test number")
}
