//! The Service App: its refresh grant, guest management (`/guests/token`,
//! `/guests/count`) as developer.webex.com documents it, and revoking guest
//! tokens from the control API.

mod common;

use common::*;
use sandbox::driver::spark_signature;
use serde_json::{json, Value};

async fn token_request(h: &Harness, form: &[(&str, &str)]) -> (u16, Value) {
    let response = h
        .http
        .post(h.webex("/access_token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn refresh_form<'a>(client_secret: &'a str, refresh_token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "refresh_token"),
        ("client_id", SERVICE_APP_ID),
        ("client_secret", client_secret),
        ("refresh_token", refresh_token),
    ]
}

#[tokio::test]
async fn the_service_app_refreshes_its_token_and_keeps_its_refresh_token() {
    let h = start().await;
    let (status, first) =
        token_request(&h, &refresh_form(SERVICE_APP_SECRET, SERVICE_APP_REFRESH)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["refresh_token"], SERVICE_APP_REFRESH);
    assert_eq!(first["token_type"], "Bearer");
    assert!(first["expires_in"].as_i64().unwrap() > 0);
    assert!(first["refresh_token_expires_in"].as_i64().unwrap() > 0);

    // The same refresh token works again and the earlier access token stays valid.
    let (status, second) =
        token_request(&h, &refresh_form(SERVICE_APP_SECRET, SERVICE_APP_REFRESH)).await;
    assert_eq!(status, 200);
    assert_ne!(first["access_token"], second["access_token"]);
    let me_first = h.me(first["access_token"].as_str().unwrap()).await;
    let me_second = h.me(second["access_token"].as_str().unwrap()).await;
    assert_eq!(me_first["id"], me_second["id"]);
    assert_eq!(me_first["type"], "bot", "a machine account, not an agent");

    let (status, body) =
        token_request(&h, &refresh_form("wrong-secret", SERVICE_APP_REFRESH)).await;
    assert_eq!(status, 401);
    assert_webex_error(&body);
    let (status, body) = token_request(&h, &refresh_form(SERVICE_APP_SECRET, "wrong")).await;
    assert_eq!(status, 400);
    assert_webex_error(&body);
    let (status, _) = token_request(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SERVICE_APP_ID),
            ("client_secret", SERVICE_APP_SECRET),
            ("code", "anything"),
            ("redirect_uri", "http://127.0.0.1/callback"),
            // Even with the right refresh token alongside.
            ("refresh_token", SERVICE_APP_REFRESH),
        ],
    )
    .await;
    assert_eq!(status, 400, "a Service App has no authorization-code flow");
    // The integration's client cannot use the Service App's refresh token.
    let (status, _) = token_request(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "test-client"),
            ("client_secret", "test-client-secret"),
            ("refresh_token", SERVICE_APP_REFRESH),
        ],
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn guests_token_gives_one_guest_per_subject_renames_it_and_counts_it() {
    let h = start().await;
    let app = h.service_app_token().await;
    let (status, count) = h.webex_get(&app, "/guests/count").await;
    assert_eq!((status, count), (200, json!({"count": 0})));

    let (status, jane) = h
        .create_guest(
            &app,
            &json!({"subject": "contact-1", "displayName": "Jane"}),
        )
        .await;
    assert_eq!(status, 200, "{jane}");
    assert_eq!(jane["subject"], "contact-1");
    assert_eq!(jane["displayName"], "Jane");
    assert_eq!(jane["expiresIn"], 64799);
    let email = jane["email"].as_str().unwrap();
    let (local, domain) = email.split_once('@').unwrap();
    assert_eq!(domain, "appid.ciscospark.com");
    assert!(uuid::Uuid::parse_str(local).is_ok(), "{email}");
    let first_token = jane["accessToken"].as_str().unwrap().to_string();
    let me = h.me(&first_token).await;
    assert_eq!(me["id"], jane["id"]);
    assert_eq!(me["type"], "appuser");
    assert_eq!(me["emails"], json!([email]));

    // Same subject: same guest, a new token, the old one still valid, renamed.
    let (_, again) = h
        .create_guest(
            &app,
            &json!({"subject": "contact-1", "displayName": "Jane Doe"}),
        )
        .await;
    assert_eq!(again["id"], jane["id"]);
    assert_eq!(again["email"], jane["email"]);
    assert_eq!(again["displayName"], "Jane Doe");
    assert_ne!(again["accessToken"], jane["accessToken"]);
    assert_eq!(h.me(&first_token).await["displayName"], "Jane Doe");

    let (_, other) = h
        .create_guest(&app, &json!({"subject": "contact-2", "displayName": "Joe"}))
        .await;
    assert_ne!(other["id"], jane["id"]);
    // A Guest Issuer guest with the same subject is another guest, not counted.
    let issued = h.guest_token("contact-1", "Jane").await;
    assert_ne!(h.me(&issued).await["id"], jane["id"]);
    let (_, count) = h.webex_get(&app, "/guests/count").await;
    assert_eq!(count, json!({"count": 2}));
}

