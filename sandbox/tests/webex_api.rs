//! The simulated Webex REST API against reference section 1 and 5.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn every_route_needs_a_bearer_token_and_answers_401_in_webex_shape() {
    let h = start().await;
    for path in [
        "/people/me",
        "/people?email=agent-a@example.com",
        "/messages?roomId=x",
        "/webhooks",
    ] {
        let response = h.http.get(h.webex(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert_webex_error(&response.json().await.unwrap());
        let response = h
            .http
            .get(h.webex(path))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path} with a bad token");
    }
    let response = h
        .http
        .post(h.webex("/messages"))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn guest_jwt_login_gives_a_stable_appuser_per_issuer_and_subject() {
    let h = start().await;
    let login = h
        .http
        .post(h.webex("/jwt/login"))
        .bearer_auth(h.guest_jwt("whatsapp_447700900123", "Jane Doe", 600))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    assert!(body["token"].is_string());
    assert!(body["expiresIn"].as_i64().unwrap() > 3600);

    let first = h.me(body["token"].as_str().unwrap()).await;
    assert_eq!(first["type"], "appuser");
    assert_eq!(first["displayName"], "Jane Doe");
    assert!(first["emails"][0]
        .as_str()
        .unwrap()
        .ends_with("@appid.ciscospark.com"));

    let again = h
        .me(&h.guest_token("whatsapp_447700900123", "Jane Doe").await)
        .await;
    assert_eq!(
        again["id"], first["id"],
        "same (iss, sub) is the same guest"
    );
    assert_eq!(again["emails"], first["emails"]);
    let other = h.me(&h.guest_token("sms_447700900999", "John").await).await;
    assert_ne!(other["id"], first["id"]);

    let agent = h.me(&h.driver.agent_token(AGENT_A).await).await;
    assert_eq!(agent["type"], "person");
    assert_eq!(agent["emails"][0], AGENT_A);
}

#[tokio::test]
async fn expired_forged_and_unknown_issuer_jwts_are_rejected() {
    let h = start().await;
    let cases = [
        ("expired", h.guest_jwt("s1", "Jane", -5)),
        (
            "forged",
            guest_jwt_with(ISSUER, b"some other secret", "s1", "Jane", 600),
        ),
        (
            "unknown issuer",
            guest_jwt_with("someone-else", SECRET_BYTES, "s1", "Jane", 600),
        ),
        ("not a JWT", "abc.def.ghi".to_string()),
    ];
    for (what, jwt) in cases {
        let response = h
            .http
            .post(h.webex("/jwt/login"))
            .bearer_auth(jwt)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{what}");
        assert_webex_error(&response.json().await.unwrap());
    }
    // Signed with the base64 text instead of the decoded bytes: the classic mistake.
    let b64 = h.config.guest_issuer_secret_b64.clone();
    let wrong = guest_jwt_with(ISSUER, b64.as_bytes(), "s1", "Jane", 600);
    let response = h
        .http
        .post(h.webex("/jwt/login"))
        .bearer_auth(wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn people_lookup_by_email() {
    let h = start().await;
    let token = h.driver.agent_token(AGENT_A).await;
    let found: Value = h
        .http
        .get(h.webex("/people?email=agent-b@example.com"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["displayName"], "Agent B");
    let none: Value = h
        .http
        .get(h.webex("/people?email=nobody@example.com"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], json!([]));
}

#[tokio::test]
async fn first_message_creates_the_direct_room_and_later_ones_reuse_it() {
    let h = start().await;
    let guest = h.guest_token("whatsapp_1", "Jane").await;
    let (status, first) = h
        .send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": "hello"}))
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["roomType"], "direct");
    assert_eq!(first["toPersonEmail"], AGENT_A);
    assert_eq!(first["text"], "hello");
    let agent = h.driver.agent_token(AGENT_A).await;
    let agent_id = h.me(&agent).await["id"].clone();
    let (_, second) = h
        .send_message(&guest, &json!({"toPersonId": agent_id, "text": "again"}))
        .await;
    assert_eq!(second["roomId"], first["roomId"]);
    let (status, reply) = h
        .send_message(
            &agent,
            &json!({"roomId": first["roomId"], "markdown": "**hi**"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(reply["markdown"], "**hi**");
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
    assert_eq!(rooms["items"].as_array().unwrap().len(), 1);
    assert_eq!(rooms["items"][0]["title"], "Jane");
}

#[tokio::test]
async fn message_validation_follows_the_reference() {
    let h = start().await;
    let guest = h.guest_token("g1", "Jane").await;
    let other_guest = h.guest_token("g2", "John").await;
    let other_email = h.me(&other_guest).await["emails"][0].clone();

    let (status, body) = h
        .send_message(&guest, &json!({"toPersonEmail": other_email, "text": "hi"}))
        .await;
    assert_eq!(status, 403, "guest to guest: {body}");
    assert_webex_error(&body);

    let (status, _) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "roomId": "x", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 400, "two destinations");
    let (status, _) = h.send_message(&guest, &json!({"text": "hi"})).await;
    assert_eq!(status, 400, "no destination");
    let (status, _) = h
        .send_message(&guest, &json!({"toPersonEmail": AGENT_A}))
        .await;
    assert_eq!(status, 400, "no content");

    let at_limit = "a".repeat(7439);
    let (status, _) = h
        .send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": at_limit}))
        .await;
    assert_eq!(status, 200, "7439 bytes is allowed");
    // 7440 bytes with multi-byte characters: the limit is bytes, not characters.
    let over = "é".repeat(3720);
    let (status, body) = h
        .send_message(&guest, &json!({"toPersonEmail": AGENT_A, "text": over}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "markdown": "m".repeat(7440)}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "files": [h.receiver.url("/media/a.png"), h.receiver.url("/media/b.png")]}),
        )
        .await;
    assert_eq!(status, 400, "only one file per message");
}

#[tokio::test]
async fn messages_are_hidden_from_people_outside_the_room() {
    let h = start().await;
    let guest = h.guest_token("g1", "Jane").await;
    let (_, message) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "text": "private"}),
        )
        .await;
    let id = message["id"].as_str().unwrap();
    let member = h.driver.agent_token(AGENT_A).await;
    let outsider = h.driver.agent_token(AGENT_B).await;
    let get = |token: String| {
        let h = &h;
        async move {
            h.http
                .get(h.webex(&format!("/messages/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let seen = get(member).await;
    assert_eq!(seen.status(), 200);
    assert_eq!(seen.json::<Value>().await.unwrap()["text"], "private");
    let hidden = get(outsider.clone()).await;
    assert_eq!(hidden.status(), 404);
    assert_webex_error(&hidden.json().await.unwrap());
    let list = h
        .http
        .get(h.webex(&format!(
            "/messages?roomId={}",
            message["roomId"].as_str().unwrap()
        )))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 404);
}

#[tokio::test]
async fn multipart_with_one_file_is_stored_and_downloadable() {
    let h = start().await;
    let agent = h.driver.agent_token(AGENT_A).await;
    let guest = h.guest_token("g1", "Jane").await;
    let form = reqwest::multipart::Form::new()
        .text("toPersonEmail", AGENT_A)
        .text("text", "photo")
        .part(
            "files",
            reqwest::multipart::Part::bytes(PNG.to_vec())
                .file_name("receipt.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let response = h
        .http
        .post(h.webex("/messages"))
        .bearer_auth(&guest)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.unwrap();
    let file_url = message["files"][0].as_str().unwrap().to_string();
    assert!(file_url.starts_with(&h.webex("/contents/")), "{file_url}");

    let download = h
        .http
        .get(&file_url)
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"receipt.png\""
    );
    assert_eq!(
        download.headers()["content-length"],
        PNG.len().to_string().as_str()
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), PNG);

    assert_eq!(h.http.get(&file_url).send().await.unwrap().status(), 401);
    let outsider = h.driver.agent_token(AGENT_B).await;
    assert_eq!(
        h.http
            .get(&file_url)
            .bearer_auth(outsider)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let two_files = reqwest::multipart::Form::new()
        .text("toPersonEmail", AGENT_A)
        .part(
            "files",
            reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("a.png"),
        )
        .part(
            "files",
            reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("b.png"),
        );
    let response = h
        .http
        .post(h.webex("/messages"))
        .bearer_auth(&guest)
        .multipart(two_files)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_file_over_100_mb_is_refused_and_100_mb_is_accepted() {
    let h = start().await;
    let guest = h.guest_token("g1", "Jane").await;
    let at_limit = vec![0u8; 100 * 1024 * 1024];
    let form = reqwest::multipart::Form::new()
        .text("toPersonEmail", AGENT_A)
        .part(
            "files",
            reqwest::multipart::Part::bytes(at_limit).file_name("big.bin"),
        );
    let response = h
        .http
        .post(h.webex("/messages"))
        .bearer_auth(&guest)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let too_big = vec![0u8; 100 * 1024 * 1024 + 1];
    let form = reqwest::multipart::Form::new()
        .text("toPersonEmail", AGENT_A)
        .part(
            "files",
            reqwest::multipart::Part::bytes(too_big).file_name("big.bin"),
        );
    let response = h
        .http
        .post(h.webex("/messages"))
        .bearer_auth(&guest)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_webex_error(&response.json().await.unwrap());
}

#[tokio::test]
async fn json_files_are_fetched_from_their_public_url() {
    let h = start().await;
    let guest = h.guest_token("g1", "Jane").await;
    let (status, message) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "files": [h.receiver.url("/media/photo.png")]}),
        )
        .await;
    assert_eq!(status, 200, "{message}");
    let agent = h.driver.agent_token(AGENT_A).await;
    let download = h
        .http
        .get(message["files"][0].as_str().unwrap())
        .bearer_auth(agent)
        .send()
        .await
        .unwrap();
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"photo.png\""
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), PNG);

    let (status, _) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "files": [h.url("/nowhere.png")]}),
        )
        .await;
    assert_eq!(status, 400, "an unreachable URL is refused");
}

