//! Starts the real server on an ephemeral port with a fresh database (SQLite,
//! or Postgres with `CM_TEST_DATABASE=postgres`), and hands out the shared
//! test driver (`sandbox::driver`) pointed at it.
#![allow(dead_code)]

pub mod relay;

use domain::model::Role;
use reqwest::{Client, RequestBuilder, StatusCode};
use sandbox::driver::Driver;
use serde_json::Value;
use store::{AuditCtx, Store};

use server::config::Config;
use server::startup::Application;

pub use sandbox::driver::{send, Browser};

/// A customer on a channel, from a number in any written form (region GB).
pub fn customer(channel: domain::Channel, number: &str) -> domain::model::Customer {
    domain::model::Customer::parse(channel, "customer", number, Default::default())
        .expect("a valid test number")
}

/// A wire input made into what the store takes, as the API does (region GB).
pub fn valid<'a, I, T>(input: &'a I) -> T
where
    T: TryFrom<(&'a I, domain::phone::PhoneRegion), Error = domain::FieldError>,
{
    T::try_from((input, Default::default())).expect("the test's input is valid")
}

pub struct TestApp {
    pub base: String,
    pub key: String,
    pub store: Store,
    /// The driver's client, for requests the driver has no call for.
    pub client: Client,
    /// Drives the product and its sandbox (mounted at `/sandbox`) over HTTP.
    pub driver: Driver,
    /// The native relay, for the background work a test runs at once.
    pub relay: Option<::relay::Relay>,
    db: store::scratch::ScratchDb,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let db = store::scratch::ScratchDb::from_env("cm_api").await;
        let mut config = Config::for_tests(db.url());
        adjust(&mut config);
        let app = Application::build(config).await.expect("server starts");
        let base = format!("http://{}", app.addr());
        let store = app.store().clone();
        let relay = app.relay().cloned();
        tokio::spawn(app.run_until_stopped());
        let (_, key) = store
            .create_api_key(
                &AuditCtx::system(),
                "connect-flows",
                &store::KeyGrant::default(),
            )
            .await
            .unwrap();
        let driver = Driver::mounted(&base);
        TestApp {
            base,
            key,
            store,
            client: driver.http.clone(),
            driver,
            relay,
            db,
        }
    }

    /// The test's database, for checks no API exposes.
    pub fn database_url(&self) -> String {
        self.db.url()
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
        self.db.remove_blocking();
    }
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
    app.driver.call(cookie, endpoint, form).await
}

/// Signs in with the tests' password (checking the session cookie's flags).
pub async fn sign_in<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    app.driver.sign_in(email, PASSWORD).await
}
