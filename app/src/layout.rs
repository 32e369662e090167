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
                Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| me.refetch()) /> }.into_any(),
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
    // The section the page belongs to is marked for screen readers and the eye.
    let pathname = leptos_router::hooks::use_location().pathname;
    let here = move |section: &'static str| {
        move || {
            let path = pathname.get();
            (path == section || path.starts_with(&format!("{section}/"))).then_some("page")
        }
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Contact Manager"</a>
            <Transition fallback=|| ()>
                {move || me.get().and_then(|r| r.ok()).flatten().map(|me| {
                    let admin = me.agent.role == domain::model::Role::Admin;
                    view! {
                        <nav aria-label="Main">
                            <a href="/contacts" aria-current=here("/contacts")>"Contacts"</a>
                            <a href="/sessions" aria-current=here("/sessions")>"Sessions"</a>
                            <a href="/links" aria-current=here("/links")>"My links"</a>
                            {admin.then(|| view! { <a href="/admin" aria-current=here("/admin")>"Admin"</a> })}
                        </nav>
                        <ActionForm action=sign_out attr:class="signout">
                            <input type="hidden" name="csrf" value=me.csrf.clone() />
                            <span class="muted small" title=me.agent.email.clone()>{me.agent.display_name.clone()}</span>
                            <button type="submit" class="link" disabled=move || sign_out.pending().get()>
                                {move || if sign_out.pending().get() { "Signing out…" } else { "Sign out" }}
                            </button>
                        </ActionForm>
                        {move || sign_out.value().get().and_then(|r| r.err()).map(|e| view! {
                            <p class="notice error signout-error" role="alert">{format!("Not signed out: {}", e.message)}</p>
                        })}
                    }
                })}
            </Transition>
        </header>
    }
}

/// A failed load, said plainly, with a way to try again (the server may
/// have been unreachable for a moment) or to sign in again.
#[component]
pub fn ErrorNotice(
    error: UiError,
    /// Loads the data again; without it the person can only reload the page.
    #[prop(optional)]
    retry: Option<Callback<()>>,
) -> impl IntoView {
    let signed_out = error.kind == crate::error::ErrorKind::SignedOut;
    view! {
        <div class="notice error" role="alert">
            <p>{error.message}</p>
            {if signed_out {
                Some(view! { <p><a href="/sign-in">"Sign in"</a></p> }.into_any())
            } else {
                retry.map(|retry| view! {
                    <p><button type="button" class="secondary" on:click=move |_| retry.run(())>"Try again"</button></p>
                }.into_any())
            }}
        </div>
    }
}

/// A `Transition` that tells `busy` when its resources are loading, in the
/// browser only. On the server, Leptos 0.8.23 runs `set_pending`'s effect
/// after the page's owner is gone: under load it panicked on a disposed
/// value and could leave the response hanging.
#[component]
pub fn LoadingTransition<Chil>(
    busy: WriteSignal<bool>,
    children: TypedChildren<Chil>,
) -> impl IntoView
where
    Chil: IntoView + Send + 'static,
{
    Transition(TransitionProps {
        fallback: Default::default(),
        set_pending: cfg!(feature = "hydrate").then(|| busy.into()),
        children,
    })
}

/// While a list loads (first, or again for another page or a search) this
/// line says so; rows already shown stay. The live region is always in the
/// page, so screen readers announce the text when it appears.
#[component]
pub fn LoadingLine(busy: ReadSignal<bool>, what: &'static str) -> impl IntoView {
    view! {
        <p class="muted small loading-line" aria-live="polite">{move || busy.get().then_some(what)}</p>
    }
}

#[component]
pub fn FieldError(id: &'static str, message: Signal<Option<String>>) -> impl IntoView {
    view! { <p id=id class="field-error">{move || message.get()}</p> }
}

/// `k=v&k=v` with the values percent-encoded, for links and redirects.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One of a page's actions, for [`action_notice`]: how many times it
/// finished, its last result, the query word its no-JavaScript redirect
/// adds (`?ended=1`), and what its notice says when it worked.
#[derive(Clone, Copy)]
pub struct PageAction {
    pub version: Signal<usize>,
    pub result: Signal<Option<Result<(), UiError>>>,
    pub query_word: &'static str,
    pub done: &'static str,
}

/// The notice of a page with several actions: about the action that
/// finished last (End, then Take over, says the take-over), else what the
/// redirect after a form without JavaScript put in the query (`?error=` or
/// an action's word). An error is an alert, a success a status.
pub fn action_notice<const N: usize>(actions: [PageAction; N]) -> impl IntoView {
    let notice = last_action_notice(actions);
    move || {
        notice().map(|(err, m)| {
            if err {
                view! { <p class="notice error" role="alert">{m}</p> }.into_any()
            } else {
                view! { <p class="notice success" role="status">{m}</p> }.into_any()
            }
        })
    }
}

/// [`action_notice`]'s text: `(is_error, text)`.
fn last_action_notice<const N: usize>(
    actions: [PageAction; N],
) -> impl Fn() -> Option<(bool, String)> + Copy + Send + Sync + 'static {
    let query = leptos_router::hooks::use_query_map();
    let last = RwSignal::new(None::<usize>);
    for (i, action) in actions.iter().enumerate() {
        let version = action.version;
        Effect::new(move |_| {
            if version.get() > 0 {
                last.set(Some(i));
            }
        });
    }
    move || {
        if let Some(action) = last.get().map(|i| actions[i]) {
            match action.result.get() {
                Some(Err(e)) => return Some((true, e.message)),
                Some(Ok(())) => return Some((false, action.done.to_string())),
                None => {}
            }
        }
        query.with(|m| {
            m.get("error").map(|e| (true, e)).or_else(|| {
                actions
                    .iter()
                    .find(|a| m.get(a.query_word).is_some())
                    .map(|a| (false, a.done.to_string()))
            })
        })
    }
}
