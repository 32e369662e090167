//! Server-side helpers for server functions: dependencies, the signed-in
//! agent, CSRF checks, and results for forms posted before hydration.

use leptos::prelude::*;
use subtle::ConstantTimeEq;

use crate::error::{ErrorKind, UiError};
use domain::model::{Actor, Agent};
use relay::conversations::Conversations;
use store::{AuditCtx, SessionPolicy, Store, WebSession};

/// A configured endpoint, for the admin's integrations view.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: &'static str,
    pub url: Option<String>,
}

/// Everything server functions need, provided as one context by the server.
#[derive(Clone)]
pub struct ServerDeps {
    pub store: Store,
    /// The session cookie and lifetimes (`store::SessionPolicy`).
    pub session_policy: SessionPolicy,
    /// Start conversation, in the configured relay mode.
    pub conversations: Conversations,
    pub sandbox: bool,
    /// The native relay; `None` when Webex Connect runs the workflows.
    pub relay: Option<relay::Relay>,
    /// Guest logins; `None` when the guest app is not configured.
    pub guests: Option<relay::guests::GuestAuth>,
    pub endpoints: Vec<Endpoint>,
    /// What the sign-in page offers besides a local password.
    pub sign_in_ways: crate::auth::SignInWays,
    /// Origins and host patterns whose URLs pages may link to or load
    /// (`domain::links::linkable`): this site and the allowed media hosts.
    pub link_origins: Vec<String>,
    /// How long transcripts and media are kept (the Privacy page shows it).
    pub retention: domain::privacy::Retention,
    /// The numbers of the agents' links and QR codes.
    pub business_numbers: domain::agent_links::BusinessNumbers,
}

pub fn deps() -> ServerDeps {
    expect_context::<ServerDeps>()
}

/// The browser session the server resolved from the cookie, if any.
pub fn web_session() -> Option<WebSession> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<WebSession>().cloned())
}

/// The value of a cookie in request headers.
pub fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// The session cookie's value on this request.
pub fn session_cookie(policy: &SessionPolicy) -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    cookie_value(&parts.headers, policy.cookie_name)
}

/// Only same-site paths may follow a sign-in, never another origin. Browsers
/// read `/\\host`, `/\t/host` (tabs and newlines are dropped) and `//host` as
/// another host, and a target may be percent-encoded once or more; so a
/// target is refused if it, or any decoding of it, has a control character,
/// a backslash, or does not start with exactly one `/`.
pub fn safe_next(next: &str) -> String {
    const FALLBACK: &str = "/contacts";
    let plain_path = |s: &str| {
        s.starts_with('/')
            && !s.starts_with("//")
            && !s.chars().any(|c| c.is_control() || c == '\\')
    };
    let mut form = next.to_string();
    // Each round decodes one layer; four layers is more than any honest link has.
    for _ in 0..4 {
        if !plain_path(&form) {
            return FALLBACK.to_string();
        }
        let decoded = percent_decode_lossy(&form);
        if decoded == form {
            return next.to_string();
        }
        form = decoded;
    }
    FALLBACK.to_string()
}

/// `%XX` sequences decoded; anything else kept as it is.
fn percent_decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts a browser session for an agent who proved who they are (`how`:
/// password, Webex OAuth, Embedded App), audits it, and returns the
/// `Set-Cookie` value. Every sign-in ends here.
pub async fn open_web_session(
    store: &Store,
    policy: &SessionPolicy,
    agent: &Agent,
    how: &str,
) -> Result<http::HeaderValue, domain::DomainError> {
    let (token, _) = store
        .create_web_session(agent, policy.lifetime.as_millis() as i64)
        .await?;
    let ctx = AuditCtx::new(Actor::Agent(agent.email.clone()), None);
    store
        .record_event(
            &ctx,
            "agent.sign_in",
            "agent",
            &agent.id,
            &serde_json::json!({ "method": how }),
        )
        .await?;
    Ok(
        http::HeaderValue::from_str(&policy.cookie(&token, Some(policy.lifetime)))
            .expect("cookie is ASCII"),
    )
}

pub fn require_agent() -> Result<WebSession, UiError> {
    web_session().ok_or_else(|| {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::UNAUTHORIZED);
        }
        UiError::new(ErrorKind::SignedOut, "you are signed out: sign in again")
    })
}

