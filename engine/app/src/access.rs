//! Who may do what with a case: one place, decided from who is asking (a typed [`Staff`]
//! standing and the [`Actor`]), the case and its flow. The pages and the API ask here; the
//! case machine (`case::apply`) still refuses what a command may not do in a state. The
//! matrix of role × case state × action is tested below.

use blankett_core::Flow;
use blankett_core::case::{Actor, Case, Status, asked_of};
use blankett_core::def::Starter;

/// What a logged-in person is to the municipality, from `[[case_workers]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staff<'a> {
    /// Not a case worker (a citizen, a signer from outside).
    Citizen,
    /// A case worker of these units.
    CaseWorker(&'a [String]),
    /// A case worker of every unit (`units = []`): also sees the outbox.
    Administrator,
}

impl<'a> Staff<'a> {
    /// From the units a person handles cases for, if they are a case worker.
    pub fn of(units: Option<&'a [String]>) -> Staff<'a> {
        match units {
            None => Staff::Citizen,
            Some([]) => Staff::Administrator,
            Some(units) => Staff::CaseWorker(units),
        }
    }

    pub fn is_case_worker(self) -> bool {
        self != Staff::Citizen
    }
}

/// Something a person does with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open the case page, its documents and its receipt.
    View,
    /// Sign, or decline to sign, the document.
    Sign,
    /// Approve the report: lock the document and start the signing.
    Approve,
}

/// Whether `staff` handles cases of `flow` (a case worker of its owning unit, or of every unit).
pub fn handles(staff: Staff<'_>, flow: &Flow) -> bool {
    match staff {
        Staff::Citizen => false,
        Staff::Administrator => true,
        Staff::CaseWorker(units) => units.contains(&flow.def.owner),
    }
}

/// The signature `actor` is asked for now, if any (their turn in order, or any time with
/// `signing.order: any`).
pub fn my_turn(case: &Case, actor: &Actor) -> Option<usize> {
    (case.status == Status::Signing)
        .then(|| asked_of(case, &actor.person))
        .flatten()
}

/// Whether `actor` (with `staff` standing) may do `action` with `case` of `flow`.
pub fn may(actor: &Actor, staff: Staff<'_>, case: &Case, flow: &Flow, action: Action) -> bool {
    let sees = actor.person == case.applicant
        || case.signatures.iter().any(|s| s.person == actor.person)
        || case.assignee.as_ref() == Some(&actor.person)
        // A citizen's draft stays private until it is sent; a withdrawn case is the
        // applicant's alone.
        || (handles(staff, flow)
            && !(case.status == Status::Draft && case.started_as == Starter::Citizen)
            && case.status != Status::Withdrawn);
    match action {
        Action::View => sees,
        Action::Sign => sees && my_turn(case, actor).is_some(),
        Action::Approve => {
            sees && actor.case_worker
                && case.assignee.as_ref() == Some(&actor.person)
                && case.status == Status::InReview
        }
    }
}

