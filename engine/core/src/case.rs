//! The case (ärende) state machine. Pure: the clock's `now` and new ids come in as arguments.
//!
//! ```text
//!  start ─▶ Draft ──submit──▶ Submitted ──assign──▶ InReview ──approve──▶ Signing ──last sign──▶ Completed
//!            ▲  │                                   │  │  │                 │  │
//!            │  └─withdraw─▶ Withdrawn ◀────────────┘  │  └─reject─▶ Rejected │  └─expire─▶ SigningExpired ─┐
//!            └──────────── Returned ◀──return──────────┘          Declined ◀─decline                        │
//!                                                     InReview ◀──reopen── (Declined, SigningExpired) ◀─────┘
//! ```
//!
//! Every command checks the caller's expected revision first: a stale write is a `Conflict`
//! and changes nothing. Every successful command bumps the revision and returns the events
//! for the audit log.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::def::{SigningOrder, Starter, StepKind};
use crate::ids::{CaseId, Personnummer, Sha256Hex};
use crate::model::{Flow, OrderRule, Role, Step, Text};
use crate::rules::{Env, FieldError, apply_step, step_applies, top_context, validate_steps};

/// Where a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being filled in by whoever started it.
    Draft,
    /// Sent in; waiting for a case worker.
    Submitted,
    /// A case worker handles it.
    InReview,
    /// Sent back to the applicant with a comment.
    Returned,
    /// The document is locked; signers sign in turn.
    Signing,
    /// A signer declined.
    Declined,
    /// The current signer did not sign in time.
    SigningExpired,
    /// All signatures are in (or the flow has no signers and was approved).
    Completed,
    Rejected,
    Withdrawn,
}

impl Status {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Rejected | Status::Withdrawn
        )
    }
}

/// A verified person acting on a case.
///
/// Two `Person`s are the same person when their personnummer is the same: the name typed
/// into a form ("Ordförande Testsson") and the name the eID gives ("Elva Elvasson") may
/// differ, and the identity number is what eID verifies.
#[derive(Clone, Serialize, Deserialize)]
pub struct Person {
    pub personnummer: Personnummer,
    pub name: String,
}

impl PartialEq for Person {
    fn eq(&self, other: &Self) -> bool {
        self.personnummer == other.personnummer
    }
}

impl Eq for Person {}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Person(<redacted>)")
    }
}

/// Who is calling, as established by login. `case_worker` comes from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub person: Person,
    pub case_worker: bool,
}

/// Where a signer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SignatureState {
    Waiting,
    Requested {
        at: Timestamp,
        expires_at: Timestamp,
    },
    Signed {
        at: Timestamp,
    },
    Declined {
        at: Timestamp,
        reason: String,
    },
    Expired {
        at: Timestamp,
    },
}

/// Where a signer's visible signature goes in the locked document, as the renderer reported
/// it at approval: a page (from 1) and a rectangle in PDF points, lower left then upper right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub page: u32,
    pub rect: [f64; 4],
}

/// One signature of the sequence, resolved to a person at approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub who: Role,
    /// Name of the signature field in the template (`case_worker`, `decision_maker`,
    /// `signatory-2` for the second item of a party with `each`).
    pub field: String,
    pub label: Text,
    pub person: Person,
    pub state: SignatureState,
    /// Set at approval from the rendered document; `None` makes an invisible signature.
    #[serde(default)]
    pub placement: Option<Placement>,
}

/// A case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: CaseId,
    /// The human case number (diarienummer style), e.g. `2026-0042`.
    pub number: String,
    pub flow_id: String,
    /// The flow content it is pinned to.
    pub flow_hash: crate::ids::FlowHash,
    pub status: Status,
    pub revision: u64,
    pub started_as: Starter,
    pub applicant: Person,
    pub assignee: Option<Person>,
    pub answers: Value,
    /// The step the applicant (or case worker) is on.
    pub current_step: Option<String>,
    /// The comment given when returned to the applicant.
    pub return_comment: Option<String>,
    /// SHA-256 of the locked document bytes, from approval on; after each signature, of the
    /// signed bytes.
    pub document_sha256: Option<Sha256Hex>,
    pub signatures: Vec<Signature>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The role in which someone acted on a case, as the audit log records it. Stored and sent
