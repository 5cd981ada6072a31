//! `blankett eid try`: the operator's smoke test of an eID provider. Runs a real order against
//! the configured provider (`[eid]` of the same configuration file `serve` reads, with the same
//! environment variables), prints the animated QR code and the status messages, and finally
//! the identity.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use blankett_eid::TokioSleeper;
use blankett_eid::bankid::COLLECT_INTERVAL;
use blankett_eid::smoke::{self, SmokeError, TryOptions, TryOrder};
use clap::{Args, Subcommand};

use blankett_app::clock;

/// `blankett eid …`
#[derive(Debug, Args)]
pub struct EidArgs {
    #[command(subcommand)]
    pub command: EidCommand,
}

#[derive(Debug, Subcommand)]
pub enum EidCommand {
    /// Run one real order against a configured provider and print QR, messages and identity.
    Try(TryArgs),
}

#[derive(Debug, Args)]
pub struct TryArgs {
    /// The provider id: `bankid` or `test`.
    pub provider: String,
    /// The configuration file, as for `serve` (environment variables BLANKETT__SECTION__KEY
    /// override it).
    #[arg(long)]
    pub config: PathBuf,
    /// Only this person may complete the order (12 digits).
    #[arg(long)]
    pub personnummer: Option<String>,
    /// The end user's IP address sent to the provider.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub end_user_ip: IpAddr,
    /// Do not draw the QR code (print only its data).
    #[arg(long)]
    pub no_qr: bool,
    #[command(subcommand)]
    pub order: TryOrderArg,
}

#[derive(Debug, Subcommand)]
pub enum TryOrderArg {
    /// Identify.
    Auth,
    /// Sign a text.
    Sign {
        /// The text shown in the eID app.
        #[arg(long)]
        text: String,
    },
}

/// Runs `blankett eid …`. Exit code 0 when the order completed, 1 when it failed.
pub fn run(args: EidArgs) -> anyhow::Result<ExitCode> {
    let EidCommand::Try(args) = args.command;
    let personnummer = crate::personnummer_arg(args.personnummer.as_deref())?;
    let options = TryOptions {
        order: match args.order {
            TryOrderArg::Auth => TryOrder::Auth,
            TryOrderArg::Sign { text } => TryOrder::Sign { text },
        },
        personnummer,
        end_user_ip: args.end_user_ip,
        interval: COLLECT_INTERVAL,
        show_qr: !args.no_qr,
    };
    let config = blankett_app::Config::load(Some(&args.config), std::env::vars())?;
    let providers = config
        .eid_settings()
        .providers(&config.base_dir)
        .map_err(|e| anyhow::anyhow!("eID: {e}"))?;
    let provider = providers
        .get(&args.provider)
        .map_err(|e| anyhow::anyhow!("{e} (configured: {})", providers.ids().join(", ")))?
        .clone();
    let mut out = std::io::stdout();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(smoke::run(
        provider.as_ref(),
        &options,
        &clock::now_utc,
        &TokioSleeper,
        &mut out,
    ));
    match outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(SmokeError::Failed { .. }) => Ok(ExitCode::from(1)),
        Err(e) => Err(e).context("eid try"),
    }
}
