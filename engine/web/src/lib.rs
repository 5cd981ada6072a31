//! The composition root of Blankett. The `blankett` binary (`src/main.rs`) is its command line;
//! the pieces here are shared with the repository's tests.

pub mod clock;
pub mod defs_fs;
pub mod eid_cmd;
