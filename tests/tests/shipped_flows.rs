//! The shipped definitions load without errors or warnings, and every flow test passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use blankett_core::{Sources, flowtest, load};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped definitions, read by the same code as `blankett check`.
fn shipped() -> Sources {
    let src = blankett_web::defs_fs::read(&[root().join("flows"), root().join("form-defs")]);
    assert!(src.problems.is_empty(), "{:?}", src.problems);
    src
}

#[test]
fn shipped_definitions_have_no_errors_or_warnings() {
    let src = shipped();
    assert!(!src.flows.is_empty(), "no flows found");
    let (defs, diags) = load(&src);
    let all: Vec<String> = diags.sorted().iter().map(ToString::to_string).collect();
    assert!(diags.is_empty(), "diagnostics:\n{}", all.join("\n"));
    assert_eq!(defs.flows.len(), src.flows.len());
    assert!(defs.flow("lvu-6").is_some());
}

#[test]
fn every_flow_test_passes_and_every_flow_has_tests() {
    let src = shipped();
    let (defs, mut diags) = load(&src);
    let mut failures = Vec::new();
    for s in &src.flows {
        let flow = defs.flows.iter().find(|f| f.dir == s.dir).unwrap();
        let results = flowtest::run_flow_tests(flow, s, &mut diags);
        assert!(!results.is_empty(), "{} has no flow tests", s.dir);
        for r in results {
            if !r.passed() {
                failures.push(format!("{} › {}: {:?}", flow.id, r.name, r.failures));
            }
        }
    }
    assert!(!diags.has_errors(), "{:?}", diags.sorted());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shipped_yaml_names_its_schema_for_editors() {
    let src = shipped();
    for f in &src.flows {
        assert!(
            f.flow_yaml
                .starts_with("# yaml-language-server: $schema=../flow.schema.json"),
            "{}/flow.yaml must start with the schema line",
            f.dir
        );
    }
    for f in &src.form_defs {
        assert!(
            f.text
                .starts_with("# yaml-language-server: $schema=./form-def.schema.json"),
            "{} must start with the schema line",
            f.path
        );
    }
}
