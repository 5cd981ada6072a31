//! The `blankett` command line, run as a real process on real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::{blankett, copy_dir, line_of, root, stdout};

#[test]
fn check_of_the_shipped_definitions_is_clean() {
    let o = blankett(&["check", "flows", "form-defs"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("0 error(s), 0 warning(s)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn check_reports_all_three_planted_mistakes_with_their_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lvu-6");
    copy_dir(&root().join("flows/lvu-6"), &dir);
    let path = dir.join("flow.yaml");
    let original = std::fs::read_to_string(&path).unwrap();
    let planted = original
        .replacen(
            "        max_length: 200\n      - id: case_reference",
            "        max_lenght: 200\n      - id: case_reference",
            1,
        )
        .replacen(
            "show_if: \"'3' in grounds\"",
            "show_if: \"'3' in grunds\"",
            1,
        )
        .replacen(
            "      - use: person\n        as: maker",
            "      - use: persn\n        as: maker",
            1,
        );
    assert_ne!(planted, original);
    std::fs::write(&path, &planted).unwrap();

    let form_defs = root().join("form-defs");
    let o = blankett(&["check", dir.to_str().unwrap(), form_defs.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let file = path.display().to_string();
    for (needle, message) in [
        (
            "max_lenght",
            "unknown key `max_lenght`; did you mean `max_length`?",
        ),
        (
            "in grunds",
            "unknown name `grunds`; did you mean `grounds`?",
        ),
        ("use: persn", "there is no form-def `persn`"),
    ] {
        let line = line_of(&planted, needle);
        let expected_prefix = format!("{file}:{line}:");
        assert!(
            out.lines().any(|l| l.starts_with(&expected_prefix)
                && l.contains(": error: ")
                && l.contains(message)),
            "expected `{expected_prefix}… {message}` in:\n{out}"
        );
    }
}

#[test]
fn check_reports_yaml_syntax_errors_with_position() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("flow.yaml"),
        "version: 1\nid: broken\ntitle: { sv: [oops\n",
    )
    .unwrap();
    let o = blankett(&["check", dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("flow.yaml:") && out.contains("YAML syntax error"),
        "{out}"
    );
}

#[test]
fn test_runs_the_lvu_flow_tests_and_prints_the_summary_line() {
    let o = blankett(&["test", "flows"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("lvu-6 › "), "{out}");
    let summary = out.lines().last().unwrap();
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 4, "{summary}");
    assert!(summary.ends_with(" passed, 0 failed"), "{summary}");
}

#[test]
fn a_failing_flow_test_fails_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lvu-6");
    copy_dir(&root().join("flows/lvu-6"), &dir);
    std::fs::write(
        dir.join("tests/wrong.yaml"),
        "name: a deliberately wrong expectation\nanswers: {}\nexpect:\n  path: [review]\n",
    )
    .unwrap();
    let o = blankett(&[
        "test",
        dir.to_str().unwrap(),
        root().join("form-defs").to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAILED  lvu-6 › a deliberately wrong expectation"),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap().ends_with(" passed, 1 failed"),
        "{out}"
    );
}

#[test]
fn test_reports_which_branches_of_the_conditions_the_tests_reach() {
    let o = blankett(&["test", "flows"]);
    let out = stdout(&o);
    assert!(
        out.contains("branches lvu-6: 22 of 22 condition outcomes reached (11 conditions)"),
        "{out}"
    );
    // Without the test of ground 3 and protected identity, those branches are not reached.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lvu-6");
    copy_dir(&root().join("flows/lvu-6"), &dir);
    std::fs::remove_file(dir.join("tests/grounds.yaml")).unwrap();
    let o = blankett(&[
        "test",
        dir.to_str().unwrap(),
        root().join("form-defs").to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(!out.contains("22 of 22"), "{out}");
    assert!(
        out.contains("- `show_if` of grounds.behaviour is never true"),
        "{out}"
    );
}

#[test]
fn schema_prints_the_committed_flow_schema() {
    let o = blankett(&["schema"]);
    assert!(o.status.success());
    let committed = std::fs::read_to_string(root().join("flows/flow.schema.json")).unwrap();
    assert_eq!(stdout(&o), committed);
}

#[test]
fn the_broken_example_reports_each_of_its_mistakes() {
    let o = blankett(&["check", "examples/broken-flow", "form-defs"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for m in [
        "flow.yaml:12:14: error: `use: persn`",
        "flow.yaml:16:9: error: unknown key `lable`; did you mean `label`?",
        "flow.yaml:20:18: error: `show_if` of field `reason`: unknown name `agee`",
        "flow.yaml:23:9: error: unknown role `case_wroker`",
    ] {
        assert!(out.contains(m), "missing `{m}` in:\n{out}");
    }
}
