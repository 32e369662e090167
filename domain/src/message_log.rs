//! The admins' message log: every relayed message, found by Connect's
//! transaction id, the Webex message id, the customer's number, the agent, a
//! time range or its status, and the hops it took (received, each job and
//! each try with the platform's answer, sent, receipts).
//!
//! The views cross to the browser; the search's input is checked once, on
//! the server ([`MessageLogFilter`]), like every other wire input.

use serde::{Deserialize, Serialize};

use crate::model::{Direction, MessageStatus};

/// A search as the form (GET, so results are linkable) sends it: each
/// field optional text, empty meaning "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageLogQuery {
    /// Connect's transaction id (a customer's message, or what Connect
    /// answered to one of ours).
    pub transid: Option<String>,
    /// The Webex message id of an agent's message.
    pub webex_id: Option<String>,
    /// The customer's number, as people write it.
    pub customer: Option<String>,
    /// The agent's email (case ignored).
    pub agent: Option<String>,
    /// From and to: a date (`2026-11-30`, the whole day, UTC) or an RFC 3339
    /// time (`2026-11-30T14:00:00Z`).
    pub from: Option<String>,
    pub to: Option<String>,
    /// A message status word (`failed`, `delivered`...).
    pub status: Option<String>,
}

impl MessageLogQuery {
    /// Whether any filter is set.
    pub fn is_filtered(&self) -> bool {
        [
            &self.transid,
            &self.webex_id,
            &self.customer,
            &self.agent,
            &self.from,
            &self.to,
            &self.status,
        ]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
    }
}

/// A relayed message as the log lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedMessage {
    pub id: String,
    pub session_id: String,
    pub direction: Direction,
    pub channel: String,
    pub body: String,
    /// The customer's channel id (`+447700900123`, or digits on WhatsApp).
    pub customer: String,
    /// The session's agent now.
    pub agent: Option<String>,
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    /// `webex` or `connect` and the id there, for messages that came in.
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    /// The id Connect gave one of our sends (its receipts carry it).
    pub connect_transid: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// When the line first reached these statuses (none before the log
    /// existed, or when it never did).
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
    pub read_at: Option<String>,
    /// Tries of the jobs that carried it (delivery receipts not counted).
    pub attempts: i64,
}

/// One page of the log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageLogPage {
    pub items: Vec<LoggedMessage>,
    pub page: u32,
    /// Older matching messages exist beyond this page.
    pub more: bool,
}

/// One try of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptTrail {
    pub attempt: i64,
    pub started_at: String,
    pub finished_at: String,
    /// `done`, `retry` (tried again later) or `dead` (given up).
    pub outcome: String,
    pub answer: Option<String>,
    pub http_status: Option<i64>,
}

/// A job that carried the message, with its tries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTrail {
    pub id: i64,
    pub kind: String,
    /// `pending`, `done` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub tries: Vec<AttemptTrail>,
}

/// A message and every hop it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageTrail {
    pub message: LoggedMessage,
    /// When the webhook that brought it was accepted (a customer's message
    /// from Connect, an agent's from Webex), while its dedup record is kept.
    pub received_at: Option<String>,
    /// Oldest first. Jobs appear once tried (a try links a job to its message).
    pub jobs: Vec<JobTrail>,
}

/// A point on a message's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// RFC 3339, UTC.
    pub at: String,
    pub what: String,
    pub detail: Option<String>,
    /// Something went wrong here.
    pub bad: bool,
}

