//! The seed's handlers end a conversation when no message comes: an active
//! session with no message either way for the idle time
//! (`CM_CONVERSATION_IDLE_HOURS`) ends; the customer is told how to start
//! again, the agent gets a notice in the space. Runs on one replica at a
//! time (the housekeeping lease); each session ends in one transaction with
//! its two jobs, and only if it is still idle then.

use std::time::Duration;

use super::dialogue::Line;
use super::jobs;
use super::Relay;
use domain::error::DomainError;
use store::Store;

/// Sessions looked at per round; the next round takes the rest.
const PER_ROUND: i64 = 200;

impl Relay {
    /// Ends the sessions idle for `idle`; how many it ended.
    pub async fn close_idle_sessions(&self, idle: Duration) -> Result<usize, DomainError> {
        let hours = idle.as_secs() / 3600;
        let since = store::now_ms() - idle.as_millis() as i64;
        let mut ended = 0;
        for session in self.store().idle_sessions(since, PER_ROUND).await? {
            let key = format!("idle:{}:{}", session.id, session.updated_at);
            let customer = domain::model::Customer {
                channel: session.customer_channel,
                id: session.customer_channel_id.clone(),
            };
            let language = self.language_of(&customer, Some(&session)).await?;
            let (transcript, say) = jobs::say(
                session.customer_channel,
                &session.customer_channel_id,
                Some(&session),
                &Line::IdleEnded { hours },
                language,
                format!("{key}:customer"),
            );
            let notice = jobs::notice(
                &session,
                format!("{key}:agent"),
                None,
                &format!(
                    "This conversation ended after {hours} hours without a message either way. If the customer writes again, they are told how to start a new one."
                ),
            );
            let mut tx = self.store().begin_write().await?;
            if Store::end_idle_session(&mut tx, &session.id, since).await? {
                if let Some(line) = &transcript {
                    Store::add_message(&mut tx, line).await?;
                }
                Store::enqueue(&mut tx, &[notice, say]).await?;
                ended += 1;
            }
            tx.commit().await?;
        }
        if ended > 0 {
            self.inner.wake.notify_one();
            tracing::info!(ended, "ended conversations idle for {hours} hours");
        }
        Ok(ended)
    }
}
