//! Agent to customer (seed: Guest Provisioning, Web App Action Handler,
//! Webex Message Handler): provisioning the guest, the agent's words and
//! files routed by channel, the WhatsApp 24-hour rule with its template,
//! and delivery receipts.

use super::inbound::Receipt;
use super::jobs::{self, notice as notice_job};
use super::{
    template_already_sent, template_line, whatsapp_window_open, Done, Effects, Failure, Ran, Relay,
    StatusUpdate,
};
use crate::media::MediaError;
use domain::model::{Direction, MessageStatus, Session, SessionStatus};
use domain::Channel;
use platform::connect::{mms_type, Outgoing, PublicMedia, SendError};
use store::{Attachment, Job, NewJob, NewMessage, RelaySession, RelayState};

/// Whether WhatsApp would refuse a free-form message now.
fn outside_window(state: &RelayState, now_ms: i64) -> bool {
    !whatsapp_window_open(state.last_inbound_at_ms, now_ms)
}

impl Relay {
    /// Guest Provisioning + Web App Action Handler: who the guest is, their
    /// webhook, and a message from the guest that opens the agent's 1:1 space.
    pub(super) async fn provision(
        &self,
        conversation: &RelaySession,
        agent_email: &str,
        contact_name: &str,
    ) -> Ran {
        let session = &conversation.session;
        let token = self.token(conversation).await?;
        let me = self.inner.webex.me(&token).await?;
        let state = &conversation.relay;
        let webhook_id = match state.webhook_id.clone() {
            // The guest's webhook exists: make sure it still fires (Webex
            // may have turned it off; the check turns it back on).
            Some(id) if conversation.guest_id() == Some(me.id.as_str()) => {
                self.check_webhook(conversation, &id, false).await?;
                None
            }
            _ => Some(self.create_webhook(&token).await?),
        };
        self.store()
            .save_guest_identity(&session.id, &me.id, webhook_id.as_deref())
            .await?;
        let channel = match session.customer_channel {
            Channel::Whatsapp => "WhatsApp",
            Channel::Sms => "SMS",
        };
        let greeting = format!(
            "Conversation with {} on {channel} ({}) started. Write here to message them.",
            contact_name, session.customer_channel_id
        );
        let posted = self
            .inner
            .webex
            .message_person(&token, agent_email, &greeting, None)
            .await?;
        self.store().save_room(&session.id, &posted.room_id).await?;
        Ok(Done::Unrecorded)
    }

