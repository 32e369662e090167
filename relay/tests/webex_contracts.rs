//! The Webex REST contracts of `docs/platform-contracts.md` ("Webex REST API:
//! what the relay and sign-in call"), pinned by fixtures written from the
//! documentation's examples (`platform/tests/fixtures/webex/`, sources in its README).
//!
//! Answers are read by the product's own client (`platform::webex::WebexClient`)
//! from a fake Webex on loopback that serves the fixtures and records what it
//! was sent; the delivery envelope goes through the relay's own
//! `verify_webhook` and `accept_webex`. Shapes the product has no type for
//! yet (Service App guests, the refresh grant, the webhook object) are
//! checked as JSON: field names and types as documented.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::connect::ConnectMessaging;
use platform::fetch::{FetchLimits, FetchRules, Fetcher};
use platform::webex::{
    signature_valid, AccessToken, GuestIssuer, Person, Posted, WebexClient, WebexError,
    WebexMessage,
};
use relay::guests::{GuestAuth, GuestProvider};
use relay::media::{MediaCache, MediaSettings};
use relay::webhook_auth::{Presented, Refused, Webex};
use relay::{AcceptError, Accepted, Relay, RelayClients, RelaySettings};
use store::{Rules, Store};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../platform/tests/fixtures/webex/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The keys of a JSON object.
fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// `v[field]` must be a string; returns it.
fn string<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{field} is not a string in {v}"))
}

/// `v[field]` must be a whole, positive number of seconds; returns it.
fn seconds(v: &Value, field: &str) -> u64 {
    let n = v
        .get(field)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{field} is not a whole number in {v}"));
    assert!(n > 0, "{field} must be positive");
    n
}

// ---------------------------------------------------------------------------
// A fake Webex that answers with the fixtures and records each request.

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn fake(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    });
    let name = match (method.as_str(), uri.path()) {
        ("POST", "/v1/jwt/login") => "jwt-login.json",
        ("GET", "/v1/people/me") => "people-me-guest.json",
        ("POST", "/v1/messages") => "messages-create.json",
        ("GET", "/v1/messages") => "messages-list.json",
        ("GET", p) if p.starts_with("/v1/messages/") => "message.json",
        ("POST", "/v1/webhooks") => "webhook-created.json",
        ("GET" | "PUT", p) if p.starts_with("/v1/webhooks/") => "webhook.json",
        ("POST", "/v1/guests/token") => "guests-token.json",
        ("GET", "/v1/guests/count") => "guests-count.txt",
        ("POST", "/v1/access_token") => "access-token-refresh.json",
        _ => return (StatusCode::NOT_FOUND, fixture("error.json")).into_response(),
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        fixture(name),
    )
        .into_response()
}

async fn fake_webex() -> (WebexClient, Log) {
    let log: Log = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(fake).with_state(log.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (WebexClient::new(&base, Duration::from_secs(5)), log)
}

/// A Webex that answers every request with `error.json`, `status` and,
/// when given, `Retry-After`.
async fn failing_webex(status: u16, retry_after: Option<&'static str>) -> WebexClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || async move {
        let mut response = (
            StatusCode::from_u16(status).unwrap(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            fixture("error.json"),
        )
            .into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static(seconds));
        }
        response
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    WebexClient::new(&base, Duration::from_secs(5))
}

fn token() -> AccessToken {
    AccessToken {
        token: "guest-access-token".into(),
        expires_at_ms: i64::MAX,
    }
}

fn last(log: &Log) -> Seen {
    log.lock().unwrap().last().cloned().expect("a request")
}

// ---------------------------------------------------------------------------
// People

#[test]
fn an_agent_from_people_me_is_a_person_with_an_email() {
    let agent: Person = serde_json::from_str(&fixture("people-me-agent.json")).unwrap();
    assert_eq!(agent.kind, "person");
    assert_eq!(agent.emails, ["john.andersen@example.com"]);
    assert_eq!(agent.display_name, "John Andersen");
    assert!(agent.id.starts_with("Y2lzY29zcGFyazovL3VzL1BFT1BMRS"));
}

