use leptos::prelude::*;
use leptos_router::components::Redirect;
use serde::{Deserialize, Serialize};

use crate::codec::Json;
use crate::error::UiError;

/// What the start page shows a signed-in agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Home {
    pub name: String,
    pub admin: bool,
    /// Conversations routed to this agent, whatever their state.
    pub conversations: i64,
    pub contacts: i64,
}

/// The start page's data; `None` when nobody is signed in.
#[server(endpoint = "home", output = Json)]
pub async fn get_home() -> Result<Option<Home>, UiError> {
    use crate::ssr::{deps, web_session};
    use store::{ContactQuery, Paging, SessionQuery};
    let Some(web) = web_session() else {
        return Ok(None);
    };
    let store = deps().store;
    // Only the totals are wanted: one row a page.
    let one = Some(Paging::new(Some(1), Some(1)).map_err(domain::DomainError::from)?);
    let conversations = store
        .list_sessions(&SessionQuery {
            collab_agent_id: Some(web.agent.email.clone()),
            paging: one,
            ..Default::default()
        })
        .await?
        .total;
    let contacts = store
        .list_contacts(&ContactQuery {
            paging: one,
            ..Default::default()
        })
        .await?
        .total;
    Ok(Some(Home {
        name: web.agent.display_name,
        admin: web.agent.role == domain::model::Role::Admin,
        conversations,
        contacts,
    }))
}

/// The start page: signed out, the way to sign in; signed in, where the
/// agent's work is.
#[component]
pub fn HomePage() -> impl IntoView {
    let epoch = use_context::<crate::layout::AuthEpoch>();
    let home = Resource::new(move || epoch.map(|e| e.0.get()), |_| get_home());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || home.get().map(|r| match r {
                Ok(Some(home)) => view! { <Welcome home /> }.into_any(),
                Ok(None) => view! { <Redirect path="/sign-in" /> }.into_any(),
                Err(e) => view! { <crate::layout::ErrorNotice error=e retry=Callback::new(move |_| home.refetch()) /> }.into_any(),
            })}
        </Suspense>
    }
}

fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[component]
fn Welcome(home: Home) -> impl IntoView {
    view! {
        <header class="app-header">
            <h1>"Contact Manager"</h1>
            <p class="lede">{format!("Hello, {}.", home.name)}</p>
        </header>
        <section class="card">
            <h2>"Your work"</h2>
            <ul class="home-links">
                <li>
                    <a href="/sessions">"Sessions"</a>
                    " · " {count(home.conversations, "conversation routed to you", "conversations routed to you")}
                </li>
                <li>
                    <a href="/contacts">"Contacts"</a>
                    " · " {count(home.contacts, "contact", "contacts")}
                    " · start a WhatsApp or SMS conversation from a contact"
                </li>
            </ul>
        </section>
        {home.admin.then(|| view! { <ConnectSetup /> })}
    }
}

/// For admins: how Webex Connect flows reach this server.
#[component]
fn ConnectSetup() -> impl IntoView {
    let (show_setup, set_show_setup) = signal(false);
    view! {
        <section class="card">
            <h2>"Connect Webex Connect"</h2>
            <p>
                "Webex Connect flows call this server's REST API to look up contacts and route sessions. "
                "Admin has the " <a href="/admin/keys">"API keys"</a> " and the "
                <a href="/admin/integrations">"integrations' state"</a> "."
            </p>
            <button
                type="button"
                aria-expanded=move || show_setup.get().to_string()
                aria-controls="setup-steps"
                on:click=move |_| set_show_setup.update(|v| *v = !*v)
            >
                {move || if show_setup.get() { "Hide setup steps" } else { "Show setup steps" }}
            </button>
            <Show when=move || show_setup.get()>
                <ol id="setup-steps" class="steps">
                    <li>"Create an API key: " <code>"contact-manager create-api-key connect"</code></li>
                    <li>"In each Connect flow's HTTP node, send it in the " <code>"key"</code> " header."</li>
                    <li>
                        "Call the endpoints listed in "
                        <a href="/api/v1/openapi.json" rel="external">"the OpenAPI document"</a> "."
                    </li>
                </ol>
            </Show>
        </section>
    }
}
