//! Fault controls, call log, reset, clock; OAuth and the embedded identity token.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn route_faults_fail_the_next_n_calls_then_recover() {
    let h = start().await;
    let token = h.driver.agent_token(AGENT_A).await;
    let fault = json!({"path": "/webex/v1/people/me", "method": "GET", "count": 2, "kind": "status", "status": 503});
    assert_eq!(h.post_json("/control/faults", &fault).await.status(), 204);
    for _ in 0..2 {
        let r = h
            .http
            .get(h.webex("/people/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        assert!(r.json::<Value>().await.unwrap()["trackingId"].is_string());
    }
    let r = h
        .http
        .get(h.webex("/people/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let limit = json!({"path": "/connect/*", "kind": "rateLimit", "retryAfterSeconds": 7});
    h.post_json("/control/faults", &limit).await;
    let r = h
        .http
        .post(h.url("/connect/resources/v1/messaging"))
        .header("key", CONNECT_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
}

#[tokio::test]
async fn a_hang_outlasts_the_client_timeout() {
    let h = start().await;
    let token = h.driver.agent_token(AGENT_A).await;
    let hang = json!({"path": "/webex/v1/people/me", "kind": "hang", "hangSeconds": 5});
    h.post_json("/control/faults", &hang).await;
    let started = Instant::now();
    let result = h
        .http
        .get(h.webex("/people/me"))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert!(started.elapsed() < Duration::from_secs(2));
    let r = h
        .http
        .get(h.webex("/people/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "only the next call hangs");
}

async fn guest_and_agent_room(h: &Harness) -> (String, String, String) {
    let guest = h.guest_token("g", "Jane").await;
    let (_, m) = h
        .send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "start"}))
        .await;
    (
        guest,
        h.driver.agent_token(AGENT_A).await,
        m["roomId"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn webhook_deliveries_can_be_duplicated() {
    let h = start().await;
    let (guest, _, _) = guest_and_agent_room(&h).await;
    h.http
        .post(h.webex("/webhooks"))
        .bearer_auth(&guest)
        .json(&json!({"name": "w", "targetUrl": h.receiver.url("/w"), "resource": "messages", "event": "created", "secret": "k"}))
        .send()
        .await
        .unwrap();
    h.post_json(
        "/control/deliveries",
        &json!({"mode": "duplicate", "count": 1, "only": "webhook"}),
    )
    .await;
    let (_, m1) = h
        .send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "one"}))
        .await;
    let (_, m2) = h
        .send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "two"}))
        .await;
    let got = h.receiver.wait_for("/w", 3).await;
    let ids: Vec<Value> = got.iter().map(|c| c.json()["data"]["id"].clone()).collect();
    assert_eq!(ids, [m1["id"].clone(), m1["id"].clone(), m2["id"].clone()]);
    assert_eq!(got[0].body, got[1].body, "a duplicate is byte-identical");
}

#[tokio::test]
async fn webhook_deliveries_can_arrive_out_of_order() {
    let h = start().await;
    let (guest, _, _) = guest_and_agent_room(&h).await;
    h.http
        .post(h.webex("/webhooks"))
        .bearer_auth(&guest)
        .json(&json!({"name": "w", "targetUrl": h.receiver.url("/w"), "resource": "messages", "event": "created"}))
        .send()
        .await
        .unwrap();
    h.post_json(
        "/control/deliveries",
        &json!({"mode": "outOfOrder", "count": 3}),
    )
    .await;
    let mut sent = Vec::new();
    for text in ["a", "b", "c"] {
        let (_, m) = h
            .send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": text}))
            .await;
        sent.push(m["id"].clone());
    }
    let got = h.receiver.wait_for("/w", 3).await;
    let ids: Vec<Value> = got.iter().map(|c| c.json()["data"]["id"].clone()).collect();
    sent.reverse();
    assert_eq!(ids, sent);
}

#[tokio::test]
async fn inbound_deliveries_can_be_duplicated_too() {
    let h = start().await;
    h.post_json(
        "/control/deliveries",
        &json!({"mode": "duplicate", "count": 1, "only": "inbound"}),
    )
    .await;
    h.driver.customer_sends("sms", "+447700900123", "hi").await;
    let got = h.receiver.wait_for("/inbound", 2).await;
    assert_eq!(got[0].body, got[1].body);
}

#[tokio::test]
async fn call_log_records_api_calls_and_deliveries() {
    let h = start().await;
    let token = h.driver.agent_token(AGENT_A).await;
    h.http
        .get(h.webex("/people/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    h.connect_v1(
        &json!({"deliverychannel": "sms", "destination": [{"msisdn": ["+447700900123"]}],
        "channels": {"sms": {"text": "logged text"}}, "notifyurl": h.receiver.url("/dr")}),
    )
    .await;
    h.receiver.wait_for("/dr", 2).await;
    // The delivery is logged after the receiver answers; poll briefly.
    let deadline = Instant::now() + Duration::from_secs(5);
    let calls = loop {
        let calls = h.driver.calls(None).await;
        if calls.iter().filter(|c| c["kind"] == "delivery").count() >= 2 {
            break calls;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries not logged: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let me = calls
        .iter()
        .find(|c| c["path"] == "/webex/v1/people/me")
        .unwrap();
    assert_eq!(me["method"], "GET");
    assert_eq!(me["status"], 200);
    let send = calls
        .iter()
        .find(|c| c["path"] == "/connect/resources/v1/messaging")
        .unwrap();
    assert!(send["body"].as_str().unwrap().contains("logged text"));
    let delivery = calls.iter().find(|c| c["kind"] == "delivery").unwrap();
    assert_eq!(delivery["url"], h.receiver.url("/dr"));
    assert_eq!(delivery["status"], 200);
    assert_eq!(delivery["deliveryKind"], "receipt");
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_logged() {
    let h = start().await;
    h.receiver
        .status
        .store(500, std::sync::atomic::Ordering::SeqCst);
    h.driver.customer_sends("sms", "+447700900123", "hi").await;
    let got = h.receiver.wait_for("/inbound", 3).await;
    assert_eq!(got.len(), 3, "three attempts in all");
}

#[tokio::test]
async fn reset_forgets_state_but_keeps_agents_and_guest_ids() {
    let h = start().await;
    let (guest, _, _) = guest_and_agent_room(&h).await;
    let guest_id = h.me(&guest).await["id"].clone();
    h.post_json("/control/clock", &json!({"advanceSeconds": 100}))
        .await;
    h.post_json(
        "/control/faults",
        &json!({"path": "/x", "kind": "status", "status": 500}),
    )
    .await;
    assert_eq!(
        h.post_json("/control/reset", &json!({})).await.status(),
        204
    );

    assert_eq!(
        h.http
            .get(h.webex("/people/me"))
            .bearer_auth(&guest)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(h.driver.calls(None).await.len(), 1, "only the call above");
    assert_eq!(h.get_json("/control/clock").await["offsetSeconds"], 0);
    assert_eq!(h.get_json("/control/faults").await["routes"], json!([]));
    let agent = h.driver.agent_token(AGENT_A).await;
    let rooms: Value = h
        .http
        .get(h.webex("/rooms"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rooms["items"], json!([]));
    let again = h.me(&h.guest_token("g", "Jane").await).await;
    assert_eq!(
        again["id"], guest_id,
        "same (iss, sub), same guest, even after a reset"
    );
}

#[tokio::test]
async fn oauth_code_flow_signs_an_agent_in() {
    let h = start().await;
    let redirect = "http://127.0.0.1:9/callback";
    let page = h
        .http
        .get(h.webex("/authorize"))
        .query(&[
            ("client_id", "test-client"),
            ("redirect_uri", redirect),
            ("state", "xyz"),
            ("response_type", "code"),
            ("scope", "spark:people_read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Sign in as Agent B"));
    let chosen = h
        .http
        .post(h.webex("/authorize"))
        .form(&[
            ("client_id", "test-client"),
            ("redirect_uri", redirect),
            ("state", "xyz"),
            ("email", AGENT_B),
        ])
        .send()
        .await
        .unwrap();
    assert!(chosen.status().is_redirection());
    let location = reqwest::Url::parse(chosen.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(redirect));
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "xyz");

    let exchange = |secret: &'static str| {
        let h = &h;
        let code = query["code"].clone();
        async move {
            h.http
                .post(h.webex("/access_token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "test-client"),
                    ("client_secret", secret),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(exchange("wrong").await.status(), 401);
    let tokens: Value = exchange("test-client-secret").await.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    assert!(tokens["refresh_token"].is_string());
    assert!(tokens["refresh_token_expires_in"].as_i64().unwrap() > 0);
    let me = h.me(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me["emails"][0], AGENT_B);
    assert_eq!(
        exchange("test-client-secret").await.status(),
        400,
        "codes are single use"
    );
}

#[tokio::test]
async fn oauth_with_pkce_needs_the_right_verifier() {
    let h = start().await;
    let redirect = "http://127.0.0.1:9/callback";
    // RFC 7636 Appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let code = || async {
        let chosen = h
            .http
            .post(h.webex("/authorize"))
            .form(&[
                ("client_id", "test-client"),
                ("redirect_uri", redirect),
                ("email", AGENT_B),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        let location = reqwest::Url::parse(chosen.headers()["location"].to_str().unwrap()).unwrap();
        let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        query["code"].clone()
    };
    let exchange = |code: String, verifier: Option<&'static str>| {
        let h = &h;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("client_id", "test-client"),
                ("client_secret", "test-client-secret"),
                ("redirect_uri", redirect),
            ];
            form.push(("code", code.as_str()));
            if let Some(v) = verifier {
                form.push(("code_verifier", v));
            }
            let r = h
                .http
                .post(h.webex("/access_token"))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = exchange(code().await, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("code_verifier"), "{body}");
    let (status, body) = exchange(
        code().await,
        Some("another-verifier-of-the-right-length-0123456"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = exchange(code().await, Some(verifier)).await;
    assert_eq!(status, 200, "{body}");

    // An unsupported method is refused at the authorize page.
    let page = h
        .http
        .get(h.webex("/authorize"))
        .query(&[
            ("client_id", "test-client"),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S512"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
}

#[tokio::test]
async fn embedded_identity_token_verifies_against_the_issuers_verification_key() {
    use base64::Engine;
    let h = start().await;
    let token = h
        .http
        .get(h.url("/webex/embedded/token"))
        .query(&[("email", AGENT_A)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::RS256,
        "as Webex signs them"
    );
    assert!(header.kid.is_none(), "Webex's tokens name no key id");
    // The key is where the Developer Guide says: {iss}/oauth2/v2/keys/verification,
    // as {"key_valid_time", "new_verification_key": base64 DER}.
    let issuer = h.config.embedded_app_issuer.clone();
    let keys: Value = h
        .http
        .get(format!("{issuer}/oauth2/v2/keys/verification"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["key_valid_time"], 21600);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        keys["new_verification_key"].as_str().unwrap()
    );
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&["test-embedded-app"]);
    validation.set_issuer(&[issuer.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["email"], AGENT_A);
    assert_eq!(claims["email_verified"], true);
    // The person and org as uuids (the REST API's ids are base64 of
    // ciscospark://us/PEOPLE/{uuid}).
    let agent_id = h.me(&h.driver.agent_token(AGENT_A).await).await["id"].clone();
    let decoded = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(agent_id.as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        decoded,
        format!(
            "ciscospark://us/PEOPLE/{}",
            claims["com.cisco.user.uuid"].as_str().unwrap()
        )
    );
    assert!(claims["com.cisco.user.orgid"]
        .as_str()
        .is_some_and(|o| o.len() == 36));

    // A tampered token fails.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_claims =
        base64_url(&serde_json::to_vec(&json!({"email": "admin@example.com"})).unwrap());
    parts[1] = &forged_claims;
    assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key, &validation).is_err());
    let unknown = h
        .http
        .get(h.url("/webex/embedded/token?email=nobody@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
