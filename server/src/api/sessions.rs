//! `/api/v1/sessions`: which agent each customer on each channel is routed to.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::contacts::query_params;
use super::error::{ApiError, ErrorBody};
use super::extract::{query_u32, ApiCaller, ApiJson, Connect};
use domain::input::{NewSession, SessionChanges};
use domain::model::{Page, Session, SessionInput};
use store::{Paging, SessionQuery, Store, UpsertOutcome};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SessionListParams {
    /// `whatsapp` or `sms`.
    customer_channel: Option<String>,
    /// The customer's id on the channel (needs `customerChannel`).
    customer_channel_id: Option<String>,
    /// The guest's Webex person id.
    collab_guest_id: Option<String>,
    /// The agent's Webex id.
    collab_agent_id: Option<String>,
    /// Page number, from 1 (default 1).
    page: Option<String>,
    /// Page size, 1 to 100 (default 25).
    per_page: Option<String>,
}

/// List sessions, most recently updated first; the filters combine.
#[utoipa::path(get, path = "/sessions", tag = "sessions", params(SessionListParams),
    responses(
        (status = 200, description = "A page of sessions", body = Page<Session>),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 422, description = "A parameter is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn list(
    _caller: ApiCaller<Connect>,
    State(store): State<Store>,
    params: Result<Query<SessionListParams>, QueryRejection>,
) -> Result<Json<Page<Session>>, ApiError> {
    let p = query_params(params)?;
    let query = SessionQuery {
        customer_channel: p.customer_channel,
        customer_channel_id: p.customer_channel_id,
        collab_guest_id: p.collab_guest_id,
        collab_agent_id: p.collab_agent_id,
        paging: Some(Paging::new(
            query_u32("page", p.page.as_deref())?,
            query_u32("perPage", p.per_page.as_deref())?,
        )?),
    };
    Ok(Json(store.list_sessions(&query).await?))
}

/// Create the customer's session, or re-route the existing one.
///
/// A customer has at most one session per channel. When one exists, it is
/// updated to the agent in this request (the most recent agent wins) and the
/// answer is 200 with the same id; otherwise 201.
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = SessionInput,
    responses(
        (status = 201, description = "Created", body = Session),
        (status = 200, description = "The customer's existing session, re-routed", body = Session),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn create(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    ApiJson(input): ApiJson<SessionInput>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewSession::try_from((&input, store.rules().phone_region))?;
    let (session, outcome) = store.upsert_session(&caller.audit(), &new).await?;
    let status = match outcome {
        UpsertOutcome::Created => StatusCode::CREATED,
        UpsertOutcome::Updated => StatusCode::OK,
    };
    let location = format!("/api/v1/sessions/{}", session.id);
    Ok((status, [(header::LOCATION, location)], Json(session)))
}

/// Get one session.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = Session),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
    ))]
pub async fn get(
    _caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(store.session(&id).await?))
}

/// Update a session's agent, guest, extras, contact or status. Omitted
/// fields keep their value; the customer's channel and id cannot change.
#[utoipa::path(put, path = "/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "Session id")),
    request_body = SessionInput,
    responses(
        (status = 200, description = "Updated", body = Session),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn update(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SessionInput>,
) -> Result<Json<Session>, ApiError> {
    let changes = SessionChanges::try_from((&input, store.rules().phone_region))?;
    Ok(Json(
        store.update_session(&caller.audit(), &id, &changes).await?,
    ))
}

/// Delete a session: the customer's next message starts afresh.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
    ))]
pub async fn delete(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    store.delete_session(&caller.audit(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