/// as its text: `applicant`, `case_worker`, a party's name, `system` (the scheduler),
/// `api:<key name>`, or `other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActorRole {
    Applicant,
    CaseWorker,
    /// A party declared under `parties` (a signer from outside).
    Party(String),
    /// The scheduler (an expiry); no person.
    System,
    /// A REST API key, by its configured name.
    Api(String),
    /// Someone involved in none of the above roles.
    Other,
}

impl ActorRole {
    /// The text it is stored and sent as.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            ActorRole::Applicant => Cow::Borrowed("applicant"),
            ActorRole::CaseWorker => Cow::Borrowed("case_worker"),
            ActorRole::Party(name) => Cow::Borrowed(name),
            ActorRole::System => Cow::Borrowed("system"),
            ActorRole::Api(key) => Cow::Owned(format!("api:{key}")),
            ActorRole::Other => Cow::Borrowed("other"),
        }
    }

    /// The role a stored text names (the inverse of [`ActorRole::as_text`]).
    pub fn from_text(s: &str) -> ActorRole {
        match s {
            "applicant" => ActorRole::Applicant,
            "case_worker" => ActorRole::CaseWorker,
            "system" => ActorRole::System,
            "other" | "" => ActorRole::Other,
            s => match s.strip_prefix("api:") {
                Some(key) => ActorRole::Api(key.to_owned()),
                None => ActorRole::Party(s.to_owned()),
            },
        }
    }
}

impl std::fmt::Display for ActorRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_text())
    }
}

impl From<&str> for ActorRole {
    fn from(s: &str) -> ActorRole {
        ActorRole::from_text(s)
    }
}

impl PartialEq<&str> for ActorRole {
    fn eq(&self, other: &&str) -> bool {
        self.as_text() == *other
    }
}

impl Serialize for ActorRole {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_text())
    }
}

impl<'de> Deserialize<'de> for ActorRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ActorRole, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(ActorRole::from_text(&s))
    }
}

/// What happened, for the audit log. Holds ids and codes, never answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    pub kind: EventKind,
    /// The role the actor acted in.
    pub actor_role: ActorRole,
    /// Who acted (`None` for the system, e.g. an expiry). Audit data: kept in the store,
    /// never written to logs.
    pub actor: Option<Personnummer>,
    pub revision: u64,
    /// A comment or reason given by the actor (returned, rejected, declined).
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "step")]
pub enum EventKind {
    Started,
    StepSaved(String),
    WentBack(String),
    Submitted,
    Assigned,
    Returned,
    Rejected,
    Approved,
    SignatureRequested(String),
    Signed(String),
    Declined(String),
    SigningExpired(String),
    Reopened,
    Completed,
    Withdrawn,
    /// A case worker opened the case (the audit trail of reads).
    Viewed,
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("the case was changed by someone else (your revision {expected}, now {actual})")]
    Conflict { expected: u64, actual: u64 },
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    #[error("`{action}` is not possible when the case is {from:?}")]
    InvalidTransition { from: Status, action: &'static str },
    #[error("the answers have {} problem(s)", .0.len())]
    Invalid(Vec<FieldError>),
    #[error("no step `{0}` in this flow")]
    UnknownStep(String),
    #[error("the flow changed: the case is pinned to another version")]
    WrongFlow,
    #[error("the signers cannot be determined: {0}")]
    Signers(String),
}

/// A command on an existing case.
#[derive(Debug, Clone)]
pub enum Command {
    SaveStep {
        step: String,
        answers: Value,
    },
    Back {
        from: String,
    },
    Submit,
    Assign,
    Return {
        comment: String,
    },
    Reject {
        reason: String,
    },
    /// Approve: the document has been rendered from the answers and its bytes locked.
    Approve {
        document_sha256: Sha256Hex,
    },
    /// The current signer signed; the new bytes (with the signature) have this digest.
    Sign {
        signed_document_sha256: Sha256Hex,
    },
    Decline {
        reason: String,
    },
    /// The scheduler found the current signature request overdue.
    Expire,
    Reopen,
    Withdraw,
}

