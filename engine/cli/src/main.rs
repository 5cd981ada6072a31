//! `blankett`: the command line of the Blankett engine, one module per larger subcommand
//! (`serve` and the render worker are the web crate's and the PDF crate's; `check`, `test`,
//! `schema` and `render` are below). Each calls the application layer (`blankett_app`) or the
//! web door; none holds logic of its own beyond reading its arguments.

mod api_key;
mod backup;
mod eid;
mod export;
mod sign;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use blankett_app::{clock, defs_fs};
use blankett_core::document::DocumentRenderer as _;
use blankett_core::document::{RenderOptions, preview_request};
use blankett_core::time::Timestamp;
use blankett_core::{Severity, flowtest, load, schema};
use blankett_pdf::check_template;
use chrono::NaiveDateTime;
use clap::{Parser, Subcommand};

/// mimalloc instead of the C library's allocator: a request allocates many small, short-lived
/// values, and glibc's malloc was a sixth of the server's CPU time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "blankett",
    version,
    about = "Municipal e-services that end in a signed document"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web application. With no configuration: ./blankett.db (SQLite), the flows in
    /// flows/ and form-defs/, the test eID, on http://127.0.0.1:8080/.
    Serve {
        /// A TOML configuration file (environment variables BLANKETT__SECTION__KEY override it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The database, e.g. postgres://user@host/db (overrides the configuration).
        #[arg(long)]
        database_url: Option<String>,
        /// Where to listen, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 (overrides the configuration).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Log format: `text` (default on a terminal) or `json`.
        #[arg(long)]
        log_format: Option<String>,
    },
    /// Load flows and form-defs and report every problem as file:line:col.
    Check {
        /// Flow folders, folders of flows, form-def folders or files (default: flows form-defs).
        paths: Vec<PathBuf>,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Run the flow tests (flows/<id>/tests/*.yaml).
    Test {
        /// As for `check` (default: flows form-defs).
        paths: Vec<PathBuf>,
    },
    /// Render a flow's document to PDF, with the flow's sample answers or your own.
    Render {
        /// The flow folder (holds flow.yaml and the template).
        flow: PathBuf,
        /// Answers as JSON, by step id (default: the flow's sample-answers.json).
        #[arg(long)]
        answers: Option<PathBuf>,
        /// Where to write the PDF.
        #[arg(long)]
        out: PathBuf,
        /// Also write each page as PNG (page-1.png, …) into this folder.
        #[arg(long, value_name = "DIR")]
        preview_dir: Option<PathBuf>,
        /// The clock, as Swedish time `YYYY-MM-DDTHH:MM[:SS]` (default: now). The same answers
        /// and clock give a byte-identical PDF.
        #[arg(long, value_name = "TIME", value_parser = parse_local_time)]
        now: Option<Timestamp>,
    },
    /// Try an eID provider: run a real order and show the QR code, the status messages and
    /// the identity (e.g. to check a BankID RP certificate before going live).
    Eid(eid::EidArgs),
    /// Check the signatures of a PDF: who signed, when, intact or not, trusted or not, the
    /// PAdES level, and whether anything changed after the last signature.
    Verify(sign::VerifyArgs),
    /// Write the archive package of a completed case into a folder: the signed PDF, the
    /// answers (JSON, and XML with its XML Schema), the event log, the eID evidence, the
    /// verification report and a manifest with every file's SHA-256.
    Export(export::ExportArgs),
    /// Keys of the REST API for business systems: `api-key new`.
    ApiKey(api_key::ApiKeyArgs),
    /// Developer tools (refused in production): `dev sign-pdf`.
    Dev(sign::DevArgs),
    /// Renders documents for a server or `check` (started by them; reads requests on standard
    /// input). Not for people.
    #[command(hide = true)]
    RenderWorker,
    /// Write a consistent copy of the database while the server runs (SQLite; for
    /// PostgreSQL use pg_dump).
    Backup(backup::BackupArgs),
    /// Print or write the JSON Schemas of the flow and form-def formats.
    Schema {
        /// Write flows/flow.schema.json and form-defs/form-def.schema.json under this folder
        /// instead of printing the flow schema.
        #[arg(long, value_name = "ROOT")]
        write: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(
    config: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<std::net::SocketAddr>,
    log_format: Option<String>,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let json = match log_format.as_deref() {
        Some("json") => true,
        Some("text") => false,
        Some(other) => anyhow::bail!("--log-format: `{other}` is not `text` or `json`"),
        None => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    let mut cfg = blankett_web::app::Config::load(config.as_deref(), std::env::vars())?;
    if let Some(url) = database_url {
        cfg.database_url = url;
    }
    if let Some(addr) = listen {
        cfg.listen = addr;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(blankett_web::app::serve(cfg))?;
    Ok(ExitCode::SUCCESS)
}

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("flows"), PathBuf::from("form-defs")]
    } else {
        paths
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            paths,
            deny_warnings,
        } => {
            let sources = defs_fs::read(&default_paths(paths));
            let (defs, mut diags) = load(&sources);
            // Templates are compiled in worker processes, bounded in time and memory.
            let renderer = blankett_web::render_pool(&render_settings());
            for d in check_templates(&renderer, &defs.flows) {
                diags.add(d);
            }
            for d in diags.sorted() {
                println!("{d}");
            }
            let (e, w) = (diags.error_count(), diags.warning_count());
            println!(
                "checked {} flow(s) and {} form-def(s): {e} error(s), {w} warning(s)",
                sources.flows.len(),
                sources.form_defs.len()
            );
            Ok(if e > 0 || (deny_warnings && w > 0) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Test { paths } => {
            let sources = defs_fs::read(&default_paths(paths));
            let (defs, mut diags) = load(&sources);
            let mut passed = 0usize;
            let mut failed = 0usize;
            for src in &sources.flows {
                let Some(flow) = defs.flows.iter().find(|f| f.dir == src.dir) else {
                    println!(
                        "{}: not tested: the flow has errors (run `blankett check`)",
                        src.dir
                    );
                    failed += 1;
                    continue;
                };
                let mut coverage = flowtest::Coverage::of(flow);
                for r in flowtest::run_flow_tests_seeing(flow, src, &mut diags, &mut coverage) {
                    if r.passed() {
                        passed += 1;
                        println!("ok      {} › {}", flow.id, r.name);
                    } else {
                        failed += 1;
                        println!(
                            "FAILED  {} › {}  ({}:{}:{})",
                            flow.id, r.name, r.file, r.pos.line, r.pos.col
                        );
                        for f in &r.failures {
                            println!("        - {f}");
                        }
                    }
                }
                let (covered, total) = coverage.counts();
                println!(
                    "branches {}: {covered} of {total} condition outcomes reached ({} conditions)",
                    flow.id,
                    coverage.conditions.len()
                );
                for m in coverage.missing() {
                    println!("        - {m}");
                }
            }
            for d in diags
                .sorted()
                .iter()
                .filter(|d| d.severity == Severity::Error)
            {
                println!("{d}");
                failed += 1;
            }
            println!("{passed} passed, {failed} failed");
            Ok(if failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Render {
            flow,
            answers,
            out,
            preview_dir,
            now,
        } => render(&flow, answers.as_deref(), &out, preview_dir.as_deref(), now),
        Command::Serve {
            config,
            database_url,
            listen,
            log_format,
        } => serve(config, database_url, listen, log_format),
        Command::RenderWorker => {
            let mut input = std::io::stdin().lock();
            let mut output = std::io::stdout().lock();
            blankett_pdf::pool::worker_main(&mut input, &mut output).context("render worker")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(args) => backup::run(args),
        Command::Eid(args) => eid::run(args),
        Command::Dev(args) => sign::run(args),
        Command::ApiKey(args) => api_key::run(args),
        Command::Verify(args) => sign::verify(args),
        Command::Export(args) => Ok(export::run(args)?),
        Command::Schema { write } => {
            match write {
                None => print!("{}", schema::schema_text(schema::DefKind::Flow)),
                Some(root) => {
                    for (kind, rel) in [
                        (schema::DefKind::Flow, "flows/flow.schema.json"),
                        (schema::DefKind::FormDef, "form-defs/form-def.schema.json"),
                    ] {
                        let path = root.join(rel);
                        std::fs::write(&path, schema::schema_text(kind))
                            .with_context(|| format!("writing {}", path.display()))?;
                        println!("wrote {}", path.display());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `[render]` from the environment (`BLANKETT__RENDER__TIMEOUT_SECS`, …), else the defaults.
fn render_settings() -> blankett_web::app::config::RenderSection {
    blankett_web::app::Config::load(None, std::env::vars())
        .map(|c| c.render)
        .unwrap_or_default()
}

/// Checks the templates of `flows`, several at a time (one per rendering process).
fn check_templates(
    renderer: &blankett_pdf::pool::RenderPool,
    flows: &[blankett_core::Flow],
) -> Vec<blankett_core::Diagnostic> {
    std::thread::scope(|s| {
        let handles: Vec<_> = flows
            .iter()
            .map(|flow| s.spawn(move || check_template(renderer, flow)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// A Swedish time typed on the command line (the earlier moment in the repeated autumn hour).
fn parse_local_time(s: &str) -> Result<Timestamp, String> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .map(Timestamp::from_local)
        .map_err(|_| format!("`{s}` is not a local time like 2026-11-22T14:30"))
}

fn render(
    flow_dir: &std::path::Path,
    answers: Option<&std::path::Path>,
    out: &std::path::Path,
    preview_dir: Option<&std::path::Path>,
    now: Option<Timestamp>,
) -> anyhow::Result<ExitCode> {
    let sources = defs_fs::read(&[flow_dir.to_path_buf()]);
    let (defs, diags) = load(&sources);
    let Some(flow) = defs.flows.first() else {
        for d in diags.sorted() {
            println!("{d}");
        }
        anyhow::bail!(
            "{} is not a flow that loads without errors (see above)",
            flow_dir.display()
        );
    };
    let answers: serde_json::Value = match answers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?
        }
        None => blankett_core::document::sample_answers(flow)
            .context("the flow has no valid sample-answers.json; give --answers")?,
    };
    let now = now.unwrap_or_else(|| Timestamp::from_utc(clock::now_utc()));
    let req = preview_request(flow, &answers, now)?;
    let opts = RenderOptions {
        preview_scale: preview_dir.map(|_| 1.5),
    };
    let doc = blankett_web::render_pool(&render_settings()).render(&req, opts)?;
    for w in &doc.warnings {
        eprintln!("{w}");
    }
    std::fs::write(out, &doc.pdf).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} ({} page(s), {} bytes, SHA-256 {})",
        out.display(),
        doc.pages.len(),
        doc.pdf.len(),
        doc.sha256
    );
    for f in &doc.signature_fields {
        println!(
            "signature field {} on page {} at [{:.2} {:.2} {:.2} {:.2}]",
            f.name, f.page, f.rect[0], f.rect[1], f.rect[2], f.rect[3]
        );
    }
    if let Some(dir) = preview_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (i, png) in doc.previews.iter().enumerate() {
            let path = dir.join(format!("page-{}.png", i + 1));
            std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
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
