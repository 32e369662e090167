//! Who is calling: Bearer access tokens, the Guest Issuer JWT exchange and
//! the OAuth authorization-code stand-in for agents.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use base64::Engine;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::state::{
    random_token, service_app_person_id, stable_uuid, timestamp, webex_id, GuestOf, GuestSource,
    OAuthCode, Person, PersonType, Shared,
};

/// Guest access tokens last about six hours, as the guest issuer CLI says.
pub const GUEST_TOKEN_LIFETIME: i64 = 21599;
/// Integration access tokens: 14 days; refresh tokens: 90 days (Webex values).
const AGENT_TOKEN_SECONDS: i64 = 1_209_599;
const REFRESH_TOKEN_SECONDS: i64 = 7_775_999;

/// The authenticated caller of a Webex API route.
pub struct Caller(pub Person);

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sandbox: &Shared) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let world = sandbox.world();
        let access = world.tokens.get(token).ok_or_else(ApiError::unauthorized)?;
        if access.expires_at <= Utc::now() {
            return Err(ApiError::unauthorized());
        }
        let person = world
            .person(&access.person_id)
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller(person.clone()))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

/// A Webex Person object.
pub fn people_json(person: &Person) -> Value {
    json!({
        "id": person.id,
        "emails": [person.email],
        "phoneNumbers": [],
        "displayName": person.display_name,
        "nickName": person.display_name.split(' ').next().unwrap_or_default(),
        "orgId": crate::state::org_id(),
        "created": timestamp(person.created),
        "type": person.kind,
    })
}

#[derive(Deserialize)]
struct GuestClaims {
    sub: String,
    name: String,
    iss: String,
    exp: i64,
}

/// `POST /jwt/login`: exchanges a Guest Issuer JWT (in the Authorization
/// header) for a guest access token.
pub async fn jwt_login(
    State(sandbox): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let jwt = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(sandbox.config.guest_issuer_secret_b64.trim())
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Issuer secret is not base64",
            )
        })?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // exp is checked below with zero leeway; iat is tolerated but not required.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<GuestClaims>(
        jwt,
        &jsonwebtoken::DecodingKey::from_secret(&secret),
        &validation,
    )
    .map_err(|e| invalid_jwt(&format!("JWT rejected: {e}")))?
    .claims;
    if claims.iss != sandbox.config.guest_issuer_id {
        return Err(invalid_jwt("Unknown guest issuer"));
    }
    if claims.exp <= Utc::now().timestamp() {
        return Err(invalid_jwt("JWT has expired"));
    }
    if claims.sub.is_empty() || claims.name.is_empty() {
        return Err(invalid_jwt("JWT needs sub and name"));
    }
    // The issuer is the configured one (checked above).
    let (_, token) = login_guest(
        &sandbox,
        GuestSource::GuestIssuer,
        &claims.sub,
        claims.name,
        GUEST_TOKEN_LIFETIME,
    );
    Ok(Json(
        json!({"token": token, "expiresIn": GUEST_TOKEN_LIFETIME}),
    ))
}

/// The guest of (source, subject), created on first login, and a fresh token
/// valid for `lifetime` seconds. Ids derive from the issuer (the Guest Issuer
/// id or the Service App's client id) and the subject, so they survive resets
/// and restarts, and the two sources never share a guest. A new name renames
/// the guest; earlier tokens stay valid.
pub fn login_guest(
    sandbox: &Shared,
    source: GuestSource,
    subject: &str,
    name: String,
    lifetime: i64,
) -> (Person, String) {
    let config = &sandbox.config;
    let id_seed = match source {
        GuestSource::GuestIssuer => format!("guest:{}:{subject}", config.guest_issuer_id),
        GuestSource::ServiceApp => {
            format!(
                "service-app-guest:{}:{subject}",
                config.service_app_client_id
            )
        }
    };
    let person_id = webex_id("PEOPLE", &stable_uuid(&id_seed));
    let mut world = sandbox.world();
    let index = match world.people.iter().position(|p| p.id == person_id) {
        Some(index) => index,
        None => {
            world.people.push(Person {
                id: person_id.clone(),
                email: format!(
                    "{}@appid.ciscospark.com",
                    stable_uuid(&format!("{id_seed}:email"))
                ),
                display_name: String::new(),
                kind: PersonType::Appuser,
                created: Utc::now(),
                guest_of: Some(GuestOf {
                    source,
                    subject: subject.to_string(),
                }),
            });
            world.people.len() - 1
        }
    };
    world.people[index].display_name = name;
    let person = world.people[index].clone();
    let token = world.issue_token(&person_id, lifetime);
    (person, token)
}