/// A successful command: the new case, its events, and, for `SaveStep`, the field errors
/// (the draft is saved even when there are errors; nothing typed is lost).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub case: Case,
    pub events: Vec<Event>,
    pub errors: Vec<FieldError>,
}

/// The expression environment for a case.
pub fn env_for(case: &Case, flow: &Flow, now: Timestamp, identity: Option<&Person>) -> Env {
    Env {
        case: json!({"id": case.id, "number": case.number, "created_at": case.created_at.local().format("%Y-%m-%dT%H:%M").to_string()}),
        // Civil time: `today` and `now` are what a person in Sweden would say.
        today: now.local().format("%Y-%m-%d").to_string(),
        now: now.local().format("%Y-%m-%dT%H:%M").to_string(),
        identity: identity.map(|p| {
            let (given, sur) = split_name(&p.name);
            crate::rules::IdentityView {
                personnummer: p.personnummer.as_str().to_owned(),
                name: p.name.clone(),
                given_name: given,
                surname: sur,
            }
        }),
        flow: json!({"id": flow.id, "title": flow.title.sv, "revision": flow.def.revision}),
    }
}

fn split_name(full: &str) -> (String, String) {
    match full.rsplit_once(' ') {
        Some((g, s)) => (g.to_owned(), s.to_owned()),
        None => (full.to_owned(), String::new()),
    }
}

/// Starts a case.
/// A case already with a case worker, outside any store: what flow tests and document
/// previews (`blankett check`, `blankett render`) run against.
pub fn sample_in_review(
    flow: &Flow,
    applicant: Person,
    case_worker: Person,
    answers: Value,
    now: Timestamp,
) -> Case {
    let started_as = if flow.def.start.contains(&Starter::Citizen) {
        Starter::Citizen
    } else {
        Starter::CaseWorker
    };
    let mut case = new_case(
        flow,
        "00000000-0000-0000-0000-000000000000".into(),
        "2026-0001".into(),
        started_as,
        applicant,
        now,
    );
    case.status = Status::InReview;
    case.assignee = Some(case_worker);
    case.answers = answers;
    case
}

