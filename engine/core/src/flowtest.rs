//! Flow tests: `flows/<id>/tests/*.yaml`, each file one or more YAML documents like
//!
//! ```yaml
//! name: ground 3 asks for the behaviour
//! answers: { grounds: { grounds: ["3"] } }
//! expect:
//!   path: [child, grounds, decision, review]      # the steps that apply, in order
//!   errors: { grounds.behaviour: required }       # exactly these (absent: none at all)
//!   hidden: [child.guardians.0.address]
//!   visible: [grounds.behaviour]
//!   computed: { decision.court_deadline: "2026-11-29" }
//!   signers: [case_worker, decision_maker]        # or {who, personnummer}
//! ```
//!
//! The test runs with a fixed clock (`today`, default 2026-01-15) and a test case worker.

use chrono::NaiveDateTime;

use crate::time::Timestamp;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::case::{Person, env_for, resolve_signers, sample_in_review};
use crate::def::Starter;
use crate::diag::{Diagnostics, Pos};
use crate::ids::Personnummer;
use crate::model::Flow;
use crate::rules::{
    condition_outcomes, conditions_of, step_applies, top_context, validate_all, visible_fields,
};
use crate::yaml::parse;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowTestDef {
    pub name: String,
    /// The clock's date and time for the test, `YYYY-MM-DDTHH:MM` (default 2026-01-15T09:00).
    #[serde(default)]
    pub now: Option<String>,
    /// The person who starts the case (default: Tolvan Tolvansson, 201212121212... as a
    /// test identity, or the case worker for flows case workers start).
    #[serde(default)]
    pub applicant: Option<PersonDef>,
    /// The case worker (default: a test case worker, 198112289874).
    #[serde(default)]
    pub case_worker: Option<PersonDef>,
    #[serde(default)]
    pub answers: Value,
    #[serde(default)]
    pub expect: ExpectDef,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonDef {
    pub personnummer: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    #[serde(default)]
    pub path: Option<Vec<String>>,
    #[serde(default)]
    pub errors: Option<IndexMap<String, String>>,
    #[serde(default)]
    pub hidden: Vec<String>,
    #[serde(default)]
    pub visible: Vec<String>,
    #[serde(default)]
    pub computed: IndexMap<String, Value>,
    #[serde(default)]
    pub signers: Option<Vec<SignerExpect>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SignerExpect {
    Who(String),
    Full {
        who: String,
        #[serde(default)]
        personnummer: Option<String>,
        #[serde(default)]
        field: Option<String>,
    },
}

/// One test's result.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub file: String,
    pub pos: Pos,
    pub name: String,
    pub failures: Vec<String>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Parses a test file; problems with the file itself go to `diags`.
pub fn parse_tests(file: &str, text: &str, diags: &mut Diagnostics) -> Vec<(Pos, FlowTestDef)> {
    let Some(docs) = parse(file, text, diags) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for doc in docs {
        let pos = doc.key_pos("/name");
        match serde_json::from_value::<FlowTestDef>(doc.value.clone()) {
            Ok(t) => out.push((pos, t)),
            Err(e) => diags.error(
                file,
                doc.value_pos(""),
                format!("not a valid flow test: {e}"),
            ),
        }
    }
    out
}

fn person(
    def: Option<&PersonDef>,
    default_pnr: &str,
    default_name: &str,
) -> Result<Person, String> {
    let (pnr, name) = match def {
        Some(p) => (p.personnummer.as_str(), p.name.as_str()),
        None => (default_pnr, default_name),
    };
    Ok(Person {
        personnummer: Personnummer::parse(pnr).map_err(|e| format!("test person: {e}"))?,
        name: name.to_owned(),
    })
}

/// Runs one test against a flow.
pub fn run(flow: &Flow, t: &FlowTestDef) -> Vec<String> {
    run_seeing(flow, t, &mut Coverage::default())
}

/// Which outcomes of a flow's conditions (`when`, `show_if`, `required_if`) its tests reach.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Per condition: whether a test saw it true, and whether one saw it false.
    pub conditions: IndexMap<String, (bool, bool)>,
}

impl Coverage {
    /// Every condition of `flow`, none seen yet.
    pub fn of(flow: &Flow) -> Coverage {
        Coverage {
            conditions: conditions_of(flow)
                .into_iter()
                .map(|c| (c, (false, false)))
                .collect(),
        }
    }

    fn saw(&mut self, condition: String, value: bool) {
        let seen = self.conditions.entry(condition).or_default();
        if value {
            seen.0 = true;
        } else {
            seen.1 = true;
        }
    }

    /// How many outcomes (each condition true and false) the tests reached, of how many.
    pub fn counts(&self) -> (usize, usize) {
        let covered = self
            .conditions
            .values()
            .map(|(t, f)| usize::from(*t) + usize::from(*f))
            .sum();
        (covered, 2 * self.conditions.len())
    }

    /// The outcomes no test reached, as sentences.
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (c, (t, f)) in &self.conditions {
            if !t {
                out.push(format!("{c} is never true"));
            }
            if !f {
                out.push(format!("{c} is never false"));
            }
        }
        out
    }
}

