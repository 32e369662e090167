//! The startConversation trigger: the seed's exact payload, posted to the
//! Webex Connect inbound webhook that starts the conversation flow.

use serde::Serialize;
use std::time::Duration;

use domain::channel::Channel;

/// The seed's "Conversation initiation payload", field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartConversationPayload {
    pub system_id: &'static str,
    pub channel: Channel,
    pub channel_id: String,
    pub action: &'static str,
    pub agent_id: String,
    pub contact_name: String,
}

impl StartConversationPayload {
    pub fn new(channel: Channel, channel_id: &str, agent_email: &str, contact_name: &str) -> Self {
        StartConversationPayload {
            system_id: "webex",
            channel,
            channel_id: channel_id.to_string(),
            action: "startConversation",
            agent_id: agent_email.to_string(),
            contact_name: contact_name.to_string(),
        }
    }
}

/// Why the trigger did not reach Connect, in words an agent can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("the Webex Connect webhook is not configured (CM_CONNECT_WEBHOOK_URL)")]
    NotConfigured,
    #[error("Webex Connect could not be reached: {0}")]
    Unreachable(String),
    #[error("Webex Connect did not answer within {0} seconds")]
    Timeout(u64),
    #[error("Webex Connect rejected the request (HTTP {status}): {body}")]
    Rejected { status: u16, body: String },
}

/// The configured Connect inbound webhook.
#[derive(Debug, Clone)]
pub struct ConnectWebhook {
    url: Option<String>,
    key: Option<String>,
    timeout: Duration,
    client: reqwest::Client,
}

