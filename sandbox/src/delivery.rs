//! Outgoing HTTP from the sandbox to the product: Webex webhooks, Connect
//! inbound messages and delivery receipts. One background task takes them in
//! order, applies the delivery faults (duplicate, out of order) and hands
//! them to [`LANES`] senders: a delivery's lane is its webhook's, or the
//! customer's for receipts, so each conversation's deliveries go in order
//! while different conversations' go side by side, as the platforms do.
//! Customers' inbound messages share one lane (in the order they were sent).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::calls::{redact_url, redacted_summary};
use crate::state::{timestamp, CallRecord, Sandbox, Shared};

/// Out-of-order deliveries are held at most this long waiting for the rest.
const HOLD_LIMIT: Duration = Duration::from_secs(2);
/// Connect retries failed notifications three times; so does the sandbox,
/// but after a short pause instead of 60 s.
const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(300);
/// Deliveries in flight at once (each lane sends one at a time).
const LANES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryKind {
    Webhook,
    Inbound,
    Receipt,
}

impl DeliveryKind {
    fn name(self) -> &'static str {
        match self {
            DeliveryKind::Webhook => "webhook",
            DeliveryKind::Inbound => "inbound",
            DeliveryKind::Receipt => "receipt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryMode {
    Duplicate,
    OutOfOrder,
}

/// "The next `remaining` deliveries (of kind `only`, or any) are duplicated /
/// held and sent in reverse order."
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryFault {
    pub mode: DeliveryMode,
    pub remaining: u32,
    pub only: Option<DeliveryKind>,
}

#[derive(Clone)]
pub struct Delivery {
    kind: DeliveryKind,
    url: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    generation: u64,
    /// The Webex webhook this delivery is for: its outcome counts toward the
    /// webhook's deactivation, and nothing is sent once it is inactive.
    webhook_id: Option<String>,
    /// Deliveries with the same lane key go one at a time, in order.
    lane: Option<String>,
}

impl Delivery {
    pub fn new(
        kind: DeliveryKind,
        url: String,
        body: Vec<u8>,
        headers: Vec<(String, String)>,
    ) -> Self {
        Delivery {
            kind,
            url,
            body,
            headers,
            generation: 0,
            webhook_id: None,
            lane: None,
        }
    }

    /// Orders this delivery with the others of `key` (e.g. a customer's receipts).
    pub fn in_lane(mut self, key: String) -> Self {
        self.lane = Some(key);
        self
    }

    fn lane_index(&self) -> usize {
        use std::hash::{Hash, Hasher};
        let key = self
            .webhook_id
            .as_deref()
            .or(self.lane.as_deref())
            .unwrap_or(&self.url);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        (hasher.finish() % LANES as u64) as usize
    }

    pub fn for_webhook(mut self, webhook_id: String) -> Self {
        self.webhook_id = Some(webhook_id);
        self
    }

