//! Security tests: one test per attack, through real HTTP on loopback.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod identity;
