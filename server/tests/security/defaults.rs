//! Safe by default: the sandbox (where anyone can sign in as anyone) is never
//! on by accident and never reachable by others, a server missing its real
//! settings does not start, and the sandbox's call log shows no secrets.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::relay::{customer_sends, native_app_with, start_conversation};
use server::integrations::Secret;

const BIN: &str = env!("CARGO_BIN_EXE_contact-manager");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `serve` with only these settings and expects it to refuse to
/// start: returns its error output. A server that starts instead is killed
/// and the test fails (it would be serving).
fn refuses_to_start(settings: &[(&str, &str)]) -> String {
    let dir = std::env::temp_dir().join(format!("cm-sec-{}", uuid::Uuid::new_v4()));
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/db.sqlite", dir.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("CM_") {
            command.env_remove(name);
        }
    }
    for (name, value) in settings {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("binary runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            assert!(!status.success(), "it must not start: {err}");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = std::fs::remove_dir_all(&dir);
            panic!("the server started with {settings:?}: it must refuse");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_server_started_with_its_defaults_lists_what_is_missing_and_serves_nothing() {
    let port = free_port().to_string();
    let err = refuses_to_start(&[("CM_BIND", &format!("127.0.0.1:{port}"))]);
    for setting in [
        "CM_PUBLIC_URL",
        "CM_WEBEX_API_URL",
        // A new install makes guests with a Service App.
        "CM_SERVICE_APP_CLIENT_ID",
        "CM_SERVICE_APP_CLIENT_SECRET",
        "CM_SERVICE_APP_REFRESH_TOKEN",
        "CM_WEBEX_WEBHOOK_SECRET",
        "CM_CONNECT_API_URL",
        "CM_CONNECT_API_KEY",
        "CM_CONNECT_INBOUND_TOKEN",
        "CM_CONNECT_WHATSAPP_APP_ID",
        "CM_CONNECT_SMS_SENDER_ID",
    ] {
        assert!(err.contains(setting), "{setting} not named in: {err}");
    }
}

#[test]
fn the_sandbox_refuses_a_non_loopback_address() {
    let bind = format!("0.0.0.0:{}", free_port());
    let err = refuses_to_start(&[("CM_SANDBOX", "true"), ("CM_BIND", &bind)]);
    assert!(err.contains("CM_BIND"), "{err}");
}

#[test]
fn the_sandbox_refuses_an_https_public_url() {
    let bind = format!("127.0.0.1:{}", free_port());
    let err = refuses_to_start(&[
        ("CM_SANDBOX", "true"),
        ("CM_BIND", &bind),
        ("CM_PUBLIC_URL", "https://cm.example.com"),
    ]);
    assert!(err.contains("CM_PUBLIC_URL"), "{err}");
}

#[tokio::test]
async fn the_sandbox_call_log_shows_no_secrets() {
    const WEBHOOK_SECRET: &str = "webhook-secret-0123456789abcdef";
    const INBOUND_TOKEN: &str = "inbound-token-0123456789abcdef";
    let app = native_app_with(|c| {
        c.integrations.webex_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
        c.integrations.connect_inbound_token = Some(Secret::new(INBOUND_TOKEN));
    })
    .await;
    // Provisioning creates the guest's webhook (with its secret); the relay
    // sends to Connect with a receipts URL (with the token); the sandbox
    // delivers to our inbound URL (with the token).
    start_conversation(&app, "Ann Smith", "+447700900123", "sms").await;
    customer_sends(&app, "sms", "447700900123", "hello").await;
    let log = app.text("/sandbox/control/calls").await;
    assert!(log.contains("webhooks"), "the log has the calls: {log}");
    assert!(log.contains("***"), "and says where it redacted");
    for secret in [WEBHOOK_SECRET, INBOUND_TOKEN] {
        assert!(!log.contains(secret), "{secret} is in the call log");
    }
}

/// `/metrics` says how busy the relay is and who signs in: off unless a
/// token is set, and a token too short to resist guessing stops the start.
#[tokio::test]
async fn metrics_are_off_unless_a_long_enough_token_is_set() {
    let app = native_app_with(|_| {}).await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);

    let bind = format!("127.0.0.1:{}", free_port());
    let err = refuses_to_start(&[
        ("CM_SANDBOX", "true"),
        ("CM_BIND", &bind),
        ("CM_METRICS_TOKEN", "short"),
    ]);
    assert!(err.contains("CM_METRICS_TOKEN"), "{err}");
}
