//! The services Connect flows call in Connect-orchestrated mode, end to end
//! through the sandbox: guest JWTs and cached guest tokens
//! (`POST /api/v1/guests/token`), and the attachment cache
//! (`POST /api/v1/attachments`, `GET|HEAD /media/{id}/{filename}`).

mod common;

use base64::Engine;
use common::{send, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::integrations::Secret;
use std::time::{Duration, Instant};

const ISSUER_SECRET: &[u8] = b"a-guest-issuer-secret-of-32-byte";

/// The product in Connect mode with the sandbox as Webex.
async fn sandbox_app() -> TestApp {
    sandbox_app_with(|_| {}).await
}

async fn sandbox_app_with(adjust: impl FnOnce(&mut server::config::Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.integrations.sandbox = true;
        c.integrations.guest_issuer_secret = Some(Secret::new(
            base64::engine::general_purpose::STANDARD.encode(ISSUER_SECRET),
        ));
        adjust(c);
    })
    .await
}

/// The sandbox with guests from its Guest Issuer (installs that have one).
async fn issuer_app() -> TestApp {
    sandbox_app_with(|c| {
        c.integrations.webex_guests = Some(server::integrations::GuestMode::GuestIssuer)
    })
    .await
}

async fn jwt_logins(app: &TestApp) -> usize {
    logins(app, "/jwt/login").await
}

/// How many guest logins the sandbox's Webex answered at `path`.
async fn logins(app: &TestApp, path: &str) -> usize {
    let calls = app.driver.calls(Some("api")).await;
    calls
        .iter()
        .filter(|c| c["path"].as_str().unwrap_or_default().ends_with(path))
        .count()
}

/// A guest's access token from the sandbox (not through the product).
async fn guest_token(app: &TestApp) -> String {
    let guest = json!({ "sub": "whatsapp_447700900999", "name": "Ms Sender" });
    let body = app.driver.control("guest-token", &guest).await;
    body["token"].as_str().unwrap().to_string()
}

/// The guest sends Agent A a file; its Webex contents URL.
async fn post_file(app: &TestApp, token: &str, name: &str, mime: &str, bytes: Vec<u8>) -> String {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("toPersonEmail", "agent-a@example.com")
        .text("text", "a file for you")
        .part("files", part);
    let message: Value = app
        .client
        .post(app.url("/sandbox/webex/v1/messages"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    message["files"][0]
        .as_str()
        .unwrap_or_else(|| panic!("a file URL in {message}"))
        .to_string()
}

fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len.saturating_sub(8)).map(|i| (i % 251) as u8));
    bytes
}

