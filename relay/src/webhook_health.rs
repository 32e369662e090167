//! Keeping the guests' Webex webhooks alive. Webex deactivates a webhook
//! after repeated failed deliveries (our server down, say) and never turns
//! it back on by itself: from then on the agent's replies would stop
//! reaching the customer with no sign. So every active session's webhook is
//! checked at start-up, every `CM_WEBHOOK_CHECK_SECONDS`, on demand (the
//! admin page) and soon after a sign of trouble (a Webex delivery we could
//! not accept): an inactive one, or one pointing elsewhere, is re-enabled
//! with `PUT /webhooks/{id}`, a missing one created again, and the agent's
//! messages written meanwhile are fetched from the space and relayed.

use std::time::Duration;

use super::{Failure, Relay};

use platform::webex::AccessToken;
use store::{now_ms, RelaySession};

/// The name of the webhooks the relay creates for guests.
const WEBHOOK_NAME: &str = "Contact Manager relay";

/// The background task's name, for its lease and its stored report.
pub const WEBHOOK_CHECK_TASK: &str = "webhook-check";

/// A round of checks, as the admin page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookReport {
    /// When the last round finished (None: none yet).
    pub checked_at_ms: Option<i64>,
    /// Webhooks found active and pointing at us.
    pub active: u32,
    /// Found inactive (or pointing elsewhere) and turned back on.
    pub reactivated: u32,
    /// Gone from Webex and created again.
    pub recreated: u32,
    /// Sessions whose webhook could not be checked or fixed, with why.
    pub failed: Vec<String>,
}

/// What one check found and did.
pub(super) enum Found {
    Active,
    Reactivated,
    Recreated,
}

/// How many of the space's newest messages are looked through for ones the
/// webhook missed.
const CATCH_UP_MESSAGES: u32 = 50;

impl Relay {
    /// Checks every active session's webhook once, fixing what it can; the
    /// report is also kept for [`Relay::webhook_report`]. With `catch_up`,
    /// the agents' messages of every space are looked through even where
    /// the webhook is fine: after start-up or a delivery we could not store,
    /// Webex (which documents no redelivery) may have given some up.
    pub async fn check_webhooks(&self, catch_up: bool) -> WebhookReport {
        let mut report = WebhookReport::default();
        match self.store().relay_sessions_with_webhooks().await {
            Ok(conversations) => {
                for conversation in conversations {
                    let (session, hook_id) = (
                        &conversation.session,
                        conversation.relay.webhook_id.as_deref().unwrap_or_default(),
                    );
                    let mut found = self.check_webhook(&conversation, hook_id, catch_up).await;
                    if let Err(Failure::TokenRefused(error)) = &found {
                        self.forget_refused_token(session, error).await;
                        found = self.check_webhook(&conversation, hook_id, catch_up).await;
                    }
                    match found {
                        Ok(Found::Active) => report.active += 1,
                        Ok(Found::Reactivated) => {
                            tracing::warn!(session = %session.id, "a guest's webhook was inactive; turned it back on");
                            report.reactivated += 1;
                        }
                        Ok(Found::Recreated) => {
                            tracing::warn!(session = %session.id, "a guest's webhook was gone; created it again");
                            report.recreated += 1;
                        }
                        Err(
                            Failure::Retry(why, _)
                            | Failure::Fatal(why)
                            | Failure::TokenRefused(why),
                        ) => {
                            tracing::warn!(session = %session.id, error = %why, "could not check a guest's webhook");
                            report.failed.push(format!("session {}: {why}", session.id));
                        }
                    }
                }
            }
            Err(e) => report.failed.push(format!("could not list sessions: {e}")),
        }
        report.checked_at_ms = Some(now_ms());
        // Stored, not kept in memory: the admin page may be served by another replica.
        let saved = serde_json::to_value(&report).expect("a report serialises");
        if let Err(e) = self
            .store()
            .save_task_report(WEBHOOK_CHECK_TASK, &saved)
            .await
        {
            tracing::warn!(error = %e, "could not store the webhook report");
        }
        report
    }

    pub(super) async fn check_webhook(
        &self,
        conversation: &RelaySession,
        hook_id: &str,
        catch_up: bool,
    ) -> Result<Found, Failure> {
        let session = &conversation.session;
        let token = self.token(conversation).await?;
        let settings = &self.inner.settings;
        let webex = &self.inner.webex;
        match webex.webhook(&token, hook_id).await? {
            Some(hook) if hook.status == "active" && hook.target_url == settings.webhook_url => {
                if catch_up {
                    self.catch_up(conversation, &token).await?;
                }
                Ok(Found::Active)
            }
            Some(hook) => {
                webex
                    .reactivate_webhook(
                        &token,
                        &hook.id,
                        WEBHOOK_NAME,
                        &settings.webhook_url,
                        &settings.webhook_secret,
                    )
                    .await?;
                self.catch_up(conversation, &token).await?;
                Ok(Found::Reactivated)
            }
            None => {
                let id = self.create_webhook(&token).await?;
                self.store().set_webhook(&session.id, &id).await?;
                self.catch_up(conversation, &token).await?;
                Ok(Found::Recreated)
            }
        }
    }

