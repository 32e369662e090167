//! The error every server function returns: a message for the person, the
//! field it concerns, and for conflicts the record as it is now.

use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::codec::JsonText;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct UiError {
    pub kind: ErrorKind,
    pub message: String,
    pub field: Option<String>,
    /// For a stale edit: the current record, to show what changed.
    pub current: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// Not signed in (or the session expired).
    SignedOut,
    Forbidden,
    NotFound,
    Invalid,
    Conflict,
    Failed,
}

impl UiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        UiError {
            kind,
            message: message.into(),
            field: None,
            current: None,
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        UiError {
            field: Some(field.to_string()),
            ..UiError::new(ErrorKind::Invalid, message)
        }
    }

    /// The message for one form field, if this error is about it.
    pub fn for_field(&self, field: &str) -> Option<String> {
        (self.field.as_deref() == Some(field)).then(|| self.message.clone())
    }
}

impl FromServerFnError for UiError {
    type Encoder = JsonText;

    /// Failures before the server could answer, said as the person meets them.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        use ServerFnErrorErr as E;
        let message = match value {
            E::Request(_) => {
                "could not reach the server: check your connection, then try again".to_string()
            }
            // A proxy's error page, or a server on its way down or up.
            E::Deserialization(_) | E::Response(_) => {
                "the server did not answer properly: it may be restarting; try again in a moment"
                    .to_string()
            }
            other => format!("the request failed: {other}"),
        };
        UiError::new(ErrorKind::Failed, message)
    }

    /// A server function's error, or a refusal the server made before the
    /// function ran (a rate limit's 429), which speaks the API's error
    /// shape (`{"code", "message"}`, e.g. a body too large): its message
    /// is the one to show.
    fn de(data: leptos::server_fn::Bytes) -> Self {
        use leptos::server_fn::Decodes;
        #[derive(Deserialize)]
        struct Refusal {
            message: String,
        }
        match <JsonText as Decodes<UiError>>::decode(data.clone()) {
            Ok(error) => error,
            Err(e) => match <JsonText as Decodes<Refusal>>::decode(data) {
                Ok(r) => UiError::new(ErrorKind::Failed, r.message),
                Err(_) => {
                    Self::from_server_fn_error(ServerFnErrorErr::Deserialization(e.to_string()))
                }
            },
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::DomainError> for UiError {
    fn from(e: domain::DomainError) -> Self {
        use domain::DomainError as D;
        match e {
            D::Invalid(f) => UiError {
                field: Some(f.field.clone()),
                ..UiError::new(ErrorKind::Invalid, f.message)
            },
            D::NotFound { entity, .. } => UiError::new(ErrorKind::NotFound, format!("this {entity} no longer exists")),
            D::Duplicate {
                field, existing_id, ..
            } => UiError {
                field: Some(field),
                current: Some(serde_json::json!({ "existingId": existing_id })),
                ..UiError::new(ErrorKind::Conflict, "is already used by another record")
            },
            D::StaleVersion { current, .. } => UiError {
                current: Some(current),
                ..UiError::new(
                    ErrorKind::Conflict,
                    "someone else changed this record while you were editing; the current values are shown",
                )
            },
            D::Conflict { message, .. } => UiError::new(ErrorKind::Conflict, message),
            D::Storage(detail) => {
                tracing::error!(error = %detail, "storage failure in a server function");
                UiError::new(ErrorKind::Failed, "something went wrong on the server; try again")
            }
        }
    }
}
