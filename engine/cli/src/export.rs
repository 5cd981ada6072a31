//! `blankett export`: the archive package of one completed case (see [`blankett_app::export`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use blankett_core::load;
use clap::Args;

use blankett_app::Config;
use blankett_app::export::{ExportError, export_case, find_case, pinned_flow};
use blankett_app::{clock, defs_fs};

/// `blankett export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The case: its id, or its case number (e.g. 2026-0042).
    #[arg(long = "case", value_name = "ID-OR-NUMBER")]
    pub case: String,
    /// The folder to write the package into; it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A TOML configuration file, as for `serve` (environment variables BLANKETT__SECTION__KEY
    /// override it): the database, the definitions and the signing CA.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The database, e.g. postgres://user@host/db (overrides the configuration).
    #[arg(long)]
    pub database_url: Option<String>,
    /// A further CA certificate (PEM) the verification trusts, as `blankett verify --trust`;
    /// may be given several times. The CA this installation signs with is always trusted.
    #[arg(long)]
    pub trust: Vec<PathBuf>,
}

/// The CA certificate this installation signs with (where `AppState::start` keeps its PKI).
pub fn signing_ca(config: &Config) -> PathBuf {
    let dir = match &config.signing.pki_dir {
        Some(d) => config.base_dir.join(d),
        None => config.data_dir.join("dev-pki"),
    };
    dir.join("ca.pem")
}

/// The path of a SQLite database URL (`sqlite://path?mode=rwc`), if it is one.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.starts_with(':') {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Writes the package and prints a summary. Errors (an unknown or unfinished case, a target
/// that is not empty) are returned with a message saying what to do; nothing is written then.
pub fn run(args: ExportArgs) -> Result<ExitCode, ExportError> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(url) = args.database_url.clone() {
        config.database_url = url;
    }
    // Connecting creates a missing SQLite file; an export must not make an empty database.
    if let Some(path) = sqlite_path(&config.database_url)
        && !path.exists()
    {
        return Err(ExportError::Other(format!(
            "no database at {} (give --database-url or --config)",
            path.display()
        )));
    }
    let mut trust = Vec::new();
    let ca = signing_ca(&config);
    if ca.exists() {
        trust.push(read(&ca)?);
    }
    for path in &args.trust {
        trust.push(read(path)?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ExportError::Other(format!("starting the async runtime: {e}")))?;
    let manifest = runtime.block_on(async {
        let store = blankett_store::SeaStore::connect(&config.database_url).await?;
        let case = find_case(&store, &args.case).await?;
        let flow = match pinned_flow(&store, &case, &[]).await {
            Ok(flow) => flow,
            // Not stored (no server has run on these definitions): the definitions on disk.
            Err(ExportError::FlowMissing { .. }) => {
                let paths: Vec<PathBuf> = config
                    .definitions
                    .iter()
                    .map(|p| config.base_dir.join(p))
                    .collect();
                let (defs, _) = load(&defs_fs::read(&paths));
                pinned_flow(&store, &case, &defs.flows).await?
            }
            Err(e) => return Err(e),
        };
        export_case(
            &store,
            &store,
            &flow,
            &case.id,
            &trust,
            clock::now_utc(),
            &args.out,
        )
        .await
    })?;
    println!(
        "exported case {} ({}, {}) to {}",
        manifest.case.number,
        manifest.flow.id,
        manifest.case.id,
        args.out.display()
    );
    for f in &manifest.files {
        println!("  {:<18} {:>9} bytes  sha256 {}", f.name, f.size, f.sha256);
    }
    println!("  {:<18} (the list above, with hashes)", "manifest.json");
    println!("verification: {}", manifest.verification.verdict);
    Ok(ExitCode::SUCCESS)
}

fn read(path: &Path) -> Result<Vec<u8>, ExportError> {
    std::fs::read(path).map_err(|e| ExportError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_finds_the_file_of_a_sqlite_url() {
        assert_eq!(
            sqlite_path("sqlite:///tmp/x/blankett.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x/blankett.db"))
        );
        assert_eq!(
            sqlite_path("sqlite://blankett.db?mode=rwc"),
            Some(PathBuf::from("blankett.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }
}