/// A case of `flow` as it is when started: a draft with no answers.
fn new_case(
    flow: &Flow,
    id: String,
    number: String,
    started_as: Starter,
    applicant: Person,
    now: Timestamp,
) -> Case {
    Case {
        id: CaseId::from(id),
        number,
        flow_id: flow.id.clone(),
        flow_hash: flow.content_hash.clone(),
        status: Status::Draft,
        revision: 1,
        started_as,
        applicant,
        assignee: None,
        answers: json!({}),
        current_step: None,
        return_comment: None,
        document_sha256: None,
        signatures: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

pub fn start(
    flow: &Flow,
    id: String,
    number: String,
    actor: &Actor,
    as_: Starter,
    now: Timestamp,
) -> Result<Outcome, CaseError> {
    if !flow.def.start.contains(&as_) {
        return Err(CaseError::Forbidden(
            "this e-service cannot be started that way",
        ));
    }
    if as_ == Starter::CaseWorker && !actor.case_worker {
        return Err(CaseError::Forbidden(
            "only case workers can start this e-service",
        ));
    }
    let mut case = new_case(flow, id, number, as_, actor.person.clone(), now);
    case.assignee = (as_ == Starter::CaseWorker).then(|| actor.person.clone());
    let env = env_for(&case, flow, now, Some(&actor.person));
    case.current_step = first_step_for(flow, &case, &env, actor).map(|s| s.id.clone());
    let ev = event(
        &case,
        now,
        EventKind::Started,
        role_of(&case, actor),
        Some(actor),
        None,
    );
    Ok(Outcome {
        case,
        events: vec![ev],
        errors: Vec::new(),
    })
}

fn role_of(case: &Case, actor: &Actor) -> ActorRole {
    if actor.case_worker && case.assignee.as_ref() == Some(&actor.person) {
        ActorRole::CaseWorker
    } else if actor.person == case.applicant {
        ActorRole::Applicant
    } else if actor.case_worker {
        ActorRole::CaseWorker
    } else {
        case.signatures
            .iter()
            .find(|s| s.person == actor.person)
            .map(|s| ActorRole::from_text(s.who.name()))
            .unwrap_or(ActorRole::Other)
    }
}

fn event(
    case: &Case,
    at: Timestamp,
    kind: EventKind,
    role: ActorRole,
    actor: Option<&Actor>,
    detail: Option<String>,
) -> Event {
    Event {
        at,
        kind,
        actor_role: role,
        actor: actor.map(|a| a.person.personnummer.clone()),
        revision: case.revision,
        detail,
    }
}

/// The audit event for a case worker (or anyone else) opening `case`. It does not change
/// the case or its revision.
pub fn viewed(case: &Case, actor: &Actor, now: Timestamp) -> Event {
    event(
        case,
        now,
        EventKind::Viewed,
        role_of(case, actor),
        Some(actor),
        None,
    )
}

/// May `actor` fill `step` of `case` now?
pub fn may_fill(flow: &Flow, case: &Case, step: &Step, actor: &Actor, env: &Env) -> bool {
    match &step.by {
        Role::Applicant => {
            actor.person == case.applicant
                && matches!(case.status, Status::Draft | Status::Returned)
        }
        Role::CaseWorker => {
            actor.case_worker
                && case.assignee.as_ref() == Some(&actor.person)
                && matches!(case.status, Status::Draft | Status::InReview)
        }
        Role::Party(p) => {
            matches!(case.status, Status::Submitted | Status::InReview)
                && party_people(flow, p, &case.answers, env)
                    .map(|people| people.contains(&actor.person))
                    .unwrap_or(false)
        }
    }
}

fn first_step_for<'f>(flow: &'f Flow, case: &Case, env: &Env, actor: &Actor) -> Option<&'f Step> {
    let top = top_context(flow, &case.answers, env);
    flow.steps.iter().find(|s| {
        step_applies(s, &top) && (s.kind == StepKind::Review || may_fill(flow, case, s, actor, env))
    })
}

/// The step after `from` that applies and that `actor` fills (or the review step).
pub fn next_step<'f>(
    flow: &'f Flow,
    case: &Case,
    from: &str,
    env: &Env,
    actor: &Actor,
) -> Option<&'f Step> {
    let top = top_context(flow, &case.answers, env);
    let i = flow.step_index(from)?;
    flow.steps[i + 1..].iter().find(|s| {
        step_applies(s, &top) && (s.kind == StepKind::Review || may_fill(flow, case, s, actor, env))
    })
}

/// The step before `from` that applies and that `actor` fills.
pub fn previous_step<'f>(
    flow: &'f Flow,
    case: &Case,
    from: &str,
    env: &Env,
    actor: &Actor,
) -> Option<&'f Step> {
    let top = top_context(flow, &case.answers, env);
    let i = flow.step_index(from)?;
    flow.steps[..i].iter().rev().find(|s| {
        s.kind == StepKind::Form && step_applies(s, &top) && may_fill(flow, case, s, actor, env)
    })
}

/// The people a party stands for, from the answers.
pub fn party_people(
    flow: &Flow,
    party: &str,
    answers: &Value,
    env: &Env,
) -> Result<Vec<Person>, String> {
    Ok(party_contacts(flow, party, answers, env)?
        .into_iter()
        .map(|c| c.person)
        .collect())
}

