//! Test harness: the sandbox served on loopback under /sandbox, and a tiny
//! receiver standing in for the product (webhooks, inbound, receipts).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use base64::Engine;
use sandbox::driver::Driver;
use sandbox::SandboxConfig;
use serde_json::{json, Value};

pub const AGENT_A: &str = "agent-a@example.com";
pub const AGENT_B: &str = "agent-b@example.com";
pub const ISSUER: &str = "test-guest-issuer";
pub const SECRET_BYTES: &[u8] = b"0123456789abcdef0123456789abcdef";
pub const CONNECT_KEY: &str = "connect-test-key";
pub const HUB_SECRET: &str = "connect-hub-secret";
pub const SERVICE_APP_ID: &str = "test-service-app";
pub const SERVICE_APP_SECRET: &str = "test-service-app-secret";
pub const SERVICE_APP_REFRESH: &str = "test-service-app-refresh-token";
/// A 1x1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

#[derive(Clone, Debug)]
pub struct Captured {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Captured {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("delivery body is JSON")
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    captured: Arc<Mutex<Vec<Captured>>>,
    pub status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Receiver {
        let captured = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let state = (captured.clone(), status.clone());
        let app = Router::new()
            .route(
                "/media/{name}",
                axum::routing::get(|| async { ([("content-type", "image/png")], PNG) }),
            )
            .fallback(capture)
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            base,
            captured,
            status,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn captured(&self, path: &str) -> Vec<Captured> {
        let all = self.captured.lock().unwrap();
        all.iter().filter(|c| c.path == path).cloned().collect()
    }

    /// Waits (bounded) until at least `n` deliveries reached `path`.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Captured> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.captured(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} deliveries to {path}, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

type ReceiverState = (Arc<Mutex<Vec<Captured>>>, Arc<AtomicU16>);

async fn capture(
    State((captured, status)): State<ReceiverState>,
    request: Request,
) -> impl IntoResponse {
    let path = request.uri().path().to_string();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    captured.lock().unwrap().push(Captured {
        path,
        headers,
        body,
    });
    StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
}

pub struct Harness {
    /// e.g. http://127.0.0.1:PORT/sandbox
    pub base: String,
    pub http: reqwest::Client,
    pub config: SandboxConfig,
    pub receiver: Receiver,
    /// The shared test driver (`sandbox::driver`), with the receiver
    /// standing in for the product.
    pub driver: Driver,
}

pub async fn start() -> Harness {
    let receiver = Receiver::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/sandbox", listener.local_addr().unwrap());
    let config = SandboxConfig {
        base_url: base.clone(),
        guest_issuer_id: ISSUER.into(),
        guest_issuer_secret_b64: base64::engine::general_purpose::STANDARD.encode(SECRET_BYTES),
        oauth_client_id: "test-client".into(),
        oauth_client_secret: "test-client-secret".into(),
        service_app_client_id: SERVICE_APP_ID.into(),
        service_app_client_secret: SERVICE_APP_SECRET.into(),
        service_app_refresh_token: SERVICE_APP_REFRESH.into(),
        embedded_app_issuer: format!("{base}/webex/embedded"),
        embedded_app_audience: "test-embedded-app".into(),
        connect_api_key: CONNECT_KEY.into(),
        connect_inbound_url: Some(receiver.url("/inbound")),
        connect_webhook_secret: Some(HUB_SECRET.into()),
        agents: vec![
            (AGENT_A.into(), "Agent A".into()),
            (AGENT_B.into(), "Agent B".into()),
        ],
        bot: None,
    };
    let app = Router::new().nest_service("/sandbox", sandbox::router(config.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let driver = Driver {
        http: http.clone(),
        product: receiver.base.clone(),
        sandbox: base.clone(),
    };
    Harness {
        base,
        http,
        config,
        receiver,
        driver,
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn webex(&self, path: &str) -> String {
        self.url(&format!("/webex/v1{path}"))
    }

    /// A Guest Issuer JWT signed as the reference says: HS256 with the decoded secret.
    pub fn guest_jwt(&self, sub: &str, name: &str, exp_in_seconds: i64) -> String {
        guest_jwt_with(ISSUER, SECRET_BYTES, sub, name, exp_in_seconds)
    }

    pub async fn guest_token(&self, sub: &str, name: &str) -> String {
        let jwt = self.guest_jwt(sub, name, 600);
        let response = self
            .http
            .post(self.webex("/jwt/login"))
            .bearer_auth(jwt)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// The Service App's access token, by the refresh grant at /access_token.
    pub async fn service_app_token(&self) -> String {
        let response = self
            .http
            .post(self.webex("/access_token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", SERVICE_APP_ID),
                ("client_secret", SERVICE_APP_SECRET),
                ("refresh_token", SERVICE_APP_REFRESH),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// POST /guests/token with `token`; returns (status, body).
    pub async fn create_guest(&self, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.webex("/guests/token"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET a Webex API path with `token`; returns (status, body).
    pub async fn webex_get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.webex(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn me(&self, token: &str) -> Value {
        self.http
            .get(self.webex("/people/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POST /messages as JSON; returns (status, body).
    pub async fn send_message(&self, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.webex("/messages"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST a Connect messaging request with the right key.
    pub async fn connect_v1(&self, body: &Value) -> Value {
        self.http
            .post(self.url("/connect/resources/v1/messaging"))
            .header("key", CONNECT_KEY)
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Webex's error shape: `{"message", "errors": [{"description"}], "trackingId"}`.
pub fn assert_webex_error(body: &Value) {
    assert!(body["message"].is_string(), "message in {body}");
    assert!(
        body["errors"][0]["description"].is_string(),
        "errors in {body}"
    );
    assert!(body["trackingId"].is_string(), "trackingId in {body}");
}

pub fn guest_jwt_with(
    iss: &str,
    secret: &[u8],
    sub: &str,
    name: &str,
    exp_in_seconds: i64,
) -> String {
    let exp = chrono::Utc::now().timestamp() + exp_in_seconds;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": sub, "name": name, "iss": iss, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}