/// Whether `staff` may see the outbox (messages not delivered, and why).
pub fn may_see_outbox(staff: Staff<'_>) -> bool {
    staff == Staff::Administrator
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use blankett_core::case::{Person, Signature, SignatureState};
    use blankett_core::ids::Personnummer;
    use blankett_core::model::Role;

    const STATUSES: [Status; 10] = [
        Status::Draft,
        Status::Submitted,
        Status::InReview,
        Status::Returned,
        Status::Signing,
        Status::Declined,
        Status::SigningExpired,
        Status::Completed,
        Status::Rejected,
        Status::Withdrawn,
    ];

    fn person(pnr: &str) -> Person {
        Person {
            personnummer: Personnummer::parse(pnr).unwrap(),
            name: pnr.to_owned(),
        }
    }

    fn lvu() -> Flow {
        let sources = crate::defs_fs::read(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows/lvu-6"),
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../form-defs"),
        ]);
        let (defs, _) = blankett_core::load(&sources);
        defs.flow("lvu-6").unwrap().clone()
    }

    /// A case of `flow` started by a citizen (applicant A), assigned to case worker W, with two
    /// signers: W first (signed) and S (whose turn it is while signing).
    fn case(flow: &Flow, status: Status) -> Case {
        let at = blankett_core::time::Timestamp::from_local(
            chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap(),
        );
        let signer = |who: Person, state| Signature {
            who: Role::CaseWorker,
            field: "f".into(),
            label: blankett_core::model::Text {
                sv: "x".into(),
                en: "x".into(),
            },
            person: who,
            state,
            placement: None,
        };
        Case {
            id: "c".into(),
            number: "2026-0001".into(),
            flow_id: flow.id.clone(),
            flow_hash: flow.content_hash.clone(),
            status,
            revision: 1,
            started_as: Starter::Citizen,
            applicant: person(APPLICANT),
            assignee: Some(person(ASSIGNEE)),
            answers: serde_json::json!({}),
            current_step: None,
            return_comment: None,
            document_sha256: None,
            signatures: vec![
                signer(person(ASSIGNEE), SignatureState::Signed { at }),
                signer(
                    person(SIGNER),
                    SignatureState::Requested { at, expires_at: at },
                ),
            ],
            created_at: at,
            updated_at: at,
        }
    }

    // The test personal identity numbers the project's other tests use.
    const APPLICANT: &str = "189001019802";
    const ASSIGNEE: &str = "197701172392";
    const SIGNER: &str = "201212121212";
    const OTHER: &str = "198502020020";
    const STRANGER: &str = "199003030039";

    /// Each row: who, their standing, the action, and for each status in [`STATUSES`] order
    /// (draft, submitted, in review, returned, signing, declined, expired, completed,
    /// rejected, withdrawn) whether they may: `y` or `-`.
    #[test]
    fn the_access_matrix() {
        let flow = lvu();
        let own = [flow.def.owner.clone()];
        let other_unit = ["another-unit".to_owned()];
        let rows: Vec<(&str, &str, Staff<'_>, Action, &str)> = vec![
            (
                "applicant",
                APPLICANT,
                Staff::Citizen,
                Action::View,
                "yyyyyyyyyy",
            ),
            (
                "applicant",
                APPLICANT,
                Staff::Citizen,
                Action::Sign,
                "----------",
            ),
            (
                "applicant",
                APPLICANT,
                Staff::Citizen,
                Action::Approve,
                "----------",
            ),
            (
                "assignee",
                ASSIGNEE,
                Staff::CaseWorker(&own),
                Action::View,
                "yyyyyyyyyy",
            ),
            (
                "assignee",
                ASSIGNEE,
                Staff::CaseWorker(&own),
                Action::Sign,
                "----------",
            ),
            (
                "assignee",
                ASSIGNEE,
                Staff::CaseWorker(&own),
                Action::Approve,
                "--y-------",
            ),
            (
                "unit's case worker",
                OTHER,
                Staff::CaseWorker(&own),
                Action::View,
                "-yyyyyyyy-",
            ),
            (
                "unit's case worker",
                OTHER,
                Staff::CaseWorker(&own),
                Action::Approve,
                "----------",
            ),
            (
                "administrator",
                OTHER,
                Staff::Administrator,
                Action::View,
                "-yyyyyyyy-",
            ),
            (
                "administrator",
                OTHER,
                Staff::Administrator,
                Action::Approve,
                "----------",
            ),
            (
                "other unit's case worker",
                OTHER,
                Staff::CaseWorker(&other_unit),
                Action::View,
                "----------",
            ),
            (
                "signer whose turn it is",
                SIGNER,
                Staff::Citizen,
                Action::View,
                "yyyyyyyyyy",
            ),
            (
                "signer whose turn it is",
                SIGNER,
                Staff::Citizen,
                Action::Sign,
                "----y-----",
            ),
            (
                "signer whose turn it is",
                SIGNER,
                Staff::Citizen,
                Action::Approve,
                "----------",
            ),
            (
                "outsider",
                OTHER,
                Staff::Citizen,
                Action::View,
                "----------",
            ),
            (
                "outsider",
                OTHER,
                Staff::Citizen,
                Action::Sign,
                "----------",
            ),
        ];
        for (who, pnr, staff, action, expected) in rows {
            let actor = Actor {
                person: person(pnr),
                case_worker: staff.is_case_worker(),
            };
            let got: String = STATUSES
                .iter()
                .map(|s| {
                    if may(&actor, staff, &case(&flow, *s), &flow, action) {
                        'y'
                    } else {
                        '-'
                    }
                })
                .collect();
            assert_eq!(got, expected, "{who} × {action:?}");
        }
    }

    #[test]
    fn a_case_worker_sees_a_draft_they_started_themselves() {
        let flow = lvu();
        let mut c = case(&flow, Status::Draft);
        c.started_as = Starter::CaseWorker;
        c.applicant = person(OTHER);
        let own = [flow.def.owner.clone()];
        let colleague = Actor {
            person: person(SIGNER),
            case_worker: true,
        };
        // Another case worker of the unit sees a case worker's draft (a citizen's stays private).
        let stranger = Actor {
            person: person(STRANGER),
            case_worker: true,
        };
        assert!(may(
            &stranger,
            Staff::CaseWorker(&own),
            &c,
            &flow,
            Action::View
        ));
        assert!(may(&colleague, Staff::Citizen, &c, &flow, Action::View));
    }

    #[test]
    fn only_administrators_see_the_outbox() {
        let units = ["u".to_owned()];
        assert!(may_see_outbox(Staff::of(Some(&[]))));
        assert!(!may_see_outbox(Staff::of(Some(&units))));
        assert!(!may_see_outbox(Staff::of(None)));
    }
}
