//! Server-side request forgery and media transfer limits: each test tries
//! one attack through real HTTP on loopback and checks that the server
//! fetched nothing it should not (a local listener records every request).

use crate::common::relay::{
    agent_messages, agent_token, connect_delivers, customer_sends_file, eventually,
    native_app_with, phone_thread, start_conversation,
};
use crate::common::TestApp;
use serde_json::{json, Value};
use server::integrations::Secret;
use std::sync::{Arc, Mutex};
use store::{AuditCtx, MediaFileInfo};

const INBOUND_TOKEN: &str = "ssrf-inbound-token";

/// One request a listener saw.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
}

/// A local service an attacker would like us to call: records every
/// request; `/redirect…` redirects to `redirect_to`, anything else answers
/// "the secret".
async fn listener(redirect_to: Option<String>) -> (String, Arc<Mutex<Vec<Hit>>>) {
    use axum::response::IntoResponse;
    let hits = Arc::new(Mutex::new(Vec::new()));
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        seen.lock().unwrap().push(Hit {
            path: uri.path().to_string(),
        });
        let to = redirect_to.clone();
        async move {
            match (uri.path(), to) {
                (path, Some(to)) if path.starts_with("/redirect") => (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, to)],
                )
                    .into_response(),
                _ => "the secret".into_response(),
            }
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (base, hits)
}

fn hits(h: &Arc<Mutex<Vec<Hit>>>) -> Vec<Hit> {
    h.lock().unwrap().clone()
}

