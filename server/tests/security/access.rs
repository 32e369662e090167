//! Access: API key scopes and expiry, takeover visibility and its audit,
//! guest tokens sealed at rest, sessions ended by a password change or
//! disabling.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{add_agent, call, send, sign_in, TestApp};
use domain::access::ApiScope;
use domain::model::{Direction, MessageStatus, Role};
use domain::Channel;
use store::{AuditCtx, KeyGrant, NewMessage, Store};

async fn key_with(app: &TestApp, name: &str, scopes: &[ApiScope]) -> (String, String) {
    let (info, key) = app
        .store
        .create_api_key(
            &AuditCtx::system(),
            name,
            &KeyGrant::new(scopes, None).unwrap(),
        )
        .await
        .unwrap();
    (info.id, key)
}

async fn with_key(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path)).header("key", key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    send(req).await
}

#[tokio::test]
async fn a_key_used_outside_its_scope_gets_403_naming_the_scope() {
    let app = TestApp::spawn_with(|c| c.integrations.sandbox = true).await;
    let (_, connect_only) = key_with(&app, "connect-only", &[ApiScope::Connect]).await;
    let token_request = json!({ "channel": "sms", "channelId": "+447700900123", "name": "Mr Doe" });

    let (status, body) = with_key(
        &app,
        &connect_only,
        reqwest::Method::POST,
        "/api/v1/guests/token",
        Some(token_request.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "insufficient_scope");
    assert_eq!(body["scope"], "services");
    assert!(
        body["message"].as_str().unwrap().contains("services"),
        "{body}"
    );
    // Within its scope the same key works.
    let (status, body) = with_key(
        &app,
        &connect_only,
        reqwest::Method::GET,
        "/api/v1/contacts",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, services_only) = key_with(&app, "services-only", &[ApiScope::Services]).await;
    let (status, body) = with_key(
        &app,
        &services_only,
        reqwest::Method::GET,
        "/api/v1/contacts",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["scope"], "connect");
    let (status, body) = with_key(
        &app,
        &services_only,
        reqwest::Method::POST,
        "/api/v1/guests/token",
        Some(token_request.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Admin includes the others.
    let (_, admin) = key_with(&app, "admin", &[ApiScope::Admin]).await;
    let (status, body) = with_key(
        &app,
        &admin,
        reqwest::Method::POST,
        "/api/v1/guests/token",
        Some(token_request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_expired_key_gets_401() {
    let app = TestApp::spawn().await;
    let (id, key) = key_with(&app, "short-lived", &[ApiScope::Connect]).await;
    let (status, _) = with_key(&app, &key, reqwest::Method::GET, "/api/v1/contacts", None).await;
    assert_eq!(status, StatusCode::OK);

    // Its expiry passes (moved into the past, as waiting a day is no test).
    let mut tx = app.store.begin_write().await.unwrap();
    sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
        .bind(store::now_ms() - 1_000)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let (status, body) = with_key(&app, &key, reqwest::Method::GET, "/api/v1/contacts", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthorized");
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

async fn add_line(store: &Store, session_id: &str, body: &str) {
    let mut tx = store.begin_write().await.unwrap();
    Store::add_message(
        &mut tx,
        &NewMessage::new(
            session_id,
            Direction::Inbound,
            Channel::Sms,
            body,
            MessageStatus::Received,
        ),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Lines and the takeover must fall in different milliseconds.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
}

fn bodies(page: &Value) -> Vec<String> {
    page["row"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("a transcript: {page}"))
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn after_a_takeover_the_new_agent_sees_only_their_part_and_it_is_audited() {
    let app = TestApp::spawn().await;
    add_agent(&app, "agent-a@example.com", Role::Agent).await;
    add_agent(&app, "agent-b@example.com", Role::Agent).await;
    add_agent(&app, "admin@example.com", Role::Admin).await;

    let start = |agent: &str| {
        app.post(
            "/api/v1/sessions",
            json!({ "customerChannel": "sms", "customerChannelId": "+447700900123", "collabAgentId": agent }),
        )
    };
    let (status, session) = start("agent-a@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().unwrap().to_string();
    add_line(&app.store, &id, "my card is on the way, agent A").await;

    // Agent B starts a conversation with the same customer: the session moves.
    let (status, moved) = start("agent-b@example.com").await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["id"], session["id"]);
    add_line(&app.store, &id, "hello agent B").await;

    let b = sign_in(&app, "agent-b@example.com").await;
    let (status, page) = b.read("sessions/get", &[("id", &id)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(bodies(&page), vec!["hello agent B"]);

    let admin = sign_in(&app, "admin@example.com").await;
    let (status, page) = admin.read("sessions/get", &[("id", &id)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        bodies(&page),
        vec!["my card is on the way, agent A", "hello agent B"]
    );

    let a = sign_in(&app, "agent-a@example.com").await;
    let (status, _) = a.read("sessions/get", &[("id", &id)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer A's session");

    let audit = app
        .store
        .audit_entries(Some("session"), Some(&id), 50)
        .await
        .unwrap();
    let takeovers: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "session.takeover")
        .collect();
    assert_eq!(takeovers.len(), 1, "{audit:?}");
    assert_eq!(
        takeovers[0].before.as_ref().unwrap()["agent"],
        "agent-a@example.com"
    );
    assert_eq!(
        takeovers[0].after.as_ref().unwrap()["agent"],
        "agent-b@example.com"
    );

    // The same agent again is no takeover: nothing more is audited or hidden.
    let (status, _) = start("agent-b@example.com").await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = b.read("sessions/get", &[("id", &id)]).await;
    assert_eq!(bodies(&page), vec!["hello agent B"]);
    let audit = app
        .store
        .audit_entries(Some("session"), Some(&id), 50)
        .await
        .unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "session.takeover")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_guest_tokens_table_holds_no_plaintext_token() {
    let app = TestApp::spawn_with(|c| c.integrations.sandbox = true).await;
    let ask = || {
        app.post(
            "/api/v1/guests/token",
            json!({ "channel": "whatsapp", "channelId": "447700900123", "name": "Mr Doe", "exchange": true }),
        )
    };
    let (status, body) = ask().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["accessToken"].as_str().unwrap().to_string();
    assert!(token.len() >= 16, "{token}");

    let mut tx = app.store.begin_write().await.unwrap();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT subject, sealed_token FROM guest_tokens")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(rows.len(), 1, "the token is cached");
    let (subject, sealed) = &rows[0];
    assert_eq!(subject, "whatsapp_447700900123");
    assert!(!sealed.contains(&token), "stored in plaintext: {sealed}");
    assert_ne!(sealed, &token);

    // It is still a working cache: the next call reuses it.
    let (status, again) = ask().await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["accessToken"], body["accessToken"]);
}

/// True when the cookie still names a live session.
async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    let (_, me, _) = call(app, Some(cookie), "me", &[]).await;
    me["csrf"].is_string()
}

#[tokio::test]
async fn a_password_change_ends_the_agents_sessions() {
    let app = TestApp::spawn().await;
    let agent = add_agent(&app, "agent-a@example.com", Role::Agent).await;
    add_agent(&app, "agent-b@example.com", Role::Agent).await;
    let a = sign_in(&app, "agent-a@example.com").await;
    let b = sign_in(&app, "agent-b@example.com").await;
    assert!(signed_in(&app, &a.cookie).await);

    app.store
        .set_password(&AuditCtx::system(), &agent.id, "a-brand-new-password")
        .await
        .unwrap();
    assert!(
        !signed_in(&app, &a.cookie).await,
        "the old session cookie no longer works"
    );
    assert!(
        signed_in(&app, &b.cookie).await,
        "other agents stay signed in"
    );
}

#[tokio::test]
async fn disabling_an_agent_ends_their_sessions() {
    let app = TestApp::spawn().await;
    let agent = add_agent(&app, "agent-a@example.com", Role::Agent).await;
    let admin = add_agent(&app, "admin@example.com", Role::Admin).await;
    let a = sign_in(&app, "agent-a@example.com").await;
    let admin_browser = sign_in(&app, "admin@example.com").await;
    assert!(signed_in(&app, &a.cookie).await);

    let (status, body) = admin_browser
        .call(
            "admin/agents/access",
            &[("id", &agent.id), ("role", "agent"), ("disabled", "true")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!signed_in(&app, &a.cookie).await);
    // Enabled again, the old cookie still does not come back to life.
    app.store
        .update_agent_access(
            &AuditCtx::system(),
            Some(&admin.id),
            &agent.id,
            None,
            Some(false),
        )
        .await
        .unwrap();
    assert!(!signed_in(&app, &a.cookie).await);
}