#[tokio::test]
async fn a_guest_from_people_me_is_an_appuser_with_a_synthetic_email() {
    let (webex, log) = fake_webex().await;
    let guest = webex.me(&token()).await.unwrap();
    assert_eq!(guest.kind, "appuser", "the documented type of a guest");
    assert!(guest.emails[0].ends_with("@appid.ciscospark.com"));
    assert_eq!(guest.display_name, "Person of Interest");
    let seen = last(&log);
    assert_eq!(
        (seen.method, seen.path.as_str()),
        (Method::GET, "/v1/people/me")
    );
    assert_eq!(
        seen.authorization.as_deref(),
        Some("Bearer guest-access-token")
    );
    // The guest of `POST /v1/guests/token` is that person: same id and email.
    let created = json("guests-token.json");
    assert_eq!(guest.id, string(&created, "id"));
    assert_eq!(guest.emails[0], string(&created, "email"));
}

// ---------------------------------------------------------------------------
// Guest Issuer: POST /jwt/login

#[tokio::test]
async fn jwt_login_sends_the_guest_jwt_as_bearer_and_reads_token_and_expires_in() {
    let (webex, log) = fake_webex().await;
    let now_ms = 1_700_000_000_000;
    let login = webex.jwt_login("the.guest.jwt", now_ms).await.unwrap();
    let answer = json("jwt-login.json");
    assert_eq!(login.token, string(&answer, "token"));
    assert_eq!(
        login.expires_at_ms,
        now_ms + seconds(&answer, "expiresIn") as i64 * 1000,
        "expiresIn is read as seconds"
    );
    let seen = last(&log);
    assert_eq!(
        (seen.method, seen.path.as_str()),
        (Method::POST, "/v1/jwt/login")
    );
    assert_eq!(seen.authorization.as_deref(), Some("Bearer the.guest.jwt"));
    assert!(seen.body.is_empty(), "the JWT goes in the header only");
}

// ---------------------------------------------------------------------------
// Messages

/// The body fields `POST /messages` documents.
const MESSAGE_FIELDS: [&str; 8] = [
    "roomId",
    "parentId",
    "toPersonId",
    "toPersonEmail",
    "text",
    "markdown",
    "files",
    "attachments",
];

#[tokio::test]
async fn a_message_to_a_person_uses_documented_fields_and_one_file() {
    let (webex, log) = fake_webex().await;
    let posted: Posted = webex
        .message_person(
            &token(),
            "agent@example.com",
            "Hello",
            Some("https://cm.example/media/abc"),
        )
        .await
        .unwrap();
    let answer = json("messages-create.json");
    assert_eq!(posted.id, string(&answer, "id"));
    assert_eq!(posted.room_id, string(&answer, "roomId"));

    let seen = last(&log);
    assert_eq!(
        (seen.method, seen.path.as_str()),
        (Method::POST, "/v1/messages")
    );
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    for key in keys(&body) {
        assert!(
            MESSAGE_FIELDS.contains(&key),
            "{key} is not a documented field"
        );
    }
    assert_eq!(body["toPersonEmail"], "agent@example.com");
    assert_eq!(body["text"], "Hello");
    assert_eq!(
        body["files"],
        serde_json::json!(["https://cm.example/media/abc"]),
        "only one file is allowed per message"
    );

    webex
        .message_person(&token(), "agent@example.com", "No file", None)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&last(&log).body).unwrap();
    assert!(body.get("files").is_none(), "no empty files array");
}

