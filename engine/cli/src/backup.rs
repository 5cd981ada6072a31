//! `blankett backup`: a consistent copy of the SQLite database while the server runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::export::sqlite_path;
use blankett_app::Config;

/// `blankett backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy (a new file).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// A TOML configuration file, as for `serve` (environment variables BLANKETT__SECTION__KEY
    /// override it): the database.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The database, e.g. sqlite://blankett.db (overrides the configuration).
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Writes the copy into a hidden file beside `--out` and renames it into place when it is
/// complete, so `--out` is never a half-written database.
pub fn run(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(url) = args.database_url {
        config.database_url = url;
    }
    let Some(source) = sqlite_path(&config.database_url) else {
        bail!(
            "the database is not an SQLite file; back up PostgreSQL with pg_dump (for example `pg_dump --format=custom --file=blankett.dump \"$DATABASE_URL\"`), which gives a consistent copy while the server runs"
        );
    };
    if !source.exists() {
        bail!(
            "no database at {} (give --database-url or --config)",
            source.display()
        );
    }
    if args.out.exists() {
        bail!(
            "{} already exists; a backup is written to a new file",
            args.out.display()
        );
    }
    let name = args
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let partial = args.out.with_file_name(format!(".{name}.partial"));
    let _ = std::fs::remove_file(&partial);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = blankett_store::SeaStore::connect(&config.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("database: {e}"))?;
        let copied = store.backup_to(&partial).await;
        let _ = store.close().await;
        copied.map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    std::fs::rename(&partial, &args.out)
        .with_context(|| format!("moving the copy to {}", args.out.display()))?;
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({size} bytes): a consistent copy of {} (open it as sqlite://{}?mode=rwc)",
        args.out.display(),
        source.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
