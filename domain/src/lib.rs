//! Contact Manager business rules.
//!
//! The plain types (channels, contacts, sessions, validation errors) compile
//! everywhere, including the browser. Everything that needs the server
//! (database, phone metadata) is behind the `server` feature.

pub mod access;
pub mod channel;
pub mod error;
pub mod links;
pub mod model;
#[macro_use]
pub mod names;
pub mod phone;

#[cfg(feature = "server")]
pub mod api_key;
#[cfg(feature = "server")]
pub mod connect;
#[cfg(feature = "server")]
pub mod conversations;
#[cfg(feature = "server")]
pub mod csv_io;
#[cfg(feature = "server")]
pub mod fetch;
#[cfg(feature = "server")]
pub mod guests;
#[cfg(feature = "server")]
pub mod media;
#[cfg(feature = "server")]
pub mod password;
#[cfg(feature = "server")]
pub mod relay;
#[cfg(feature = "server")]
pub mod request_id;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod token_cipher;
#[cfg(feature = "server")]
pub mod webex;

pub use channel::Channel;
pub use error::{DomainError, FieldError};
pub use phone::Msisdn;
