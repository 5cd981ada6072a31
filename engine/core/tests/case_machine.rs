//! The case state machine through the public API: every transition, and the refused ones,
//! on a small flow loaded from in-memory sources.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use blankett_core::Flow;
use blankett_core::case::{
    Actor, Case, CaseError, Command, EventKind, Outcome, Person, SignatureState, Status, apply,
    current_signer, start,
};
use blankett_core::def::Starter;
use blankett_core::ids::Personnummer;
use blankett_core::time::Timestamp;
use chrono::NaiveDate;
use serde_json::{Value, json};

const FLOW_YAML: &str = r#"
version: 1
id: ID
title: { sv: Bygglov för altan, en: Permit for a deck }
owner: bygg
start: START
parties:
  guarantor:
    label: { sv: Borgensman, en: Guarantor }
    personnummer: apply.guarantor.personnummer
    name: apply.guarantor.name
steps:
  - id: apply
    title: { sv: Ansökan, en: Application }
    fields:
      - id: purpose
        type: text
        label: { sv: Vad ska byggas, en: What is to be built }
        required: true
      - use: person
        as: guarantor
        label: { sv: Borgensman, en: Guarantor }
  - id: assess
    title: { sv: Bedömning, en: Assessment }
    by: case_worker
    fields:
      - id: assessment
        type: textarea
        label: { sv: Bedömning, en: Assessment }
        required: true
  - id: review
    type: review
document:
  template: document.typ
  title: "Bygglov {{ case.number }}"
signing:
  signers:
    - who: case_worker
      label: { sv: Handläggare, en: Case worker }
    - who: guarantor
      label: { sv: Borgensman, en: Guarantor }
  expires_after: 2d
"#;

const PERSON_YAML: &str = r#"
version: 1
id: person
title: { sv: Person, en: Person }
fields:
  - id: name
    type: text
    label: { sv: Namn, en: Name }
    required: true
  - id: personnummer
    type: personnummer
    label: { sv: Personnummer, en: Personal identity number }
    required: true
"#;

const GUARANTOR_PNR: &str = "197701172392";

fn apply_answers() -> Value {
    json!({"purpose": "En altan", "guarantor": {"name": "Tolva Tolvansson", "personnummer": "19770117-2392"}})
}

fn assess_answers() -> Value {
    json!({"assessment": "Uppfyller kraven."})
}

fn load_flow(id: &str, start: &str) -> Flow {
    load_flow_from(FLOW_YAML, id, start)
}

fn load_flow_from(yaml: &str, id: &str, start: &str) -> Flow {
    let sample = json!({"apply": apply_answers(), "assess": assess_answers()});
    let flow_yaml = yaml
        .replace("id: ID", &format!("id: {id}"))
        .replace("START", start);
    support::load_one(&support::sources(
        &format!("mem/{id}"),
        &flow_yaml,
        vec![
            ("sample-answers.json", serde_json::to_vec(&sample).unwrap()),
            ("document.typ", b"= Bygglov\n".to_vec()),
        ],
        "mem/form-defs",
        &[("person", PERSON_YAML)],
    ))
}

/// The flow under test: citizens and case workers may start it.
fn flow() -> Flow {
    load_flow("permit", "[citizen, case_worker]")
}

// ---- people and time --------------------------------------------------------------------------

/// A valid personnummer from its first 11 digits (the check digit is found).
fn pnr(first11: &str) -> Personnummer {
    (0..10)
        .find_map(|c| Personnummer::parse(&format!("{first11}{c}")).ok())
        .unwrap()
}

fn person(p: Personnummer, name: &str) -> Person {
    Person {
        personnummer: p,
        name: name.to_owned(),
    }
}

fn citizen() -> Actor {
    Actor {
        person: person(
            Personnummer::parse("201212121212").unwrap(),
            "Tolvan Tolvansson",
        ),
        case_worker: false,
    }
}

fn other_citizen() -> Actor {
    Actor {
        person: person(pnr("19900202002"), "Annan Person"),
        case_worker: false,
    }
}

fn guarantor() -> Actor {
    Actor {
        person: person(
            Personnummer::parse(GUARANTOR_PNR).unwrap(),
            "Tolva Tolvansson",
        ),
        case_worker: false,
    }
}

fn case_worker() -> Actor {
    Actor {
        person: person(
            Personnummer::parse("189001019802").unwrap(),
            "Hanna Handläggare",
        ),
        case_worker: true,
    }
}

fn other_case_worker() -> Actor {
    Actor {
        person: person(pnr("19800101001"), "Bengt Handläggare"),
        case_worker: true,
    }
}

/// A Swedish time in March 2026.
fn at(day: u32, hour: u32, min: u32) -> Timestamp {
    Timestamp::from_local(
        NaiveDate::from_ymd_opt(2026, 3, day)
            .unwrap()
            .and_hms_opt(hour, min, 0)
            .unwrap(),
    )
}

fn t0() -> Timestamp {
    at(2, 9, 0)
}

// ---- running commands ------------------------------------------------------------------------

/// Applies a command that must succeed, and checks what every success must do.
fn ok(flow: &Flow, case: &Case, actor: &Actor, cmd: Command, now: Timestamp) -> Outcome {
    let out = apply(flow, case, actor, case.revision, cmd.clone(), now)
        .unwrap_or_else(|e| panic!("{cmd:?} on a {:?} case was refused: {e:?}", case.status));
    assert_eq!(out.case.revision, case.revision + 1, "{cmd:?}: revision +1");
    assert!(!out.events.is_empty(), "{cmd:?}: no event");
    for e in &out.events {
        assert_eq!(e.revision, out.case.revision, "{cmd:?}: event revision");
        assert_eq!(e.at, now, "{cmd:?}: event time");
    }
    assert_eq!(out.case.updated_at, now);
    assert_eq!(out.case.created_at, case.created_at);
    assert_eq!(out.case.id, case.id);
    assert_eq!(out.case.number, case.number);
    assert_eq!(out.case.applicant, case.applicant);
    out
}

/// Applies a command that must be refused.
fn refused(flow: &Flow, case: &Case, actor: &Actor, cmd: Command, now: Timestamp) -> CaseError {
    let before = case.clone();
    let err = match apply(flow, case, actor, case.revision, cmd.clone(), now) {
        Ok(out) => panic!(
            "{cmd:?} on a {:?} case was accepted: now {:?}",
            case.status, out.case.status
        ),
        Err(e) => e,
    };
    assert_eq!(case, &before);
    err
}

