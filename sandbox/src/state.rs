//! The sandbox's in-memory world: people, rooms, messages, webhooks, phone
//! threads, the call log and the fault settings. One mutex guards it all;
//! it is never held across an await.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::{DeliveryFault, Outbox};
use crate::embedded::SigningKey;
use crate::faults::RouteFault;
use crate::SandboxConfig;

pub type Shared = Arc<Sandbox>;

pub struct Sandbox {
    pub config: SandboxConfig,
    pub http: reqwest::Client,
    /// For file URLs (Webex `files`, Connect media): see `crate::files`.
    pub files: reqwest::Client,
    pub outbox: Outbox,
    pub embedded_key: SigningKey,
    world: Mutex<World>,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Sandbox {
        let world = World::new(&config, 0);
        Sandbox {
            files: crate::files::client(config.base_url.clone()),
            config,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("the HTTP client builds with static settings"),
            outbox: Outbox::new(),
            embedded_key: SigningKey::generate(),
            world: Mutex::new(world),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        // A panic in one handler must not wedge the whole sandbox.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets everything except the configuration and the seeded agents.
    pub fn reset(&self) {
        let mut world = self.world();
        let generation = world.generation + 1;
        *world = World::new(&self.config, generation);
    }

    /// The sandbox's clock: wall time plus whatever `/control/clock` added.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::seconds(self.world().clock_offset_seconds)
    }

    /// Absolute URL of a path relative to the sandbox root.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url.trim_end_matches('/'), path)
    }
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A Webex-style id: base64 of `ciscospark://us/{KIND}/{uuid}`.
pub fn webex_id(kind: &str, uuid: &uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("ciscospark://us/{kind}/{uuid}"))
}

pub fn new_webex_id(kind: &str) -> String {
    webex_id(kind, &uuid::Uuid::new_v4())
}

