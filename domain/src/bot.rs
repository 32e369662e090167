//! Bot hand-over (third-party bot seed): when a bot is configured, a new
//! customer's messages go to its webhook before any agent sees them, in a
//! bot conversation, until the bot hands the customer over (to a named agent
//! or to the usual routing) or cannot be reached.
//!
//! The seed's rules, in one place: a call gets [`CALL_TIMEOUT`]; a failed
//! call is retried at most [`RETRY_DELAYS`]`.len()` times within an hour;
//! after [`MAX_CONSECUTIVE_FAILURES`] failed calls in a row the bot is
//! inactive (customers go straight to agents) until an admin reactivates it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long the bot has to answer a call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The waits before each retry of a failed call: four, within an hour
/// (21 minutes in all), so a customer whose bot is down waits at most that
/// long before the usual routing takes them.
pub const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(900),
];

/// Failed calls in a row after which the bot is made inactive.
pub const MAX_CONSECUTIVE_FAILURES: i64 = 5;

/// The bot's health as the admins see it (`/admin/bot`). Times are RFC 3339.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotHealth {
    /// Customers go to the bot first (else straight to agents).
    pub active: bool,
    pub consecutive_failures: i64,
    /// The last failed call's error (no secrets: the client writes it).
    pub last_error: Option<String>,
    pub last_failure_at: Option<String>,
    pub last_success_at: Option<String>,
    /// When the failures made it inactive.
    pub inactive_since: Option<String>,
    pub reactivated_at: Option<String>,
    /// The admin's email.
    pub reactivated_by: Option<String>,
}

/// How many bot conversations are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotCounts {
    /// Customers talking to the bot now.
    pub open: i64,
    /// Handed over to agents by the bot.
    pub handed_over: i64,
    /// Sent to agents because the bot could not be reached or was inactive.
    pub bypassed: i64,
}

/// Everything the admins' bot page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotOverview {
    /// The bot's webhook host (`CM_BOT_URL`), when one is configured: no
    /// path or query, which may carry a key.
    pub host: Option<String>,
    pub health: BotHealth,
    pub counts: BotCounts,
}

/// How a bot conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotConversationStatus {
    /// The customer talks to the bot.
    Open,
    /// The bot handed the customer over to agents.
    HandedOver,
    /// The bot could not be reached (or was inactive): the customer went
    /// straight to agents.
    Bypassed,
}

impl BotConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BotConversationStatus::Open => "open",
            BotConversationStatus::HandedOver => "handed_over",
            BotConversationStatus::Bypassed => "bypassed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(BotConversationStatus::Open),
            "handed_over" => Some(BotConversationStatus::HandedOver),
            "bypassed" => Some(BotConversationStatus::Bypassed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_at_most_four_within_an_hour() {
        assert!(RETRY_DELAYS.len() <= 4);
        let total: Duration = RETRY_DELAYS.iter().sum();
        assert!(total < Duration::from_secs(3600), "{total:?}");
    }

    #[test]
    fn statuses_read_back_as_written() {
        for s in [
            BotConversationStatus::Open,
            BotConversationStatus::HandedOver,
            BotConversationStatus::Bypassed,
        ] {
            assert_eq!(BotConversationStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(BotConversationStatus::parse("closed"), None);
    }
}
