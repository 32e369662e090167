//! Security headers on every response: a Content-Security-Policy that lets
//! only this site's own scripts run (inline scripts need the per-response
//! nonce) and only the Webex App frame the sidebar, `nosniff`, a referrer
//! policy, HSTS over https, and `no-store` on everything dynamic so signed-in
//! pages and server-function answers are never cached.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use rand::RngCore;

use crate::state::AppState;

/// The nonce of this response's inline scripts (Leptos' hydration script).
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

impl CspNonce {
    fn generate() -> CspNonce {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        CspNonce(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// The header values that do not change per response, from the settings.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    /// `frame-ancestors` sources: 'self' plus the configured Webex origins.
    frame_ancestors: String,
    hsts: bool,
}

impl HeaderPolicy {
    pub fn new(frame_ancestors: &str, public_url: &str) -> HeaderPolicy {
        let mut sources = vec!["'self'".to_string()];
        sources.extend(
            frame_ancestors
                .split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "'self'")
                .map(str::to_string),
        );
        HeaderPolicy {
            frame_ancestors: sources.join(" "),
            hsts: public_url.to_ascii_lowercase().starts_with("https://"),
        }
    }

    /// The policy for pages of the app: scripts only from this site or with
    /// the nonce (wasm needs 'wasm-unsafe-eval' to compile), no plugins, no
    /// `<base>` tricks, forms only to this site.
    pub fn csp(&self, nonce: &str) -> String {
        self.policy(nonce, None)
    }

    /// The same policy for a page that also loads one script from elsewhere
    /// (the Embedded App SDK).
    pub fn csp_with_script(&self, nonce: &str, script_origin: &str) -> String {
        self.policy(nonce, Some(script_origin))
    }

    fn policy(&self, nonce: &str, script_origin: Option<&str>) -> String {
        let extra = script_origin.map(|o| format!(" {o}")).unwrap_or_default();
        format!(
            "default-src 'self'; script-src 'self'{extra} 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data: https:; connect-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors {}",
            self.frame_ancestors
        )
    }
}

/// Static assets may be cached; everything else is dynamic and may name a
/// signed-in agent's data.
fn is_static_asset(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg" || path == "/favicon.ico"
}

pub async fn security_headers(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = CspNonce::generate();
    request.extensions_mut().insert(nonce.clone());
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let policy = &state.headers;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Same-origin requests keep their Referer (the CSRF check reads it when
    // Origin is absent); nothing leaks to other sites.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if policy.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    // The sandbox's demo pages set their own (they are never deployed).
    if !path.starts_with("/sandbox/") && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(value) = HeaderValue::from_str(&policy.csp(&nonce.0)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    if !is_static_asset(&path) && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Gives Leptos this response's nonce, so the hydration script carries the
/// one the header allows. Called in the render context of every page.
pub fn provide_request_nonce() {
    use leptos::prelude::{provide_context, use_context};
    let nonce = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(value)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_webex_and_this_site_may_frame_the_app() {
        let p = HeaderPolicy::new("https://*.webex.com, https://teams.example", "http://x");
        let csp = p.csp("abc");
        assert!(csp.ends_with("frame-ancestors 'self' https://*.webex.com https://teams.example"));
        assert!(csp.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(!p.hsts);
        assert!(HeaderPolicy::new("", "https://cm.example.com").hsts);
        assert!(HeaderPolicy::new("", "https://x")
            .csp("n")
            .ends_with("frame-ancestors 'self'"));
        assert!(p
            .csp_with_script("n", "https://binaries.webex.com")
            .contains("script-src 'self' https://binaries.webex.com 'nonce-n'"));
    }

    #[test]
    fn nonces_are_fresh_and_128_bits() {
        let (a, b) = (CspNonce::generate(), CspNonce::generate());
        assert_ne!(a.0, b.0);
        assert_eq!(a.0.len(), 22);
    }
}
