//! `/metrics` in Prometheus' text format. The crates record through the
//! `metrics` facade (relay: attempts, dead letters, end-to-end times;
//! platform: Webex and Connect answers; store: sign-ins; here: webhook
//! acknowledgements and rate-limit refusals); the outbox's depth and age
//! are read from the database at each scrape, so every replica reports the
//! shared queue. Off unless `CM_METRICS_TOKEN` is set; then the scraper must
//! send it as a bearer token. docs/metrics.md lists the series and a
//! starting dashboard.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use subtle::ConstantTimeEq;

use crate::state::AppState;

/// Histogram buckets (seconds) for acknowledgement and delivery times: a
/// webhook is answered in milliseconds, a relayed message in tens of
/// milliseconds, a retried one in seconds to minutes.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
];

/// The process's recorder, installed once (tests build many servers in one
/// process; they share it).
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first: then that one records.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        handle
    })
}

/// The minimum length of `CM_METRICS_TOKEN`.
pub const MIN_TOKEN_CHARS: usize = 16;

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.config.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "send CM_METRICS_TOKEN as a bearer token\n",
        )
            .into_response();
    }
    match state.store.outbox_stats().await {
        Ok(stats) => {
            metrics::gauge!("cm_outbox_pending_jobs").set(stats.pending as f64);
            metrics::gauge!("cm_outbox_oldest_pending_age_seconds")
                .set(stats.oldest_pending_age_ms as f64 / 1000.0);
            metrics::gauge!("cm_outbox_dead_jobs").set(stats.dead as f64);
        }
        Err(e) => tracing::warn!(error = %e, "could not read the outbox for /metrics"),
    }
    let handle = recorder();
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// What a webhook handler made of a delivery (`queued`, `duplicate`,
/// `ignored`, `malformed`, `not_stored`), for [`count_webhooks`]; set as a
/// response extension.
#[derive(Debug, Clone, Copy)]
pub struct WebhookResult(pub &'static str);

/// Around the webhook routes: counts each delivery by source and result
/// (`cm_webhook_requests_total`) and times its acknowledgement
/// (`cm_webhook_ack_seconds`). A refusal before the handler (a bad
/// signature or token) has no result of its own: it counts by status.
pub async fn count_webhooks(request: Request, next: Next) -> Response {
    let source = match request.uri().path() {
        "/webhooks/webex" => "webex",
        "/webhooks/connect/inbound" => "connect_inbound",
        "/webhooks/connect/receipts" => "connect_receipts",
        _ => return next.run(request).await,
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let result = match response.extensions().get::<WebhookResult>() {
        Some(WebhookResult(result)) => result.to_string(),
        None => format!("status_{}", response.status().as_u16()),
    };
    metrics::counter!("cm_webhook_requests_total", "source" => source, "result" => result)
        .increment(1);
    metrics::histogram!("cm_webhook_ack_seconds", "source" => source)
        .record(started.elapsed().as_secs_f64());
    response
}
