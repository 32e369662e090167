//! Services that Webex Connect flows call in Connect-orchestrated mode (and
//! that work in native mode too): guest JWTs and tokens (seed "Webex Guest
//! Auth"), and caching a Webex file at a public URL.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiCaller, ApiJson, Services};
use crate::state::AppState;
use domain::input::text;
use domain::model::Customer;
use domain::{Channel, FieldError};
use platform::webex::guest_subject;
use store::format_ms;

/// Body of `POST /guests/token`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuestTokenRequest {
    /// `whatsapp` or `sms`.
    #[schema(value_type = Channel)]
    pub channel: Option<String>,
    /// The customer's id on the channel: a phone number in any written form
    /// (WhatsApp `447700900123`, SMS `+447700900123`).
    #[schema(example = "447700900123")]
    pub channel_id: Option<String>,
    /// The guest's display name in Webex (default: the channel id).
    #[schema(example = "Mr Doe")]
    pub name: Option<String>,
    /// Also exchange the JWT for an access token (cached: repeated calls
    /// reuse it while more than 5 minutes of it remain). With Service App
    /// guests there is no JWT and the access token is always returned.
    #[serde(default)]
    pub exchange: bool,
}

/// A guest's JWT (Guest Issuer guests), and the access token when
/// `exchange` was asked for or guests come from a Service App.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuestToken {
    /// `{channel}_{channelId}` without `+`: the guest's subject (the JWT's `sub`).
    #[schema(example = "whatsapp_447700900123")]
    pub subject: String,
    /// Guest Issuer JWT (HS256; `sub`, `name`, `iss`, `exp`), for `POST /v1/jwt/login`
    /// (only with `CM_WEBEX_GUESTS=guest_issuer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_expires_at: Option<String>,
    /// Webex access token of the guest (with `exchange: true`, or Service App guests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<String>,
}

const NAME_MAX: usize = 200;

/// Get a customer's Webex guest access token (and, with a Guest Issuer, the
/// guest JWT) for a channel (seed "Webex Guest Auth").
///
/// The same channel and id are always the same Webex guest. With Service
/// App guests (`CM_WEBEX_GUESTS=service_app`, the default) the access token
/// is always returned and there is no JWT; with a Guest Issuer the JWT is
/// returned, and exchanged for an access token when `exchange` is true.
/// Access tokens are cached per guest and reused while more than 5 minutes
/// of them remain, so repeated calls do not log in again.
#[utoipa::path(post, path = "/guests/token", tag = "services", request_body = GuestTokenRequest,
    responses(
        (status = 200, description = "The guest's JWT (and access token)", body = GuestToken),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `services` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
        (status = 502, description = "Webex refused the guest login (`webex_refused`: check the Service App or Guest Issuer settings)", body = ErrorBody),
        (status = 503, description = "Not configured (`not_configured`) or Webex unavailable (`webex_unavailable`, with `Retry-After` when known)", body = ErrorBody),
    ))]
pub async fn guest_token(
    _caller: ApiCaller<Services>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GuestTokenRequest>,
) -> Result<Json<GuestToken>, ApiError> {
    let channel = match body.channel.as_deref().map(str::trim) {
        None | Some("") => return Err(FieldError::new("channel", "is required").into()),
        Some(c) => Channel::parse_field("channel", c)?,
    };
    let raw_id = body.channel_id.as_deref().unwrap_or_default();
    if raw_id.trim().is_empty() {
        return Err(FieldError::new("channelId", "is required").into());
    }
    let region = state.store.rules().phone_region;
    let channel_id = Customer::parse(channel, "channelId", raw_id, region)?.id;
    let name = text("name", body.name.as_deref(), NAME_MAX)?.unwrap_or_default();
    let guests = state.guests.as_ref().ok_or_else(|| {
        ApiError::NotConfigured(
            "guest tokens need CM_WEBEX_API_URL and a guest app: CM_SERVICE_APP_CLIENT_ID, CM_SERVICE_APP_CLIENT_SECRET and CM_SERVICE_APP_REFRESH_TOKEN (or CM_WEBEX_GUESTS=guest_issuer with CM_GUEST_ISSUER_ID and CM_GUEST_ISSUER_SECRET)"
                .into(),
        )
    })?;
    let jwt = guests.jwt(channel, &channel_id, &name);
    let mut answer = GuestToken {
        subject: guest_subject(channel, &channel_id),
        jwt_expires_at: jwt.as_ref().map(|j| format_ms(j.expires_at_ms)),
        jwt: jwt.map(|j| j.jwt),
        access_token: None,
        access_token_expires_at: None,
    };
    if body.exchange || answer.jwt.is_none() {
        let token = guests
            .access_token(channel, &channel_id, &name)
            .await
            .map_err(ApiError::Guest)?;
        answer.access_token_expires_at = Some(format_ms(token.expires_at_ms));
        answer.access_token = Some(token.token);
    }
    Ok(Json(answer))
}

