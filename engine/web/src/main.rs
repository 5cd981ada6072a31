//! `blankett`: the command line of the Blankett engine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use blankett_core::{Severity, flowtest, load, schema};
use blankett_web::defs_fs;
use clap::{Parser, Subcommand};

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
            let (_, diags) = load(&sources);
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
                for r in flowtest::run_flow_tests(flow, src, &mut diags) {
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
