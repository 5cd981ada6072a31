//! Data-driven: a small flow with one planted mistake in, the diagnostic (line and message) out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use blankett_core::{Severity, Sources, load};

const BASE: &str = r#"version: 1
id: t
title: { sv: Test, en: Test }
owner: unit
start: [citizen]
parties:
  boss:
    label: { sv: Chef, en: Boss }
    personnummer: approval.boss_pnr
    name: approval.boss_name
steps:
  - id: person
    title: { sv: Person, en: Person }
    fields:
      - use: person
        as: me
      - id: amount
        type: integer
        label: { sv: Belopp, en: Amount }
        min: 0
      - id: doubled
        type: integer
        label: { sv: Dubbelt, en: Doubled }
        compute: amount * 2
  - id: approval
    title: { sv: Beslut, en: Decision }
    by: case_worker
    fields:
      - id: boss_name
        type: text
        label: { sv: Chefens namn, en: Boss name }
        required: true
      - id: boss_pnr
        type: personnummer
        label: { sv: Chefens personnummer, en: Boss pnr }
        required: true
  - id: review
    type: review
document:
  template: document.typ
  title: "Beslut {{ case.number }}"
signing:
  signers:
    - who: case_worker
      label: { sv: Handläggare, en: Case worker }
    - who: boss
      label: { sv: Chef, en: Boss }
notify:
  - on: completed
    to: [applicant]
"#;

const SAMPLE: &str = r#"{"person": {"me": {"name": "Tolvan Tolvansson", "personnummer": "197701172392"}, "amount": 2},
 "approval": {"boss_name": "Chef Testsson", "boss_pnr": "189001019802"}}"#;

const PERSON: &str = "version: 1\nid: person\ntitle: { sv: Person }\nfields:\n  - id: name\n    type: text\n    label: { sv: Namn }\n    required: true\n  - id: personnummer\n    type: personnummer\n    label: { sv: Personnummer }\n    required: true\n";

fn sources(flow_yaml: &str, extra_forms: &[(&str, &str)], sample: Option<&str>) -> Sources {
    let mut files = vec![("document.typ", b"= Test".to_vec())];
    if let Some(s) = sample {
        files.push(("sample-answers.json", s.as_bytes().to_vec()));
    }
    let mut form_defs = vec![("person", PERSON)];
    form_defs.extend_from_slice(extra_forms);
    support::sources("flows/t", flow_yaml, files, "form-defs", &form_defs)
}

fn diagnostics(flow_yaml: &str) -> Vec<String> {
    diagnostics_with(flow_yaml, &[], Some(SAMPLE))
}

fn diagnostics_with(flow_yaml: &str, forms: &[(&str, &str)], sample: Option<&str>) -> Vec<String> {
    let (_, d) = load(&sources(flow_yaml, forms, sample));
    d.sorted().iter().map(ToString::to_string).collect()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in the flow"))
        + 1
}

/// Replaces `from` with `to` in the base flow and expects a diagnostic on the line holding
/// `at` whose text contains `message`.
fn expect(from: &str, to: &str, at: &str, message: &str) {
    assert!(BASE.contains(from), "`{from}` not in BASE");
    let flow = BASE.replacen(from, to, 1);
    let line = line_of(&flow, at);
    let diags = diagnostics(&flow);
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with(&format!("flows/t/flow.yaml:{line}:")) && d.contains(message)),
        "expected `{message}` on line {line}, got:\n{}",
        diags.join("\n")
    );
}

#[test]
fn the_base_flow_is_clean() {
    let d = diagnostics(BASE);
    assert!(d.is_empty(), "{}", d.join("\n"));
}

#[test]
fn structural_mistakes() {
    expect(
        "owner: unit",
        "owner: unit\ncolour: blue",
        "colour",
        "unknown key `colour`",
    );
    expect(
        "type: integer\n        label: { sv: Belopp",
        "type: integr\n        label: { sv: Belopp",
        "integr",
        "did you mean `integer`?",
    );
    expect("min: 0", "min: noll", "min: noll", "expected number");
    expect(
        "owner: unit\n",
        "",
        "version: 1",
        "missing required key `owner`",
    );
    expect(
        "version: 1",
        "version: 2",
        "version: 2",
        "format version 2 is not supported",
    );
    expect(
        "id: t\n",
        "id: other\n",
        "id: other",
        "must equal the folder name `t`",
    );
}

#[test]
fn a_party_may_not_take_a_name_the_audit_log_gives_a_role() {
    for name in ["applicant", "case_worker", "system", "other", "\"api:x\""] {
        let shown = name.trim_matches('"');
        expect(
            "parties:\n  boss:",
            &format!("parties:\n  {name}:"),
            &format!("  {name}:"),
            &format!("`{shown}` is a built-in role"),
        );
    }
}