impl ConnectWebhook {
    pub fn new(url: Option<String>, key: Option<String>, timeout: Duration) -> Self {
        ConnectWebhook {
            url,
            key,
            timeout,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    pub async fn send(&self, payload: &StartConversationPayload) -> Result<(), TriggerError> {
        let url = self.url.as_deref().ok_or(TriggerError::NotConfigured)?;
        let mut request = self.client.post(url).timeout(self.timeout).json(payload);
        if let Some(key) = &self.key {
            request = request.header("key", key);
        }
        let response = request.send().await;
        crate::count_answer(
            "connect",
            response.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let response = response.map_err(|e| {
            if e.is_timeout() {
                TriggerError::Timeout(self.timeout.as_secs())
            } else {
                TriggerError::Unreachable(root_cause(&e))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        // An HTML error page says nothing useful to an agent.
        let body: String = if text.trim_start().starts_with('<') {
            "(no details)".into()
        } else {
            text.chars().take(300).collect()
        };
        Err(TriggerError::Rejected {
            status: status.as_u16(),
            body,
        })
    }
}

/// The Connect Messaging API for sending to customers: v1 for SMS and
/// WhatsApp, v2 for MMS.
#[derive(Debug, Clone)]
pub struct ConnectMessaging {
    base: String,
    key: String,
    /// WhatsApp app id (`appid`) and SMS sender id.
    whatsapp_app_id: String,
    sms_sender_id: String,
    notify_url: Option<String>,
    http: reqwest::Client,
}

/// Why a send failed, sorted by what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try, after `retry_after` when Connect said so.
    #[error("Webex Connect is unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
    #[error("Webex Connect refused the message ({code}): {description}")]
    Refused { code: String, description: String },
}

/// What Connect's answer to a send means. The Messaging API v1 always
/// answers HTTP 200 with `{"response": [{"code", "transid", "description"}]}`
/// (an object, not an array, on errors); v2 answers 2xx with
/// `{"messageId", "status": "queued", ...}` or 4xx with `{"code", "message"}`.
/// Both shapes are read whichever endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued: the id receipts will carry (v1 `transid`, v2 `messageId`).
    Accepted { id: String },
    /// Refused for good: Connect's code and reason.
    Refused { code: String, reason: String },
    /// Try again: Connect busy (5xx, 7006), rate-limited (429, 7020) or
    /// unreachable, or an answer we cannot read.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
}

/// Codes that mean "not now" rather than "never": 7006 internal error,
/// 7020 maximum transaction limit (help.webexconnect.io/docs/api-codes).
const RETRYABLE_CODES: &[&str] = &["7006", "7020"];
/// Codes of a queued message: 1001 Queued, 1002 Queued (burst mode).
const ACCEPTED_CODES: &[&str] = &["1001", "1002"];

/// Reads Connect's answer to a send: the HTTP status, its `Retry-After`
/// header and its body.
pub fn read_send_answer(status: u16, retry_after: Option<&str>, body: &str) -> SendOutcome {
    let after = retry_after
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    // v1 puts its outcome under `response` (an array when queued); v2 at the top.
    let envelope = match &value["response"] {
        serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
        serde_json::Value::Object(_) => value["response"].clone(),
        _ => value.clone(),
    };
    let code = text(&envelope["code"]);
    let id = text(&envelope["transid"]).or_else(|| text(&envelope["messageId"]));
    let reason = text(&envelope["description"]).or_else(|| text(&envelope["message"]));
    let busy = status == 429 || status >= 500;
    if busy
        || code
            .as_deref()
            .is_some_and(|c| RETRYABLE_CODES.contains(&c))
    {
        let detail = match (&code, &reason) {
            (Some(code), Some(reason)) => format!(": {code} {reason}"),
            (Some(code), None) => format!(": {code}"),
            (None, Some(reason)) => format!(": {reason}"),
            (None, None) => String::new(),
        };
        return SendOutcome::Retry {
            reason: format!("HTTP {status}{detail}"),
            after,
        };
    }
    if (200..300).contains(&status) {
        return match (code, id) {
            (Some(code), Some(id)) if ACCEPTED_CODES.contains(&code.as_str()) => {
                SendOutcome::Accepted { id }
            }
            // v2: no code, a messageId.
            (None, Some(id)) => SendOutcome::Accepted { id },
            (Some(code), _) if !ACCEPTED_CODES.contains(&code.as_str()) => SendOutcome::Refused {
                code,
                reason: reason.unwrap_or_default(),
            },
            // Queued but without an id, or not JSON: we cannot tell what happened,
            // and a retry carries the same Idempotency-Key and correlationid.
            _ => SendOutcome::Retry {
                reason: format!("HTTP {status} with an answer we cannot read"),
                after,
            },
        };
    }
    SendOutcome::Refused {
        code: code.unwrap_or_else(|| format!("HTTP {status}")),
        reason: reason.unwrap_or_else(|| {
            // An HTML error page (or none: v2's 401) says nothing useful to an agent.
            if body.trim().is_empty() || body.trim_start().starts_with('<') {
                "(no details)".into()
            } else {
                body.chars().take(300).collect()
            }
        }),
    }
}

impl From<SendOutcome> for Result<String, SendError> {
    fn from(outcome: SendOutcome) -> Self {
        match outcome {
            SendOutcome::Accepted { id } => Ok(id),
            SendOutcome::Refused { code, reason } => Err(SendError::Refused {
                code,
                description: reason,
            }),
            SendOutcome::Retry { reason, after } => Err(SendError::Unavailable {
                reason,
                retry_after: after,
            }),
        }
    }
}

impl ConnectMessaging {
    pub fn new(
        base: &str,
        key: &str,
        whatsapp_app_id: &str,
        sms_sender_id: &str,
        notify_url: Option<String>,
        timeout: Duration,
    ) -> Self {
        ConnectMessaging {
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            whatsapp_app_id: whatsapp_app_id.to_string(),
            sms_sender_id: sms_sender_id.to_string(),
            notify_url,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("client builds"),
        }
    }

    /// Sends a message to a customer; `customer_id` is the session's channel
    /// id (SMS and MMS: msisdn with `+`; WhatsApp: waid without `+`). `key`
    /// travels as `correlationid` (receipts carry it back) and as the
    /// `Idempotency-Key` (Connect's sandbox API drops a repeated key; a retry
    /// after a crash reuses it). Returns the id Connect gave the message (v1
    /// `transid`, v2 `messageId`), which its receipts carry.
    pub async fn send(
        &self,
        channel: Channel,
        customer_id: &str,
        message: &Outgoing,
        key: &str,
    ) -> Result<String, SendError> {
        let (path, body) = self.request(channel, customer_id, message, key)?;
        let response = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("key", &self.key)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await;
        crate::count_answer(
            "connect",
            response.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let response = response.map_err(|e| SendError::Unavailable {
            reason: if e.is_timeout() {
                "no answer in time".into()
            } else {
                root_cause(&e)
            },
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.text().await.map_err(|e| SendError::Unavailable {
            reason: format!("the answer did not arrive whole: {}", root_cause(&e)),
            retry_after: None,
        })?;
        read_send_answer(status, retry_after.as_deref(), &body).into()
    }

    /// The endpoint (relative to the base) and body of a send, in the shapes
    /// of Connect's documentation pages (see docs/platform-contracts.md).
    fn request(
        &self,
        channel: Channel,
        customer_id: &str,
        message: &Outgoing,
        key: &str,
    ) -> Result<(&'static str, serde_json::Value), SendError> {
        let notify = self.notify_url.clone().unwrap_or_default();
        let msisdn = format!("+{}", customer_id.trim_start_matches('+'));
        let waid = customer_id.trim_start_matches('+');
        let whatsapp = |wa: serde_json::Value| {
            serde_json::json!({
                "deliverychannel": "whatsapp",
                "appid": self.whatsapp_app_id,
                "destination": [{ "waid": [waid] }],
                "channels": { "OTT-Messaging": { "wa": wa } },
                "correlationid": key, "callbackData": "", "notifyurl": notify,
            })
        };
        let (path, body) = match (channel, message) {
            (Channel::Sms, Outgoing::Text(text)) => (
                "resources/v1/messaging",
                serde_json::json!({
                    "deliverychannel": "sms",
                    "destination": [{ "msisdn": [msisdn] }],
                    "channels": { "sms": { "senderid": self.sms_sender_id, "text": text, "type": "1" } },
                    "correlationid": key, "callbackData": "", "notifyurl": notify,
                }),
            ),
            (Channel::Sms, Outgoing::Mms { text, media }) => (
                "v2/messages",
                serde_json::json!({
                    "channel": "mms",
                    "from": self.sms_sender_id,
                    "to": [{ "msisdn": [msisdn], "correlationId": key }],
                    "content": { "subject": "", "fallbacktext": format!("{text} {}", media.url),
                                 "attachments": [{ "type": mms_type(&media.mime).unwrap_or("image"),
                                                   "messageText": text, "mediaUrl": media.url }] },
                    "callbackData": "", "notifyUrl": notify,
                }),
            ),
            (Channel::Whatsapp, Outgoing::Text(text)) => (
                "resources/v1/messaging",
                whatsapp(serde_json::json!({ "type": "text", "text": { "body": text } })),
            ),
            (Channel::Whatsapp, Outgoing::WhatsappImage { caption, media }) => (
                "resources/v1/messaging",
                whatsapp(serde_json::json!({ "type": "image",
                    "image": { "url": media.url, "caption": caption, "mimeType": media.mime } })),
            ),
            (Channel::Whatsapp, Outgoing::WhatsappDocument { caption, media }) => (
                "resources/v1/messaging",
                whatsapp(serde_json::json!({ "type": "document",
                    "document": { "url": media.url, "caption": caption, "mimeType": media.mime,
                                  "filename": media.filename } })),
            ),
            (
                Channel::Whatsapp,
                Outgoing::WhatsappTemplate {
                    template,
                    parameters,
                },
            ) => {
                let parameters: serde_json::Map<String, serde_json::Value> = parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                (
                    "resources/v1/messaging",
                    serde_json::json!({
                        "deliverychannel": "whatsapp",
                        "appid": self.whatsapp_app_id,
                        "destination": [{ "waid": [waid] }],
                        "message": { "template": template, "parameters": parameters },
                        "channels": { "OTT-Messaging": { "wa": {} } },
                        "correlationid": key, "callbackData": "", "notifyurl": notify,
                    }),
                )
            }
            (channel, message) => {
                return Err(SendError::Refused {
                    code: "unsupported".into(),
                    description: format!("{} cannot carry {message:?}", channel.as_str()),
                })
            }
        };
        Ok((path, body))
    }
}

/// A file the customer can fetch: our public, expiring copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicMedia {
    pub url: String,
    pub mime: String,
    pub filename: String,
}

/// What to send to a customer, in Connect's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    /// SMS with a file.
    Mms {
        text: String,
        media: PublicMedia,
    },
    WhatsappImage {
        caption: String,
        media: PublicMedia,
    },
    WhatsappDocument {
        caption: String,
        media: PublicMedia,
    },
    /// Business-initiated, outside the 24-hour window.
    WhatsappTemplate {
        template: String,
        parameters: Vec<(String, String)>,
    },
}

impl Outgoing {
    /// The seed's routing of an agent's message by the session's channel:
    /// SMS as text, or MMS with a file; WhatsApp JPEG and PNG as images,
    /// other files as documents, text as text.
    pub fn for_channel(channel: Channel, text: &str, media: Option<PublicMedia>) -> Outgoing {
        let text = text.to_string();
        match (channel, media) {
            (_, None) => Outgoing::Text(text),
            (Channel::Sms, Some(media)) => Outgoing::Mms { text, media },
            (Channel::Whatsapp, Some(media)) => {
                if matches!(
                    media.mime.as_str(),
                    "image/jpeg" | "image/jpg" | "image/png"
                ) {
                    Outgoing::WhatsappImage {
                        caption: text,
                        media,
                    }
                } else {
                    Outgoing::WhatsappDocument {
                        caption: text,
                        media,
                    }
                }
            }
        }
    }

    /// The file it carries, if any.
    pub fn media(&self) -> Option<&PublicMedia> {
        match self {
            Outgoing::Mms { media, .. }
            | Outgoing::WhatsappImage { media, .. }
            | Outgoing::WhatsappDocument { media, .. } => Some(media),
            _ => None,
        }
    }
}

// The templates themselves (the catalog, the variables' sources, the
// agent's choice) are domain rules; they are named here too, beside the
// message that carries them.
pub use domain::templates::{TemplateVariables, VariableSource, WhatsappTemplate};

/// The MMS attachment type for a mime type; None when MMS cannot carry it.
pub fn mms_type(mime: &str) -> Option<&'static str> {
    match mime.split(';').next().unwrap_or_default().trim() {
        m if m.starts_with("image/") => Some("image"),
        m if m.starts_with("video/") => Some("video"),
        m if m.starts_with("audio/") => Some("audio"),
        "text/vcard" | "text/x-vcard" => Some("vcard"),
        "application/pdf" => Some("pdf"),
        m if m.starts_with("text/") => Some("text"),
        _ => None,
    }
}

/// Whether an endpoint answers HTTP at all (any status counts as an answer),
/// for the admin's integrations view.
pub async fn probe(url: &str) -> Result<u16, String> {
    let client = reqwest::Client::new();
    match client.get(url).timeout(Duration::from_secs(3)).send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) if e.is_timeout() => Err("no answer within 3 seconds".into()),
        Err(e) => Err(root_cause(&e)),
    }
}

pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_the_seeds_exactly() {
        let p = StartConversationPayload::new(
            Channel::Whatsapp,
            "447700900123",
            "me@example.com",
            "Mr Doe",
        );
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({
                "systemId": "webex",
                "channel": "whatsapp",
                "channelId": "447700900123",
                "action": "startConversation",
                "agentId": "me@example.com",
                "contactName": "Mr Doe"
            })
        );
    }

