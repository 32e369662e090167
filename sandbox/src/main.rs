//! Runs the sandbox alone, under `/sandbox`, with fresh secrets printed:
//! a developer tool, not a service.

use base64::Engine;
use rand::RngCore;
use sandbox::SandboxConfig;

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
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
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let config = SandboxConfig {
        base_url: base_url.clone(),
        guest_issuer_id: "sandbox-guest-issuer".into(),
        guest_issuer_secret_b64: base64::engine::general_purpose::STANDARD.encode(secret),
        oauth_client_id: "sandbox-integration".into(),
        oauth_client_secret: random_hex(24),
        embedded_app_issuer: format!("{base_url}/webex/embedded"),
        embedded_app_audience: "sandbox-embedded-app".into(),
        connect_api_key: random_hex(16),
        connect_inbound_url: std::env::var("SANDBOX_INBOUND_URL").ok(),
        agents: vec![
            ("agent-a@example.com".into(), "Agent A".into()),
            ("agent-b@example.com".into(), "Agent B".into()),
            ("admin@example.com".into(), "Admin".into()),
        ],
    };
    println!("Sandbox at {base_url}");
    println!("  Webex API:            {base_url}/webex/v1");
    println!("  Connect API:          {base_url}/connect");
    println!("  Customer phone:       {base_url}/phone");
    println!("  Agent client:         {base_url}/webex-client");
    println!("  guest issuer id:      {}", config.guest_issuer_id);
    println!("  guest issuer secret:  {}", config.guest_issuer_secret_b64);
    println!("  OAuth client id:      {}", config.oauth_client_id);
    println!("  OAuth client secret:  {}", config.oauth_client_secret);
    println!(
        "  embedded issuer/aud:  {} / {}",
        config.embedded_app_issuer, config.embedded_app_audience
    );
    println!("  Connect API key:      {}", config.connect_api_key);
    println!(
        "  inbound URL:          {}",
        config
            .connect_inbound_url
            .as_deref()
            .unwrap_or("(none: set SANDBOX_INBOUND_URL)")
    );
    let app = axum::Router::new().nest_service("/sandbox", sandbox::router(config));
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
