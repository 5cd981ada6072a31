//! The operator's smoke test behind `blankett eid try`: runs one real order against the
//! configured provider, prints the animated QR code in the terminal and the status messages,
//! and finally the identity, so a municipality can check its RP certificate before going live.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use blankett_core::eid::{Completion, EidError, IdentityProvider, Progress, StartRequest};
use blankett_core::ids::Personnummer;
use chrono::{DateTime, Utc};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::Sleeper;
use crate::config::EidSettings;

/// What to start.
#[derive(Debug, Clone)]
pub enum TryOrder {
    Auth,
    /// A signing order showing this text.
    Sign {
        text: String,
    },
}

#[derive(Debug, Clone)]
pub struct TryOptions {
    pub order: TryOrder,
    pub personnummer: Option<Personnummer>,
    pub end_user_ip: IpAddr,
    /// Pause between collects (BankID: 2 s).
    pub interval: Duration,
    /// Print the QR code (off in tests to keep the output short).
    pub show_qr: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("{0}")]
    Eid(#[from] EidError),
    #[error("configuration: {0}")]
    Settings(String),
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    #[error("the order failed: {code} ({message})")]
    Failed { code: String, message: String },
}

/// Reads the `[eid]` section of a TOML configuration file (or the whole file, if it has no
/// such section) and builds the named provider.
pub fn load_provider(
    config_file: &Path,
    provider: &str,
) -> Result<Arc<dyn IdentityProvider>, SmokeError> {
    let text = std::fs::read_to_string(config_file)
        .map_err(|e| SmokeError::Settings(format!("{}: {e}", config_file.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| SmokeError::Settings(format!("{}: {e}", config_file.display())))?;
    let section = match table.get("eid") {
        Some(v) => v.clone(),
        None => toml::Value::Table(table),
    };
    let settings: EidSettings = section
        .try_into()
        .map_err(|e| SmokeError::Settings(format!("{}: [eid]: {e}", config_file.display())))?;
    let base = config_file.parent().unwrap_or(Path::new("."));
    let providers = settings.providers(base)?;
    Ok(providers.get(provider)?.clone())
}

/// Runs one order to its end, writing progress to `out`.
pub async fn run(
    provider: &dyn IdentityProvider,
    options: &TryOptions,
    now: &(dyn Fn() -> DateTime<Utc> + Send + Sync),
    sleeper: &dyn Sleeper,
    out: &mut (dyn Write + Send),
) -> Result<Completion, SmokeError> {
    let mut request = match &options.order {
        TryOrder::Auth => StartRequest::auth(options.end_user_ip),
        TryOrder::Sign { text } => {
            let mut r = StartRequest::auth(options.end_user_ip);
            r.kind = blankett_core::eid::OrderKind::Sign;
            r.visible_text = Some(blankett_core::eid::escape_markdown(text));
            r
        }
    };
    request.expected_personnummer = options.personnummer.clone();
    let order = provider.start(&request, now()).await?;
    writeln!(
        out,
        "Order started: {} ({})",
        order.order_ref,
        provider.id()
    )?;
    if let Some(link) = provider.autostart_url(&order) {
        writeln!(out, "Same device: {link}")?;
    }
    let mut last_hint = String::new();
    for _ in 0..1000 {
        let t = now();
        if let Some(data) = provider.qr_data(&order, t)
            && options.show_qr
        {
            if let Ok(code) = QrCode::new(data.as_bytes()) {
                writeln!(
                    out,
                    "{}",
                    code.render::<Dense1x2>().quiet_zone(true).build()
                )?;
            }
            writeln!(out, "QR: {data}")?;
        }
        match provider.collect(&order, t).await? {
            Progress::Pending { hint, message } => {
                if hint != last_hint {
                    writeln!(out, "[{hint}] {} / {}", message.sv, message.en)?;
                    last_hint = hint;
                }
            }
            Progress::Failed { code, message, .. } => {
                writeln!(out, "[{code}] {} / {}", message.sv, message.en)?;
                return Err(SmokeError::Failed {
                    code,
                    message: message.en,
                });
            }
            Progress::Complete(done) => {
                let id = &done.identity;
                writeln!(out, "Complete.")?;
                writeln!(out, "Name: {}", id.full_name)?;
                writeln!(out, "Personnummer: {}", id.personnummer.as_str())?;
                writeln!(out, "Assurance: {:?}", done.assurance)?;
                writeln!(
                    out,
                    "Evidence: {} bytes of signature, {} bytes of OCSP response",
                    done.evidence.signature.len(),
                    done.evidence.ocsp_response.len()
                )?;
                return Ok(*done);
            }
        }
        sleeper.sleep(options.interval).await;
    }
    Err(SmokeError::Eid(EidError::Protocol(
        "the order never ended".into(),
    )))
}

/// [`run`] on its own single-threaded runtime, for the command line.
pub fn run_blocking(
    config_file: &Path,
    provider: &str,
    options: &TryOptions,
    now: &(dyn Fn() -> DateTime<Utc> + Send + Sync),
    sleeper: &dyn Sleeper,
    out: &mut (dyn Write + Send),
) -> Result<Completion, SmokeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let provider = load_provider(config_file, provider)?;
        run(provider.as_ref(), options, now, sleeper, out).await
    })
}
