//! Runs the sandbox alone, under `/sandbox`: a developer tool, not a service.
//! Every secret and id comes from a `SANDBOX_*` variable when set (so another
//! process, e.g. a crash test, can share them), else it is generated and printed.

use base64::Engine;
use rand::RngCore;
use sandbox::SandboxConfig;

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn random_base64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// A setting from the environment (and whether it came from there), else `fallback()`.
fn setting(name: &str, fallback: impl FnOnce() -> String) -> (String, bool) {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => (value, true),
        _ => (fallback(), false),
    }
}

/// A secret as printed: never a value that came from the environment,
/// which may be shared with a product that treats it as secret.
fn shown((value, from_env): &(String, bool)) -> &str {
    if *from_env {
        "(from environment)"
    } else {
        value
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let bind = std::env::args()
        .skip_while(|a| a != "--bind")
        .nth(1)
        .or_else(|| std::env::var("SANDBOX_BIND").ok())
        .unwrap_or_else(|| "127.0.0.1:3100".to_string());
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {bind}: {e}");
            std::process::exit(1);
        }
    };
    let base_url = format!(
        "http://{}/sandbox",
        listener.local_addr().expect("bound socket has an address")
    );
    let guest_issuer_secret = setting("SANDBOX_GUEST_ISSUER_SECRET", || random_base64(32));
    let oauth_client_secret = setting("SANDBOX_OAUTH_CLIENT_SECRET", || random_hex(24));
    let connect_api_key = setting("SANDBOX_CONNECT_API_KEY", || random_hex(16));
    let service_app_client_secret = setting("SANDBOX_SERVICE_APP_CLIENT_SECRET", || random_hex(24));
    let service_app_refresh_token = setting("SANDBOX_SERVICE_APP_REFRESH_TOKEN", || random_hex(32));
    let config = SandboxConfig {
        base_url: base_url.clone(),
        guest_issuer_id: setting("SANDBOX_GUEST_ISSUER_ID", || "sandbox-guest-issuer".into()).0,
        guest_issuer_secret_b64: guest_issuer_secret.0.clone(),
        oauth_client_id: setting("SANDBOX_OAUTH_CLIENT_ID", || "sandbox-integration".into()).0,
        oauth_client_secret: oauth_client_secret.0.clone(),
        service_app_client_id: setting("SANDBOX_SERVICE_APP_CLIENT_ID", || {
            "sandbox-service-app".into()
        })
        .0,
        service_app_client_secret: service_app_client_secret.0.clone(),
        service_app_refresh_token: service_app_refresh_token.0.clone(),
        embedded_app_issuer: format!("{base_url}/webex/embedded"),
        embedded_app_audience: setting("SANDBOX_EMBEDDED_APP_AUDIENCE", || {
            "sandbox-embedded-app".into()
        })
        .0,
        connect_api_key: connect_api_key.0.clone(),
        connect_inbound_url: std::env::var("SANDBOX_INBOUND_URL").ok(),
        connect_webhook_secret: std::env::var("SANDBOX_CONNECT_WEBHOOK_SECRET")
            .ok()
            .filter(|s| !s.is_empty()),
        agents: vec![
            ("agent-a@example.com".into(), "Agent A".into()),
            ("agent-b@example.com".into(), "Agent B".into()),
            ("admin@example.com".into(), "Admin".into()),
        ],
        bot: None,
    };
    println!("Sandbox at {base_url}");
    println!("  Webex API:            {base_url}/webex/v1");
    println!("  Connect API:          {base_url}/connect");
    println!("  Customer phone:       {base_url}/phone");
    println!("  Agent client:         {base_url}/webex-client");
    println!("  guest issuer id:      {}", config.guest_issuer_id);
    println!("  guest issuer secret:  {}", shown(&guest_issuer_secret));
    println!("  OAuth client id:      {}", config.oauth_client_id);
    println!("  OAuth client secret:  {}", shown(&oauth_client_secret));
    println!("  Service App id:       {}", config.service_app_client_id);
    println!(
        "  Service App secret:   {}",
        shown(&service_app_client_secret)
    );
    println!(
        "  Service App refresh:  {}",
        shown(&service_app_refresh_token)
    );
    println!(
        "  embedded issuer/aud:  {} / {}",
        config.embedded_app_issuer, config.embedded_app_audience
    );
    println!("  Connect API key:      {}", shown(&connect_api_key));
    // The inbound URL's query usually carries the product's inbound token.
    let inbound = match config.connect_inbound_url.as_deref() {
        None => "(none: set SANDBOX_INBOUND_URL)".to_string(),
        Some(url) => match url.split_once('?') {
            Some((path, _)) => format!("{path}?... (query from environment)"),
            None => url.to_string(),
        },
    };
    println!("  inbound URL:          {inbound}");
    let signed = match config.connect_webhook_secret {
        Some(_) => "x-hub-signature (secret from environment)",
        None => "unsigned (set SANDBOX_CONNECT_WEBHOOK_SECRET to sign)",
    };
    println!("  inbound deliveries:   {signed}");
    let app = axum::Router::new().nest_service("/sandbox", sandbox::router(config));
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
