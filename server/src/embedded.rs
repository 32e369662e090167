//! The page the Webex App opens in its sidebar. It asks the Embedded App SDK
//! (2.x, npm `@webex/embedded-app-sdk`, served from this site) for the user's
//! identity token and signs in with it; outside Webex it offers the ordinary
//! sign-in page.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;

use crate::state::AppState;

pub async fn page(
    State(state): State<AppState>,
    Extension(nonce): Extension<crate::headers::CspNonce>,
) -> Response {
    let sdk = state.integrations.embedded.sdk_url.clone();
    let mut response = Html(PAGE.replace("{{SDK_URL}}", &html_escape(&sdk))).into_response();
    // No inline script: the page's own code is /embedded.js; the SDK is our
    // pinned copy (or the sandbox's stand-in), both on this site. Only an
    // operator's CM_EMBEDDED_SDK_URL elsewhere widens script-src.
    let csp = match crate::web_auth::origin_of(&sdk) {
        Some(origin) => state.headers.csp_with_script(&nonce.0, &origin),
        None => state.headers.csp(&nonce.0),
    };
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The page's script, served from this site so the CSP needs no inline code.
pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Contact Manager</title>
<link rel="stylesheet" href="/pkg/contact_manager.css">
</head>
<body>
<main>
  <section class="card narrow">
    <h1>Contact Manager</h1>
    <p id="status" role="status">Signing you in with Webex…</p>
    <p id="fallback" hidden><a class="button" href="/sign-in">Sign in another way</a></p>
  </section>
</main>
<script src="{{SDK_URL}}"></script>
<script src="/embedded.js"></script>
</body>
</html>
"#;

const SCRIPT: &str = r#"// Embedded App SDK 2.x (docs/platform-contracts.md): `new webex.Application()`,
// `await app.onReady()`, then `app.application.states.user.token`. Outside
// the Webex App, onReady() never settles, hence the time limit.
(async () => {
  const READY_WITHIN_MS = 10000;
  const status = document.getElementById("status");
  const fail = (message) => {
    status.textContent = message;
    status.setAttribute("role", "alert");
    document.getElementById("fallback").hidden = false;
  };
  const outside = "This page is meant to open inside the Webex App. Sign in another way.";
  try {
    if (!window.webex || typeof window.webex.Application !== "function") {
      return fail(outside);
    }
    const app = new window.webex.Application();
    const ready = await Promise.race([
      app.onReady().then(() => true),
      new Promise((resolve) => setTimeout(() => resolve(false), READY_WITHIN_MS)),
    ]);
    if (!ready) {
      return fail(outside);
    }
    const user = app.application && app.application.states && app.application.states.user;
    if (!user || !user.token) {
      return fail("Webex did not share who you are with this app. Sign in another way.");
    }
    const response = await fetch("/auth/embedded", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: user.token }),
    });
    if (response.ok) {
      window.location.replace("/");
    } else {
      const body = await response.json().catch(() => ({}));
      fail(body.error || "Sign-in was refused.");
    }
  } catch (e) {
    fail("Sign-in from Webex failed: " + e);
  }
})();
"#;
