//! One test per attack on the product (issue #10): each would pass for the
//! attacker without the defence it names. Real server, real HTTP on loopback.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod defaults;
mod embedded;
mod floods;
mod headers;
mod identity;
mod render;
mod ssrf;
mod webhooks;
