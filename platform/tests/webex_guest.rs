//! Guest auth against the sandbox's Webex (real HTTP on loopback): the JWT is
//! accepted, the same subject is always the same guest, and refusals are
//! sorted into "retry" and "give up".

use base64::Engine;
use domain::Channel;
use platform::webex::{guest_subject, GuestIssuer, WebexClient, WebexError};
use std::time::Duration;

async fn sandbox() -> (String, String) {
    let secret =
        base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef0123456789abcdef");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/sandbox", listener.local_addr().unwrap());
    let config = sandbox::SandboxConfig {
        base_url: base.clone(),
        guest_issuer_id: "issuer-1".into(),
        guest_issuer_secret_b64: secret.clone(),
        oauth_client_id: "c".into(),
        oauth_client_secret: "s".into(),
        embedded_app_issuer: "i".into(),
        embedded_app_audience: "a".into(),
        connect_api_key: "k".into(),
        connect_inbound_url: None,
        connect_webhook_secret: None,
        agents: vec![("agent-a@example.com".into(), "Agent A".into())],
        bot: None,
        service_app_client_id: "service-app".into(),
        service_app_client_secret: "service-secret".into(),
        service_app_refresh_token: "service-refresh".into(),
    };
    let app = axum::Router::new().nest_service("/sandbox", sandbox::router(config));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("{base}/webex/v1"), secret)
}

fn now() -> (i64, i64) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (ms / 1000, ms)
}

#[tokio::test]
async fn guest_jwt_logs_in_as_a_stable_guest_per_channel() {
    let (api, secret) = sandbox().await;
    let issuer = GuestIssuer::new("issuer-1", &secret).unwrap();
    let client = WebexClient::new(&api, Duration::from_secs(5));
    let (secs, ms) = now();

    let login = |sub: String| {
        let jwt = issuer.token(&sub, "Mr Doe", secs, Duration::from_secs(600));
        let client = client.clone();
        async move {
            let token = client.jwt_login(&jwt, ms).await.unwrap();
            assert!(token.expires_at_ms > ms + 60_000);
            client.me(&token).await.unwrap()
        }
    };
    let wa = login(guest_subject(Channel::Whatsapp, "447700900123")).await;
    let wa_again = login(guest_subject(Channel::Whatsapp, "447700900123")).await;
    let sms = login(guest_subject(Channel::Sms, "+447700900123")).await;
    assert_eq!(wa.kind, "appuser");
    assert!(wa.emails[0].ends_with("@appid.ciscospark.com"));
    assert_eq!(wa.id, wa_again.id, "the same subject is the same guest");
    assert_ne!(wa.id, sms.id, "SMS and WhatsApp are different guests");
}

#[tokio::test]
async fn bad_jwts_are_refused_and_outages_are_retryable() {
    let (api, _) = sandbox().await;
    let (secs, ms) = now();
    let client = WebexClient::new(&api, Duration::from_secs(5));
    let wrong_secret =
        base64::engine::general_purpose::STANDARD.encode(b"another secret entirely.........");
    let forged = GuestIssuer::new("issuer-1", &wrong_secret).unwrap().token(
        "sms_1",
        "X",
        secs,
        Duration::from_secs(600),
    );
    assert!(matches!(
        client.jwt_login(&forged, ms).await,
        Err(WebexError::Refused { status: 401, .. })
    ));

    let nowhere = WebexClient::new("http://127.0.0.1:9/v1", Duration::from_secs(2));
    assert!(matches!(
        nowhere.jwt_login(&forged, ms).await,
        Err(WebexError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn a_service_app_makes_stable_guests_whose_webhooks_can_be_checked_and_fixed() {
    let (api, _) = sandbox().await;
    let client = WebexClient::new(&api, Duration::from_secs(5));
    let (_, ms) = now();
    let wrong = client
        .refresh_app_token("service-app", "wrong", "service-refresh", ms)
        .await;
    assert!(
        matches!(wrong, Err(WebexError::Refused { .. })),
        "{:?}",
        wrong.err()
    );
    let app = client
        .refresh_app_token("service-app", "service-secret", "service-refresh", ms)
        .await
        .unwrap();
    assert!(app.access.expires_at_ms > ms + 60_000);

    let subject = guest_subject(Channel::Sms, "+447700900123");
    let first = client
        .guest_token(&app.access, &subject, "Mr Doe", ms)
        .await
        .unwrap();
    let again = client
        .guest_token(&app.access, &subject, "Mr Doe", ms)
        .await
        .unwrap();
    let (me, me_again) = (
        client.me(&first).await.unwrap(),
        client.me(&again).await.unwrap(),
    );
    assert_eq!(me.id, me_again.id, "the same subject is the same guest");
    assert_eq!(me.kind, "appuser");
    assert_eq!(me.display_name, "Mr Doe");
    assert_eq!(client.guest_count(&app.access).await.unwrap(), 1);
    // A guest's token cannot make guests.
    assert!(matches!(
        client.guest_token(&first, "other", "Other", ms).await,
        Err(WebexError::Refused { status: 403, .. })
    ));

    let id = client
        .create_message_webhook(&first, "relay", "http://127.0.0.1:9/hook", "s3cret")
        .await
        .unwrap();
    let hook = client.webhook(&first, &id).await.unwrap().expect("exists");
    assert_eq!(
        (hook.status.as_str(), hook.target_url.as_str()),
        ("active", "http://127.0.0.1:9/hook")
    );
    let control = api.replace("/webex/v1", "/control");
    reqwest::Client::new()
        .post(format!("{control}/webhooks/{id}/deactivate"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(
        client.webhook(&first, &id).await.unwrap().unwrap().status,
        "inactive"
    );
    let fixed = client
        .reactivate_webhook(&first, &id, "relay", "http://127.0.0.1:9/new", "s3cret")
        .await
        .unwrap();
    assert_eq!(
        (fixed.status.as_str(), fixed.target_url.as_str()),
        ("active", "http://127.0.0.1:9/new")
    );
    assert_eq!(
        client.webhook(&first, "no-such-webhook").await.unwrap(),
        None,
        "a webhook Webex no longer has"
    );
}
