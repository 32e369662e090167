//! The real binary: subcommands, serving, graceful shutdown on SIGTERM.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_contact-manager");

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
    let out = Command::new(BIN)
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let out = Command::new(BIN)
        .args(["migrate", "--phone-region", "XX"])
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown region"));
    let out = Command::new(BIN)
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://x/y")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with sqlite: or postgres:"));
    // A template variable without a known source stops the start, naming
    // the setting and the bad part.
    let out = Command::new(BIN)
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
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", db.url())
        // The sandbox generates secrets at start: none may reach the log.
        .env("CM_SANDBOX", "true")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    rt.block_on(async {
        loop {
            if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = client
            .get(format!("{url}/api/v1/contacts?q=07700900123"))
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
