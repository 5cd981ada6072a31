//! The Store port's contract: every body runs on `MemoryStore`, on SQLite (a temporary file)
//! and on PostgreSQL (a fresh database per test; the tests fail when the server of
//! `BLANKETT_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`, cannot be
//! reached).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use blankett_core::case::{EventKind, SignatureState, Status};
use blankett_core::eid::Evidence;
use blankett_core::store::{
    CaseFilter, CaseWrite, Delivery, DocumentKind, FlowVersion, MessageChannel, MessageStatus,
    NewDocument, NewMessage, SessionRecord, SignatureEvidence, Store, StoreError,
};
use blankett_store::SeaStore;
use serde_json::json;
use support::*;

type S = Arc<dyn Store>;

/// One `#[tokio::test]` per body and backend: `memory::name`, `sqlite::name`,
/// `postgres::name`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = super::Harness::memory();
                    super::$name(h.store.clone(), h.backend).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = super::Harness::sqlite().await;
                    super::$name(h.store.clone(), h.backend).await;
                    h.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = super::Harness::postgres().await;
                    super::$name(h.store.clone(), h.backend).await;
                    h.finish().await;
                }
            )*
        }
    };
}

contract!(
    ping_answers,
    flow_versions_are_kept_once,
    create_and_get_round_trip,
    duplicate_id_or_number_is_refused,
    update_with_the_read_revision_writes_and_bumps,
    stale_revision_conflicts_and_keeps_the_other_edit,
    update_of_unknown_case_is_not_found,
    concurrent_updates_with_one_revision_one_wins,
    case_numbers_are_unique_under_concurrency_and_per_year,
    appended_events_keep_their_order,
    list_cases_filters_combine,
    list_cases_orders_newest_first_and_limits,
    documents_get_versions_and_latest_is_newest,
    signature_evidence_in_signing_order,
    sessions_expire_and_are_purged,
    messages_go_with_their_case_write_or_not_at_all,
    a_case_created_with_its_document_is_written_whole_or_not_at_all,
    a_claimed_message_is_held_until_finished_or_its_lease_runs_out,
    concurrent_claims_never_share_a_message,
    failed_messages_are_listed_with_their_error,
);

// ---- migrations (SQL backends only) ----

async fn assert_at_head(store: &SeaStore) {
    let applied = store.applied_migrations().await.unwrap();
    assert_eq!(applied, SeaStore::known_migrations());
    assert_eq!(
        applied,
        vec![
            "m20261125_000001_initial".to_owned(),
            "m20261205_000001_outbox".to_owned(),
            "m20261207_000001_utc_times".to_owned(),
            "m20261207_000002_lz4".to_owned(),
            "m20261208_000001_case_files".to_owned(),
            "m20261208_000002_idempotency".to_owned(),
        ]
    );
}

