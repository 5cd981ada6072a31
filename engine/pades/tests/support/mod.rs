//! Oracles for the signing tests: pyHanko (from the venv `scripts/setup-test-tools` makes),
//! pdfsig, qpdf and pdffonts. A missing tool fails the test with a message.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The LVU decision as `blankett render` writes it (PDF/A-2b, two signature fields on page 2).
pub fn lvu_pdf() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lvu-6.pdf")).unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn venv() -> PathBuf {
    let venv = root().join(".test-tools/venv");
    assert!(
        venv.join("bin/pyhanko").exists(),
        "pyHanko is missing: run scripts/setup-test-tools (it makes {})",
        venv.display()
    );
    venv
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup-test-tools)", program.display()))
}

/// The `pyhanko` command line.
pub fn pyhanko_cli(args: &[&str]) -> Output {
    run(&venv().join("bin/pyhanko"), args)
}

/// pyHanko's verdict on one signature.
#[derive(Debug, serde::Deserialize)]
pub struct PyHankoSignature {
    pub field: String,
    pub intact: bool,
    pub valid: bool,
    pub trusted: bool,
    pub coverage: String,
    pub modification_level: Option<String>,
    pub signer: String,
    pub timestamp_valid: bool,
    pub bottom_line: bool,
    /// Long-term validation only: the AdES sub-indication ("OK" when there is none) and
    /// whether a document timestamp chain (the evidence record) backs the signature.
    #[serde(default)]
    pub ades: Option<String>,
    #[serde(default)]
    pub evidence_record: bool,
}

/// Every signature of `file` as pyHanko's Python API judges it, trusting `ca`.
pub fn pyhanko_report(file: &Path, ca: &Path) -> Vec<PyHankoSignature> {
    pyhanko_report_with(file, ca, &[])
}

/// As [`pyhanko_report`], validating for the PAdES-LTA profile with only the validation data
/// in the file.
pub fn pyhanko_lta_report(file: &Path, ca: &Path) -> Vec<PyHankoSignature> {
    pyhanko_report_with(file, ca, &["lta"])
}

fn pyhanko_report_with(file: &Path, ca: &Path, extra: &[&str]) -> Vec<PyHankoSignature> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pyhanko_report.py");
    let out = run(
        &venv().join("bin/python"),
        &[
            &[
                script.to_str().unwrap(),
                file.to_str().unwrap(),
                ca.to_str().unwrap(),
            ],
            extra,
        ]
        .concat(),
    );
    assert!(out.status.success(), "pyHanko failed: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// `pdfsig`'s listing (it exits 0 even for broken signatures, so callers read the text).
pub fn pdfsig(file: &Path) -> String {
    text(&run(Path::new("pdfsig"), &[file.to_str().unwrap()]))
}

pub fn qpdf_check(file: &Path) {
    let out = run(Path::new("qpdf"), &["--check", file.to_str().unwrap()]);
    assert!(out.status.success(), "qpdf --check: {}", text(&out));
}

/// Every font `pdffonts` lists is embedded (PDF/A).
pub fn fonts_all_embedded(file: &Path) {
    let out = run(Path::new("pdffonts"), &[file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(2) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // name type [encoding…] emb sub uni object ID: "emb" is the 5th column from the end.
        assert_eq!(
            cols.get(cols.len().saturating_sub(5)),
            Some(&"yes"),
            "not embedded: {line}"
        );
    }
}

/// The real time: signer certificates and timestamps must be valid when pyHanko looks.
#[allow(clippy::disallowed_methods)]
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