#[tokio::test]
async fn a_message_is_read_with_its_text_files_and_author() {
    let (webex, log) = fake_webex().await;
    let id = "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvOTJkYjNiZTAtNDNiZC0xMWU2LThhZTktZGQ1YjNkZmM1NjVk";
    let message: WebexMessage = webex.message(&token(), id).await.unwrap();
    assert_eq!(last(&log).path, format!("/v1/messages/{id}"));
    assert_eq!(message.id, id);
    assert_eq!(message.person_email.as_deref(), Some("matt@example.com"));
    assert!(message
        .person_id
        .starts_with("Y2lzY29zcGFyazovL3VzL1BFT1BMRS"));
    assert_eq!(message.files, ["http://www.example.com/images/media.png"]);
    assert!(message
        .text
        .as_deref()
        .unwrap()
        .starts_with("PROJECT UPDATE"));
    assert!(message
        .markdown
        .as_deref()
        .unwrap()
        .starts_with("**PROJECT UPDATE**"));
    assert_eq!(
        message.room_id.as_deref(),
        Some("Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0")
    );
    assert_eq!(
        message.created.as_deref(),
        Some("2015-10-18T14:26:16+00:00")
    );

    // The Webhooks guide's example: text only, no files, no markdown.
    let plain: WebexMessage = serde_json::from_str(&fixture("message-text.json")).unwrap();
    assert_eq!(
        plain.text.as_deref(),
        Some("Something interesting and potentially sensitive")
    );
    assert!(plain.files.is_empty());
    assert_eq!(plain.markdown, None);
}

#[tokio::test]
async fn recent_messages_page_by_room_max_and_before_message() {
    let (webex, log) = fake_webex().await;
    let items = webex
        .recent_messages(&token(), "ROOM", 100, Some("OLDEST"))
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].files, ["http://www.example.com/images/media.png"]);
    assert_eq!(items[0].person_email.as_deref(), Some("matt@example.com"));

    let seen = last(&log);
    assert_eq!(
        (seen.method, seen.path.as_str()),
        (Method::GET, "/v1/messages")
    );
    let query = seen.query.unwrap();
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort();
    assert_eq!(pairs, ["beforeMessage=OLDEST", "max=100", "roomId=ROOM"]);
}

// ---------------------------------------------------------------------------
// Webhooks

/// The body fields `POST /webhooks` documents (name, targetUrl, resource and
/// event are required).
const WEBHOOK_FIELDS: [&str; 7] = [
    "name",
    "targetUrl",
    "resource",
    "event",
    "filter",
    "secret",
    "ownedBy",
];

#[tokio::test]
async fn the_message_webhook_is_created_with_the_required_fields_and_a_secret() {
    let (webex, log) = fake_webex().await;
    let id = webex
        .create_message_webhook(
            &token(),
            "guest",
            "https://cm.example/webhooks/webex",
            "s3cret",
        )
        .await
        .unwrap();
    assert_eq!(id, string(&json("webhook-created.json"), "id"));

    let seen = last(&log);
    assert_eq!(
        (seen.method, seen.path.as_str()),
        (Method::POST, "/v1/webhooks")
    );
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    for key in keys(&body) {
        assert!(
            WEBHOOK_FIELDS.contains(&key),
            "{key} is not a documented field"
        );
    }
    assert_eq!(body["name"], "guest");
    assert_eq!(body["targetUrl"], "https://cm.example/webhooks/webex");
    assert_eq!(body["resource"], "messages");
    assert_eq!(body["event"], "created");
    assert_eq!(body["secret"], "s3cret");
}

/// `GET /v1/webhooks/{id}` through the product's client: the documented
/// example is a webhook Webex deactivated.
#[tokio::test]
async fn a_webhook_object_says_whether_webex_deactivated_it() {
    let (client, log) = fake_webex().await;
    let hook = client
        .webhook(
            &token(),
            "Y2lzY29zcGFyazovL3VzL1dFQkhPT0svOTZhYmMyYWEtM2RjYy0xMWU1LWExNTItZmUzNDgxOWNkYzlh",
        )
        .await
        .unwrap()
        .expect("the documented webhook");
    assert_eq!(hook.status, "inactive");
    assert!(hook.target_url.starts_with("https://"));
    assert_eq!(last(&log).method, Method::GET);
    let created = json("webhook-created.json");
    assert_eq!(string(&created, "status"), "active");
}