    /// Creates the guest's `messages:created` webhook, aimed at us; its id.
    pub(super) async fn create_webhook(&self, token: &AccessToken) -> Result<String, Failure> {
        let settings = &self.inner.settings;
        Ok(self
            .inner
            .webex
            .create_message_webhook(
                token,
                WEBHOOK_NAME,
                &settings.webhook_url,
                &settings.webhook_secret,
            )
            .await?)
    }

    /// Webex does not deliver what was written while a webhook was off, so
    /// the agent's newest messages in the space are accepted as if
    /// delivered: the dedup record of each delivered message makes the ones
    /// already relayed duplicates. Only messages younger than the dedup
    /// window are taken (older ones' records may be gone).
    async fn catch_up(
        &self,
        conversation: &RelaySession,
        token: &AccessToken,
    ) -> Result<(), Failure> {
        let session = &conversation.session;
        let Some(room) = conversation.relay.room_id.as_deref() else {
            return Ok(());
        };
        let since = now_ms() - self.inner.settings.catch_up_window.as_millis() as i64;
        let newest = self
            .inner
            .webex
            .recent_messages(token, room, CATCH_UP_MESSAGES, None)
            .await?;
        // Webex lists newest first; the customer gets them in the order written.
        for message in newest.iter().rev() {
            let by_guest = conversation.guest_id() == Some(message.person_id.as_str());
            let written_ms = message
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.timestamp_millis());
            if by_guest || written_ms.is_none_or(|t| t < since) {
                continue;
            }
            let accepted = self
                .accept_missed(session, &message.id)
                .await
                .map_err(|e| Failure::Retry(e.to_string(), None))?;
            if accepted == super::Accepted::Queued {
                tracing::info!(session = %session.id, "relaying an agent's message the webhook missed");
            }
        }
        Ok(())
    }

    /// The last round's report, whichever replica ran it.
    pub async fn webhook_report(&self) -> WebhookReport {
        match self.store().task_report(WEBHOOK_CHECK_TASK).await {
            Ok(Some(saved)) => serde_json::from_value(saved.report).unwrap_or_default(),
            Ok(None) => WebhookReport::default(),
            Err(e) => WebhookReport {
                failed: vec![format!("could not read the last report: {e}")],
                ..WebhookReport::default()
            },
        }
    }

    /// Asks for a round soon (a sign of trouble); calls close together
    /// make one round.
    pub fn check_webhooks_soon(&self) {
        self.inner.check_webhooks.notify_one();
    }

    /// Checks the webhooks at start, every `every`, and soon after
    /// [`Relay::check_webhooks_soon`], until `stop` fires. `holder` names
    /// this process for the periodic round's lease.
    pub async fn watch_webhooks(
        &self,
        every: Duration,
        holder: &str,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        /// Signs of trouble come in bursts: wait for the burst to pass.
        const SETTLE: Duration = Duration::from_secs(5);
        // The first round follows a start: deliveries may have failed while
        // this server was down, so it catches up too.
        let (mut catch_up, mut periodic) = (true, false);
        loop {
            if *stop.borrow() {
                break;
            }
            // The periodic round runs on one replica, the lease's holder.
            // A round after a start or a sign of trouble runs where that was
            // seen: its catch-up is safe twice (the dedup records keep a
            // message from being relayed twice).
            if !periodic || self.holds_lease(holder, every * 2).await {
                self.check_webhooks(catch_up).await;
            }
            (catch_up, periodic) = tokio::select! {
                _ = tokio::time::sleep(every) => (false, true),
                _ = self.inner.check_webhooks.notified() => {
                    tokio::time::sleep(SETTLE).await;
                    (true, false)
                }
                _ = stop.changed() => break,
            };
        }
        // Another replica need not wait for the lease to run out.
        let _ = self.store().release_lease(WEBHOOK_CHECK_TASK, holder).await;
    }

    async fn holds_lease(&self, holder: &str, ttl: Duration) -> bool {
        match self
            .store()
            .take_lease(WEBHOOK_CHECK_TASK, holder, ttl)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "could not take the webhook check's lease");
                false
            }
        }
    }
}
