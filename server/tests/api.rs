//! Black-box HTTP tests of the REST API v1 against the real server.

mod common;

use common::{send, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn create_contact(app: &TestApp, name: &str, msisdn: &str) -> Value {
    let (status, body) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": name, "msisdn": msisdn }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn api_key_is_required_in_key_header_or_bearer() {
    let app = TestApp::spawn().await;
    let path = app.url("/api/v1/contacts");

    let (status, body) = send(app.client.get(&path)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
    let raw = app.client.get(&path).send().await.unwrap();
    assert_eq!(raw.headers()["www-authenticate"], "Bearer");

    let (status, _) = send(app.client.get(&path).header("key", "cm_not-a-key")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(app.client.get(&path).bearer_auth("cm_not-a-key")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, _) = send(app.client.get(&path).header("key", &app.key)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(app.client.get(&path).bearer_auth(&app.key)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn contact_crud_over_http() {
    let app = TestApp::spawn().await;
    let response = app
        .req(Method::POST, "/api/v1/contacts")
        .json(&json!({ "name": "Mr Doe", "msisdn": "07700 900123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/contacts/{id}"));
    assert_eq!(created["msisdn"], "+447700900123");
    assert_eq!(
        created["channels"],
        json!({ "whatsapp": "447700900123", "sms": "+447700900123" })
    );
    assert_eq!(created["version"], 1);
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'));

    let (status, fetched) = app.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    let (status, updated) = app
        .put(&location, json!({ "name": "Mrs Doe", "version": 1 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Mrs Doe");
    assert_eq!(updated["msisdn"], "+447700900123");
    assert_eq!(updated["version"], 2);

    let (status, conflict) = app
        .put(&location, json!({ "name": "Dr Doe", "version": 1 }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["code"], "stale_version");
    assert_eq!(conflict["field"], "version");
    assert_eq!(conflict["current"]["name"], "Mrs Doe");
    assert_eq!(conflict["current"]["version"], 2);

    let (status, body) = app.delete(&location).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = app.get(&location).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
    let (status, _) = app.put(&location, json!({ "name": "x" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&location).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn same_number_written_two_ways_is_a_conflict_naming_the_existing_contact() {
    let app = TestApp::spawn().await;
    let first = create_contact(&app, "Ann", "+44 7700 900123").await;
    let (status, body) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": "Ann", "msisdn": "447700900123" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "duplicate");
    assert_eq!(body["field"], "msisdn");
    assert_eq!(body["existingId"], first["id"]);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains(first["id"].as_str().unwrap()));
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let audit_before = app
        .store
        .audit_entries(None, None, 100)
        .await
        .unwrap()
        .len();

    let (status, body) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": "Ann", "msisdn": "12345" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(body["field"], "msisdn");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("msisdn: not a valid phone number"),
        "{body}"
    );

    let (status, body) = app
        .post("/api/v1/contacts", json!({ "msisdn": "+447700900123" }))
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("name"))
    );

    let (status, body) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": 5, "msisdn": "+447700900123" }),
        )
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("name"))
    );

    let (status, body) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": "Ann", "msisdn": "+447700900123", "emial": "x" }),
        )
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("emial"))
    );

    let (status, body) = send(
        app.req(Method::POST, "/api/v1/contacts")
            .header("content-type", "application/json")
            .body("{\"name\": \"Ann\", "),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "malformed_json");

    let (status, body) = send(app.req(Method::POST, "/api/v1/contacts").body("name=Ann")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["code"], "unsupported_media_type");

    let huge = "x".repeat(100 * 1024);
    let (status, body) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": huge, "msisdn": "+447700900123" }),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "payload_too_large");

    let (status, body) = app.get("/api/v1/contacts?perPage=500").await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("perPage"))
    );
    let (status, body) = app.get("/api/v1/contacts?page=two").await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("page"))
    );

    let (status, body) = app
        .post(
            "/api/v1/sessions",
            json!({ "customerChannel": "fax", "customerChannelId": "447700900123" }),
        )
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("customerChannel"))
    );
    let (status, body) = app
        .post(
            "/api/v1/sessions",
            json!({ "customerChannel": "sms", "customerChannelId": "abc" }),
        )
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("customerChannelId"))
    );

    let (_, list) = app.get("/api/v1/contacts").await;
    assert_eq!(list["total"], 0);
    let (_, sessions) = app.get("/api/v1/sessions").await;
    assert_eq!(sessions["total"], 0);
    assert_eq!(
        app.store
            .audit_entries(None, None, 100)
            .await
            .unwrap()
            .len(),
        audit_before
    );
}

