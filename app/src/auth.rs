//! Signing in and out. Three ways end in the same server-side session: a
//! local password (here), "Sign in with Webex" (OAuth) and the Embedded App
//! identity token (both handled by the server's `/auth` routes).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::codec::Json;
use crate::error::UiError;
use domain::model::Agent;

/// The signed-in agent and the token their forms must carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub agent: Agent,
    pub csrf: String,
}

#[server(endpoint = "me", output = Json)]
pub async fn get_me() -> Result<Option<Me>, UiError> {
    Ok(crate::ssr::web_session().map(|s| Me {
        agent: s.agent,
        csrf: s.csrf_token,
    }))
}

/// The ways to sign in this server offers besides a local password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInWays {
    /// "Sign in with Webex" (OAuth) is configured.
    pub webex: bool,
    /// The Embedded App sign-in inside the Webex sidebar is configured.
    pub embedded: bool,
}

#[server(endpoint = "sign-in/ways", output = Json)]
pub async fn get_sign_in_ways() -> Result<SignInWays, UiError> {
    Ok(crate::ssr::deps().sign_in_ways)
}

#[server(endpoint = "sign-in", output = Json)]
pub async fn sign_in(email: String, password: String, next: String) -> Result<(), UiError> {
    use crate::error::ErrorKind;
    use crate::ssr::{deps, finish, Then};
    let result = async {
        if email.trim().is_empty() {
            return Err(UiError::field("email", "enter your email address"));
        }
        if password.is_empty() {
            return Err(UiError::field("password", "enter your password"));
        }
        let deps = deps();
        let agent = deps
            .store
            .verify_password(&email, &password)
            .await
            .map_err(|e| UiError::new(ErrorKind::Invalid, e.to_string()))?;
        start_session(&deps, &agent).await
    }
    .await;
    if let Err(e) = &result {
        tracing::info!(reason = %e.message, "sign-in refused");
    }
    finish(
        result,
        Then::Go(crate::ssr::safe_next(&next)),
        "/sign-in",
        &[("email", email.trim()), ("next", &next)],
    )
}

/// Creates the server-side session and sets its cookie.
#[cfg(feature = "ssr")]
pub async fn start_session(deps: &crate::ssr::ServerDeps, agent: &Agent) -> Result<(), UiError> {
    let cookie =
        crate::ssr::open_web_session(&deps.store, &deps.session_policy, agent, "password").await?;
    expect_context::<leptos_axum::ResponseOptions>()
        .append_header(http::header::SET_COOKIE, cookie);
    Ok(())
}

#[server(endpoint = "sign-out", output = Json)]
pub async fn sign_out(csrf: String) -> Result<(), UiError> {
    use crate::ssr::{deps, finish, require_agent, require_csrf, Then};
    let session = require_agent()?;
    require_csrf(&session, &csrf)?;
    let deps = deps();
    if let Some(token) = crate::ssr::session_cookie(&deps.session_policy) {
        deps.store.end_web_session(&token).await?;
    }
    let response = expect_context::<leptos_axum::ResponseOptions>();
    response.append_header(
        http::header::SET_COOKIE,
        http::HeaderValue::from_str(&deps.session_policy.cookie("", None))
            .expect("cookie is ASCII"),
    );
    finish(Ok(()), Then::Go("/sign-in?signed_out=1".into()), "/", &[])
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let action = ServerAction::<SignIn>::new();
    let q = move |key: &str| query.with(|q| q.get(key).unwrap_or_default());
    // Errors come from the action once hydrated, or from the query string
    // when the form was posted before the page was interactive.
    let error = move || match action.value().get() {
        Some(Err(e)) => Some(e),
        Some(Ok(())) => None,
        None => {
            let message = q("error");
            (!message.is_empty()).then(|| UiError {
                field: Some(q("field")).filter(|f| !f.is_empty()),
                ..UiError::new(crate::error::ErrorKind::Invalid, message)
            })
        }
    };
    // The navigation must learn who is signed in now.
    if let Some(crate::layout::AuthEpoch(epoch)) = use_context() {
        Effect::new(move |_| {
            if let Some(Ok(())) = action.value().get() {
                epoch.update(|n| *n += 1);
            }
        });
    }
    let field_error = move |field: &'static str| error().and_then(|e| e.for_field(field));
    let general_error = move || error().filter(|e| e.field.is_none()).map(|e| e.message);
    let next = move || {
        let n = q("next");
        if n.is_empty() {
            "/contacts".to_string()
        } else {
            n
        }
    };
    let ways = Resource::new(|| (), |_| get_sign_in_ways());
    let ways = move || ways.get().and_then(Result::ok).unwrap_or_default();

    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <Show when=move || !q("signed_out").is_empty()>
                <p class="notice" role="status">"You are signed out."</p>
            </Show>
            <Suspense fallback=|| ()>
                <Show when=move || ways().webex>
                    <a class="button secondary" rel="external" href=move || format!("/auth/webex/start?next={}", next())>
                        "Sign in with Webex"
                    </a>
                </Show>
                <Show when=move || ways().embedded>
                    <p class="muted">
                        "In the Webex App, open Contact Manager from the sidebar: it signs you in as your Webex user."
                    </p>
                </Show>
                <Show when=move || ways().webex || ways().embedded>
                    <p class="muted">"Or with a local account:"</p>
                </Show>
            </Suspense>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <input type="hidden" name="next" value=next />
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required
                    value=move || q("email")
                    aria-invalid=move || field_error("email").is_some().to_string()
                    aria-describedby="email-error" />
                <p id="email-error" class="field-error">{move || field_error("email")}</p>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required
                    aria-invalid=move || field_error("password").is_some().to_string()
                    aria-describedby="password-error" />
                <p id="password-error" class="field-error">{move || field_error("password")}</p>
                <p class="form-error" role="alert">{general_error}</p>
                <button type="submit" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
        </section>
    }
}
