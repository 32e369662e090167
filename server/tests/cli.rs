//! The real binary: subcommands, serving, graceful shutdown on SIGTERM.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::driver::{free_port, Driver};

const BIN: &str = env!("CARGO_BIN_EXE_contact-manager");

/// The binary with none of this shell's `CM_` settings (a developer's
/// `CM_SANDBOX=true` would change what the commands do): each test sets its own.
fn product() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("CM_") {
            command.env_remove(name);
        }
    }
    command
}

struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new() -> TempDb {
        TempDb(std::env::temp_dir().join(format!("cm-cli-{}/db.sqlite", uuid::Uuid::new_v4())))
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn run(db: &TempDb, args: &[&str]) -> (bool, String, String) {
    let out = product()
        .args(args)
        .env("DATABASE_URL", db.url())
        .env_remove("CM_CONFIG")
        .output()
        .expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_creates_the_database_file_and_directory() {
    let db = TempDb::new();
    let (ok, stdout, stderr) = run(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("migrations applied"));
    assert!(db.0.exists());
    let (ok, _, stderr) = run(&db, &["migrate"]);
    assert!(ok, "migrating twice is harmless: {stderr}");
}

#[test]
fn create_api_key_prints_the_key_once_and_lists_only_prefixes() {
    let db = TempDb::new();
    let (ok, stdout, stderr) = run(&db, &["create-api-key", "connect"]);
    assert!(ok, "{stderr}");
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("cm_") && key.len() == 67, "{stdout}");
    let (ok, listing, _) = run(&db, &["list-api-keys"]);
    assert!(ok);
    assert!(listing.contains("connect"));
    assert!(!listing.contains(&key), "the key is shown once only");
    let (ok, _, stderr) = run(&db, &["create-api-key", "connect"]);
    assert!(!ok);
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[test]
fn api_keys_get_scopes_and_an_expiry() {
    let db = TempDb::new();
    let (ok, stdout, stderr) = run(&db, &["create-api-key", "default-key"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("scopes connect,services") && stdout.contains("never expires"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(
        &db,
        &[
            "create-api-key",
            "tokens",
            "--scope",
            "services",
            "--expires-in-days",
            "90",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("scopes services,") && stdout.contains("expires 20"),
        "{stdout}"
    );
    let (ok, listing, _) = run(&db, &["list-api-keys"]);
    assert!(ok);
    let tokens = listing.lines().find(|l| l.contains("tokens")).unwrap();
    assert!(
        tokens.contains("scopes services ") && tokens.contains("expires 20"),
        "{tokens}"
    );
    let default = listing.lines().find(|l| l.contains("default-key")).unwrap();
    assert!(
        default.contains("scopes connect,services") && default.contains("no expiry"),
        "{default}"
    );

    let (ok, _, stderr) = run(&db, &["create-api-key", "x", "--scope", "everything"]);
    assert!(!ok);
    assert!(stderr.contains("unknown scope"), "{stderr}");
    let (ok, _, stderr) = run(&db, &["create-api-key", "y", "--expires-in-days", "0"]);
    assert!(!ok);
    assert!(stderr.contains("between 1 and 3650"), "{stderr}");
}

#[test]
fn create_agent_validates_the_email() {
    let db = TempDb::new();
    let (ok, stdout, _) = run(
        &db,
        &["create-agent", "Agent@Example.com", "--role", "admin"],
    );
    assert!(ok);
    assert!(
        stdout.contains("agent@example.com") && stdout.contains("admin"),
        "{stdout}"
    );
    let (ok, _, stderr) = run(&db, &["create-agent", "not-an-email"]);
    assert!(!ok);
    assert!(
        stderr.contains("email: not a valid email address"),
        "{stderr}"
    );
}

#[test]
fn bad_settings_are_refused_clearly() {
    let db = TempDb::new();
    let out = product()
        .args(["migrate", "--phone-region", "XX"])
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown region"));
    let out = product()
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://x/y")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with sqlite: or postgres:"));
    // A template variable without a known source stops the start, naming
    // the setting and the bad part.
    let out = product()
        .args(["migrate"])
        .env("DATABASE_URL", db.url())
        .env(
            "CM_WHATSAPP_TEMPLATE_VARIABLES",
            "customer=customer_name,shop=acme",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CM_WHATSAPP_TEMPLATE_VARIABLES") && stderr.contains("\"shop=acme\""),
        "{stderr}"
    );
}

#[test]
fn serves_then_stops_gracefully_on_sigterm_without_logging_secrets() {
    let db = TempDb::new();
    let (_, stdout, _) = run(&db, &["create-api-key", "connect"]);
    let key = stdout.lines().last().unwrap().trim().to_string();
    let port = free_port();
    let mut child = product()
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", db.url())
        // The sandbox generates secrets at start: none may reach the log.
        .env("CM_SANDBOX", "true")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let driver = Driver::mounted(&format!("http://127.0.0.1:{port}"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        driver.wait_ready(&driver.product_url("/readyz")).await;
        let r = driver
            .http
            .get(driver.product_url("/api/v1/contacts?q=07700900123"))
            .header("key", &key)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
    assert!(
        logs.contains("request_id="),
        "requests are logged with their id: {logs}"
    );
    assert!(!logs.contains(&key), "the API key never reaches the log");
    assert!(
        // The whole number: a short piece of it can appear in timestamps.
        !logs.contains("07700900123"),
        "query strings (phone numbers) are not logged"
    );
}

/// A contact made with the command line: its id.
fn add_contact(db: &TempDb, name: &str, msisdn: &str) -> String {
    let csv = db.0.with_file_name("contacts.csv");
    std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
    std::fs::write(&csv, format!("name,msisdn\n{name},{msisdn}\n")).unwrap();
    let (ok, _, stderr) = run(db, &["import-contacts", csv.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let (ok, exported, stderr) = run(db, &["export-contacts"]);
    assert!(ok, "{stderr}");
    let row = exported
        .lines()
        .find(|l| l.contains(name))
        .expect("contact exported");
    row.split(',').next().unwrap().to_string()
}

#[test]
fn start_conversation_triggers_connect_once_per_attempt_and_fails_clearly() {
    use std::sync::{Arc, Mutex};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let record = seen.clone();
    let url = rt.block_on(async move {
        let app = axum::Router::new().route(
            "/events/{id}",
            axum::routing::post(move |body: axum::body::Bytes| {
                let record = record.clone();
                async move {
                    record
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events/X", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    let db = TempDb::new();
    let (ok, _, stderr) = run(&db, &["create-agent", "a@example.com"]);
    assert!(ok, "{stderr}");
    let id = add_contact(&db, "Mr Doe", "+447700900123");
    let start = |args: &[&str]| {
        let out = product()
            .args(["start-conversation", "--contact", &id])
            .args(args)
            .env("DATABASE_URL", db.url())
            .env("CM_RELAY_MODE", "connect")
            .env("CM_CONNECT_WEBHOOK_URL", &url)
            .env_remove("CM_CONFIG")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let args = [
        "--channel",
        "sms",
        "--agent",
        "A@example.com",
        "--attempt-id",
        "cli-1",
    ];
    let (ok, stdout, stderr) = start(&args);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("SMS conversation with Mr Doe started for a@example.com: Webex Connect took the trigger"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = start(&args);
    assert!(ok, "a retry that finds it started succeeds: {stderr}");
    assert!(stdout.contains("already started"), "{stdout}");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "sent once");
    assert_eq!(got[0]["channelId"], "+447700900123");
    assert_eq!(got[0]["agentId"], "a@example.com");

    for (args, expected) in [
        (
            &["--channel", "sms", "--agent", "nobody@example.com"][..],
            "--agent: no agent has this email",
        ),
        (
            &["--channel", "fax", "--agent", "a@example.com"][..],
            "unknown channel",
        ),
        // A template is WhatsApp's, and the startConversation payload cannot carry one.
        (
            &[
                "--channel",
                "sms",
                "--agent",
                "a@example.com",
                "--template",
                "t1",
            ][..],
            "template: only WhatsApp conversations start with a template",
        ),
        (
            &[
                "--channel",
                "whatsapp",
                "--agent",
                "a@example.com",
                "--template",
                "t1",
            ][..],
            "template: with CM_RELAY_MODE=connect",
        ),
        (
            &[
                "--channel",
                "whatsapp",
                "--agent",
                "a@example.com",
                "--template",
                "t1",
                "--template-value",
                "order",
            ][..],
            "expected NAME=VALUE",
        ),
    ] {
        let (ok, _, stderr) = start(args);
        assert!(!ok, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let (ok, _, stderr) = run(
        &db,
        &[
            "start-conversation",
            "--contact",
            "no-such-contact",
            "--channel",
            "sms",
            "--agent",
            "a@example.com",
            "--relay-mode",
            "connect",
        ],
    );
    assert!(!ok);
    assert!(
        stderr.contains("contact no-such-contact not found"),
        "{stderr}"
    );
    // The native relay (the default) needs its settings, as `serve` does.
    let (ok, _, stderr) = run(
        &db,
        &[
            "start-conversation",
            "--contact",
            &id,
            "--channel",
            "sms",
            "--agent",
            "a@example.com",
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("CM_RELAY_MODE=connect"), "{stderr}");
}

#[test]
fn start_conversation_in_native_mode_is_delivered_by_the_running_server() {
    let db = TempDb::new();
    let (_, stdout, _) = run(&db, &["create-api-key", "connect"]);
    let key = stdout.lines().last().unwrap().trim().to_string();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = product()
        .args(["serve", "--bind", &bind])
        .env("DATABASE_URL", db.url())
        .env("CM_SANDBOX", "true")
        .env_remove("CM_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver::mounted(&format!("http://{bind}"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let contact_id = rt.block_on(async {
        driver.wait_ready(&driver.product_url("/readyz")).await;
        let contact: serde_json::Value = driver
            .http
            .post(driver.product_url("/api/v1/contacts"))
            .header("key", &key)
            .json(&serde_json::json!({ "name": "Mr Doe", "msisdn": "+447700900123" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        contact["id"].as_str().unwrap().to_string()
    });

    let out = product()
        .args([
            "start-conversation",
            "--contact",
            &contact_id,
            "--channel",
            "whatsapp",
            "--agent",
            "agent-a@example.com",
            "--bind",
            &bind,
        ])
        .env("DATABASE_URL", db.url())
        .env("CM_SANDBOX", "true")
        .env_remove("CM_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "WhatsApp conversation with Mr Doe started for agent-a@example.com (session "
        ),
        "{stdout}"
    );

    // The server's relay worker provisions the guest, who greets Agent A.
    let greeted = rt.block_on(async {
        let token = driver.agent_token("agent-a@example.com").await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let inbox = driver.agent_inbox(&token).await;
            if inbox
                .iter()
                .any(|(_, text)| text.contains("Conversation with Mr Doe"))
            {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(greeted, "the greeting reached Agent A's Webex");
}
