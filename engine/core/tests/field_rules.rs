//! Field rules through the public API: one flow with a field of every type, loaded from
//! in-memory sources, and `rules::apply_step` / `rules::validate_all` run over its answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use blankett_core::rules::{Env, FieldError, StepOutcome, apply_step, validate_all};
use blankett_core::{Flow, Sources, load};
use serde_json::{Value, json};

const FLOW_YAML: &str = r#"
version: 1
id: fields
title: { sv: Fälttest, en: Field test }
owner: test
start: [citizen]
steps:
  - id: all
    title: { sv: Alla fält, en: All fields }
    fields:
      - id: name
        type: text
        label: { sv: Namn, en: Name }
        required: true
        min_length: 2
        max_length: 10
      - id: code
        type: text
        label: { sv: Kod, en: Code }
        pattern: "[A-Z]{3}"
        pattern_message: { sv: "Tre versaler.", en: "Three capital letters." }
      - id: notes
        type: textarea
        label: { sv: Anteckningar, en: Notes }
        max_length: 20
      - id: amount
        type: integer
        label: { sv: Antal, en: Amount }
        min: 1
        max: 100
      - id: doubled
        type: integer
        label: { sv: Dubbelt, en: Doubled }
        compute: amount * 2
      - id: price
        type: decimal
        label: { sv: Pris, en: Price }
        min: 0.5
        max: 99.5
      - id: start_date
        type: date
        label: { sv: Startdatum, en: Start date }
      - id: due_date
        type: date
        label: { sv: Förfallodag, en: Due date }
        compute: start_date | add_days(7)
      - id: meeting
        type: datetime
        label: { sv: Möte, en: Meeting }
      - id: agree
        type: boolean
        label: { sv: Jag godkänner, en: I agree }
      - id: colour
        type: choice
        label: { sv: Färg, en: Colour }
        options:
          - { value: red, label: { sv: Röd, en: Red } }
          - { value: blue, label: { sv: Blå, en: Blue } }
      - id: reason
        type: textarea
        label: { sv: Varför röd, en: Why red }
        required_if: colour == 'red'
      - id: extras
        type: multi_choice
        label: { sv: Tillval, en: Extras }
        options:
          - { value: a, label: { sv: A, en: A } }
          - { value: b, label: { sv: B, en: B } }
          - { value: c, label: { sv: C, en: C } }
      - id: pnr
        type: personnummer
        label: { sv: Personnummer, en: Personal identity number }
      - id: orgnr
        type: organisationsnummer
        label: { sv: Organisationsnummer, en: Organisation number }
      - id: email
        type: email
        label: { sv: E-post, en: Email }
      - id: phone
        type: phone
        label: { sv: Telefon, en: Phone }
      - id: attachment
        type: file
        label: { sv: Bilaga, en: Attachment }
        max_size: 1MB
        accept: [application/pdf, .pdf]
      - id: notice
        type: info
        text: { sv: Bara information., en: Information only. }
      - id: children
        type: group
        label: { sv: Barn, en: Children }
        min: 1
        max: 2
        fields:
          - id: name
            type: text
            label: { sv: Barnets namn, en: Child's name }
            required: true
          - id: pnr
            type: personnummer
            label: { sv: Barnets personnummer, en: Child's personal identity number }
            required: true
      - id: has_company
        type: boolean
        label: { sv: Jag har ett företag, en: I have a company }
      - id: company_note
        type: text
        label: { sv: Om företaget, en: About the company }
        show_if: has_company
      - use: company
        as: company
        label: { sv: Företaget, en: The company }
        show_if: has_company
  - id: review
    type: review
"#;

const COMPANY_YAML: &str = r#"
version: 1
id: company
title: { sv: Företag, en: Company }
fields:
  - id: name
    type: text
    label: { sv: Företagets namn, en: Company name }
    required: true
  - id: orgnr
    type: organisationsnummer
    label: { sv: Organisationsnummer, en: Organisation number }
    required: true
"#;

fn sample_answers() -> Value {
    json!({
        "all": {
            "name": "Anna",
            "code": "ABC",
            "notes": "Inga",
            "amount": 3,
            "price": 12.5,
            "start_date": "2026-01-15",
            "meeting": "2026-01-20T10:30",
            "agree": true,
            "colour": "blue",
            "extras": ["a", "c"],
            "pnr": "197701172392",
            "orgnr": "212000-0142",
            "email": "anna@example.se",
            "phone": "070-123 45 67",
            "attachment": {"id": "f1", "name": "intyg.pdf", "size": 1000, "content_type": "application/pdf"},
            "children": [{"name": "Tolvan", "pnr": "201212121212"}],
            "has_company": true,
            "company_note": "Ett litet bolag",
            "company": {"name": "Skatteverket", "orgnr": "202100-5489"}
        }
    })
}

fn sources() -> Sources {
    support::sources(
        "mem/fields",
        FLOW_YAML,
        vec![(
            "sample-answers.json",
            serde_json::to_vec_pretty(&sample_answers()).unwrap(),
        )],
        "mem/form-defs",
        &[("company", COMPANY_YAML)],
    )
}

fn flow() -> Flow {
    support::load_one(&sources())
}

/// The smallest valid answers for step `all` (with the optional `amount`, so that the
/// computed `doubled` has a value).
fn base() -> Value {
    json!({"name": "Anna", "amount": 3, "children": [{"name": "Tolvan", "pnr": "201212121212"}]})
}

/// `base()` with one more answer.
fn with(key: &str, value: Value) -> Value {
    let mut v = base();
    v.as_object_mut().unwrap().insert(key.to_owned(), value);
    v
}

fn save(flow: &Flow, answers: &Value) -> StepOutcome {
    let step = flow.step("all").unwrap();
    let out = apply_step(flow, step, &json!({}), answers, &Env::sample());
    for e in &out.errors {
        assert_messages(e);
    }
    out
}

fn assert_messages(e: &FieldError) {
    assert!(
        !e.message.sv.trim().is_empty() && !e.message.en.trim().is_empty(),
        "an error without a message in both languages: {e:?}"
    );
}

fn pairs(out: &StepOutcome) -> Vec<(String, &'static str)> {
    out.errors
        .iter()
        .map(|e| (e.path.clone(), e.code))
        .collect()
}

/// Asserts that `answers` give exactly one error, at `path`, with `code`.
fn assert_only_error(flow: &Flow, answers: &Value, path: &str, code: &str) -> StepOutcome {
    let out = save(flow, answers);
    assert_eq!(
        pairs(&out),
        vec![(path.to_owned(), code)],
        "answers {answers}: {:#?}",
        out.errors
    );
    out
}

fn assert_valid(flow: &Flow, answers: &Value) -> Value {
    let out = save(flow, answers);
    assert!(
        out.errors.is_empty(),
        "answers {answers}: {:#?}",
        out.errors
    );
    out.answers
}

// ---- loading -------------------------------------------------------------------------------

#[test]
fn the_flow_loads_and_the_use_is_expanded_under_its_prefix() {
    let flow = flow();
    let step = flow.step("all").unwrap();
    let paths: Vec<String> = step
        .all_fields()
        .iter()
        .map(|f| f.local_path().join("."))
        .collect();
    for p in ["company.name", "company.orgnr", "children", "name", "pnr"] {
        assert!(paths.contains(&p.to_owned()), "{p} not in {paths:?}");
    }
    let company_name = step
        .fields
        .iter()
        .find(|f| f.local_path() == ["company", "name"])
        .unwrap();
    assert_eq!(
        company_name.show_if.len(),
        1,
        "a field of a `use` inherits its `show_if`"
    );
    let section = company_name.section.as_ref().unwrap();
    assert_eq!(section.prefix, vec!["company".to_owned()]);
    assert_eq!(
        section.label.as_ref().map(|t| t.en.as_str()),
        Some("The company")
    );
    assert_eq!(flow.uses.keys().collect::<Vec<_>>(), vec!["company"]);
}

#[test]
fn a_flow_whose_sample_answers_are_invalid_does_not_load() {
    let mut src = sources();
    let mut bad = sample_answers();
    bad["all"]["pnr"] = json!("197701172393");
    src.flows[0].files.insert(
        "sample-answers.json".into(),
        serde_json::to_vec(&bad).unwrap(),
    );
    let (defs, diags) = load(&src);
    assert!(diags.has_errors());
    assert!(defs.flows.is_empty());
    assert!(
        diags
            .sorted()
            .iter()
            .any(|d| d.file == "mem/fields/sample-answers.json" && d.message.contains("all.pnr")),
        "{:#?}",
        diags.sorted()
    );
}

// ---- the whole step --------------------------------------------------------------------------

#[test]
fn the_sample_answers_are_valid_and_kept() {
    let flow = flow();
    let all = sample_answers();
    let out = assert_valid(&flow, &all["all"]);
    for (k, v) in all["all"].as_object().unwrap() {
        assert_eq!(&out[k], v, "answer `{k}` changed");
    }
    assert_eq!(out["doubled"], json!(6));
    assert_eq!(out["due_date"], json!("2026-01-22"));
}

#[test]
fn an_empty_step_reports_required_fields_and_the_missing_group() {
    let flow = flow();
    let out = save(&flow, &json!({}));
    assert_eq!(
        pairs(&out),
        vec![
            ("all.name".to_owned(), "required"),
            ("all.children".to_owned(), "min_items"),
        ],
        "{:#?}",
        out.errors
    );
    // `null` answers count as nothing.
    let out = save(&flow, &Value::Null);
    assert_eq!(out.errors.len(), 2, "{:#?}", out.errors);
}

#[test]
fn answers_that_are_not_an_object_are_refused() {
    let flow = flow();
    let out = save(&flow, &json!(["not", "an", "object"]));
    assert_eq!(pairs(&out), vec![("all".to_owned(), "not_an_object")]);
    assert_eq!(out.answers, json!({}));
}

#[test]
fn unknown_fields_are_reported() {
    let flow = flow();
    assert_only_error(
        &flow,
        &with("bogus", json!(1)),
        "all.bogus",
        "unknown_field",
    );
    let answers =
        json!({"name": "Anna", "children": [{"name": "T", "pnr": "201212121212", "age": 3}]});
    assert_only_error(&flow, &answers, "all.children.0.age", "unknown_field");
}

#[test]
fn every_error_has_a_message_in_swedish_and_english() {
    let flow = flow();
    let bad = json!({
        "name": "A",
        "code": "abc",
        "notes": "x".repeat(30),
        "amount": 0,
        "price": 100,
        "start_date": "2026-02-30",
        "meeting": "soon",
        "agree": "yes",
        "colour": "red",
        "extras": ["x"],
        "pnr": "197701172393",
        "orgnr": "212000-0143",
        "email": "nope",
        "phone": "abc",
        "attachment": {"id": "f", "name": "a.exe", "size": 5, "content_type": "application/x-msdownload"},
        "children": [],
        "has_company": true,
        "company": {"orgnr": "1"},
        "bogus": true
    });
    let out = save(&flow, &bad);
    let codes: Vec<&str> = out.errors.iter().map(|e| e.code).collect();
    for c in [
        "min_length",
        "pattern",
        "max_length",
        "min",
        "max",
        "date",
        "datetime",
        "type",
        "choice",
        "personnummer",
        "organisationsnummer",
        "email",
        "phone",
        "min_items",
        "unknown_field",
        "required",
    ] {
        assert!(codes.contains(&c), "no `{c}` among {codes:?}");
    }
    // `save` has checked every message; check the language split too.
    for e in &out.errors {
        assert_ne!(e.message.sv, e.message.en, "{e:?}");
    }
}

// ---- text --------------------------------------------------------------------------------

#[test]
fn text_is_trimmed_and_empty_text_is_dropped() {
    let flow = flow();
    let out = assert_valid(
        &flow,
        &json!({"name": "  Anna  ", "notes": "   ", "code": "", "amount": 1,
        "children": [{"name": " Tolvan ", "pnr": "201212121212"}]}),
    );
    assert_eq!(out["name"], json!("Anna"));
    assert_eq!(out["children"][0]["name"], json!("Tolvan"));
    assert!(out.get("notes").is_none(), "{out}");
    assert!(out.get("code").is_none(), "{out}");
}

#[test]
fn required_text_that_is_only_spaces_is_missing() {
    let flow = flow();
    let out = assert_only_error(&flow, &with("name", json!("   ")), "all.name", "required");
    assert!(out.answers.get("name").is_none());
    let e = &out.errors[0];
    assert!(e.message.sv.contains("Namn"), "{e:?}");
    assert!(e.message.en.contains("Name"), "{e:?}");
}

#[test]
fn text_length_is_checked_after_trimming() {
    let flow = flow();
    assert_only_error(&flow, &with("name", json!("A")), "all.name", "min_length");
    assert_only_error(&flow, &with("name", json!(" A ")), "all.name", "min_length");
    assert_only_error(
        &flow,
        &with("name", json!("Annabellaaa")),
        "all.name",
        "max_length",
    );
    assert_valid(&flow, &with("name", json!("  Annabella  ")));
    assert_valid(&flow, &with("name", json!("Åsa")));
}

#[test]
fn text_pattern_must_match_the_whole_text_and_uses_the_pattern_message() {
    let flow = flow();
    assert_eq!(
        assert_valid(&flow, &with("code", json!(" ABC ")))["code"],
        json!("ABC")
    );
    for bad in ["abc", "ABCD", "XABC", "AB"] {
        let out = assert_only_error(&flow, &with("code", json!(bad)), "all.code", "pattern");
        assert_eq!(out.errors[0].message.sv, "Tre versaler.");
        assert_eq!(out.errors[0].message.en, "Three capital letters.");
    }
}

#[test]
fn text_of_the_wrong_type_is_refused() {
    let flow = flow();
    assert_only_error(&flow, &with("name", json!(42)), "all.name", "type");
}

#[test]
fn textarea_keeps_lines_and_checks_length() {
    let flow = flow();
    let out = assert_valid(&flow, &with("notes", json!("  rad 1\r\nrad 2  ")));
    assert_eq!(out["notes"], json!("rad 1\nrad 2"));
    assert_only_error(
        &flow,
        &with("notes", json!("x".repeat(21))),
        "all.notes",
        "max_length",
    );
    assert_valid(&flow, &with("notes", json!("x".repeat(20))));
}

// ---- numbers -------------------------------------------------------------------------------

#[test]
fn integer_bounds_and_type() {
    let flow = flow();
    for ok in [1, 50, 100] {
        assert_eq!(
            assert_valid(&flow, &with("amount", json!(ok)))["amount"],
            json!(ok)
        );
    }
    assert_only_error(&flow, &with("amount", json!(0)), "all.amount", "min");
    assert_only_error(&flow, &with("amount", json!(101)), "all.amount", "max");
    assert_only_error(&flow, &with("amount", json!(5.5)), "all.amount", "type");
    assert_only_error(&flow, &with("amount", json!("5")), "all.amount", "type");
    assert_only_error(&flow, &with("amount", json!(true)), "all.amount", "type");
}

#[test]
fn decimal_bounds_and_type() {
    let flow = flow();
    for ok in [json!(0.5), json!(12.25), json!(99.5), json!(7)] {
        assert_eq!(assert_valid(&flow, &with("price", ok.clone()))["price"], ok);
    }
    assert_only_error(&flow, &with("price", json!(0.49)), "all.price", "min");
    assert_only_error(&flow, &with("price", json!(99.51)), "all.price", "max");
    assert_only_error(&flow, &with("price", json!("tolv")), "all.price", "type");
}

// ---- dates ----------------------------------------------------------------------------------

#[test]
fn date_must_be_a_real_date_in_iso_form() {
    let flow = flow();
    assert_valid(&flow, &with("start_date", json!("2024-02-29")));
    for bad in ["2026-02-30", "2025-02-29", "2026-1-5", "15/01/2026", "igår"] {
        assert_only_error(
            &flow,
            &with("start_date", json!(bad)),
            "all.start_date",
            "date",
        );
    }
    // A date-time is not a date; the date computed from it is not a second mistake.
    assert_only_error(
        &flow,
        &with("start_date", json!("2026-01-15T10:00")),
        "all.start_date",
        "date",
    );
    assert_only_error(
        &flow,
        &with("start_date", json!(20260115)),
        "all.start_date",
        "type",
    );
}

#[test]
fn datetime_must_be_a_real_date_and_time() {
    let flow = flow();
    assert_valid(&flow, &with("meeting", json!("2026-01-15T09:00")));
    assert_valid(&flow, &with("meeting", json!("2026-01-15T09:00:30")));
    for bad in [
        "2026-01-15",
        "2026-01-15T25:00",
        "2026-02-30T10:00",
        "i morgon",
    ] {
        assert_only_error(
            &flow,
            &with("meeting", json!(bad)),
            "all.meeting",
            "datetime",
        );
    }
}

// ---- boolean and choices ---------------------------------------------------------------------

#[test]
fn boolean_takes_true_or_false_only() {
    let flow = flow();
    assert_eq!(
        assert_valid(&flow, &with("agree", json!(false)))["agree"],
        json!(false)
    );
    assert_eq!(
        assert_valid(&flow, &with("agree", json!(true)))["agree"],
        json!(true)
    );
    assert_only_error(&flow, &with("agree", json!("yes")), "all.agree", "type");
    assert_only_error(&flow, &with("agree", json!(1)), "all.agree", "type");
}

#[test]
fn choice_takes_one_of_its_options() {
    let flow = flow();
    assert_eq!(
        assert_valid(&flow, &with("colour", json!("blue")))["colour"],
        json!("blue")
    );
    assert_only_error(
        &flow,
        &with("colour", json!("green")),
        "all.colour",
        "choice",
    );
    assert_only_error(
        &flow,
        &with("colour", json!("Blue")),
        "all.colour",
        "choice",
    );
}

#[test]
fn multi_choice_takes_distinct_options_and_an_empty_list_is_no_answer() {
    let flow = flow();
    assert_eq!(
        assert_valid(&flow, &with("extras", json!(["c", "a"])))["extras"],
        json!(["c", "a"])
    );
    let out = assert_valid(&flow, &with("extras", json!([])));
    assert!(out.get("extras").is_none(), "{out}");
    // Wrong options give one error, on the field.
    assert_only_error(
        &flow,
        &with("extras", json!(["x", "a", "y"])),
        "all.extras",
        "choice",
    );
    assert_only_error(
        &flow,
        &with("extras", json!(["a", "a"])),
        "all.extras",
        "choice",
    );
    assert_only_error(&flow, &with("extras", json!("a")), "all.extras", "type");
}

// ---- identity numbers -------------------------------------------------------------------------

#[test]
fn personnummer_is_normalised_to_twelve_digits() {
    let flow = flow();
    for (given, kept) in [
        ("19770117-2392", "197701172392"),
        (" 197701172392 ", "197701172392"),
        ("189001019802", "189001019802"),
        ("20121212-1212", "201212121212"),
    ] {
        assert_eq!(
            assert_valid(&flow, &with("pnr", json!(given)))["pnr"],
            json!(kept),
            "{given}"
        );
    }
}

#[test]
fn invalid_personnummer_says_why() {
    let flow = flow();
    let out = assert_only_error(
        &flow,
        &with("pnr", json!("197701172393")),
        "all.pnr",
        "personnummer",
    );
    assert!(
        out.errors[0].message.en.contains("check digit"),
        "{:?}",
        out.errors[0]
    );
    let out = assert_only_error(
        &flow,
        &with("pnr", json!("197713172392")),
        "all.pnr",
        "personnummer",
    );
    assert!(
        out.errors[0].message.en.contains("date"),
        "{:?}",
        out.errors[0]
    );
    let out = assert_only_error(
        &flow,
        &with("pnr", json!("7701172392")),
        "all.pnr",
        "personnummer",
    );
    assert!(
        out.errors[0].message.en.contains("12 digits"),
        "{:?}",
        out.errors[0]
    );
    // A refused number is kept as typed (trimmed), so nothing typed is lost.
    assert_eq!(out.answers["pnr"], json!("7701172392"));
}

#[test]
fn organisationsnummer_is_normalised_with_a_hyphen() {
    let flow = flow();
    for (given, kept) in [
        ("2120000142", "212000-0142"),
        ("212000-0142", "212000-0142"),
        ("2021005489", "202100-5489"),
        ("16212000-0142", "212000-0142"),
    ] {
        assert_eq!(
            assert_valid(&flow, &with("orgnr", json!(given)))["orgnr"],
            json!(kept),
            "{given}"
        );
    }
    for bad in ["212000-0143", "201000-0142", "2120000", "abc"] {
        assert_only_error(
            &flow,
            &with("orgnr", json!(bad)),
            "all.orgnr",
            "organisationsnummer",
        );
    }
}

// ---- email and phone -------------------------------------------------------------------------

#[test]
fn email_addresses() {
    let flow = flow();
    assert_eq!(
        assert_valid(&flow, &with("email", json!(" anna.a@kommun.example.se ")))["email"],
        json!("anna.a@kommun.example.se")
    );
    for bad in [
        "anna",
        "anna@",
        "@kommun.se",
        "anna@kommun",
        "an na@kommun.se",
        "anna@.se",
    ] {
        assert_only_error(&flow, &with("email", json!(bad)), "all.email", "email");
    }
}

#[test]
fn phone_numbers() {
    let flow = flow();
    for ok in [
        "070-123 45 67",
        "+46 70 123 45 67",
        "(08) 123 456",
        "0701234567",
    ] {
        assert_valid(&flow, &with("phone", json!(ok)));
    }
    for bad in ["12345", "070-abc", "070+1234567", "1234567890123456"] {
        assert_only_error(&flow, &with("phone", json!(bad)), "all.phone", "phone");
    }
}

// ---- files -------------------------------------------------------------------------------------

fn file(name: &str, size: u64, content_type: &str) -> Value {
    json!({"id": "f1", "name": name, "size": size, "content_type": content_type})
}

#[test]
fn a_file_of_an_accepted_type_and_size_passes() {
    let flow = flow();
    let f = file("intyg.pdf", 1_000_000, "application/pdf");
    assert_eq!(
        assert_valid(&flow, &with("attachment", f.clone()))["attachment"],
        f
    );
    // The type is what the content is (the server sniffs it); the name says nothing.
    assert_valid(
        &flow,
        &with("attachment", file("intyg", 10, "application/pdf")),
    );
    assert_only_error(
        &flow,
        &with(
            "attachment",
            file("INTYG.PDF", 10, "application/octet-stream"),
        ),
        "all.attachment",
        "file_type",
    );
}

#[test]
fn a_file_of_another_type_is_refused() {
    let flow = flow();
    let out = assert_only_error(
        &flow,
        &with(
            "attachment",
            file("virus.exe", 10, "application/x-msdownload"),
        ),
        "all.attachment",
        "file_type",
    );
    assert!(
        out.errors[0].message.en.contains("application/pdf"),
        "{:?}",
        out.errors[0]
    );
}

#[test]
fn a_file_larger_than_max_size_is_refused_on_the_field() {
    let flow = flow();
    let out = assert_only_error(
        &flow,
        &with(
            "attachment",
            file("intyg.pdf", 1_000_001, "application/pdf"),
        ),
        "all.attachment",
        "file_size",
    );
    assert!(
        out.errors[0].message.sv.contains("1 MB"),
        "{:?}",
        out.errors[0]
    );
}

#[test]
fn an_incomplete_or_malformed_file_is_refused_on_the_field() {
    let flow = flow();
    assert_only_error(
        &flow,
        &with(
            "attachment",
            json!({"id": "f1", "name": "a.pdf", "content_type": "application/pdf"}),
        ),
        "all.attachment",
        "type",
    );
    // Not an object at all: one `type` error, on the field.
    assert_only_error(
        &flow,
        &with("attachment", json!("a.pdf")),
        "all.attachment",
        "type",
    );
}

// ---- info -------------------------------------------------------------------------------------

#[test]
fn an_info_field_takes_no_answer() {
    let flow = flow();
    let out = assert_valid(&flow, &with("notice", json!("something")));
    assert!(out.get("notice").is_none(), "{out}");
}

// ---- groups -----------------------------------------------------------------------------------

#[test]
fn group_item_count_is_bounded() {
    let flow = flow();
    let item = json!({"name": "Tolvan", "pnr": "201212121212"});
    assert_valid(
        &flow,
        &with("children", json!([item.clone(), item.clone()])),
    );
    assert_only_error(
        &flow,
        &with("children", json!([])),
        "all.children",
        "min_items",
    );
    assert_only_error(
        &flow,
        &with("children", json!([item.clone(), item.clone(), item])),
        "all.children",
        "max_items",
    );
    assert_only_error(
        &flow,
        &with("children", json!({"name": "x"})),
        "all.children",
        "type",
    );
}

#[test]
fn group_items_are_normalised_and_their_errors_have_item_paths() {
    let flow = flow();
    let out = assert_valid(
        &flow,
        &with(
            "children",
            json!([{"name": " Tolvan ", "pnr": "20121212-1212"}]),
        ),
    );
    assert_eq!(
        out["children"],
        json!([{"name": "Tolvan", "pnr": "201212121212"}])
    );

    let out = save(
        &flow,
        &with(
            "children",
            json!([
                {"name": "Tolvan", "pnr": "201212121213"},
                {"pnr": "189001019802"}
            ]),
        ),
    );
    // In page order: item 0 before item 1.
    assert_eq!(
        pairs(&out),
        vec![
            ("all.children.0.pnr".to_owned(), "personnummer"),
            ("all.children.1.name".to_owned(), "required"),
        ],
        "{:#?}",
        out.errors
    );
}

// ---- show_if, required_if, compute -------------------------------------------------------------

#[test]
fn hidden_fields_answers_are_discarded() {
    let flow = flow();
    let mut answers = with("has_company", json!(false));
    answers["company_note"] = json!("should go");
    answers["company"] = json!({"name": "X", "orgnr": "not a number"});
    let out = assert_valid(&flow, &answers);
    assert!(out.get("company_note").is_none(), "{out}");
    assert!(out.get("company").is_none(), "{out}");

    // Not answered at all is the same as false.
    let mut answers = base();
    answers["company"] = json!({"name": "X"});
    let out = assert_valid(&flow, &answers);
    assert!(out.get("company").is_none(), "{out}");
}

#[test]
fn shown_fields_of_a_prefixed_use_are_validated_and_normalised_under_the_prefix() {
    let flow = flow();
    let mut answers = with("has_company", json!(true));
    answers["company_note"] = json!(" kept ");
    answers["company"] = json!({"orgnr": "2120000142"});
    let out = assert_only_error(&flow, &answers, "all.company.name", "required");
    assert_eq!(out.answers["company"]["orgnr"], json!("212000-0142"));
    assert_eq!(out.answers["company_note"], json!("kept"));

    answers["company"] = json!({"name": "Stockholms kommun", "orgnr": "212000-0143"});
    assert_only_error(&flow, &answers, "all.company.orgnr", "organisationsnummer");

    answers["company"] = json!({});
    let out = save(&flow, &answers);
    assert_eq!(
        pairs(&out),
        vec![
            ("all.company.name".to_owned(), "required"),
            ("all.company.orgnr".to_owned(), "required"),
        ]
    );
}

#[test]
fn required_if_follows_its_condition() {
    let flow = flow();
    assert_only_error(
        &flow,
        &with("colour", json!("red")),
        "all.reason",
        "required",
    );
    let mut answers = with("colour", json!("red"));
    answers["reason"] = json!("   ");
    assert_only_error(&flow, &answers, "all.reason", "required");
    answers["reason"] = json!("Den är fin");
    assert_valid(&flow, &answers);
    assert_valid(&flow, &with("colour", json!("blue")));
    assert_valid(&flow, &base());
}

#[test]
fn computed_values_are_filled_in_and_override_what_was_sent() {
    let flow = flow();
    let mut answers = with("amount", json!(21));
    answers["doubled"] = json!(1);
    answers["start_date"] = json!("2026-12-28");
    answers["due_date"] = json!("1999-01-01");
    let out = assert_valid(&flow, &answers);
    assert_eq!(out["doubled"], json!(42));
    assert_eq!(out["due_date"], json!("2027-01-04"));
}

#[test]
fn a_computed_date_is_absent_when_its_input_is() {
    let flow = flow();
    let out = assert_valid(&flow, &with("amount", json!(2)));
    assert_eq!(out["doubled"], json!(4));
    assert!(out.get("due_date").is_none(), "{out}");
}

#[test]
fn a_computation_over_an_unanswered_input_has_no_value_and_no_error() {
    let flow = flow();
    // Without `amount`, `amount * 2` cannot be evaluated. With another error in the step, that
    // is not reported (a computation over a bad answer is not a second mistake)…
    let mut answers = base();
    answers.as_object_mut().unwrap().remove("amount");
    answers["email"] = json!("nope");
    assert_only_error(&flow, &answers, "all.email", "email");
    // …and on its own, a computation over an unanswered optional input simply has no value:
    // the step is complete.
    answers.as_object_mut().unwrap().remove("email");
    let out = save(&flow, &answers);
    assert!(out.errors.is_empty(), "{:#?}", out.errors);
    assert!(out.answers.get("doubled").is_none(), "{}", out.answers);
    assert_eq!(
        out.answers["name"],
        json!("Anna"),
        "the other answers are kept"
    );
}

// ---- validate_all ------------------------------------------------------------------------------

#[test]
fn validate_all_checks_every_step_and_reports_the_path() {
    let flow = flow();
    let env = Env::sample();
    let report = validate_all(&flow, &sample_answers(), &env);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!(report.path, vec!["all".to_owned(), "review".to_owned()]);
    assert_eq!(report.answers["all"]["doubled"], json!(6));

    let mut answers = sample_answers();
    answers["all"]["pnr"] = json!("19770117-2392");
    answers["all"]["email"] = json!("nope");
    answers["nosuchstep"] = json!({"x": 1});
    let report = validate_all(&flow, &answers, &env);
    let got: Vec<(String, &str)> = report
        .errors
        .iter()
        .map(|e| (e.path.clone(), e.code))
        .collect();
    assert_eq!(got, vec![("all.email".to_owned(), "email")]);
    assert_eq!(report.answers["all"]["pnr"], json!("197701172392"));
    assert!(
        report.answers.get("nosuchstep").is_none(),
        "{}",
        report.answers
    );
}

#[test]
fn validate_all_with_no_answers_reports_the_required_ones() {
    let flow = flow();
    let report = validate_all(&flow, &json!({}), &Env::sample());
    let got: Vec<(String, &str)> = report
        .errors
        .iter()
        .map(|e| (e.path.clone(), e.code))
        .collect();
    assert_eq!(
        got,
        vec![
            ("all.name".to_owned(), "required"),
            ("all.children".to_owned(), "min_items"),
        ]
    );
}
