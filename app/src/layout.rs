//! The frame around every page: navigation, the signed-in gate, small
//! shared pieces.

use leptos::prelude::*;

use crate::auth::{get_me, Me, SignOut};
use crate::error::UiError;

pub type MeResource = Resource<Result<Option<Me>, UiError>>;

/// Bumped after signing in or out so the navigation refreshes.
#[derive(Clone, Copy)]
pub struct AuthEpoch(pub RwSignal<u32>);

pub fn provide_me() {
    let epoch = RwSignal::new(0u32);
    provide_context(AuthEpoch(epoch));
    let me: MeResource = Resource::new(move || epoch.get(), |_| get_me());
    provide_context(me);
}

pub fn use_me() -> MeResource {
    expect_context::<MeResource>()
}

/// Renders `render(me)` for a signed-in agent, or a way to sign in.
#[component]
pub fn SignedIn<F, V>(render: F) -> impl IntoView
where
    F: Fn(Me) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let me = use_me();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || me.get().map(|r| match r {
                Ok(Some(me)) => render(me).into_any(),
                Ok(None) => view! { <SignedOutNotice /> }.into_any(),
                Err(e) => view! { <p class="notice error" role="alert">{e.message}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
pub fn SignedOutNotice() -> impl IntoView {
    let here = leptos_router::hooks::use_location();
    let next = move || format!("/sign-in?next={}", here.pathname.get());
    view! {
        <section class="card narrow">
            <h1>"Please sign in"</h1>
            <p>"You need to sign in to see this page."</p>
            <p><a class="button" href=next>"Sign in"</a></p>
        </section>
    }
}

#[component]
pub fn Nav() -> impl IntoView {
    let me = use_me();
    let sign_out = ServerAction::<SignOut>::new();
    if let Some(AuthEpoch(epoch)) = use_context() {
        Effect::new(move |_| {
            if let Some(Ok(())) = sign_out.value().get() {
                epoch.update(|n| *n += 1);
            }
        });
    }
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Contact Manager"</a>
            <Transition fallback=|| ()>
                {move || me.get().and_then(|r| r.ok()).flatten().map(|me| {
                    let admin = me.agent.role == domain::model::Role::Admin;
                    view! {
                        <nav aria-label="Main">
                            <a href="/contacts">"Contacts"</a>
                            <a href="/sessions">"Sessions"</a>
                            {admin.then(|| view! { <a href="/admin">"Admin"</a> })}
                        </nav>
                        <ActionForm action=sign_out attr:class="signout">
                            <input type="hidden" name="csrf" value=me.csrf.clone() />
                            <span class="muted small" title=me.agent.email.clone()>{me.agent.display_name.clone()}</span>
                            <button type="submit" class="link">"Sign out"</button>
                        </ActionForm>
                    }
                })}
            </Transition>
        </header>
    }
}

#[component]
pub fn FieldError(id: &'static str, message: Signal<Option<String>>) -> impl IntoView {
    view! { <p id=id class="field-error">{move || message.get()}</p> }
}

/// An API time (RFC 3339, UTC) as the pages show it: `2026-11-21 08:15`,
/// with `:30` seconds when asked.
pub fn display_time(rfc3339: &str, seconds: bool) -> String {
    let len = if seconds { 19 } else { 16 };
    rfc3339.replace('T', " ").chars().take(len).collect()
}
