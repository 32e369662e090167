//! The id of the HTTP request a piece of work comes from, and when that
//! request was accepted, carried into the outbox jobs it causes and on into
//! their jobs: one message's path reads in the logs from the webhook to the
//! last call (`request_id` on the `request` span, then on each `job` span),
//! and its delivery time is measured from its acceptance (`/metrics`).

use std::future::Future;

#[derive(Debug, Clone)]
struct Origin {
    request_id: String,
    accepted_at_ms: i64,
}

tokio::task_local! {
    static ORIGIN: Origin;
}

/// Runs `work` as part of request `id`, accepted now.
pub async fn scope<F: Future>(id: String, work: F) -> F::Output {
    scope_from(id, store::now_ms(), work).await
}

/// Runs `work` as part of request `id`, accepted at `accepted_at_ms`.
pub async fn scope_from<F: Future>(id: String, accepted_at_ms: i64, work: F) -> F::Output {
    let origin = Origin {
        request_id: id,
        accepted_at_ms,
    };
    ORIGIN.scope(origin, work).await
}

/// The request the current work is part of, if any.
pub fn current() -> Option<String> {
    ORIGIN.try_with(|o| o.request_id.clone()).ok()
}

/// When the request the current work is part of was accepted, if any.
pub fn accepted_at_ms() -> Option<i64> {
    ORIGIN.try_with(|o| o.accepted_at_ms).ok()
}
