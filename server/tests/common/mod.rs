//! Starts the real server on an ephemeral port with a fresh SQLite database.
#![allow(dead_code)]

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
            .create_api_key(&AuditCtx::system(), "connect-flows")
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request authenticated the way Webex Connect does it (`key` header).
    pub fn req(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("key", &self.key)
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