#[test]
fn duplicates_and_references() {
    expect(
        "  - id: review\n",
        "  - id: person # again\n    title: { sv: X }\n  - id: review\n",
        "id: person # again",
        "step id `person` is used twice",
    );
    expect(
        "      - id: doubled\n",
        "      - id: amount # again\n        type: text\n        label: { sv: X }\n      - id: doubled\n",
        "id: amount # again",
        "`amount` is defined twice",
    );
    expect(
        "by: case_worker",
        "by: case_wroker",
        "case_wroker",
        "did you mean `case_worker`?",
    );
    expect(
        "- use: person",
        "- use: persn",
        "use: persn",
        "there is no form-def `persn`",
    );
    expect(
        "template: document.typ",
        "template: missing.typ",
        "missing.typ",
        "the template `missing.typ` does not exist",
    );
    expect(
        "    - who: boss",
        "    - who: bos",
        "who: bos",
        "unknown signer `bos`",
    );
    expect(
        "to: [applicant]",
        "to: [aplicant]",
        "aplicant",
        "unknown recipient `aplicant`",
    );
}

#[test]
fn expressions() {
    expect(
        "compute: amount * 2",
        "compute: amout * 2",
        "amout",
        "unknown name `amout`; did you mean `amount`?",
    );
    expect(
        "compute: amount * 2",
        "compute: amount * (2",
        "amount * (2",
        "syntax error",
    );
    expect(
        "compute: amount * 2",
        "compute: amount | add_dayz(2)",
        "add_dayz",
        "unknown filter",
    );
    expect(
        "compute: amount * 2",
        "compute: me.nam",
        "me.nam",
        "`me` has no `nam`; did you mean `name`?",
    );
    expect(
        "compute: amount * 2",
        "compute: amount.x",
        "amount.x",
        "`amount` is a integer field; it has no `x`",
    );
    expect(
        "compute: amount * 2",
        "compute: doubled + 1",
        "doubled + 1",
        "reads its own value",
    );
    expect(
        "title: \"Beslut {{ case.number }}\"",
        "title: \"Beslut {{ case.nummer }}\"",
        "case.nummer",
        "`case` has no `nummer`",
    );
    expect(
        "    by: case_worker\n",
        "    by: case_worker\n    when: approval.boss_name\n",
        "when: approval.boss_name",
        "cannot depend on the step's own answers",
    );
    expect(
        "    by: case_worker\n",
        "    by: case_worker\n    when: 1 == 2\n",
        "when: 1 == 2",
        "can never be reached",
    );
}

#[test]
fn a_group_item_field_reads_its_siblings_and_what_the_group_sees() {
    let group = r#"      - id: rows
        type: group
        label: { sv: Rader, en: Rows }
        fields:
          - id: kind
            type: text
            label: { sv: Slag, en: Kind }
          - id: note
            type: text
            label: { sv: Not, en: Note }
            show_if: kind == 'x' and amount > 0
            required_if: me.name
          - id: twice
            type: integer
            label: { sv: Dubbelt, en: Twice }
            compute: amount * 2 if kind else none
"#;
    let flow = BASE.replacen(
        "      - id: doubled\n",
        &format!("{group}      - id: doubled\n"),
        1,
    );
    let d = diagnostics(&flow);
    assert!(d.is_empty(), "{}", d.join("\n"));
    expect(
        "      - id: doubled\n",
        &format!(
            "{}      - id: doubled\n",
            group.replace("show_if: kind", "show_if: knd")
        ),
        "show_if: knd",
        "unknown name `knd`",
    );
}

#[test]
fn later_step_reads_are_warnings_not_errors() {
    let flow = BASE.replacen(
        "compute: amount * 2",
        "compute: approval.boss_name | length",
        1,
    );
    let (defs, d) = load(&sources(&flow, &[], Some(SAMPLE)));
    let all: Vec<String> = d.sorted().iter().map(ToString::to_string).collect();
    assert!(!d.has_errors(), "{}", all.join("\n"));
    assert!(
        d.iter()
            .any(|x| x.severity == Severity::Warning
                && x.message.contains("answered in a later step")),
        "{}",
        all.join("\n")
    );
    assert_eq!(defs.flows.len(), 1);
}

#[test]
fn a_party_known_only_later_cannot_fill_an_earlier_step() {
    let flow = BASE.replacen("    by: case_worker\n", "    by: boss\n", 1);
    let d = diagnostics(&flow);
    assert!(
        d.iter()
            .any(|x| x.contains("is filled by `boss`, who is only known from step `approval`")),
        "{}",
        d.join("\n")
    );
}