/// A person and the addresses the flow gives for notifying them (`email:` and `phone:` of a
/// party); empty answers give `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub person: Person,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The applicant's addresses as the flow's `contact:` gives them from the answers.
pub fn applicant_contact(
    flow: &Flow,
    answers: &Value,
    env: &Env,
) -> (Option<String>, Option<String>) {
    let ctx = Value::Object(top_context(flow, answers, env));
    let text = |e: &Option<crate::expr::Expr>| {
        e.as_ref()
            .and_then(|e| e.eval(&ctx).ok())
            .and_then(|v| v.as_str().map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
    };
    (text(&flow.contact.0), text(&flow.contact.1))
}

/// The people a party stands for, with their addresses, from the answers.
pub fn party_contacts(
    flow: &Flow,
    party: &str,
    answers: &Value,
    env: &Env,
) -> Result<Vec<Contact>, String> {
    let p = flow
        .parties
        .get(party)
        .ok_or_else(|| format!("unknown party `{party}`"))?;
    let top = top_context(flow, answers, env);
    let mut contexts = Vec::new();
    match &p.each {
        None => contexts.push(Value::Object(top)),
        Some(each) => {
            let items = each
                .eval(&Value::Object(top.clone()))
                .map_err(|e| e.to_string())?;
            for item in items.as_array().cloned().unwrap_or_default() {
                let mut ctx = top.clone();
                ctx.insert("item".into(), item);
                contexts.push(Value::Object(ctx));
            }
        }
    }
    let text = |e: &Option<crate::expr::Expr>, ctx: &Value| {
        e.as_ref()
            .and_then(|e| e.eval(ctx).ok())
            .and_then(|v| v.as_str().map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
    };
    let mut out = Vec::new();
    for ctx in contexts {
        let pnr = p.personnummer.eval(&ctx).map_err(|e| e.to_string())?;
        let name = p.full_name.eval(&ctx).map_err(|e| e.to_string())?;
        let pnr = Personnummer::parse(pnr.as_str().unwrap_or(""))
            .map_err(|_| format!("party `{party}` has no valid personnummer in the answers"))?;
        let name = name.as_str().unwrap_or("").trim().to_owned();
        if name.is_empty() {
            return Err(format!("party `{party}` has no name in the answers"));
        }
        out.push(Contact {
            person: Person {
                personnummer: pnr,
                name,
            },
            email: text(&p.email, &ctx),
            phone: text(&p.phone, &ctx),
        });
    }
    Ok(out)
}

/// Resolves the flow's signing sequence to people.
pub fn resolve_signers(flow: &Flow, case: &Case, env: &Env) -> Result<Vec<Signature>, CaseError> {
    let mut out = Vec::new();
    for slot in &flow.signers {
        let people: Vec<Person> = match &slot.who {
            Role::CaseWorker => vec![
                case.assignee
                    .clone()
                    .ok_or(CaseError::Signers("no case worker is assigned".into()))?,
            ],
            Role::Applicant => vec![case.applicant.clone()],
            Role::Party(p) => {
                party_people(flow, p, &case.answers, env).map_err(CaseError::Signers)?
            }
        };
        let many = flow
            .parties
            .get(slot.who.name())
            .is_some_and(|p| p.each.is_some());
        for (i, person) in people.into_iter().enumerate() {
            out.push(Signature {
                who: slot.who.clone(),
                // A PDF field's partial name may not contain a period (ISO 32000-1, 12.7.3.2).
                field: if many {
                    format!("{}-{}", slot.who.name(), i + 1)
                } else {
                    slot.who.name().to_owned()
                },
                label: slot.label.clone(),
                person,
                state: SignatureState::Waiting,
                placement: None,
            });
        }
    }
    if out.is_empty() && !flow.signers.is_empty() {
        return Err(CaseError::Signers("the answers name no signer".into()));
    }
    if !flow.allow_same_signer {
        for (i, s) in out.iter().enumerate() {
            if let Some(twice) = out[..i].iter().find(|o| o.person == s.person) {
                return Err(CaseError::Signers(format!(
                    "the same person would sign twice (as `{}` and as `{}`); each signer must be someone else",
                    twice.field, s.field
                )));
            }
        }
    }
    Ok(out)
}

/// Applies a command. `expected_revision` is the revision the caller last saw.
pub fn apply(
    flow: &Flow,
    case: &Case,
    actor: &Actor,
    expected_revision: u64,
    cmd: Command,
    now: Timestamp,
) -> Result<Outcome, CaseError> {
    if case.revision != expected_revision {
        return Err(CaseError::Conflict {
            expected: expected_revision,
            actual: case.revision,
        });
    }
    if case.flow_hash != flow.content_hash || case.flow_id != flow.id {
        return Err(CaseError::WrongFlow);
    }
    let env = env_for(case, flow, now, Some(&actor.person));
    let mut next = case.clone();
    // An expiry is the scheduler's doing, not the caller's.
    let system = matches!(cmd, Command::Expire);
    let role = if system {
        ActorRole::System
    } else {
        role_of(case, actor)
    };
    let who = (!system).then_some(actor);
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let s = case.status;
    let invalid = |action| CaseError::InvalidTransition { from: s, action };
    let is_assignee = actor.case_worker && case.assignee.as_ref() == Some(&actor.person);

    match cmd {
        Command::SaveStep { step, answers } => {
            let st = flow
                .step(&step)
                .ok_or_else(|| CaseError::UnknownStep(step.clone()))?;
            if st.kind == StepKind::Review {
                return Err(CaseError::UnknownStep(step));
            }
            if s.is_final()
                || matches!(
                    s,
                    Status::Signing | Status::Declined | Status::SigningExpired
                )
            {
                return Err(invalid("save a step"));
            }
            if !may_fill(flow, case, st, actor, &env) {
                return Err(CaseError::Forbidden(
                    "this step is not yours to fill in now",
                ));
            }
            let top = top_context(flow, &case.answers, &env);
            if !step_applies(st, &top) {
                return Err(invalid("save a skipped step"));
            }
            let out = apply_step(flow, st, &case.answers, &answers, &env);
            if let Value::Object(m) = &mut next.answers {
                m.insert(step.clone(), out.answers);
            }
            errors = out.errors;
            next.current_step = if errors.is_empty() {
                next_step(flow, &next, &step, &env, actor).map(|x| x.id.clone())
            } else {
                Some(step.clone())
            };
            events.push(EventKind::StepSaved(step));
        }
        Command::Back { from } => {
            if flow.step(&from).is_none() {
                return Err(CaseError::UnknownStep(from));
            }
            let prev = previous_step(flow, case, &from, &env, actor)
                .ok_or(invalid("go back from the first step"))?;
            next.current_step = Some(prev.id.clone());
            events.push(EventKind::WentBack(prev.id.clone()));
        }
        Command::Submit => {
            if !matches!(s, Status::Draft | Status::Returned) {
                return Err(invalid("submit"));
            }
            if actor.person != case.applicant {
                return Err(CaseError::Forbidden("only the applicant submits"));
            }
            let by_case_worker = case.started_as == Starter::CaseWorker;
            let report = validate_steps(flow, &case.answers, &env, &|st| {
                st.by == Role::Applicant || (by_case_worker && st.by == Role::CaseWorker)
            });
            if !report.errors.is_empty() {
                return Err(CaseError::Invalid(report.errors));
            }
            next.answers = report.answers;
            next.return_comment = None;
            next.current_step = None;
            events.push(EventKind::Submitted);
            if by_case_worker {
                next.status = Status::InReview;
            } else {
                next.status = Status::Submitted;
            }
        }
        Command::Assign => {
            if !actor.case_worker {
                return Err(CaseError::Forbidden("only case workers take cases"));
            }
            if !matches!(s, Status::Submitted | Status::InReview) {
                return Err(invalid("assign"));
            }
            next.assignee = Some(actor.person.clone());
            next.status = Status::InReview;
            events.push(EventKind::Assigned);
        }
        Command::Return { comment } => {
            if s != Status::InReview {
                return Err(invalid("return to the applicant"));
            }
            if !is_assignee {
                return Err(CaseError::Forbidden(
                    "only the assigned case worker returns a case",
                ));
            }
            if case.started_as == Starter::CaseWorker {
                return Err(invalid("return a case a case worker started"));
            }
            let comment = comment.trim().to_owned();
            if comment.is_empty() {
                return Err(CaseError::Invalid(vec![comment_required("comment")]));
            }
            next.status = Status::Returned;
            next.return_comment = Some(comment.clone());
            next.current_step = flow
                .steps
                .iter()
                .find(|st| st.by == Role::Applicant && st.kind == StepKind::Form)
                .map(|st| st.id.clone());
            events.push(EventKind::Returned);
            return finish(next, events, errors, now, (role, who), Some(comment));
        }
        Command::Reject { reason } => {
            if !matches!(s, Status::InReview | Status::Submitted) {
                return Err(invalid("reject"));
            }
            if !actor.case_worker || (s == Status::InReview && !is_assignee) {
                return Err(CaseError::Forbidden(
                    "only the assigned case worker rejects a case",
                ));
            }
            let reason = reason.trim().to_owned();
            if reason.is_empty() {
                return Err(CaseError::Invalid(vec![comment_required("reason")]));
            }
            next.status = Status::Rejected;
            events.push(EventKind::Rejected);
            return finish(next, events, errors, now, (role, who), Some(reason));
        }
        Command::Approve { document_sha256 } => {
            if s != Status::InReview {
                return Err(invalid("approve"));
            }
            if !is_assignee {
                return Err(CaseError::Forbidden(
                    "only the assigned case worker approves",
                ));
            }
            let report = validate_steps(flow, &case.answers, &env, &|_| true);
            if !report.errors.is_empty() {
                return Err(CaseError::Invalid(report.errors));
            }
            next.answers = report.answers;
            next.document_sha256 = Some(document_sha256);
            next.signatures = resolve_signers(flow, &next, &env)?;
            events.push(EventKind::Approved);
            if next.signatures.is_empty() {
                next.status = Status::Completed;
                events.push(EventKind::Completed);
            } else {
                next.status = Status::Signing;
                request_next(&mut next, flow, &env, now, &mut events);
            }
        }
        Command::Sign {
            signed_document_sha256,
        } => {
            if s != Status::Signing {
                return Err(invalid("sign"));
            }
            let i = asked_of(case, &actor.person).ok_or(CaseError::Forbidden(
                "it is not your turn to sign, or you are not the designated signer",
            ))?;
            if let SignatureState::Requested { expires_at, .. } = case.signatures[i].state
                && now > expires_at
            {
                return Err(invalid("sign after the request expired"));
            }
            next.signatures[i].state = SignatureState::Signed { at: now };
            next.document_sha256 = Some(signed_document_sha256);
            events.push(EventKind::Signed(next.signatures[i].field.clone()));
            if current_signer(&next).is_some() {
                request_next(&mut next, flow, &env, now, &mut events);
            } else {
                next.status = Status::Completed;
                events.push(EventKind::Completed);
            }
        }
        Command::Decline { reason } => {
            if s != Status::Signing {
                return Err(invalid("decline"));
            }
            let i = asked_of(case, &actor.person).ok_or(CaseError::Forbidden(
                "only a signer asked to sign can decline",
            ))?;
            let reason = reason.trim().to_owned();
            if reason.is_empty() {
                return Err(CaseError::Invalid(vec![comment_required("reason")]));
            }
            next.signatures[i].state = SignatureState::Declined {
                at: now,
                reason: reason.clone(),
            };
            next.status = Status::Declined;
            events.push(EventKind::Declined(next.signatures[i].field.clone()));
            return finish(next, events, errors, now, (role, who), Some(reason));
        }
        Command::Expire => {
            if s != Status::Signing {
                return Err(invalid("expire"));
            }
            let i = case
                .signatures
                .iter()
                .position(|x| {
                    matches!(x.state, SignatureState::Requested { expires_at, .. } if now > expires_at)
                })
                .ok_or(invalid("expire a request that has not run out"))?;
            next.signatures[i].state = SignatureState::Expired { at: now };
            next.status = Status::SigningExpired;
            events.push(EventKind::SigningExpired(next.signatures[i].field.clone()));
        }
        Command::Reopen => {
            if !matches!(s, Status::Declined | Status::SigningExpired) {
                return Err(invalid("reopen"));
            }
            if !is_assignee {
                return Err(CaseError::Forbidden(
                    "only the assigned case worker reopens a case",
                ));
            }
            next.status = Status::InReview;
            next.signatures.clear();
            next.document_sha256 = None;
            events.push(EventKind::Reopened);
        }
        Command::Withdraw => {
            let by_applicant = actor.person == case.applicant
                && matches!(s, Status::Draft | Status::Submitted | Status::Returned);
            let by_case_worker =
                actor.case_worker && !s.is_final() && (is_assignee || s == Status::Submitted);
            if s.is_final() {
                return Err(invalid("withdraw"));
            }
            if !(by_applicant || by_case_worker) {
                return Err(CaseError::Forbidden("you cannot withdraw this case now"));
            }
            next.status = Status::Withdrawn;
            events.push(EventKind::Withdrawn);
        }
    }
    finish(next, events, errors, now, (role, who), None)
}

fn finish(
    mut next: Case,
    kinds: Vec<EventKind>,
    errors: Vec<FieldError>,
    now: Timestamp,
    (role, actor): (ActorRole, Option<&Actor>),
    detail: Option<String>,
) -> Result<Outcome, CaseError> {
    next.revision += 1;
    next.updated_at = now;
    let events = kinds
        .into_iter()
        .map(|k| event(&next, now, k, role.clone(), actor, detail.clone()))
        .collect();
    Ok(Outcome {
        case: next,
        events,
        errors,
    })
}

fn comment_required(path: &str) -> FieldError {
    FieldError {
        path: path.into(),
        code: "required",
        message: Text::new("Skriv en motivering.", "Write a reason."),
    }
}

/// Index of the first signer who has not signed: with `signing.order: sequential`, the one
/// whose turn it is.
pub fn current_signer(case: &Case) -> Option<usize> {
    case.signatures
        .iter()
        .position(|s| !matches!(s.state, SignatureState::Signed { .. }))
}

/// The signatures asked for now (one at a time in order, or all at once with
/// `signing.order: any`).
pub fn requested_signers(case: &Case) -> impl Iterator<Item = usize> + '_ {
    case.signatures
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.state, SignatureState::Requested { .. }))
        .map(|(i, _)| i)
}

