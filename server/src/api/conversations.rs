//! `/api/v1/conversations/start`: Start conversation for scripts and flows,
//! the same operation as the sidebar's buttons.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiCaller, ApiJson, Connect};
use domain::{Channel, FieldError};
use relay::conversations::{AttemptKey, Conversations, Mode, StartError, TemplateRequest, Via};
use relay::StartTemplate;

/// Body of `POST /conversations/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    /// The contact to talk to.
    pub contact_id: Option<String>,
    /// `whatsapp` or `sms`: the contact needs a number on it.
    #[schema(value_type = Channel)]
    pub channel: Option<String>,
    /// The agent who talks to the contact: an existing agent who is not disabled.
    #[schema(example = "agent.a@example.com")]
    pub agent_email: Option<String>,
    /// Your id for this attempt (at most 200 characters). The same id again
    /// is the same attempt: it answers how the first went and sends nothing.
    #[schema(example = "crm-4711-1")]
    pub attempt_id: Option<String>,
    /// WhatsApp, native relay mode: an approved template (one of
    /// `CM_WHATSAPP_TEMPLATES`) to send to the customer right away when they
    /// have not written in the last 24 hours. Not sent while they have.
    pub template: Option<ChosenTemplate>,
}

/// The template chosen for a start, and the values it asks the agent for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChosenTemplate {
    /// The template's Connect id, as configured.
    #[schema(example = "sandbox_order_update")]
    pub id: Option<String>,
    /// A value for each of the template's `ask:` variables, by variable
    /// name (and no others).
    #[schema(example = json!({"order": "A-1042"}))]
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// What became of the template asked for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateOutcome {
    pub id: String,
    /// Queued for the customer by this call.
    pub sent: bool,
    /// Why it was not: `window_open` (the customer wrote in the last 24
    /// hours, so the agent's own words reach them), `already_sent` (a
    /// template went since they last wrote: one per silence) or `repeat`
    /// (this `attemptId` was used before).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "window_open")]
    pub not_sent_because: Option<&'static str>,
}

/// What happened to the attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartStatus {
    /// This call started the conversation.
    Started,
    /// An earlier call with this `attemptId` started it; nothing was sent again.
    AlreadyStarted,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartAnswer {
    pub status: StartStatus,
    /// `native` (this server's relay provisions the guest and greets the
    /// agent in Webex) or `connect` (the Connect startConversation webhook
    /// took the trigger; its flow does).
    #[schema(value_type = String, example = "native")]
    pub mode: Mode,
    pub contact_id: String,
    pub channel: Channel,
    pub agent_email: String,
    pub attempt_id: String,
    /// Native mode: the customer's session on the channel, routed to the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// When the request named a template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateOutcome>,
}

fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str, FieldError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Err(FieldError::new(field, "is required")),
        Some(v) => Ok(v),
    }
}

/// Start a conversation between an agent and a contact on WhatsApp or SMS.
///
/// Native relay mode: the customer's session is routed to the agent (201,
/// `sessionId`, `Location`) and the guest is provisioned in the background;
/// the agent gets a space with a greeting in Webex. Connect mode: the seed's
/// startConversation payload is posted to the Connect inbound webhook (201,
/// `mode: connect`). Each attempt is audited with this API key as the actor.
/// With `template` (WhatsApp, native mode) and a customer who has not written
/// in the last 24 hours, the template goes to them at once, once per attempt.
/// Retrying with the same `attemptId` sends nothing: 200 `already_started`,
/// or 409 while the first is still being sent or when it failed.
#[utoipa::path(post, path = "/conversations/start", tag = "conversations", request_body = StartRequest,
    responses(
        (status = 201, description = "Started by this call", body = StartAnswer),
        (status = 200, description = "Started earlier with this `attemptId` (`status: already_started`); nothing was sent", body = StartAnswer),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such contact", body = ErrorBody),
        (status = 409, description = "This `attemptId` is still being sent (`attempt_in_progress`) or failed (`attempt_failed`: use a new one to try again)", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`): unknown or disabled agent, no number on the channel, a template that is not configured (`template.id`), a value it asks for missing (`template.values.NAME`), a template on SMS or in Connect mode (`template`), ...", body = ErrorBody),
        (status = 502, description = "Webex Connect refused the trigger (`connect_refused`)", body = ErrorBody),
        (status = 503, description = "Webex Connect unreachable (`connect_unavailable`) or its webhook not configured (`not_configured`)", body = ErrorBody),
        (status = 504, description = "Webex Connect did not answer in time (`connect_timeout`)", body = ErrorBody),
    ))]
pub async fn start(
    caller: ApiCaller<Connect>,
    State(conversations): State<Conversations>,
    ApiJson(body): ApiJson<StartRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let contact_id = required("contactId", &body.contact_id)?;
    let channel = Channel::parse_field("channel", required("channel", &body.channel)?)?;
    let agent = conversations
        .agent_by_email("agentEmail", required("agentEmail", &body.agent_email)?)
        .await?;
    let attempt_id = body.attempt_id.as_deref().unwrap_or_default();
    // Keys' ids are their own: two callers never share an attempt.
    let attempt = AttemptKey::new(&format!("api:{}", caller.key.id), "attemptId", attempt_id)?;
    let template = body.template.map(|t| TemplateRequest {
        id: t.id.unwrap_or_default(),
        values: t.values,
    });
    let answer = |status, mode, session_id, outcome: StartTemplate| StartAnswer {
        status,
        mode,
        contact_id: contact_id.to_string(),
        channel,
        agent_email: agent.email.clone(),
        attempt_id: attempt_id.trim().to_string(),
        session_id,
        template: template.as_ref().map(|t| TemplateOutcome {
            id: t.id.trim().to_string(),
            sent: outcome == StartTemplate::Sent,
            not_sent_because: match outcome {
                StartTemplate::Sent => None,
                StartTemplate::WindowOpen => Some("window_open"),
                StartTemplate::AlreadySent => Some("already_sent"),
                StartTemplate::NotChosen => Some("repeat"),
            },
        }),
    };
    let mut headers = HeaderMap::new();
    let (status, body) = match conversations
        .start(
            &caller.audit(),
            &agent,
            contact_id,
            channel,
            &attempt,
            template.as_ref(),
        )
        .await
    {
        Ok(started) => {
            let outcome = started
                .template
                .as_ref()
                .map_or(StartTemplate::NotChosen, |(_, o)| *o);
            let mode = started.via.mode();
            let session_id = match started.via {
                Via::Native(session) => Some(session.id),
                Via::Connect => None,
            };
            if let Some(id) = &session_id {
                let location = format!("/api/v1/sessions/{id}");
                headers.insert(
                    header::LOCATION,
                    HeaderValue::from_str(&location).expect("ids are ASCII"),
                );
            }
            (
                StatusCode::CREATED,
                answer(StartStatus::Started, mode, session_id, outcome),
            )
        }
        Err(StartError::AlreadyStarted { session_id, .. }) => (
            StatusCode::OK,
            answer(
                StartStatus::AlreadyStarted,
                conversations.mode(),
                session_id,
                StartTemplate::NotChosen,
            ),
        ),
        Err(e) => return Err(e.into()),
    };
    Ok((status, headers, Json(body)))
}
