//! Complete cases per second through the application layer:
//! `cargo bench -p blankett-web --bench cases` (add `-- sqlite` or `-- postgres` for one).
//!
//! Each case of the LVU flow goes the whole way in one process, as the server's doors drive
//! it: started by a case worker, every step saved from the flow's sample answers, submitted,
//! approved (the document rendered by the worker-process pool, as `serve` does), signed by
//! each signer (a PAdES signature with the development CA and TSA; the last one sealed to
//! B-LTA), every write on the real database. The eID round trip is not part of it (the
//! signers' identities are given); neither is HTTP. `CASES` cases run `CONCURRENCY` at a time.
//! PostgreSQL is at `BLANKETT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! a database is made for the run and dropped after.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use blankett_app::approval;
use blankett_app::clock::{Clock, SystemClock};
use blankett_app::commands::{self, Attachments};
use blankett_app::signer::PadesSigner;
use blankett_core::Flow;
use blankett_core::case::{Actor, Command, Person, Status, current_signer};
use blankett_core::def::{Starter, StepKind};
use blankett_core::document::{
    DocumentRenderer, DocumentSigner, SignatureOrder, sample_answers, sha256_hex,
};
use blankett_core::eid::{Evidence, VerifiedIdentity};
use blankett_core::ids::Personnummer;
use blankett_core::store::{DocumentKind, NewDocument, SignatureEvidence, Store};
use blankett_pades::{DevPki, DevTsa, Pades};
use blankett_store::SeaStore;

const CASES: usize = 120;
const CONCURRENCY: usize = 8;
const WARMUP: usize = 8;

#[derive(Clone)]
struct Parts {
    store: Arc<dyn Store>,
    renderer: Arc<dyn DocumentRenderer>,
    signer: Arc<dyn DocumentSigner>,
    clock: Arc<dyn Clock>,
    flow: Arc<Flow>,
}

fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sources = blankett_app::defs_fs::read(&[root.join("flows"), root.join("form-defs")]);
    let (defs, _) = blankett_core::load(&sources);
    let flow = Arc::new(defs.flow("lvu-6").expect("the lvu-6 flow").clone());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = blankett_web::app::config::Config::load(None, Vec::new()).unwrap();
    config.render.worker_program = Some(env!("CARGO_BIN_EXE_blankett").into());
    let pool = Arc::new(blankett_web::render_pool(&config.render));
    let now = blankett_web::clock::now_utc();
    let pki = Arc::new(DevPki::generate(now, None).unwrap());
    let tsa = DevTsa::new(&pki, Arc::new(blankett_web::clock::now_utc)).unwrap();
    let pades = Pades::new(pki.clone())
        .with_revocation(pki.clone())
        .with_tsa(Arc::new(tsa));
    let signer: Arc<dyn DocumentSigner> = Arc::new(PadesSigner(pades));

    println!(
        "complete LVU cases (start, 5 steps, submit, approve + render, 2 signatures, B-LTA), {CASES} cases, {CONCURRENCY} at a time"
    );
    if only.as_deref().is_none_or(|o| o == "sqlite") {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        let store = rt.block_on(SeaStore::connect(&url)).unwrap();
        let parts = Parts {
            store: Arc::new(store),
            renderer: pool.clone(),
            signer: signer.clone(),
            clock: Arc::new(SystemClock),
            flow: flow.clone(),
        };
        rt.block_on(measure("SQLite", &parts));
    }
    if only.as_deref().is_none_or(|o| o == "postgres") {
        let admin = std::env::var("BLANKETT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("blankett_bench_{}", uuid::Uuid::new_v4().simple());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let store = rt
            .block_on(SeaStore::connect(&format!("{base}/{name}")))
            .unwrap();
        let parts = Parts {
            store: Arc::new(store),
            renderer: pool.clone(),
            signer: signer.clone(),
            clock: Arc::new(SystemClock),
            flow: flow.clone(),
        };
        rt.block_on(measure("PostgreSQL", &parts));
        drop(parts);
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
    }
    pool.close();
}