/// Checks the token that every state-changing form carries (the cookie alone
/// is not proof of intent; an Origin check runs in the server as well).
pub fn require_csrf(session: &WebSession, token: &str) -> Result<(), UiError> {
    if bool::from(session.csrf_token.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::FORBIDDEN);
        }
        Err(UiError::new(
            ErrorKind::Forbidden,
            "this form has expired: reload the page and try again",
        ))
    }
}

pub fn require_admin(session: &WebSession) -> Result<(), UiError> {
    if domain::access::is_admin(&session.agent) {
        Ok(())
    } else {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::FORBIDDEN);
        }
        Err(UiError::new(
            ErrorKind::Forbidden,
            "only admins can do this",
        ))
    }
}

pub fn audit(agent: &Agent) -> AuditCtx {
    let request_id = use_context::<http::request::Parts>().and_then(|p| {
        p.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    AuditCtx::new(Actor::Agent(agent.email.clone()), request_id)
}

/// True for a plain HTML form post (the page was not hydrated yet).
pub fn is_plain_form_post() -> bool {
    use_context::<http::request::Parts>().is_some_and(|p| {
        p.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    })
}

/// Where the browser goes after a successful call.
pub enum Then {
    /// Navigate there in every case (sign-in, saving a form page).
    Go(String),
    /// Navigate there only for forms posted before hydration; a hydrated page
    /// stays where it is and shows the result itself.
    Reload(String),
}

/// Finishes a server function. For forms posted before hydration the browser
/// is sent back to a page: `then` on success, `error_to` with the error
/// (and the values typed, so nothing is lost) in the query on failure.
pub fn finish<T>(
    result: Result<T, UiError>,
    then: Then,
    error_to: &str,
    keep: &[(&str, &str)],
) -> Result<T, UiError> {
    let plain = is_plain_form_post();
    match (&result, plain) {
        (Ok(_), _) => match then {
            Then::Go(to) => leptos_axum::redirect(&to),
            Then::Reload(to) if plain => leptos_axum::redirect(&to),
            Then::Reload(_) => {}
        },
        (Err(e), true) => {
            let mut query = vec![("error", e.message.as_str())];
            if let Some(field) = e.field.as_deref() {
                query.push(("field", field));
            }
            query.extend_from_slice(keep);
            let sep = if error_to.contains('?') { '&' } else { '?' };
            leptos_axum::redirect(&format!("{error_to}{sep}{}", encode_query(&query)));
        }
        (Err(e), false) => {
            // A user mistake is not a server failure: answer with a fitting status.
            let status = match e.kind {
                ErrorKind::SignedOut => http::StatusCode::UNAUTHORIZED,
                ErrorKind::Forbidden => http::StatusCode::FORBIDDEN,
                ErrorKind::NotFound => http::StatusCode::NOT_FOUND,
                ErrorKind::Invalid => http::StatusCode::UNPROCESSABLE_ENTITY,
                ErrorKind::Conflict => http::StatusCode::CONFLICT,
                ErrorKind::Failed => http::StatusCode::BAD_GATEWAY,
            };
            if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
                resp.set_status(status);
            }
        }
    }
    result
}

/// A random token for one-time use (OAuth state, attempt nonces): 256 bits
/// from the OS random source.
pub fn nonce() -> String {
    store::random_token()
}

pub use crate::layout::encode_query;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_redirects_stay_on_this_site() {
        for good in [
            "/contacts",
            "/sessions/abc?x=1",
            "/a%20b",
            "/sessions?q=%2Bx",
        ] {
            assert_eq!(safe_next(good), good, "{good}");
        }
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "/%5Cevil.com",
            "/%5cevil.com",
            "/\t/evil.com",
            "/%09/evil.com",
            "/\n/evil.com",
            "/%2F/evil.com",
            "/%2Fevil.com",
            "%2F%2Fevil.com",
            "/%252F/evil.com",
            "/%25255Cevil.com",
            "https://evil.com",
            "evil.com",
            "",
        ] {
            assert_eq!(safe_next(bad), "/contacts", "{bad:?}");
        }
    }
}
