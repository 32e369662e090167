//! `/api/v1/privacy`: subject requests about a customer's phone number,
//! for keys with the `admin` scope. What is found, exported and erased is
//! decided in `store::privacy`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::contacts::query_params;
use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiCaller, ApiJson};
use domain::privacy::ErasureReport;
use domain::{FieldError, Msisdn};
use store::Store;

/// Whose data to erase: a phone number, or a contact (and so its number).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EraseRequest {
    /// The customer's phone number in any written form (`+447700900123`,
    /// `07700 900123`, WhatsApp's `447700900123`): every channel is erased.
    number: Option<String>,
    /// Instead of `number`: the contact whose number is erased.
    contact_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// The customer's phone number, in any written form.
    number: Option<String>,
}

fn parse_number(store: &Store, number: Option<&str>) -> Result<Msisdn, ApiError> {
    Msisdn::parse(number.unwrap_or_default(), store.rules().phone_region)
        .map_err(|why| FieldError::new("number", why).into())
}

/// Erase a customer: their contact, sessions, transcripts, cached media,
/// guest tokens, queued and past relay jobs and webhook dedup records, in one
/// transaction. Audit entries are kept with the number and name replaced by
/// `[erased]`; one `privacy.erase` entry (without the number) records it.
/// Erasing a number with nothing held answers 200 with zero counts.
#[utoipa::path(post, path = "/privacy/erase", tag = "privacy", request_body = EraseRequest,
    responses(
        (status = 200, description = "Erased: what was removed", body = ErasureReport),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `admin` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No contact with this `contactId`", body = ErrorBody),
        (status = 422, description = "`number` is missing or not a phone number, or both `number` and `contactId` were given (named in `field`); nothing was changed", body = ErrorBody),
    ))]
pub async fn erase(
    caller: ApiCaller<Admin>,
    State(store): State<Store>,
    ApiJson(request): ApiJson<EraseRequest>,
) -> Result<Json<ErasureReport>, ApiError> {
    let report = match (request.number.as_deref(), request.contact_id.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new("contactId", "give number or contactId, not both").into())
        }
        (None, Some(id)) => store.erase_contact(&caller.audit(), id).await?,
        (number, None) => {
            let msisdn = parse_number(&store, number)?;
            store.erase_customer(&caller.audit(), &msisdn).await?
        }
    };
    Ok(Json(report))
}

/// Export everything held about a phone number (a subject access request):
/// contacts, sessions, transcript lines, cached files' descriptions, guest
/// token expiries, relay jobs, webhook dedup records, start attempts and the
/// audit entries about them. Recorded in the audit log as `privacy.export`.
#[utoipa::path(get, path = "/privacy/export", tag = "privacy", params(ExportParams),
    responses(
        (status = 200, description = "Everything held, by kind (`held` has the counts)", body = Object),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `admin` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 422, description = "`number` is missing or not a phone number", body = ErrorBody),
    ))]
pub async fn export(
    caller: ApiCaller<Admin>,
    State(store): State<Store>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = query_params(params)?;
    let msisdn = parse_number(&store, params.number.as_deref())?;
    Ok(Json(store.export_customer(&caller.audit(), &msisdn).await?))
}
