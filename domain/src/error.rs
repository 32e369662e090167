use serde::{Deserialize, Serialize};

/// A validation failure of one input field: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Errors of the business layer. The HTTP layer maps each to a status code in
/// one place (`server::error`).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    Invalid(#[from] FieldError),

    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },

    /// A unique value is already taken by another record.
    #[error("{message}")]
    Duplicate {
        message: String,
        field: String,
        existing_id: String,
    },

    /// The caller edited an older version than the stored one.
    #[error("{entity} {id} was changed by someone else: current version is {current_version}")]
    StaleVersion {
        entity: &'static str,
        id: String,
        current_version: i64,
        /// The current record, so the caller can show what changed.
        current: serde_json::Value,
    },

    /// The record is not in a state that allows this (e.g. closing a closed
    /// conversation); `code` names the state for callers that branch on it.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },

    #[error("storage error: {0}")]
    Storage(String),
}

impl DomainError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        DomainError::NotFound {
            entity,
            id: id.into(),
        }
    }
}

#[cfg(feature = "server")]
impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        DomainError::Storage(e.to_string())
    }
}
