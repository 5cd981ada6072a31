//! Blankett's web door: the HTML pages and the REST API over the application service
//! (`blankett_app`), and the server they run in (`app::serve`). The `blankett` binary is
//! `engine/cli`.

pub mod app;
/// The application layer's HTTP-free parts, where they used to live.
pub use blankett_app::{clock, defs_fs, export, pinned};

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
