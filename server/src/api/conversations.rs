//! `/api/v1/conversations`: Start conversation for scripts and flows (the
//! same operation as the sidebar's buttons), and conversations as records
//! (search, create, append, close, reopen) for Connect flows.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use super::contacts::query_params;
use super::error::{ApiError, ErrorBody};
use super::extract::{query_u32, ApiCaller, ApiJson, Connect};
use domain::input::NewSession;
use domain::model::{ClosedBy, Conversation, Message, Page, SessionInput};
use domain::{Channel, FieldError};
use relay::conversations::{AttemptKey, Conversations, Mode, StartError, TemplateRequest, Via};
use relay::StartTemplate;
use store::{AppendedLine, ConversationQuery, Paging, Store};

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

// --- Conversations as records: the engage nodes' search, create, append,
// close and reopen, for Connect flows. Outcomes are status codes.

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// `whatsapp` or `sms`.
    customer_channel: Option<String>,
    /// The customer's number (needs `customerChannel`).
    customer_channel_id: Option<String>,
    /// The contact's id.
    contact_id: Option<String>,
    /// The agent engaged (email or Webex person id, as in sessions).
    collab_agent_id: Option<String>,
    /// `open` or `closed`.
    status: Option<String>,
    /// Page number, from 1 (default 1).
    page: Option<String>,
    /// Page size, 1 to 100 (default 25).
    per_page: Option<String>,
}

/// Search conversations (the Search Conversation node), most recently
/// opened first; the filters combine. None found is an empty page.
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(SearchParams),
    responses(
        (status = 200, description = "A page of conversations", body = Page<Conversation>),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 422, description = "A parameter is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn search(
    _caller: ApiCaller<Connect>,
    State(store): State<Store>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Page<Conversation>>, ApiError> {
    let p = query_params(params)?;
    let query = ConversationQuery {
        customer_channel: p.customer_channel,
        customer_channel_id: p.customer_channel_id,
        contact_id: p.contact_id,
        agent: p.collab_agent_id,
        status: p.status,
        visible_to: None,
        session_id: None,
        paging: Some(Paging::new(
            query_u32("page", p.page.as_deref())?,
            query_u32("perPage", p.per_page.as_deref())?,
        )?),
    };
    Ok(Json(store.conversations(&query).await?))
}

/// Body of `POST /conversations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    /// `whatsapp` or `sms`.
    #[schema(value_type = Channel)]
    pub customer_channel: Option<String>,
    /// The customer's number.
    #[schema(example = "+447700900123")]
    pub customer_channel_id: Option<String>,
    /// The agent engaged (email or Webex person id).
    pub collab_agent_id: Option<String>,
    /// The contact, when known.
    pub contact_id: Option<String>,
}

/// Create a conversation (the Create Conversation node): the customer's
/// session is created or routed to the agent, as `POST /sessions` does, and
/// a conversation opens. Refused while the customer has an open one on the
/// channel (409 `duplicate`, its id in `existingId`): search, then append.
#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = CreateRequest,
    responses(
        (status = 201, description = "Opened", body = Conversation),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 409, description = "The customer has an open conversation on the channel (`duplicate`, `existingId`)", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn create(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let input = SessionInput {
        customer_channel: body.customer_channel,
        customer_channel_id: body.customer_channel_id,
        collab_agent_id: body.collab_agent_id,
        contact_id: body.contact_id,
        ..Default::default()
    };
    let new = NewSession::try_from((&input, store.rules().phone_region))?;
    let conversation = store.create_conversation(&caller.audit(), &new).await?;
    let location = format!("/api/v1/conversations/{}", conversation.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(conversation),
    ))
}

/// A conversation and its transcript.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: Conversation,
    /// Oldest first.
    pub messages: Vec<Message>,
}

/// Get a conversation with its transcript (open or closed).
#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation and its messages", body = ConversationDetail),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
    ))]
pub async fn get(
    _caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let conversation = store.conversation(&id).await?;
    let messages = store.conversation_messages(&id).await?;
    Ok(Json(ConversationDetail {
        conversation,
        messages,
    }))
}

/// Body of `POST /conversations/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppendRequest {
    /// `inbound` (the customer wrote it) or `outbound` (sent to them).
    #[schema(example = "inbound")]
    pub direction: Option<String>,
    /// The message, at most 4096 characters.
    pub text: Option<String>,
    /// The flow's transaction id: the same one again adds nothing (200).
    pub transid: Option<String>,
}

/// Append a message to an open conversation's transcript (the Append
/// Message node): what a Connect flow relayed itself. It is recorded, not
/// sent. Retrying with the same `transid` answers the first line (200).
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = AppendRequest,
    responses(
        (status = 201, description = "Added", body = Message),
        (status = 200, description = "Added earlier with this `transid`; nothing was added", body = Message),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 409, description = "The conversation is closed (`conversation_closed`)", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn append(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AppendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let line = AppendedLine::parse(
        body.direction.as_deref(),
        body.text.as_deref(),
        body.transid.as_deref(),
    )?;
    let (message, added) = store
        .append_to_conversation(&caller.audit(), &id, &line)
        .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)))
}

/// Body of `POST /conversations/{id}/close`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloseRequest {
    /// Why, in a few words (at most 500 characters), e.g. `resolved`.
    pub reason: Option<String>,
}

/// Close a conversation (the Close Conversation node). The customer's
/// session ends with it: the agent's messages no longer reach them, and
/// their next message is answered with "this conversation has ended".
#[utoipa::path(post, path = "/conversations/{id}/close", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")), request_body = CloseRequest,
    responses(
        (status = 200, description = "Closed (`closedBy: api`)", body = Conversation),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 409, description = "Already closed (`conversation_closed`)", body = ErrorBody),
        (status = 422, description = "The reason is invalid", body = ErrorBody),
    ))]
pub async fn close(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CloseRequest>,
) -> Result<Json<Conversation>, ApiError> {
    let reason = store::close_reason(body.reason.as_deref())?;
    Ok(Json(
        store
            .close_conversation(&caller.audit(), &id, ClosedBy::Api, reason.as_deref())
            .await?,
    ))
}

/// Reopen a closed conversation (the Re-open Conversation node), with its
/// agent: the customer's session is active again. Only the customer's
/// latest conversation can be reopened, and not while they are opted out.
#[utoipa::path(post, path = "/conversations/{id}/reopen", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "Open again (`reopenedAt`)", body = Conversation),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 409, description = "Already open (`conversation_open`), the customer has a newer one (`newer_conversation`) or opted out (`opted_out`)", body = ErrorBody),
    ))]
pub async fn reopen(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(store.reopen_conversation(&caller.audit(), &id).await?))
}
