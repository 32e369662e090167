//! Security tests: attacks tried through real HTTP against the real server.

#[path = "../common/mod.rs"]
mod common;

mod ssrf;
