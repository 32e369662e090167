//! The request path of the webhooks: parse a body already verified (see
//! `webhook_auth`), deduplicate by provider id and store the job it causes
//! (group-committed by the intake), then answer. Nothing here calls Webex or
//! Connect.

use serde::Deserialize;

use super::inbound::{parse_inbound, parse_receipt, ParseError};
use super::webhook_auth::{ConnectInbound, ConnectReceipt, VerifiedBody, Webex};
use super::{jobs, Relay};
use domain::error::DomainError;
use domain::model::{MessageStatus, Session};
use store::{Acceptance, LineStatus};

/// What became of an accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Queued,
    /// Written, with nothing to run (a delivery receipt's status).
    Recorded,
    /// Seen before: acknowledged, nothing done.
    Duplicate,
    /// Nothing to relay (an echo of our own message, no session, ...).
    Ignored(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("malformed event: {0}")]
    Malformed(String),
    /// It names something we do not have (a bot conversation).
    #[error("{0}")]
    Unknown(String),
    #[error(transparent)]
    Storage(#[from] DomainError),
}

impl Relay {
    /// `POST /webhooks/webex`: a message was created in a space of a guest.
    pub async fn accept_webex(&self, body: VerifiedBody<Webex>) -> Result<Accepted, AcceptError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Envelope {
            resource: String,
            event: String,
            created_by: String,
            data: Data,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            id: String,
            person_id: String,
        }
        let envelope: Envelope = serde_json::from_slice(body.bytes())
            .map_err(|e| AcceptError::Malformed(e.to_string()))?;
        if envelope.resource != "messages" || envelope.event != "created" {
            return Ok(Accepted::Ignored("not a new message"));
        }
        // The webhook belongs to the guest (createdBy); messages the guest
        // wrote are our own relayed ones: relaying them back would loop.
        // Known from the body alone, so a redelivery is ignored the same
        // way: nothing is read or written (they are half of all deliveries).
        if envelope.data.person_id == envelope.created_by {
            return Ok(Accepted::Ignored("written by the guest"));
        }
        let (jobs, outcome) = match self.store().session_by_guest(&envelope.created_by).await? {
            None => (Vec::new(), Accepted::Ignored("no session for this guest")),
            Some(session) => (
                vec![jobs::webex_to_customer(&session, &envelope.data.id)],
                Accepted::Queued,
            ),
        };
        self.intake(
            Acceptance {
                provider: "webex",
                event_id: envelope.data.id,
                touch_customer: None,
                receipt: None,
                jobs,
            },
            outcome,
        )
        .await
    }

    /// `POST /webhooks/connect/inbound`: a customer wrote on SMS, MMS or
    /// WhatsApp. What to do with it (forward, the dialogue, a reply) is
    /// decided by the `customer_message` job, in order with the rest of the
    /// conversation.
    pub async fn accept_connect(
        &self,
        body: VerifiedBody<ConnectInbound>,
    ) -> Result<Accepted, AcceptError> {
        let event: serde_json::Value = serde_json::from_slice(body.bytes())
            .map_err(|e| AcceptError::Malformed(e.to_string()))?;
        let mut inbound = match parse_inbound(&event) {
            Ok(inbound) => inbound,
            Err(ParseError::NotRelayed(why)) => return Ok(Accepted::Ignored(why)),
            Err(ParseError::Malformed(why)) => return Err(AcceptError::Malformed(why)),
        };
        // Card numbers are masked before the job (and so the transcript, the
        // logs and the audit) gets the text: this is where every customer's
        // message comes in. The agent may read them, sealed until posted.
        if let Some(original) = inbound.mask_card_numbers() {
            inbound.sealed_text = self.seal_original(&original, &inbound.transid);
        }
        // The number's one parse: the job carries the result.
        let customer = inbound
            .parse_customer(self.store().rules().phone_region)
            .map_err(|e| AcceptError::Malformed(e.to_string()))?;
        let transid = inbound.transid.clone();
        // Any message from the customer reopens WhatsApp's 24-hour window.
        let touch_customer = Some(customer.clone());
        let job = jobs::customer_message(inbound, customer);
        self.intake(
            Acceptance {
                provider: "connect",
                event_id: transid,
                touch_customer,
                receipt: None,
                jobs: vec![job],
            },
            Accepted::Queued,
        )
        .await
    }

    /// `POST /webhooks/connect/receipts`: a delivery receipt for a message
    /// we sent (it carries our transcript line's id as `correlationid`).
    pub async fn accept_receipt(
        &self,
        body: VerifiedBody<ConnectReceipt>,
    ) -> Result<Accepted, AcceptError> {
        let event: serde_json::Value = serde_json::from_slice(body.bytes())
            .map_err(|e| AcceptError::Malformed(e.to_string()))?;
        let receipt = match parse_receipt(&event) {
            Ok(r) => r,
            Err(ParseError::Malformed(why)) => return Err(AcceptError::Malformed(why)),
            Err(ParseError::NotRelayed(why)) => return Ok(Accepted::Ignored(why)),
        };
        let event_id = format!(
            "{}:{}:{}",
            receipt.transid, receipt.correlation_id, receipt.code
        );
        let line = self
            .store()
            .message_for_receipt(&receipt.correlation_id, &receipt.transid)
            .await?;
        // A success only moves the line's status: written with the dedup
        // key, nothing to run. A failure may tell the agent or send the
        // WhatsApp template: a job, in the conversation's order.
        let (status, jobs, outcome) = match line {
            None => (None, Vec::new(), Accepted::Ignored("no message of ours")),
            Some(line) if receipt.status != MessageStatus::Failed => {
                let status = LineStatus {
                    line: line.id,
                    status: receipt.status,
                };
                (Some(status), Vec::new(), Accepted::Recorded)
            }
            Some(line) => {
                let session = self.store().session(&line.session_id).await?;
                let job = jobs::receipt(
                    &session,
                    &line.id,
                    line.provider.as_deref() == Some("webex"),
                    receipt.clone(),
                    &event_id,
                );
                (None, vec![job], Accepted::Queued)
            }
        };
        self.intake(
            Acceptance {
                provider: "connect-receipt",
                event_id,
                touch_customer: None,
                receipt: status,
                jobs,
            },
            outcome,
        )
        .await
    }

    /// Accepts an agent's message found in the space rather than delivered
    /// by the webhook (see `webhook_health`): deduplicated against the
    /// webhook's deliveries by the message id, as a redelivery would be. No
    /// body and no signature: we read the message from Webex ourselves.
    pub(super) async fn accept_missed(
        &self,
        session: &Session,
        message_id: &str,
    ) -> Result<Accepted, AcceptError> {
        self.intake(
            Acceptance {
                provider: "webex",
                event_id: message_id.to_string(),
                touch_customer: None,
                receipt: None,
                jobs: vec![jobs::webex_to_customer(session, message_id)],
            },
            Accepted::Queued,
        )
        .await
    }

    /// Writes an accepted event (group-committed with others arriving at the
    /// same time) and wakes the worker when it queued work.
    pub(super) async fn intake(
        &self,
        acceptance: Acceptance,
        outcome: Accepted,
    ) -> Result<Accepted, AcceptError> {
        if !self.inner.intake.write(acceptance).await? {
            return Ok(Accepted::Duplicate);
        }
        if outcome == Accepted::Queued {
            self.inner.wake.notify_one();
        }
        Ok(outcome)
    }
}