/// [`run`], recording in `coverage` the outcomes of the conditions the test's answers reach.
pub fn run_seeing(flow: &Flow, t: &FlowTestDef, coverage: &mut Coverage) -> Vec<String> {
    let mut failures = Vec::new();
    let now = t.now.as_deref().unwrap_or("2026-01-15T09:00");
    // A test's `now` is Swedish time, as a designer writes it.
    let Ok(now) = NaiveDateTime::parse_from_str(now, "%Y-%m-%dT%H:%M").map(Timestamp::from_local)
    else {
        return vec![format!("`now` must be YYYY-MM-DDTHH:MM, got `{now}`")];
    };
    let case_worker = match person(t.case_worker.as_ref(), "198112289874", "Testa Handläggare") {
        Ok(p) => p,
        Err(e) => return vec![e],
    };
    let by_case_worker = !flow.def.start.contains(&Starter::Citizen);
    let applicant = match (&t.applicant, by_case_worker) {
        (None, true) => case_worker.clone(),
        (a, _) => match person(a.as_ref(), "197701172392", "Tolvan Tolvansson") {
            Ok(p) => p,
            Err(e) => return vec![e],
        },
    };
    let mut case = sample_in_review(flow, applicant.clone(), case_worker, json!({}), now);
    let env = env_for(&case, flow, now, Some(&applicant));
    let report = validate_all(flow, &t.answers, &env);
    case.answers = report.answers.clone();
    for (condition, value) in condition_outcomes(flow, &report.answers, &env) {
        coverage.saw(condition, value);
    }

    if let Some(path) = &t.expect.path
        && *path != report.path
    {
        failures.push(format!(
            "path: expected [{}], got [{}]",
            path.join(", "),
            report.path.join(", ")
        ));
    }
    let got: IndexMap<String, String> = report
        .errors
        .iter()
        .map(|e| (e.path.clone(), e.code.to_owned()))
        .collect();
    let want = t.expect.errors.clone().unwrap_or_default();
    for (p, code) in &want {
        match got.get(p) {
            None => failures.push(format!(
                "errors: expected `{p}: {code}`, but it has no error"
            )),
            Some(c) if c != code => {
                failures.push(format!("errors: expected `{p}: {code}`, got `{c}`"))
            }
            _ => {}
        }
    }
    for (p, code) in &got {
        if !want.contains_key(p) {
            let msg = report
                .errors
                .iter()
                .find(|e| &e.path == p)
                .map(|e| e.message.en.clone())
                .unwrap_or_default();
            failures.push(format!("errors: unexpected `{p}: {code}` ({msg})"));
        }
    }

    // Visibility over every step that applies.
    let top = top_context(flow, &case.answers, &env);
    let mut vis: IndexMap<String, bool> = IndexMap::new();
    for step in &flow.steps {
        let applies = step_applies(step, &top);
        for (p, shown) in visible_fields(flow, step, &case.answers, &env) {
            vis.insert(format!("{}.{p}", step.id), shown && applies);
        }
    }
    for (list, want_shown) in [(&t.expect.hidden, false), (&t.expect.visible, true)] {
        for p in list {
            match vis.get(p) {
                None => failures.push(format!("no field `{p}` (for hidden/visible)")),
                Some(shown) if *shown != want_shown => failures.push(format!(
                    "`{p}` is {} but was expected {}",
                    if *shown { "visible" } else { "hidden" },
                    if want_shown { "visible" } else { "hidden" }
                )),
                _ => {}
            }
        }
    }
    for (p, want) in &t.expect.computed {
        let mut cur = Some(&case.answers);
        for seg in p.split('.') {
            cur = cur.and_then(|c| match seg.parse::<usize>() {
                Ok(i) if c.is_array() => c.get(i),
                _ => c.get(seg),
            });
        }
        let got = cur.cloned().unwrap_or(Value::Null);
        let same = match (&got, want) {
            (Value::Number(a), Value::Number(b)) => {
                (a.as_f64().unwrap_or(f64::NAN) - b.as_f64().unwrap_or(f64::NAN)).abs() < 1e-9
            }
            _ => &got == want,
        };
        if !same {
            failures.push(format!("computed `{p}`: expected {want}, got {got}"));
        }
    }
    if let Some(want) = &t.expect.signers {
        if report.errors.is_empty() {
            match resolve_signers(flow, &case, &env) {
                Err(e) => failures.push(format!("signers: {e}")),
                Ok(sigs) => {
                    let got: Vec<String> = sigs.iter().map(|s| s.who.name().to_owned()).collect();
                    let names: Vec<String> = want
                        .iter()
                        .map(|w| match w {
                            SignerExpect::Who(s) => s.clone(),
                            SignerExpect::Full { who, .. } => who.clone(),
                        })
                        .collect();
                    if got != names {
                        failures.push(format!(
                            "signers: expected [{}], got [{}]",
                            names.join(", "),
                            got.join(", ")
                        ));
                    } else {
                        for (w, s) in want.iter().zip(&sigs) {
                            if let SignerExpect::Full {
                                personnummer,
                                field,
                                ..
                            } = w
                            {
                                if let Some(p) = personnummer
                                    && Personnummer::parse(p).ok().as_ref()
                                        != Some(&s.person.personnummer)
                                {
                                    failures.push(format!(
                                        "signers: `{}` is not the expected person",
                                        s.who.name()
                                    ));
                                }
                                if let Some(f) = field
                                    && f != &s.field
                                {
                                    failures.push(format!(
                                        "signers: field `{}`, expected `{f}`",
                                        s.field
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        } else {
            failures.push("signers: cannot be determined while the answers have errors".into());
        }
    }
    failures
}

/// Runs every test file of a flow.
pub fn run_flow_tests(
    flow: &Flow,
    src: &crate::source::FlowSource,
    diags: &mut Diagnostics,
) -> Vec<TestResult> {
    run_flow_tests_seeing(flow, src, diags, &mut Coverage::of(flow))
}

/// [`run_flow_tests`], recording which outcomes of the flow's conditions the tests reach.
pub fn run_flow_tests_seeing(
    flow: &Flow,
    src: &crate::source::FlowSource,
    diags: &mut Diagnostics,
    coverage: &mut Coverage,
) -> Vec<TestResult> {
    let mut results = Vec::new();
    for (rel, bytes) in &src.files {
        if !(rel.starts_with("tests/") && (rel.ends_with(".yaml") || rel.ends_with(".yml"))) {
            continue;
        }
        let file = src.path_of(rel);
        let Ok(text) = std::str::from_utf8(bytes) else {
            diags.error(&file, Pos::START, "not UTF-8 text");
            continue;
        };
        for (pos, t) in parse_tests(&file, text, diags) {
            let failures = run_seeing(flow, &t, coverage);
            results.push(TestResult {
                file: file.clone(),
                pos,
                name: t.name.clone(),
                failures,
            });
        }
    }
    results
}
