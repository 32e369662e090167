//! Data protection: what is held about a customer, what erasing them
//! removed, and how long transcripts and media are kept. The rules are in
//! `store::privacy`; these are the shapes the API and the UI show.

use serde::{Deserialize, Serialize};

/// What replaces an erased value in the rows that are kept (the audit log).
pub const ERASED: &str = "[erased]";

/// Rows held about one customer (one phone number, every channel), by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HeldCounts {
    /// Contacts with this number.
    pub contacts: i64,
    /// Their per-channel ids.
    pub contact_channels: i64,
    /// Sessions (routings) of the number on any channel, or of its contact.
    pub sessions: i64,
    /// Transcript lines of those sessions.
    pub messages: i64,
    /// Cached media files those lines or jobs point at.
    pub media_files: i64,
    /// Cached Webex guest tokens of the customer's guests.
    pub guest_tokens: i64,
    /// Outbox rows of the customer's conversations (pending, done or dead).
    pub outbox_jobs: i64,
    /// Of those, jobs still waiting to be delivered.
    pub pending_jobs: i64,
    /// Webhook dedup records of the customer's messages.
    pub dedup_records: i64,
    /// Start conversation presses for their contact.
    pub start_attempts: i64,
    /// Audit entries about them or mentioning the number (kept, redacted on erasure).
    pub audit_entries: i64,
}

impl HeldCounts {
    /// Nothing at all is held (pending jobs are counted among the outbox jobs).
    pub fn is_empty(&self) -> bool {
        let HeldCounts {
            contacts,
            contact_channels,
            sessions,
            messages,
            media_files,
            guest_tokens,
            outbox_jobs,
            pending_jobs: _,
            dedup_records,
            start_attempts,
            audit_entries,
        } = self;
        [
            contacts,
            contact_channels,
            sessions,
            messages,
            media_files,
            guest_tokens,
            outbox_jobs,
            dedup_records,
            start_attempts,
            audit_entries,
        ]
        .iter()
        .all(|n| **n == 0)
    }
}

/// The outcome of erasing a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErasureReport {
    /// Names this erasure in the audit log (entry `privacy.erase`), which
    /// records the counts and never the number.
    pub erasure_id: String,
    /// What was deleted; `auditEntries` were redacted and kept.
    pub removed: HeldCounts,
}

/// How long transcripts and cached media are kept (`None`: for ever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    pub transcript_days: Option<u32>,
    pub media_days: Option<u32>,
}

impl Retention {
    /// From the settings' days, where 0 means keep for ever.
    pub fn from_days(transcript_days: u32, media_days: u32) -> Retention {
        let days = |d: u32| (d > 0).then_some(d);
        Retention {
            transcript_days: days(transcript_days),
            media_days: days(media_days),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_is_for_ever() {
        assert_eq!(
            Retention::from_days(0, 30),
            Retention {
                transcript_days: None,
                media_days: Some(30)
            }
        );
    }

    #[test]
    fn empty_ignores_the_pending_subcount_only() {
        assert!(HeldCounts::default().is_empty());
        let held = HeldCounts {
            audit_entries: 1,
            ..HeldCounts::default()
        };
        assert!(!held.is_empty());
    }
}