fn psql(admin: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .args([admin, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn measure(backend: &str, parts: &Parts) {
    run_many(parts, WARMUP).await;
    let started = Instant::now();
    run_many(parts, CASES).await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{backend}: {CASES} cases in {secs:.2} s = {:.1} complete cases/s ({:.1} ms per case per worker)",
        CASES as f64 / secs,
        secs * 1000.0 * CONCURRENCY as f64 / CASES as f64
    );
}

async fn run_many(parts: &Parts, n: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let next = next.clone();
        let parts = parts.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                one_case(&parts).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn one_case(p: &Parts) {
    let store = p.store.as_ref();
    let flow = p.flow.as_ref();
    let now = || p.clock.now_local().0;
    let worker = Actor {
        person: Person {
            personnummer: Personnummer::parse("197701172392").unwrap(),
            name: "Handläggare Testsson".into(),
        },
        case_worker: true,
    };
    let started = commands::start(store, flow, &worker, Starter::CaseWorker, now())
        .await
        .unwrap();
    let mut case = started.case;
    let sample = sample_answers(flow).expect("lvu-6 has sample answers");
    for step in flow.steps.iter().filter(|s| s.kind == StepKind::Form) {
        let Some(answers) = sample.get(&step.id) else {
            continue;
        };
        let command = Command::SaveStep {
            step: step.id.clone(),
            answers: answers.clone(),
        };
        let out = commands::run(store, flow, &case, &worker, case.revision, command, now())
            .await
            .unwrap();
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        case = out.case;
    }
    case = commands::run(
        store,
        flow,
        &case,
        &worker,
        case.revision,
        Command::Submit,
        now(),
    )
    .await
    .unwrap()
    .case;
    if case.status == Status::Submitted {
        case = commands::run(
            store,
            flow,
            &case,
            &worker,
            case.revision,
            Command::Assign,
            now(),
        )
        .await
        .unwrap()
        .case;
    }
    case.assignee = Some(worker.person.clone());
    let expected = case.revision;
    case = approval::approve(
        store,
        p.renderer.clone(),
        p.clock.as_ref(),
        "Exempelstads kommun",
        &case,
        flow,
        &worker,
        expected,
    )
    .await
    .unwrap()
    .case;
    while case.status == Status::Signing {
        let i = current_signer(&case).unwrap();
        let sig = case.signatures[i].clone();
        let last = i + 1 == case.signatures.len();
        let doc = store.latest_document(&case.id).await.unwrap().unwrap();
        let identity = VerifiedIdentity {
            personnummer: sig.person.personnummer.clone(),
            given_name: "Test".into(),
            surname: "Testsson".into(),
            full_name: sig.person.name.clone(),
        };
        let signer = p.signer.clone();
        let time = p.clock.now_utc();
        let (field, placement, role) = (sig.field.clone(), sig.placement.clone(), sig.label.sv);
        let signed = tokio::task::spawn_blocking(move || {
            signer.sign(
                &doc.bytes,
                &SignatureOrder {
                    field: &field,
                    placement,
                    identity: &identity,
                    role: &role,
                    method: "BankID",
                    time,
                    note: None,
                    seal: last,
                },
            )
        })
        .await
        .unwrap()
        .unwrap();
        let sha = sha256_hex(&signed);
        let actor = Actor {
            person: sig.person.clone(),
            case_worker: sig.person == worker.person,
        };
        let attachments = Attachments {
            document: Some(NewDocument {
                kind: if last {
                    DocumentKind::Final
                } else {
                    DocumentKind::Signed
                },
                sha256: sha.clone(),
                bytes: signed,
            }),
            evidence: Some(SignatureEvidence {
                field: sig.field.clone(),
                personnummer: sig.person.personnummer.clone(),
                signed_sha256: doc.sha256,
                evidence: Evidence {
                    provider: "bench".into(),
                    signature: Vec::new(),
                    ocsp_response: Vec::new(),
                    device_ip: None,
                    completed_at: time,
                    attributes: Default::default(),
                },
            }),
        };
        let command = Command::Sign {
            signed_document_sha256: sha,
        };
        let revision = case.revision;
        case = commands::run_with(
            store,
            flow,
            &case,
            &actor,
            revision,
            command,
            now(),
            attachments,
        )
        .await
        .unwrap()
        .case;
    }
    assert_eq!(case.status, Status::Completed);
}
