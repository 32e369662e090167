//! Floods are refused cheaply: sign-in attempts per address and per account,
//! bad API keys, oversized bodies and requests that never finish.

use reqwest::StatusCode;
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;

use crate::common::{call, TestApp};

async fn try_password(app: &TestApp, email: &str) -> (StatusCode, Option<String>) {
    let (status, body, headers) = call(
        app,
        None,
        "sign-in",
        &[
            ("email", email),
            ("password", "wrong-password"),
            ("next", "/"),
        ],
    )
    .await;
    let retry_after = headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    // The sign-in page reads any answer as the app's error: a refusal
    // says what happened, not that the server answered wrongly.
    if !status.is_success() {
        use leptos::server_fn::error::FromServerFnError;
        let shown = app::error::UiError::de(body.to_string().into());
        let expected = body["message"].as_str().expect("a message");
        assert_eq!(shown.message, expected, "{status}: {body}");
    }
    (status, retry_after)
}

async fn audited(app: &TestApp, entity_type: &str) -> usize {
    app.store
        .audit_entries(Some(entity_type), None, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "rate_limit.refused")
        .count()
}

#[tokio::test]
async fn sign_in_attempts_from_one_address_are_limited() {
    let app = TestApp::spawn_with(|c| c.sign_in_per_minute = 3).await;
    for _ in 0..3 {
        let (status, _) = try_password(&app, "nobody@example.com").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a wrong password");
    }
    let (status, retry_after) = try_password(&app, "someone-else@example.com").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    // Embedded App sign-in counts as a sign-in too.
    let r = app
        .client
        .post(app.url("/auth/embedded"))
        .json(&json!({ "token": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(audited(&app, "address").await, 1, "audited once per block");
}

#[tokio::test]
async fn password_guesses_against_one_account_are_limited_from_any_address() {
    let app = TestApp::spawn_with(|c| c.sign_in_per_account_per_minute = 2).await;
    for _ in 0..2 {
        let (status, _) = try_password(&app, "Victim@example.com").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, retry_after) = try_password(&app, "victim@example.com ").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "same account, any spelling"
    );
    assert!(retry_after.is_some());
    let (status, _) = try_password(&app, "other@example.com").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "other accounts are not locked"
    );
    assert_eq!(audited(&app, "account").await, 1);
}

#[tokio::test]
async fn an_address_presenting_bad_api_keys_is_refused_before_any_work() {
    let app = TestApp::spawn_with(|c| c.bad_credentials_per_minute = 3).await;
    let with_key = |key: &str| {
        app.client
            .get(app.url("/api/v1/contacts"))
            .header("key", key)
            .send()
    };
    for i in 0..3 {
        let r = with_key(&format!("cm_guess{i}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = with_key("cm_guess4").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // While blocked, even a good key from that address is refused unread.
    let r = with_key(&app.key).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(audited(&app, "address").await, 1);
}

#[tokio::test]
async fn bad_webhook_tokens_count_as_bad_credentials() {
    let app = crate::common::relay::native_app_with(|c| c.bad_credentials_per_minute = 2).await;
    let post = || {
        app.client
            .post(app.url("/webhooks/connect/inbound?token=wrong"))
            .json(&json!({}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(post().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        post().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn every_route_caps_the_body() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 64 * 1024).await;
    let big = "x".repeat(200 * 1024);
    for path in [
        "/api/sign-in",
        "/auth/embedded",
        "/webhooks/webex",
        "/api/contacts/save",
    ] {
        let r = app
            .client
            .post(app.url(path))
            .header("origin", &app.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("email={big}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
}

#[tokio::test]
async fn a_request_that_never_finishes_is_cut_off() {
    let app = TestApp::spawn_with(|c| c.request_timeout_secs = 1).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let key = app.key.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Promises 100 bytes of body, sends one, then waits.
        write!(
            stream,
            "POST /api/v1/contacts HTTP/1.1\r\nHost: x\r\nkey: {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        )
        .unwrap();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

#[tokio::test]
async fn webhook_dedup_records_are_pruned_after_the_retention() {
    let path = std::env::temp_dir().join(format!("cm-prune-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", path.display());
    let store = store::Store::connect(&url, Default::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let now = store::now_ms();
    for (id, age_hours) in [("old", 5), ("recent", 1)] {
        sqlx::query("INSERT INTO inbound_events (provider, event_id, received_at) VALUES ('connect', $1, $2)")
            .bind(id)
            .bind(now - age_hours * 3_600_000)
            .execute(&pool)
            .await
            .unwrap();
    }
    let _app = TestApp::spawn_with(|c| {
        c.database_url = url.clone();
        c.dedup_retention_hours = 2;
    })
    .await;
    let ids = || async {
        sqlx::query_scalar::<_, String>("SELECT event_id FROM inbound_events ORDER BY event_id")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    crate::common::relay::eventually("the old record is pruned", || async {
        ids().await == ["recent"]
    })
    .await;
}