fn kinds(out: &Outcome) -> Vec<EventKind> {
    out.events.iter().map(|e| e.kind.clone()).collect()
}

fn save(step: &str, answers: Value) -> Command {
    Command::SaveStep {
        step: step.into(),
        answers,
    }
}

fn approve() -> Command {
    Command::Approve {
        document_sha256: "a".repeat(64).into(),
    }
}

fn sign(n: u8) -> Command {
    Command::Sign {
        signed_document_sha256: format!("{n}").repeat(64).into(),
    }
}

fn is_invalid_transition(e: &CaseError) -> bool {
    matches!(e, CaseError::InvalidTransition { .. })
}

// ---- getting a case to a status -----------------------------------------------------------------

fn draft(flow: &Flow) -> Case {
    start(
        flow,
        "c1".into(),
        "2026-0001".into(),
        &citizen(),
        Starter::Citizen,
        t0(),
    )
    .unwrap()
    .case
}

fn submitted(flow: &Flow) -> Case {
    let c = draft(flow);
    let c = ok(
        flow,
        &c,
        &citizen(),
        save("apply", apply_answers()),
        at(2, 9, 5),
    )
    .case;
    ok(flow, &c, &citizen(), Command::Submit, at(2, 9, 10)).case
}

fn in_review(flow: &Flow) -> Case {
    let c = submitted(flow);
    ok(flow, &c, &case_worker(), Command::Assign, at(3, 8, 0)).case
}

fn assessed(flow: &Flow) -> Case {
    let c = in_review(flow);
    ok(
        flow,
        &c,
        &case_worker(),
        save("assess", assess_answers()),
        at(3, 8, 30),
    )
    .case
}

fn approved_at() -> Timestamp {
    at(3, 9, 0)
}

fn signing(flow: &Flow) -> Case {
    let c = assessed(flow);
    ok(flow, &c, &case_worker(), approve(), approved_at()).case
}

// ---- start --------------------------------------------------------------------------------------

#[test]
fn a_citizen_starts_a_draft_on_the_first_step() {
    let flow = flow();
    let out = start(
        &flow,
        "c1".into(),
        "2026-0001".into(),
        &citizen(),
        Starter::Citizen,
        t0(),
    )
    .unwrap();
    let c = &out.case;
    assert_eq!(c.status, Status::Draft);
    assert_eq!(c.revision, 1);
    assert_eq!(c.id, "c1");
    assert_eq!(c.number, "2026-0001");
    assert_eq!(c.flow_id, "permit");
    assert_eq!(c.flow_hash, flow.content_hash);
    assert_eq!(c.started_as, Starter::Citizen);
    assert_eq!(c.applicant, citizen().person);
    assert_eq!(c.assignee, None);
    assert_eq!(c.answers, json!({}));
    assert_eq!(c.current_step.as_deref(), Some("apply"));
    assert!(c.signatures.is_empty());
    assert_eq!((c.created_at, c.updated_at), (t0(), t0()));
    assert_eq!(kinds(&out), vec![EventKind::Started]);
    assert_eq!(out.events[0].actor_role, "applicant");
    assert_eq!(out.events[0].revision, 1);
    assert!(out.errors.is_empty());
}

#[test]
fn a_case_worker_starts_a_draft_assigned_to_themselves() {
    let flow = flow();
    let out = start(
        &flow,
        "c2".into(),
        "2026-0002".into(),
        &case_worker(),
        Starter::CaseWorker,
        t0(),
    )
    .unwrap();
    assert_eq!(out.case.status, Status::Draft);
    assert_eq!(out.case.applicant, case_worker().person);
    assert_eq!(out.case.assignee, Some(case_worker().person));
    assert_eq!(out.case.current_step.as_deref(), Some("apply"));
    assert_eq!(out.events[0].actor_role, "case_worker");
}

#[test]
fn starting_in_a_way_the_flow_or_the_person_does_not_allow_is_forbidden() {
    let flow = flow();
    let e = start(
        &flow,
        "c".into(),
        "n".into(),
        &citizen(),
        Starter::CaseWorker,
        t0(),
    )
    .unwrap_err();
    assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");

    let only_case_workers = load_flow("internal", "[case_worker]");
    for actor in [citizen(), case_worker()] {
        let e = start(
            &only_case_workers,
            "c".into(),
            "n".into(),
            &actor,
            Starter::Citizen,
            t0(),
        )
        .unwrap_err();
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
    assert!(
        start(
            &only_case_workers,
            "c".into(),
            "n".into(),
            &case_worker(),
            Starter::CaseWorker,
            t0()
        )
        .is_ok()
    );
}

// ---- SaveStep and Back ---------------------------------------------------------------------------

#[test]
fn save_step_keeps_a_draft_with_errors_and_reports_them() {
    let flow = flow();
    let c = draft(&flow);
    let out = ok(
        &flow,
        &c,
        &citizen(),
        save(
            "apply",
            json!({"purpose": "  ", "guarantor": {"name": " Tolva ", "personnummer": "197701172393"}}),
        ),
        at(2, 9, 1),
    );
    let mut got: Vec<(String, &str)> = out
        .errors
        .iter()
        .map(|e| (e.path.clone(), e.code))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("apply.guarantor.personnummer".to_owned(), "personnummer"),
            ("apply.purpose".to_owned(), "required"),
        ]
    );
    assert_eq!(out.case.status, Status::Draft);
    assert_eq!(
        out.case.current_step.as_deref(),
        Some("apply"),
        "stays on the step"
    );
    assert_eq!(
        out.case.answers["apply"]["guarantor"]["name"],
        json!("Tolva")
    );
    assert_eq!(
        out.case.answers["apply"]["guarantor"]["personnummer"],
        json!("197701172393"),
        "what was typed is kept"
    );
    assert_eq!(kinds(&out), vec![EventKind::StepSaved("apply".into())]);

    // Valid: normalised, and on to the next step the citizen fills (the review; `assess` is the
    // case worker's).
    let out = ok(
        &flow,
        &out.case,
        &citizen(),
        save("apply", apply_answers()),
        at(2, 9, 2),
    );
    assert!(out.errors.is_empty(), "{:#?}", out.errors);
    assert_eq!(out.case.current_step.as_deref(), Some("review"));
    assert_eq!(
        out.case.answers["apply"]["guarantor"]["personnummer"],
        json!(GUARANTOR_PNR)
    );
    assert_eq!(out.case.status, Status::Draft);
}