#[tokio::test]
async fn sqlite_empty_database_migrates_to_head_and_reconnect_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let url = sqlite_url(&tmp);
    let first = SeaStore::connect(&url).await.unwrap();
    assert_at_head(&first).await;
    first
        .create_case(&draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0)), &[])
        .await
        .unwrap();
    first.close().await.unwrap();
    // Connecting again runs no migration and keeps the data.
    let second = SeaStore::connect(&url).await.unwrap();
    assert_at_head(&second).await;
    assert!(second.get_case("c1").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_faults_are_named_for_the_operator_and_a_clean_close_leaves_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let url = sqlite_url(&tmp);
    let first = SeaStore::connect(&url).await.unwrap();
    first
        .create_case(&draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0)), &[])
        .await
        .unwrap();
    first.close().await.unwrap();
    // The log is written into the database file at a clean close.
    let wal = tmp.path().join("blankett.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);

    // A database the server may only read: a write says so, in words.
    let path = tmp.path().join("blankett.db");
    let read_only = SeaStore::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let err = read_only
        .create_case(&draft("c2", "2026-0002", "f", t(2, 9, 0, 0, 0)), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read-only"), "{err}");
    assert!(!err.contains("(Other)"), "{err}");
}

#[tokio::test]
async fn sqlite_in_memory_is_one_shared_database() {
    let store = Arc::new(SeaStore::connect("sqlite::memory:").await.unwrap());
    assert_at_head(&store).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..5 {
        let s = store.clone();
        set.spawn(async move {
            let id = format!("m{i}");
            s.create_case(
                &draft(&id, &format!("2026-{i:04}"), "f", t(2, 9, 0, 0, 0)),
                &[],
            )
            .await
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(
        store
            .list_cases(&CaseFilter::default())
            .await
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn postgres_empty_database_migrates_to_head_and_reconnect_is_a_no_op() {
    let pg = PgDatabase::create().await;
    let first = SeaStore::connect(&pg.url).await.unwrap();
    assert_at_head(&first).await;
    first
        .create_case(&draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0)), &[])
        .await
        .unwrap();
    first.close().await.unwrap();
    let second = SeaStore::connect(&pg.url).await.unwrap();
    assert_at_head(&second).await;
    assert!(second.get_case("c1").await.unwrap().is_some());
    second.close().await.unwrap();
    // The large columns are compressed with LZ4 (`l`), not pglz.
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&pg.url).await.unwrap();
    for (table, column) in [
        ("documents", "bytes"),
        ("cases", "data"),
        ("outbox", "payload"),
    ] {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT attcompression::text AS c FROM pg_attribute \
                     WHERE attrelid = '{table}'::regclass AND attname = '{column}'"
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.try_get::<String>("", "c").unwrap(),
            "l",
            "{table}.{column}"
        );
    }
    db.close().await.unwrap();
}

/// A database written before the one time rule: a case's own times in Swedish local time
/// without an offset (in its columns and inside its JSON), sessions and the outbox in UTC
/// without one. After the migration every time reads back as the moment it meant.
async fn old_times_become_the_moments_they_meant(url: &str) {
    use blankett_migrations::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;

    let db = sea_orm::Database::connect(url).await.unwrap();
    Migrator::up(&db, Some(2)).await.unwrap();
    // Summer time at midnight, the repeated autumn hour, and a New Year's night.
    let mut data = serde_json::to_value(full_case("c1", "2026-0001")).unwrap();
    data["created_at"] = json!("2026-07-01T00:30:00");
    data["updated_at"] = json!("2026-10-25T02:30:00.5");
    data["signatures"][0]["state"]["at"] = json!("2026-12-31T23:30:00");
    data["signatures"][0]["state"]["expires_at"] = json!("2027-01-01T00:30:00");
    let event = json!({"at": "2026-07-01T00:30:00", "kind": {"type": "started"},
                       "actor_role": "applicant", "actor": null, "revision": 1, "detail": null});
    for sql in [
        format!(
            "INSERT INTO cases (id, number, flow_id, flow_hash, status, revision, applicant_pnr, \
             assignee_pnr, parties_key, data, created_at, updated_at) VALUES ('c1', '2026-0001', \
             'lvu-6', 'h', 'signing', 7, '197701172392', NULL, '', '{}', \
             '2026-07-01T00:30:00.000000000', '2026-10-25T02:30:00.500000000')",
            data.to_string().replace('\'', "''")
        ),
        format!(
            "INSERT INTO case_events (case_id, at, kind, data) VALUES ('c1', \
             '2026-07-01T00:30:00.000000000', 'started', '{event}')"
        ),
        // More events than the migration reads at a time (it works in batches of 500).
        format!(
            "INSERT INTO case_events (case_id, at, kind, data) VALUES {}",
            (0..1100)
                .map(|i| format!(
                    "('c1', '2026-07-01T01:{:02}:{:02}.000000000', 'viewed', \
                     '{{\"at\": \"2026-07-01T01:{:02}:{:02}\", \"kind\": {{\"type\": \"viewed\"}}, \
                     \"actor_role\": \"case_worker\", \"actor\": null, \"revision\": 1, \
                     \"detail\": null}}')",
                    i / 60,
                    i % 60,
                    i / 60,
                    i % 60
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "INSERT INTO sessions (id_hash, data, expires_at) VALUES ('s1', '{}', \
         '2026-07-01T00:30:00.000000000')"
            .to_owned(),
        "INSERT INTO outbox (key, channel, recipient, topic, case_id, payload, status, attempts, \
         next_attempt_at, locked_until, last_error, created_at, sent_at) VALUES \
         ('k1', 'email', 'a@example.invalid', 'submitted', 'c1', '{}', 'sent', 1, \
          '2026-06-30T22:30:00.000000000', NULL, NULL, '2026-07-01T00:30:00.000000000', \
          '2026-06-30T22:31:00.000000000'), \
         ('k2', 'email', 'a@example.invalid', 'reminder', 'c1', '{}', 'pending', 0, \
          '2026-06-30T22:30:00.000000000', NULL, NULL, '2026-06-30T22:30:00.000000000', NULL)"
            .to_owned(),
    ] {
        db.execute_unprepared(&sql).await.unwrap();
    }
    db.close().await.unwrap();

    let store = SeaStore::connect(url).await.unwrap();
    assert_at_head(&store).await;
    let at = |s: &str| blankett_core::time::Timestamp::parse(s).unwrap();
    let case = store.get_case("c1").await.unwrap().unwrap();
    assert_eq!(case.created_at, at("2026-06-30T22:30:00Z"));
    // The repeated autumn hour: the earlier moment, summer time.
    assert_eq!(case.updated_at, at("2026-10-25T00:30:00.5Z"));
    assert_eq!(
        case.signatures[0].state,
        SignatureState::Requested {
            at: at("2026-12-31T22:30:00Z"),
            expires_at: at("2026-12-31T23:30:00Z"),
        }
    );
    // The answers are the person's words, not the engine's times: untouched.
    assert_eq!(case.answers, full_case("c1", "2026-0001").answers);
    let events = store.events("c1").await.unwrap();
    assert_eq!(events.len(), 1101);
    assert_eq!(events[0].at, at("2026-06-30T22:30:00Z"));
    for (i, e) in events[1..].iter().enumerate() {
        let expected = at("2026-06-30T23:00:00Z") + chrono::Duration::seconds(i as i64);
        assert_eq!(e.at, expected, "event {i}");
    }
    let listed = store.list_cases(&CaseFilter::default()).await.unwrap();
    assert_eq!(listed[0].updated_at, at("2026-10-25T00:30:00.5Z"));
    // Sessions were UTC: the same moment, now with its `Z`.
    assert!(
        store
            .get_session("s1", at("2026-07-01T00:29:00Z"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .purge_sessions(at("2026-07-01T00:31:00Z"))
            .await
            .unwrap(),
        1
    );
    // The outbox: a case write's message had the case's local time, a reminder UTC.
    let mut messages = store.list_messages(None, 10).await.unwrap();
    messages.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(messages[0].created_at, at("2026-06-30T22:30:00Z"));
    assert_eq!(messages[0].sent_at, Some(at("2026-06-30T22:31:00Z")));
    assert_eq!(messages[1].created_at, at("2026-06-30T22:30:00Z"));
    assert_eq!(messages[1].next_attempt_at, at("2026-06-30T22:30:00Z"));
    store.close().await.unwrap();
    // Nothing is left in the old form, in any batch: every time column and every event's JSON.
    let db = sea_orm::Database::connect(url).await.unwrap();
    for sql in [
        "SELECT count(*) AS n FROM case_events WHERE at NOT LIKE '%Z' OR data NOT LIKE '%Z\"%'",
        "SELECT count(*) AS n FROM cases WHERE updated_at NOT LIKE '%Z'",
        "SELECT count(*) AS n FROM outbox WHERE created_at NOT LIKE '%Z'",
        "SELECT count(*) AS n FROM sessions WHERE expires_at NOT LIKE '%Z'",
    ] {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{sql}");
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_old_local_times_are_migrated_to_utc() {
    let tmp = tempfile::tempdir().unwrap();
    old_times_become_the_moments_they_meant(&sqlite_url(&tmp)).await;
}

#[tokio::test]
async fn postgres_old_local_times_are_migrated_to_utc() {
    let pg = PgDatabase::create().await;
    old_times_become_the_moments_they_meant(&pg.url).await;
}

#[tokio::test]
async fn unknown_url_scheme_is_refused() {
    let err = SeaStore::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

#[test]
fn admin_url_gets_the_test_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
}

// ---- the contract ----

async fn ping_answers(s: S, _: &str) {
    s.ping().await.unwrap();
}

async fn flow_versions_are_kept_once(s: S, _: &str) {
    assert_eq!(s.flow_version("h1").await.unwrap(), None);
    let v1 = FlowVersion {
        content_hash: "h1".into(),
        flow_id: "lvu-6".into(),
        sources: "{\"flow\": \"åäö\"}".into(),
        first_seen: t(1, 10, 0, 0, 5),
    };
    s.save_flow_version(&v1).await.unwrap();
    // The same hash again does nothing: the first record stays.
    let again = FlowVersion {
        sources: "other".into(),
        first_seen: t(2, 10, 0, 0, 0),
        ..v1.clone()
    };
    s.save_flow_version(&again).await.unwrap();
    assert_eq!(s.flow_version("h1").await.unwrap(), Some(v1));
}

async fn create_and_get_round_trip(s: S, _: &str) {
    let case = full_case("c-full", "2026-0042");
    let events = vec![
        event(EventKind::Started, 1, t(1, 8, 0, 0, 0)),
        event(EventKind::StepSaved("barn".into()), 2, t(1, 8, 1, 0, 1)),
    ];
    s.create_case(&case, &events).await.unwrap();
    assert_eq!(s.get_case("c-full").await.unwrap(), Some(case));
    assert_eq!(s.events("c-full").await.unwrap(), events);
    assert_eq!(s.get_case("nope").await.unwrap(), None);
    assert_eq!(s.events("nope").await.unwrap(), vec![]);
    assert_eq!(s.latest_document("c-full").await.unwrap(), None);
    assert_eq!(s.signature_evidence("c-full").await.unwrap(), vec![]);
}

async fn duplicate_id_or_number_is_refused(s: S, _: &str) {
    let first = draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0));
    s.create_case(&first, &[event(EventKind::Started, 1, t(2, 9, 0, 0, 0))])
        .await
        .unwrap();
    let same_id = draft("c1", "2026-0002", "g", t(2, 10, 0, 0, 0));
    assert_eq!(
        s.create_case(&same_id, &[]).await,
        Err(StoreError::Duplicate)
    );
    let same_number = draft("c2", "2026-0001", "g", t(2, 10, 0, 0, 0));
    assert_eq!(
        s.create_case(&same_number, &[]).await,
        Err(StoreError::Duplicate)
    );
    // Nothing of the refused writes is stored.
    assert_eq!(s.get_case("c1").await.unwrap(), Some(first));
    assert_eq!(s.get_case("c2").await.unwrap(), None);
    assert_eq!(s.events("c1").await.unwrap().len(), 1);
}

fn edited(case: &blankett_core::case::Case, step: &str, minute: u32) -> CaseWrite {
    let mut next = case.clone();
    next.revision = case.revision + 1;
    next.answers = json!({"step": step});
    next.updated_at = t(2, 12, minute, 0, 0);
    CaseWrite {
        events: vec![event(
            EventKind::StepSaved(step.into()),
            next.revision,
            next.updated_at,
        )],
        case: next,
        expected_revision: case.revision,
        document: None,
        evidence: None,
    }
}

async fn update_with_the_read_revision_writes_and_bumps(s: S, backend: &str) {
    let case = draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0));
    s.create_case(&case, &[event(EventKind::Started, 1, t(2, 9, 0, 0, 0))])
        .await
        .unwrap();
    let mut w = edited(&case, "one", 1);
    w.case.status = Status::Submitted;
    w.case.assignee = Some(person(WORKER, "Bengt"));
    let started = Instant::now();
    s.update_case(&w).await.unwrap();
    let one = started.elapsed();
    let stored = s.get_case("c1").await.unwrap().unwrap();
    assert_eq!(stored, w.case);
    assert_eq!(stored.revision, 2);
    let kinds: Vec<_> = s
        .events("c1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![EventKind::Started, EventKind::StepSaved("one".into())]
    );
    // The list columns follow the write.
    let listed = s
        .list_cases(&CaseFilter {
            assignee: Some(pnr(WORKER)),
            ..CaseFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, Status::Submitted);
    assert_eq!(listed[0].revision, 2);

    // A few more, for the timing line.
    let mut current = stored;
    let started = Instant::now();
    for i in 0..20 {
        let w = edited(&current, &format!("s{i}"), 2 + i);
        s.update_case(&w).await.unwrap();
        current = w.case;
    }
    let avg = started.elapsed() / 20;
    eprintln!("update_case on {backend}: first {one:?}, mean of 20 more {avg:?}");
    assert_eq!(s.get_case("c1").await.unwrap().unwrap().revision, 22);
    assert_eq!(s.events("c1").await.unwrap().len(), 22);
}

async fn stale_revision_conflicts_and_keeps_the_other_edit(s: S, _: &str) {
    let case = draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0));
    s.create_case(&case, &[]).await.unwrap();
    // Two writers read revision 1; the first writes.
    let theirs = edited(&case, "theirs", 1);
    s.update_case(&theirs).await.unwrap();
    let mut mine = edited(&case, "mine", 2);
    mine.document = Some(NewDocument {
        kind: DocumentKind::Locked,
        sha256: "00".repeat(32).into(),
        bytes: b"%PDF".to_vec(),
    });
    mine.evidence = Some(evidence("case_worker", SIGNER, 1));
    assert_eq!(
        s.update_case(&mine).await,
        Err(StoreError::Conflict {
            expected: 1,
            actual: 2
        })
    );
    // The other writer's edit is kept and nothing of mine was written.
    assert_eq!(s.get_case("c1").await.unwrap(), Some(theirs.case));
    assert_eq!(s.events("c1").await.unwrap(), theirs.events);
    assert_eq!(s.latest_document("c1").await.unwrap(), None);
    assert_eq!(s.signature_evidence("c1").await.unwrap(), vec![]);
}

async fn update_of_unknown_case_is_not_found(s: S, _: &str) {
    let ghost = draft("ghost", "2026-0009", "f", t(2, 9, 0, 0, 0));
    assert_eq!(
        s.update_case(&edited(&ghost, "x", 1)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(s.get_case("ghost").await.unwrap(), None);
    assert_eq!(
        s.append_events("ghost", &[event(EventKind::Viewed, 1, t(2, 9, 0, 0, 0))])
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(s.events("ghost").await.unwrap(), vec![]);
}

async fn concurrent_updates_with_one_revision_one_wins(s: S, _: &str) {
    for round in 0..5 {
        let id = format!("c{round}");
        let case = draft(&id, &format!("2026-{round:04}"), "f", t(2, 9, 0, 0, 0));
        s.create_case(&case, &[]).await.unwrap();
        let a = edited(&case, "a", 1);
        let b = edited(&case, "b", 2);
        let (s1, s2) = (s.clone(), s.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { s1.update_case(&a).await.map(|()| a) }),
            tokio::spawn(async move { s2.update_case(&b).await.map(|()| b) }),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let winner = match (ra, rb) {
            (Ok(w), Err(e)) | (Err(e), Ok(w)) => {
                assert_eq!(
                    e,
                    StoreError::Conflict {
                        expected: 1,
                        actual: 2
                    }
                );
                w
            }
            (ra, rb) => panic!(
                "exactly one must win: {:?} / {:?}",
                ra.map(|_| ()),
                rb.map(|_| ())
            ),
        };
        assert_eq!(s.get_case(&id).await.unwrap(), Some(winner.case));
        assert_eq!(s.events(&id).await.unwrap(), winner.events);
    }
}

async fn case_numbers_are_unique_under_concurrency_and_per_year(s: S, _: &str) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let s = s.clone();
        set.spawn(async move { s.next_case_number(2026).await });
    }
    let mut numbers = BTreeSet::new();
    while let Some(r) = set.join_next().await {
        assert!(numbers.insert(r.unwrap().unwrap()));
    }
    let expected: BTreeSet<String> = (1..=20).map(|n| format!("2026-{n:04}")).collect();
    assert_eq!(numbers, expected);
    assert_eq!(s.next_case_number(2027).await.unwrap(), "2027-0001");
    assert_eq!(s.next_case_number(2026).await.unwrap(), "2026-0021");
    assert_eq!(s.next_case_number(2027).await.unwrap(), "2027-0002");
}

async fn appended_events_keep_their_order(s: S, _: &str) {
    let case = draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0));
    let started = event(EventKind::Started, 1, t(2, 9, 0, 0, 0));
    s.create_case(&case, std::slice::from_ref(&started))
        .await
        .unwrap();
    let mut viewed = event(EventKind::Viewed, 1, t(2, 9, 5, 0, 0));
    viewed.actor_role = "case_worker".into();
    viewed.actor = Some(pnr(WORKER));
    let system = blankett_core::case::Event {
        actor: None,
        detail: Some("förfallen".into()),
        ..event(
            EventKind::SigningExpired("case_worker".into()),
            1,
            t(2, 9, 6, 0, 0),
        )
    };
    s.append_events("c1", &[viewed.clone(), system.clone()])
        .await
        .unwrap();
    let w = edited(&case, "one", 10);
    s.update_case(&w).await.unwrap();
    // An event with an earlier time still goes last: order is the order of writing.
    let late = event(EventKind::Viewed, 2, t(1, 0, 0, 0, 0));
    s.append_events("c1", std::slice::from_ref(&late))
        .await
        .unwrap();
    s.append_events("c1", &[]).await.unwrap();
    let mut expected = vec![started, viewed, system];
    expected.extend(w.events);
    expected.push(late);
    assert_eq!(s.events("c1").await.unwrap(), expected);
    // Appending events does not change the case.
    assert_eq!(s.get_case("c1").await.unwrap(), Some(w.case));
}

async fn list_cases_filters_combine(s: S, _: &str) {
    // a: a draft of flow f, nobody assigned.
    let a = draft("a", "2026-0001", "f", t(2, 9, 0, 0, 0));
    // b: in review at the worker, flow g.
    let mut b = draft("b", "2026-0002", "g", t(2, 10, 0, 0, 0));
    b.status = Status::InReview;
    b.assignee = Some(person(WORKER, "W"));
    // c: signing, SIGNER requested, SIGNER2 waiting; applicant OTHER.
    let mut c = full_case("c", "2026-0003");
    c.applicant = person(OTHER, "O");
    c.updated_at = t(2, 11, 0, 0, 0);
    // d: signing where SIGNER has signed and SIGNER2 is requested.
    let mut d = full_case("d", "2026-0004");
    d.updated_at = t(2, 12, 0, 0, 0);
    d.signatures[0].state = SignatureState::Signed {
        at: t(2, 11, 30, 0, 0),
    };
    d.signatures[1].state = SignatureState::Requested {
        at: t(2, 11, 30, 0, 0),
        expires_at: t(9, 11, 30, 0, 0),
    };
    for case in [&a, &b, &c, &d] {
        s.create_case(case, &[]).await.unwrap();
    }
    let ids = |f: CaseFilter| {
        let s = s.clone();
        async move {
            s.list_cases(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|x| x.id)
                .collect::<Vec<_>>()
        }
    };
    let all = ids(CaseFilter::default()).await;
    assert_eq!(all, vec!["d", "c", "b", "a"]);
    let involving = |p: &str| CaseFilter {
        involving: Some(pnr(p)),
        ..CaseFilter::default()
    };
    // As applicant (a, b, d), as assignee (b, c, d), as a signer (c, d).
    assert_eq!(ids(involving(APPLICANT)).await, vec!["d", "b", "a"]);
    assert_eq!(ids(involving(WORKER)).await, vec!["d", "c", "b"]);
    assert_eq!(ids(involving(SIGNER)).await, vec!["d", "c"]);
    assert_eq!(ids(involving(OTHER)).await, vec!["c"]);
    assert_eq!(
        ids(CaseFilter {
            applicant: Some(pnr(APPLICANT)),
            ..CaseFilter::default()
        })
        .await,
        vec!["d", "b", "a"]
    );
    let awaiting = |p: &str| CaseFilter {
        awaiting_signature_by: Some(pnr(p)),
        ..CaseFilter::default()
    };
    assert_eq!(ids(awaiting(SIGNER)).await, vec!["c"]);
    assert_eq!(ids(awaiting(SIGNER2)).await, vec!["d"]);
    assert_eq!(ids(awaiting(APPLICANT)).await, Vec::<String>::new());
    assert_eq!(
        ids(CaseFilter {
            unassigned: true,
            ..CaseFilter::default()
        })
        .await,
        vec!["a"]
    );
    assert_eq!(
        ids(CaseFilter {
            flow_ids: vec!["f".into(), "lvu-6".into()],
            ..CaseFilter::default()
        })
        .await,
        vec!["d", "c", "a"]
    );
    assert_eq!(
        ids(CaseFilter {
            statuses: vec![Status::InReview, Status::Draft],
            ..CaseFilter::default()
        })
        .await,
        vec!["b", "a"]
    );
    // Filters combine with AND.
    assert_eq!(
        ids(CaseFilter {
            involving: Some(pnr(APPLICANT)),
            statuses: vec![Status::Signing, Status::Draft],
            flow_ids: vec!["lvu-6".into()],
            ..CaseFilter::default()
        })
        .await,
        vec!["d"]
    );
    assert_eq!(
        ids(CaseFilter {
            assignee: Some(pnr(WORKER)),
            unassigned: true,
            ..CaseFilter::default()
        })
        .await,
        Vec::<String>::new()
    );

    // The signer rows follow updates: after SIGNER signs on c, c no longer awaits them.
    let mut w = CaseWrite {
        case: c.clone(),
        expected_revision: c.revision,
        events: vec![],
        document: None,
        evidence: None,
    };
    w.case.revision += 1;
    w.case.signatures[0].state = SignatureState::Signed {
        at: t(2, 13, 0, 0, 0),
    };
    w.case.updated_at = t(2, 13, 0, 0, 0);
    s.update_case(&w).await.unwrap();
    assert_eq!(ids(awaiting(SIGNER)).await, Vec::<String>::new());
    assert_eq!(ids(involving(SIGNER)).await, vec!["c", "d"]);

    // The summary carries the list columns.
    let rows = s.list_cases(&involving(OTHER)).await.unwrap();
    let row = &rows[0];
    assert_eq!(
        (
            row.number.as_str(),
            row.flow_id.as_str(),
            row.status,
            row.revision
        ),
        ("2026-0003", "lvu-6", Status::Signing, 8)
    );
    assert_eq!(row.applicant, pnr(OTHER));
    assert_eq!(row.assignee, Some(pnr(WORKER)));
    assert_eq!(
        (row.created_at, row.updated_at),
        (c.created_at, t(2, 13, 0, 0, 0))
    );
}

async fn list_cases_orders_newest_first_and_limits(s: S, _: &str) {
    // Created out of order; the times differ in the nanoseconds too.
    let minutes = [7u32, 3, 9, 1, 5];
    for (i, m) in minutes.iter().enumerate() {
        let case = draft(
            &format!("c{m}"),
            &format!("2026-{i:04}"),
            "f",
            t(2, 9, *m, 0, 999_999_000 + i as u32),
        );
        s.create_case(&case, &[]).await.unwrap();
    }
    let listed = |limit| {
        let s = s.clone();
        async move {
            s.list_cases(&CaseFilter {
                limit,
                ..CaseFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(0).await, vec!["c9", "c7", "c5", "c3", "c1"]);
    assert_eq!(listed(2).await, vec!["c9", "c7"]);
    // Nanoseconds count: same second, different fractions.
    let a = draft("na", "2026-0100", "f", t(3, 9, 0, 0, 1));
    let b = draft("nb", "2026-0101", "f", t(3, 9, 0, 0, 2));
    s.create_case(&b, &[]).await.unwrap();
    s.create_case(&a, &[]).await.unwrap();
    assert_eq!(listed(2).await, vec!["nb", "na"]);
}

async fn documents_get_versions_and_latest_is_newest(s: S, _: &str) {
    let case = full_case("c1", "2026-0001");
    s.create_case(&case, &[]).await.unwrap();
    let mut current = case;
    let kinds = [
        DocumentKind::Locked,
        DocumentKind::Signed,
        DocumentKind::Signed,
        DocumentKind::Final,
    ];
    for (i, kind) in kinds.iter().enumerate() {
        let mut w = edited(&current, &format!("d{i}"), i as u32);
        // An update without a document adds no version.
        s.update_case(&w).await.unwrap();
        current = w.case.clone();
        w = edited(&current, &format!("doc{i}"), 30 + i as u32);
        let bytes: Vec<u8> = (0..=255u8).chain([i as u8; 3]).collect();
        w.document = Some(NewDocument {
            kind: *kind,
            sha256: format!("{i:064}").into(),
            bytes: bytes.clone(),
        });
        s.update_case(&w).await.unwrap();
        current = w.case.clone();
        let latest = s.latest_document("c1").await.unwrap().unwrap();
        assert_eq!(latest.case_id, "c1");
        assert_eq!(latest.version, i as u32 + 1);
        assert_eq!(latest.kind, *kind);
        assert_eq!(latest.sha256, format!("{i:064}"));
        assert_eq!(latest.bytes, bytes);
        assert_eq!(latest.created_at, current.updated_at);
    }
    // Versions are per case.
    let other = draft("c2", "2026-0002", "f", t(2, 9, 0, 0, 0));
    s.create_case(&other, &[]).await.unwrap();
    let mut w = edited(&other, "x", 1);
    w.document = Some(NewDocument {
        kind: DocumentKind::Locked,
        sha256: "x".into(),
        bytes: vec![],
    });
    s.update_case(&w).await.unwrap();
    let latest = s.latest_document("c2").await.unwrap().unwrap();
    assert_eq!((latest.version, latest.bytes.len()), (1, 0));
    assert_eq!(s.latest_document("c1").await.unwrap().unwrap().version, 4);
}

fn evidence(field: &str, who: &str, n: u8) -> SignatureEvidence {
    SignatureEvidence {
        field: field.into(),
        personnummer: pnr(who),
        signed_sha256: format!("{n:064}").into(),
        evidence: Evidence {
            provider: "bankid".into(),
            signature: vec![n, 0, 255, b'<'],
            ocsp_response: vec![0x30, 0x82, n],
            device_ip: Some("192.0.2.1".into()),
            completed_at: t(4, 10, n as u32, 1, 500).utc(),
            attributes: BTreeMap::from([
                ("risk".to_owned(), "low".to_owned()),
                ("bankIdIssueDate".to_owned(), "2024-01-01".to_owned()),
            ]),
        },
    }
}

async fn signature_evidence_in_signing_order(s: S, _: &str) {
    let case = full_case("c1", "2026-0001");
    s.create_case(&case, &[]).await.unwrap();
    let mut current = case;
    let signers = [
        ("case_worker", SIGNER, 1u8),
        ("decision_maker", SIGNER2, 2),
        ("witness", OTHER, 3),
    ];
    for (field, who, n) in signers {
        let mut w = edited(&current, field, n as u32);
        w.evidence = Some(evidence(field, who, n));
        s.update_case(&w).await.unwrap();
        current = w.case;
    }
    let stored = s.signature_evidence("c1").await.unwrap();
    let expected: Vec<_> = signers.iter().map(|(f, w, n)| evidence(f, w, *n)).collect();
    assert_eq!(stored, expected);
    assert_eq!(s.signature_evidence("other").await.unwrap(), vec![]);
}

async fn sessions_expire_and_are_purged(s: S, _: &str) {
    let now = t(5, 12, 0, 0, 0);
    let session = |id: &str, expires| SessionRecord {
        id_hash: id.into(),
        data: json!({"user": {"name": "Åsa"}, "csrf": "x", "orders": [1, 2]}),
        expires_at: expires,
    };
    let live = session("live", t(5, 12, 30, 0, 0));
    let old = session("old", t(5, 11, 0, 0, 0));
    let at_now = session("edge", now);
    for r in [&live, &old, &at_now] {
        s.put_session(r).await.unwrap();
    }
    assert_eq!(
        s.get_session("live", now).await.unwrap(),
        Some(live.clone())
    );
    // Expired ones are not returned (expiring exactly now counts as expired).
    assert_eq!(s.get_session("old", now).await.unwrap(), None);
    assert_eq!(s.get_session("edge", now).await.unwrap(), None);
    assert_eq!(s.get_session("missing", now).await.unwrap(), None);
    // Replacing keeps one row with the new contents.
    let renewed = SessionRecord {
        data: json!({"user": null}),
        expires_at: t(5, 13, 0, 0, 0),
        ..live.clone()
    };
    s.put_session(&renewed).await.unwrap();
    assert_eq!(
        s.get_session("live", t(5, 12, 45, 0, 0)).await.unwrap(),
        Some(renewed.clone())
    );
    // Purge removes exactly the expired ones.
    assert_eq!(s.purge_sessions(now).await.unwrap(), 2);
    assert_eq!(s.purge_sessions(now).await.unwrap(), 0);
    assert_eq!(s.get_session("old", t(1, 0, 0, 0, 0)).await.unwrap(), None);
    assert_eq!(
        s.get_session("live", now).await.unwrap(),
        Some(renewed.clone())
    );
    s.delete_session("live").await.unwrap();
    assert_eq!(s.get_session("live", now).await.unwrap(), None);
    // Deleting what is not there is fine.
    s.delete_session("live").await.unwrap();
    assert_eq!(s.purge_sessions(t(30, 0, 0, 0, 0)).await.unwrap(), 0);
}

// ---- the outbox ----

fn msg(key: &str, at: blankett_core::time::Timestamp) -> NewMessage {
    NewMessage {
        key: key.into(),
        channel: MessageChannel::Email,
        recipient: format!("{key}@example.invalid"),
        topic: blankett_core::store::Topic::parse("signature_requested").unwrap(),
        case_id: None,
        payload: json!({"subject": "Ämne", "text": "Länk"}),
        not_before: at,
    }
}

async fn a_case_created_with_its_document_is_written_whole_or_not_at_all(s: S, _: &str) {
    let case = draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0));
    let doc = NewDocument {
        kind: DocumentKind::Locked,
        sha256: "ab".repeat(32).into(),
        bytes: b"%PDF-1.7 first".to_vec(),
    };
    let events = [event(EventKind::Viewed, 0, t(2, 9, 0, 0, 0))];
    s.create_case_with(
        &case,
        &events,
        Some(&doc),
        &[msg("created", t(2, 9, 0, 0, 0))],
    )
    .await
    .unwrap();
    let stored = s.latest_document("c1").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.version,
            stored.kind,
            stored.sha256.as_str(),
            stored.bytes.as_slice()
        ),
        (
            1,
            DocumentKind::Locked,
            doc.sha256.as_str(),
            doc.bytes.as_slice()
        )
    );
    assert_eq!(s.events("c1").await.unwrap(), events.to_vec());
    // The same id again is refused with its document and its messages.
    let other = NewDocument {
        sha256: "cd".repeat(32).into(),
        ..doc.clone()
    };
    assert_eq!(
        s.create_case_with(&case, &[], Some(&other), &[msg("again", t(2, 9, 1, 0, 0))])
            .await,
        Err(StoreError::Duplicate)
    );
    assert_eq!(
        s.latest_document("c1").await.unwrap().unwrap().sha256,
        doc.sha256
    );
    let keys: Vec<String> = s
        .list_messages(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(keys, vec!["created".to_owned()]);
}

async fn messages_go_with_their_case_write_or_not_at_all(s: S, _: &str) {
    let case = draft("c1", "2026-0001", "f", t(2, 9, 0, 0, 0));
    s.create_case_with(&case, &[], None, &[msg("created", t(2, 9, 0, 0, 0))])
        .await
        .unwrap();
    let theirs = edited(&case, "theirs", 1);
    s.update_case_with(&theirs, &[msg("theirs", t(2, 9, 1, 0, 0))])
        .await
        .unwrap();
    // A stale write is refused with its messages.
    let mine = edited(&case, "mine", 2);
    assert!(matches!(
        s.update_case_with(&mine, &[msg("mine", t(2, 9, 2, 0, 0))])
            .await,
        Err(StoreError::Conflict { .. })
    ));
    // A message written again (a retried request) stays one row.
    let next = edited(&theirs.case, "again", 3);
    s.update_case_with(&next, &[msg("theirs", t(2, 9, 3, 0, 0))])
        .await
        .unwrap();
    let keys: Vec<String> = s
        .list_messages(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(keys, vec!["theirs".to_owned(), "created".to_owned()]);
    let m = &s.list_messages(None, 10).await.unwrap()[1];
    assert_eq!(m.payload, json!({"subject": "Ämne", "text": "Länk"}));
    assert_eq!(m.status, MessageStatus::Pending);
    assert_eq!(m.attempts, 0);
}

async fn a_claimed_message_is_held_until_finished_or_its_lease_runs_out(s: S, _: &str) {
    let now = t(3, 10, 0, 0, 0);
    s.enqueue(&[msg("a", now), msg("later", t(3, 11, 0, 0, 0))])
        .await
        .unwrap();
    let lease = t(3, 10, 2, 0, 0);
    let claimed = s.claim_messages(now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "only what is due");
    assert_eq!((claimed[0].key.as_str(), claimed[0].attempts), ("a", 1));
    // Held: another worker gets nothing, until the lease runs out (a dead worker).
    assert!(
        s.claim_messages(t(3, 10, 1, 0, 0), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s
        .claim_messages(t(3, 10, 2, 0, 0), t(3, 10, 4, 0, 0), 10)
        .await
        .unwrap();
    assert_eq!((again[0].key.as_str(), again[0].attempts), ("a", 2));
    // A retry waits for its time; a sent message is never claimed again.
    s.finish_message(
        again[0].id,
        &Delivery::Retry {
            error: "SMTP failed (421)".into(),
            at: t(3, 10, 30, 0, 0),
        },
    )
    .await
    .unwrap();
    assert!(
        s.claim_messages(t(3, 10, 29, 0, 0), t(3, 10, 31, 0, 0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let third = s
        .claim_messages(t(3, 10, 30, 0, 0), t(3, 10, 32, 0, 0), 10)
        .await
        .unwrap();
    assert_eq!(third[0].last_error.as_deref(), Some("SMTP failed (421)"));
    s.finish_message(
        third[0].id,
        &Delivery::Sent {
            at: t(3, 10, 30, 1, 0),
        },
    )
    .await
    .unwrap();
    let left = s
        .claim_messages(t(3, 12, 0, 0, 0), t(3, 12, 2, 0, 0), 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key, "later");
    let a = s
        .list_messages(Some(MessageStatus::Sent), 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].sent_at, Some(t(3, 10, 30, 1, 0)));
    assert_eq!(a[0].attempts, 3);
}

async fn concurrent_claims_never_share_a_message(s: S, _: &str) {
    let now = t(4, 9, 0, 0, 0);
    let all: Vec<NewMessage> = (0..40).map(|i| msg(&format!("m{i}"), now)).collect();
    assert_eq!(s.enqueue(&all).await.unwrap(), 40);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = s.claim_messages(now, t(4, 9, 5, 0, 0), 3).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|m| m.key));
            }
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 40, "every message claimed once: {seen:?}");
    assert_eq!(distinct.len(), 40);
}

async fn failed_messages_are_listed_with_their_error(s: S, _: &str) {
    let now = t(5, 9, 0, 0, 0);
    s.enqueue(&[msg("ok", now), msg("bad", now)]).await.unwrap();
    let claimed = s.claim_messages(now, t(5, 9, 1, 0, 0), 10).await.unwrap();
    for m in &claimed {
        let outcome = if m.key == "bad" {
            Delivery::GaveUp {
                error: "SMTP refused (550)".into(),
            }
        } else {
            Delivery::Sent { at: now }
        };
        s.finish_message(m.id, &outcome).await.unwrap();
    }
    let failed = s
        .list_messages(Some(MessageStatus::Failed), 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, "bad");
    assert_eq!(failed[0].last_error.as_deref(), Some("SMTP refused (550)"));
    assert!(
        s.claim_messages(t(6, 0, 0, 0, 0), t(6, 0, 1, 0, 0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.finish_message(999_999, &Delivery::Sent { at: now }).await,
        Err(StoreError::NotFound)
    );
}

// ---- files (the file store port) ----

mod files {
    use super::*;
    use blankett_core::store::{FileMeta, FileStore};

    async fn files_are_kept_per_case_and_go_with_it(store: S, files: Arc<dyn FileStore>) {
        let case = draft("c-files", "2026-0100", "f", t(2, 9, 0, 0, 0));
        store
            .create_case(&case, &[event(EventKind::Started, 1, t(2, 9, 0, 0, 0))])
            .await
            .unwrap();
        let other = draft("c-other", "2026-0101", "f", t(2, 9, 0, 0, 0));
        store
            .create_case(&other, &[event(EventKind::Started, 1, t(2, 9, 0, 0, 0))])
            .await
            .unwrap();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let meta = |id: &str, at| FileMeta {
            id: id.into(),
            case_id: "c-files".into(),
            field: "underlag.kvitto".into(),
            name: "Kvitto åäö.pdf".into(),
            content_type: "application/pdf".into(),
            size: bytes.len() as u64,
            sha256: "ab".repeat(32).into(),
            created_at: at,
        };
        let a = meta("f-a", t(2, 9, 1, 0, 0));
        let b = meta("f-b", t(2, 9, 2, 0, 0));
        files.put_file(&a, &bytes).await.unwrap();
        files.put_file(&b, b"%PDF-").await.unwrap();
        assert_eq!(
            files.put_file(&a, b"again").await,
            Err(StoreError::Duplicate)
        );
        let (got, got_bytes) = files.file("c-files", "f-a").await.unwrap().unwrap();
        assert_eq!(got, a);
        assert_eq!(got_bytes, bytes);
        // Another case cannot reach the file by its id.
        assert_eq!(files.file("c-other", "f-a").await.unwrap(), None);
        assert_eq!(files.file("c-files", "nope").await.unwrap(), None);
        let listed = files.files_of_case("c-files").await.unwrap();
        assert_eq!(listed, vec![a.clone(), b.clone()]);
        assert_eq!(files.files_of_case("c-other").await.unwrap(), vec![]);
        // Deleting another case's id does nothing; deleting one of its own takes only that.
        assert_eq!(
            files
                .delete_files("c-other", &["f-a".to_owned()])
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            files
                .delete_files("c-files", &["f-b".to_owned(), "nope".to_owned()])
                .await
                .unwrap(),
            1
        );
        assert_eq!(files.files_of_case("c-files").await.unwrap(), vec![a]);
    }

    #[tokio::test]
    async fn memory() {
        let h = Harness::memory();
        files_are_kept_per_case_and_go_with_it(h.store.clone(), h.files.clone()).await;
    }

    #[tokio::test]
    async fn sqlite() {
        let h = Harness::sqlite().await;
        files_are_kept_per_case_and_go_with_it(h.store.clone(), h.files.clone()).await;
        h.finish().await;
    }

    #[tokio::test]
    async fn postgres() {
        let h = Harness::postgres().await;
        files_are_kept_per_case_and_go_with_it(h.store.clone(), h.files.clone()).await;
        h.finish().await;
    }
}
