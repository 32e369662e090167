//! Floods are refused cheaply, per client address: sign-in attempts are
//! limited, and an address that keeps presenting bad API keys or webhook
//! tokens is refused (429 with `Retry-After`) before any work is done. The
//! first refusal of each block is audited. Per-account sign-in limits live
//! with the password check (`store::password`).

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::state::AppState;
use store::AuditCtx;

/// The password sign-in (a server function); its form names the account.
const PASSWORD_SIGN_IN_PATH: &str = "/api/sign-in";

/// A sign-in form is a few hundred bytes; this is read to find the account.
const SIGN_IN_FORM_LIMIT: usize = 16 * 1024;

/// The routes where someone proves who they are, by password or token.
const SIGN_IN_PATHS: &[&str] = &[
    "/api/sign-in",
    "/auth/embedded",
    "/auth/webex/start",
    "/auth/webex/callback",
];

/// Limits, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Sign-in attempts per minute from one address.
    pub sign_in_per_minute: u32,
    /// Password sign-in attempts per minute for one account, from anywhere.
    pub sign_in_per_account_per_minute: u32,
    /// Requests refused for a bad API key or webhook token per minute from
    /// one address, before the address is refused outright.
    pub bad_credentials_per_minute: u32,
}

/// Addresses and until when they are refused (bounded: expired entries are
/// swept when it grows).
#[derive(Default)]
struct Blocklist(Mutex<HashMap<IpAddr, Instant>>);

/// Past this many blocked addresses, expired entries are swept on insert.
const BLOCKED_SWEEP_AT: usize = 10_000;

impl Blocklist {
    /// How long this address is still refused, if it is.
    fn remaining(&self, ip: IpAddr) -> Option<Duration> {
        let mut map = self.0.lock().expect("blocklist");
        let now = Instant::now();
        match map.get(&ip) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                map.remove(&ip);
                None
            }
            None => None,
        }
    }

    fn block(&self, ip: IpAddr, wait: Duration) {
        let mut map = self.0.lock().expect("blocklist");
        let now = Instant::now();
        if map.len() >= BLOCKED_SWEEP_AT {
            map.retain(|_, until| *until > now);
        }
        map.insert(ip, now + wait);
    }

    fn sweep(&self) {
        let now = Instant::now();
        self.0
            .lock()
            .expect("blocklist")
            .retain(|_, until| *until > now);
    }
}

pub struct Throttles {
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    sign_in_account: DefaultKeyedRateLimiter<String>,
    bad_credentials: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses refused outright after too many bad credentials.
    blocked: Blocklist,
    /// Addresses whose sign-in refusals were audited (once per block).
    sign_in_audited: Blocklist,
    /// When set, the client address is the last entry of this header
    /// (the one our own proxy added), not the TCP peer.
    client_ip_header: Option<HeaderName>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"))
}

impl Throttles {
    pub fn new(limits: Limits, client_ip_header: Option<HeaderName>) -> Arc<Throttles> {
        Arc::new(Throttles {
            sign_in: RateLimiter::keyed(per_minute(limits.sign_in_per_minute)),
            sign_in_account: RateLimiter::keyed(per_minute(limits.sign_in_per_account_per_minute)),
            bad_credentials: RateLimiter::keyed(per_minute(limits.bad_credentials_per_minute)),
            blocked: Blocklist::default(),
            sign_in_audited: Blocklist::default(),
            client_ip_header,
        })
    }

