//! A real server on port 0 (SQLite in a temporary folder, or a fresh PostgreSQL database)
//! and a cookie-keeping HTTP client that reads forms the way a browser would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blankett_web::app::{AppState, Config, router};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::Value;

pub const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const CASE_WORKER: &str = "197701172392";
pub const DECISION_MAKER: &str = "189001019802";
pub const OUTSIDER: &str = "201212121212";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL database for one test; dropped with the value.
pub struct PgDb {
    admin: String,
    pub name: String,
}

impl PgDb {
    pub fn create() -> PgDb {
        let admin =
            std::env::var("BLANKETT_TEST_POSTGRES_URL").unwrap_or_else(|_| PG_DEFAULT.into());
        let name = format!("blankett_web_{}", uuid::Uuid::new_v4().simple());
        let out = std::process::Command::new("psql")
            .args([
                admin.as_str(),
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql must be installed for the PostgreSQL tests");
        assert!(
            out.status.success(),
            "PostgreSQL is not reachable at {admin} (set BLANKETT_TEST_POSTGRES_URL): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PgDb { admin, name }
    }

    pub fn url(&self) -> String {
        let base = self
            .admin
            .rsplit_once('/')
            .map_or(self.admin.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                self.admin.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The server's clock: step it ahead rather than wait or edit stored times.
    pub clock: Arc<blankett_web::clock::SteppedClock>,
    pub dir: tempfile::TempDir,
    /// The database URL, for a second instance on the same database.
    pub url: String,
    _pg: Option<PgDb>,
}

impl TestApp {
    pub async fn start(db: Db) -> TestApp {
        Self::start_with(db, &[]).await
    }

    pub async fn start_with(db: Db, extra: &[(&str, &str)]) -> TestApp {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = match db {
            Db::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("blankett.db").display()
                ),
                None,
            ),
            Db::Postgres => {
                let pg = PgDb::create();
                (pg.url(), Some(pg))
            }
        };
        Self::start_on(dir, url, pg, extra).await
    }

    /// Another server instance on this one's database (as several instances share one
    /// PostgreSQL in production): its own process state, the same data.
    pub async fn second_instance(&self) -> TestApp {
        self.second_instance_with(&[]).await
    }

    /// [`TestApp::second_instance`] with its own extra configuration.
    pub async fn second_instance_with(&self, extra: &[(&str, &str)]) -> TestApp {
        Self::start_on(tempfile::tempdir().unwrap(), self.url.clone(), None, extra).await
    }

    async fn start_on(
        dir: tempfile::TempDir,
        url: String,
        pg: Option<PgDb>,
        extra: &[(&str, &str)],
    ) -> TestApp {
        let defs = format!(
            "[\"{}\", \"{}\"]",
            repo().join("flows").display(),
            repo().join("form-defs").display()
        );
        let mut vars = vec![
            ("BLANKETT__DATABASE_URL".to_owned(), url.clone()),
            ("BLANKETT__DEFINITIONS".to_owned(), defs),
            (
                "BLANKETT__DATA_DIR".to_owned(),
                format!("\"{}\"", dir.path().join("data").display()),
            ),
            // Documents are made by the real binary's render workers (this test binary is not
            // one).
            (
                "BLANKETT__RENDER__WORKER_PROGRAM".to_owned(),
                format!("\"{}\"", env!("CARGO_BIN_EXE_blankett")),
            ),
        ];
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let config = Config::load(None, vars).unwrap();
        // The time runs as the system's, and a test can step it ahead instead of waiting.
        let clock = Arc::new(blankett_web::clock::SteppedClock::new());
        let state = AppState::start_with_clock(config, clock.clone())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestApp {
            addr,
            state,
            clock,
            dir,
            url,
            _pg: pg,
        }
    }

    /// A new browser: its own cookies.
    pub fn browser(&self) -> Browser {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Browser {
            base: format!("http://{}", self.addr),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            last_html: String::new(),
        }
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("data/dev-pki/ca.pem")).unwrap()
    }
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The value of the first `name="…" value="…"` input with this name.
    pub fn input(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')? + start;
        Some(unescape(&self.body[start..end]))
    }

    /// The body with HTML escapes undone (`&#x2f;` is `/` in attributes).
    pub fn html(&self) -> String {
        unescape(&self.body)
    }

    pub fn csrf(&self) -> String {
        self.input("_csrf").expect("page has a CSRF token")
    }

    pub fn revision(&self) -> String {
        self.input("_revision").expect("page has a revision")
    }

    pub fn location(&self) -> &str {
        self.location.as_deref().unwrap_or_else(|| {
            panic!(
                "expected a redirect, got {} {}",
                self.status,
                &self.body[..self.body.len().min(2000)]
            )
        })
    }
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub last_html: String,
}

impl Browser {
    /// A browser of its own (cookies kept, redirects not followed) for a server at `base`.
    pub fn at(base: &str) -> Browser {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Browser {
            base: base.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            last_html: String::new(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let page = read(r).await;
        self.last_html = page.body.clone();
        page
    }

    pub async fn bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }

    pub async fn post(&mut self, path: &str, form: &[(String, String)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let page = read(r).await;
        self.last_html = page.body.clone();
        page
    }

    /// Posts a body made by [`multipart`].
    pub async fn post_multipart(&mut self, path: &str, (ct, body): (String, Vec<u8>)) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        let page = read(r).await;
        self.last_html = page.body.clone();
        page
    }

    /// Follows redirects (GET) from `page` until a page that is not a redirect.
    pub async fn follow(&mut self, mut page: Page) -> (String, Page) {
        let mut at = String::new();
        for _ in 0..10 {
            match page.location.clone() {
                Some(loc) if page.status.is_redirection() => {
                    at = loc.clone();
                    page = self.get(&loc).await;
                }
                _ => return (at, page),
            }
        }
        panic!("too many redirects");
    }

    /// Logs in with the test eID as `personnummer`; returns the page after login.
    pub async fn log_in(&mut self, personnummer: &str, next: &str) -> (String, Page) {
        let login = self.get(&format!("/login?next={next}")).await;
        assert_eq!(login.status, StatusCode::OK);
        let started = self
            .post(
                "/login/start",
                &[
                    f("_csrf", &login.csrf()),
                    f("provider", "test"),
                    f("next", next),
                ],
            )
            .await;
        self.approve_test_eid(started, personnummer).await
    }

    /// On the test eID's page (`started` redirects there), approves as `personnummer`.
    pub async fn approve_test_eid(&mut self, started: Page, personnummer: &str) -> (String, Page) {
        let test_page_path = started.location().to_owned();
        assert!(test_page_path.starts_with("/test-eid/"), "{test_page_path}");
        let test_page = self.get(&test_page_path).await;
        let approved = self
            .post(
                &test_page_path,
                &[
                    f("_csrf", &test_page.csrf()),
                    f("decision", "approve"),
                    f("personnummer", personnummer),
                ],
            )
            .await;
        self.follow(approved).await
    }

    pub async fn log_out(&mut self) {
        let page = self.get("/").await;
        let out = self.post("/logout", &[f("_csrf", &page.csrf())]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
    }
}

/// A multipart body: text fields, then files (name, file name, bytes), in that order unless
/// `files_first`.
pub fn multipart(
    texts: &[(String, String)],
    files: &[(&str, &str, &[u8])],
    files_first: bool,
) -> (String, Vec<u8>) {
    let boundary = format!("----blankett{}", uuid::Uuid::new_v4().simple());
    let mut text_part = Vec::new();
    for (k, v) in texts {
        text_part.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    let mut file_part = Vec::new();
    for (k, name, bytes) in files {
        file_part.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        file_part.extend_from_slice(bytes);
        file_part.extend_from_slice(b"\r\n");
    }
    let mut body = Vec::new();
    if files_first {
        body.extend(file_part);
        body.extend(text_part);
    } else {
        body.extend(text_part);
        body.extend(file_part);
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A response as a [`Page`].
pub async fn read(r: reqwest::Response) -> Page {
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = r.text().await.unwrap_or_default();
    Page {
        status,
        location,
        body,
    }
}

pub fn f(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// A step's answers (JSON) as the form fields a browser would send.
pub fn form_fields(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                form_fields(&p, x, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| x.is_object()) => {
            for (i, x) in a.iter().enumerate() {
                form_fields(&format!("{prefix}.{i}"), x, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                out.push((prefix.to_owned(), scalar(x)));
            }
        }
        other => out.push((prefix.to_owned(), scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The LVU flow's sample answers (`flows/lvu-6/sample-answers.json`).
pub fn sample() -> Value {
    sample_of("lvu-6")
}

/// A shipped flow's sample answers.
pub fn sample_of(flow: &str) -> Value {
    let text =
        std::fs::read_to_string(repo().join(format!("flows/{flow}/sample-answers.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The case worker starts the LVU flow and fills every step; returns the case id.
pub async fn fill_lvu(b: &mut Browser) -> String {
    let (_, home) = b.log_in(CASE_WORKER, "/").await;
    assert!(
        home.html().contains("Tolvan Tolvansson"),
        "logged in: {}",
        home.body
    );
    fill_flow(b, "lvu-6", &sample()).await
}

/// The logged-in person starts `flow` and fills every step from `answers` (by step id);
/// returns the case id. Ends on the review page.
pub async fn fill_flow(b: &mut Browser, flow: &str, answers: &Value) -> String {
    let home = b.get("/").await;
    let started = b
        .post(&format!("/e/{flow}/start"), &[f("_csrf", &home.csrf())])
        .await;
    let mut at = started.location().to_owned();
    let id = at.split('/').nth(2).unwrap().to_owned();
    let mut guard = 0;
    while at.contains("/steps/") {
        guard += 1;
        assert!(guard < 20, "the journey does not end");
        let step = at.rsplit('/').next().unwrap().to_owned();
        let page = b.get(&at).await;
        assert_eq!(page.status, StatusCode::OK, "{at}");
        assert!(page.html().contains("Steg "), "progress shown");
        let mut form = vec![
            f("_csrf", &page.csrf()),
            f("_revision", &page.revision()),
            f("_action", "next"),
        ];
        form_fields("", &answers[&step], &mut form);
        let saved = b.post(&at, &form).await;
        assert_eq!(
            saved.status,
            StatusCode::SEE_OTHER,
            "step {step}: {}",
            saved.body
        );
        at = saved.location().to_owned();
    }
    assert_eq!(at, format!("/cases/{id}/review"));
    id
}

/// Submits case `id` from its review page.
pub async fn submit(b: &mut Browser, id: &str) {
    let review = b.get(&format!("/cases/{id}/review")).await;
    let done = b
        .post(
            &format!("/cases/{id}/submit"),
            &[
                f("_csrf", &review.csrf()),
                f("_revision", &review.revision()),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
}

/// The case worker approves case `id` (the document is rendered and locked); returns where
/// the browser is sent.
pub async fn approve(b: &mut Browser, id: &str) -> String {
    let case = b.get(&format!("/cases/{id}")).await;
    let approved = b
        .post(
            &format!("/cases/{id}/approve"),
            &[f("_csrf", &case.csrf()), f("_revision", &case.revision())],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    approved.location().to_owned()
}

/// On the signing page of case `id`, signs with the test eID as `who`; returns the page the
/// browser lands on (the case).
pub async fn sign(b: &mut Browser, id: &str, who: &str) -> Page {
    let sign = b.get(&format!("/cases/{id}/sign")).await;
    assert_eq!(sign.status, StatusCode::OK, "{}", sign.body);
    let started = b
        .post(
            &format!("/cases/{id}/sign/start"),
            &[
                f("_csrf", &sign.csrf()),
                f("_revision", &sign.revision()),
                f("sha256", &sign.input("sha256").unwrap()),
                f("provider", "test"),
            ],
        )
        .await;
    let (at, page) = b.approve_test_eid(started, who).await;
    assert_eq!(at, format!("/cases/{id}"), "{}", page.body);
    page
}