#[tokio::test]
async fn guest_jwt_has_the_seed_claims_signed_with_the_decoded_secret() {
    let app = issuer_app().await;
    let before = chrono::Utc::now().timestamp();
    let (status, body) = app
        .post(
            "/api/v1/guests/token",
            json!({ "channel": "whatsapp", "channelId": "+44 7700 900123", "name": "Mr Doe" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subject"], "whatsapp_447700900123");
    assert!(
        body.get("accessToken").is_none(),
        "no exchange asked: {body}"
    );

    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
        name: String,
        iss: String,
        exp: i64,
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims = ["sub", "exp"].into_iter().map(String::from).collect();
    let claims = jsonwebtoken::decode::<Claims>(
        body["jwt"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(ISSUER_SECRET),
        &validation,
    )
    .expect("HS256 with the base64-decoded issuer secret")
    .claims;
    assert_eq!(claims.sub, "whatsapp_447700900123");
    assert_eq!(claims.name, "Mr Doe");
    assert_eq!(claims.iss, "sandbox-guest-issuer");
    assert!(
        (before + 540..=before + 660).contains(&claims.exp),
        "about 10 minutes: {}",
        claims.exp - before
    );
    let expires = chrono::DateTime::parse_from_rfc3339(body["jwtExpiresAt"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(expires, claims.exp);

    // SMS ids keep their `+`, the subject does not; a blank name is the channel id.
    let (status, body) = app
        .post(
            "/api/v1/guests/token",
            json!({ "channel": "SMS", "channelId": "+447700900123" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subject"], "sms_447700900123");
}

#[tokio::test]
async fn exchanged_tokens_are_cached_per_guest() {
    let app = issuer_app().await;
    let ask = |channel: &'static str| {
        app.post(
            "/api/v1/guests/token",
            json!({ "channel": channel, "channelId": "447700900123", "name": "Mr Doe", "exchange": true }),
        )
    };
    let (status, first) = ask("whatsapp").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) = ask("whatsapp").await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(
        jwt_logins(&app).await,
        1,
        "the second call reuses the token"
    );
    assert_eq!(first["accessToken"], second["accessToken"]);
    assert_eq!(
        first["accessTokenExpiresAt"],
        second["accessTokenExpiresAt"]
    );
    assert_ne!(first["jwt"], Value::Null);

    // The token is the guest's.
    let me: Value = app
        .client
        .get(app.url("/sandbox/webex/v1/people/me"))
        .bearer_auth(first["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["type"], "appuser");
    assert_eq!(me["displayName"], "Mr Doe");

    // SMS is another guest: another login, another token.
    let (status, sms) = ask("sms").await;
    assert_eq!(status, StatusCode::OK, "{sms}");
    assert_eq!(jwt_logins(&app).await, 2);
    assert_ne!(sms["accessToken"], first["accessToken"]);
    // Cached by subject (sealed: see security::access for what the row holds).
    assert_eq!(jwt_logins(&app).await, 2);
    let (status, again) = ask("sms").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(jwt_logins(&app).await, 2, "the cached token is reused");
    assert_eq!(again["accessToken"], sms["accessToken"]);
}

#[tokio::test]
async fn service_app_guests_get_a_cached_access_token_and_no_jwt() {
    let app = sandbox_app().await;
    let ask = || {
        app.post(
            "/api/v1/guests/token",
            json!({ "channel": "sms", "channelId": "+447700900123", "name": "Mr Doe" }),
        )
    };
    let (status, first) = ask().await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["subject"], "sms_447700900123");
    assert!(
        first.get("jwt").is_none(),
        "Service App guests have no JWT: {first}"
    );
    assert!(first["accessToken"].as_str().is_some_and(|t| !t.is_empty()));
    let (_, second) = ask().await;
    assert_eq!(second["accessToken"], first["accessToken"]);
    assert_eq!(
        logins(&app, "/guests/token").await,
        1,
        "the second call reuses the token"
    );
    assert_eq!(jwt_logins(&app).await, 0);
    let me: Value = app
        .client
        .get(app.url("/sandbox/webex/v1/people/me"))
        .bearer_auth(first["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["type"], "appuser");
    assert_eq!(me["displayName"], "Mr Doe");
}

#[tokio::test]
async fn guest_token_input_errors_name_the_field() {
    let app = sandbox_app().await;
    for (body, field) in [
        (
            json!({ "channel": "whatsapp", "channelId": "12", "name": "x" }),
            "channelId",
        ),
        (
            json!({ "channel": "whatsapp", "channelId": "call me", "name": "x" }),
            "channelId",
        ),
        (json!({ "channel": "whatsapp", "name": "x" }), "channelId"),
        (
            json!({ "channel": "fax", "channelId": "447700900123" }),
            "channel",
        ),
        (json!({ "channelId": "447700900123" }), "channel"),
        (
            json!({ "channel": "sms", "channelId": "447700900123", "name": "a\u{7}b" }),
            "name",
        ),
        (
            json!({ "channel": "sms", "channelId": "447700900123", "exchange": "yes" }),
            "exchange",
        ),
        (
            json!({ "channel": "sms", "channelId": "447700900123", "extra": 1 }),
            "extra",
        ),
    ] {
        let (status, answer) = app.post("/api/v1/guests/token", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["code"], "validation_failed", "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    assert_eq!(jwt_logins(&app).await, 0);
}

#[tokio::test]
async fn services_need_an_api_key_and_their_settings() {
    let app = sandbox_app().await;
    for (path, body) in [
        (
            "/api/v1/guests/token",
            json!({ "channel": "sms", "channelId": "+447700900123" }),
        ),
        (
            "/api/v1/attachments",
            json!({ "url": "http://x/contents/1", "token": "t" }),
        ),
    ] {
        let (status, answer) = send(app.client.post(app.url(path)).json(&body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {answer}");
        assert_eq!(answer["code"], "unauthorized");
        let (status, _) = send(
            app.client
                .post(app.url(path))
                .header("key", "cm_wrong")
                .json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }

    // Without the sandbox and without Webex settings: a clear 503.
    let bare = TestApp::spawn().await;
    let (status, answer) = bare
        .post(
            "/api/v1/guests/token",
            json!({ "channel": "sms", "channelId": "+447700900123" }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["code"], "not_configured");
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("CM_SERVICE_APP_CLIENT_ID"));
    let (status, answer) = bare
        .post(
            "/api/v1/attachments",
            json!({ "url": "https://webexapis.com/v1/contents/abc", "token": "t" }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["code"], "not_configured");
}

#[tokio::test]
async fn attachments_are_cached_and_served_publicly() {
    let app = sandbox_app().await;
    let token = guest_token(&app).await;
    let bytes = png(3000);
    let url = post_file(
        &app,
        &token,
        "Holiday photo.png",
        "image/png",
        bytes.clone(),
    )
    .await;

    let (status, cached) = app
        .post("/api/v1/attachments", json!({ "url": url, "token": token }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cached}");
    assert_eq!(cached["mimeType"], "image/png");
    assert_eq!(cached["size"], 3000);
    assert_eq!(cached["filename"], "Holiday photo.png");
    let public = cached["url"].as_str().unwrap();
    assert!(
        public.starts_with(&format!("{}/media/", app.base))
            && public.ends_with("/Holiday_photo.png"),
        "{public}"
    );
    let expires = chrono::DateTime::parse_from_rfc3339(cached["expiresAt"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let week = chrono::Utc::now().timestamp() + 7 * 24 * 3600;
    assert!(
        (week - 60..=week + 5).contains(&expires),
        "7 days by default"
    );

    // Public: no API key, no cookie.
    let response = reqwest::get(public).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["content-length"], "3000");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline; filename=\"Holiday photo.png\""));
    let max_age: i64 = h["cache-control"]
        .to_str()
        .unwrap()
        .split("max-age=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age > 0 && max_age <= 7 * 24 * 3600, "{max_age}");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);

    // HEAD: the same headers, no body.
    let head = app.client.head(public).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "3000");
    assert_eq!(head.headers()["content-type"], "image/png");
    assert!(head.bytes().await.unwrap().is_empty());

    // The filename is cosmetic; the id alone finds the file, and only it.
    let id = public.split('/').rev().nth(1).unwrap();
    let renamed = app.url(&format!("/media/{id}/other.png"));
    assert_eq!(
        reqwest::get(&renamed).await.unwrap().status(),
        StatusCode::OK
    );
    let mut other_id = id.to_string();
    let last = other_id.pop().unwrap();
    other_id.push(if last == 'A' { 'B' } else { 'A' });
    for path in [
        format!("/media/{other_id}/Holiday_photo.png"),
        format!("/media/{id}x/Holiday_photo.png"),
        format!("/media/..%2F{id}/x.png"),
        "/media/nonexistent/x.png".to_string(),
    ] {
        let r = reqwest::get(app.url(&path)).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(r.text().await.unwrap().contains("No such file"), "{path}");
    }
}

#[tokio::test]
async fn a_file_still_being_scanned_is_waited_for() {
    let app = sandbox_app().await;
    let token = guest_token(&app).await;
    app.driver
        .control("scanning", &json!({ "seconds": 2 }))
        .await;
    let url = post_file(
        &app,
        &token,
        "scan.pdf",
        "application/pdf",
        b"%PDF-1.4 tiny".to_vec(),
    )
    .await;
    let direct = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.status(),
        StatusCode::LOCKED,
        "the sandbox is scanning"
    );

    let started = Instant::now();
    let (status, cached) = app
        .post("/api/v1/attachments", json!({ "url": url, "token": token }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cached}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited out the 423"
    );
    let served = reqwest::get(cached["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(served.headers()["content-type"], "application/pdf");
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"%PDF-1.4 tiny");
}

#[tokio::test]
async fn urls_outside_webex_files_are_refused() {
    let app = sandbox_app().await;
    let token = guest_token(&app).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "https://webexapis.com/v1/contents/abc".to_string(),
        app.url("/sandbox/webex/v1/people/me"),
        app.url("/sandbox/webex/v1/contents/../people/me"),
        app.url("/api/v1/contacts"),
        "file:///etc/passwd".to_string(),
    ] {
        let (status, answer) = app
            .post("/api/v1/attachments", json!({ "url": url, "token": token }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
        assert_eq!(answer["code"], "url_not_allowed", "{url}");
        assert_eq!(answer["field"], "url", "{url}");
    }
    let (status, answer) = app
        .post("/api/v1/attachments", json!({ "token": token }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["field"], "url");

    // A token that cannot read the file.
    let url = post_file(&app, &token, "a.png", "image/png", png(100)).await;
    let (status, answer) = app
        .post(
            "/api/v1/attachments",
            json!({ "url": url, "token": "not-a-token" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["code"], "webex_refused");
    assert_eq!(answer["field"], "token");
}

#[tokio::test]
async fn infected_and_unscannable_files_are_not_cached() {
    let app = sandbox_app().await;
    let token = guest_token(&app).await;
    for (outcome, code) in [
        ("infected", "file_infected"),
        ("unscannable", "file_unscannable"),
    ] {
        app.driver
            .control("contents", &json!({ "outcome": outcome }))
            .await;
        let url = post_file(&app, &token, "x.zip", "application/zip", vec![1, 2, 3]).await;
        let (status, answer) = app
            .post("/api/v1/attachments", json!({ "url": url, "token": token }))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{outcome}: {answer}"
        );
        assert_eq!(answer["code"], code, "{answer}");
    }
}

#[tokio::test]
async fn limits_scan_wait_size_and_expiry() {
    let app = sandbox_app_with(|c| {
        c.media_ttl_seconds = 1;
        c.media_max_bytes = 1000;
        c.media_scan_wait_seconds = 1;
    })
    .await;
    let token = guest_token(&app).await;

    // Too large.
    let url = post_file(&app, &token, "big.png", "image/png", png(1001)).await;
    let (status, answer) = app
        .post("/api/v1/attachments", json!({ "url": url, "token": token }))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["code"], "file_too_large");

    // Scanning longer than we wait: 503 with Retry-After, at once.
    app.driver
        .control("scanning", &json!({ "seconds": 30 }))
        .await;
    let url = post_file(&app, &token, "slow.png", "image/png", png(10)).await;
    let started = Instant::now();
    let response = app
        .req(reqwest::Method::POST, "/api/v1/attachments")
        .json(&json!({ "url": url, "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((20..=30).contains(&retry_after), "{retry_after}");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], "file_scanning");
    assert!(started.elapsed() < Duration::from_secs(5));
    app.driver
        .control("scanning", &json!({ "seconds": 0 }))
        .await;

    // Expired media is gone.
    let url = post_file(&app, &token, "short.png", "image/png", png(500)).await;
    let (status, cached) = app
        .post("/api/v1/attachments", json!({ "url": url, "token": token }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cached}");
    let public = cached["url"].as_str().unwrap();
    let fresh = reqwest::get(public).await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    // Cached no longer than the file lives (1 s, less the time it took to
    // get here: 0 or 1 whole seconds, depending on the millisecond).
    let cache = fresh.headers()["cache-control"].to_str().unwrap();
    let max_age: u64 = cache
        .strip_prefix("public, max-age=")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{cache}"));
    assert!(max_age <= 1, "{cache}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        reqwest::get(public).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.client.head(public).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}
