//! The baseline of the load benchmark (`scripts/bench-load`): a bare axum handler that does
//! only the database write of a step submission, an optimistic
//! `UPDATE cases SET data = …, revision = revision + 1 WHERE id = … AND revision = …` of the
//! step's answers as JSON. Same schema, pool and SQLite settings as `blankett serve` (it opens
//! the database through `SeaStore::connect`), but no session, CSRF, rules or event log.
//!
//! ```text
//! cargo run --release --example bare_step_write -- <database-url> <listen-address> <cases>
//! ```
//!
//! It creates `<cases>` rows named `bench-0`, `bench-1`, … at revision 0 and answers
//! `POST /cases/{id}/steps/{step}` (form fields plus `_revision`) with 303 to the next step,
//! or 409 when the revision is stale, like the real step page.

use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use blankett_store::SeaStore;
use blankett_store::sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::{Map, Value, json};

/// The same allocator as `blankett serve` (src/main.rs), so the comparison is of the work
/// done, not of allocators. mimalloc instead of the C library's allocator: a request allocates many small, short-lived
/// values, and glibc's malloc was a sixth of the server's CPU time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    db: DatabaseConnection,
    update: &'static str,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, listen, cases] = args.as_slice() else {
        bail!("usage: bare_step_write <database-url> <listen-address> <cases>");
    };
    let cases: usize = cases.parse().context("<cases> must be a number")?;
    let store = SeaStore::connect(url).await?;
    let db = store.connection().clone();
    let backend = db.get_database_backend();
    let (insert, update) = match backend {
        DatabaseBackend::Postgres => (
            "INSERT INTO cases (id, number, flow_id, flow_hash, status, revision, applicant_pnr, \
             parties_key, data, created_at, updated_at) VALUES ($1, $2, 'lvu-6', 'bench', \
             'draft', 0, '197701172392', '', '{}', $3, $3)",
            "UPDATE cases SET data = $1, revision = revision + 1, updated_at = $2 \
             WHERE id = $3 AND revision = $4",
        ),
        _ => (
            "INSERT INTO cases (id, number, flow_id, flow_hash, status, revision, applicant_pnr, \
             parties_key, data, created_at, updated_at) VALUES (?, ?, 'lvu-6', 'bench', \
             'draft', 0, '197701172392', '', '{}', ?, ?)",
            "UPDATE cases SET data = ?, revision = revision + 1, updated_at = ? \
             WHERE id = ? AND revision = ?",
        ),
    };
    let now = now();
    for i in 0..cases {
        let mut values = vec![
            format!("bench-{i}").into(),
            format!("B-{i}").into(),
            now.clone().into(),
        ];
        if backend != DatabaseBackend::Postgres {
            values.push(now.clone().into());
        }
        db.execute_raw(Statement::from_sql_and_values(backend, insert, values))
            .await
            .context("creating the benchmark's cases")?;
    }
    let app = Router::new()
        .route("/cases/{id}/steps/{step}", post(save_step))
        .with_state(Arc::new(Bare { db, update }));
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    println!(
        "bare handler listens on http://{} with {cases} cases",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn save_step(
    State(bare): State<Arc<Bare>>,
    Path((id, step)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let Some(revision) = fields
        .iter()
        .find(|(k, _)| k == "_revision")
        .and_then(|(_, v)| v.parse::<i64>().ok())
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let answers: Map<String, Value> = fields
        .into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let data = json!({ "answers": { step.as_str(): answers } }).to_string();
    let backend = bare.db.get_database_backend();
    let statement = Statement::from_sql_and_values(
        backend,
        bare.update,
        [
            data.into(),
            now().into(),
            id.clone().into(),
            revision.into(),
        ],
    );
    match bare.db.execute_raw(statement).await {
        Ok(r) if r.rows_affected() == 1 => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/cases/{id}/steps/next"))],
        )
            .into_response(),
        Ok(_) => StatusCode::CONFLICT.into_response(),
        Err(e) => {
            eprintln!("update failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The time as the store writes it.
fn now() -> String {
    blankett_web::clock::Timestamp::from_utc(blankett_web::clock::now_utc()).stored()
}
