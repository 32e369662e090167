//! The simulated Webex REST API, mounted at `/webex/v1`.

mod auth;
mod contents;
pub mod error;
mod guests;
pub mod messages;
mod people;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::state::Shared;

pub use auth::{login_guest, people_json, token_response, GUEST_TOKEN_LIFETIME};

/// Webex accepts attachments up to 100 MB; the body limit leaves room for
/// the multipart framing so the handler can answer the size error itself.
pub const MAX_FILE_BYTES: usize = 100 * 1024 * 1024;
pub const MAX_BODY_BYTES: usize = MAX_FILE_BYTES + 1024 * 1024;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/jwt/login", post(auth::jwt_login))
        .route(
            "/authorize",
            get(auth::authorize_page).post(auth::authorize_submit),
        )
        .route("/access_token", post(auth::access_token))
        .route("/guests/token", post(guests::create_token))
        .route("/guests/count", get(guests::count))
        .route("/people/me", get(people::me))
        .route("/people", get(people::list))
        .route("/people/{id}", get(people::get_one))
        .route("/rooms", get(messages::list_rooms))
        .route(
            "/messages",
            post(messages::create)
                .get(messages::list)
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/messages/{id}", get(messages::get_one))
        .route("/contents/{id}", get(contents::download))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/webhooks/{id}",
            get(webhooks::get_one)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
}
