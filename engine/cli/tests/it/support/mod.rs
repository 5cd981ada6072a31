//! Helpers shared by the command-line tests (`mod support;`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the real `blankett` binary in the repository root.
pub fn blankett(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blankett"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard output and standard error together.
pub fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// The line (from 1) of the first line of `text` that contains `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// A program the tests use as an oracle; a missing one fails the test with a hint.
pub fn tool(name: &str, args: &[&str]) -> Output {
    Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("`{name}` is needed by this test (run scripts/setup-test-tools): {e}")
    })
}

/// pyHanko's command line, from the venv `scripts/setup-test-tools` makes.
pub fn pyhanko(args: &[&str]) -> Output {
    let exe = root().join(".test-tools/venv/bin/pyhanko");
    assert!(
        exe.exists(),
        "pyHanko is missing: run scripts/setup-test-tools (it makes .test-tools/venv)"
    );
    tool(exe.to_str().unwrap(), args)
}
