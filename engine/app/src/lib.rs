//! Blankett's application layer, the part that needs no HTTP: the typed configuration every
//! command reads, who may do what with a case ([`access`]), the [`clock::Clock`] port, reading
//! definitions from disk ([`defs_fs`]) and linking a case's pinned flow again ([`pinned`]).
//! The web server, the REST API and the command line call it; it calls the core and the
//! adapters' ports.

pub mod access;
pub mod clock;
pub mod config;
pub mod defs_fs;
pub mod pinned;

pub use config::{Config, ConfigError};