#[test]
fn save_step_is_only_for_whoever_fills_the_step() {
    let flow = flow();
    let c = draft(&flow);
    let e = refused(
        &flow,
        &c,
        &citizen(),
        save("assess", assess_answers()),
        t0(),
    );
    assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    for actor in [other_citizen(), case_worker()] {
        let e = refused(&flow, &c, &actor, save("apply", apply_answers()), t0());
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
    let e = refused(&flow, &c, &citizen(), save("review", json!({})), t0());
    assert_eq!(e, CaseError::UnknownStep("review".into()));
    let e = refused(&flow, &c, &citizen(), save("nosuch", json!({})), t0());
    assert_eq!(e, CaseError::UnknownStep("nosuch".into()));

    // Once submitted the applicant's step is no longer theirs to change; in review the
    // assigned case worker fills theirs, and nobody else does.
    let c = submitted(&flow);
    let e = refused(
        &flow,
        &c,
        &citizen(),
        save("apply", apply_answers()),
        at(2, 10, 0),
    );
    assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    let e = refused(
        &flow,
        &c,
        &case_worker(),
        save("assess", assess_answers()),
        at(2, 10, 0),
    );
    assert!(
        matches!(e, CaseError::Forbidden(_)),
        "not assigned yet: {e:?}"
    );
    let c = ok(&flow, &c, &case_worker(), Command::Assign, at(2, 10, 0)).case;
    let e = refused(
        &flow,
        &c,
        &other_case_worker(),
        save("assess", assess_answers()),
        at(2, 10, 1),
    );
    assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    let out = ok(
        &flow,
        &c,
        &case_worker(),
        save("assess", json!({})),
        at(2, 10, 1),
    );
    assert_eq!(out.errors.len(), 1);
    assert_eq!(
        (out.errors[0].path.as_str(), out.errors[0].code),
        ("assess.assessment", "required")
    );
    assert_eq!(out.case.status, Status::InReview);
}

#[test]
fn back_goes_to_the_previous_step_of_the_same_person() {
    let flow = flow();
    let c = draft(&flow);
    let c = ok(
        &flow,
        &c,
        &citizen(),
        save("apply", apply_answers()),
        at(2, 9, 1),
    )
    .case;
    assert_eq!(c.current_step.as_deref(), Some("review"));
    let out = ok(
        &flow,
        &c,
        &citizen(),
        Command::Back {
            from: "review".into(),
        },
        at(2, 9, 2),
    );
    assert_eq!(out.case.current_step.as_deref(), Some("apply"));
    assert_eq!(kinds(&out), vec![EventKind::WentBack("apply".into())]);
    assert_eq!(out.case.answers, c.answers);
    assert_eq!(out.case.status, Status::Draft);

    let e = refused(
        &flow,
        &out.case,
        &citizen(),
        Command::Back {
            from: "apply".into(),
        },
        at(2, 9, 3),
    );
    assert!(is_invalid_transition(&e), "{e:?}");
    let e = refused(
        &flow,
        &out.case,
        &citizen(),
        Command::Back {
            from: "nosuch".into(),
        },
        at(2, 9, 3),
    );
    assert_eq!(e, CaseError::UnknownStep("nosuch".into()));
    // The citizen's `apply` is not the case worker's to go back to.
    let c = in_review(&flow);
    let e = refused(
        &flow,
        &c,
        &case_worker(),
        Command::Back {
            from: "assess".into(),
        },
        at(3, 9, 0),
    );
    assert!(is_invalid_transition(&e), "{e:?}");
}

// ---- Submit ---------------------------------------------------------------------------------------

#[test]
fn submit_with_invalid_answers_is_refused_and_changes_nothing() {
    let flow = flow();
    let c = draft(&flow);
    let e = refused(&flow, &c, &citizen(), Command::Submit, at(2, 9, 1));
    let CaseError::Invalid(errors) = e else {
        panic!("expected Invalid, got {e:?}")
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"apply.purpose"), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.starts_with("assess")),
        "the case worker's step is not the applicant's to answer: {paths:?}"
    );
    // The same revision still works: the refusal changed nothing.
    let c = ok(
        &flow,
        &c,
        &citizen(),
        save("apply", json!({"purpose": "x"})),
        at(2, 9, 2),
    )
    .case;
    let e = refused(&flow, &c, &citizen(), Command::Submit, at(2, 9, 3));
    let CaseError::Invalid(errors) = e else {
        panic!("expected Invalid, got {e:?}")
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["apply.guarantor.name", "apply.guarantor.personnummer"]
    );
}