#[test]
fn field_attributes_that_do_not_apply() {
    expect(
        "        min: 0\n",
        "        min: 0\n        options: [{ value: a, label: { sv: A } }]\n",
        "options:",
        "`options` does not apply to a integer field",
    );
    expect(
        "        min: 0\n",
        "        min: 5\n        max: 1\n",
        "min: 5",
        "`min` (5) is larger than `max` (1)",
    );
    expect(
        "type: text\n        label: { sv: Chefens namn, en: Boss name }",
        "type: text\n        pattern: \"[a-\"\n        label: { sv: Chefens namn, en: Boss name }",
        "pattern:",
        "not a valid regular expression",
    );
    expect(
        "to: [applicant]",
        "to: [applicant]\n  - on: reminder\n    to: [next_signer]",
        "on: reminder",
        "needs `after`",
    );
}

#[test]
fn form_def_cycles_and_missing_uses_are_found_in_the_form_defs() {
    let a = "version: 1\nid: a\ntitle: { sv: A }\nfields:\n  - use: b\n";
    let b = "version: 1\nid: b\ntitle: { sv: B }\nfields:\n  - use: a\n  - use: nowhere\n";
    let d = diagnostics_with(BASE, &[("a", a), ("b", b)], Some(SAMPLE));
    assert!(
        d.iter()
            .any(|x| x.contains("makes a cycle: a → b → a")
                || x.contains("makes a cycle: b → a → b")),
        "{}",
        d.join("\n")
    );
    assert!(
        d.iter()
            .any(|x| x.starts_with("form-defs/b.yaml:6:") && x.contains("no form-def `nowhere`")),
        "{}",
        d.join("\n")
    );
}

#[test]
fn sample_answers_must_exist_and_be_valid() {
    let d = diagnostics_with(BASE, &[], None);
    assert!(
        d.iter()
            .any(|x| x.contains("sample-answers.json is missing")),
        "{}",
        d.join("\n")
    );
    let bad = SAMPLE.replace("189001019802", "189001019803");
    let d = diagnostics_with(BASE, &[], Some(&bad));
    assert!(
        d.iter()
            .any(|x| x.starts_with("flows/t/sample-answers.json:2:")
                && x.contains("approval.boss_pnr")
                && x.contains("personnummer")),
        "{}",
        d.join("\n")
    );
    let d = diagnostics_with(BASE, &[], Some("{ not json"));
    assert!(
        d.iter()
            .any(|x| x.contains("sample-answers.json:1:") && x.contains("not valid JSON")),
        "{}",
        d.join("\n")
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let flow = BASE
        .replacen("owner: unit", "owner: unit\ncolour: blue", 1)
        .replacen("compute: amount * 2", "compute: amout * 2", 1)
        .replacen("- use: person", "- use: persn", 1)
        .replacen("by: case_worker", "by: nobody", 1);
    let d = diagnostics(&flow);
    for m in [
        "unknown key `colour`",
        "unknown name `amout`",
        "no form-def `persn`",
        "unknown role `nobody`",
    ] {
        assert!(
            d.iter().any(|x| x.contains(m)),
            "missing {m} in:\n{}",
            d.join("\n")
        );
    }
}

#[test]
fn file_fields_promise_only_what_the_server_keeps() {
    let file = |extra: &str| {
        format!(
            "min: 0\n      - id: receipt\n        type: file\n        label: {{ sv: Kvitto }}\n{extra}"
        )
    };
    // An `accept` entry that no content check can recognise.
    expect(
        "min: 0",
        &file("        accept: [.pdf, .exe]\n"),
        ".exe",
        "`.exe` is not a file type Blankett can recognise by its content",
    );
    // Larger than any upload the server takes.
    expect(
        "min: 0",
        &file("        max_size: 200MB\n"),
        "200MB",
        "a file field takes at most 50 MB",
    );
    // Inside a repeating group.
    expect(
        "min: 0",
        "min: 0\n      - id: receipts\n        type: group\n        label: { sv: Kvitton }\n        fields:\n          - id: scan\n            type: file\n            label: { sv: Kvitto }",
        "type: file",
        "cannot be inside a repeating group",
    );
    // Known types, as MIME types or extensions, are fine.
    let flow = BASE.replacen(
        "min: 0",
        &file("        accept: [application/pdf, .jpg, image/*, .docx]\n        max_size: 20MB\n"),
        1,
    );
    let d = diagnostics(&flow);
    assert!(d.is_empty(), "{}", d.join("\n"));
}