async fn inbound(app: &TestApp, event: Value) {
    let r = connect_delivers(app, INBOUND_TOKEN, &event).await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// An MMS as Connect delivers it: the parts a JSON string of `{"file": url}`;
/// `subject` is not in Connect's example, the parser takes it when present.
fn mms(tid: &str, number: &str, subject: &str, files: &[String]) -> Value {
    let parts: Vec<Value> = files.iter().map(|f| json!({ "file": f })).collect();
    json!({
        "channel": "MMS", "tid": tid, "oa": number, "da": "CONTACTMGR",
        "ts": "2026-01-01T10:00:00.000Z", "subject": subject,
        "message": Value::from(parts).to_string()
    })
}

async fn relay_app() -> TestApp {
    native_app_with(|c| {
        c.integrations.connect_inbound_token = Some(Secret::new(INBOUND_TOKEN));
    })
    .await
}

#[tokio::test]
async fn an_mms_text_part_on_a_local_service_is_never_fetched_and_the_message_still_arrives() {
    let app = relay_app().await;
    let (secret, seen) = listener(None).await;
    let number = "+16475550171";
    let (token, _) = start_conversation(&app, "Ian Internal", number, "sms").await;

    let parts = [format!("{secret}/secret.txt")];
    inbound(&app, mms("ssrf-text-part", number, "see the text", &parts)).await;

    eventually("the MMS in the agent's space, with a note", || async {
        agent_messages(&app, &token).await.iter().any(|m| {
            let text = m["text"].as_str().unwrap_or_default();
            text.contains("see the text") && text.contains("was not fetched")
        })
    })
    .await;
    assert!(hits(&seen).is_empty(), "fetched: {:?}", hits(&seen));
}

#[tokio::test]
async fn an_mms_from_an_unknown_number_is_answered_without_any_fetch() {
    let app = relay_app().await;
    let number = "+16475550172";
    // A URL the fetcher would allow (the sandbox's own Connect media), so
    // only the order of the checks keeps it from being fetched.
    let probe = app.url("/sandbox/connect/media/probe-unknown-sender/part.txt");
    let parts = [probe.clone()];
    inbound(&app, mms("ssrf-unknown", number, "hello?", &parts)).await;

    eventually("\"session not found\" on the phone", || async {
        phone_thread(&app, "sms", number).await.iter().any(|m| {
            m["direction"] != "inbound"
                && m["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("could not find an open conversation")
        })
    })
    .await;
    let calls = Value::from(app.driver.calls(None).await);
    assert!(
        !calls.to_string().contains("probe-unknown-sender"),
        "the text part was fetched: {calls}"
    );
    // The call log would have shown the fetch: it shows ours.
    app.client.get(&probe).send().await.unwrap();
    let calls = app.text("/sandbox/control/calls").await;
    assert!(calls.contains("probe-unknown-sender"), "{calls}");
}

#[tokio::test]
async fn a_whatsapp_file_on_a_foreign_host_is_not_handed_to_webex_and_the_agent_is_told() {
    let app = relay_app().await;
    let (secret, seen) = listener(None).await;
    let number = "+447700900173";
    let (token, _) = start_conversation(&app, "Wendy Whatsapp", number, "whatsapp").await;

    inbound(
        &app,
        json!({
            "channel": "WhatsApp", "event": "MO", "tid": "ssrf-wa-file",
            "ts": "2026-01-01T10:00:00.000Z", "waid": "447700900173",
            "appId": "sandbox-whatsapp-app", "username": "Wendy", "message": "",
            "attachments": json!([{ "url": format!("{secret}/internal.png"),
                "mime_type": "image/png", "caption": "my photo" }]).to_string()
        }),
    )
    .await;

    eventually("the caption and a note in the agent's space", || async {
        agent_messages(&app, &token).await.iter().any(|m| {
            let text = m["text"].as_str().unwrap_or_default();
            text.contains("my photo") && text.contains("not relayed")
        })
    })
    .await;
    let posted = agent_messages(&app, &token).await;
    let with_note = posted
        .iter()
        .find(|m| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("not relayed")
        })
        .unwrap();
    assert!(with_note["files"].as_array().is_none_or(|f| f.is_empty()));
    assert!(hits(&seen).is_empty(), "fetched: {:?}", hits(&seen));
}

/// A server in Connect-orchestrated mode whose Webex API is `webex_api`.
async fn services_app(
    webex_api: &str,
    adjust: impl FnOnce(&mut server::config::Config),
) -> TestApp {
    let webex_api = webex_api.to_string();
    TestApp::spawn_with(move |c| {
        c.integrations.webex_api_url = Some(webex_api);
        adjust(c);
    })
    .await
}

#[tokio::test]
async fn a_webex_file_url_on_a_foreign_host_is_never_fetched_with_the_token() {
    let (foreign, seen) = listener(None).await;
    let app = services_app("http://127.0.0.1:9/v1", |_| {}).await;
    let (status, body) = app
        .post(
            "/api/v1/attachments",
            json!({ "url": format!("{foreign}/v1/contents/abc"), "token": "guest-token" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "url_not_allowed", "{body}");
    assert!(hits(&seen).is_empty(), "fetched: {:?}", hits(&seen));
}

#[tokio::test]
async fn a_redirect_from_an_allowed_host_to_another_is_not_followed() {
    // Connect (allowed: the Connect API's origin) redirects an MMS text part
    // to another local service.
    let (elsewhere, elsewhere_seen) = listener(None).await;
    let (connect, connect_seen) = listener(Some(format!("{elsewhere}/secret"))).await;
    let app = TestApp::spawn_with(|c| {
        c.relay_mode = server::config::RelayMode::Native;
        c.integrations.webex_api_url = Some("http://127.0.0.1:9/v1".into());
        c.integrations.guest_issuer_id = Some("issuer".into());
        c.integrations.guest_issuer_secret = Some(Secret::new("c2VjcmV0LXNlY3JldA=="));
        c.integrations.webex_webhook_secret = Some(Secret::new("webhook-secret"));
        c.integrations.connect_api_url = Some(connect.clone());
        c.integrations.connect_api_key = Some(Secret::new("connect-key"));
        c.integrations.connect_inbound_token = Some(Secret::new(INBOUND_TOKEN));
        c.integrations.connect_whatsapp_app_id = Some("whatsapp-app".into());
        c.integrations.connect_sms_sender_id = Some("SENDER".into());
        c.integrations.public_url = Some("http://127.0.0.1:9".into());
    })
    .await;
    let number = "+16475550174";
    let (session, _) = app
        .store
        .upsert_session(
            &AuditCtx::system(),
            &crate::common::valid(&domain::model::SessionInput {
                customer_channel: Some("sms".into()),
                customer_channel_id: Some(number.into()),
                collab_agent_id: Some("agent-a@example.com".into()),
                status: Some("active".into()),
                ..Default::default()
            }),
        )
        .await
        .unwrap();

    let parts = [format!("{connect}/redirect.txt")];
    inbound(&app, mms("ssrf-redirect", number, "redirected", &parts)).await;

    eventually("the MMS in the transcript, with a note", || async {
        app.store
            .messages(&session.id)
            .await
            .unwrap()
            .iter()
            .any(|l| l.body.contains("redirected") && l.body.contains("redirect refused"))
    })
    .await;
    assert_eq!(
        hits(&connect_seen)
            .iter()
            .filter(|h| h.path == "/redirect.txt")
            .count(),
        1
    );
    assert!(
        hits(&elsewhere_seen).is_empty(),
        "followed: {:?}",
        hits(&elsewhere_seen)
    );
}

/// A Webex that answers every file with `total` bytes, streamed without a
/// length; how many bytes it managed to send.
async fn endless_file(total: usize) -> (String, Arc<Mutex<usize>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sent = Arc::new(Mutex::new(0usize));
    let counter = sent.clone();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = l.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = vec![b'v'; 64 * 1024];
                let mut written = 0;
                while written < total {
                    let frame =
                        [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                    written += piece.len();
                    *counter.lock().unwrap() = written;
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    (base, sent)
}

#[tokio::test]
async fn an_oversized_file_is_cut_off_while_streaming_and_nothing_of_it_is_kept() {
    const CAP: u64 = 1024 * 1024;
    const TOTAL: usize = 256 * 1024 * 1024;
    let (webex, sent) = endless_file(TOTAL).await;
    let app = services_app(&webex, |c| c.media_max_bytes = CAP).await;
    let (status, body) = app
        .post(
            "/api/v1/attachments",
            json!({ "url": format!("{webex}/contents/huge"), "token": "guest-token" }),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "file_too_large", "{body}");
    // Stopped reading near the cap (what was in flight in socket buffers
    // aside), not at the end of the file.
    let sent = *sent.lock().unwrap();
    assert!(sent < TOTAL / 4, "read {sent} of {TOTAL} bytes");
    // No chunk of the refused file stayed in the store.
    assert_eq!(app.store.media_chunks_stored().await.unwrap(), (0, 0));
}

/// A file put straight into the media cache; its `/media` path.
async fn cached(app: &TestApp, name: &str, mime: &str, content: &[u8]) -> String {
    let now = store::now_ms();
    let id: String = uuid::Uuid::new_v4().simple().to_string()[..24].to_string();
    let info = MediaFileInfo {
        id: id.clone(),
        filename: name.into(),
        mime_type: mime.into(),
        size: content.len() as i64,
        created_at_ms: now,
        expires_at_ms: now + 60_000,
    };
    app.store.insert_media_file(&info, content).await.unwrap();
    format!("/media/{id}/{name}")
}

#[tokio::test]
async fn media_over_the_concurrency_cap_answers_503_with_retry_after() {
    let app = services_app("https://webexapis.com/v1", |c| c.media_max_concurrent = 1).await;
    // Larger than the socket buffers, so the first download stays open.
    let content = vec![7u8; 32 * 1024 * 1024];
    let path = cached(&app, "big.bin", "application/octet-stream", &content).await;

    let first = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let second = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(second.status(), 503);
    assert!(second.headers().contains_key("retry-after"));

    // The first download is whole, and its slot is free again after it.
    assert_eq!(first.bytes().await.unwrap().len(), content.len());
    let mut again = None;
    for _ in 0..50 {
        let r = app.client.get(app.url(&path)).send().await.unwrap();
        if r.status() == 200 {
            again = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let again = again.expect("the slot is released when a download ends");
    assert_eq!(again.bytes().await.unwrap(), content);
}

#[tokio::test]
async fn our_media_is_served_inert_and_images_only_inline() {
    let app = services_app("https://webexapis.com/v1", |_| {}).await;
    let page = cached(&app, "page.html", "text/html", b"<script>alert(1)</script>").await;
    let r = app.client.get(app.url(&page)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");

    let image = cached(&app, "photo.png", "image/png", &crate::common::relay::png()).await;
    let r = app.client.get(app.url(&image)).send().await.unwrap();
    let h = r.headers();
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline;"));
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
}

/// Checks the three headers that keep a served file from running anything.
fn assert_inert(what: &str, h: &reqwest::header::HeaderMap) {
    let disposition = h
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(disposition.starts_with("attachment"), "{what}: {h:?}");
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "{what}"
    );
    assert_eq!(
        h.get("content-security-policy").map(|v| v.as_bytes()),
        Some(&b"default-src 'none'; sandbox"[..]),
        "{what}"
    );
}

#[tokio::test]
async fn files_the_sandbox_serves_carry_the_three_headers() {
    let app = relay_app().await;
    let number = "+447700900175";
    let (token, room) = start_conversation(&app, "Harry Html", number, "whatsapp").await;
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();

    // A customer's upload, as Connect media.
    customer_sends_file(
        &app,
        "whatsapp",
        number,
        "a page",
        Some(("page.html", "text/html", html.clone())),
    )
    .await;
    let thread = phone_thread(&app, "whatsapp", number).await;
    let upload = thread
        .iter()
        .find_map(|m| {
            m["mediaUrl"]
                .as_str()
                .filter(|u| u.contains("/connect/media/"))
        })
        .expect("the upload's URL")
        .to_string();
    let r = app.client.get(&upload).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_inert("Connect media", r.headers());

    // An agent's upload, as Webex contents and on the agent page.
    crate::common::relay::agent_sends_file(
        &app,
        &token,
        &room,
        "a page",
        ("page.html", "text/html", html),
    )
    .await;
    let agent = agent_token(&app, "agent-a@example.com").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let file_url = loop {
        let found = agent_messages(&app, &agent)
            .await
            .iter()
            .find_map(|m| m["files"][0].as_str().map(str::to_string));
        if let Some(url) = found {
            break url;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent's file never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let r = app
        .client
        .get(&file_url)
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_inert("Webex contents", r.headers());
    let content_id = file_url.rsplit('/').next().unwrap();
    let r = app
        .client
        .get(app.url(&format!("/sandbox/webex-client/api/files/{content_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_inert("agent page file", r.headers());
}
