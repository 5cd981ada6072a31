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
fn every_flow_test_passes_and_covers_every_branch_of_its_flow() {
    let src = shipped();
    let (defs, mut diags) = load(&src);
    let mut failures = Vec::new();
    for s in &src.flows {
        let flow = defs.flows.iter().find(|f| f.dir == s.dir).unwrap();
        let mut coverage = flowtest::Coverage::of(flow);
        let results = flowtest::run_flow_tests_seeing(flow, s, &mut diags, &mut coverage);
        assert!(!results.is_empty(), "{} has no flow tests", s.dir);
        // Every branch of every condition is taken by some test.
        for m in coverage.missing() {
            failures.push(format!("{}: {m}", flow.id));
        }
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
