//! `/api/v1/agents`: agent details for Connect flows (seed: "Get Agent Details").

use axum::extract::{Path, State};
use axum::Json;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiCaller, Connect};
use domain::model::Agent;
use store::Store;

/// Get an agent by email address (case does not matter).
#[utoipa::path(get, path = "/agents/{email}", tag = "agents", params(("email" = String, Path, description = "The agent's email")),
    responses(
        (status = 200, description = "The agent", body = Agent),
        (status = 401, description = "Missing, invalid or expired API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `connect` scope (code `insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such agent", body = ErrorBody),
        (status = 422, description = "Not an email address", body = ErrorBody),
    ))]
pub async fn get(
    _caller: ApiCaller<Connect>,
    State(store): State<Store>,
    Path(email): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(store.agent_by_email(&email).await?))
}
