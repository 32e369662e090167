//! Data protection on the server: the retention pruning run by the
//! housekeeping loop, and the admins' export download for the Privacy page
//! (`POST /admin/privacy/export.json`, form fields `number` and `csrf`,
//! signed-in admins only: a form post keeps the number out of URLs and
//! browser history). The rules are in `store::privacy`; the REST API is in
//! `api::privacy`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Form, Router};
use serde::Deserialize;

use crate::state::AppState;
use domain::model::Actor;
use domain::privacy::Retention;
use domain::Msisdn;
use store::{AuditCtx, Store, WebSession};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Deletes transcripts and media past their retention (nothing when kept
/// for ever). Failures are logged: the next round tries again.
pub async fn prune(store: &Store, retention: Retention) {
    let cutoff = |days: u32| store::now_ms() - i64::from(days) * DAY_MS;
    if let Some(days) = retention.transcript_days {
        match store.prune_transcripts(cutoff(days)).await {
            Ok(p) if p.rows + p.extra > 0 => {
                tracing::info!(
                    lines = p.rows,
                    jobs = p.extra,
                    days,
                    "pruned old transcripts"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not prune old transcripts"),
        }
    }
    if let Some(days) = retention.media_days {
        match store.prune_media(cutoff(days)).await {
            Ok(p) if p.rows + p.extra > 0 => {
                tracing::info!(files = p.rows, chunks = p.extra, days, "pruned old media")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not prune old media"),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/privacy/export.json", post(export))
}

#[derive(Deserialize)]
struct ExportForm {
    number: Option<String>,
    csrf: Option<String>,
}

async fn export(
    State(store): State<Store>,
    session: Option<Extension<WebSession>>,
    Form(form): Form<ExportForm>,
) -> Response {
    let Some(Extension(session)) = session else {
        return (StatusCode::UNAUTHORIZED, "sign in as an admin to export").into_response();
    };
    if !domain::access::is_admin(&session.agent) {
        return (
            StatusCode::FORBIDDEN,
            "only admins can export a customer's data",
        )
            .into_response();
    }
    let csrf = form.csrf.unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        session.csrf_token.as_bytes(),
        csrf.as_bytes(),
    )) {
        return (StatusCode::FORBIDDEN, "the form is stale: reload the page").into_response();
    }
    let msisdn = match Msisdn::parse(
        form.number.as_deref().unwrap_or_default(),
        store.rules().phone_region,
    ) {
        Ok(m) => m,
        Err(why) => {
            return (StatusCode::UNPROCESSABLE_ENTITY, format!("number: {why}")).into_response()
        }
    };
    let ctx = AuditCtx::new(Actor::Agent(session.agent.email.clone()), None);
    match store.export_customer(&ctx, &msisdn).await {
        Ok(json) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"customer-data.json\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "customer export failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the export failed; see the server log",
            )
                .into_response()
        }
    }
}