/// Body of `POST /attachments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachmentRequest {
    /// A Webex file URL, `{CM_WEBEX_API_URL}/contents/{id}` (a message's `files[]` entry).
    #[schema(example = "https://webexapis.com/v1/contents/Y2lzY29zcGFyazovL3VzL0NPTlRFTlQv")]
    pub url: Option<String>,
    /// A Webex access token that can read the file (the guest's or the agent's).
    pub token: Option<String>,
}

/// A cached file and its public URL.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CachedAttachment {
    /// `{CM_PUBLIC_URL}/media/{id}/{filename}`: public and unguessable, until `expiresAt`.
    pub url: String,
    #[schema(example = "image/jpeg")]
    pub mime_type: String,
    /// Bytes.
    pub size: u64,
    #[schema(example = "photo.jpg")]
    pub filename: String,
    pub expires_at: String,
}

/// Fetch a Webex file and serve it at a public URL (for WhatsApp, MMS and
/// Connect, which cannot present a Webex token).
///
/// Only Webex file URLs are fetched (the Webex API's origin and
/// `CM_FETCH_ALLOWED_HOSTS_WEBEX`; redirects elsewhere are refused). While Webex scans the file for malware
/// (423), the call waits, honouring `Retry-After`, up to
/// `CM_MEDIA_SCAN_WAIT_SECONDS`, then answers 503 `file_scanning` with
/// `Retry-After`. Infected files (410) answer 422 `file_infected`; files
/// Webex cannot scan (428) 422 `file_unscannable`; files over
/// `CM_MEDIA_MAX_BYTES` 413 `file_too_large`. Cached files expire after
/// `CM_MEDIA_TTL_SECONDS`. When `CM_MEDIA_MAX_CONCURRENT` transfers are
/// already running, 503 `media_busy` with `Retry-After`.
#[utoipa::path(post, path = "/attachments", tag = "services", request_body = AttachmentRequest,
    responses(
        (status = 201, description = "Cached", body = CachedAttachment),
        (status = 400, description = "Malformed JSON, or `url` is not a Webex file URL (`url_not_allowed`)", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `services` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 413, description = "The file is over `CM_MEDIA_MAX_BYTES` (`file_too_large`)", body = ErrorBody),
        (status = 422, description = "A field is invalid, the file is infected (`file_infected`) or cannot be scanned (`file_unscannable`), or Webex refused the token or URL (`webex_refused`)", body = ErrorBody),
        (status = 503, description = "Still being scanned (`file_scanning`), too many transfers (`media_busy`), Webex unavailable (`webex_unavailable`) or not configured (`not_configured`); see `Retry-After`", body = ErrorBody),
    ))]
pub async fn cache_attachment(
    _caller: ApiCaller<Services>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AttachmentRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let url = body.url.as_deref().map(str::trim).unwrap_or_default();
    if url.is_empty() {
        return Err(FieldError::new("url", "is required").into());
    }
    let token = body.token.as_deref().map(str::trim).unwrap_or_default();
    if token.is_empty() {
        return Err(FieldError::new("token", "is required").into());
    }
    let media = state.media.as_ref().ok_or_else(|| {
        ApiError::NotConfigured("the attachment cache needs CM_WEBEX_API_URL".into())
    })?;
    let cached = media.cache(url, token).await.map_err(ApiError::Media)?;
    let location = cached.url.clone();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(CachedAttachment {
            url: cached.url,
            mime_type: cached.mime_type,
            size: cached.size,
            filename: cached.filename,
            expires_at: format_ms(cached.expires_at_ms),
        }),
    ))
}
