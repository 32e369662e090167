use leptos::prelude::*;

/// The start page: what this is and how to connect Webex Connect to it.
#[component]
pub fn HomePage() -> impl IntoView {
    let (show_setup, set_show_setup) = signal(false);
    view! {
        <header class="app-header">
            <h1>"Contact Manager"</h1>
            <p class="lede">"Chat with customers on WhatsApp and SMS from your Webex App."</p>
        </header>
        <section class="card">
            <h2>"Connect Webex Connect"</h2>
            <p>
                "Webex Connect flows call this server's REST API to look up contacts and route sessions."
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
