//! Stores for the adapter tests: the same test bodies run on `MemoryStore`, on SQLite in a
//! temporary file and on PostgreSQL in a fresh database per test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use blankett_core::case::{
    Case, Event, EventKind, Person, Placement, Signature, SignatureState, Status,
};
use blankett_core::def::Starter;
use blankett_core::ids::Personnummer;
use blankett_core::model::{Role, Text};
use blankett_core::store::{FileStore, Store};
use blankett_core::store_memory::MemoryStore;
use blankett_core::time::Timestamp;
use blankett_store::SeaStore;
use chrono::NaiveDate;
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::json;

pub const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store under test and what keeps its database alive.
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub files: Arc<dyn FileStore>,
    pub backend: &'static str,
    _tmp: Option<tempfile::TempDir>,
    pg: Option<PgDatabase>,
}

impl Harness {
    pub fn memory() -> Harness {
        let store = Arc::new(MemoryStore::new());
        Harness {
            files: store.clone(),
            store,
            backend: "memory",
            _tmp: None,
            pg: None,
        }
    }

    pub async fn sqlite() -> Harness {
        let tmp = tempfile::tempdir().expect("temp dir");
        let url = sqlite_url(&tmp);
        let store = SeaStore::connect(&url).await.expect("connect to SQLite");
        assert_eq!(store.backend_name(), "sqlite");
        let store = Arc::new(store);
        Harness {
            files: store.clone(),
            store,
            backend: "sqlite",
            _tmp: Some(tmp),
            pg: None,
        }
    }

    pub async fn postgres() -> Harness {
        let pg = PgDatabase::create().await;
        let store = SeaStore::connect(&pg.url)
            .await
            .expect("connect to the fresh PostgreSQL database");
        assert_eq!(store.backend_name(), "postgres");
        let store = Arc::new(store);
        Harness {
            files: store.clone(),
            store,
            backend: "postgres",
            _tmp: None,
            pg: Some(pg),
        }
    }

    /// Drops the PostgreSQL database (best effort; also tried on drop after a failure).
    pub async fn finish(mut self) {
        if let Some(pg) = self.pg.take() {
            drop(self.store);
            pg.drop_now().await;
        }
    }
}

pub fn sqlite_url(tmp: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        tmp.path().join("blankett.db").display()
    )
}

pub fn admin_url() -> String {
    std::env::var("BLANKETT_TEST_POSTGRES_URL").unwrap_or_else(|_| PG_DEFAULT.to_owned())
}

/// A database created for one test on the PostgreSQL server of `BLANKETT_TEST_POSTGRES_URL`.
pub struct PgDatabase {
    admin: String,
    pub name: String,
    pub url: String,
    dropped: bool,
}

impl PgDatabase {
    /// Creates `blankett_t_<uuid>`. Fails the test if PostgreSQL cannot be reached.
    pub async fn create() -> PgDatabase {
        let admin = admin_url();
        let mut opts = ConnectOptions::new(admin.as_str());
        opts.acquire_timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(5))
            .sqlx_logging(false);
        let conn = Database::connect(opts).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin} (set BLANKETT_TEST_POSTGRES_URL to a \
                 server where the user may CREATE DATABASE): {e}"
            )
        });
        let name = format!("blankett_t_{}", uuid::Uuid::new_v4().simple());
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin}: {e}"));
        let _ = conn.close().await;
        let url = with_database(&admin, &name);
        PgDatabase {
            admin,
            name,
            url,
            dropped: false,
        }
    }

    async fn drop_now(mut self) {
        drop_database(&self.admin, &self.name).await;
        self.dropped = true;
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // The test failed before `finish`: drop the database from a thread of its own.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&admin, &name));
            }
        })
        .join();
    }
}

async fn drop_database(admin: &str, name: &str) {
    if let Ok(conn) = Database::connect(admin).await {
        let _ = conn
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        let _ = conn.close().await;
    }
}

/// `admin` with its database replaced by `name` (query string kept).
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

// ---- fixtures ----

pub fn pnr(s: &str) -> Personnummer {
    Personnummer::parse(s).expect("valid test personnummer")
}

pub const APPLICANT: &str = "198001010019";
pub const WORKER: &str = "198502020020";
pub const SIGNER: &str = "199003030039";
pub const SIGNER2: &str = "197004040049";
pub const OTHER: &str = "196505050051";

pub fn person(p: &str, name: &str) -> Person {
    Person {
        personnummer: pnr(p),
        name: name.to_owned(),
    }
}

/// A moment in November 2026, given in UTC.
pub fn t(day: u32, h: u32, m: u32, s: u32, nanos: u32) -> Timestamp {
    Timestamp::from_utc(
        NaiveDate::from_ymd_opt(2026, 11, day)
            .unwrap()
            .and_hms_nano_opt(h, m, s, nanos)
            .unwrap()
            .and_utc(),
    )
}

/// A draft of `flow_id` by [`APPLICANT`], nobody assigned.
pub fn draft(id: &str, number: &str, flow_id: &str, updated: Timestamp) -> Case {
    Case {
        id: id.into(),
        number: number.to_owned(),
        flow_id: flow_id.to_owned(),
        flow_hash: format!("hash-of-{flow_id}").into(),
        status: Status::Draft,
        revision: 1,
        started_as: Starter::Citizen,
        applicant: person(APPLICANT, "Anna Andersson"),
        assignee: None,
        answers: json!({}),
        current_step: Some("start".into()),
        return_comment: None,
        document_sha256: None,
        signatures: Vec::new(),
        created_at: t(1, 8, 0, 0, 0),
        updated_at: updated,
    }
}

/// A case in signing with every field filled: an assignee, answers with nesting and
/// non-ASCII text, two signers (the first requested, the second waiting).
pub fn full_case(id: &str, number: &str) -> Case {
    let mut c = draft(id, number, "lvu-6", t(3, 14, 30, 15, 123_456_789));
    c.status = Status::Signing;
    c.revision = 7;
    c.assignee = Some(person(WORKER, "Bengt Handläggare"));
    c.answers = json!({
        "barn": {"namn": "Åsa Öberg", "född": "2015-04-01"},
        "skäl": ["a", "b"],
        "antal": 3,
        "bekräftat": true,
        "notering": null
    });
    c.current_step = None;
    c.return_comment = Some("Komplettera med intyg".into());
    c.document_sha256 = Some("ab".repeat(32).into());
    c.signatures = vec![
        Signature {
            who: Role::CaseWorker,
            field: "case_worker".into(),
            label: Text::new("Handläggare", "Case worker"),
            person: person(SIGNER, "Cecilia Signerare"),
            state: SignatureState::Requested {
                at: t(3, 14, 30, 0, 0),
                expires_at: t(10, 14, 30, 0, 0),
            },
            placement: Some(Placement {
                page: 2,
                rect: [56.7, 90.25, 256.7, 140.125],
            }),
        },
        Signature {
            who: Role::Party("decision_maker".into()),
            field: "decision_maker".into(),
            label: Text::new("Beslutsfattare", "Decision maker"),
            person: person(SIGNER2, "David Beslutare"),
            state: SignatureState::Waiting,
            placement: None,
        },
    ];
    c
}

pub fn event(kind: EventKind, revision: u64, at: Timestamp) -> Event {
    Event {
        at,
        kind,
        actor_role: "applicant".into(),
        actor: Some(pnr(APPLICANT)),
        revision,
        detail: None,
    }
}
