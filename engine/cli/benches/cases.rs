//! Complete cases per second through the application service:
//! `cargo bench -p blankett-cli --bench cases` (add `-- sqlite` or `-- postgres` for one;
//! `-- postgres-compression` compares PostgreSQL's pglz with LZ4 for the large columns).
//!
//! Each case of the LVU flow goes the whole way in one process, as the server's doors drive
//! it, through `blankett_app::service::Service` and `blankett_app::signing`: started by a case worker, every step saved from the flow's sample answers, submitted,
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
use blankett_app::outbox::Notifier;
use blankett_app::service::{Parts as ServiceParts, Service};
use blankett_app::signer::PadesSigner;
use blankett_app::signing::{self, Bound};
use blankett_core::Flow;
use blankett_core::case::{Actor, Command, Person, Status, current_signer};
use blankett_core::def::{Starter, StepKind};
use blankett_core::document::{DocumentSigner, sample_answers};
use blankett_core::eid::{AssuranceLevel, Completion, Evidence, OrderKind, VerifiedIdentity};
use blankett_core::ids::Personnummer;
use blankett_pades::{DevPki, DevTsa, Pades};
use blankett_store::SeaStore;

const CASES: usize = 120;
/// How many cases are in flight at once: 8, and 16 as at a busier hour.
const CONCURRENCY: [usize; 2] = [8, 16];
const WARMUP: usize = 8;

#[derive(Clone)]
struct Parts {
    svc: Arc<Service>,
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
    let config = Arc::new(config);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let flows = Arc::new(vec![flow.clone()]);
    let notifier = Arc::new(Notifier::new(config.clone(), flows.clone(), clock.clone()).unwrap());
    let service = |store: SeaStore| Parts {
        svc: Arc::new(Service::new(ServiceParts {
            config: config.clone(),
            clock: clock.clone(),
            backend: store.backend_name(),
            files: Arc::new(store.clone()),
            store: Arc::new(store),
            flows: flows.clone(),
            notifier: notifier.clone(),
            renderer: pool.clone(),
            signer: signer.clone(),
        })),
        flow: flow.clone(),
    };

    println!(
        "complete LVU cases (start, 5 steps, submit, approve + render, 2 signatures, B-LTA), {CASES} cases, {CONCURRENCY:?} at a time"
    );
    if only.as_deref().is_none_or(|o| o == "sqlite") {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        let parts = service(rt.block_on(SeaStore::connect(&url)).unwrap());
        rt.block_on(measure("SQLite", &parts));
    }
    if only.as_deref() == Some("postgres-compression") {
        // Side by side in one run: the large columns compressed with pglz (PostgreSQL's default,
        // before migration m20261207_000002_lz4) and with LZ4, interleaved.
        let admin = std::env::var("BLANKETT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let names: Vec<String> = (0..2)
            .map(|_| format!("blankett_bench_{}", uuid::Uuid::new_v4().simple()))
            .collect();
        for name in &names {
            psql(&admin, &format!("CREATE DATABASE {name}"));
        }
        let lz4 = service(
            rt.block_on(SeaStore::connect(&format!("{base}/{}", names[0])))
                .unwrap(),
        );
        let pglz = service(
            rt.block_on(SeaStore::connect(&format!("{base}/{}", names[1])))
                .unwrap(),
        );
        for (table, column) in blankett_migrations::LZ4_COLUMNS {
            psql(
                &format!("{base}/{}", names[1]),
                &format!("ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION pglz"),
            );
        }
        for _ in 0..2 {
            rt.block_on(measure("PostgreSQL, pglz", &pglz));
            rt.block_on(measure("PostgreSQL, LZ4 ", &lz4));
        }
        drop((lz4, pglz));
        for name in &names {
            psql(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
    if only.as_deref().is_none_or(|o| o == "postgres") {
        let admin = std::env::var("BLANKETT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("blankett_bench_{}", uuid::Uuid::new_v4().simple());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let parts = service(
            rt.block_on(SeaStore::connect(&format!("{base}/{name}")))
                .unwrap(),
        );
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
    for concurrency in CONCURRENCY {
        run_many(parts, WARMUP, concurrency).await;
        let started = Instant::now();
        run_many(parts, CASES, concurrency).await;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{backend}, {concurrency:2} at a time: {CASES} cases in {secs:.2} s = {:.1} complete cases/s ({:.1} ms per case per worker)",
            CASES as f64 / secs,
            secs * 1000.0 * concurrency as f64 / CASES as f64
        );
    }
}

async fn run_many(parts: &Parts, n: usize, concurrency: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
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
    let svc = p.svc.as_ref();
    let flow = p.flow.as_ref();
    let worker = Actor {
        person: Person {
            personnummer: Personnummer::parse("197701172392").unwrap(),
            name: "Handläggare Testsson".into(),
        },
        case_worker: true,
    };
    let mut case = svc
        .start(flow, &worker, Starter::CaseWorker)
        .await
        .unwrap()
        .case;
    let sample = sample_answers(flow).expect("lvu-6 has sample answers");
    for step in flow.steps.iter().filter(|s| s.kind == StepKind::Form) {
        let Some(answers) = sample.get(&step.id) else {
            continue;
        };
        let command = Command::SaveStep {
            step: step.id.clone(),
            answers: answers.clone(),
        };
        let out = svc
            .run(flow, &case, &worker, case.revision, command)
            .await
            .unwrap();
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        case = out.case;
    }
    case = svc
        .run(flow, &case, &worker, case.revision, Command::Submit)
        .await
        .unwrap()
        .case;
    if case.status == Status::Submitted {
        case = svc
            .run(flow, &case, &worker, case.revision, Command::Assign)
            .await
            .unwrap()
            .case;
    }
    let expected = case.revision;
    case = approval::approve(svc, "Exempelstads kommun", &case, flow, &worker, expected)
        .await
        .unwrap()
        .case;
    // Each signer as the eID would name them once their order completed.
    while case.status == Status::Signing {
        let i = current_signer(&case).unwrap();
        let sig = case.signatures[i].clone();
        let doc = svc.document(&case.id).await.unwrap().unwrap();
        let done = Completion {
            kind: OrderKind::Sign,
            identity: VerifiedIdentity {
                personnummer: sig.person.personnummer.clone(),
                given_name: "Test".into(),
                surname: "Testsson".into(),
                full_name: sig.person.name.clone(),
            },
            evidence: Evidence {
                provider: "bankid".into(),
                signature: Vec::new(),
                ocsp_response: Vec::new(),
                device_ip: None,
                completed_at: svc.clock.now_utc(),
                attributes: Default::default(),
            },
            assurance: AssuranceLevel::High,
        };
        let bound = Bound {
            case_id: &case.id,
            revision: case.revision,
            sha256: &doc.sha256,
            visible_text: None,
        };
        case = signing::sign(svc, &bound, &done).await.unwrap().case;
    }
    assert_eq!(case.status, Status::Completed);
}
