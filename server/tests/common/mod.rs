//! Starts the real server on an ephemeral port with a fresh SQLite database.
#![allow(dead_code)]

pub mod relay;

use domain::model::Role;
use domain::store::{AuditCtx, Store};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use server::config::Config;
use server::startup::Application;

pub struct TestApp {
    pub base: String,
    pub key: String,
    pub store: Store,
    pub client: Client,
    db_path: std::path::PathBuf,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let db_path = std::env::temp_dir().join(format!("cm-api-{}.db", uuid::Uuid::new_v4()));
        let mut config = Config::for_tests(format!("sqlite://{}", db_path.display()));
        adjust(&mut config);
        let app = Application::build(config).await.expect("server starts");
        let base = format!("http://{}", app.addr());
        let store = app.store().clone();
        tokio::spawn(app.run_until_stopped());
        let (_, key) = store
            .create_api_key(
                &AuditCtx::system(),
                "connect-flows",
                &domain::store::KeyGrant::default(),
            )
            .await
            .unwrap();
        TestApp {
            base,
            key,
            store,
            client: Client::new(),
            db_path,
        }
    }

    /// The test's SQLite database, for checks no API exposes.
    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.db_path.display())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request authenticated the way Webex Connect does it (`key` header).
    pub fn req(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("key", &self.key)
    }

    /// The body of an unauthenticated GET (pages, the sandbox's control API).
    pub async fn text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::DELETE, path)).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db_path.display()));
        }
    }
}

pub async fn send(req: RequestBuilder) -> (StatusCode, Value) {
    let response: Response = req.send().await.expect("request reaches the server");
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: String,
    pub csrf: String,
}

pub const PASSWORD: &str = "a-long-test-password";

pub async fn add_agent(app: &TestApp, email: &str, role: Role) -> domain::model::Agent {
    let agent = app
        .store
        .upsert_agent(&AuditCtx::system(), email, None, role)
        .await
        .unwrap();
    app.store
        .set_password(&AuditCtx::system(), &agent.id, PASSWORD)
        .await
        .unwrap();
    agent
}

/// POSTs a server function the way the hydrated page does.
pub async fn call(
    app: &TestApp,
    cookie: Option<&str>,
    endpoint: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut req = app
        .client
        .post(app.url(&format!("/api/{endpoint}")))
        .header("origin", &app.base)
        .header("accept", "application/json")
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

pub async fn sign_in<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let (status, body, headers) = call(
        app,
        None,
        "sign-in",
        &[
            ("email", email),
            ("password", PASSWORD),
            ("next", "/contacts"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set_cookie = headers["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(
        set_cookie.contains("SameSite=Lax"),
        "plain http on loopback: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let (_, me, _) = call(app, Some(&cookie), "me", &[]).await;
    Browser {
        app,
        csrf: me["csrf"].as_str().expect("signed in").to_string(),
        cookie,
    }
}

impl Browser<'_> {
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut with_csrf = vec![("csrf", self.csrf.as_str())];
        with_csrf.extend_from_slice(form);
        let (s, b, _) = call(self.app, Some(&self.cookie), endpoint, &with_csrf).await;
        (s, b)
    }

    pub async fn read(&self, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let (s, b, _) = call(self.app, Some(&self.cookie), endpoint, form).await;
        (s, b)
    }
}