    pub fn json(kind: DeliveryKind, url: String, body: &serde_json::Value) -> Self {
        let bytes = serde_json::to_vec(body).expect("JSON values serialize");
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        Delivery::new(kind, url, bytes, headers)
    }
}

pub struct Outbox {
    tx: UnboundedSender<Delivery>,
    // The worker starts on first use, so `router()` needs no runtime.
    rx: Mutex<Option<UnboundedReceiver<Delivery>>>,
}

impl Outbox {
    pub fn new() -> Outbox {
        let (tx, rx) = unbounded_channel();
        Outbox {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

/// Queues a delivery. Must not be called while holding the world lock.
pub fn enqueue(sandbox: &Shared, mut delivery: Delivery) {
    delivery.generation = sandbox.world().generation;
    let receiver = sandbox
        .outbox
        .rx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(rx) = receiver {
        tokio::spawn(run(Arc::downgrade(sandbox), rx));
    }
    // The receiver lives as long as the sandbox, so this cannot fail.
    let _ = sandbox.outbox.tx.send(delivery);
}

async fn run(sandbox: Weak<Sandbox>, mut rx: UnboundedReceiver<Delivery>) {
    let lanes: Vec<UnboundedSender<Delivery>> = (0..LANES)
        .map(|_| {
            let (tx, rx) = unbounded_channel();
            tokio::spawn(lane(sandbox.clone(), rx));
            tx
        })
        .collect();
    // The lanes live as long as this task, so a send cannot fail.
    let dispatch = |delivery: Delivery| {
        let _ = lanes[delivery.lane_index()].send(delivery);
    };
    let mut held: Vec<Delivery> = Vec::new();
    loop {
        let next = if held.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(HOLD_LIMIT, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    held.drain(..).rev().for_each(dispatch);
                    continue;
                }
            }
        };
        let Some(delivery) = next else { return };
        let Some(sandbox) = sandbox.upgrade() else {
            return;
        };
        if sandbox.world().generation != delivery.generation {
            continue; // queued before a reset
        }
        match take_fault(&sandbox, delivery.kind) {
            None => dispatch(delivery),
            Some((DeliveryMode::Duplicate, _)) => {
                dispatch(delivery.clone());
                dispatch(delivery);
            }
            Some((DeliveryMode::OutOfOrder, last)) => {
                held.push(delivery);
                if last {
                    held.drain(..).rev().for_each(dispatch);
                }
            }
        }
    }
}

/// Sends one lane's deliveries, one at a time.
async fn lane(sandbox: Weak<Sandbox>, mut rx: UnboundedReceiver<Delivery>) {
    while let Some(delivery) = rx.recv().await {
        let Some(sandbox) = sandbox.upgrade() else {
            return;
        };
        if sandbox.world().generation == delivery.generation {
            send(&sandbox, &delivery).await;
        }
    }
}

/// Consumes one use of the first matching fault; `true` when it was the last.
fn take_fault(sandbox: &Sandbox, kind: DeliveryKind) -> Option<(DeliveryMode, bool)> {
    let mut world = sandbox.world();
    let index = world
        .delivery_faults
        .iter()
        .position(|f| f.remaining > 0 && f.only.is_none_or(|k| k == kind))?;
    let fault = &mut world.delivery_faults[index];
    fault.remaining -= 1;
    let mode = fault.mode;
    let last = fault.remaining == 0;
    if last {
        world.delivery_faults.remove(index);
    }
    Some((mode, last))
}

async fn send(sandbox: &Sandbox, delivery: &Delivery) {
    if let Some(id) = &delivery.webhook_id {
        // Webex stops delivering to an inactive (or deleted) webhook, and
        // does not send what it skipped once the webhook is active again.
        let active = sandbox
            .world()
            .webhooks
            .iter()
            .any(|w| &w.id == id && w.status == "active");
        if !active {
            return;
        }
    }
    let delivered = post_with_retries(sandbox, delivery).await;
    if let Some(id) = &delivery.webhook_id {
        record_webhook_outcome(sandbox, id, delivered);
    }
}

/// POSTs the delivery, retrying connection errors, 429 and 5xx; true when
/// the last attempt got a 2xx answer.
async fn post_with_retries(sandbox: &Sandbox, delivery: &Delivery) -> bool {
    for attempt in 1..=ATTEMPTS {
        let mut request = sandbox.http.post(&delivery.url).body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        let result = request.send().await;
        let (status, error) = match &result {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let path = reqwest::Url::parse(&delivery.url)
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        let at = timestamp(sandbox.now());
        sandbox.world().log_call(CallRecord {
            seq: 0,
            at,
            kind: "delivery".into(),
            method: "POST".into(),
            path,
            status,
            body: redacted_summary(&delivery.body),
            url: Some(redact_url(&delivery.url)),
            delivery_kind: Some(delivery.kind.name().into()),
            error,
            replay: false,
        });
        let retry = match status {
            None => true,
            Some(code) => code == 429 || code >= 500,
        };
        if !retry {
            return status.is_some_and(|code| (200..300).contains(&code));
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(RETRY_PAUSE * attempt).await;
        }
    }
    false
}

/// A delivery that got no answer or a non-2xx one (after the retries) adds
/// one to the webhook's consecutive failures; at the world's threshold the
/// webhook becomes `inactive`. A delivered one clears the count.
fn record_webhook_outcome(sandbox: &Sandbox, webhook_id: &str, delivered: bool) {
    let mut world = sandbox.world();
    let threshold = world.webhook_failure_threshold;
    let Some(webhook) = world.webhooks.iter_mut().find(|w| w.id == webhook_id) else {
        return; // deleted, or a reset, meanwhile
    };
    if delivered {
        webhook.consecutive_failures = 0;
        return;
    }
    webhook.consecutive_failures += 1;
    if threshold > 0 && webhook.consecutive_failures >= threshold {
        webhook.status = "inactive".into();
    }
}
