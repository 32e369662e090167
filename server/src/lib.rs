//! The Contact Manager server: configuration, HTTP surface and CLI. Wiring,
//! not business rules (those live in the `domain` crate).

pub mod api;
pub mod cli;
pub mod config;
pub mod contacts_csv;
pub mod embedded;
pub mod headers;
pub mod identity;
pub mod integrations;
pub mod live;
pub mod media;
pub mod metrics;
pub mod ops;
pub mod privacy;
pub mod sandbox_mount;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod web_auth;
pub mod webhook_auth;
pub mod webhooks;
pub mod wiring;
