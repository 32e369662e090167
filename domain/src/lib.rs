//! Contact Manager's types and rules: channels, contacts, sessions, who may
//! see what, and the validation errors. It compiles everywhere, the browser
//! included; storage, the platform clients and the relay are crates of their
//! own (`store`, `platform`, `relay`) that build on it. The `server` feature
//! adds what only a server needs: phone metadata, the storage error and the
//! API schemas.

pub mod access;
pub mod agent_links;
pub mod bot;
pub mod card_numbers;
pub mod channel;
pub mod consent;
pub mod error;
#[cfg(feature = "server")]
pub mod input;
pub mod language;
pub mod links;
pub mod message_log;
pub mod model;
#[macro_use]
pub mod names;
pub mod phone;
pub mod privacy;
pub mod templates;
pub mod times;

pub use channel::Channel;
pub use error::{DomainError, FieldError};
pub use language::Language;
pub use phone::Msisdn;