fn invalid_jwt(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

#[derive(Deserialize)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// `GET /authorize`: a plain page where a person picks the agent who signs in.
pub async fn authorize_page(
    State(sandbox): State<Shared>,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    if q.client_id.as_deref() != Some(sandbox.config.oauth_client_id.as_str()) {
        return (StatusCode::BAD_REQUEST, Html("<h1>Unknown client_id</h1>")).into_response();
    }
    if q.response_type.as_deref() != Some("code") || q.redirect_uri.is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Html("<h1>response_type=code and redirect_uri are required</h1>"),
        )
            .into_response();
    }
    if let Err(e) = pkce_method(&q.code_challenge, &q.code_challenge_method) {
        return (
            StatusCode::BAD_REQUEST,
            Html(format!("<h1>{}</h1>", escape_html(&e))),
        )
            .into_response();
    }
    let hidden = |name: &str, value: &Option<String>| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            escape_html(value.as_deref().unwrap_or_default())
        )
    };
    let mut buttons = String::new();
    for person in sandbox
        .world()
        .people
        .iter()
        .filter(|p| p.kind == PersonType::Person)
    {
        buttons.push_str(&format!(
            r#"<li><button type="submit" name="email" value="{}">Sign in as {}</button></li>"#,
            escape_html(&person.email),
            escape_html(&person.display_name)
        ));
    }
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox Webex sign-in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:1rem auto;padding:0 1rem}}
ul{{list-style:none;padding:0}}button{{font-size:1rem;padding:.6rem 1rem;margin:.3rem 0;width:100%}}</style></head>
<body><main><h1>Sandbox Webex sign-in</h1>
<p>Choose who signs in to this application (scope: {scope}).</p>
<form method="post">{client}{redirect}{state}{challenge}{method}<ul>{buttons}</ul></form></main></body></html>"#,
        scope = escape_html(q.scope.as_deref().unwrap_or_default()),
        client = hidden("client_id", &q.client_id),
        redirect = hidden("redirect_uri", &q.redirect_uri),
        state = hidden("state", &q.state),
        challenge = hidden("code_challenge", &q.code_challenge),
        method = hidden("code_challenge_method", &q.code_challenge_method),
    ))
    .into_response()
}

#[derive(Deserialize)]
pub struct AuthorizeForm {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    email: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// `POST /authorize`: the person chose; redirect back with a one-time code.
pub async fn authorize_submit(
    State(sandbox): State<Shared>,
    Form(form): Form<AuthorizeForm>,
) -> Result<Response, ApiError> {
    if form.client_id != sandbox.config.oauth_client_id {
        return Err(ApiError::bad_request("Unknown client_id"));
    }
    let code_challenge = pkce_method(&form.code_challenge, &form.code_challenge_method)
        .map_err(|e| ApiError::bad_request(&e))?;
    let mut world = sandbox.world();
    let person_id = world
        .person_by_email(&form.email)
        .filter(|p| p.kind == PersonType::Person)
        .map(|p| p.id.clone())
        .ok_or_else(|| ApiError::bad_request("Unknown agent"))?;
    let code = random_token(24);
    world.oauth_codes.insert(
        code.clone(),
        OAuthCode {
            person_id,
            redirect_uri: form.redirect_uri.clone(),
            code_challenge,
        },
    );
    let separator = if form.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut location = format!("{}{separator}code={code}", form.redirect_uri);
    if let Some(state) = form.state.filter(|s| !s.is_empty()) {
        location.push_str(&format!("&state={}", percent_encode(&state)));
    }
    Ok(Redirect::to(&location).into_response())
}

#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: String,
    client_id: String,
    client_secret: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
    code_verifier: Option<String>,
}

