//! `GET /people/me`, `GET /people?email=`, `GET /people/{id}`.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{people_json, Caller};
use super::error::ApiError;
use crate::state::Shared;

pub async fn me(Caller(person): Caller) -> Json<Value> {
    Json(people_json(&person))
}

#[derive(Deserialize)]
pub struct PeopleQuery {
    email: Option<String>,
    id: Option<String>,
}

pub async fn list(
    State(sandbox): State<Shared>,
    _caller: Caller,
    Query(q): Query<PeopleQuery>,
) -> Result<Json<Value>, ApiError> {
    let world = sandbox.world();
    let items: Vec<Value> = match (q.email, q.id) {
        (Some(email), _) => world
            .person_by_email(&email)
            .map(people_json)
            .into_iter()
            .collect(),
        (None, Some(ids)) => ids
            .split(',')
            .filter_map(|id| world.person(id.trim()))
            .map(people_json)
            .collect(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "Email, displayName, or id list should be specified.",
            ))
        }
    };
    Ok(Json(json!({ "items": items })))
}

pub async fn get_one(
    State(sandbox): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let world = sandbox.world();
    let person = world
        .person(&id)
        .ok_or_else(|| ApiError::not_found("Person not found."))?;
    Ok(Json(people_json(person)))
}