#[tokio::test]
async fn search_pagination_and_lookups() {
    let app = TestApp::spawn().await;
    for i in 0..12 {
        create_contact(
            &app,
            &format!("Customer {i:02}"),
            &format!("+4477009002{i:02}"),
        )
        .await;
    }
    let ann = create_contact(&app, "Ann Lee", "+447700900123").await;

    let (status, page) = app.get("/api/v1/contacts?perPage=5&page=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 13);
    assert_eq!(page["page"], 3);
    assert_eq!(page["perPage"], 5);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);

    let (_, found) = app.get("/api/v1/contacts?q=ann%20l").await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], ann["id"]);
    let (_, found) = app.get("/api/v1/contacts?q=900123").await;
    assert_eq!(found["items"][0]["id"], ann["id"]);

    let (_, by_msisdn) = app.get("/api/v1/contacts?msisdn=07700%20900123").await;
    assert_eq!(by_msisdn["total"], 1);
    assert_eq!(by_msisdn["items"][0]["id"], ann["id"]);
    let (_, by_channel) = app
        .get("/api/v1/contacts?channel=whatsapp&channelId=447700900123")
        .await;
    assert_eq!(by_channel["items"][0]["id"], ann["id"]);
    let (_, none) = app.get("/api/v1/contacts?msisdn=%2B447700900999").await;
    assert_eq!(
        (none["total"].clone(), none["items"].clone()),
        (json!(0), json!([]))
    );
    let (status, body) = app.get("/api/v1/contacts?channel=whatsapp").await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("channelId"))
    );
}

