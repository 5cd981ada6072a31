//! The web crate's integration tests as one binary: every test binary links the whole server,
//! so one link instead of 13 (and one copy on disk). Each module is one former test file;
//! the shared helpers are declared here once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../eid/tests/support/mod.rs"]
mod bankid_server;
#[path = "support/sinks.rs"]
mod sinks;
mod support;
#[path = "support/web.rs"]
mod web;

mod api;
mod cli;
mod definitions;
mod eid_cli;
mod eid_faults;
mod export_cli;
mod files;
mod input;
mod notify;
mod operations;
mod pages;
mod person;
mod render_cli;
mod sign_cli;
mod signera;
