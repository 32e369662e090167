//! `GET /contacts/export.csv` for signed-in agents (the sidebar's Export link).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::state::AppState;
use store::{Store, WebSession};

pub fn routes() -> Router<AppState> {
    Router::new().route("/contacts/export.csv", get(export))
}

async fn export(State(store): State<Store>, session: Option<Extension<WebSession>>) -> Response {
    let Some(Extension(session)) = session else {
        return (StatusCode::UNAUTHORIZED, "sign in to export contacts").into_response();
    };
    match store::csv_io::export_all(&store).await {
        Ok(csv) => {
            let ctx = store::AuditCtx::new(
                domain::model::Actor::Agent(session.agent.email.clone()),
                None,
            );
            let _ = store
                .record_event(
                    &ctx,
                    "contact.export",
                    "contact",
                    "*",
                    &serde_json::json!({ "bytes": csv.len() }),
                )
                .await;
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"contacts.csv\"",
                    ),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                csv,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "contact export failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the export failed; see the server log",
            )
                .into_response()
        }
    }
}
