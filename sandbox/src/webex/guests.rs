//! Service App guest management, as documented at
//! developer.webex.com/docs/api/v1/guests-management: `POST /guests/token`
//! creates (or finds) a guest and gives it a new token; `GET /guests/count`
//! counts the Service App's guests. Only the Service App's own token may call
//! them. Its guests are ordinary `appuser` people, made by the same code as
//! the Guest Issuer's (`auth::login_guest`), so every other route serves them.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{login_guest, Caller};
use super::error::ApiError;
use crate::state::{service_app_person_id, GuestSource, Person, Shared};

/// The `expiresIn` of the documented example (about 18 hours).
pub const SERVICE_APP_GUEST_TOKEN_LIFETIME: i64 = 64799;

/// The guest-issuer scopes belong to the Service App alone: any other valid
/// token (agent or guest) is refused with 403, as a token lacking a scope is.
fn require_service_app(sandbox: &Shared, caller: &Person, scope: &str) -> Result<(), ApiError> {
    if service_app_person_id(&sandbox.config).as_deref() == Some(caller.id.as_str()) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "The access token does not have the {scope} scope: only the Service App manages guests."
    )))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateGuest {
    subject: Option<String>,
    display_name: Option<String>,
}

/// `POST /guests/token {"subject", "displayName"}`. The same subject is the
/// same guest every time; a new displayName renames it; earlier tokens stay
/// valid (each call adds one).
pub async fn create_token(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    require_service_app(&sandbox, &caller, "guest-issuer:write")?;
    let req: CreateGuest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))?;
    let subject = required(req.subject, "subject")?;
    let display_name = required(req.display_name, "displayName")?;
    let (guest, token) = login_guest(
        &sandbox,
        GuestSource::ServiceApp,
        &subject,
        display_name,
        SERVICE_APP_GUEST_TOKEN_LIFETIME,
    );
    Ok(Json(json!({
        "id": guest.id,
        "subject": subject,
        "displayName": guest.display_name,
        "email": guest.email,
        "accessToken": token,
        "expiresIn": SERVICE_APP_GUEST_TOKEN_LIFETIME,
    })))
}

/// Both body fields are required by the documented schema.
fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{field} is required and must not be blank.")))
}

/// `GET /guests/count`: the Service App's guests (its own pool; Guest Issuer
/// guests are not counted). The reference names no field for the number, so
/// the answer is `{"count": N}` (see docs/sandbox.md).
pub async fn count(
    State(sandbox): State<Shared>,
    Caller(caller): Caller,
) -> Result<Json<Value>, ApiError> {
    require_service_app(&sandbox, &caller, "guest-issuer:read")?;
    let world = sandbox.world();
    let count = world
        .people
        .iter()
        .filter(|p| {
            p.guest_of
                .as_ref()
                .is_some_and(|g| g.source == GuestSource::ServiceApp)
        })
        .count();
    Ok(Json(json!({ "count": count })))
}