    fn media(mime: &str) -> PublicMedia {
        PublicMedia {
            url: "https://cm.example/media/x/file".into(),
            mime: mime.into(),
            filename: "file".into(),
        }
    }

    #[test]
    fn agent_messages_are_routed_by_channel_and_mime_type() {
        use Outgoing::*;
        let route = |c, m: Option<&str>| Outgoing::for_channel(c, "hi", m.map(media));
        assert_eq!(route(Channel::Sms, None), Text("hi".into()));
        assert!(matches!(route(Channel::Sms, Some("image/png")), Mms { .. }));
        assert!(matches!(
            route(Channel::Sms, Some("application/pdf")),
            Mms { .. }
        ));
        assert_eq!(route(Channel::Whatsapp, None), Text("hi".into()));
        assert!(matches!(
            route(Channel::Whatsapp, Some("image/jpeg")),
            WhatsappImage { .. }
        ));
        assert!(matches!(
            route(Channel::Whatsapp, Some("image/png")),
            WhatsappImage { .. }
        ));
        assert!(matches!(
            route(Channel::Whatsapp, Some("image/gif")),
            WhatsappDocument { .. }
        ));
        assert!(matches!(
            route(Channel::Whatsapp, Some("application/pdf")),
            WhatsappDocument { .. }
        ));
    }

