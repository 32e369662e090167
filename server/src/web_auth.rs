//! Browser sign-in plumbing: the session cookie becomes a `WebSession`
//! request extension; state-changing browser requests must come from our own
//! origin; "Sign in with Webex" (OAuth code flow) and the Embedded App
//! identity token end in the same server-side session as a local password.

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::state::AppState;
use app::ssr::{cookie_value, open_web_session, safe_next};

/// Reads the session cookie and, when it names a live session, puts the
/// `WebSession` into the request for pages and server functions.
pub async fn resolve_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(token) = cookie_value(req.headers(), state.session_policy.cookie_name) {
        match state
            .store
            .web_session(&token, state.session_policy.idle.as_millis() as i64)
            .await
        {
            Ok(Some(session)) => {
                req.extensions_mut().insert(session);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not look up a browser session"),
        }
    }
    next.run(req).await
}

/// Cross-site request forgery defence, part one: a state-changing request
/// from a browser must carry an Origin (or Referer) of this site. Server
/// functions also check the per-session token. Only the people's routes
/// pass through here (`startup::router`): the API (key auth) and the
/// webhooks are machines' routes.
pub async fn same_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    if unsafe_method && !origin_allowed(req.headers(), &state.integrations.public_url) {
        tracing::warn!(path, "refused a cross-site state-changing request");
        return (
            StatusCode::FORBIDDEN,
            "cross-site request refused: reload the page and try again",
        )
            .into_response();
    }
    next.run(req).await
}

/// `scheme://host[:port]` of a URL, lower-cased.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

fn origin_allowed(headers: &HeaderMap, public_url: &str) -> bool {
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .and_then(origin_of);
    let Some(claimed) = claimed else { return false };
    // Our public origin, or the Host the browser used (e.g. localhost vs 127.0.0.1).
    let host_origin = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            let scheme = public_url.split("://").next().unwrap_or("http");
            format!("{scheme}://{}", h.to_ascii_lowercase())
        });
    Some(&claimed) == origin_of(public_url).as_ref() || Some(&claimed) == host_origin.as_ref()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/webex/start", get(webex_start))
        .route("/auth/webex/callback", get(webex_callback))
        .route("/auth/embedded", post(embedded_sign_in))
        .route("/embedded", get(crate::embedded::page))
        .route("/embedded.js", get(crate::embedded::script))
}

const STATE_COOKIE: &str = "cm_oauth_state";

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

fn sign_in_error(message: &str) -> Response {
    let query = app::ssr::encode_query(&[("error", message)]);
    Redirect::to(&format!("/sign-in?{query}")).into_response()
}

/// "Sign in with Webex": off to the Webex authorize page.
async fn webex_start(State(state): State<AppState>, Query(q): Query<StartQuery>) -> Response {
    let i = &state.integrations;
    let Some(sign_in) = i.webex.sign_in.as_ref() else {
        return sign_in_error(
            "Sign in with Webex is not configured on this server (CM_WEBEX_CLIENT_ID)",
        );
    };
    let nonce = app::ssr::nonce();
    // PKCE (RFC 7636, S256): the verifier stays in our HttpOnly state cookie,
    // so a stolen authorization code is useless without this browser.
    let verifier = app::ssr::nonce();
    let redirect_uri = format!("{}/auth/webex/callback", i.public_url);
    let url = format!(
        "{}?{}",
        sign_in.authorize_url,
        app::ssr::encode_query(&[
            ("client_id", sign_in.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", &redirect_uri),
            ("scope", "spark:people_read"),
            ("state", &nonce),
            ("code_challenge", &pkce_challenge(&verifier)),
            ("code_challenge_method", "S256"),
        ])
    );
    let next = safe_next(q.next.as_deref().unwrap_or_default());
    let secure = if state.session_policy.secure {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{STATE_COOKIE}={nonce}|{verifier}|{}; Path=/auth/webex; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
        app::ssr::encode_query(&[("n", &next)]).trim_start_matches("n=")
    );
    let mut response = Redirect::to(&url).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("ASCII cookie"),
    );
    response
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(Deserialize)]
struct Person {
    id: String,
    emails: Vec<String>,
}

