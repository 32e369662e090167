//! The Embedded App identity token, verified as the Embedded Apps Developer
//! Guide documents it (docs/platform-contracts.md): the key from
//! `{iss}/oauth2/v2/keys/verification`, issuers on allowed hosts only, an
//! optional organization allowlist, the person from `com.cisco.user.uuid`,
//! and a clear message when the organization hides the email.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;
use crate::identity::{app_trusting, app_trusting_orgs, embedded, KeyServer, AUDIENCE};

#[tokio::test]
async fn the_key_comes_from_the_issuers_verification_endpoint() {
    let rsa = sandbox::SigningKey::generate();
    // Only {issuer}/oauth2/v2/keys/verification answers, in the documented
    // shape {"key_valid_time", "new_verification_key"}; the token has no kid,
    // like Webex's.
    let keys = KeyServer::start(rsa.verification_key()).await;
    let app = app_trusting(&keys).await;
    let token = rsa.sign(&keys.claims("person-a"));
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert!(header.kid.is_none());
    let (status, body) = embedded(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys.fetches(), 1);

    // Cached for the next sign-in.
    let (status, body) = embedded(&app, &rsa.sign(&keys.claims("person-a"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys.fetches(), 1);

    // Another key at that endpoint does not verify this key's tokens.
    let other = KeyServer::start(json!({
        "key_valid_time": 21600,
        // A 2048-bit RSA public key that is not the sandbox's.
        "new_verification_key": OTHER_RSA_SPKI,
    }))
    .await;
    let app = app_trusting(&other).await;
    let (status, body) = embedded(&app, &rsa.sign(&other.claims("person-a"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(other.fetches(), 1);
}

#[tokio::test]
async fn issuers_not_on_an_allowed_host_are_refused_before_any_fetch() {
    let rsa = sandbox::SigningKey::generate();
    let keys = KeyServer::start(rsa.verification_key()).await;
    let app = app_trusting(&keys).await;
    // The same key server under another path, over http, and hosts that only
    // look like Webex's: none may be asked for a key.
    let issuers = [
        format!("{}/elsewhere", keys.issuer),
        "http://idbroker.webex.com/idb".to_string(),
        "https://idbroker.webex.com.evil.example/idb".to_string(),
        "https://evil.example/idbroker.webex.com/idb".to_string(),
    ];
    for issuer in issuers {
        let mut claims = keys.claims("person-a");
        claims["iss"] = json!(issuer);
        let (status, body) = embedded(&app, &rsa.sign(&claims)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{issuer}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("issuer"),
            "{issuer}: {body}"
        );
    }
    assert_eq!(keys.fetches(), 0);

    // A token for another embedded app (aud) is refused too.
    let mut claims = keys.claims("person-a");
    claims["aud"] = json!("another-embedded-app");
    let (status, body) = embedded(&app, &rsa.sign(&claims)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_ne!(AUDIENCE, "another-embedded-app");
}

#[tokio::test]
async fn organizations_not_allowed_are_refused() {
    let rsa = sandbox::SigningKey::generate();
    let keys = KeyServer::start(rsa.verification_key()).await;
    // Allowed: org-1 (the claims' org), written as the REST API shows org ids.
    let org_1 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode("ciscospark://us/ORGANIZATION/ORG-1");
    let app = app_trusting_orgs(&keys, &["org-elsewhere", &org_1]).await;
    let (status, body) = embedded(&app, &rsa.sign(&keys.claims("person-a"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut claims = keys.claims("person-a");
    claims["com.cisco.user.orgid"] = json!("org-2");
    let (status, body) = embedded(&app, &rsa.sign(&claims)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("CM_EMBEDDED_APP_ORG_IDS"),
        "{body}"
    );
    claims
        .as_object_mut()
        .unwrap()
        .remove("com.cisco.user.orgid");
    let (status, body) = embedded(&app, &rsa.sign(&claims)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no org claim: {body}");
}

#[tokio::test]
async fn an_email_hidden_by_the_organization_gets_a_clear_message() {
    let rsa = sandbox::SigningKey::generate();
    let keys = KeyServer::start(rsa.verification_key()).await;
    let app = app_trusting(&keys).await;
    // As documented when the org's PII Restrictions hide personal data: empty
    // strings and derived ids.
    let mut hidden = keys.claims("derived-person");
    hidden["email"] = json!("");
    hidden["name"] = json!("");
    hidden["email_verified"] = json!(false);
    let mut missing = keys.claims("derived-person");
    missing.as_object_mut().unwrap().remove("email");
    for claims in [hidden, missing] {
        let (status, body) = embedded(&app, &rsa.sign(&claims)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("PII Restrictions"), "{body}");
        assert!(error.contains("email"), "{body}");
    }
}

#[tokio::test]
async fn the_webex_person_is_the_cisco_user_uuid_claim() {
    let rsa = sandbox::SigningKey::generate();
    let keys = KeyServer::start(rsa.verification_key()).await;
    let app = app_trusting(&keys).await;
    let mut claims = keys.claims("4f0d2a8e-0000-4000-8000-00000000000a");
    claims["sub"] = json!("something-else");
    let (status, body) = embedded(&app, &rsa.sign(&claims)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let agent = app
        .store
        .agent_by_email("agent-a@example.com")
        .await
        .unwrap();
    assert_eq!(
        agent.webex_person_id.as_deref(),
        Some("4f0d2a8e-0000-4000-8000-00000000000a")
    );
}

#[tokio::test]
async fn the_embedded_page_loads_the_sdk_from_this_site() {
    let app = TestApp::spawn_with(|c| {
        c.integrations.embedded_app_audience = Some(AUDIENCE.into());
    })
    .await;
    let page = app.client.get(app.url("/embedded")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<script src="/vendor/webex-embedded-app-sdk.js"></script>"#),
        "{html}"
    );
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap();
    assert!(!script_src.contains("http"), "{csp}");

    // The page's code uses the SDK 2.x calls (see the vendored package).
    let js = app.text("/embedded.js").await;
    assert!(js.contains("new window.webex.Application()"), "{js}");
    assert!(js.contains("app.application.states.user"), "{js}");
    assert!(!js.contains("getUser"), "removed in 2.x: {js}");
}

/// A 2048-bit RSA public key (DER SubjectPublicKeyInfo, base64) that signs
/// nothing here.
const OTHER_RSA_SPKI: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQAB";

#[test]
fn the_vendored_sdk_is_pinned_to_the_2x_version_the_page_calls() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vendor/webex-embedded-app-sdk"
    );
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap()).unwrap()
    };
    let wanted = read("package.json")["dependencies"]["@webex/embedded-app-sdk"]
        .as_str()
        .unwrap()
        .to_string();
    // An exact version (no range), of the 2.x line whose API /embedded.js uses.
    let parts: Vec<&str> = wanted.split('.').collect();
    assert!(
        parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "not an exact version: {wanted}"
    );
    assert_eq!(parts[0], "2", "the page calls the 2.x API: {wanted}");
    let locked = read("package-lock.json")["packages"]["node_modules/@webex/embedded-app-sdk"]
        ["version"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(locked, wanted, "package-lock.json agrees with package.json");
}
