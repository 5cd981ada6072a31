//! Blankett's pure domain.
//!
//! * `def` — the flow format as written in YAML (`FlowDef`, `StepDef`, `FieldDef`, `FormDef`);
//! * `yaml`, `schema`, `link` — reading definitions with positions, the format's JSON Schema,
//!   and linking into runnable flows with every problem reported as `file:line:col`;
//! * `model` — the linked flow (`Flow`, `Step`, `Field`);
//! * `expr` — minijinja expressions and text templates with date/number filters;
//! * `rules` — conditions, computed values and answer validation;
//! * `case` — the case state machine;
//! * `export` — a case's answers as XML with their XML Schema, for the e-archive;
//! * `flowtest` — flow tests (`flows/<id>/tests/*.yaml`);
//! * `ids` — personnummer and organisationsnummer;
//! * `charset` — the characters a document can show;
//! * `time` — the one time rule: a `Timestamp` is kept in UTC and shown in Swedish time.
//!
//! No I/O, no clock, no randomness: time and ids come in as arguments.

pub mod case;
pub mod charset;
pub mod def;
pub mod diag;
pub mod document;
pub mod eid;
pub mod export;
pub mod expr;
pub mod files;
pub mod flowtest;
pub mod ids;
pub mod link;
pub mod model;
pub mod rules;
pub mod schema;
pub mod secret;
mod shape;
pub mod source;
pub mod store;
pub mod store_memory;
pub mod time;
pub mod yaml;

pub use diag::{Diagnostic, Diagnostics, Pos, Severity};
pub use link::{Definitions, load};
pub use model::{Field, Flow, Role, Step, Text};
pub use source::{FlowSource, FormDefSource, Sources};