/// `POST /access_token`: authorization_code and refresh_token grants for the
/// integration (agents), and the refresh_token grant for the Service App.
pub async fn access_token(
    State(sandbox): State<Shared>,
    Form(form): Form<TokenForm>,
) -> Result<Json<Value>, ApiError> {
    if let Some(person_id) = service_app_person_id(&sandbox.config) {
        if form.client_id == sandbox.config.service_app_client_id {
            return service_app_token(&sandbox, &person_id, &form).map(Json);
        }
    }
    if form.client_id != sandbox.config.oauth_client_id
        || form.client_secret != sandbox.config.oauth_client_secret
    {
        return Err(ApiError::unauthorized());
    }
    let mut world = sandbox.world();
    let person_id = match form.grant_type.as_str() {
        "authorization_code" => {
            let code = form.code.as_deref().unwrap_or_default();
            // Codes are single use, like Webex's.
            let grant = world
                .oauth_codes
                .remove(code)
                .ok_or_else(|| ApiError::bad_request("Invalid authorization code"))?;
            if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
                return Err(ApiError::bad_request("redirect_uri does not match"));
            }
            if let Some((challenge, method)) = &grant.code_challenge {
                let verifier = form
                    .code_verifier
                    .as_deref()
                    .ok_or_else(|| ApiError::bad_request("code_verifier is required (PKCE)"))?;
                if !pkce_matches(challenge, method, verifier) {
                    return Err(ApiError::bad_request("code_verifier does not match (PKCE)"));
                }
            }
            grant.person_id
        }
        "refresh_token" => {
            let refresh = form.refresh_token.as_deref().unwrap_or_default();
            world
                .refresh_tokens
                .get(refresh)
                .cloned()
                .ok_or_else(|| ApiError::bad_request("Invalid refresh token"))?
        }
        _ => return Err(ApiError::bad_request("Unsupported grant_type")),
    };
    Ok(Json(token_response(&mut world, &person_id)))
}

/// The Service App's refresh grant. Its first tokens come from the developer
/// portal once an admin authorizes it, so only `refresh_token` is accepted,
/// and only with the configured refresh token, which stays valid and is
/// answered back (Webex keeps a refresh token that is in use alive).
fn service_app_token(
    sandbox: &Shared,
    person_id: &str,
    form: &TokenForm,
) -> Result<Value, ApiError> {
    let config = &sandbox.config;
    if form.client_secret != config.service_app_client_secret {
        return Err(ApiError::unauthorized());
    }
    if form.grant_type != "refresh_token" {
        return Err(ApiError::bad_request("Unsupported grant_type"));
    }
    if form.refresh_token.as_deref() != Some(config.service_app_refresh_token.as_str()) {
        return Err(ApiError::bad_request("Invalid refresh token"));
    }
    let access = sandbox.world().issue_token(person_id, AGENT_TOKEN_SECONDS);
    Ok(token_json(&access, &config.service_app_refresh_token))
}

/// Issues an agent's access and refresh tokens, in Webex's response shape.
pub fn token_response(world: &mut crate::state::World, person_id: &str) -> Value {
    let access = world.issue_token(person_id, AGENT_TOKEN_SECONDS);
    let refresh = random_token(32);
    world
        .refresh_tokens
        .insert(refresh.clone(), person_id.to_string());
    token_json(&access, &refresh)
}

fn token_json(access: &str, refresh: &str) -> Value {
    json!({
        "access_token": access,
        "expires_in": AGENT_TOKEN_SECONDS,
        "refresh_token": refresh,
        "refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
        "token_type": "Bearer",
    })
}

/// PKCE at `/authorize` (RFC 7636 §4.3): the challenge and its method
/// (`S256`, or `plain`, the default), or none at all.
fn pkce_method(
    challenge: &Option<String>,
    method: &Option<String>,
) -> Result<Option<(String, String)>, String> {
    let challenge = challenge.as_deref().filter(|c| !c.is_empty());
    let method = method.as_deref().filter(|m| !m.is_empty());
    match (challenge, method) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("code_challenge_method without code_challenge".into()),
        (Some(c), m) => {
            let m = m.unwrap_or("plain");
            if !matches!(m, "S256" | "plain") {
                return Err(format!("Unsupported code_challenge_method {m}"));
            }
            // 43 to 128 characters of the unreserved set (RFC 7636 §4.1, §4.2).
            let well_formed = (43..=128).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed {
                return Err("Malformed code_challenge".into());
            }
            Ok(Some((c.to_string(), m.to_string())))
        }
    }
}

/// RFC 7636 §4.6: `S256` compares BASE64URL(SHA256(verifier)) with the challenge.
fn pkce_matches(challenge: &str, method: &str, verifier: &str) -> bool {
    let derived = match method {
        "S256" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            verifier.as_bytes(),
        )),
        _ => verifier.to_string(),
    };
    !verifier.is_empty() && derived == challenge
}

pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(challenge, "S256", verifier));
        assert!(!pkce_matches(challenge, "S256", "another-verifier"));
        assert!(!pkce_matches(challenge, "S256", ""));
        assert_eq!(
            pkce_method(&Some(challenge.into()), &Some("S256".into())).unwrap(),
            Some((challenge.to_string(), "S256".to_string()))
        );
        assert!(pkce_method(&Some(challenge.into()), &Some("S512".into())).is_err());
        assert!(pkce_method(&Some("short".into()), &None).is_err());
        assert_eq!(pkce_method(&None, &None).unwrap(), None);
    }
}
