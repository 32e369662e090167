//! The simulated Webex Connect, mounted at `/connect`: messaging API v1
//! (SMS, WhatsApp) and v2 (MMS, SMS), the inbound-webhook events that start
//! flows, delivery receipts, and customer messages from the phone page.

mod error;
mod events;
mod inbound;
mod media;
mod messages_v2;
mod messaging_v1;
mod outbound;
mod receipts;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use crate::state::Shared;
use error::ConnectError;

pub use inbound::{receive_from_customer, receive_whatsapp_event, CustomerMessage, WhatsAppEvent};
pub use messaging_v1::send_v1;
pub use receipts::mark_read;

/// Connect accepts at most 1000 destinations per request.
const MAX_DESTINATIONS: usize = 1000;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/resources/v1/messaging", post(messaging_v1::messaging_v1))
        .route("/v2/messages", post(messages_v2::messages_v2))
        .route("/events/{event_id}", post(events::event))
        .route("/media/{id}/{filename}", get(media::media))
}

fn check_key(sandbox: &Shared, headers: &HeaderMap) -> Result<(), ConnectError> {
    let key = headers
        .get("key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ConnectError::new("7002", "Service key missing."))?;
    if key != sandbox.config.connect_api_key {
        return Err(ConnectError::new("7001", "Authentication failed."));
    }
    Ok(())
}

fn parse_json(body: &[u8]) -> Result<Value, ConnectError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ConnectError::new("7000", "Invalid JSON."))?;
    if !value.is_object() {
        return Err(ConnectError::new("7000", "Invalid JSON."));
    }
    Ok(value)
}

fn text_field(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The file name at the end of a media URL ("https://h/a/x.jpg?s=1" gives
/// "x.jpg"), so the phone can name a file the request did not name.
fn url_filename(url: &str) -> Option<String> {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let path = without_query
        .split_once("://")
        .map_or(without_query, |(_, rest)| rest);
    let (_, name) = path.rsplit_once('/')?;
    Some(name.to_string()).filter(|n| !n.is_empty())
}

fn digits(number: &str) -> String {
    number.trim_start_matches('+').to_string()
}

fn valid_msisdn(number: &str) -> bool {
    let d = number.strip_prefix('+').unwrap_or(number);
    (6..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_urls_name_their_file() {
        assert_eq!(
            url_filename("https://h/a/x.jpg?sig=1").as_deref(),
            Some("x.jpg")
        );
        assert_eq!(url_filename("https://h/a/"), None);
        assert_eq!(url_filename("https://example.com"), None);
    }
}