    /// Webex Message Handler: the agent's message (text and at most one
    /// file), to the customer on the session's channel.
    pub(super) async fn webex_to_customer(
        &self,
        job: &Job,
        conversation: &RelaySession,
        message_id: &str,
    ) -> Ran {
        let session = &conversation.session;
        let token = self.token(conversation).await?;
        let message = self.inner.webex.message(&token, message_id).await?;
        let state = &conversation.relay;
        if conversation.guest_id() == Some(message.person_id.as_str()) {
            return Ok(Done::Unrecorded);
        }
        let author = message.person_email.clone();
        let mut notices = Vec::new();
        // An opt-out also ends the session: its reason is the one to give.
        let opted_out = self
            .store()
            .opt_out_of(session.customer_channel, &session.customer_channel_id)
            .await?
            .map(|o| {
                format!(
                    "The customer opted out of {} ({}, {}), so they did not receive your message. They can opt back in by replying START.",
                    o.channel.label(),
                    o.source,
                    o.opted_out_at
                )
            });
        let closed = opted_out.or_else(|| {
            if session.status != SessionStatus::Active {
                Some("This conversation has ended, so the customer did not receive your message. Start a new conversation from Contact Manager to reach them.".to_string())
            } else {
                match (&author, &session.collab_agent_id) {
                    (Some(a), Some(current)) if !a.eq_ignore_ascii_case(current) => Some(format!(
                        "{current} has taken this conversation over, so the customer did not receive your message."
                    )),
                    _ => None,
                }
            }
        });
        if let Some(why) = closed {
            notices.push(notice_job(
                session,
                format!("notice:{message_id}:closed"),
                author.as_deref(),
                &why,
            ));
            return self.notify(notices).await;
        }
        // One transcript line per Webex message, even when this job is retried.
        let existing = self
            .store()
            .message_by_provider_id("webex", message_id)
            .await?;
        if existing
            .as_ref()
            .is_some_and(|m| m.status != MessageStatus::Queued)
        {
            return Ok(Done::Unrecorded);
        }
        let own_text = message
            .text
            .clone()
            .or(message.markdown.clone())
            .filter(|t| !t.trim().is_empty());
        let text = own_text
            .clone()
            .unwrap_or_else(|| self.inner.settings.attachment_text.clone());
        let mut media = match message.files.first() {
            None => None,
            Some(url) => match self.inner.media.cache(url, &token.token).await {
                Ok(c) => Some(PublicMedia {
                    url: c.url,
                    mime: c.mime_type,
                    filename: c.filename,
                }),
                Err(MediaError::Scanning { retry_after }) => {
                    return Err(Failure::Retry(
                        "Webex is still scanning the file".into(),
                        Some(retry_after),
                    ))
                }
                Err(MediaError::Busy { retry_after }) => {
                    return Err(Failure::Retry(
                        "every media transfer slot is taken".into(),
                        Some(retry_after),
                    ))
                }
                Err(MediaError::Webex(e)) => return Err(e.into()),
                Err(MediaError::Storage(e)) => return Err(e.into()),
                Err(e) => {
                    notices.push(notice_job(
                        session,
                        format!("notice:{message_id}:file"),
                        None,
                        &format!("Your file was not sent to the customer: {e}."),
                    ));
                    None
                }
            },
        };
        if session.customer_channel == Channel::Sms {
            if let Some(m) = media.as_ref().filter(|m| mms_type(&m.mime).is_none()) {
                notices.push(notice_job(
                    session,
                    format!("notice:{message_id}:mms-type"),
                    None,
                    &format!(
                        "MMS cannot carry {} files, so your file was not sent to the customer.",
                        m.mime
                    ),
                ));
                media = None;
            }
        }
        if media.is_none() && own_text.is_none() {
            return self.notify(notices).await;
        }
        let outgoing = Outgoing::for_channel(session.customer_channel, &text, media);
        let attachment = outgoing.media().map(|m| Attachment {
            url: m.url.clone(),
            mime: Some(m.mime.clone()),
            name: Some(m.filename.clone()),
        });
        let row = match existing {
            Some(existing) => existing.id,
            None => {
                let line = NewMessage::new(
                    &session.id,
                    Direction::Outbound,
                    session.customer_channel,
                    &text,
                    MessageStatus::Queued,
                )
                .from_provider("webex", message_id)
                .with_attachment(attachment);
                let id = line.id.clone();
                self.apply(
                    None,
                    Effects {
                        lines: vec![line],
                        ..Effects::default()
                    },
                )
                .await?;
                id
            }
        };
        let now = store::now_ms();
        if session.customer_channel == Channel::Whatsapp && outside_window(state, now) {
            // Not sent: the agent's line says why, the template goes instead.
            let mut effects = Effects {
                jobs: notices,
                status: Some(StatusUpdate {
                    line: row.clone(),
                    status: MessageStatus::Failed,
                    connect_transid: None,
                    error: Some((
                        "window".into(),
                        "outside WhatsApp's 24-hour window: not sent".into(),
                    )),
                }),
                ..Effects::default()
            };
            self.template_fallback(conversation, message_id, &mut effects)
                .await?;
            return self.apply(None, effects).await;
        }
        self.notify(notices).await?;
        let customer = (
            session.customer_channel,
            session.customer_channel_id.as_str(),
        );
        self.send(
            job,
            customer,
            &outgoing,
            &row,
            Some(&row),
            Some((session, message_id)),
        )
        .await
    }