impl MessageTrail {
    /// The hops in time order: received or queued, each try, sent,
    /// receipts, the failure.
    pub fn hops(&self) -> Vec<Hop> {
        let m = &self.message;
        let hop = |at: &str, what: String, detail: Option<String>, bad: bool| Hop {
            at: at.to_string(),
            what,
            detail,
            bad,
        };
        let mut hops = Vec::new();
        match m.direction {
            Direction::Inbound => hops.push(hop(
                self.received_at.as_deref().unwrap_or(&m.created_at),
                "Received from the customer".into(),
                m.provider_message_id
                    .as_ref()
                    .map(|id| format!("Connect transaction {id}")),
                false,
            )),
            Direction::Outbound => {
                if let (Some(at), Some("webex")) = (&self.received_at, m.provider.as_deref()) {
                    hops.push(hop(
                        at,
                        "Received from the agent".into(),
                        m.provider_message_id
                            .as_ref()
                            .map(|id| format!("Webex message {id}")),
                        false,
                    ));
                }
                hops.push(hop(
                    &m.created_at,
                    "Queued for the customer".into(),
                    None,
                    false,
                ));
            }
        }
        for job in &self.jobs {
            for t in &job.tries {
                let outcome = match t.outcome.as_str() {
                    "done" => "done",
                    "retry" => "failed, tried again later",
                    "dead" => "failed, given up",
                    other => other,
                };
                let status = t.http_status.map(|s| format!("HTTP {s}"));
                let detail = match (status, &t.answer) {
                    (Some(s), Some(a)) if !a.contains(&s) => Some(format!("{s}: {a}")),
                    (_, Some(a)) => Some(a.clone()),
                    (s, None) => s,
                };
                hops.push(hop(
                    &t.started_at,
                    format!("{} try {}: {outcome}", job_label(&job.kind), t.attempt),
                    detail,
                    t.outcome != "done",
                ));
            }
        }
        let reached = match m.direction {
            Direction::Inbound => "Posted in the agent's space",
            Direction::Outbound => "Accepted by Webex Connect",
        };
        for (at, what) in [
            (&m.sent_at, reached),
            (&m.delivered_at, "Delivered"),
            (&m.read_at, "Read"),
        ] {
            if let Some(at) = at {
                hops.push(hop(at, what.into(), None, false));
            }
        }
        if m.status == MessageStatus::Failed {
            let detail = match (&m.error_code, &m.error_text) {
                (Some(c), Some(t)) => Some(format!("{t} ({c})")),
                (None, Some(t)) => Some(t.clone()),
                (Some(c), None) => Some(c.clone()),
                (None, None) => None,
            };
            hops.push(hop(&m.updated_at, "Failed".into(), detail, true));
        }
        // One format (RFC 3339, milliseconds, UTC) sorts as text; the sort
        // is stable, so hops of the same millisecond keep their order.
        hops.sort_by(|a, b| a.at.cmp(&b.at));
        hops
    }
}

/// What a job kind does, as an admin reads it.
pub fn job_label(kind: &str) -> String {
    match kind {
        "customer_message" => "Read the customer's message".into(),
        "post_to_agent" => "Post to the agent".into(),
        "webex_to_customer" => "Send the agent's message".into(),
        "send_to_customer" => "Send to the customer".into(),
        "receipt" => "Delivery receipt".into(),
        "provision" => "Provision the guest".into(),
        other => other.replace('_', " "),
    }
}

#[cfg(feature = "server")]
pub use filter::MessageLogFilter;

#[cfg(feature = "server")]
mod filter {
    use super::MessageLogQuery;
    use crate::error::FieldError;
    use crate::input::text;
    use crate::model::MessageStatus;
    use crate::phone::{Msisdn, PhoneRegion};

    const ID_MAX: usize = 200;
    const EMAIL_MAX: usize = 320;
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;

