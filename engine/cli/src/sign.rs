//! `blankett dev sign-pdf` (a developer's signing tool with the development PKI) and
//! `blankett verify` (anyone's check of a signed PDF).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use blankett_pades::tsa::HttpTsa;
use blankett_pades::{DevPki, DevTsa, Pades, Placement, SignatureRequest, SignerIdentity};
use clap::{Args, Subcommand, ValueEnum};

use blankett_app::clock;

/// `blankett dev …`: tools for developers, refused in production.
#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(subcommand)]
    pub command: DevCommand,
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Sign a PDF as a named test person with the development CA (and its TSA), e.g. to try
    /// verifiers or to measure signing. Refused when the configuration says production.
    SignPdf(SignPdfArgs),
}

/// How far a signature goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// The signature alone.
    #[value(name = "b-b")]
    BB,
    /// With a timestamp on the signature.
    #[value(name = "b-t")]
    BT,
    /// Plus the certificates and revocation data (DSS).
    #[value(name = "b-lt")]
    BLt,
    /// Plus a document timestamp over everything (for the archive).
    #[value(name = "b-lta")]
    BLta,
}

#[derive(Debug, Args)]
pub struct SignPdfArgs {
    /// The PDF to sign.
    pub input: PathBuf,
    /// Where to write the signed PDF.
    #[arg(long)]
    pub out: PathBuf,
    /// The signer's full name.
    #[arg(long)]
    pub name: String,
    /// The signer's personnummer (12 digits; Skatteverket's test numbers, please).
    #[arg(long)]
    pub personnummer: Option<String>,
    /// The signature field's name.
    #[arg(long, default_value = "signature")]
    pub field: String,
    /// The page of a visible signature (1-based); without --rect the signature is invisible.
    #[arg(long, default_value_t = 1)]
    pub page: usize,
    /// The visible signature's rectangle in PDF points, `x1,y1,x2,y2` (as `blankett render`
    /// prints the template's signature fields).
    #[arg(long, value_parser = parse_rect)]
    pub rect: Option<[f64; 4]>,
    /// The role shown under the name.
    #[arg(long, default_value = "Undertecknare")]
    pub role: String,
    /// The eID method shown in the signature.
    #[arg(long, default_value = "Test-eID")]
    pub method: String,
    /// How far the signature goes.
    #[arg(long, value_enum, default_value_t = Level::BT)]
    pub level: Level,
    /// An RFC 3161 TSA to use instead of the development TSA (`http://…`; an `https://` TSA
    /// needs --tsa-server-ca).
    #[arg(long, value_name = "URL")]
    pub tsa_url: Option<String>,
    /// The CA (PEM) of an https TSA's server certificate.
    #[arg(long, value_name = "PEM")]
    pub tsa_server_ca: Option<PathBuf>,
    /// Where the development CA and TSA live (generated on first use).
    #[arg(long, default_value = "blankett-data/dev-pki")]
    pub pki_dir: PathBuf,
    /// A configuration file; `environment = "production"` in it refuses this command (as
    /// does the environment variable BLANKETT_ENVIRONMENT=production).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `blankett verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed PDF.
    pub file: PathBuf,
    /// A CA certificate (PEM) to trust; may be given several times. Without it no chain is
    /// trusted (the signatures can still be intact).
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Lists every signature; exits 0 when all are intact, valid and trusted and nothing was
/// changed after the last one, 1 otherwise, 2 when the file cannot be read as a PDF.
pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let pdf =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut anchors = Vec::new();
    for path in &args.trust {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        anchors.extend(
            blankett_pades::pki::certificates_from_pem(&pem)
                .with_context(|| format!("{}", path.display()))?,
        );
    }
    let report = blankett_pades::verify::verify_at(&pdf, &anchors, clock::now_utc())
        .with_context(|| format!("{}", args.file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    let good =
        !report.signatures.is_empty() && report.all_valid && !report.modified_after_last_signature;
    Ok(if good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn parse_rect(s: &str) -> Result<[f64; 4], String> {
    let numbers: Vec<f64> = s
        .split(',')
        .map(|n| n.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}` is not four numbers like 70.9,562.9,283.5,630.9"))?;
    match numbers.as_slice() {
        [x1, y1, x2, y2] if x2 > x1 && y2 > y1 => Ok([*x1, *y1, *x2, *y2]),
        [_, _, _, _] => Err(format!("`{s}`: x2 must exceed x1 and y2 must exceed y1")),
        _ => Err(format!(
            "`{s}` is not four numbers like 70.9,562.9,283.5,630.9"
        )),
    }
}

/// Whether the configuration (file or environment) says this is a production installation.
fn production(config: Option<&Path>) -> anyhow::Result<bool> {
    if crate::environment_is_production() {
        return Ok(true);
    }
    let Some(path) = config else {
        return Ok(false);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let says = |v: Option<&toml::Value>| v.and_then(toml::Value::as_str) == Some("production");
    Ok(says(value.get("environment")) || says(value.get("eid").and_then(|e| e.get("environment"))))
}

pub fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DevCommand::SignPdf(args) => sign_pdf(args),
    }
}

fn sign_pdf(args: SignPdfArgs) -> anyhow::Result<ExitCode> {
    if production(args.config.as_deref())? {
        bail!("`blankett dev sign-pdf` signs with the development CA and is refused in production");
    }
    let personnummer = crate::personnummer_arg(args.personnummer.as_deref())?;
    let (given_name, surname) = match args.name.trim().rsplit_once(' ') {
        Some((given, sur)) => (given.trim().to_owned(), sur.trim().to_owned()),
        None => (args.name.trim().to_owned(), String::new()),
    };
    let identity = SignerIdentity {
        given_name,
        surname,
        full_name: args.name.trim().to_owned(),
        personnummer: personnummer.map(|p| p.as_str().to_owned()),
    };
    let pdf =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;

    let now = clock::now_utc();
    let pki = Arc::new(DevPki::load_or_create(&args.pki_dir, now)?);
    let mut pades = Pades::new(pki.clone()).with_revocation(pki.clone());
    if args.level != Level::BB {
        pades = match &args.tsa_url {
            Some(url) => {
                let ca = args
                    .tsa_server_ca
                    .as_ref()
                    .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
                    .transpose()?;
                pades.with_tsa(Arc::new(HttpTsa::new(url, ca.as_deref())?))
            }
            None => pades.with_tsa(Arc::new(DevTsa::new(&pki, Arc::new(clock::now_utc))?)),
        };
    }
    let request = SignatureRequest {
        field: &args.field,
        placement: args.rect.map(|rect| Placement {
            page: args.page,
            rect,
        }),
        identity: &identity,
        role: &args.role,
        method: &args.method,
        time: now,
        note: None,
    };
    let mut signed = pades.sign(&pdf, &request)?;
    match args.level {
        Level::BB | Level::BT => {}
        Level::BLt => signed = pades.add_validation_data(&signed, now)?,
        Level::BLta => signed = pades.seal_long_term(&signed, now)?,
    }
    std::fs::write(&args.out, &signed)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} ({} bytes; signed by {}; trust {} to verify)",
        args.out.display(),
        signed.len(),
        identity.full_name,
        args.pki_dir.join("ca.pem").display()
    );
    Ok(ExitCode::SUCCESS)
}