#[tokio::test]
async fn listing_is_newest_first_with_link_paging() {
    let h = start().await;
    let guest = h.guest_token("g1", "Jane").await;
    let mut room = String::new();
    for i in 0..5 {
        let (_, m) = h
            .send_message(
                &guest,
                &json!({"toPersonEmail": AGENT_A, "text": format!("m{i}")}),
            )
            .await;
        room = m["roomId"].as_str().unwrap().to_string();
    }
    let agent = h.driver.agent_token(AGENT_A).await;
    let mut url = h.webex(&format!("/messages?roomId={room}&max=2"));
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = h.http.get(&url).bearer_auth(&agent).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let link = response
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = response.json().await.unwrap();
        for item in body["items"].as_array().unwrap() {
            seen.push(item["text"].as_str().unwrap().to_string());
        }
        pages += 1;
        match link {
            Some(link) => {
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                url = link
                    .trim_start_matches('<')
                    .split(">;")
                    .next()
                    .unwrap()
                    .to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["m4", "m3", "m2", "m1", "m0"]);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn contents_answer_423_with_retry_after_while_scanning() {
    let h = start().await;
    let response = h
        .post_json("/control/scanning", &json!({"seconds": 30}))
        .await;
    assert_eq!(response.status(), 204);
    let guest = h.guest_token("g1", "Jane").await;
    let (_, message) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "files": [h.receiver.url("/media/x.png")]}),
        )
        .await;
    let agent = h.driver.agent_token(AGENT_A).await;
    let url = message["files"][0].as_str().unwrap();
    let locked = h.http.get(url).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(locked.status(), 423);
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    // The scan finishes when (sandbox) time passes.
    h.post_json("/control/clock", &json!({"advanceSeconds": 31}))
        .await;
    let ready = h.http.get(url).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