async fn webex_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    if let Some(error) = q.error {
        return sign_in_error(&format!("Webex did not sign you in: {error}"));
    }
    let Some((expected, verifier, next)) = cookie_value(&headers, STATE_COOKIE).and_then(|c| {
        let mut parts = c.splitn(3, '|');
        let (n, verifier, next) = (parts.next()?, parts.next()?, parts.next()?);
        // Decoded for the redirect, then checked again: the cookie is ours,
        // but the redirect must be safe whatever it holds.
        Some((
            n.to_string(),
            verifier.to_string(),
            safe_next(&percent_decode(next)),
        ))
    }) else {
        return sign_in_error("the sign-in took too long or came from elsewhere: try again");
    };
    if q.state.as_deref() != Some(expected.as_str()) {
        return sign_in_error("the sign-in took too long or came from elsewhere: try again");
    }
    let Some(code) = q.code else {
        return sign_in_error("Webex returned no authorization code");
    };
    let i = &state.integrations;
    let (Some(api), Some(sign_in)) = (i.webex.api_url.as_deref(), i.webex.sign_in.as_ref()) else {
        return sign_in_error("Sign in with Webex is not configured on this server");
    };
    let client = reqwest::Client::new();
    let redirect_uri = format!("{}/auth/webex/callback", i.public_url);
    let token = client
        .post(format!("{api}/access_token"))
        .timeout(std::time::Duration::from_secs(10))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", sign_in.client_id.as_str()),
            ("client_secret", sign_in.client_secret.expose()),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await;
    let token: TokenResponse = match token {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(t) => t,
            Err(_) => {
                return sign_in_error("Webex answered the token request in an unexpected form")
            }
        },
        Ok(r) => {
            return sign_in_error(&format!(
                "Webex refused the sign-in (HTTP {})",
                r.status().as_u16()
            ))
        }
        Err(_) => return sign_in_error("Webex could not be reached: try again"),
    };
    let person = client
        .get(format!("{api}/people/me"))
        .bearer_auth(&token.access_token)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    let person: Person = match person {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(p) => p,
            Err(_) => return sign_in_error("Webex answered in an unexpected form"),
        },
        _ => return sign_in_error("could not read your Webex profile: try again"),
    };
    let Some(email) = person.emails.first() else {
        return sign_in_error("your Webex profile has no email address");
    };
    finish_sign_in(&state, email, Some(&person.id), "webex-oauth", &next).await
}

/// Shared ending of external sign-ins: the agent must exist and be enabled.
async fn finish_sign_in(
    state: &AppState,
    email: &str,
    person_id: Option<&str>,
    how: &str,
    next: &str,
) -> Response {
    let agent = match state.store.agent_for_sign_in(email, person_id, how).await {
        Ok(a) => a,
        Err(e) => return sign_in_error(&e.to_string()),
    };
    match open_web_session(&state.store, &state.session_policy, &agent, how).await {
        Ok(cookie) => {
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "could not create a browser session");
            sign_in_error("something went wrong on the server: try again")
        }
    }
}

#[derive(Deserialize)]
struct EmbeddedBody {
    token: String,
}

/// Inside the Webex App the page posts the Embedded App SDK identity token
/// here; `crate::identity` verifies it (issuer host, its verification key,
/// audience, organization, email).
async fn embedded_sign_in(
    State(state): State<AppState>,
    Json(body): Json<EmbeddedBody>,
) -> Response {
    let claims = match state.identity.verify(&body.token).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(reason = %e, "embedded app identity token refused");
            // A genuine token of someone who may not sign in this way is 403.
            let status = match e {
                crate::identity::IdentityError::Refused(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            return (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response();
        }
    };
    let agent = match state
        .store
        .agent_for_sign_in(&claims.email, claims.person_id.as_deref(), "embedded-app")
        .await
    {
        Ok(a) => a,
        Err(e) => {
            return (
                StatusCode::FORBIDDEN,
                Json(serde_json::json!({ "error": e.to_string() })),
            )
                .into_response()
        }
    };
    match open_web_session(&state.store, &state.session_policy, &agent, "embedded-app").await {
        Ok(cookie) => {
            let mut response = Json(serde_json::json!({ "signedIn": agent.email })).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": "try again" })),
        )
            .into_response(),
    }
}

/// The S256 code challenge of a PKCE verifier: BASE64URL(SHA-256(verifier)).
fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let Some(Ok(b)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:3000"),
        );
        assert!(origin_allowed(&h, "http://127.0.0.1:3000"));
        assert!(!origin_allowed(&h, "https://cm.example.com"));
        let mut local = HeaderMap::new();
        local.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://localhost:3000"),
        );
        local.insert(header::HOST, HeaderValue::from_static("localhost:3000"));
        assert!(
            origin_allowed(&local, "http://127.0.0.1:3000"),
            "same host the browser used"
        );
        let mut evil = HeaderMap::new();
        evil.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        evil.insert(header::HOST, HeaderValue::from_static("cm.example.com"));
        assert!(!origin_allowed(&evil, "https://cm.example.com"));
        assert!(
            !origin_allowed(&HeaderMap::new(), "https://cm.example.com"),
            "no origin at all is refused"
        );
        assert_eq!(percent_decode("%2Fsessions%3Fa%3D1"), "/sessions?a=1");
        assert_eq!(safe_next("//evil.example"), "/contacts");
    }

    #[test]
    fn pkce_challenge_matches_the_rfc_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
