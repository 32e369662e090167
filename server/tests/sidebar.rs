//! The sidebar's server functions over real HTTP: sign-in, CSRF defence,
//! authorization between two agents and an admin, and the startConversation
//! trigger with its failure reasons.

mod common;

use axum::routing::post;
use common::{add_agent, call, sign_in, TestApp, PASSWORD};
use domain::model::{Role, SessionInput};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use store::AuditCtx;

#[tokio::test]
async fn sign_in_refusals_are_clear_and_sign_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let a = add_agent(&app, "agent-a@example.com", Role::Agent).await;

    let (status, body, _) = call(
        &app,
        None,
        "sign-in",
        &[
            ("email", "agent-a@example.com"),
            ("password", "wrong-password"),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], "email or password is wrong");
    let (_, body, _) = call(
        &app,
        None,
        "sign-in",
        &[
            ("email", "nobody@example.com"),
            ("password", PASSWORD),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(
        body["message"], "email or password is wrong",
        "unknown emails look the same"
    );

    let browser = sign_in(&app, "agent-a@example.com").await;
    let (_, me) = browser.read("me", &[]).await;
    assert_eq!(me["agent"]["email"], "agent-a@example.com");

    let (status, _) = browser.call("sign-out", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = browser.read("me", &[]).await;
    assert_eq!(me, Value::Null, "the old cookie no longer signs anyone in");

    app.store
        .update_agent_access(&AuditCtx::system(), None, &a.id, None, Some(true))
        .await
        .unwrap();
    let (_, body, _) = call(
        &app,
        None,
        "sign-in",
        &[
            ("email", "agent-a@example.com"),
            ("password", PASSWORD),
            ("next", "/"),
        ],
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
}

#[tokio::test]
async fn state_changes_need_our_origin_and_the_session_token() {
    let app = TestApp::spawn().await;
    add_agent(&app, "agent-a@example.com", Role::Agent).await;
    let browser = sign_in(&app, "agent-a@example.com").await;
    let form = [
        ("id", ""),
        ("name", "Mr Doe"),
        ("msisdn", "+447700900123"),
        ("version", ""),
    ];

    // Another site's page posting with the agent's cookie.
    let resp = app
        .client
        .post(app.url("/api/contacts/save"))
        .header("origin", "https://evil.example")
        .header("cookie", &browser.cookie)
        .form(&[
            ("csrf", browser.csrf.as_str()),
            ("id", ""),
            ("name", "X"),
            ("msisdn", "+447700900123"),
            ("version", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Our origin but a wrong token.
    let (status, body, _) = call(
        &app,
        Some(&browser.cookie),
        "contacts/save",
        &[("csrf", "forged"), form[0], form[1], form[2], form[3]],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["message"].as_str().unwrap().contains("expired"));
    assert_eq!(
        app.store
            .list_contacts(&Default::default())
            .await
            .unwrap()
            .total,
        0,
        "nothing changed"
    );

    let (status, saved) = browser.call("contacts/save", &form).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["msisdn"], "+447700900123");

    let (status, body) = browser
        .call(
            "contacts/save",
            &[
                ("id", ""),
                ("name", "Bad"),
                ("msisdn", "12"),
                ("version", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "msisdn");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("not a valid phone number"));

    // Signed out: refused.
    let (status, _, _) = call(&app, None, "contacts/list", &[("q", ""), ("page", "1")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn agents_see_only_their_sessions_and_admin_only_pages() {
    let app = TestApp::spawn().await;
    add_agent(&app, "agent-a@example.com", Role::Agent).await;
    add_agent(&app, "agent-b@example.com", Role::Agent).await;
    add_agent(&app, "admin@example.com", Role::Admin).await;
    let session_of = |channel: &str, agent: &str| SessionInput {
        customer_channel: Some(channel.into()),
        customer_channel_id: Some("+447700900123".into()),
        collab_agent_id: Some(agent.into()),
        ..Default::default()
    };
    let (of_a, _) = app
        .store
        .upsert_session(
            &AuditCtx::system(),
            &common::valid(&session_of("sms", "agent-a@example.com")),
        )
        .await
        .unwrap();
    let (of_b, _) = app
        .store
        .upsert_session(
            &AuditCtx::system(),
            &common::valid(&session_of("whatsapp", "agent-b@example.com")),
        )
        .await
        .unwrap();
    let a = sign_in(&app, "agent-a@example.com").await;
    let admin = sign_in(&app, "admin@example.com").await;

    let (_, mine) = a
        .read("sessions/list", &[("scope", "mine"), ("page", "1")])
        .await;
    let ids: Vec<&str> = mine["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [of_a.id.as_str()]);
    let (status, _) = a
        .read("sessions/list", &[("scope", "all"), ("page", "1")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = a.read("sessions/get", &[("id", &of_b.id)]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another agent's session does not exist for A"
    );
    let (status, _) = a.call("sessions/end", &[("id", &of_b.id)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = a.call("sessions/take-over", &[("id", &of_b.id)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.store
            .session(&of_b.id)
            .await
            .unwrap()
            .collab_agent_id
            .as_deref(),
        Some("agent-b@example.com")
    );

    for endpoint in ["admin/agents", "admin/keys", "admin/integrations"] {
        let (status, _) = a.read(endpoint, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint}");
    }
    let (status, _) = a.call("admin/keys/create", &[("name", "sneaky")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Privacy is for admins: finding, erasing, exporting.
    let (status, _) = a
        .read("admin/privacy/find", &[("number", "+447700900123")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = a
        .call(
            "admin/privacy/erase",
            &[("number", "+447700900123"), ("confirm", "+447700900123")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let export = app
        .client
        .post(app.url("/admin/privacy/export.json"))
        .header("cookie", &a.cookie)
        .header("origin", &app.base)
        .form(&[("number", "+447700900123"), ("csrf", a.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::FORBIDDEN);
    let (status, _) = a
        .read(
            "admin/audit",
            &[("actor", ""), ("action", ""), ("entity", "")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, all) = admin
        .read("sessions/list", &[("scope", "all"), ("page", "1")])
        .await;
    assert_eq!(all["total"], 2);
    // The admin takes B's customer over: the latest agent wins.
    let (status, _) = admin.call("sessions/take-over", &[("id", &of_b.id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.store
            .session(&of_b.id)
            .await
            .unwrap()
            .collab_agent_id
            .as_deref(),
        Some("admin@example.com")
    );
    let (status, _) = a.call("sessions/end", &[("id", &of_a.id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.store.session(&of_a.id).await.unwrap().status,
        domain::model::SessionStatus::Ended
    );

    let (status, created) = admin
        .call("admin/keys/create", &[("name", "connect")])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(created["key"].as_str().unwrap().starts_with("cm_"));
    let (_, keys) = admin.read("admin/keys", &[]).await;
    assert!(
        !keys.to_string().contains(created["key"].as_str().unwrap()),
        "listed keys never include the key"
    );
}

/// A stand-in for the Connect inbound webhook that records what it gets.
async fn connect_receiver(
    status: u16,
    delay_ms: u64,
) -> (String, Arc<Mutex<Vec<(Value, Option<String>)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/events/{id}",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let record = record.clone();
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                    let key = headers
                        .get("key")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    record
                        .lock()
                        .unwrap()
                        .push((serde_json::from_slice(&body).unwrap(), key));
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/events/RHV57QR4M3",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn app_with_connect(url: &str) -> TestApp {
    let url = url.to_string();
    TestApp::spawn_with(move |c| {
        c.integrations.sandbox = false;
        c.integrations.connect_webhook_url = Some(url);
        c.integrations.connect_webhook_key = Some(server::integrations::Secret::new("hook-key"));
        c.connect_timeout_secs = 1;
    })
    .await
}

#[tokio::test]
async fn start_conversation_sends_the_seed_payload_once_and_audits_it() {
    let (url, seen) = connect_receiver(200, 0).await;
    let app = app_with_connect(&url).await;
    add_agent(&app, "agent-a@example.com", Role::Agent).await;
    let a = sign_in(&app, "agent-a@example.com").await;
    let (_, contact) = a
        .call(
            "contacts/save",
            &[
                ("id", ""),
                ("name", "Mr Doe"),
                ("msisdn", "07700 900123"),
                ("version", ""),
            ],
        )
        .await;
    let (_, list) = a.read("contacts/list", &[("q", ""), ("page", "1")]).await;
    let nonce = list["nonce"].as_str().unwrap().to_string();
    let id = contact["id"].as_str().unwrap();

    // A double click: the same attempt twice.
    let form = [
        ("contact_id", id),
        ("channel", "whatsapp"),
        ("nonce", nonce.as_str()),
    ];
    let (first, second) = tokio::join!(
        a.call("contacts/start", &form),
        a.call("contacts/start", &form)
    );
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "sent once");
    assert_eq!(
        got[0].0,
        json!({ "systemId": "webex", "channel": "whatsapp", "channelId": "447700900123",
                "action": "startConversation", "agentId": "agent-a@example.com", "contactName": "Mr Doe" })
    );
    assert_eq!(got[0].1.as_deref(), Some("hook-key"));

    let (status, sms) = a
        .call(
            "contacts/start",
            &[
                ("contact_id", id),
                ("channel", "sms"),
                ("nonce", first.1["next_nonce"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sms}");
    assert_eq!(seen.lock().unwrap()[1].0["channelId"], "+447700900123");

    let audit = app
        .store
        .audit_entries(Some("contact"), Some(id), 10)
        .await
        .unwrap();
    let starts: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "conversation.start")
        .collect();
    assert_eq!(starts.len(), 2, "every attempt is audited");
    assert_eq!(starts[0].actor, "agent:agent-a@example.com");
}

#[tokio::test]
async fn start_conversation_failures_say_why() {
    let (rejecting, _) = connect_receiver(500, 0).await;
    let (slow, _) = connect_receiver(200, 2500).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/events/X", l.local_addr().unwrap())
    };
    for (url, expected) in [
        (rejecting, "rejected the request (HTTP 500)"),
        (slow, "did not answer within 1 seconds"),
        (closed, "could not be reached"),
    ] {
        let app = app_with_connect(&url).await;
        add_agent(&app, "agent-a@example.com", Role::Agent).await;
        let a = sign_in(&app, "agent-a@example.com").await;
        let (_, contact) = a
            .call(
                "contacts/save",
                &[
                    ("id", ""),
                    ("name", "Mr Doe"),
                    ("msisdn", "+447700900123"),
                    ("version", ""),
                ],
            )
            .await;
        let (status, body) = a
            .call(
                "contacts/start",
                &[
                    ("contact_id", contact["id"].as_str().unwrap()),
                    ("channel", "sms"),
                    ("nonce", "n1"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(expected),
            "{url}: {body}"
        );
        let audit = app
            .store
            .audit_entries(Some("contact"), None, 10)
            .await
            .unwrap();
        assert!(audit
            .iter()
            .any(|e| e.action == "conversation.start"
                && e.after.as_ref().unwrap()["status"] == "failed"));
    }
}

#[tokio::test]
async fn in_sandbox_mode_the_trigger_lands_in_the_sandbox_connect_event_log() {
    let app = TestApp::spawn_with(|c| c.integrations.sandbox = true).await;
    // Demo agents were seeded; give Agent A a password for this test.
    let a = app
        .store
        .agent_by_email("agent-a@example.com")
        .await
        .unwrap();
    app.store
        .set_password(&AuditCtx::system(), &a.id, PASSWORD)
        .await
        .unwrap();
    let browser = sign_in(&app, "agent-a@example.com").await;
    let (_, contact) = browser
        .call(
            "contacts/save",
            &[
                ("id", ""),
                ("name", "Mr Doe"),
                ("msisdn", "+447700900123"),
                ("version", ""),
            ],
        )
        .await;
    let (status, body) = browser
        .call(
            "contacts/start",
            &[
                ("contact_id", contact["id"].as_str().unwrap()),
                ("channel", "whatsapp"),
                ("nonce", "n-1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events: Value = app
        .client
        .get(app.url(&format!(
            "/sandbox/control/events/{}",
            server::sandbox_mount::SANDBOX_START_EVENT_ID
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = events.to_string();
    assert!(
        text.contains("startConversation") && text.contains("447700900123"),
        "{text}"
    );
}

#[tokio::test]
async fn embedded_identity_tokens_are_verified() {
    let app = TestApp::spawn_with(|c| c.integrations.sandbox = true).await;
    let token_for = |email: &str| {
        let url = app.url(&format!("/sandbox/webex/embedded/token?email={email}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let post = |token: String| {
        let client = app.client.clone();
        let url = app.url("/auth/embedded");
        let origin = app.base.clone();
        async move {
            let r = client
                .post(url)
                .header("origin", origin)
                .json(&json!({ "token": token }))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let cookie = r
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().unwrap().to_string());
            (status, cookie, r.json::<Value>().await.unwrap())
        }
    };
    let good = token_for("agent-a@example.com").await;
    let (status, cookie, body) = post(good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(cookie.unwrap().starts_with("cm_session="));

    // A token whose payload was altered no longer matches its signature.
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    let (status, cookie, _) = post(parts.join(".")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(cookie.is_none());

    let (status, _, body) = post("not-a-jwt".into()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Disabled agents are refused with a clear message.
    let a = app
        .store
        .agent_by_email("agent-a@example.com")
        .await
        .unwrap();
    app.store
        .update_agent_access(&AuditCtx::system(), None, &a.id, None, Some(true))
        .await
        .unwrap();
    let (status, _, body) = post(token_for("agent-a@example.com").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
}

#[tokio::test]
async fn an_admin_finds_exports_and_erases_a_customer_after_confirming() {
    let app = TestApp::spawn().await;
    add_agent(&app, "admin@example.com", Role::Admin).await;
    let admin = sign_in(&app, "admin@example.com").await;
    let (status, saved) = admin
        .call(
            "contacts/save",
            &[
                ("id", ""),
                ("name", "Jane Roe"),
                ("msisdn", "07700 900123"),
                ("version", ""),
            ],
        )
        .await;
    assert!(status.is_success(), "{saved}");

    let (status, err) = admin
        .read("admin/privacy/find", &[("number", "nope")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["field"], "number");
    let (status, found) = admin
        .read("admin/privacy/find", &[("number", "+44 7700 900123")])
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["number"], "+447700900123");
    assert_eq!(found["held"]["contacts"], 1);

    let export = app
        .client
        .post(app.url("/admin/privacy/export.json"))
        .header("cookie", &admin.cookie)
        .header("origin", &app.base)
        .form(&[("number", "07700900123"), ("csrf", admin.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let data: Value = export.json().await.unwrap();
    assert_eq!(data["contacts"][0]["name"], "Jane Roe");

    // The number typed again must be the same number; a mismatch erases nothing.
    let (status, err) = admin
        .call(
            "admin/privacy/erase",
            &[("number", "+447700900123"), ("confirm", "+447700900124")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["field"], "confirm");
    assert_eq!(
        app.store
            .held_about(&domain::Msisdn::from_trusted("+447700900123".into()))
            .await
            .unwrap()
            .contacts,
        1
    );
    let (status, report) = admin
        .call(
            "admin/privacy/erase",
            &[("number", "+447700900123"), ("confirm", "07700 900123")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["removed"]["contacts"], 1);
    let (_, found) = admin
        .read("admin/privacy/find", &[("number", "+447700900123")])
        .await;
    assert_eq!(found["held"]["contacts"], 0);
    let (status, retention) = admin.read("admin/privacy/retention", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        retention,
        json!({ "transcriptDays": null, "mediaDays": null })
    );
}

#[tokio::test]
async fn my_links_name_the_setting_that_is_missing_and_use_the_one_that_is_set() {
    let app = TestApp::spawn_with(|c| c.sms_number = Some("07700 900222".into())).await;
    add_agent(&app, "agent-a@example.com", Role::Agent).await;
    let a = sign_in(&app, "agent-a@example.com").await;
    let (status, links) = a.read("agent-links", &[]).await;
    assert_eq!(status, StatusCode::OK, "{links}");
    assert_eq!(
        links["links"][0]["link"]["Err"],
        "CM_WHATSAPP_BUSINESS_NUMBER is not set"
    );
    // Written as people do, read in the phone region (GB): E.164 in the link.
    let sms = links["links"][1]["link"]["Ok"]["url"].as_str().unwrap();
    assert!(
        sms.starts_with("sms:+447700900222?body=webexAgent_"),
        "{sms}"
    );
}