#[test]
fn submit_sends_a_valid_citizen_case_in() {
    let flow = flow();
    let c = draft(&flow);
    let c = ok(
        &flow,
        &c,
        &citizen(),
        save("apply", apply_answers()),
        at(2, 9, 1),
    )
    .case;
    for actor in [other_citizen(), case_worker()] {
        let e = refused(&flow, &c, &actor, Command::Submit, at(2, 9, 2));
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
    let out = ok(&flow, &c, &citizen(), Command::Submit, at(2, 9, 2));
    assert_eq!(out.case.status, Status::Submitted);
    assert_eq!(out.case.current_step, None);
    assert_eq!(out.case.assignee, None);
    assert_eq!(kinds(&out), vec![EventKind::Submitted]);
    assert_eq!(out.events[0].actor_role, "applicant");
    assert_eq!(out.case.answers["apply"]["purpose"], json!("En altan"));

    let e = refused(&flow, &out.case, &citizen(), Command::Submit, at(2, 9, 3));
    assert!(is_invalid_transition(&e), "{e:?}");
}

// ---- Assign -----------------------------------------------------------------------------------------

#[test]
fn assign_is_for_case_workers_on_submitted_cases() {
    let flow = flow();
    let e = refused(
        &flow,
        &draft(&flow),
        &case_worker(),
        Command::Assign,
        at(2, 10, 0),
    );
    assert!(is_invalid_transition(&e), "{e:?}");

    let c = submitted(&flow);
    for actor in [citizen(), guarantor()] {
        let e = refused(&flow, &c, &actor, Command::Assign, at(2, 10, 0));
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
    let out = ok(&flow, &c, &case_worker(), Command::Assign, at(2, 10, 0));
    assert_eq!(out.case.status, Status::InReview);
    assert_eq!(out.case.assignee, Some(case_worker().person));
    assert_eq!(kinds(&out), vec![EventKind::Assigned]);
    assert_eq!(out.events[0].actor_role, "case_worker");
}

// ---- Return and resubmit ------------------------------------------------------------------------------

#[test]
fn return_needs_a_comment_and_the_assigned_case_worker() {
    let flow = flow();
    let e = refused(
        &flow,
        &submitted(&flow),
        &case_worker(),
        Command::Return {
            comment: "Komplettera".into(),
        },
        at(3, 9, 0),
    );
    assert!(is_invalid_transition(&e), "not in review yet: {e:?}");

    let c = in_review(&flow);
    let e = refused(
        &flow,
        &c,
        &case_worker(),
        Command::Return {
            comment: "  \n ".into(),
        },
        at(3, 9, 0),
    );
    let CaseError::Invalid(errors) = e else {
        panic!("expected Invalid, got {e:?}")
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, "required");
    assert!(!errors[0].message.sv.is_empty() && !errors[0].message.en.is_empty());
    for actor in [other_case_worker(), citizen()] {
        let e = refused(
            &flow,
            &c,
            &actor,
            Command::Return {
                comment: "Komplettera".into(),
            },
            at(3, 9, 0),
        );
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
}

#[test]
fn a_returned_case_goes_back_to_the_applicant_and_can_be_resubmitted() {
    let flow = flow();
    let c = in_review(&flow);
    let out = ok(
        &flow,
        &c,
        &case_worker(),
        Command::Return {
            comment: "  Bifoga ritning.  ".into(),
        },
        at(3, 9, 0),
    );
    assert_eq!(out.case.status, Status::Returned);
    assert_eq!(out.case.return_comment.as_deref(), Some("Bifoga ritning."));
    assert_eq!(out.case.current_step.as_deref(), Some("apply"));
    assert_eq!(kinds(&out), vec![EventKind::Returned]);
    assert_eq!(out.events[0].detail.as_deref(), Some("Bifoga ritning."));
    let c = out.case;

    // The case worker cannot fill in their step while it is with the applicant.
    let e = refused(
        &flow,
        &c,
        &case_worker(),
        save("assess", assess_answers()),
        at(3, 9, 1),
    );
    assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");

    let mut changed = apply_answers();
    changed["purpose"] = json!("En altan med ritning");
    let c = ok(&flow, &c, &citizen(), save("apply", changed), at(4, 12, 0)).case;
    assert_eq!(c.status, Status::Returned);
    assert_eq!(c.current_step.as_deref(), Some("review"));
    let out = ok(&flow, &c, &citizen(), Command::Submit, at(4, 12, 1));
    assert_eq!(out.case.status, Status::Submitted);
    assert_eq!(out.case.return_comment, None);
    assert_eq!(
        out.case.answers["apply"]["purpose"],
        json!("En altan med ritning")
    );
    assert_eq!(
        out.case.assignee,
        Some(case_worker().person),
        "still assigned"
    );
}

// ---- Reject ---------------------------------------------------------------------------------------------

#[test]
fn reject_needs_a_reason_and_the_assigned_case_worker_and_is_final() {
    let flow = flow();
    let e = refused(
        &flow,
        &draft(&flow),
        &case_worker(),
        Command::Reject {
            reason: "Nej".into(),
        },
        at(3, 9, 0),
    );
    assert!(is_invalid_transition(&e), "{e:?}");

    let c = in_review(&flow);
    let e = refused(
        &flow,
        &c,
        &case_worker(),
        Command::Reject { reason: " ".into() },
        at(3, 9, 0),
    );
    assert!(matches!(e, CaseError::Invalid(_)), "{e:?}");
    for actor in [citizen(), other_case_worker()] {
        let e = refused(
            &flow,
            &c,
            &actor,
            Command::Reject {
                reason: "Nej".into(),
            },
            at(3, 9, 0),
        );
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
    let out = ok(
        &flow,
        &c,
        &case_worker(),
        Command::Reject {
            reason: " Strider mot detaljplanen. ".into(),
        },
        at(3, 9, 0),
    );
    assert_eq!(out.case.status, Status::Rejected);
    assert!(out.case.status.is_final());
    assert_eq!(kinds(&out), vec![EventKind::Rejected]);
    assert_eq!(
        out.events[0].detail.as_deref(),
        Some("Strider mot detaljplanen.")
    );

    let c = out.case;
    for (actor, cmd) in [
        (citizen(), save("apply", apply_answers())),
        (case_worker(), save("assess", assess_answers())),
        (citizen(), Command::Submit),
        (case_worker(), approve()),
        (
            case_worker(),
            Command::Reject {
                reason: "igen".into(),
            },
        ),
        (citizen(), Command::Withdraw),
        (case_worker(), Command::Withdraw),
        (case_worker(), Command::Reopen),
    ] {
        let e = refused(&flow, &c, &actor, cmd, at(3, 10, 0));
        assert!(is_invalid_transition(&e), "{e:?}");
    }
}

#[test]
fn a_submitted_case_can_be_rejected_by_any_case_worker_before_it_is_assigned() {
    let flow = flow();
    let c = submitted(&flow);
    let out = ok(
        &flow,
        &c,
        &other_case_worker(),
        Command::Reject {
            reason: "Fel nämnd.".into(),
        },
        at(3, 9, 0),
    );
    assert_eq!(out.case.status, Status::Rejected);
}

// ---- Approve and signing ------------------------------------------------------------------------------

#[test]
fn approve_needs_the_case_workers_answers_and_the_assigned_case_worker() {
    let flow = flow();
    let e = refused(
        &flow,
        &submitted(&flow),
        &case_worker(),
        approve(),
        at(3, 9, 0),
    );
    assert!(is_invalid_transition(&e), "{e:?}");

    let c = in_review(&flow);
    let e = refused(&flow, &c, &case_worker(), approve(), at(3, 9, 0));
    let CaseError::Invalid(errors) = e else {
        panic!("expected Invalid, got {e:?}")
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, vec!["assess.assessment"]);

    let c = assessed(&flow);
    for actor in [other_case_worker(), citizen(), guarantor()] {
        let e = refused(&flow, &c, &actor, approve(), at(3, 9, 0));
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
}

#[test]
fn approve_locks_the_document_and_requests_the_first_signature() {
    let flow = flow();
    let c = assessed(&flow);
    let out = ok(&flow, &c, &case_worker(), approve(), approved_at());
    let c = &out.case;
    assert_eq!(c.status, Status::Signing);
    assert_eq!(c.document_sha256, Some("a".repeat(64).into()));
    assert_eq!(
        kinds(&out),
        vec![
            EventKind::Approved,
            EventKind::SignatureRequested("case_worker".into())
        ]
    );

    let who: Vec<(&str, &str)> = c
        .signatures
        .iter()
        .map(|s| (s.who.name(), s.field.as_str()))
        .collect();
    assert_eq!(
        who,
        vec![("case_worker", "case_worker"), ("guarantor", "guarantor")]
    );
    assert_eq!(c.signatures[0].person, case_worker().person);
    assert_eq!(
        c.signatures[1].person,
        guarantor().person,
        "resolved from the answers"
    );
    assert_eq!(c.signatures[0].label.sv, "Handläggare");
    assert_eq!(
        c.signatures[0].state,
        SignatureState::Requested {
            at: approved_at(),
            expires_at: at(5, 9, 0),
        },
        "`expires_after: 2d`"
    );
    assert_eq!(c.signatures[1].state, SignatureState::Waiting);
    assert_eq!(current_signer(c), Some(0));

    // Locked: nobody changes the answers any more.
    for (actor, cmd) in [
        (case_worker(), save("assess", assess_answers())),
        (citizen(), save("apply", apply_answers())),
        (case_worker(), approve()),
        (citizen(), Command::Submit),
        (
            case_worker(),
            Command::Return {
                comment: "x".into(),
            },
        ),
        (case_worker(), Command::Reject { reason: "x".into() }),
        (case_worker(), Command::Reopen),
    ] {
        let e = refused(&flow, c, &actor, cmd, at(3, 10, 0));
        assert!(is_invalid_transition(&e), "{e:?}");
    }
}

#[test]
fn signers_sign_in_order_and_the_last_signature_completes_the_case() {
    let flow = flow();
    let c = signing(&flow);
    let now = at(4, 8, 0);
    for actor in [guarantor(), citizen(), other_case_worker()] {
        let e = refused(&flow, &c, &actor, sign(1), now);
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }

    let out = ok(&flow, &c, &case_worker(), sign(1), now);
    assert_eq!(out.case.status, Status::Signing);
    assert_eq!(
        kinds(&out),
        vec![
            EventKind::Signed("case_worker".into()),
            EventKind::SignatureRequested("guarantor".into())
        ]
    );
    assert_eq!(
        out.case.signatures[0].state,
        SignatureState::Signed { at: now }
    );
    assert_eq!(
        out.case.signatures[1].state,
        SignatureState::Requested {
            at: now,
            expires_at: at(6, 8, 0)
        },
        "each signer gets the full time from their own request"
    );
    assert_eq!(out.case.document_sha256, Some("1".repeat(64).into()));
    assert_eq!(current_signer(&out.case), Some(1));
    let c = out.case;

    let e = refused(&flow, &c, &case_worker(), sign(2), at(4, 9, 0));
    assert!(
        matches!(e, CaseError::Forbidden(_)),
        "already signed: {e:?}"
    );

    let now = at(5, 20, 0);
    let out = ok(&flow, &c, &guarantor(), sign(2), now);
    assert_eq!(out.case.status, Status::Completed);
    assert!(out.case.status.is_final());
    assert_eq!(
        kinds(&out),
        vec![EventKind::Signed("guarantor".into()), EventKind::Completed]
    );
    assert_eq!(out.events[0].actor_role, "guarantor");
    assert_eq!(
        out.case.signatures[1].state,
        SignatureState::Signed { at: now }
    );
    assert_eq!(out.case.document_sha256, Some("2".repeat(64).into()));
    assert_eq!(current_signer(&out.case), None);

    let c = out.case;
    for (actor, cmd) in [
        (guarantor(), sign(3)),
        (guarantor(), Command::Decline { reason: "x".into() }),
        (case_worker(), Command::Expire),
        (case_worker(), Command::Reopen),
        (case_worker(), Command::Withdraw),
        (citizen(), Command::Withdraw),
        (case_worker(), save("assess", assess_answers())),
    ] {
        let e = refused(&flow, &c, &actor, cmd, at(6, 9, 0));
        assert!(is_invalid_transition(&e), "{e:?}");
    }
}

#[test]
fn signing_is_refused_outside_signing_and_after_the_request_expired() {
    let flow = flow();
    let e = refused(
        &flow,
        &assessed(&flow),
        &case_worker(),
        sign(1),
        at(3, 9, 0),
    );
    assert!(is_invalid_transition(&e), "{e:?}");

    let c = signing(&flow);
    let e = refused(&flow, &c, &case_worker(), sign(1), at(5, 9, 1));
    assert!(is_invalid_transition(&e), "{e:?}");
    ok(&flow, &c, &case_worker(), sign(1), at(5, 9, 0));
}

#[test]
fn the_current_signer_declines_with_a_reason() {
    let flow = flow();
    let c = signing(&flow);
    let c = ok(&flow, &c, &case_worker(), sign(1), at(4, 8, 0)).case;

    let e = refused(
        &flow,
        &c,
        &case_worker(),
        Command::Decline {
            reason: "Nej".into(),
        },
        at(4, 9, 0),
    );
    assert!(
        matches!(e, CaseError::Forbidden(_)),
        "not the current signer: {e:?}"
    );
    let e = refused(
        &flow,
        &c,
        &guarantor(),
        Command::Decline {
            reason: "   ".into(),
        },
        at(4, 9, 0),
    );
    assert!(matches!(e, CaseError::Invalid(_)), "{e:?}");

    let now = at(4, 9, 0);
    let out = ok(
        &flow,
        &c,
        &guarantor(),
        Command::Decline {
            reason: " Jag går inte i borgen. ".into(),
        },
        now,
    );
    assert_eq!(out.case.status, Status::Declined);
    assert!(!out.case.status.is_final());
    assert_eq!(kinds(&out), vec![EventKind::Declined("guarantor".into())]);
    assert_eq!(
        out.events[0].detail.as_deref(),
        Some("Jag går inte i borgen.")
    );
    assert_eq!(
        out.case.signatures[1].state,
        SignatureState::Declined {
            at: now,
            reason: "Jag går inte i borgen.".into()
        }
    );
    assert_eq!(
        out.case.signatures[0].state,
        SignatureState::Signed { at: at(4, 8, 0) }
    );

    let e = refused(&flow, &out.case, &guarantor(), sign(2), at(4, 10, 0));
    assert!(is_invalid_transition(&e), "{e:?}");
    let e = refused(
        &flow,
        &assessed(&flow),
        &case_worker(),
        Command::Decline { reason: "x".into() },
        at(4, 10, 0),
    );
    assert!(is_invalid_transition(&e), "{e:?}");
}

#[test]
fn reopen_after_a_decline_returns_to_review_and_approval_starts_signing_afresh() {
    let flow = flow();
    let c = signing(&flow);
    let c = ok(
        &flow,
        &c,
        &case_worker(),
        Command::Decline {
            reason: "Fel i texten".into(),
        },
        at(4, 8, 0),
    )
    .case;
    assert_eq!(c.status, Status::Declined);

    for actor in [other_case_worker(), citizen(), guarantor()] {
        let e = refused(&flow, &c, &actor, Command::Reopen, at(4, 9, 0));
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
    let out = ok(&flow, &c, &case_worker(), Command::Reopen, at(4, 9, 0));
    assert_eq!(out.case.status, Status::InReview);
    assert!(out.case.signatures.is_empty());
    assert_eq!(out.case.document_sha256, None);
    assert_eq!(kinds(&out), vec![EventKind::Reopened]);

    // The case worker may correct their answers and approve again.
    let c = ok(
        &flow,
        &out.case,
        &case_worker(),
        save("assess", json!({"assessment": "Rättad."})),
        at(4, 9, 30),
    )
    .case;
    let out = ok(
        &flow,
        &c,
        &case_worker(),
        Command::Approve {
            document_sha256: "b".repeat(64).into(),
        },
        at(4, 10, 0),
    );
    assert_eq!(out.case.status, Status::Signing);
    assert_eq!(out.case.signatures.len(), 2);
    assert_eq!(
        out.case.signatures[0].state,
        SignatureState::Requested {
            at: at(4, 10, 0),
            expires_at: at(6, 10, 0)
        }
    );
    assert_eq!(out.case.answers["assess"]["assessment"], json!("Rättad."));
}

#[test]
fn expire_is_refused_until_the_deadline_has_passed() {
    let flow = flow();
    let c = signing(&flow);
    let deadline = at(5, 9, 0);
    for now in [at(4, 9, 0), deadline] {
        let e = refused(&flow, &c, &case_worker(), Command::Expire, now);
        assert!(is_invalid_transition(&e), "{now:?}: {e:?}");
    }
    let e = refused(
        &flow,
        &assessed(&flow),
        &case_worker(),
        Command::Expire,
        at(9, 9, 0),
    );
    assert!(is_invalid_transition(&e), "{e:?}");

    let now = at(5, 9, 1);
    let out = ok(&flow, &c, &case_worker(), Command::Expire, now);
    assert_eq!(out.case.status, Status::SigningExpired);
    assert_eq!(
        kinds(&out),
        vec![EventKind::SigningExpired("case_worker".into())]
    );
    assert_eq!(
        out.case.signatures[0].state,
        SignatureState::Expired { at: now }
    );
    assert_eq!(out.case.signatures[1].state, SignatureState::Waiting);

    let e = refused(&flow, &out.case, &case_worker(), sign(1), at(5, 9, 2));
    assert!(is_invalid_transition(&e), "{e:?}");
    let e = refused(
        &flow,
        &out.case,
        &case_worker(),
        Command::Expire,
        at(5, 9, 2),
    );
    assert!(is_invalid_transition(&e), "{e:?}");

    let out = ok(
        &flow,
        &out.case,
        &case_worker(),
        Command::Reopen,
        at(5, 10, 0),
    );
    assert_eq!(out.case.status, Status::InReview);
    assert!(out.case.signatures.is_empty());
}

// ---- Withdraw ---------------------------------------------------------------------------------------------

#[test]
fn the_applicant_withdraws_a_draft() {
    let flow = flow();
    let c = draft(&flow);
    let e = refused(&flow, &c, &other_citizen(), Command::Withdraw, at(2, 9, 1));
    assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    let out = ok(&flow, &c, &citizen(), Command::Withdraw, at(2, 9, 1));
    assert_eq!(out.case.status, Status::Withdrawn);
    assert!(out.case.status.is_final());
    assert_eq!(kinds(&out), vec![EventKind::Withdrawn]);
    assert_eq!(out.events[0].actor_role, "applicant");

    let e = refused(&flow, &out.case, &citizen(), Command::Withdraw, at(2, 9, 2));
    assert!(is_invalid_transition(&e), "{e:?}");
    let e = refused(
        &flow,
        &out.case,
        &citizen(),
        save("apply", apply_answers()),
        at(2, 9, 2),
    );
    assert!(is_invalid_transition(&e), "{e:?}");
    let e = refused(&flow, &out.case, &citizen(), Command::Submit, at(2, 9, 2));
    assert!(is_invalid_transition(&e), "{e:?}");
}

#[test]
fn withdraw_after_submission_is_for_the_applicant_until_review_then_for_the_case_worker() {
    let flow = flow();
    let c = submitted(&flow);
    assert_eq!(
        ok(&flow, &c, &citizen(), Command::Withdraw, at(2, 11, 0))
            .case
            .status,
        Status::Withdrawn
    );

    let c = in_review(&flow);
    for actor in [citizen(), other_case_worker()] {
        let e = refused(&flow, &c, &actor, Command::Withdraw, at(3, 9, 0));
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    }
    let out = ok(&flow, &c, &case_worker(), Command::Withdraw, at(3, 9, 0));
    assert_eq!(out.case.status, Status::Withdrawn);
    assert_eq!(out.events[0].actor_role, "case_worker");
}

// ---- revisions and flows ----------------------------------------------------------------------------------

#[test]
fn a_stale_revision_is_a_conflict_and_changes_nothing() {
    let flow = flow();
    let c = draft(&flow);
    let c = ok(
        &flow,
        &c,
        &citizen(),
        save("apply", apply_answers()),
        at(2, 9, 1),
    )
    .case;
    assert_eq!(c.revision, 2);
    let before = c.clone();
    for (expected, cmd) in [
        (1, Command::Submit),
        (3, Command::Submit),
        // The revision is checked before anything else.
        (1, Command::Assign),
        (1, save("nosuch", json!({}))),
    ] {
        let e = apply(&flow, &c, &citizen(), expected, cmd, at(2, 9, 2)).unwrap_err();
        assert_eq!(
            e,
            CaseError::Conflict {
                expected,
                actual: 2
            }
        );
        assert_eq!(c, before);
    }
    let out = ok(&flow, &c, &citizen(), Command::Submit, at(2, 9, 3));
    assert_eq!(out.case.revision, 3);
    assert_eq!(out.case.status, Status::Submitted);
}

#[test]
fn a_case_is_pinned_to_the_flow_it_started_with() {
    let flow = flow();
    let c = draft(&flow);
    let other = load_flow("other", "[citizen, case_worker]");
    let e = apply(
        &other,
        &c,
        &citizen(),
        c.revision,
        save("apply", apply_answers()),
        at(2, 9, 1),
    )
    .unwrap_err();
    assert_eq!(e, CaseError::WrongFlow);
    let mut tampered = c.clone();
    tampered.flow_hash = "0".repeat(64).into();
    let e = apply(
        &flow,
        &tampered,
        &citizen(),
        c.revision,
        Command::Submit,
        at(2, 9, 1),
    )
    .unwrap_err();
    assert_eq!(e, CaseError::WrongFlow);
}

#[test]
fn the_whole_way_revision_goes_up_by_one_per_command() {
    let flow = flow();
    let first = start(
        &flow,
        "c1".into(),
        "2026-0001".into(),
        &citizen(),
        Starter::Citizen,
        t0(),
    )
    .unwrap();
    let mut c = first.case;
    let mut revisions = vec![c.revision];
    let steps: Vec<(Actor, Command, Status)> = vec![
        (citizen(), save("apply", apply_answers()), Status::Draft),
        (citizen(), Command::Submit, Status::Submitted),
        (case_worker(), Command::Assign, Status::InReview),
        (
            case_worker(),
            Command::Return {
                comment: "Komplettera".into(),
            },
            Status::Returned,
        ),
        (citizen(), Command::Submit, Status::Submitted),
        (case_worker(), Command::Assign, Status::InReview),
        (
            case_worker(),
            save("assess", assess_answers()),
            Status::InReview,
        ),
        (case_worker(), approve(), Status::Signing),
        (case_worker(), sign(1), Status::Signing),
        (guarantor(), sign(2), Status::Completed),
    ];
    for (i, (actor, cmd, status)) in steps.into_iter().enumerate() {
        let now = at(2, 10, i as u32);
        c = ok(&flow, &c, &actor, cmd, now).case;
        assert_eq!(c.status, status, "after command {i}");
        revisions.push(c.revision);
    }
    assert_eq!(revisions, (1..=11).collect::<Vec<u64>>());
}

// ---- a case started by a case worker ------------------------------------------------------------------------

#[test]
fn a_case_worker_fills_every_step_and_submit_goes_straight_to_review() {
    let flow = flow();
    let cw = case_worker();
    let c = start(
        &flow,
        "c9".into(),
        "2026-0009".into(),
        &cw,
        Starter::CaseWorker,
        t0(),
    )
    .unwrap()
    .case;

    let c = ok(&flow, &c, &cw, save("apply", apply_answers()), at(2, 9, 1)).case;
    assert_eq!(
        c.current_step.as_deref(),
        Some("assess"),
        "the case worker fills `assess` too"
    );
    let out = ok(
        &flow,
        &c,
        &cw,
        Command::Back {
            from: "assess".into(),
        },
        at(2, 9, 2),
    );
    assert_eq!(out.case.current_step.as_deref(), Some("apply"));

    // Their own step is part of what they submit.
    let e = refused(&flow, &c, &cw, Command::Submit, at(2, 9, 3));
    let CaseError::Invalid(errors) = e else {
        panic!("expected Invalid, got {e:?}")
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, vec!["assess.assessment"]);

    let c = ok(
        &flow,
        &c,
        &cw,
        save("assess", assess_answers()),
        at(2, 9, 4),
    )
    .case;
    assert_eq!(c.current_step.as_deref(), Some("review"));
    let out = ok(&flow, &c, &cw, Command::Submit, at(2, 9, 5));
    assert_eq!(out.case.status, Status::InReview);
    assert_eq!(out.case.assignee, Some(cw.person.clone()));
    assert_eq!(kinds(&out), vec![EventKind::Submitted]);

    // A case worker's own case is not returned to them.
    let e = refused(
        &flow,
        &out.case,
        &cw,
        Command::Return {
            comment: "x".into(),
        },
        at(2, 9, 6),
    );
    assert!(is_invalid_transition(&e), "{e:?}");

    let out = ok(&flow, &out.case, &cw, approve(), at(2, 9, 6));
    assert_eq!(out.case.status, Status::Signing);
    assert_eq!(out.case.signatures[0].person, cw.person);
    assert_eq!(out.case.signatures[1].person, guarantor().person);
}

#[test]
fn an_actor_role_is_stored_as_the_same_text_it_always_was() {
    use blankett_core::case::ActorRole;
    for (role, text) in [
        (ActorRole::Applicant, "applicant"),
        (ActorRole::CaseWorker, "case_worker"),
        (ActorRole::Party("guarantor".into()), "guarantor"),
        (ActorRole::System, "system"),
        (ActorRole::Api("arkiv".into()), "api:arkiv"),
        (ActorRole::Other, "other"),
    ] {
        assert_eq!(
            serde_json::to_value(&role).unwrap(),
            serde_json::json!(text)
        );
        let back: ActorRole = serde_json::from_value(serde_json::json!(text)).unwrap();
        assert_eq!(back, role);
        assert_eq!(role.to_string(), text);
    }
}

#[test]
fn identifiers_are_stored_and_sent_as_plain_text() {
    use blankett_core::ids::{CaseId, FlowHash, Sha256Hex};
    let id = CaseId::from("7f1c0b9e-2f55-4a38-9d8e-0b6c1f6a2d11");
    let sha = Sha256Hex::from("ab".repeat(32));
    let hash = FlowHash::from("cd".repeat(32));
    assert_eq!(
        serde_json::to_value((&id, &sha, &hash)).unwrap(),
        json!([
            "7f1c0b9e-2f55-4a38-9d8e-0b6c1f6a2d11",
            "ab".repeat(32),
            "cd".repeat(32)
        ])
    );
    let back: (CaseId, Sha256Hex, FlowHash) =
        serde_json::from_value(serde_json::to_value((&id, &sha, &hash)).unwrap()).unwrap();
    assert_eq!(back, (id.clone(), sha, hash));
    assert_eq!(id, "7f1c0b9e-2f55-4a38-9d8e-0b6c1f6a2d11");
}

#[test]
fn expressions_see_the_swedish_date_and_time() {
    let flow = flow();
    let c = signing(&flow);
    // Half past midnight on 1 July in Sweden is still 30 June in UTC.
    let summer = Timestamp::parse("2026-06-30T22:30:00Z").unwrap();
    let env = blankett_core::case::env_for(&c, &flow, summer, None);
    assert_eq!(
        (env.today.as_str(), env.now.as_str()),
        ("2026-07-01", "2026-07-01T00:30")
    );
    // And New Year comes an hour before it does in UTC.
    let new_year = Timestamp::parse("2026-12-31T23:30:00Z").unwrap();
    let env = blankett_core::case::env_for(&c, &flow, new_year, None);
    assert_eq!(env.today, "2027-01-01");
}

// ---- signing in any order ---------------------------------------------------------------------

/// The flow with `signing.order: any` (and more `signing` keys if given).
fn any_flow(extra: &str) -> Flow {
    let yaml = FLOW_YAML.replace(
        "  expires_after: 2d",
        &format!("  expires_after: 2d\n  order: any{extra}"),
    );
    load_flow_from(&yaml, "permit", "[citizen, case_worker]")
}

#[test]
fn with_any_order_every_signer_is_asked_at_once_and_signs_when_they_like() {
    let flow = any_flow("");
    let c = signing(&flow);
    assert_eq!(c.status, Status::Signing);
    for s in &c.signatures {
        assert_eq!(
            s.state,
            SignatureState::Requested {
                at: approved_at(),
                expires_at: at(5, 9, 0)
            }
        );
    }
    // The guarantor, listed last, signs first.
    let out = ok(&flow, &c, &guarantor(), sign(1), at(4, 8, 0));
    assert_eq!(out.case.status, Status::Signing);
    assert_eq!(kinds(&out), vec![EventKind::Signed("guarantor".into())]);
    assert!(matches!(
        out.case.signatures[0].state,
        SignatureState::Requested { .. }
    ));
    let c = out.case;
    // Not twice.
    let e = refused(&flow, &c, &guarantor(), sign(2), at(4, 9, 0));
    assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
    // The last one completes it.
    let out = ok(&flow, &c, &case_worker(), sign(2), at(4, 10, 0));
    assert_eq!(out.case.status, Status::Completed);
    assert_eq!(
        kinds(&out),
        vec![
            EventKind::Signed("case_worker".into()),
            EventKind::Completed
        ]
    );
    assert_eq!(out.case.document_sha256, Some("2".repeat(64).into()));
}

#[test]
fn with_any_order_one_decline_stops_the_signing_for_everyone() {
    let flow = any_flow("");
    let c = signing(&flow);
    let c = ok(&flow, &c, &case_worker(), sign(1), at(4, 8, 0)).case;
    let out = ok(
        &flow,
        &c,
        &guarantor(),
        Command::Decline {
            reason: "Fel belopp".into(),
        },
        at(4, 9, 0),
    );
    assert_eq!(out.case.status, Status::Declined);
    assert_eq!(kinds(&out), vec![EventKind::Declined("guarantor".into())]);
    let e = refused(&flow, &out.case, &guarantor(), sign(2), at(4, 10, 0));
    assert!(is_invalid_transition(&e), "{e:?}");
}

#[test]
fn with_any_order_a_request_that_runs_out_expires_the_signing() {
    let flow = any_flow("");
    let c = signing(&flow);
    let c = ok(&flow, &c, &guarantor(), sign(1), at(4, 8, 0)).case;
    let e = refused(&flow, &c, &case_worker(), Command::Expire, at(5, 8, 0));
    assert!(is_invalid_transition(&e), "not yet: {e:?}");
    let out = ok(&flow, &c, &case_worker(), Command::Expire, at(5, 10, 0));
    assert_eq!(out.case.status, Status::SigningExpired);
    assert_eq!(
        kinds(&out),
        vec![EventKind::SigningExpired("case_worker".into())],
        "the one still missing expired, not the one who signed"
    );
}

#[test]
fn one_person_signs_once_unless_the_flow_allows_more() {
    // The guarantor is the case worker: two signatures by one person.
    let same = |flow: &Flow| {
        let c = submitted(flow);
        let mut c = ok(flow, &c, &case_worker(), Command::Assign, at(3, 8, 0)).case;
        c.answers["apply"]["guarantor"]["personnummer"] =
            json!(case_worker().person.personnummer.as_str());
        let c = ok(
            flow,
            &c,
            &case_worker(),
            save("assess", assess_answers()),
            at(3, 8, 30),
        )
        .case;
        (
            c.clone(),
            apply(
                flow,
                &c,
                &case_worker(),
                c.revision,
                approve(),
                approved_at(),
            ),
        )
    };
    let (_, refused) = same(&flow());
    match refused {
        Err(CaseError::Signers(m)) => assert!(m.contains("twice"), "{m}"),
        other => panic!("{other:?}"),
    }
    let allowed = any_flow("\n  allow_same_signer: true");
    let (_, out) = same(&allowed);
    let out = out.unwrap();
    assert_eq!(out.case.status, Status::Signing);
    assert_eq!(out.case.signatures.len(), 2);
}
