//! The floor: the least a service can do for a customer's webhook, without
//! the product. It verifies the hub signature (the product's own check, on
//! the raw bytes), then in one transaction inserts the dedup key and one
//! outbox row, commits and answers 200. Same database, same settings as the
//! product (`store::pool_options`; SQLite: one writer connection, the
//! log checkpointed by `store::Checkpoints`' thread), a
//! database of its own. The product's acknowledgement is reported as a ratio
//! to it, measured in the same run.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use sqlx::{AnyPool, Row};
use std::collections::HashMap;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

#[derive(Clone)]
struct Floor {
    pool: AnyPool,
    sqlite: bool,
    token: String,
    hub_secret: String,
    /// SQLite: keeps the checkpoint thread running.
    _checkpoints: Option<std::sync::Arc<store::Checkpoints>>,
}

/// Starts the floor service on a free loopback port, on the database at
/// `url` (created and emptied by the caller).
pub async fn start(url: &str, token: &str, hub_secret: &str) -> SocketAddr {
    sqlx::any::install_default_drivers();
    let backend = store::Backend::from_url(url).expect("a database URL the store takes");
    let sqlite = backend == store::Backend::Sqlite;
    let pool = if sqlite {
        store::pool_options(backend, 1)
            .connect(&format!("{url}?mode=rwc"))
            .await
    } else {
        store::pool_options(backend, 16).connect(url).await
    }
    .expect("floor database");
    let id = if sqlite {
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    } else {
        "BIGSERIAL PRIMARY KEY"
    };
    for ddl in [
        "CREATE TABLE floor_dedup (provider TEXT NOT NULL, event_id TEXT NOT NULL,
           received_at BIGINT NOT NULL, PRIMARY KEY (provider, event_id))"
            .to_string(),
        format!(
            "CREATE TABLE floor_outbox (id {id}, ordering_key TEXT NOT NULL,
               idempotency_key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL, created_at BIGINT NOT NULL)"
        ),
    ] {
        sqlx::query(&ddl).execute(&pool).await.expect("floor schema");
    }
    let floor = Floor {
        _checkpoints: sqlite.then(|| std::sync::Arc::new(store::Checkpoints::start(url))),
        pool,
        sqlite,
        token: token.to_string(),
        hub_secret: hub_secret.to_string(),
    };
    let app = Router::new()
        .route("/webhooks/connect/inbound", post(inbound))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // As the product's listener: no Nagle's delay.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn inbound(
    State(floor): State<Floor>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    if !bool::from(token.as_bytes().ct_eq(floor.token.as_bytes())) {
        return StatusCode::UNAUTHORIZED;
    }
    let signature = headers
        .get("x-hub-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !platform::connect::hub_signature_valid(&floor.hub_secret, &body, signature) {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let (Some(tid), Some(from)) = (message["tid"].as_str(), message["oa"].as_str()) else {
        return StatusCode::BAD_REQUEST;
    };
    match store(&floor, tid, from, &body).await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn store(floor: &Floor, tid: &str, from: &str, body: &[u8]) -> Result<(), sqlx::Error> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut tx = if floor.sqlite {
        floor.pool.begin_with("BEGIN IMMEDIATE").await?
    } else {
        floor.pool.begin().await?
    };
    let fresh = sqlx::query(
        "INSERT INTO floor_dedup (provider, event_id, received_at) VALUES ('connect', $1, $2)
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(tid)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = fresh {
        sqlx::query(
            "INSERT INTO floor_outbox (ordering_key, idempotency_key, payload, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(from)
        .bind(row.try_get::<String, _>("event_id")?)
        .bind(String::from_utf8_lossy(body).into_owned())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
