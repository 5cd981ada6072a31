//! The composition root of Blankett. The `blankett` binary (`src/main.rs`) is its command line;
//! the pieces here are shared with the repository's tests.

pub mod api_key_cmd;
pub mod app;
/// The application layer's HTTP-free parts, where they used to live.
pub use blankett_app::{clock, defs_fs, export, pinned};
pub mod backup_cmd;
pub mod eid_cmd;
pub mod export_cmd;
pub mod sign_cmd;

/// The pool of rendering processes described by `[render]`: this binary started as
/// `blankett render-worker` unless `render.worker_program` names another.
pub fn render_pool(section: &app::config::RenderSection) -> blankett_pdf::pool::RenderPool {
    let program = section
        .worker_program
        .clone()
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_else(|| std::path::PathBuf::from("blankett"));
    let workers = section.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2)
    });
    blankett_pdf::pool::RenderPool::new(blankett_pdf::pool::PoolSettings {
        program,
        args: vec!["render-worker".into()],
        workers,
        timeout: std::time::Duration::from_secs(section.timeout_secs),
        memory_mb: section.memory_mb,
    })
}

/// Whether the environment variable `BLANKETT_ENVIRONMENT` says this is a production
/// installation (the configuration file can say so too).
pub fn environment_is_production() -> bool {
    std::env::var("BLANKETT_ENVIRONMENT").is_ok_and(|v| v.trim().eq_ignore_ascii_case("production"))
}

/// A `--personnummer` argument, checked (12 digits, valid check digit).
pub fn personnummer_arg(
    arg: Option<&str>,
) -> anyhow::Result<Option<blankett_core::ids::Personnummer>> {
    arg.map(blankett_core::ids::Personnummer::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--personnummer: {e}"))
}