#[tokio::test]
async fn guest_management_needs_the_service_apps_token_and_both_fields() {
    let h = start().await;
    let agent = h.driver.agent_token(AGENT_A).await;
    let issued_guest = h.guest_token("g-1", "Issued").await;
    let app = h.service_app_token().await;
    let (_, managed) = h
        .create_guest(&app, &json!({"subject": "g-2", "displayName": "Managed"}))
        .await;
    let managed_guest = managed["accessToken"].as_str().unwrap().to_string();
    let body = json!({"subject": "s", "displayName": "n"});

    let response = h
        .http
        .post(h.webex("/guests/token"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_webex_error(&response.json().await.unwrap());
    for (token, expected) in [
        ("not-a-token", 401),
        (agent.as_str(), 403),
        (issued_guest.as_str(), 403),
        (managed_guest.as_str(), 403),
    ] {
        let (status, answer) = h.create_guest(token, &body).await;
        assert_eq!(status, expected, "POST /guests/token with {token}");
        assert_webex_error(&answer);
        let (status, answer) = h.webex_get(token, "/guests/count").await;
        assert_eq!(status, expected, "GET /guests/count with {token}");
        assert_webex_error(&answer);
    }

    for (body, field) in [
        (json!({"displayName": "n"}), "subject"),
        (json!({"subject": "  ", "displayName": "n"}), "subject"),
        (json!({"subject": "s"}), "displayName"),
        (json!({"subject": "s", "displayName": ""}), "displayName"),
    ] {
        let (status, answer) = h.create_guest(&app, &body).await;
        assert_eq!(status, 400, "{body}");
        assert_webex_error(&answer);
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(field), "{message} names {field}");
    }
    let (_, count) = h.webex_get(&app, "/guests/count").await;
    assert_eq!(count, json!({"count": 1}), "refused calls made no guest");
}

#[tokio::test]
async fn a_service_app_guest_messages_agents_and_its_webhooks_fire() {
    let h = start().await;
    let app = h.service_app_token().await;
    let (_, guest) = h
        .create_guest(
            &app,
            &json!({"subject": "wa-447700900123", "displayName": "Jane"}),
        )
        .await;
    let token = guest["accessToken"].as_str().unwrap();
    let response = h
        .http
        .post(h.webex("/webhooks"))
        .bearer_auth(token)
        .json(
            &json!({"name": "relay", "targetUrl": h.receiver.url("/guest-hook"),
                      "resource": "messages", "event": "created", "secret": "s3cret"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let hook: Value = response.json().await.unwrap();
    assert_eq!(hook["createdBy"], guest["id"]);

    let (status, first) = h
        .send_message(token, &json!({"toPersonEmail": AGENT_A, "text": "hello"}))
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["personId"], guest["id"]);
    let agent = h.driver.agent_token(AGENT_A).await;
    let (_, reply) = h
        .send_message(
            &agent,
            &json!({"roomId": first["roomId"], "text": "hi Jane"}),
        )
        .await;

    let deliveries = h.receiver.wait_for("/guest-hook", 2).await;
    let envelope = deliveries[1].json();
    assert_eq!(envelope["id"], hook["id"]);
    assert_eq!(envelope["data"]["id"], reply["id"]);
    assert_eq!(
        deliveries[1].headers["x-spark-signature"].to_str().unwrap(),
        spark_signature("s3cret", &deliveries[1].body)
    );
    let (status, fetched) = h
        .webex_get(
            token,
            &format!("/messages/{}", reply["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["text"], "hi Jane");

    // A guest like any other: it cannot write to another guest.
    let issued = h.guest_token("someone", "Other guest").await;
    let other_email = h.me(&issued).await["emails"][0].clone();
    let (status, _) = h
        .send_message(token, &json!({"toPersonEmail": other_email, "text": "hi"}))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn revoked_guest_tokens_answer_401_until_the_guest_logs_in_again() {
    let h = start().await;
    let app = h.service_app_token().await;
    let agent = h.driver.agent_token(AGENT_A).await;
    let issued_a = h.guest_token("a", "Issued A").await;
    let issued_a_id = h.me(&issued_a).await["id"].clone();
    let (_, managed_a) = h
        .create_guest(&app, &json!({"subject": "a", "displayName": "Managed A"}))
        .await;
    let (_, managed_b) = h
        .create_guest(&app, &json!({"subject": "b", "displayName": "Managed B"}))
        .await;
    let managed_a_token = managed_a["accessToken"].as_str().unwrap();
    let managed_b_token = managed_b["accessToken"].as_str().unwrap();

    let revoked: Value = h
        .post_json("/control/guest-tokens/revoke", &json!({"subject": "a"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked, json!({"revoked": 2}), "subject a of both sources");
    for token in [issued_a.as_str(), managed_a_token] {
        let (status, body) = h.webex_get(token, "/people/me").await;
        assert_eq!(status, 401);
        assert_webex_error(&body);
    }
    assert_eq!(h.webex_get(managed_b_token, "/people/me").await.0, 200);

    let response = h
        .http
        .post(h.url("/control/guest-tokens/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the body is optional");
    assert_eq!(h.webex_get(managed_b_token, "/people/me").await.0, 401);
    assert_eq!(
        h.webex_get(&agent, "/people/me").await.0,
        200,
        "agents keep theirs"
    );
    assert_eq!(
        h.webex_get(&app, "/guests/count").await.0,
        200,
        "so does the app"
    );

    // Logging in again works, as the same guests.
    let issued_again = h.guest_token("a", "Issued A").await;
    assert_eq!(h.me(&issued_again).await["id"], issued_a_id);
    let (status, managed_again) = h
        .create_guest(&app, &json!({"subject": "a", "displayName": "Managed A"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(managed_again["id"], managed_a["id"]);
    let token = managed_again["accessToken"].as_str().unwrap();
    assert_eq!(h.webex_get(token, "/people/me").await.0, 200);
}