/// The signature `person` is asked for now, if any: what they may sign or decline.
pub fn asked_of(case: &Case, person: &Person) -> Option<usize> {
    requested_signers(case).find(|i| case.signatures[*i].person == *person)
}

/// Whether signature `i` is the last one still missing.
pub fn is_last_missing(case: &Case, i: usize) -> bool {
    case.signatures
        .iter()
        .enumerate()
        .all(|(j, s)| j == i || matches!(s.state, SignatureState::Signed { .. }))
}

/// The signing order of a case: the flow's, or what its expression gives for the answers
/// (`any`, or else sequential).
pub fn signing_order(flow: &Flow, case: &Case, env: &Env) -> SigningOrder {
    match &flow.signing_order {
        OrderRule::Fixed(o) => *o,
        OrderRule::Expr(e) => {
            let ctx = Value::Object(top_context(flow, &case.answers, env));
            match e.eval(&ctx) {
                Ok(Value::String(s)) if s.trim() == "any" => SigningOrder::Any,
                _ => SigningOrder::Sequential,
            }
        }
    }
}

/// Asks the next signer (sequential), or every signer not yet asked (`any`).
fn request_next(
    case: &mut Case,
    flow: &Flow,
    env: &Env,
    now: Timestamp,
    events: &mut Vec<EventKind>,
) {
    let expires_at = now.plus_local_days(u64::from(flow.signing_expires_days));
    let ask: Vec<usize> = match signing_order(flow, case, env) {
        SigningOrder::Sequential => current_signer(case).into_iter().collect(),
        SigningOrder::Any => (0..case.signatures.len()).collect(),
    };
    for i in ask {
        if case.signatures[i].state != SignatureState::Waiting {
            continue;
        }
        case.signatures[i].state = SignatureState::Requested {
            at: now,
            expires_at,
        };
        events.push(EventKind::SignatureRequested(
            case.signatures[i].field.clone(),
        ));
    }
}