/// A uuid derived from a name, so the same input gives the same id after a
/// reset or a restart (agents and guests keep their person ids).
pub fn stable_uuid(name: &str) -> uuid::Uuid {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

pub fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The Service App's person id, when one is configured (all three of its
/// settings set); stable across resets and restarts, like the agents'.
pub fn service_app_person_id(config: &SandboxConfig) -> Option<String> {
    let configured = !config.service_app_client_id.is_empty()
        && !config.service_app_client_secret.is_empty()
        && !config.service_app_refresh_token.is_empty();
    configured.then(|| {
        let seed = format!("service-app:{}", config.service_app_client_id);
        webex_id("PEOPLE", &stable_uuid(&seed))
    })
}

pub fn org_id() -> String {
    webex_id("ORGANIZATION", &stable_uuid("sandbox-org"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonType {
    Person,
    Appuser,
    /// A machine account: the Service App's own person.
    Bot,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub kind: PersonType,
    pub created: DateTime<Utc>,
    /// Guests only: who made the guest and the subject it knows it by.
    pub guest_of: Option<GuestOf>,
}

/// The two ways Webex makes guests. A guest belongs to its issuer: the same
/// subject under the other one is another guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestSource {
    /// The legacy Guest Issuer app (`/jwt/login`).
    GuestIssuer,
    /// The Service App's guest management (`/guests/token`).
    ServiceApp,
}

#[derive(Debug, Clone)]
pub struct GuestOf {
    pub source: GuestSource,
    pub subject: String,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub person_id: String,
    /// Wall-clock expiry: moving the sandbox clock must not log the product out.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct OAuthCode {
    pub person_id: String,
    pub redirect_uri: String,
    /// PKCE (RFC 7636): the `code_challenge` and its method given at
    /// `/authorize`; the token request must then bring the verifier.
    pub code_challenge: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Room {
    pub id: String,
    pub members: [String; 2],
    pub created: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub room_id: String,
    pub person_id: String,
    pub person_email: String,
    pub to_person_id: Option<String>,
    pub to_person_email: Option<String>,
    pub text: Option<String>,
    pub markdown: Option<String>,
    pub content_ids: Vec<String>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Content {
    pub room_id: String,
    pub bytes: Bytes,
    pub content_type: String,
    pub filename: String,
    /// Until then GET answers 423 Locked, as while Webex scans for malware.
    pub scanned_at: DateTime<Utc>,
    /// What the scan found, answered once it is over.
    pub verdict: ScanVerdict,
}

/// The malware scan's outcome for a file (`/control/contents` sets it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanVerdict {
    Clean,
    /// 410 Gone.
    Infected,
    /// 428 Precondition Required, unless `?allow=unscannable`.
    Unscannable,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub name: String,
    pub target_url: String,
    pub resource: String,
    pub event: String,
    pub filter: Option<String>,
    pub secret: Option<String>,
    pub status: String,
    pub created: DateTime<Utc>,
    pub created_by: String,
    /// Deliveries that failed in a row (after retries); a success resets it.
    pub consecutive_failures: u32,
}

/// Webex disables a webhook when 100 deliveries within five minutes fail
/// (webhooks guide, "Disabled Webhooks"). The sandbox counts consecutive
/// failures against the same number: the same burst in practice.
pub const DEFAULT_WEBHOOK_FAILURE_THRESHOLD: u32 = 100;

/// A message on the simulated customer phone, either direction.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneMessage {
    pub id: String,
    /// "whatsapp" or "sms" (SMS and MMS share the phone's messages app).
    pub app: String,
    pub channel: String,
    /// Customer number, digits only.
    pub number: String,
    pub direction: String,
    pub text: Option<String>,
    pub media_url: Option<String>,
    pub media_type: Option<String>,
    pub filename: Option<String>,
    pub template: Option<String>,
    /// MMS: every attachment, in order (`media_url` is only the first one).
    pub attachments: Vec<PhoneAttachment>,
    /// sent | delivered | read | failed (outbound); received (inbound).
    pub status: String,
    pub error_code: Option<String>,
    pub at: String,
    #[serde(skip)]
    pub receipt: Option<ReceiptTarget>,
}

/// One MMS attachment as the phone shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneAttachment {
    /// The MMS attachment type: image, video, audio, text, vcard, pdf.
    pub kind: String,
    pub media_url: Option<String>,
    /// The last segment of the URL: MMS attachments carry no file name.
    pub filename: Option<String>,
    pub message_text: Option<String>,
}

/// Where and how to send the delivery receipts of one outbound message.
#[derive(Debug, Clone)]
pub struct ReceiptTarget {
    pub notify_url: String,
    pub callback_data: String,
    pub correlation_id: String,
    /// The destination exactly as the request gave it.
    pub destination: String,
    pub destination_type: String,
    pub delivery_channel: String,
}

/// One accepted request to the Connect messaging APIs, for assertions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequest {
    pub transid: String,
    pub api: String,
    pub channel: String,
    pub destination: String,
    pub body: serde_json::Value,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    pub received_at: String,
    pub content_type: Option<String>,
    pub key: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Media {
    pub bytes: Bytes,
    pub content_type: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    pub seq: u64,
    pub at: String,
    /// "api" for requests the sandbox received, "delivery" for POSTs it made.
    pub kind: String,
    pub method: String,
    pub path: String,
    pub status: Option<u16>,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A Connect send answered from an earlier one with the same Idempotency-Key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
}

/// The answer to a Connect send that carried an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotentAnswer {
    /// Wall time: the one-hour memory does not move with the sandbox clock.
    pub at: DateTime<Utc>,
    pub body: serde_json::Value,
}

pub struct World {
    pub generation: u64,
    pub clock_offset_seconds: i64,
    pub people: Vec<Person>,
    pub tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, String>,
    pub oauth_codes: HashMap<String, OAuthCode>,
    pub rooms: Vec<Room>,
    /// In the order they were posted; [`World::push_message`] keeps
    /// `message_at` in step.
    messages: Vec<Message>,
    /// Where each message is in `messages`: `GET /messages/{id}` is one
    /// lookup, as at Webex, not a scan of every message posted.
    message_at: HashMap<String, usize>,
    pub contents: HashMap<String, Content>,
    pub webhooks: Vec<Webhook>,
    /// Consecutive failed deliveries that make a webhook inactive; 0 = never.
    pub webhook_failure_threshold: u32,
    pub scanning_seconds: i64,
    /// Verdicts for the next files posted, first in first out.
    pub next_verdicts: VecDeque<ScanVerdict>,
    pub phone: Vec<PhoneMessage>,
    pub connect_requests: Vec<ConnectRequest>,
    /// Connect answers by (route, Idempotency-Key).
    pub idempotent_answers: HashMap<(String, String), IdempotentAnswer>,
    /// Last inbound WhatsApp message per customer (digits), sandbox clock.
    pub last_inbound: HashMap<String, DateTime<Utc>>,
    pub events: HashMap<String, Vec<RecordedEvent>>,
    pub media: HashMap<String, Media>,
    pub route_faults: Vec<RouteFault>,
    pub delivery_faults: Vec<DeliveryFault>,
    pub calls: Vec<CallRecord>,
    /// The events the scripted bot received, in order (`/control/bot`).
    pub bot_received: Vec<serde_json::Value>,
}

impl World {
    fn new(config: &SandboxConfig, generation: u64) -> World {
        let created = Utc::now();
        let mut people: Vec<Person> = config
            .agents
            .iter()
            .map(|(email, name)| {
                let email = email.to_lowercase();
                Person {
                    id: webex_id("PEOPLE", &stable_uuid(&format!("agent:{email}"))),
                    email,
                    display_name: name.clone(),
                    kind: PersonType::Person,
                    created,
                    guest_of: None,
                }
            })
            .collect();
        if let Some(id) = service_app_person_id(config) {
            // A Service App acts as a machine account of the org, not as a user.
            let seed = format!("service-app:{}", config.service_app_client_id);
            people.push(Person {
                id,
                email: format!("{}@webex.bot", stable_uuid(&format!("{seed}:email"))),
                display_name: "Sandbox Service App".into(),
                kind: PersonType::Bot,
                created,
                guest_of: None,
            });
        }
        World {
            generation,
            clock_offset_seconds: 0,
            people,
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            oauth_codes: HashMap::new(),
            rooms: Vec::new(),
            messages: Vec::new(),
            message_at: HashMap::new(),
            contents: HashMap::new(),
            webhooks: Vec::new(),
            webhook_failure_threshold: DEFAULT_WEBHOOK_FAILURE_THRESHOLD,
            scanning_seconds: 0,
            next_verdicts: VecDeque::new(),
            phone: Vec::new(),
            connect_requests: Vec::new(),
            idempotent_answers: HashMap::new(),
            last_inbound: HashMap::new(),
            events: HashMap::new(),
            media: HashMap::new(),
            route_faults: Vec::new(),
            delivery_faults: Vec::new(),
            calls: Vec::new(),
            bot_received: Vec::new(),
        }
    }

    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.id == id)
    }

    pub fn person_by_email(&self, email: &str) -> Option<&Person> {
        let email = email.to_lowercase();
        self.people.iter().find(|p| p.email == email)
    }

    /// Every message, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn message(&self, id: &str) -> Option<&Message> {
        self.message_at.get(id).map(|&at| &self.messages[at])
    }

    pub fn push_message(&mut self, message: Message) {
        self.message_at
            .insert(message.id.clone(), self.messages.len());
        self.messages.push(message);
    }

    pub fn room(&self, id: &str) -> Option<&Room> {
        self.rooms.iter().find(|r| r.id == id)
    }

    pub fn is_member(&self, room_id: &str, person_id: &str) -> bool {
        self.room(room_id)
            .is_some_and(|r| r.members.iter().any(|m| m == person_id))
    }

    /// Forgets the access tokens of every guest (of both sources), or only of
    /// guests with this subject, so they answer 401 as a revoked token does.
    /// Returns how many tokens went.
    pub fn revoke_guest_tokens(&mut self, subject: Option<&str>) -> usize {
        let guests: Vec<&str> = self
            .people
            .iter()
            .filter(|p| {
                p.guest_of
                    .as_ref()
                    .is_some_and(|g| subject.is_none_or(|s| g.subject == s))
            })
            .map(|p| p.id.as_str())
            .collect();
        let before = self.tokens.len();
        self.tokens
            .retain(|_, token| !guests.contains(&token.person_id.as_str()));
        before - self.tokens.len()
    }

    pub fn log_call(&mut self, mut record: CallRecord) {
        record.seq = self.calls.len() as u64 + 1;
        self.calls.push(record);
    }

    /// Issues an access token for a person, valid for `seconds` of wall time.
    pub fn issue_token(&mut self, person_id: &str, seconds: i64) -> String {
        let token = random_token(32);
        self.tokens.insert(
            token.clone(),
            AccessToken {
                person_id: person_id.to_string(),
                expires_at: Utc::now() + Duration::seconds(seconds),
            },
        );
        token
    }
}