/// A guest posts a file (fetched from the receiver) to agent A; returns the
/// agent's token and the file's URL.
async fn guest_file(h: &Harness) -> (String, String) {
    let guest = h.guest_token("g1", "Jane").await;
    let (status, message) = h
        .send_message(
            &guest,
            &json!({"toPersonEmail": AGENT_A, "files": [h.receiver.url("/media/x.png")]}),
        )
        .await;
    assert_eq!(status, 200, "{message}");
    let agent = h.driver.agent_token(AGENT_A).await;
    (agent, message["files"][0].as_str().unwrap().to_string())
}

async fn status_of(h: &Harness, method: reqwest::Method, url: &str, token: &str) -> u16 {
    h.http
        .request(method, url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn infected_files_answer_410_and_unscannable_ones_428_unless_allowed() {
    let h = start().await;
    let infected = h
        .post_json("/control/contents", &json!({"outcome": "infected"}))
        .await;
    assert_eq!(infected.status(), 204);
    let (agent, gone) = guest_file(&h).await;
    let response = h.http.get(&gone).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(response.status(), 410);
    assert!(response.headers().contains_key("trackingid"));
    assert_webex_error(&response.json().await.unwrap());
    assert_eq!(
        status_of(&h, reqwest::Method::HEAD, &gone, &agent).await,
        410
    );
    let forced = format!("{gone}?allow=unscannable");
    assert_eq!(
        status_of(&h, reqwest::Method::GET, &forced, &agent).await,
        410,
        "allow=unscannable does not release an infected file"
    );

    // The verdict applied to one file only.
    let (_, clean) = guest_file(&h).await;
    assert_eq!(
        status_of(&h, reqwest::Method::GET, &clean, &agent).await,
        200
    );

    h.post_json(
        "/control/contents",
        &json!({"outcome": "unscannable", "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let (_, url) = guest_file(&h).await;
        let response = h.http.get(&url).bearer_auth(&agent).send().await.unwrap();
        assert_eq!(response.status(), 428);
        assert_webex_error(&response.json().await.unwrap());
        assert_eq!(
            status_of(&h, reqwest::Method::HEAD, &url, &agent).await,
            428
        );
        let forced = format!("{url}?allow=unscannable");
        assert_eq!(
            status_of(&h, reqwest::Method::HEAD, &forced, &agent).await,
            200
        );
        let download = h
            .http
            .get(&forced)
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(download.status(), 200);
        assert_eq!(download.headers()["content-type"], "image/png");
        assert_eq!(download.bytes().await.unwrap().as_ref(), PNG);
    }
    let (_, clean) = guest_file(&h).await;
    assert_eq!(
        status_of(&h, reqwest::Method::GET, &clean, &agent).await,
        200
    );
}

#[tokio::test]
async fn an_infected_file_is_locked_while_scanned_then_gone() {
    let h = start().await;
    h.post_json("/control/scanning", &json!({"seconds": 30}))
        .await;
    h.post_json("/control/contents", &json!({"outcome": "infected"}))
        .await;
    let (agent, url) = guest_file(&h).await;
    assert_eq!(status_of(&h, reqwest::Method::GET, &url, &agent).await, 423);
    h.post_json("/control/clock", &json!({"advanceSeconds": 31}))
        .await;
    assert_eq!(status_of(&h, reqwest::Method::GET, &url, &agent).await, 410);
}

#[tokio::test]
async fn content_verdicts_are_checked_and_forgotten_on_reset() {
    let h = start().await;
    for bad in [
        json!({"outcome": "infected", "count": 0}),
        json!({"outcome": "corrupt"}),
        json!({"outcome": "infected", "count": 1001}),
    ] {
        let response = h.post_json("/control/contents", &bad).await;
        assert!(response.status().is_client_error(), "{bad}");
    }
    h.post_json("/control/contents", &json!({"outcome": "infected"}))
        .await;
    h.post_json("/control/reset", &json!({})).await;
    let (agent, url) = guest_file(&h).await;
    assert_eq!(status_of(&h, reqwest::Method::GET, &url, &agent).await, 200);
}

#[tokio::test]
async fn the_agent_page_lists_guest_files_with_name_type_and_bytes() {
    let h = start().await;
    let guest = h.guest_token("g1", "Jane").await;
    for (name, mime) in [
        ("receipt.png", "image/png"),
        ("terms.pdf", "application/pdf"),
    ] {
        let form = reqwest::multipart::Form::new()
            .text("toPersonEmail", AGENT_A)
            .part(
                "files",
                reqwest::multipart::Part::bytes(PNG.to_vec())
                    .file_name(name)
                    .mime_str(mime)
                    .unwrap(),
            );
        let response = h
            .http
            .post(h.webex("/messages"))
            .bearer_auth(&guest)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let spaces = h
        .get_json(&format!("/webex-client/api/spaces?email={AGENT_A}"))
        .await;
    assert_eq!(spaces["items"][0]["isGuest"], true);
    let room_id = spaces["items"][0]["roomId"].as_str().unwrap();
    let messages = h
        .get_json(&format!(
            "/webex-client/api/messages?email={AGENT_A}&roomId={room_id}"
        ))
        .await;
    let image = &messages["items"][0]["files"][0];
    assert_eq!(image["filename"], "receipt.png");
    assert_eq!(image["contentType"], "image/png");
    let document = &messages["items"][1]["files"][0];
    assert_eq!(document["filename"], "terms.pdf");
    assert_eq!(document["contentType"], "application/pdf");
    // The page's links are relative to the sandbox root.
    let bytes = h
        .http
        .get(h.url(&format!("/{}", image["url"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), PNG);
}
