//! Blankett's application layer, the part that needs no HTTP: the typed configuration every
//! command reads, who may do what with a case ([`access`]), running a command on a case and
//! writing its outcome ([`commands`]), the [`clock::Clock`] port, reading definitions from
//! disk ([`defs_fs`]), linking a case's pinned flow again ([`pinned`]), the archive package of
//! a completed case ([`export`]) and the outbox's planner ([`outbox`]: the messages a case
//! write causes, written in the same transaction).
//! The web server, the REST API and the command line call it; it calls the core and the
//! adapters' ports.

pub mod access;
pub mod approval;
pub mod clock;
pub mod commands;
pub mod config;
pub mod defs_fs;
pub mod export;
pub mod files;
pub mod outbox;
pub mod pinned;
pub mod service;
pub mod signer;
pub mod signing;

pub use config::{Config, ConfigError};
