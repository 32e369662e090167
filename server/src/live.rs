//! The live sidebar: `GET /events` streams "this session changed" to a
//! signed-in agent (Server-Sent Events), so the sessions list and an open
//! session refresh without a reload.
//!
//! A change may be written by any replica, so the feed reads the database:
//! one poller per process asks each second which sessions changed in the
//! last few seconds (the overlap catches a transaction that committed late
//! or a replica whose clock is a little behind) and tells every open stream,
//! which passes on what its agent may see: their own sessions, or all for
//! an admin. The poller sleeps while nobody listens.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast;

use crate::state::AppState;
use domain::model::Role;
use store::{SessionChange, Store, WebSession};

/// How often the database is asked.
const POLL: Duration = Duration::from_secs(1);
/// How far back each poll looks.
const OVERLAP_MS: i64 = 5_000;
/// A stream ends after this (the browser reconnects at once, and the
/// cookie is checked again: a signed-out agent's stream does not outlive it).
const STREAM_FOR: Duration = Duration::from_secs(300);

/// The process's feed of session changes.
#[derive(Clone)]
pub struct LiveFeed {
    changes: broadcast::Sender<Arc<SessionChange>>,
}

impl LiveFeed {
    /// Starts the poller; it ends when `stop` fires.
    pub fn start(store: Store, mut stop: tokio::sync::watch::Receiver<bool>) -> LiveFeed {
        let (changes, _) = broadcast::channel(1024);
        let feed = LiveFeed {
            changes: changes.clone(),
        };
        tokio::spawn(async move {
            // Each session's latest change already told, while it is recent.
            let mut told: HashMap<String, i64> = HashMap::new();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                }
                if changes.receiver_count() == 0 {
                    told.clear();
                    continue;
                }
                let since = store::now_ms() - OVERLAP_MS;
                match store.sessions_changed_since(since).await {
                    Ok(changed) => {
                        for change in changed {
                            let newer = told
                                .get(&change.session_id)
                                .is_none_or(|at| change.changed_at > *at);
                            if newer {
                                told.insert(change.session_id.clone(), change.changed_at);
                                let _ = changes.send(Arc::new(change));
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "the live feed could not read changes"),
                }
                told.retain(|_, at| *at > since - OVERLAP_MS);
            }
        });
        feed
    }
}

/// `GET /events`: the signed-in agent's stream; 401 without a session.
pub async fn events(
    State(state): State<AppState>,
    session: Option<Extension<WebSession>>,
) -> Response {
    let Some(Extension(web)) = session else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let receiver = state.live.changes.subscribe();
    Sse::new(stream_for(web, receiver))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn stream_for(
    web: WebSession,
    receiver: broadcast::Receiver<Arc<SessionChange>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let admin = web.agent.role == Role::Admin;
    let me = web.agent.email;
    let until = tokio::time::Instant::now() + STREAM_FOR;
    stream::unfold(receiver, move |mut receiver| {
        let me = me.clone();
        async move {
            loop {
                let next = tokio::time::timeout_at(until, receiver.recv()).await;
                let change = match next {
                    Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                    // Fell behind: the page had better look again at everything.
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        return Some((Ok(changed("*")), receiver));
                    }
                    Ok(Ok(change)) => change,
                };
                let theirs = change
                    .agent
                    .as_deref()
                    .is_some_and(|agent| agent.eq_ignore_ascii_case(&me));
                if admin || theirs {
                    return Some((Ok(changed(&change.session_id)), receiver));
                }
            }
        }
    })
}

/// The event a page reacts to: `id` is the session, `*` any.
fn changed(session_id: &str) -> Event {
    Event::default()
        .event("session")
        .data(serde_json::json!({ "id": session_id }).to_string())
        .retry(Duration::from_secs(3))
}
