//! Documents made elsewhere come in every style a PDF writer has: classic cross-reference
//! tables, object and cross-reference streams, linearized files, qpdf's QDF. Each variant of
//! a PDF/A-2b is judged the same, keeps its PDF/A declaration, and takes pages after its own
//! in an incremental update that `qpdf --check` accepts and that leaves every original
//! page's text as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use blankett_pades::upload::{append_pages, declared_pdfa, inspect};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`{program}` is needed (run scripts/setup-test-tools): {e}"))
}

fn page_text(file: &Path, page: usize) -> String {
    let n = page.to_string();
    let o = run(
        "pdftotext",
        &["-f", &n, "-l", &n, "-layout", file.to_str().unwrap(), "-"],
    );
    assert!(o.status.success(), "{o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_writing_style_is_judged_and_extended_alike() {
    let dir = tempfile::tempdir().unwrap();
    let original = repo().join("flows/signera/exempel.pdf");
    let extra = std::fs::read(repo().join("engine/pades/tests/fixtures/lvu-6.pdf")).unwrap();
    let extra_pages = inspect(&extra).unwrap().pages as usize;
    let variants: [(&str, &[&str]); 5] = [
        ("as-made", &[]),
        ("object-streams", &["--object-streams=generate"]),
        ("classic-xref", &["--object-streams=disable"]),
        ("linearized", &["--linearize"]),
        ("qdf", &["--qdf", "--object-streams=disable"]),
    ];
    for (name, args) in variants {
        let input = dir.path().join(format!("{name}.pdf"));
        if args.is_empty() {
            std::fs::copy(&original, &input).unwrap();
        } else {
            let mut all: Vec<&str> = args.to_vec();
            all.push(original.to_str().unwrap());
            all.push(input.to_str().unwrap());
            let o = run("qpdf", &all);
            assert!(o.status.code().unwrap_or(2) < 2, "{name}: {o:?}");
        }
        let bytes = std::fs::read(&input).unwrap();
        let facts = inspect(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(facts.pages, 3, "{name}");
        assert_eq!(facts.pdfa_name().as_deref(), Some("PDF/A-2B"), "{name}");

        let out = append_pages(&bytes, &extra).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(out.starts_with(&bytes), "{name}: an incremental update");
        let file = dir.path().join(format!("{name}-extended.pdf"));
        std::fs::write(&file, &out).unwrap();
        let check = run("qpdf", &["--check", file.to_str().unwrap()]);
        assert!(check.status.success(), "{name}: {check:?}");
        let after = inspect(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(after.pages as usize, 3 + extra_pages, "{name}");
        assert_eq!(
            declared_pdfa(&out).as_deref(),
            Some("PDF/A-2B"),
            "{name}: XMP kept"
        );
        for p in 1..=3 {
            assert_eq!(
                page_text(&file, p),
                page_text(&input, p),
                "{name}: page {p} reads as before"
            );
        }
    }
}
