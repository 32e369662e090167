//! Nothing hostile is rendered: a transcript line whose file URL came from
//! outside becomes a link or image only for this site or an allowed host.

use domain::model::{Direction, MessageStatus, Role};
use domain::Channel;
use reqwest::StatusCode;
use serde_json::json;
use store::{Attachment, NewMessage, Store};

use crate::common::{add_agent, sign_in, TestApp};

async fn add_line(store: &Store, session_id: &str, url: &str) {
    let mut tx = store.begin_write().await.unwrap();
    Store::add_message(
        &mut tx,
        &NewMessage {
            id: uuid::Uuid::now_v7().to_string(),
            session_id: session_id.to_string(),
            direction: Direction::Inbound,
            channel: Channel::Whatsapp,
            body: "look".into(),
            provider: None,
            provider_message_id: None,
            status: MessageStatus::Received,
            attachment: Some(Attachment {
                url: url.into(),
                mime: Some("image/png".into()),
                name: Some("photo.png".into()),
            }),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn only_urls_of_this_site_or_allowed_hosts_become_links_or_images() {
    let app = TestApp::spawn().await;
    add_agent(&app, "a@example.com", Role::Agent).await;
    let (status, session) = app
        .post(
            "/api/v1/sessions",
            json!({
                "customerChannel": "whatsapp",
                "customerChannelId": "447700900123",
                "collabAgentId": "a@example.com",
                "collabGuestId": "guest-1",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().unwrap();
    let ours = format!("{}/media/abcdef/photo.png", app.base);
    for url in [
        "javascript:alert(document.cookie)",
        "https://evil.example/track.png",
        "data:image/svg+xml,<svg onload=alert(1)>",
        ours.as_str(),
    ] {
        add_line(&app.store, id, url).await;
    }
    let a = sign_in(&app, "a@example.com").await;
    let html = app
        .client
        .get(app.url(&format!("/sessions/{id}")))
        .header("cookie", &a.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("href=\"{ours}\"")),
        "our own file is a link"
    );
    assert!(html.contains(&format!("src=\"{ours}\"")), "and an image");
    for hostile in ["javascript:", "https://evil.example", "data:image"] {
        assert!(
            !html.contains(&format!("href=\"{hostile}"))
                && !html.contains(&format!("src=\"{hostile}")),
            "{hostile} was made live"
        );
        assert!(html.contains("not opened"), "shown as text instead");
    }
}
