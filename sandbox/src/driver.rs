//! The test driver: one HTTP client for the product's tests, the crash test,
//! the benchmark and the sandbox's own tests. It acts as the people and
//! platforms around the product do: the customer on the sandbox phone, the
//! agent in the sandbox's Webex, Connect and Webex posting signed webhooks,
//! the agent in the sidebar (server functions with the CSRF token), and it
//! reads the sandbox's control API. It only speaks HTTP to base URLs, so the
//! same calls work for a server started in-process and for spawned binaries.
//!
//! Built with the `driver` feature only: test code depends on it, the
//! product does not.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

/// How long `eventually` and `Driver::room_with` wait before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A file to send: (file name, MIME type, bytes).
pub type File<'a> = (&'a str, &'a str, Vec<u8>);

/// The name the customer's phone gives with every message.
const CUSTOMER_NAME: &str = "Mr Doe";

#[derive(Clone)]
pub struct Driver {
    pub http: Client,
    /// The product's root URL, e.g. "http://127.0.0.1:3000": its server
    /// functions and webhooks.
    pub product: String,
    /// The sandbox's root URL, e.g. "http://127.0.0.1:3000/sandbox".
    pub sandbox: String,
}

impl Driver {
    pub fn new(product: &str, sandbox: &str) -> Driver {
        Driver {
            http: Client::new(),
            product: product.to_string(),
            sandbox: sandbox.to_string(),
        }
    }

    /// A product that mounts the sandbox at `/sandbox` (`CM_SANDBOX=true`).
    pub fn mounted(product: &str) -> Driver {
        Driver::new(product, &format!("{product}/sandbox"))
    }

    pub fn product_url(&self, path: &str) -> String {
        format!("{}{path}", self.product)
    }