/// `PUT /v1/webhooks/{id}` through the product's client: name and targetUrl
/// are required; status may only be set to active (to re-enable a webhook
/// Webex disabled).
#[tokio::test]
async fn a_webhook_update_names_the_required_fields_and_reactivates() {
    let documented = json("webhook-update-request.json");
    let (client, log) = fake_webex().await;
    client
        .reactivate_webhook(
            &token(),
            "hook-1",
            "relay",
            "https://cm.example.com/webhooks/webex",
            "s3cret",
        )
        .await
        .unwrap();
    let seen = last(&log);
    assert_eq!(
        (seen.method, seen.path.as_str()),
        (Method::PUT, "/v1/webhooks/hook-1")
    );
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["status"], documented["status"]);
    let updatable = ["name", "targetUrl", "secret", "status", "ownedBy"];
    for key in keys(&sent) {
        assert!(updatable.contains(&key), "{key} is not updatable");
    }
    for required in ["name", "targetUrl"] {
        assert!(keys(&documented).contains(&required));
        assert!(!string(&sent, required).is_empty(), "{required}");
    }
}

// ---------------------------------------------------------------------------
// The delivery envelope and X-Spark-Signature

/// The secret of Webex's "Using a Webhook Secret" example.
const SECRET: &str = "somesupersecretphrase";

/// HMAC-SHA1 of `message-created-webhook.json`'s bytes with `SECRET`, computed
/// independently of the product:
/// `openssl dgst -sha1 -hmac somesupersecretphrase platform/tests/fixtures/webex/message-created-webhook.json`
const ENVELOPE_SIGNATURE: &str = "abbcc878b034448a5cb06620b93e08c4bc5e1617";

#[test]
fn x_spark_signature_is_hmac_sha1_hex_of_the_raw_body() {
    let body = fixture("message-created-webhook.json");
    assert!(signature_valid(SECRET, body.as_bytes(), ENVELOPE_SIGNATURE));
    assert!(!signature_valid(
        "another secret",
        body.as_bytes(),
        ENVELOPE_SIGNATURE
    ));
    // The raw bytes, not the JSON: a re-serialised body no longer matches.
    let reserialised = serde_json::to_string(&json("message-created-webhook.json")).unwrap();
    assert!(!signature_valid(
        SECRET,
        reserialised.as_bytes(),
        ENVELOPE_SIGNATURE
    ));
    let mut tampered = body.clone().into_bytes();
    tampered[10] ^= 1;
    assert!(!signature_valid(SECRET, &tampered, ENVELOPE_SIGNATURE));
    assert!(!signature_valid(SECRET, body.as_bytes(), ""));
    assert!(!signature_valid(SECRET, body.as_bytes(), "sha1=abbcc878"));

    // printf 'The quick brown fox jumps over the lazy dog' | openssl dgst -sha1 -hmac key
    assert!(signature_valid(
        "key",
        b"The quick brown fox jumps over the lazy dog",
        "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
    ));
}

