//! The Contact Manager sidebar app: rendered on the server, hydrated in the
//! browser. Pages are thin; business rules live in the `domain` crate.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode, StaticSegment};

pub mod admin;
pub mod auth;
pub mod codec;
pub mod contacts;
pub mod conversations;
pub mod error;
mod home;
pub mod import;
pub mod layout;
pub mod links;
mod live;
pub mod message_log;
pub mod privacy;
pub mod sessions;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod time;

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    layout::provide_me();
    time::provide_clock();
    view! {
        <Stylesheet id="leptos" href="/pkg/contact_manager.css" />
        <Link rel="icon" href="/favicon.svg" />
        <Meta name="description" content="Contact Manager: chat with customers on WhatsApp and SMS from Webex" />
        <Title text="Contact Manager" />
        <Router>
            <layout::Nav />
            <main>
                // Pages wait for their data on the server (SsrMode::Async), so
                // they are complete HTML: usable before hydration, or without JS.
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=StaticSegment("") view=home::HomePage ssr=SsrMode::Async />
                    <Route path=path!("/sign-in") view=auth::SignInPage ssr=SsrMode::Async />
                    <Route path=path!("/contacts") view=contacts::ContactsPage ssr=SsrMode::Async />
                    <Route path=path!("/contacts/new") view=contacts::ContactFormPage ssr=SsrMode::Async />
                    <Route path=path!("/contacts/import") view=import::ImportPage ssr=SsrMode::Async />
                    <Route path=path!("/contacts/:id") view=contacts::ContactFormPage ssr=SsrMode::Async />
                    <Route path=path!("/contacts/:id/delete") view=contacts::DeleteContactPage ssr=SsrMode::Async />
                    <Route path=path!("/sessions") view=sessions::SessionsPage ssr=SsrMode::Async />
                    <Route path=path!("/links") view=links::LinksPage ssr=SsrMode::Async />
                    <Route path=path!("/sessions/:id") view=sessions::SessionDetailPage ssr=SsrMode::Async />
                    <Route path=path!("/conversations/:id") view=conversations::ConversationDetailPage ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=admin::AdminPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/agents") view=admin::AdminAgentsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/keys") view=admin::AdminKeysPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/integrations") view=admin::AdminIntegrationsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/undelivered") view=admin::AdminUndeliveredPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/opt-outs") view=admin::AdminOptOutsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/audit") view=admin::AdminAuditPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/bot") view=admin::AdminBotPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/messages") view=message_log::AdminMessagesPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/messages/:id") view=message_log::AdminMessagePage ssr=SsrMode::Async />
                    <Route path=path!("/admin/privacy") view=privacy::PrivacyPage ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="card">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the start page"</a></p>
        </section>
    }
}
