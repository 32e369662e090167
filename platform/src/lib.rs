//! The platforms we talk to: Webex ([`webex`]) and Webex Connect
//! ([`connect`]), each a typed client of the documented API (see
//! docs/platform-contracts.md), and [`fetch`], the one guarded way to
//! download a URL someone else gave us.

pub mod connect;
pub mod fetch;
pub mod webex;
