//! The platforms we talk to: Webex ([`webex`]) and Webex Connect
//! ([`connect`]), each a typed client of the documented API (see
//! docs/platform-contracts.md), and [`fetch`], the one guarded way to
//! download a URL someone else gave us.

pub mod bot;
pub mod connect;
pub mod fetch;
pub mod webex;

/// Counts an answer from a platform for `/metrics`
/// (`cm_platform_responses_total{platform, status}`); `None`: no answer
/// (timeout, connection refused), counted as status `none`.
pub(crate) fn count_answer(platform: &'static str, status: Option<u16>) {
    let status = status.map_or_else(|| "none".to_string(), |s| s.to_string());
    metrics::counter!("cm_platform_responses_total", "platform" => platform, "status" => status)
        .increment(1);
}