fn sign(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A relay on a fresh SQLite store whose Webex and Connect are unreachable:
/// accepting a delivery calls neither.
async fn relay() -> (Relay, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("cm-webex-contracts-{}.db", uuid::Uuid::new_v4()));
    let store = Store::connect(&format!("sqlite://{}", path.display()), Rules::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let nowhere = "http://127.0.0.1:9";
    let webex = WebexClient::new(&format!("{nowhere}/v1"), Duration::from_secs(1));
    let fetcher = |name| {
        Fetcher::new(
            FetchRules::new(name, Some(nowhere), &[]).unwrap(),
            FetchLimits::default(),
        )
    };
    let issuer = GuestIssuer::new("issuer", "MDEyMzQ1Njc4OWFiY2RlZg==").unwrap();
    let relay = Relay::new(
        store.clone(),
        RelayClients {
            guests: GuestAuth::new(
                store.clone(),
                webex.clone(),
                GuestProvider::GuestIssuer(issuer),
                None,
            ),
            connect: ConnectMessaging::new(nowhere, "key", "", "", None, Duration::from_secs(1)),
            media: MediaCache::new(
                store,
                webex,
                fetcher("Webex"),
                nowhere,
                MediaSettings::default(),
            ),
            customer_media: fetcher("Connect"),
            bot: None,
        },
        RelaySettings {
            webhook_url: format!("{nowhere}/webhooks/webex"),
            webhook_secret: SECRET.into(),
            attachment_text: "(file)".into(),
            whatsapp_templates: Default::default(),
            connect_inbound_token: "token".into(),
            connect_webhook_secret: None,
            catch_up_window: Duration::from_secs(3600),
            pci_mask_for_agent: true,
            pci_warn_customer: true,
            customer_language: domain::Language::En,
        },
    );
    (relay, path)
}

/// A delivery to `/webhooks/webex` as the server hands it on: verified
/// (`x-spark-signature`), then accepted.
async fn webex_delivers(
    relay: &Relay,
    body: &[u8],
    signature: Option<&str>,
) -> Result<Result<Accepted, AcceptError>, Refused> {
    let presented = Presented {
        signature,
        token: None,
    };
    let verified = relay.verify_webhook::<Webex>(presented, Bytes::copy_from_slice(body))?;
    Ok(relay.accept_webex(verified).await)
}

#[tokio::test]
async fn the_documented_delivery_envelope_is_verified_parsed_and_deduplicated() {
    let (relay, path) = relay().await;
    let body = fixture("message-created-webhook.json");

    // Signed as Webex signs it, and parsed (a malformed envelope would be an
    // error). In the guide's example the message was written by the
    // webhook's creator (`data.personId` == `createdBy`): for a guest's
    // webhook that is our own relayed post, never sent back.
    assert_eq!(
        webex_delivers(&relay, body.as_bytes(), Some(ENVELOPE_SIGNATURE))
            .await
            .unwrap()
            .unwrap(),
        Accepted::Ignored("written by the guest")
    );
    // Webex may deliver again: known from the body alone, it is ignored
    // again, and nothing was kept of it (no dedup record to prune or erase).
    assert_eq!(
        webex_delivers(&relay, body.as_bytes(), Some(ENVELOPE_SIGNATURE))
            .await
            .unwrap()
            .unwrap(),
        Accepted::Ignored("written by the guest")
    );
    let store = Store::connect(&format!("sqlite://{}", path.display()), Rules::default())
        .await
        .unwrap();
    assert_eq!(
        store.prune_inbound_events(i64::MAX).await.unwrap(),
        0,
        "no dedup record of the guest's own message"
    );
    store.close().await;
    // No or a wrong signature: refused before anything is read.
    assert_eq!(
        webex_delivers(&relay, body.as_bytes(), None)
            .await
            .unwrap_err(),
        Refused
    );
    assert_eq!(
        webex_delivers(&relay, body.as_bytes(), Some(&sign(b"another body")))
            .await
            .unwrap_err(),
        Refused
    );

    // Someone else (an agent) wrote in the guest's space: the guest is looked
    // up by createdBy; this store has no session for it, so nothing is queued.
    let mut agent: Value = json("message-created-webhook.json");
    agent["data"]["id"] = "another-message".into();
    agent["data"]["personId"] = "the-agent".into();
    agent["actorId"] = "the-agent".into();
    let agent = serde_json::to_vec(&agent).unwrap();
    assert_eq!(
        webex_delivers(&relay, &agent, Some(&sign(&agent)))
            .await
            .unwrap()
            .unwrap(),
        Accepted::Ignored("no session for this guest")
    );

    // Another resource or event is acknowledged and ignored.
    let mut other: Value = json("message-created-webhook.json");
    other["resource"] = "memberships".into();
    let other = serde_json::to_vec(&other).unwrap();
    assert_eq!(
        webex_delivers(&relay, &other, Some(&sign(&other)))
            .await
            .unwrap()
            .unwrap(),
        Accepted::Ignored("not a new message")
    );

    // The fields we rely on are required: without createdBy it is malformed.
    let mut partial: Value = json("message-created-webhook.json");
    partial.as_object_mut().unwrap().remove("createdBy");
    let partial = serde_json::to_vec(&partial).unwrap();
    assert!(matches!(
        webex_delivers(&relay, &partial, Some(&sign(&partial))).await,
        Ok(Err(AcceptError::Malformed(_)))
    ));

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

// ---------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn error_answers_keep_webex_message_and_honour_retry_after() {
    let answer = json("error.json");
    let message = string(&answer, "message");
    string(&answer, "trackingId");

    let busy = failing_webex(429, Some("7")).await;
    assert_eq!(
        busy.me(&token()).await.unwrap_err(),
        WebexError::Unavailable {
            message: message.into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    let down = failing_webex(503, None).await;
    assert_eq!(
        down.me(&token()).await.unwrap_err(),
        WebexError::Unavailable {
            message: message.into(),
            retry_after: None,
        }
    );
    let refused = failing_webex(401, None).await;
    assert_eq!(
        refused.jwt_login("jwt", 0).await.unwrap_err(),
        WebexError::Refused {
            status: 401,
            message: message.into(),
        }
    );
}

// ---------------------------------------------------------------------------
// Service App guests and the refresh grant, through the product's client.

/// `POST /v1/guests/token` with a Service App token.
#[tokio::test]
async fn a_service_app_guest_token_answer_has_the_documented_fields() {
    let (client, log) = fake_webex().await;
    let now = 1_000_000;
    let guest = client
        .guest_token(&token(), "PersonNo#1", "Person of Interest", now)
        .await
        .unwrap();
    let documented = json("guests-token.json");
    assert_eq!(guest.token, string(&documented, "accessToken"));
    assert_eq!(guest.expires_at_ms, now + 64_799 * 1000);
    let seen = last(&log);
    assert_eq!(
        seen.authorization.as_deref(),
        Some("Bearer guest-access-token")
    );
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    let mut fields = keys(&sent);
    fields.sort();
    let request = json("guests-token-request.json");
    let mut documented_fields = keys(&request);
    documented_fields.sort();
    assert_eq!(fields, documented_fields);
    assert!(string(&documented, "email").ends_with("@appid.ciscospark.com"));
}

/// `GET /v1/guests/count`: documented as `text/plain`; the example is 112.
#[tokio::test]
async fn the_guest_count_is_a_bare_number() {
    let (client, _) = fake_webex().await;
    assert_eq!(client.guest_count(&token()).await.unwrap(), 112);
}

/// `POST /v1/access_token`, grant_type=refresh_token (the sign-in's
/// authorization_code exchange answers the same shape).
#[tokio::test]
async fn a_token_answer_has_access_and_refresh_tokens_with_lifetimes_in_seconds() {
    let (client, log) = fake_webex().await;
    let now = 5_000;
    let tokens = client
        .refresh_app_token("client-id", "client-secret", "refresh-1", now)
        .await
        .unwrap();
    let answer = json("access-token-refresh.json");
    assert_eq!(tokens.access.token, string(&answer, "access_token"));
    assert_eq!(tokens.access.expires_at_ms, now + 1_209_600 * 1000);
    assert_eq!(
        tokens.refresh_token.as_deref(),
        Some(string(&answer, "refresh_token"))
    );
    assert_eq!(seconds(&answer, "refresh_token_expires_in"), 7_776_000);
    let form = String::from_utf8(last(&log).body.to_vec()).unwrap();
    for pair in [
        "grant_type=refresh_token",
        "client_id=client-id",
        "client_secret=client-secret",
        "refresh_token=refresh-1",
    ] {
        assert!(form.split('&').any(|p| p == pair), "{pair} in {form}");
    }
}