    pub fn sandbox_url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox)
    }

    /// Waits (30 s at most) until `url` answers 2xx: for a process just started.
    pub async fn wait_ready(&self, url: &str) {
        let http = &self.http;
        let what = format!("{url} to become ready");
        wait_for(&what, Duration::from_secs(30), move || async move {
            let response = http.get(url).send().await;
            response
                .is_ok_and(|r| r.status().is_success())
                .then_some(())
        })
        .await
    }

    async fn sandbox_get(&self, path: &str) -> Value {
        let response = self.http.get(self.sandbox_url(path)).send().await;
        let response = response.expect("the sandbox answers");
        response.json().await.expect("the sandbox answers JSON")
    }

    // The sandbox's control API.

    /// An agent's Webex access token, without the OAuth page.
    pub async fn agent_token(&self, email: &str) -> String {
        let body = self
            .control("agent-token", &json!({ "email": email }))
            .await;
        let token = body["access_token"].as_str().expect("agent token");
        token.to_string()
    }

    /// POSTs to `/control/{path}`; it must succeed. The answer, or null.
    pub async fn control(&self, path: &str, body: &Value) -> Value {
        let url = self.sandbox_url(&format!("/control/{path}"));
        let response = self.http.post(url).json(body).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// The route faults still armed (`/control/faults`): how many calls
    /// each will still fail, summed.
    pub async fn faults_left(&self) -> u64 {
        let faults = self.sandbox_get("/control/faults").await;
        faults["routes"]
            .as_array()
            .map(|routes| routes.iter().filter_map(|f| f["remaining"].as_u64()).sum())
            .unwrap_or(0)
    }

    /// Disarms every route and delivery fault.
    pub async fn clear_faults(&self) {
        let url = self.sandbox_url("/control/faults");
        let response = self.http.delete(url).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// What the sandbox's scripted bot received, in order.
    pub async fn bot_received(&self) -> Vec<Value> {
        let answer = self.sandbox_get("/control/bot").await;
        answer["received"].as_array().cloned().unwrap_or_default()
    }

    /// The sandbox's call log, all of it or one kind ("api", "delivery").
    pub async fn calls(&self, kind: Option<&str>) -> Vec<Value> {
        let path = match kind {
            Some(kind) => format!("/control/calls?kind={kind}"),
            None => "/control/calls".to_string(),
        };
        items(self.sandbox_get(&path).await)
    }

    /// The calls of one kind logged after sequence number `since`.
    pub async fn calls_since(&self, kind: &str, since: u64) -> Vec<Value> {
        items(
            self.sandbox_get(&format!("/control/calls?kind={kind}&since={since}"))
                .await,
        )
    }

    /// What was sent through Connect (accepted requests and phone messages).
    pub async fn connect_messages(&self) -> Vec<Value> {
        items(self.sandbox_get("/control/connect/messages").await)
    }

    // The customer's phone.

    /// The customer sends from the phone page, with an optional file; the
    /// phone's answer, whatever it is.
    pub async fn phone_send(
        &self,
        channel: &str,
        number: &str,
        name: &str,
        text: &str,
        file: Option<File<'_>>,
    ) -> Response {
        let mut form = Form::new()
            .text("channel", channel.to_string())
            .text("number", number.to_string())
            .text("name", name.to_string())
            .text("text", text.to_string());
        if let Some(file) = file {
            form = form.part("file", part(file));
        }
        let url = self.sandbox_url("/phone/api/send");
        self.http.post(url).multipart(form).send().await.unwrap()
    }

    /// The customer (`CUSTOMER_NAME`) writes from the phone; it must be accepted.
    pub async fn customer_sends(&self, channel: &str, number: &str, text: &str) {
        self.customer_sends_file(channel, number, text, None).await
    }

    /// The customer writes from the phone, with an optional file; it must be accepted.
    pub async fn customer_sends_file(
        &self,
        channel: &str,
        number: &str,
        text: &str,
        file: Option<File<'_>>,
    ) {
        let r = self
            .phone_send(channel, number, CUSTOMER_NAME, text, file)
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// The customer shares a location, a contact card, taps a reply, reacts...
    /// (delivered as Connect's WhatsApp webhook).
    pub async fn customer_whatsapp_event(&self, number: &str, kind: &str, content: Value) {
        let body = json!({ "number": number, "kind": kind, "content": content });
        let url = self.sandbox_url("/phone/api/whatsapp-event");
        let r = self.http.post(url).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// What the customer's phone shows (oldest first), as the phone page reads it.
    pub async fn phone_thread(&self, channel: &str, number: &str) -> Vec<Value> {
        let url = self.sandbox_url("/phone/api/thread");
        let query = [("channel", channel), ("number", number)];
        let response = self.http.get(url).query(&query).send().await.unwrap();
        items(response.json().await.unwrap())
    }

    /// The texts the business sent to the phone.
    pub async fn phone_received(&self, channel: &str, number: &str) -> Vec<String> {
        let thread = self.phone_thread(channel, number).await;
        thread
            .iter()
            .filter(|m| m["direction"] != "inbound")
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    // The agent in the sandbox's Webex.

    /// Every message in the agent's 1:1 spaces, as the Webex API gives them
    /// (newest first in each space).
    pub async fn agent_messages(&self, token: &str) -> Vec<Value> {
        let rooms_url = self.sandbox_url("/webex/v1/rooms");
        let rooms = self.http.get(rooms_url).bearer_auth(token).send().await;
        let rooms: Value = rooms.unwrap().json().await.unwrap();
        let mut out = Vec::new();
        for room in items(rooms) {
            let room_id = room["id"].as_str().unwrap();
            let messages = self
                .http
                .get(self.sandbox_url("/webex/v1/messages"))
                .query(&[("roomId", room_id), ("max", "1000")])
                .bearer_auth(token)
                .send()
                .await;
            out.extend(items(messages.unwrap().json().await.unwrap()));
        }
        out
    }

    /// Every message in the agent's 1:1 spaces, as (room id, text).
    pub async fn agent_inbox(&self, token: &str) -> Vec<(String, String)> {
        let messages = self.agent_messages(token).await;
        messages
            .iter()
            .map(|m| {
                (
                    m["roomId"].as_str().unwrap_or_default().to_string(),
                    m["text"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Waits (`PATIENCE`) for a message containing `needle` in the agent's
    /// spaces; its room.
    pub async fn room_with(&self, token: &str, needle: &str) -> String {
        let what = format!("{needle:?} in the agent's spaces");
        wait_for(&what, PATIENCE, move || async move {
            let inbox = self.agent_inbox(token).await;
            let found = inbox.into_iter().find(|(_, text)| text.contains(needle));
            found.map(|(room, _)| room)
        })
        .await
    }

    /// The agent writes in a space; the new message's id.
    pub async fn agent_writes(&self, token: &str, room_id: &str, text: &str) -> String {
        let r = self
            .http
            .post(self.sandbox_url("/webex/v1/messages"))
            .bearer_auth(token)
            .json(&json!({ "roomId": room_id, "text": text }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let message: Value = r.json().await.unwrap();
        message["id"].as_str().unwrap_or_default().to_string()
    }

    /// The agent posts a file (and text) into a space, as the Webex App does.
    pub async fn agent_sends_file(&self, token: &str, room_id: &str, text: &str, file: File<'_>) {
        let form = Form::new()
            .text("roomId", room_id.to_string())
            .text("text", text.to_string())
            .part("files", part(file));
        let r = self
            .http
            .post(self.sandbox_url("/webex/v1/messages"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    // The platforms calling the product.

    /// Connect delivering `body` to `/webhooks/connect/inbound`: the URL's
    /// token, the body signed with the hub secret (`x-hub-signature`).
    pub fn connect_inbound(&self, token: &str, hub_secret: &str, body: String) -> RequestBuilder {
        let url = self.product_url(&format!("/webhooks/connect/inbound?token={token}"));
        self.http
            .post(url)
            .header("content-type", "application/json")
            .header(
                "x-hub-signature",
                hub_signature(hub_secret, body.as_bytes()),
            )
            .body(body)
    }

    /// Webex delivering a webhook `body` to `/webhooks/webex`, signed with
    /// the webhook's secret (`X-Spark-Signature`).
    pub fn webex_webhook(&self, secret: &str, body: String) -> RequestBuilder {
        self.http
            .post(self.product_url("/webhooks/webex"))
            .header("content-type", "application/json")
            .header(
                "x-spark-signature",
                spark_signature(secret, body.as_bytes()),
            )
            .body(body)
    }

    // The sidebar's server functions.

    /// POSTs a server function the way the hydrated page does.
    pub async fn call(
        &self,
        cookie: Option<&str>,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value, HeaderMap) {
        let mut req = self
            .http
            .post(self.product_url(&format!("/api/{endpoint}")))
            .header("origin", &self.product)
            .header("accept", "application/json")
            .form(form);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let response = req.send().await.expect("the product answers");
        let headers = response.headers().clone();
        let (status, body) = read(response).await;
        (status, body, headers)
    }

    /// Signs in with a password, as the sign-in page does. The session
    /// cookie must be HttpOnly and SameSite=Lax (plain http on loopback).
    pub async fn sign_in(&self, email: &str, password: &str) -> Browser<'_> {
        let form = [
            ("email", email),
            ("password", password),
            ("next", "/contacts"),
        ];
        let (status, body, headers) = self.call(None, "sign-in", &form).await;
        assert_eq!(status, StatusCode::OK, "sign-in as {email}: {body}");
        let set_cookie = headers["set-cookie"].to_str().unwrap();
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(
            set_cookie.contains("SameSite=Lax"),
            "plain http on loopback: {set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let (_, me, _) = self.call(Some(&cookie), "me", &[]).await;
        Browser {
            driver: self,
            csrf: me["csrf"].as_str().expect("signed in").to_string(),
            cookie,
        }
    }
}

/// A signed-in agent's browser: its session cookie and CSRF token.
pub struct Browser<'a> {
    pub driver: &'a Driver,
    pub cookie: String,
    pub csrf: String,
}

impl Browser<'_> {
    /// A server function that changes something: sent with the CSRF token.
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut with_csrf = vec![("csrf", self.csrf.as_str())];
        with_csrf.extend_from_slice(form);
        let (status, body, _) = self
            .driver
            .call(Some(&self.cookie), endpoint, &with_csrf)
            .await;
        (status, body)
    }

    /// A server function that only reads: no CSRF token.
    pub async fn read(&self, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let (status, body, _) = self.driver.call(Some(&self.cookie), endpoint, form).await;
        (status, body)
    }

    /// Adds a contact and starts a conversation with it on `channel`, as the
    /// contacts page does; the start's answer.
    pub async fn start_conversation(&self, name: &str, msisdn: &str, channel: &str) -> Value {
        let contact = [
            ("id", ""),
            ("name", name),
            ("msisdn", msisdn),
            ("version", ""),
        ];
        let (status, contact) = self.call("contacts/save", &contact).await;
        assert!(status.is_success(), "contacts/save: {contact}");
        let id = contact["id"].as_str().expect("contact saved");
        let nonce = uuid::Uuid::new_v4().to_string();
        let start = [("contact_id", id), ("channel", channel), ("nonce", &nonce)];
        let (status, started) = self.call("contacts/start", &start).await;
        assert!(status.is_success(), "contacts/start: {started}");
        started
    }
}

/// Sends a request; its status and body (JSON, else the text, else null).
pub async fn send(req: RequestBuilder) -> (StatusCode, Value) {
    read(req.send().await.expect("request reaches the server")).await
}

async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// The `items` list of a sandbox answer (empty when there is none).
fn items(mut answer: Value) -> Vec<Value> {
    match answer["items"].take() {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

fn part((name, mime, bytes): File<'_>) -> Part {
    let part = Part::bytes(bytes).file_name(name.to_string());
    part.mime_str(mime).expect("a valid MIME type")
}

/// Polls until `check` holds (`PATIENCE` at most).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, PATIENCE, || {
        let checked = check();
        async move { checked.await.then_some(()) }
    })
    .await
}

/// Polls `attempt` every 50 ms until it gives a value; fails after `within`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = attempt().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback port free right now, for a process to be started on it.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Connect's `x-hub-signature`: hex HMAC-SHA256 of the body.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    hmac_hex::<sha2::Sha256>(secret.as_bytes(), body)
}

/// Webex's `X-Spark-Signature`: hex HMAC-SHA1 of the body.
pub fn spark_signature(secret: &str, body: &[u8]) -> String {
    hmac_hex::<sha1::Sha1>(secret.as_bytes(), body)
}

/// HMAC written out from RFC 2104 over the digest, so tests share no HMAC
/// code with the sandbox or the product they check. SHA-1 and SHA-256 both
/// work on 64-byte blocks.
fn hmac_hex<D: Digest>(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        let hashed = D::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = D::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    let outer = D::new().chain_update(&opad).chain_update(inner).finalize();
    hex::encode(outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_rfc_test_vectors() {
        // Test case 2 of RFC 4231 (HMAC-SHA256) and of RFC 2202 (HMAC-SHA1).
        let data = b"what do ya want for nothing?";
        assert_eq!(
            hub_signature("Jefe", data),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            spark_signature("Jefe", data),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // Test case 6 of both: a key longer than a block is hashed first.
        let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(
            hmac_hex::<sha2::Sha256>(&[0xaa; 131], data),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(
            hmac_hex::<sha1::Sha1>(&[0xaa; 80], data),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }
}
