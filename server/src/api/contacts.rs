//! `/api/v1/contacts`: the Contact Manager's contacts, for Webex Connect flows
//! and scripts.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{query_u32, ApiCaller, ApiJson, Connect};
use domain::input::{ContactChanges, NewContact};
use domain::model::{Contact, ContactInput, Customer, Page};
use domain::{Channel, FieldError, Msisdn};
use store::{ContactQuery, Paging, Store};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ContactListParams {
    /// Search: part of the name, or digits of the phone number.
    q: Option<String>,
    /// Page number, from 1 (default 1).
    page: Option<String>,
    /// Page size, 1 to 100 (default 25).
    per_page: Option<String>,
    /// Look up the contact with this phone number (any written form).
    msisdn: Option<String>,
    /// With `channelId`: look up the contact reached by this id on this channel.
    channel: Option<String>,
    /// The customer's id on `channel` (WhatsApp: digits; SMS: +E.164; either form works).
    channel_id: Option<String>,
}

pub(super) fn query_params<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::Invalid(domain::FieldError::new("query", e.body_text())))
}

/// List or search contacts, or look one up by phone number or channel id.
///
/// Lookups (`msisdn`, or `channel` + `channelId`) answer a page with zero or one item.
#[utoipa::path(get, path = "/contacts", tag = "contacts", params(ContactListParams),
    responses(
        (status = 200, description = "A page of contacts, sorted by name", body = Page<Contact>),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 422, description = "A parameter is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn list(
    _caller: ApiCaller<Connect>,
    State(store): State<Store>,
    params: Result<Query<ContactListParams>, QueryRejection>,
) -> Result<Json<Page<Contact>>, ApiError> {
    let p = query_params(params)?;
    let paging = Paging::new(
        query_u32("page", p.page.as_deref())?,
        query_u32("perPage", p.per_page.as_deref())?,
    )?;
    let single = |found: Option<Contact>| Page {
        total: i64::from(found.is_some()),
        items: found.into_iter().collect(),
        page: 1,
        per_page: paging.per_page,
    };
    let region = store.rules().phone_region;
    if let Some(msisdn) = p.msisdn.as_deref() {
        let msisdn = Msisdn::parse(msisdn, region).map_err(|why| FieldError::new("msisdn", why))?;
        return Ok(Json(single(store.contact_by_msisdn(&msisdn).await?)));
    }
    match (p.channel.as_deref(), p.channel_id.as_deref()) {
        (Some(channel), Some(id)) => {
            let channel = Channel::parse_field("channel", channel)?;
            let customer = Customer::parse(channel, "channelId", id, region)?;
            return Ok(Json(single(store.contact_by_channel(&customer).await?)));
        }
        (Some(_), None) => {
            return Err(FieldError::new("channelId", "is required with channel").into())
        }
        (None, Some(_)) => {
            return Err(FieldError::new("channel", "is required with channelId").into())
        }
        (None, None) => {}
    }
    let query = ContactQuery {
        q: p.q,
        paging: Some(paging),
        owner_agent_id: None,
    };
    Ok(Json(store.list_contacts(&query).await?))
}

/// Create a contact. The phone number is normalized to E.164; a number that
/// already belongs to a contact answers 409 with that contact's id.
#[utoipa::path(post, path = "/contacts", tag = "contacts", request_body = ContactInput,
    responses(
        (status = 201, description = "Created", body = Contact),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 409, description = "A contact with this number exists (`existingId`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn create(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewContact::try_from((&input, store.rules().phone_region))?;
    let contact = store.create_contact(&caller.audit(), &new).await?;
    let location = format!("/api/v1/contacts/{}", contact.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(contact),
    ))
}

/// Get one contact.
#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "Contact id")),
    responses(
        (status = 200, description = "The contact", body = Contact),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such contact", body = ErrorBody),
    ))]
pub async fn get(
    _caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<Json<Contact>, ApiError> {
    Ok(Json(store.contact(&id).await?))
}

/// Update a contact. Omitted fields keep their value. When `version` is sent
/// and is not the stored version, nothing changes and 409 returns the current record.
#[utoipa::path(put, path = "/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "Contact id")),
    request_body = ContactInput,
    responses(
        (status = 200, description = "Updated", body = Contact),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such contact", body = ErrorBody),
        (status = 409, description = "Stale `version` (`current` holds the record) or number taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn update(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<Json<Contact>, ApiError> {
    let changes = ContactChanges::try_from((&input, store.rules().phone_region))?;
    Ok(Json(
        store.update_contact(&caller.audit(), &id, &changes).await?,
    ))
}

/// Delete a contact. Sessions that pointed at it keep routing, without a contact.
#[utoipa::path(delete, path = "/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "Contact id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such contact", body = ErrorBody),
    ))]
pub async fn delete(
    caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    store.delete_contact(&caller.audit(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
