//! Delivery receipts to a send's notify URL: submitted, delivered, read,
//! or the failure.

use std::time::Duration;

use serde_json::json;

use super::digits;
use crate::delivery::{self, Delivery, DeliveryKind};
use crate::state::Shared;

/// Pause between the "submitted" and "delivered" receipts.
const DELIVERY_DELAY: Duration = Duration::from_millis(200);

/// Submitted (7501) then delivered (7500), or the failure receipt.
pub async fn send_receipts(
    sandbox: Shared,
    generation: u64,
    transid: String,
    mut failure: Option<(&'static str, String)>,
    media_url: Option<String>,
) {
    if let Some(url) = media_url {
        let fetched = crate::files::fetch(&sandbox.files, &sandbox.config.base_url, &url).await;
        if fetched.is_err() {
            failure = Some(("7701", format!("Media download error: {url}")));
        }
    }
    match failure {
        Some((code, description)) => {
            update_status(
                &sandbox,
                generation,
                &transid,
                "failed",
                Some(code),
                &description,
            );
        }
        None => {
            update_status(&sandbox, generation, &transid, "sent", None, "Submitted");
            tokio::time::sleep(DELIVERY_DELAY).await;
            update_status(
                &sandbox,
                generation,
                &transid,
                "delivered",
                None,
                "Delivered",
            );
        }
    }
}

/// Moves a message to a new status and posts its receipt, if it has a notify URL.
fn update_status(
    sandbox: &Shared,
    generation: u64,
    transid: &str,
    status: &str,
    failure_code: Option<&str>,
    description: &str,
) {
    let (code, delivery_status) = match (status, failure_code) {
        (_, Some(code)) => (code, "Failed"),
        ("sent", _) => ("7501", "Submitted"),
        ("delivered", _) => ("7500", "Delivered"),
        _ => ("7502", "Read"),
    };
    let now = sandbox.now();
    let receipt = {
        let mut world = sandbox.world();
        if world.generation != generation {
            return;
        }
        let Some(message) = world.phone.iter_mut().rev().find(|m| m.id == transid) else {
            return;
        };
        message.status = status.to_string();
        message.error_code = failure_code.map(str::to_string);
        message.receipt.clone()
    };
    let Some(target) = receipt else { return };
    let body = json!({"deliveryInfoNotification": {
        "deliveryInfo": {
            "timeStamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            "Description": description,
            "code": code,
            "deliveryChannel": target.delivery_channel,
            "additionalInfo": "",
            "destination": target.destination,
            "destinationType": target.destination_type,
            "deliveryStatus": delivery_status,
        },
        "subtid": "",
        "transid": transid,
        "callbackData": target.callback_data,
        "correlationid": target.correlation_id,
    }});
    delivery::enqueue(
        sandbox,
        Delivery::json(DeliveryKind::Receipt, target.notify_url, &body)
            .in_lane(target.destination.clone()),
    );
}

/// The phone displayed the thread: WhatsApp messages become "read" (7502).
/// SMS has no read receipts.
pub fn mark_read(sandbox: &Shared, number: &str) {
    let (generation, ids) = {
        let world = sandbox.world();
        let ids: Vec<String> = world
            .phone
            .iter()
            .filter(|m| m.app == "whatsapp" && m.number == digits(number))
            .filter(|m| m.direction == "outbound" && m.status == "delivered")
            .map(|m| m.id.clone())
            .collect();
        (world.generation, ids)
    };
    for id in ids {
        update_status(sandbox, generation, &id, "read", None, "Read");
    }
}
