//! What every handler can reach: the application state, built once by
//! `startup` and shared by the routes.

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

use crate::config::Config;
use crate::identity::EmbeddedIdentity;
use crate::integrations::Integrations;
use relay::conversations::Conversations;
use store::{SessionPolicy, Store};

/// What every handler can reach. Cloned for every request (and for each
/// extractor of it), so it is one shared pointer: cloning the fields one by
/// one cost a few percent of a webhook's CPU.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of the state that handlers extract on their own.
macro_rules! from_ref {
    ($($field:ident: $ty:ty),*) => {$(
        impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> $ty {
                state.$field.clone()
            }
        }
    )*};
}
from_ref!(leptos_options: LeptosOptions, store: Store, conversations: Conversations);

/// What [`AppState`] holds.
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub config: Arc<Config>,
    pub integrations: Arc<Integrations>,
    /// The browser session cookie and lifetimes.
    pub session_policy: SessionPolicy,
    pub identity: Arc<EmbeddedIdentity>,
    /// The native relay, when `CM_RELAY_MODE=native`.
    pub relay: Option<relay::Relay>,
    /// Guest JWTs and cached guest access tokens (both relay modes), when
    /// the Webex API URL and the Guest Issuer are configured.
    pub guests: Option<relay::guests::GuestAuth>,
    /// The media cache (both relay modes), when the Webex API URL is configured.
    pub media: Option<relay::media::MediaCache>,
    /// Security headers (CSP, HSTS, framing) from the settings.
    pub headers: crate::headers::HeaderPolicy,
    /// Per-address and per-account limits on sign-in and bad credentials.
    pub throttles: Arc<crate::throttle::Throttles>,
    /// Start conversation (the sidebar, the API), in the configured relay mode.
    pub conversations: Conversations,
    /// Session changes for the live sidebar (`/events`).
    pub live: crate::live::LiveFeed,
    /// The numbers of the agents' links (`CM_WHATSAPP_BUSINESS_NUMBER`, `CM_SMS_NUMBER`).
    pub business_numbers: domain::agent_links::BusinessNumbers,
}
