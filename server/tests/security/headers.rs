//! Headers: only this site's scripts run (the hydration script by nonce),
//! only Webex may frame the sidebar, nothing dynamic is cached, HSTS on https.

use reqwest::StatusCode;

use crate::common::{add_agent, sign_in, TestApp};
use domain::model::Role;

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn pages_allow_only_their_own_scripts_and_only_webex_frames() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = header(&r, "content-security-policy").to_string();
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "referrer-policy"), "same-origin");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert!(
        r.headers().get("strict-transport-security").is_none(),
        "plain http"
    );
    assert!(
        csp.contains("frame-ancestors 'self' https://*.webex.com"),
        "{csp}"
    );
    assert!(
        csp.contains("object-src 'none'") && csp.contains("base-uri 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_string();
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the policy's nonce"
    );
    // Each response has its own nonce.
    let again = app.client.get(app.url("/sign-in")).send().await.unwrap();
    assert!(!header(&again, "content-security-policy").contains(&nonce));
}

#[tokio::test]
async fn signed_in_pages_and_server_function_answers_are_not_cached() {
    let app = TestApp::spawn().await;
    add_agent(&app, "a@example.com", Role::Agent).await;
    let a = sign_in(&app, "a@example.com").await;
    let page = app
        .client
        .get(app.url("/contacts"))
        .header("cookie", &a.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, "cache-control"), "no-store");
    let answer = app
        .client
        .post(app.url("/api/me"))
        .header("cookie", &a.cookie)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&answer, "cache-control"), "no-store");
}

#[tokio::test]
async fn https_deployments_get_hsts_and_the_framing_is_configurable() {
    let app = TestApp::spawn_with(|c| {
        c.integrations.public_url = Some("https://cm.example.com".into());
        c.frame_ancestors = "https://web.webex.com https://teams.example.com".into();
    })
    .await;
    let r = app.client.get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(header(&r, "strict-transport-security"), "max-age=31536000");
    assert!(header(&r, "content-security-policy")
        .contains("frame-ancestors 'self' https://web.webex.com https://teams.example.com"));
}

#[tokio::test]
async fn the_embedded_start_page_has_no_inline_script() {
    let app = TestApp::spawn_with(|c| {
        c.integrations.embedded_sdk_url = Some("https://binaries.webex.com/sdk.js".into());
    })
    .await;
    let r = app.client.get(app.url("/embedded")).send().await.unwrap();
    let csp = header(&r, "content-security-policy").to_string();
    assert!(
        csp.contains("script-src 'self' https://binaries.webex.com"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(html.contains("src=\"/embedded.js\""));
    let js = app
        .client
        .get(app.url("/embedded.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(header(&js, "content-type").starts_with("text/javascript"));
}
