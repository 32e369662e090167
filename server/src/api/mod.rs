//! REST API v1 for Webex Connect flows and scripts, under `/api/v1`.
//!
//! Routes and the OpenAPI document come from the same `routes!` lists, so a
//! route cannot exist undocumented.

pub mod agents;
pub mod contacts;
pub mod conversations;
pub mod error;
pub mod extract;
pub mod privacy;
pub mod services;
pub mod sessions;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Contact Manager API", description = "Contacts, sessions, agents, starting conversations, guest tokens and the attachment cache for Webex Connect flows. Authenticate with an API key in the `key` header or as `Authorization: Bearer <key>`. Errors are JSON `{\"code\", \"message\", \"field\"?}`."),
    modifiers(&Security),
    security(("key" = []), ("bearer" = [])),
    tags((name = "contacts"), (name = "sessions"), (name = "agents"), (name = "conversations", description = "Start conversation, as the sidebar's buttons do; and conversations as records (search, create, append, close, reopen: the Engage nodes' outcomes as status codes)"), (name = "services", description = "Guest tokens and the attachment cache, for Connect flows"), (name = "privacy", description = "Subject requests: export or erase everything held about a phone number (keys with the `admin` scope)"))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The documented routes, relative to `/api/v1`.
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(contacts::list, contacts::create))
        .routes(routes!(contacts::get, contacts::update, contacts::delete))
        .routes(routes!(sessions::list, sessions::create))
        .routes(routes!(sessions::get, sessions::update, sessions::delete))
        .routes(routes!(agents::get))
        .routes(routes!(conversations::start))
        .routes(routes!(conversations::search, conversations::create))
        .routes(routes!(conversations::get))
        .routes(routes!(conversations::append))
        .routes(routes!(conversations::close))
        .routes(routes!(conversations::reopen))
        .routes(routes!(services::guest_token))
        .routes(routes!(services::cache_attachment))
        .routes(routes!(privacy::erase))
        .routes(routes!(privacy::export))
}

/// The OpenAPI document, with full paths.
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", documented())
        .into_openapi()
}

pub fn router(state: AppState) -> Router<AppState> {
    let (routes, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", documented())
        .split_for_parts();
    let doc = std::sync::Arc::new(doc);
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json((*doc).clone()) }),
        )
        .route("/api/v1/{*rest}", axum::routing::any(error::api_not_found))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
}
