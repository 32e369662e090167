//! Identity: Embedded App identity tokens (pinned RS256, time claims, key
//! fetches throttled and capped; the documented rules are in `embedded.rs`),
//! "Sign in with Webex" with PKCE, the
//! linked Webex person id, safe redirects after sign-in.

use axum::routing::get;
use axum::Router;
use base64::Engine;
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{add_agent, TestApp, PASSWORD};
use domain::model::Role;

pub const AUDIENCE: &str = "test-embedded-app";

/// An identity service on loopback: its verification key at
/// `{issuer}/oauth2/v2/keys/verification` (the documented path), counting
/// fetches. `issuer` is trusted exactly (CM_EMBEDDED_APP_ISSUER), as the
/// sandbox is; https issuers are covered by `identity::tests`.
pub struct KeyServer {
    pub issuer: String,
    pub body: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    /// Serves `body`: `key.verification_key()` (the documented shape) or a JWKS.
    pub async fn start(body: Value) -> KeyServer {
        let body = Arc::new(Mutex::new(body.to_string()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (b, f) = (body.clone(), fetches.clone());
        let router = Router::new().route(
            "/idb/oauth2/v2/keys/verification",
            get(move || {
                let (b, f) = (b.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let text = b.lock().unwrap().clone();
                    ([("content-type", "application/json")], text)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/idb", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        KeyServer {
            issuer,
            body,
            fetches,
        }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The claims of agent A's token from this issuer, as the Developer
    /// Guide's "JWT field reference" lists them, for Webex person `person`.
    pub fn claims(&self, person: &str) -> Value {
        json!({
            "iss": self.issuer, "aud": AUDIENCE,
            "email": "agent-a@example.com", "email_verified": true, "name": "Agent A",
            "com.cisco.user.uuid": person, "com.cisco.user.orgid": "org-1",
            "iat": now(), "exp": now() + 600,
        })
    }
}

/// The product, trusting `keys` for Embedded App tokens, with agent A.
pub async fn app_trusting(keys: &KeyServer) -> TestApp {
    app_trusting_orgs(keys, &[]).await
}

/// The same, allowing only these organizations.
pub async fn app_trusting_orgs(keys: &KeyServer, orgs: &[&str]) -> TestApp {
    let issuer = keys.issuer.clone();
    let orgs: Vec<String> = orgs.iter().map(|o| o.to_string()).collect();
    let app = TestApp::spawn_with(|c| {
        c.integrations.embedded_app_issuer = Some(issuer);
        c.integrations.embedded_app_audience = Some(AUDIENCE.into());
        c.integrations.embedded_app_org_ids = orgs;
    })
    .await;
    add_agent(&app, "agent-a@example.com", Role::Agent).await;
    app
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT with any header, signed (or not) by `sign`.
pub fn jwt(header: Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// Posts an identity token the way the `/embedded` page does.
pub async fn embedded(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url("/auth/embedded"))
        .header("origin", &app.base)
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn identity_tokens_not_signed_rs256_are_refused() {
    let rsa = sandbox::SigningKey::generate();
    // An Ed25519 key the JWKS publishes too: still not an algorithm we accept.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let ed_jwk = json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "ed-key", "alg": "EdDSA", "use": "sig",
        "x": b64(ed.public_key().as_ref()),
    });
    let keys = KeyServer::start(json!({ "keys": [rsa.jwk(), ed_jwk] })).await;
    let app = app_trusting(&keys).await;

    // The genuine article works, so the refusals below are about the algorithm.
    let (status, body) = embedded(&app, &rsa.sign(&keys.claims("person-a"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // EdDSA with a published Ed25519 key.
    let eddsa = jwt(
        json!({ "alg": "EdDSA", "typ": "JWT", "kid": "ed-key" }),
        &keys.claims("person-a"),
        |input| ed.sign(input).as_ref().to_vec(),
    );
    let (status, body) = embedded(&app, &eddsa).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].as_str().unwrap().contains("RS256"), "{body}");

    // Algorithm confusion: HS256 keyed with the public key (as JWKS JSON and as n).
    let public_forms = [
        rsa.jwk().to_string(),
        rsa.jwk()["n"].as_str().unwrap().to_string(),
    ];
    for secret in public_forms {
        let hs256 = jwt(
            json!({ "alg": "HS256", "typ": "JWT", "kid": rsa.kid }),
            &keys.claims("person-a"),
            |input| {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
                ring::hmac::sign(&key, input).as_ref().to_vec()
            },
        );
        let (status, body) = embedded(&app, &hs256).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }

    // No signature at all.
    let none = jwt(
        json!({ "alg": "none", "typ": "JWT", "kid": rsa.kid }),
        &keys.claims("person-a"),
        |_| Vec::new(),
    );
    let (status, body) = embedded(&app, &none).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn identity_tokens_not_yet_valid_or_issued_in_the_future_are_refused() {
    let rsa = sandbox::SigningKey::generate();
    let keys = KeyServer::start(rsa.verification_key()).await;
    let app = app_trusting(&keys).await;

    let mut early = keys.claims("person-a");
    early["nbf"] = json!(now() + 600);
    let (status, body) = embedded(&app, &rsa.sign(&early)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "nbf in 10 minutes: {body}"
    );

    let mut future = keys.claims("person-a");
    future["iat"] = json!(now() + 3600);
    future["exp"] = json!(now() + 7200);
    let (status, body) = embedded(&app, &rsa.sign(&future)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "iat in an hour: {body}");
    assert!(body["error"].as_str().unwrap().contains("iat"), "{body}");

    // Within the leeway (a clock 30 s fast) is fine.
    let mut skewed = keys.claims("person-a");
    skewed["iat"] = json!(now() + 30);
    skewed["nbf"] = json!(now() + 30);
    let (status, body) = embedded(&app, &rsa.sign(&skewed)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_fetches_the_keys_at_most_once_per_window() {
    let rsa = sandbox::SigningKey::generate();
    // A JWKS: tokens name their key by id.
    let keys = KeyServer::start(json!({ "keys": [rsa.jwk()] })).await;
    let app = app_trusting(&keys).await;

    let mut flood = tokio::task::JoinSet::new();
    for i in 0..40 {
        // Well-formed RS256 tokens naming key ids nobody published.
        let token = jwt(
            json!({ "alg": "RS256", "typ": "JWT", "kid": format!("random-kid-{i}-{}", uuid::Uuid::new_v4()) }),
            &keys.claims("person-a"),
            |_| vec![0u8; 256],
        );
        let (client, url, origin) = (
            app.client.clone(),
            app.url("/auth/embedded"),
            app.base.clone(),
        );
        flood.spawn(async move {
            client
                .post(url)
                .header("origin", origin)
                .json(&json!({ "token": token }))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let statuses = flood.join_all().await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(keys.fetches(), 1, "one fetch for the whole flood");

    // Known keys keep working meanwhile, from the cache.
    let (status, body) = embedded(&app, &rsa.sign(&keys.claims("person-a"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys.fetches(), 1);
}

#[tokio::test]
async fn an_oversized_key_set_is_refused_while_reading() {
    let rsa = sandbox::SigningKey::generate();
    let keys = KeyServer::start(rsa.verification_key()).await;
    // The genuine key, padded past 64 KiB: valid JSON, too large to trust.
    let mut padded = rsa.verification_key();
    padded["padding"] = json!("x".repeat(70 * 1024));
    *keys.body.lock().unwrap() = padded.to_string();
    let app = app_trusting(&keys).await;
    let (status, body) = embedded(&app, &rsa.sign(&keys.claims("person-a"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("larger than"),
        "{body}"
    );
}

#[tokio::test]
async fn a_webex_sign_in_with_the_right_email_but_another_person_id_is_refused() {
    let rsa = sandbox::SigningKey::generate();
    let keys = KeyServer::start(rsa.verification_key()).await;
    let app = app_trusting(&keys).await;

    // The first Webex sign-in links agent A to Webex person "person-a".
    let (status, body) = embedded(&app, &rsa.sign(&keys.claims("person-a"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let agent = app
        .store
        .agent_by_email("agent-a@example.com")
        .await
        .unwrap();
    assert_eq!(agent.webex_person_id.as_deref(), Some("person-a"));

    // Someone else's Webex account that claims A's email.
    let (status, body) = embedded(&app, &rsa.sign(&keys.claims("person-mallory"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not the one linked"),
        "{body}"
    );
    let audit = app
        .store
        .audit_entries(Some("agent"), Some(&agent.id), 20)
        .await
        .unwrap();
    let refusal = audit
        .iter()
        .find(|e| e.action == "agent.sign_in_refused")
        .unwrap_or_else(|| panic!("audited: {audit:?}"));
    assert_eq!(
        refusal.after.as_ref().unwrap()["presentedPersonId"],
        "person-mallory"
    );

    // A token without a person id cannot match either.
    let mut anonymous = keys.claims("person-a");
    anonymous
        .as_object_mut()
        .unwrap()
        .remove("com.cisco.user.uuid");
    let (status, _) = embedded(&app, &rsa.sign(&anonymous)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A still signs in as themselves.
    let (status, body) = embedded(&app, &rsa.sign(&keys.claims("person-a"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("a redirect: {}", r.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            let bytes = v.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 2 < bytes.len() {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
    })
}

/// "Sign in with Webex" in the sandbox as agent A, up to our callback.
/// `tamper` may change the state cookie (which holds the PKCE verifier).
/// Returns the callback's response.
async fn webex_sign_in(
    app: &TestApp,
    next: &str,
    tamper: impl Fn(String) -> String,
) -> reqwest::Response {
    let client = no_redirects();
    let start = client
        .get(app.url("/auth/webex/start"))
        .query(&[("next", next)])
        .send()
        .await
        .unwrap();
    let authorize = location(&start);
    assert_eq!(
        query_param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let challenge = query_param(&authorize, "code_challenge").expect("PKCE challenge");
    assert_eq!(challenge.len(), 43, "{challenge}");
    let state_cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(!state_cookie.contains(&challenge));

    // The person picks agent A on the sandbox's Webex sign-in page.
    let form: Vec<(String, String)> = [
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .filter_map(|k| query_param(&authorize, k).map(|v| (k.to_string(), v)))
    .chain([("email".to_string(), "agent-a@example.com".to_string())])
    .collect();
    let picked = client
        .post(authorize.split('?').next().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = location(&picked);
    client
        .get(callback)
        .header("cookie", tamper(state_cookie))
        .send()
        .await
        .unwrap()
}

async fn sandbox_app() -> TestApp {
    TestApp::spawn_with(|c| c.integrations.sandbox = true).await
}

#[tokio::test]
async fn webex_sign_in_uses_pkce_and_a_wrong_verifier_fails_at_the_sandbox() {
    let app = sandbox_app().await;
    let ok = webex_sign_in(&app, "/sessions", |c| c).await;
    assert_eq!(location(&ok), "/sessions");
    assert!(ok.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("cm_session="));

    // Same flow, but the verifier in the state cookie is not the one whose
    // challenge went to Webex (as for a code stolen and replayed elsewhere).
    let forged = webex_sign_in(&app, "/sessions", |cookie| {
        let (state, rest) = cookie.split_once('|').unwrap();
        let (_, next) = rest.split_once('|').unwrap();
        format!("{state}|{}|{next}", "f".repeat(64))
    })
    .await;
    let to = location(&forged);
    assert!(to.starts_with("/sign-in?error="), "{to}");
    assert!(
        to.contains("HTTP%20400"),
        "refused by the sandbox's token endpoint: {to}"
    );
    assert!(forged.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn sign_in_redirects_never_leave_the_site() {
    let app = sandbox_app().await;
    add_agent(&app, "agent-b@example.com", Role::Agent).await;
    let targets = ["/\\evil.com", "/%5Cevil.com", "/\t/evil.com", "//evil.com"];
    let client = no_redirects();
    for target in targets {
        // Password sign-in, as a form posted before hydration.
        let r = client
            .post(app.url("/api/sign-in"))
            .header("origin", &app.base)
            .header("accept", "text/html")
            .form(&[
                ("email", "agent-b@example.com"),
                ("password", PASSWORD),
                ("next", target),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            location(&r),
            "/contacts",
            "password sign-in with next={target:?}"
        );

        // Sign in with Webex.
        let r = webex_sign_in(&app, target, |c| c).await;
        assert_eq!(
            location(&r),
            "/contacts",
            "Webex sign-in with next={target:?}"
        );
    }
}