#[tokio::test]
async fn sessions_route_to_the_latest_agent() {
    let app = TestApp::spawn().await;
    let contact = create_contact(&app, "Mr Doe", "+447700900123").await;
    let request = |agent: &str| {
        json!({
            "customerChannel": "whatsapp",
            "customerChannelId": "447700900123",
            "collabAgentId": agent,
            "collabGuestId": "guest-person-1",
        })
    };
    let (status, a) = app
        .post("/api/v1/sessions", request("agent-a@example.com"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    assert_eq!(a["contactId"], contact["id"]);
    assert_eq!(a["status"], "active");
    for key in [
        "collabExtra1",
        "collabExtra2",
        "collabExtra3",
        "createdAt",
        "updatedAt",
    ] {
        assert!(a.get(key).is_some(), "session has {key}");
    }

    // Agent B starts a conversation with the same customer.
    let (status, b) = app
        .post("/api/v1/sessions", request("agent-b@example.com"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b["id"], a["id"]);
    assert_eq!(b["collabAgentId"], "agent-b@example.com");

    let id = a["id"].as_str().unwrap();
    for query in [
        "customerChannel=whatsapp&customerChannelId=%2B447700900123".to_string(),
        "collabGuestId=guest-person-1".to_string(),
        "collabAgentId=agent-b%40example.com".to_string(),
    ] {
        let (status, page) = app.get(&format!("/api/v1/sessions?{query}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["total"], 1, "{query}");
        assert_eq!(page["items"][0]["id"], id);
    }
    let (_, of_a) = app
        .get("/api/v1/sessions?collabAgentId=agent-a%40example.com")
        .await;
    assert_eq!(of_a["total"], 0, "agent A no longer has the customer");

    let path = format!("/api/v1/sessions/{id}");
    let (status, got) = app.get(&path).await;
    assert_eq!(
        (status, got["collabAgentId"].clone()),
        (StatusCode::OK, json!("agent-b@example.com"))
    );
    let (status, ended) = app
        .put(
            &path,
            json!({ "status": "ended", "collabExtra1": "resolved" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (ended["status"].clone(), ended["collabExtra1"].clone()),
        (json!("ended"), json!("resolved"))
    );
    let (status, body) = app.put(&path, json!({ "status": "paused" })).await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("status"))
    );
    let (status, _) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_posts_for_one_customer_make_one_session() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let posts: Vec<_> = (0..10)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post(
                    "/api/v1/sessions",
                    json!({ "customerChannel": "sms", "customerChannelId": "+447700900123",
                            "collabAgentId": format!("agent-{i}@example.com") }),
                )
                .await
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for post in posts {
        let (status, body) = post.await.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status} {body}"
        );
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(created, 1);
    let (_, all) = app.get("/api/v1/sessions").await;
    assert_eq!(all["total"], 1);
}

#[tokio::test]
async fn agent_details_by_email() {
    let app = TestApp::spawn().await;
    app.store
        .upsert_agent(
            &store::AuditCtx::system(),
            "agent.a@example.com",
            Some("Agent A"),
            domain::model::Role::Agent,
        )
        .await
        .unwrap();
    let (status, agent) = app.get("/api/v1/agents/Agent.A@example.com").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(agent["email"], "agent.a@example.com");
    assert_eq!(agent["displayName"], "Agent A");
    assert_eq!(agent["role"], "agent");
    assert!(agent.get("passwordHash").is_none());
    let (status, body) = app.get("/api/v1/agents/nobody@example.com").await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let (status, body) = app.get("/api/v1/agents/not-an-email").await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("email"))
    );
}

#[tokio::test]
async fn every_mutation_is_audited_with_the_key_name_and_request_id() {
    let app = TestApp::spawn().await;
    let response = app
        .req(Method::POST, "/api/v1/contacts")
        .header("x-request-id", "trace-123")
        .json(&json!({ "name": "Ann", "msisdn": "+447700900123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-123");
    let contact: Value = response.json().await.unwrap();
    let id = contact["id"].as_str().unwrap();
    app.put(
        &format!("/api/v1/contacts/{id}"),
        json!({ "name": "Ann B" }),
    )
    .await;
    let (_, session) = app
        .post(
            "/api/v1/sessions",
            json!({ "customerChannel": "sms", "customerChannelId": "+447700900123" }),
        )
        .await;
    let sid = session["id"].as_str().unwrap();
    app.put(
        &format!("/api/v1/sessions/{sid}"),
        json!({ "collabAgentId": "b@example.com" }),
    )
    .await;
    app.delete(&format!("/api/v1/sessions/{sid}")).await;
    app.delete(&format!("/api/v1/contacts/{id}")).await;

    let entries = app.store.audit_entries(None, None, 100).await.unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .filter(|e| e.entity_type != "api_key")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "contact.delete",
            "session.delete",
            "session.update",
            "conversation.open",
            "session.create",
            "contact.update",
            "contact.create"
        ]
    );
    let create = entries
        .iter()
        .find(|e| e.action == "contact.create")
        .unwrap();
    assert_eq!(create.actor, "api-key:connect-flows");
    assert_eq!(create.request_id.as_deref(), Some("trace-123"));
    assert!(entries
        .iter()
        .filter(|e| e.entity_type != "api_key")
        .all(|e| e.request_id.is_some()));
}

#[tokio::test]
async fn openapi_documents_every_route_and_every_documented_operation_exists() {
    let app = TestApp::spawn().await;
    let (status, doc) = send(app.client.get(app.url("/api/v1/openapi.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
            // Each documented operation is served: unauthenticated, it answers 401, not 404/405.
            let concrete = path
                .replace("{id}", "some-id")
                .replace("{email}", "a@example.com");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, body) = send(app.client.request(m, app.url(&concrete))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        }
    }
    documented.sort();
    // Every route the API serves, as the issue lists them.
    let mut served = vec![
        "GET /api/v1/contacts",
        "POST /api/v1/contacts",
        "GET /api/v1/contacts/{id}",
        "PUT /api/v1/contacts/{id}",
        "DELETE /api/v1/contacts/{id}",
        "GET /api/v1/sessions",
        "POST /api/v1/sessions",
        "GET /api/v1/sessions/{id}",
        "PUT /api/v1/sessions/{id}",
        "DELETE /api/v1/sessions/{id}",
        "GET /api/v1/agents/{email}",
        "POST /api/v1/conversations/start",
        "GET /api/v1/conversations",
        "POST /api/v1/conversations",
        "GET /api/v1/conversations/{id}",
        "POST /api/v1/conversations/{id}/messages",
        "POST /api/v1/conversations/{id}/close",
        "POST /api/v1/conversations/{id}/reopen",
        "POST /api/v1/guests/token",
        "POST /api/v1/attachments",
        "POST /api/v1/privacy/erase",
        "GET /api/v1/privacy/export",
    ];
    served.sort();
    assert_eq!(documented, served);
    assert!(doc["components"]["securitySchemes"]["key"].is_object());
    assert!(doc["components"]["schemas"]["Contact"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn ops_endpoints_and_unknown_routes() {
    let app = TestApp::spawn().await;
    let (status, body) = send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    let (status, body) = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(
        (status, body["database"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        !response.headers()["x-request-id"].is_empty(),
        "every response carries a request id"
    );

    let (status, body) = app.get("/api/v1/nothing-here").await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );

    app.store.close().await;
    let (status, body) = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("unavailable"))
    );
}

#[tokio::test]
async fn the_start_page_sends_visitors_to_sign_in_rendered_on_the_server() {
    let app = TestApp::spawn().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // As a browser asks for it (leptos_axum redirects page loads, not data calls).
    let response = no_redirects
        .get(app.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[reqwest::header::LOCATION],
        "/sign-in",
        "signed out, / leads to sign-in"
    );
    let response = app.client.get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Sign in</h1>"), "{html}");
    assert!(
        html.contains("/pkg/contact_manager.js"),
        "hydration script is linked"
    );
    let missing = app
        .client
        .get(app.url("/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// A stand-in for the Connect inbound webhook (as in sidebar.rs): answers
/// `status` after `delay_ms` and records the bodies.
async fn connect_receiver(
    status: u16,
    delay_ms: u64,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/events/{id}",
        axum::routing::post(move |body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                record
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice::<Value>(&body).unwrap());
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events/X", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn app_with_connect(url: &str) -> TestApp {
    let url = url.to_string();
    TestApp::spawn_with(move |c| {
        c.integrations.connect_webhook_url = Some(url);
        c.connect_timeout_secs = 1;
    })
    .await
}

fn start_body(contact_id: &str, channel: &str, attempt: &str) -> Value {
    json!({ "contactId": contact_id, "channel": channel,
            "agentEmail": "agent-a@example.com", "attemptId": attempt })
}

fn conversation_starts(entries: &[store::AuditEntry]) -> usize {
    entries
        .iter()
        .filter(|e| e.action == "conversation.start")
        .count()
}

#[tokio::test]
async fn starting_a_conversation_in_native_mode_opens_the_agents_space_once() {
    use common::relay::{agent_inbox, agent_token, room_with};
    let app = common::relay::native_app().await;
    let contact = create_contact(&app, "Mr Doe", "+447700900123").await;
    let id = contact["id"].as_str().unwrap();

    let response = app
        .req(Method::POST, "/api/v1/conversations/start")
        .json(&start_body(id, "sms", "crm-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["status"], "started");
    assert_eq!(started["mode"], "native");
    assert_eq!(started["contactId"], id);
    assert_eq!(started["channel"], "sms");
    assert_eq!(started["agentEmail"], "agent-a@example.com");
    assert_eq!(started["attemptId"], "crm-1");
    let session_id = started["sessionId"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/sessions/{session_id}"));
    let (_, session) = app.get(&location).await;
    assert_eq!(session["collabAgentId"], "agent-a@example.com");
    assert_eq!(session["customerChannelId"], "+447700900123");
    assert_eq!(session["contactId"], id);

    // The relay provisions the guest, who greets the agent in Webex.
    let token = agent_token(&app, "agent-a@example.com").await;
    room_with(&app, &token, "Conversation with Mr Doe").await;

    // The same attempt again answers the first outcome and sends nothing.
    let (status, again) = app
        .post(
            "/api/v1/conversations/start",
            start_body(id, "sms", "crm-1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "already_started");
    assert_eq!(again["sessionId"], session_id);
    let entries = app.store.audit_entries(None, None, 100).await.unwrap();
    assert_eq!(conversation_starts(&entries), 1, "one attempt, one start");
    let audit = entries
        .iter()
        .find(|e| e.action == "conversation.start")
        .unwrap();
    assert_eq!(audit.actor, "api-key:connect-flows");
    assert_eq!(audit.after.as_ref().unwrap()["mode"], "native");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let greetings = agent_inbox(&app, &token)
        .await
        .into_iter()
        .filter(|(_, text)| text.contains("Conversation with Mr Doe"))
        .count();
    assert_eq!(greetings, 1, "the retry did not greet again");

    // A new attempt id is a new start.
    let (status, body) = app
        .post(
            "/api/v1/conversations/start",
            start_body(id, "sms", "crm-2"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["sessionId"], session_id,
        "one session per customer and channel"
    );
}

#[tokio::test]
async fn starting_a_conversation_names_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let ctx = store::AuditCtx::system();
    app.store
        .upsert_agent(
            &ctx,
            "agent-a@example.com",
            None,
            domain::model::Role::Agent,
        )
        .await
        .unwrap();
    let off = app
        .store
        .upsert_agent(
            &ctx,
            "agent-off@example.com",
            None,
            domain::model::Role::Agent,
        )
        .await
        .unwrap();
    app.store
        .update_agent_access(&ctx, None, &off.id, None, Some(true))
        .await
        .unwrap();
    let (_, sms_only) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": "Mr Doe", "msisdn": "+447700900123", "channels": ["sms"] }),
        )
        .await;
    let id = sms_only["id"].as_str().unwrap();
    let with = |patch: Value| {
        let mut body = start_body(id, "sms", "a-1");
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    for (patch, field, why) in [
        (json!({ "contactId": null }), "contactId", "is required"),
        (json!({ "channel": null }), "channel", "is required"),
        (json!({ "channel": "fax" }), "channel", "unknown channel"),
        (
            json!({ "channel": "whatsapp" }),
            "channel",
            "Mr Doe has no WhatsApp number",
        ),
        (json!({ "agentEmail": null }), "agentEmail", "is required"),
        (
            json!({ "agentEmail": "nobody@example.com" }),
            "agentEmail",
            "no agent",
        ),
        (
            json!({ "agentEmail": "not-an-email" }),
            "agentEmail",
            "not a valid email",
        ),
        (
            json!({ "agentEmail": "agent-off@example.com" }),
            "agentEmail",
            "disabled",
        ),
        (json!({ "attemptId": null }), "attemptId", "is required"),
        (
            json!({ "attemptId": "x".repeat(201) }),
            "attemptId",
            "too long",
        ),
        (json!({ "agentId": "x" }), "agentId", "unknown field"),
    ] {
        let (status, body) = app
            .post("/api/v1/conversations/start", with(patch.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}: {body}");
        assert_eq!(body["code"], "validation_failed", "{patch}: {body}");
        assert_eq!(body["field"], field, "{patch}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(why),
            "{patch}: {body}"
        );
    }
    let (status, body) = app
        .post(
            "/api/v1/conversations/start",
            with(json!({ "contactId": "no-such-contact" })),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    // Without a Connect webhook (connect mode) nothing can be triggered.
    let (status, body) = app
        .post("/api/v1/conversations/start", with(json!({})))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "not_configured");
    let entries = app.store.audit_entries(None, None, 100).await.unwrap();
    assert_eq!(
        conversation_starts(&entries),
        1,
        "only the attempt that sent is audited"
    );
}

#[tokio::test]
async fn starting_a_conversation_in_connect_mode_triggers_the_webhook_once() {
    let (url, seen) = connect_receiver(200, 0).await;
    let app = app_with_connect(&url).await;
    app.store
        .upsert_agent(
            &store::AuditCtx::system(),
            "agent-a@example.com",
            None,
            domain::model::Role::Agent,
        )
        .await
        .unwrap();
    let contact = create_contact(&app, "Mr Doe", "07700 900123").await;
    let id = contact["id"].as_str().unwrap();
    let body = start_body(id, "whatsapp", "flow-7");
    let (first, second) = tokio::join!(
        app.post("/api/v1/conversations/start", body.clone()),
        app.post("/api/v1/conversations/start", body.clone())
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    // Concurrent: the second finds the first finished, or still sending.
    assert!(
        statuses == [StatusCode::OK, StatusCode::CREATED]
            || statuses == [StatusCode::CREATED, StatusCode::CONFLICT],
        "{first:?} {second:?}"
    );
    let created = if first.0 == StatusCode::CREATED {
        &first.1
    } else {
        &second.1
    };
    assert_eq!(created["mode"], "connect");
    assert!(created.get("sessionId").is_none(), "{created}");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "sent once");
    assert_eq!(
        got[0],
        json!({ "systemId": "webex", "channel": "whatsapp", "channelId": "447700900123",
                "action": "startConversation", "agentId": "agent-a@example.com", "contactName": "Mr Doe" })
    );
    let (status, again) = app.post("/api/v1/conversations/start", body).await;
    assert_eq!(
        (status, again["status"].clone()),
        (StatusCode::OK, json!("already_started"))
    );
    let entries = app
        .store
        .audit_entries(Some("contact"), Some(id), 10)
        .await
        .unwrap();
    assert_eq!(conversation_starts(&entries), 1);
}

#[tokio::test]
async fn a_trigger_connect_did_not_take_answers_with_the_reason() {
    let (rejecting, _) = connect_receiver(500, 0).await;
    let (slow, _) = connect_receiver(200, 2500).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/events/X", l.local_addr().unwrap())
    };
    for (url, status, code, why) in [
        (
            rejecting,
            StatusCode::BAD_GATEWAY,
            "connect_refused",
            "rejected the request (HTTP 500)",
        ),
        (
            slow,
            StatusCode::GATEWAY_TIMEOUT,
            "connect_timeout",
            "did not answer within 1 seconds",
        ),
        (
            closed,
            StatusCode::SERVICE_UNAVAILABLE,
            "connect_unavailable",
            "could not be reached",
        ),
    ] {
        let app = app_with_connect(&url).await;
        app.store
            .upsert_agent(
                &store::AuditCtx::system(),
                "agent-a@example.com",
                None,
                domain::model::Role::Agent,
            )
            .await
            .unwrap();
        let contact = create_contact(&app, "Mr Doe", "+447700900123").await;
        let body = start_body(contact["id"].as_str().unwrap(), "sms", "t-1");
        let (got, answer) = app.post("/api/v1/conversations/start", body.clone()).await;
        assert_eq!(got, status, "{url}: {answer}");
        assert_eq!(answer["code"], code, "{url}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("could not start the conversation: ") && message.contains(why),
            "{url}: {answer}"
        );
        // The failed attempt is final: the same id says so, a new id tries again.
        let (got, answer) = app.post("/api/v1/conversations/start", body).await;
        assert_eq!(got, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["code"], "attempt_failed");
        assert_eq!(answer["field"], "attemptId");
        let entries = app
            .store
            .audit_entries(Some("contact"), None, 10)
            .await
            .unwrap();
        assert!(entries
            .iter()
            .any(|e| e.action == "conversation.start"
                && e.after.as_ref().unwrap()["status"] == "failed"));
    }
}

#[tokio::test]
async fn privacy_export_and_erase_need_an_admin_key_and_a_valid_number() {
    let app = TestApp::spawn().await;
    let jane = create_contact(&app, "Jane Roe", "+447700900123").await;
    let olga = create_contact(&app, "Olga Other", "+447700900456").await;
    let erase = |key: &str, body: Value| {
        send(
            app.client
                .post(app.url("/api/v1/privacy/erase"))
                .header("key", key)
                .json(&body),
        )
    };
    let export = |key: &str, query: &str| {
        send(
            app.client
                .get(app.url(&format!("/api/v1/privacy/export{query}")))
                .header("key", key),
        )
    };

    // The Connect flows' key may not.
    let (status, body) = erase(&app.key, json!({ "number": "+447700900123" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "insufficient_scope");
    assert_eq!(body["scope"], "admin");
    let (status, _) = export(&app.key, "?number=%2B447700900123").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let grant = store::KeyGrant::new(&[domain::access::ApiScope::Admin], None).unwrap();
    let (_, admin) = app
        .store
        .create_api_key(&store::AuditCtx::system(), "dpo", &grant)
        .await
        .unwrap();

    // Bad input names the field and changes nothing.
    for (body, field) in [
        (json!({ "number": "call me" }), "number"),
        (json!({ "number": "+44 12" }), "number"),
        (json!({}), "number"),
        (
            json!({ "number": "+447700900123", "contactId": jane["id"] }),
            "contactId",
        ),
        (json!({ "phone": "+447700900123" }), "phone"),
    ] {
        let (status, err) = erase(&admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    let (status, err) = export(&admin, "?number=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "number");
    let (status, err) = export(&admin, "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "number");
    let (status, err) = erase(&admin, json!({ "contactId": "no-such-contact" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, page) = app.get("/api/v1/contacts").await;
    assert_eq!((status, page["total"].clone()), (StatusCode::OK, json!(2)));

    // Export: any written form of the number.
    let (status, data) = export(&admin, "?number=07700%20900123").await;
    assert_eq!(status, StatusCode::OK, "{data}");
    assert_eq!(data["number"], "+447700900123");
    assert_eq!(data["contacts"][0]["name"], "Jane Roe");
    assert_eq!(data["held"]["contacts"], 1);

    // Erase by number, then by contact id.
    let (status, report) = erase(&admin, json!({ "number": "07700 900123" })).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["removed"]["contacts"], 1);
    assert_eq!(report["removed"]["contactChannels"], 2);
    assert!(report["erasureId"].is_string());
    let (_, found) = app.get("/api/v1/contacts?msisdn=%2B447700900123").await;
    assert_eq!(found["total"], 0);
    let (_, found) = app.get("/api/v1/contacts?msisdn=%2B447700900456").await;
    assert_eq!(found["total"], 1, "the other customer is untouched");
    let (status, report) = erase(&admin, json!({ "contactId": olga["id"] })).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["removed"]["contacts"], 1);
    let (_, page) = app.get("/api/v1/contacts").await;
    assert_eq!(page["total"], 0);

    // Each erasure is audited under the key's name, never with the number.
    let erasures = app
        .store
        .audit_entries(Some("privacy"), None, 10)
        .await
        .unwrap();
    let actions: Vec<&str> = erasures.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["privacy.erase", "privacy.erase", "privacy.export"]
    );
    assert!(erasures.iter().all(|e| e.actor == "api-key:dpo"));
    let text = serde_json::to_string(&erasures).unwrap();
    assert!(!text.contains("7700900123") && !text.contains("7700900456"));
}

/// The engage nodes' conversation operations, as a Connect flow calls them:
/// search (none), create, append (once per transid), close with a reason,
/// outcomes as status codes, reopen, and the transcript of each.
#[tokio::test]
async fn conversations_search_create_append_close_and_reopen_like_the_engage_nodes() {
    let app = TestApp::spawn().await;
    let customer = json!({ "customerChannel": "whatsapp", "customerChannelId": "+447700900610" });
    let search = "/api/v1/conversations?customerChannel=whatsapp&customerChannelId=%2B447700900610";
    let (status, found) = app.get(search).await;
    assert_eq!((status, found["total"].clone()), (StatusCode::OK, json!(0)));

    let mut create = customer.clone();
    create["collabAgentId"] = json!("agent-a@example.com");
    let (status, created) = app.post("/api/v1/conversations", create.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "open");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, again) = app.post("/api/v1/conversations", create.clone()).await;
    assert_eq!(
        (status, again["existingId"].as_str()),
        (StatusCode::CONFLICT, Some(id.as_str())),
        "{again}"
    );
    let (status, missing) = app.post("/api/v1/conversations", customer.clone()).await;
    assert_eq!(
        (status, missing["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("collabAgentId"))
    );

    let line = json!({ "direction": "inbound", "text": "Where is my order?", "transid": "tx-1" });
    let appended = format!("/api/v1/conversations/{id}/messages");
    let (status, first) = app.post(&appended, line.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, retried) = app.post(&appended, line).await;
    assert_eq!(
        (status, retried["id"].clone()),
        (StatusCode::OK, first["id"].clone())
    );
    let (status, bad) = app
        .post(&appended, json!({ "direction": "up", "text": "x" }))
        .await;
    assert_eq!(
        (status, bad["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("direction"))
    );

    let (status, closed) = app
        .post(
            &format!("/api/v1/conversations/{id}/close"),
            json!({ "reason": "resolved" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(
        (closed["closedBy"].as_str(), closed["closeReason"].as_str()),
        (Some("api"), Some("resolved"))
    );
    let (status, twice) = app
        .post(&format!("/api/v1/conversations/{id}/close"), json!({}))
        .await;
    assert_eq!(
        (status, twice["code"].clone()),
        (StatusCode::CONFLICT, json!("conversation_closed"))
    );
    let (status, late) = app
        .post(
            &appended,
            json!({ "direction": "outbound", "text": "late" }),
        )
        .await;
    assert_eq!(
        (status, late["code"].clone()),
        (StatusCode::CONFLICT, json!("conversation_closed"))
    );
    let (_, session) = app
        .get(&format!(
            "/api/v1/sessions/{}",
            closed["sessionId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(session["status"], "ended");
    assert_eq!(session["conversationId"].as_str(), Some(id.as_str()));

    let (status, reopened) = app
        .post(&format!("/api/v1/conversations/{id}/reopen"), json!({}))
        .await;
    assert_eq!(
        (status, reopened["status"].clone()),
        (StatusCode::OK, json!("open")),
        "{reopened}"
    );
    let (status, detail) = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["messages"][0]["body"], "Where is my order?");
    assert_eq!(detail["messages"].as_array().unwrap().len(), 1);
    let (status, found) = app.get(&format!("{search}&status=open")).await;
    assert_eq!(
        (status, found["items"][0]["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let (status, _) = app.get("/api/v1/conversations/no-such-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_bundle_is_sent_gzipped_to_browsers_that_take_it() {
    // A site as `scripts/build` lays it out: each file of pkg/ with a
    // gzipped copy beside it.
    let site = std::env::temp_dir().join(format!("cm-site-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let script = "console.log('hydrate');\n".repeat(100);
    std::fs::write(site.join("pkg/contact_manager.js"), &script).unwrap();
    let gzipped = b"\x1f\x8b pretend gzip".to_vec();
    std::fs::write(site.join("pkg/contact_manager.js.gz"), &gzipped).unwrap();
    let app = TestApp::spawn_with(|c| c.site_root = site.clone()).await;

    let url = app.url("/pkg/contact_manager.js");
    let r = app
        .client
        .get(&url)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript"),
        "the type is the script's, not gzip's"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), gzipped.as_slice());

    // A client that does not take gzip gets the file as it is.
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.text().await.unwrap(), script);
    std::fs::remove_dir_all(&site).unwrap();
}