    /// A checked search: each filter set narrows the result.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct MessageLogFilter {
        pub transid: Option<String>,
        pub webex_id: Option<String>,
        pub customer: Option<Msisdn>,
        /// Lower case.
        pub agent: Option<String>,
        /// Milliseconds since the epoch: `from_ms <= created_at < to_ms`.
        pub from_ms: Option<i64>,
        pub to_ms: Option<i64>,
        pub status: Option<MessageStatus>,
    }

    /// A bound of the time range: a date is its whole day (UTC), so `to`
    /// on a date ends at the next midnight; a time is exact (`to` included).
    fn time(field: &str, value: Option<&str>, end: bool) -> Result<Option<i64>, FieldError> {
        let Some(v) = text(field, value, 40)? else {
            return Ok(None);
        };
        if let Ok(date) = chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
            let ms = date
                .and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp_millis();
            return Ok(Some(if end { ms + DAY_MS } else { ms }));
        }
        match chrono::DateTime::parse_from_rfc3339(&v) {
            Ok(t) => Ok(Some(t.timestamp_millis() + i64::from(end))),
            Err(_) => Err(FieldError::new(
                field,
                "must be a date (2026-11-30) or a time with its zone (2026-11-30T14:00:00Z)",
            )),
        }
    }

    impl TryFrom<(&MessageLogQuery, PhoneRegion)> for MessageLogFilter {
        type Error = FieldError;

        fn try_from((q, region): (&MessageLogQuery, PhoneRegion)) -> Result<Self, FieldError> {
            let customer = match text("customer", q.customer.as_deref(), 50)? {
                Some(n) => Some(
                    Msisdn::parse(&n, region).map_err(|why| FieldError::new("customer", why))?,
                ),
                None => None,
            };
            let agent = text("agent", q.agent.as_deref(), EMAIL_MAX)?.map(|a| a.to_lowercase());
            if agent.as_deref().is_some_and(|a| !a.contains('@')) {
                return Err(FieldError::new("agent", "must be an agent's email address"));
            }
            let status = match text("status", q.status.as_deref(), 20)? {
                Some(s) => Some(s.parse::<MessageStatus>().map_err(|_| {
                    FieldError::new(
                        "status",
                        format!(
                            "must be one of {}",
                            MessageStatus::ALL
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?),
                None => None,
            };
            let from_ms = time("from", q.from.as_deref(), false)?;
            let to_ms = time("to", q.to.as_deref(), true)?;
            if let (Some(from), Some(to)) = (from_ms, to_ms) {
                if to <= from {
                    return Err(FieldError::new("to", "must be after from"));
                }
            }
            Ok(MessageLogFilter {
                transid: text("transid", q.transid.as_deref(), ID_MAX)?,
                webex_id: text("webexId", q.webex_id.as_deref(), ID_MAX)?,
                customer,
                agent,
                from_ms,
                to_ms,
                status,
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn filter(q: MessageLogQuery) -> Result<MessageLogFilter, FieldError> {
            MessageLogFilter::try_from((&q, PhoneRegion::default()))
        }

        #[test]
        fn empty_fields_are_no_filter() {
            let q = MessageLogQuery {
                transid: Some("  ".into()),
                ..Default::default()
            };
            assert!(!q.is_filtered());
            assert_eq!(filter(q).unwrap(), MessageLogFilter::default());
        }

        #[test]
        fn dates_are_whole_days_and_times_are_exact() {
            let f = filter(MessageLogQuery {
                from: Some("2026-11-30".into()),
                to: Some("2026-11-30".into()),
                ..Default::default()
            })
            .unwrap();
            let midnight = 1_795_996_800_000; // 2026-11-30T00:00:00Z
            assert_eq!(f.from_ms, Some(midnight));
            assert_eq!(f.to_ms, Some(midnight + DAY_MS));
            let f = filter(MessageLogQuery {
                to: Some("2026-11-30T01:00:00+01:00".into()),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(f.to_ms, Some(midnight + 1));
        }

        #[test]
        fn bad_input_names_its_field() {
            let bad = |q: MessageLogQuery| filter(q).unwrap_err().field;
            assert_eq!(
                bad(MessageLogQuery {
                    customer: Some("12".into()),
                    ..Default::default()
                }),
                "customer"
            );
            assert_eq!(
                bad(MessageLogQuery {
                    from: Some("yesterday".into()),
                    ..Default::default()
                }),
                "from"
            );
            assert_eq!(
                bad(MessageLogQuery {
                    from: Some("2026-12-01".into()),
                    to: Some("2026-11-30".into()),
                    ..Default::default()
                }),
                "to"
            );
            assert_eq!(
                bad(MessageLogQuery {
                    status: Some("lost".into()),
                    ..Default::default()
                }),
                "status"
            );
            assert_eq!(
                bad(MessageLogQuery {
                    agent: Some("bob".into()),
                    ..Default::default()
                }),
                "agent"
            );
        }

        #[test]
        fn numbers_are_read_as_elsewhere_and_agents_in_lower_case() {
            let f = filter(MessageLogQuery {
                customer: Some("07700 900123".into()),
                agent: Some("Agent-A@Example.com".into()),
                status: Some("Failed".into()),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(f.customer.unwrap().as_str(), "+447700900123");
            assert_eq!(f.agent.as_deref(), Some("agent-a@example.com"));
            assert_eq!(f.status, Some(MessageStatus::Failed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(direction: Direction, status: MessageStatus) -> LoggedMessage {
        LoggedMessage {
            id: "m1".into(),
            session_id: "s1".into(),
            direction,
            channel: "sms".into(),
            body: "hi".into(),
            customer: "+447700900123".into(),
            agent: Some("agent-a@example.com".into()),
            status,
            error_code: None,
            error_text: None,
            provider: Some("webex".into()),
            provider_message_id: Some("w1".into()),
            connect_transid: Some("t1".into()),
            created_at: "2026-11-30T10:00:00.100Z".into(),
            updated_at: "2026-11-30T10:00:09.000Z".into(),
            sent_at: Some("2026-11-30T10:00:03.000Z".into()),
            delivered_at: Some("2026-11-30T10:00:05.000Z".into()),
            read_at: None,
            attempts: 2,
        }
    }

    fn attempt(n: i64, at: &str, outcome: &str, answer: &str, status: Option<i64>) -> AttemptTrail {
        AttemptTrail {
            attempt: n,
            started_at: at.into(),
            finished_at: at.into(),
            outcome: outcome.into(),
            answer: Some(answer.into()),
            http_status: status,
        }
    }

    #[test]
    fn hops_read_in_time_order_with_each_try() {
        let trail = MessageTrail {
            message: line(Direction::Outbound, MessageStatus::Delivered),
            received_at: Some("2026-11-30T10:00:00.000Z".into()),
            jobs: vec![JobTrail {
                id: 1,
                kind: "webex_to_customer".into(),
                status: "done".into(),
                attempts: 2,
                last_error: Some("HTTP 503".into()),
                created_at: "2026-11-30T10:00:00.000Z".into(),
                tries: vec![
                    attempt(
                        1,
                        "2026-11-30T10:00:01.000Z",
                        "retry",
                        "HTTP 503: busy",
                        Some(503),
                    ),
                    attempt(2, "2026-11-30T10:00:02.000Z", "done", "transid t1", None),
                ],
            }],
        };
        let hops = trail.hops();
        let whats: Vec<&str> = hops.iter().map(|h| h.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "Received from the agent",
                "Queued for the customer",
                "Send the agent's message try 1: failed, tried again later",
                "Send the agent's message try 2: done",
                "Accepted by Webex Connect",
                "Delivered",
            ]
        );
        assert!(hops[2].bad && !hops[3].bad);
        assert_eq!(hops[2].detail.as_deref(), Some("HTTP 503: busy"));
    }

    #[test]
    fn a_failed_line_ends_with_its_error() {
        let mut m = line(Direction::Inbound, MessageStatus::Failed);
        m.error_code = Some("webex".into());
        m.error_text = Some("Webex refused".into());
        m.sent_at = None;
        m.delivered_at = None;
        let hops = MessageTrail {
            message: m,
            received_at: None,
            jobs: Vec::new(),
        }
        .hops();
        assert_eq!(hops[0].what, "Received from the customer");
        assert_eq!(hops.last().unwrap().what, "Failed");
        assert_eq!(
            hops.last().unwrap().detail.as_deref(),
            Some("Webex refused (webex)")
        );
    }
}