    #[test]
    fn mms_carries_media_types_it_knows() {
        assert_eq!(mms_type("image/png"), Some("image"));
        assert_eq!(mms_type("video/mp4"), Some("video"));
        assert_eq!(mms_type("text/vcard"), Some("vcard"));
        assert_eq!(mms_type("application/pdf"), Some("pdf"));
        assert_eq!(mms_type("application/zip"), None);
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/connect/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn fixture_v1_queued_is_accepted_with_its_transid() {
        assert_eq!(
            read_send_answer(200, None, &fixture("send_v1_ok.json")),
            SendOutcome::Accepted {
                id: "3f09295d-9eb3-4c9e-8ee8-a3272e5f00c1".into()
            }
        );
    }

    #[test]
    fn fixture_v1_error_is_refused_with_code_and_description() {
        assert_eq!(
            read_send_answer(200, None, &fixture("send_v1_refused.json")),
            SendOutcome::Refused {
                code: "7001".into(),
                reason: "Authentication failed.".into()
            }
        );
    }

    #[test]
    fn fixture_v1_rate_limit_is_retried() {
        let outcome = read_send_answer(200, None, &fixture("send_v1_rate_limited.json"));
        assert!(
            matches!(&outcome, SendOutcome::Retry { reason, after: None } if reason.contains("7020")),
            "{outcome:?}"
        );
    }

    #[test]
    fn fixture_v2_mms_queued_is_accepted_with_its_message_id() {
        assert_eq!(
            read_send_answer(201, None, &fixture("send_v2_mms_ok.json")),
            SendOutcome::Accepted {
                id: "a770f205-1234-XXXX-x5x3-6dc3e388b9b5".into()
            }
        );
    }

    #[test]
    fn fixture_v2_error_is_refused_with_code_and_message() {
        assert_eq!(
            read_send_answer(400, None, &fixture("send_v2_error.json")),
            SendOutcome::Refused {
                code: "7000".into(),
                reason: "Invalid JSON".into()
            }
        );
    }

    #[test]
    fn busy_rate_limited_and_unreadable_answers_are_retried() {
        let retry =
            |status, after: Option<&str>, body: &str| match read_send_answer(status, after, body) {
                SendOutcome::Retry { after, .. } => after,
                other => panic!("{status} {body}: {other:?}"),
            };
        assert_eq!(
            retry(429, Some("7"), ""),
            Some(Duration::from_secs(7)),
            "Retry-After is honoured"
        );
        assert_eq!(retry(503, None, &fixture("send_v2_error.json")), None);
        assert_eq!(retry(500, None, "<html>oops</html>"), None);
        assert_eq!(
            retry(400, None, r#"{"code":"7020","message":"limit"}"#),
            None
        );
        assert_eq!(retry(200, None, "not json"), None);
        assert_eq!(
            retry(200, None, r#"{"response":[{"code":"1001"}]}"#),
            None,
            "queued without an id: receipts could not be matched"
        );
    }

    #[test]
    fn a_401_without_a_body_is_refused_with_the_status() {
        assert_eq!(
            read_send_answer(401, None, ""),
            SendOutcome::Refused {
                code: "HTTP 401".into(),
                reason: "(no details)".into()
            }
        );
    }

    fn messaging() -> ConnectMessaging {
        ConnectMessaging::new(
            "https://api.us.webexconnect.io/",
            "k",
            "a_1",
            "+15550100",
            Some("https://cm.example/dr".into()),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn the_template_message_is_the_documented_shape_with_every_variable() {
        let variables =
            TemplateVariables::parse("customer=customer_name,agent=agent_name,shop=text:Acme")
                .unwrap();
        let message = Outgoing::WhatsappTemplate {
            template: "reengage_v2".into(),
            parameters: variables.values("Jane Doe", "Ann Agent", &Default::default()),
        };
        let (path, body) = messaging()
            .request(Channel::Whatsapp, "447700900123", &message, "line-1")
            .unwrap();
        assert_eq!(path, "resources/v1/messaging");
        assert_eq!(
            body,
            serde_json::json!({
                "deliverychannel": "whatsapp",
                "appid": "a_1",
                "destination": [{ "waid": ["447700900123"] }],
                "message": {
                    "template": "reengage_v2",
                    "parameters": { "customer": "Jane Doe", "agent": "Ann Agent", "shop": "Acme" }
                },
                "channels": { "OTT-Messaging": { "wa": {} } },
                "correlationid": "line-1", "callbackData": "", "notifyurl": "https://cm.example/dr",
            })
        );
    }

    #[test]
    fn mms_goes_to_v2_with_the_correlation_id_per_recipient() {
        let message = Outgoing::Mms {
            text: "here".into(),
            media: media("image/png"),
        };
        let (path, body) = messaging()
            .request(Channel::Sms, "+16475550100", &message, "line-2")
            .unwrap();
        assert_eq!(path, "v2/messages");
        assert_eq!(body["channel"], "mms");
        assert_eq!(
            body["to"],
            serde_json::json!([{ "msisdn": ["+16475550100"], "correlationId": "line-2" }])
        );
        assert_eq!(body["content"]["attachments"][0]["type"], "image");
        assert_eq!(body["notifyUrl"], "https://cm.example/dr");
    }

    #[test]
    fn malformed_template_variables_are_refused_naming_the_setting_and_the_part() {
        for (setting, part, why) in [
            ("customer", "customer", "name=source"),
            (
                "customer=nobody",
                "customer=nobody",
                "customer_name, agent_name, text:FIXED TEXT or ask:",
            ),
            ("shop=text:", "shop=text:", "text:"),
            ("=agent_name", "=agent_name", "variable name"),
            ("my var=agent_name", "my var=agent_name", "variable name"),
            ("a=agent_name,a=customer_name", "a=customer_name", "twice"),
        ] {
            let e = TemplateVariables::parse(setting).unwrap_err();
            assert!(e.starts_with("CM_WHATSAPP_TEMPLATE_VARIABLES"), "{e}");
            assert!(e.contains(&format!("\"{part}\"")), "{setting}: {e}");
            assert!(e.contains(why), "{setting}: {e}");
        }
    }
}

/// Checks Connect's `x-hub-signature`: the hex HMAC-SHA256 or HMAC-SHA512
/// of the raw body, keyed with the outbound webhook's hub secret
/// (developers.webexconnect.io/reference/outbound-webhooks). The page gives
/// bare hex; a `sha256=` / `sha512=` prefix (GitHub's style) is tolerated.
/// SHA-1 is refused: Connect no longer allows it for new webhooks.
/// Constant time (the `hmac` crate's `verify_slice`).
pub fn hub_signature_valid(secret: &str, body: &[u8], header: &str) -> bool {
    use hmac::{Hmac, Mac};
    let header = header.trim();
    let (prefix, hex_part) = match header.split_once('=') {
        Some((p, h)) => (Some(p.to_ascii_lowercase()), h),
        None => (None, header),
    };
    let Ok(given) = hex::decode(hex_part) else {
        return false;
    };
    let key = secret.as_bytes();
    match (prefix.as_deref(), given.len()) {
        (None | Some("sha256"), 32) => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
            mac.update(body);
            mac.verify_slice(&given).is_ok()
        }
        (None | Some("sha512"), 64) => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).expect("any key length");
            mac.update(body);
            mac.verify_slice(&given).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod hub_signature_tests {
    use super::hub_signature_valid;
    use hmac::{Hmac, Mac};

    fn sign<M: Mac + hmac::digest::KeyInit>(body: &[u8]) -> String {
        let mut mac = <M as Mac>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn sha256_and_sha512_bare_or_prefixed_are_accepted_sha1_and_wrong_ones_not() {
        let body = br#"{"channel":"SMS"}"#;
        let s256 = sign::<Hmac<sha2::Sha256>>(body);
        let s512 = sign::<Hmac<sha2::Sha512>>(body);
        assert!(hub_signature_valid("s3cret", body, &s256));
        assert!(hub_signature_valid("s3cret", body, &s512));
        assert!(hub_signature_valid(
            "s3cret",
            body,
            &format!("sha256={s256}")
        ));
        assert!(hub_signature_valid(
            "s3cret",
            body,
            &format!("SHA512={s512}")
        ));
        assert!(!hub_signature_valid(
            "s3cret",
            body,
            &format!("sha512={s256}")
        ));
        assert!(!hub_signature_valid("other", body, &s256));
        assert!(!hub_signature_valid("s3cret", b"{}", &s256));
        assert!(!hub_signature_valid(
            "s3cret",
            body,
            &sign::<Hmac<sha1::Sha1>>(body)
        ));
        assert!(!hub_signature_valid("s3cret", body, "not hex"));
        assert!(!hub_signature_valid("s3cret", body, ""));
    }
}