    /// Sends to the customer and records the outcome on the transcript line,
    /// if there is one; a refusal of an agent's message (`notice`: the
    /// session and the Webex message) is also told to the agent.
    async fn send(
        &self,
        job: &Job,
        (channel, customer): (Channel, &str),
        outgoing: &Outgoing,
        key: &str,
        row: Option<&str>,
        notice: Option<(&Session, &str)>,
    ) -> Ran {
        match self
            .inner
            .connect
            .send(channel, customer, outgoing, key)
            .await
        {
            Ok(transid) => {
                super::note(|n| n.answer = Some(format!("Connect accepted it: {transid}")));
                // The line's status and the job's end commit together.
                let effects = Effects {
                    status: row.map(|row| StatusUpdate {
                        line: row.to_string(),
                        status: MessageStatus::Sent,
                        connect_transid: Some(transid),
                        error: None,
                    }),
                    ..Effects::default()
                };
                self.apply(Some(job), effects).await
            }
            Err(SendError::Refused { code, description }) => {
                if let Some(row) = row {
                    self.store()
                        .set_message_status(
                            row,
                            MessageStatus::Failed,
                            None,
                            Some((&code, &description)),
                        )
                        .await?;
                }
                if let Some((session, about)) = notice {
                    self.notify(vec![notice_job(
                        session,
                        format!("notice:{about}:refused"),
                        None,
                        &format!("Not delivered to the customer: {description} ({code})."),
                    )])
                    .await?;
                }
                Err(SendError::Refused { code, description }.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A message for a customer who opted out: not sent; its transcript
    /// line, if any, says why.
    pub(super) async fn hold_back(&self, row: Option<&str>, opt_out: &store::OptOut) -> Ran {
        super::note(|n| n.answer = Some("held back: the customer opted out".into()));
        if let Some(row) = row {
            let why = format!(
                "not sent: the customer opted out of {} ({})",
                opt_out.channel.label(),
                opt_out.source
            );
            self.store()
                .set_message_status(row, MessageStatus::Failed, None, Some(("opted-out", &why)))
                .await?;
        }
        Ok(Done::Unrecorded)
    }

    /// A message we write to the customer: a dialogue line or the template.
    /// `row`: its transcript line, sent only while still queued.
    pub(super) async fn send_to_customer(
        &self,
        job: &Job,
        channel: Channel,
        customer: &str,
        key: &str,
        row: Option<&str>,
        outgoing: &Outgoing,
    ) -> Ran {
        if let Some(row) = row {
            if self.store().message_status(row).await? != Some(MessageStatus::Queued) {
                return Ok(Done::Unrecorded);
            }
        }
        self.send(job, (channel, customer), outgoing, key, row, None)
            .await
    }

    /// A delivery receipt: the line's status, and for a failed message of an
    /// agent, a notice in their space or, for WhatsApp's re-engagement
    /// failure (7710), the template.
    pub(super) async fn receipt(
        &self,
        job: &Job,
        conversation: &RelaySession,
        line_id: &str,
        from_agent: bool,
        receipt: &Receipt,
    ) -> Ran {
        let session = &conversation.session;
        let current = self.store().message_status(line_id).await?;
        let Some(current) = current else {
            return Ok(Done::Unrecorded);
        };
        // Statuses only move forward: a late "submitted" does not undo "read".
        if receipt.status <= current {
            return Ok(Done::Unrecorded);
        }
        let failed = receipt.status == MessageStatus::Failed;
        let mut effects = Effects {
            status: Some(StatusUpdate {
                line: line_id.to_string(),
                status: receipt.status,
                connect_transid: None,
                error: failed.then(|| (receipt.code.clone(), receipt.description.clone())),
            }),
            ..Effects::default()
        };
        if failed && from_agent && session.collab_agent_id.is_some() {
            if receipt.code == "7710" && session.customer_channel == Channel::Whatsapp {
                self.template_fallback(conversation, line_id, &mut effects)
                    .await?;
            } else {
                effects.jobs.push(notice_job(
                    session,
                    format!("notice:{line_id}:failed"),
                    None,
                    &format!(
                        "Not delivered to the customer: {} (code {}).",
                        receipt.description, receipt.code
                    ),
                ));
            }
        }
        self.apply(Some(job), effects).await
    }

    /// WhatsApp's 24-hour rule: outside the window only an approved template
    /// may be sent. Sends it once per silence of the customer, and tells the
    /// agent either way.
    async fn template_fallback(
        &self,
        conversation: &RelaySession,
        cause: &str,
        effects: &mut Effects,
    ) -> Result<(), Failure> {
        let (session, state) = (&conversation.session, &conversation.relay);
        let rule = "The customer has not written on WhatsApp in the last 24 hours, and WhatsApp then allows only approved template messages";
        let notice =
            |text: String| notice_job(session, format!("notice:{cause}:template"), None, &text);
        // The start's choice, as the relay stored it (unreadable: none).
        let chosen: Option<domain::templates::TemplateChoice> = state
            .start_template
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok());
        let Some((template, asked)) = self
            .inner
            .settings
            .whatsapp_templates
            .for_fallback(chosen.as_ref())
        else {
            effects.jobs.push(notice(format!(
                "{rule}. No template is configured (CM_WHATSAPP_TEMPLATES), so your message was not delivered."
            )));
            return Ok(());
        };
        if template_already_sent(state) {
            effects.jobs.push(notice(format!(
                "{rule}. The template was already sent; your message was not delivered. They can answer once they reply."
            )));
            return Ok(());
        }
        let customer = self.display_name(conversation).await;
        let agent = match session.collab_agent_id.as_deref() {
            Some(email) => self
                .store()
                .agent_by_email(email)
                .await
                .map(|a| a.display_name)
                .ok(),
            None => None,
        }
        .unwrap_or_default();
        let parameters =
            template
                .variables
                .values(&customer, &agent, asked.unwrap_or(&Default::default()));
        let line = template_line(session, template, &parameters);
        effects.jobs.push(jobs::template(
            session,
            &line.id,
            &template.id,
            parameters,
            format!("template:{cause}"),
        ));
        effects.lines.push(line);
        effects.template_sent = Some(session.id.clone());
        effects.jobs.push(notice(format!(
            "{rule}: the re-engagement template \"{}\" was sent instead, and your message was not delivered. Write again once they reply.",
            template.id
        )));
        Ok(())
    }

    /// Queues notices to agents (idempotent by key).
    async fn notify(&self, notices: Vec<NewJob>) -> Ran {
        if !notices.is_empty() {
            self.store().enqueue_now(&notices).await?;
            self.inner.wake.notify_one();
        }
        Ok(Done::Unrecorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(last_inbound: Option<i64>) -> RelayState {
        RelayState {
            last_inbound_at_ms: last_inbound,
            ..RelayState::default()
        }
    }

    #[test]
    fn the_whatsapp_window_is_24_hours_from_the_last_inbound_message() {
        let hour = 3_600_000;
        let now = 100 * hour;
        assert!(!outside_window(&state(Some(now - 23 * hour)), now));
        assert!(outside_window(&state(Some(now - 25 * hour)), now));
        assert!(outside_window(&state(None), now));
    }
}
