//! The id of the HTTP request a piece of work comes from, carried into the
//! outbox jobs it causes and on into their jobs, so one message's path
//! reads in the logs from the webhook to the last call (`request_id` on the
//! `request` span, then on each `job` span).

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `work` as part of request `id`.
pub async fn scope<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The request the current work is part of, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