    fn client_ip(&self, request: &Request) -> Option<IpAddr> {
        if let Some(name) = &self.client_ip_header {
            return request
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                .next_back();
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
    }

    /// Counts a refused credential; `Some(wait)` when the address is now blocked.
    fn bad_credential(&self, ip: IpAddr) -> Option<Duration> {
        let not_until = self.bad_credentials.check_key(&ip).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        self.blocked.block(ip, wait);
        Some(wait)
    }

    /// Forgets addresses whose limits have refilled (bounded memory).
    pub fn sweep(&self) {
        self.sign_in.retain_recent();
        self.sign_in.shrink_to_fit();
        self.sign_in_account.retain_recent();
        self.sign_in_account.shrink_to_fit();
        self.bad_credentials.retain_recent();
        self.bad_credentials.shrink_to_fit();
        self.blocked.sweep();
        self.sign_in_audited.sweep();
    }
}

/// A 429 with `Retry-After` in whole seconds (at least 1).
pub fn too_many(wait: Duration, what: &str) -> Response {
    metrics::counter!("cm_rate_limit_refusals_total", "limit" => what.replace(' ', "_"))
        .increment(1);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(serde_json::json!({
            "code": "rate_limited",
            "message": format!("too many {what} from this address: try again in {seconds} s"),
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&seconds.to_string()).expect("digits"),
    );
    response
}

/// Audits a refusal: who was refused (`address` or `account`), on which
/// surface. A failed audit is logged, never a reason to serve the request.
async fn audit_refusal(
    state: &AppState,
    (entity_type, entity_id): (&str, &str),
    surface: &str,
    path: &str,
) {
    let details = serde_json::json!({ "surface": surface, "path": path });
    if let Err(e) = state
        .store
        .record_event(
            &AuditCtx::system(),
            "rate_limit.refused",
            entity_type,
            entity_id,
            &details,
        )
        .await
    {
        tracing::warn!(error = %e, "could not audit a rate-limit refusal");
    }
}

/// The people's routes: sign-in attempts per address, password attempts per account.
pub async fn sign_in(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let throttles = state.throttles.clone();
    let path = request.uri().path().to_string();
    let Some(ip) = throttles.client_ip(&request) else {
        return next.run(request).await;
    };
    if SIGN_IN_PATHS.contains(&path.as_str()) {
        if let Err(not_until) = throttles.sign_in.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(%ip, path, "sign-in attempts refused: too many from this address");
            // Audited once per stretch of refusals, not per request.
            if throttles.sign_in_audited.remaining(ip).is_none() {
                throttles
                    .sign_in_audited
                    .block(ip, wait.max(Duration::from_secs(60)));
                audit_refusal(&state, ("address", &ip.to_string()), "sign-in", &path).await;
            }
            return too_many(wait, "sign-in attempts");
        }
        if path == PASSWORD_SIGN_IN_PATH {
            return throttle_account(&state, request, next).await;
        }
        return next.run(request).await;
    }
    next.run(request).await
}

/// The machines' routes (API key, webhook token or signature): an address
/// that keeps presenting bad credentials is refused for a while.
pub async fn bad_credentials(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let throttles = state.throttles.clone();
    let path = request.uri().path().to_string();
    let Some(ip) = throttles.client_ip(&request) else {
        return next.run(request).await;
    };
    if let Some(wait) = throttles.blocked.remaining(ip) {
        return too_many(wait, "requests with bad credentials");
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::UNAUTHORIZED {
        return response;
    }
    match throttles.bad_credential(ip) {
        Some(wait) => {
            tracing::warn!(%ip, path, "address blocked: too many bad API keys or webhook tokens");
            audit_refusal(
                &state,
                ("address", &ip.to_string()),
                "bad-credentials",
                &path,
            )
            .await;
            too_many(wait, "requests with bad credentials")
        }
        None => response,
    }
}

/// The email a password sign-in form names, lower-cased.
fn sign_in_account(form: &[u8]) -> Option<String> {
    form_urlencoded::parse(form)
        .find(|(name, _)| name == "email")
        .map(|(_, email)| email.trim().to_ascii_lowercase())
        .filter(|email| !email.is_empty())
}

/// Limits password guesses against one account from many addresses. The
/// form is read here (it is small and the body limit applies) and handed on.
async fn throttle_account(state: &AppState, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, SIGN_IN_FORM_LIMIT).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the sign-in form is too large",
        )
            .into_response();
    };
    if let Some(account) = sign_in_account(&bytes) {
        let throttles = &state.throttles;
        if let Err(not_until) = throttles.sign_in_account.check_key(&account) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!("password sign-ins refused: too many for one account");
            audit_refusal(
                state,
                ("account", &account),
                "sign-in-account",
                PASSWORD_SIGN_IN_PATH,
            )
            .await;
            return too_many(wait, "sign-in attempts for this account");
        }
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_is_the_peer_or_our_proxys_entry() {
        let t = Throttles::new(
            Limits {
                sign_in_per_minute: 1,
                sign_in_per_account_per_minute: 1,
                bad_credentials_per_minute: 1,
            },
            Some(HeaderName::from_static("x-forwarded-for")),
        );
        let request = Request::builder()
            .header("x-forwarded-for", "6.6.6.6, 10.0.0.1")
            .header("x-forwarded-for", "203.0.113.9")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(t.client_ip(&request), Some("203.0.113.9".parse().unwrap()));
        let direct = Throttles::new(
            Limits {
                sign_in_per_minute: 1,
                sign_in_per_account_per_minute: 1,
                bad_credentials_per_minute: 1,
            },
            None,
        );
        let mut request = Request::builder()
            .header("x-forwarded-for", "6.6.6.6")
            .body(axum::body::Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 7], 9))));
        assert_eq!(
            direct.client_ip(&request),
            Some("127.0.0.7".parse().unwrap()),
            "a forged header is ignored unless a proxy is configured"
        );
    }

    #[test]
    fn the_account_is_read_from_the_sign_in_form() {
        assert_eq!(
            sign_in_account(b"email=+Ann%40Example.com+&password=x&next=%2F").as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(sign_in_account(b"password=x"), None);
        assert_eq!(sign_in_account(b"email=&password=x"), None);
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        let r = too_many(Duration::from_millis(1500), "x");
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = too_many(Duration::ZERO, "x");
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
}
