//! The server as an operator runs it: a real `blankett serve` process, real sockets, real
//! signals. A graceful stop (SIGTERM, SIGINT) finishes the request in flight and leaves a
//! complete database; slow and idle connections are closed and cannot crowd out a person;
//! `blankett backup` copies the database while the server runs; the notification worker
//! finishes or gives back what it holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::bankid_server;
use crate::sinks;
use crate::web;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blankett_core::store::{MessageStatus, NewMessage, Store};
use reqwest::StatusCode;
use sinks::SmtpSink;
use web::{Browser, CASE_WORKER, Db, PgDb, fill_lvu, repo};

/// `blankett serve` as a process, with what it prints kept.
struct Serve {
    /// Until [`Serve::wait`] hands it to a thread that waits for it.
    child: Option<Child>,
    pid: u32,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
    exited: Option<mpsc::Receiver<ExitStatus>>,
    /// One message from each pipe's reader when it has read everything.
    drained: mpsc::Receiver<()>,
}

impl Serve {
    /// Starts the server on `url` with its data in `dir` and the extra settings; waits until
    /// it listens.
    fn start(dir: &Path, url: &str, extra: &[(&str, &str)]) -> Serve {
        Serve::start_with_args(dir, url, extra, &[])
    }

    /// [`Serve::start`] with further arguments to `blankett serve` (`--config FILE`).
    fn start_with_args(dir: &Path, url: &str, extra: &[(&str, &str)], args: &[&str]) -> Serve {
        Serve::try_start(dir, url, extra, args).unwrap_or_else(|out| {
            panic!("the server did not start:\n{out}");
        })
    }

    /// Starts the server, or returns what it printed when it ended without listening.
    fn try_start(
        dir: &Path,
        url: &str,
        extra: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Serve, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_blankett"));
        cmd.arg("serve")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BLANKETT__DATABASE_URL", url)
            .env(
                "BLANKETT__DEFINITIONS",
                format!(
                    "[\"{}\", \"{}\"]",
                    repo().join("flows").display(),
                    repo().join("form-defs").display()
                ),
            )
            .env(
                "BLANKETT__DATA_DIR",
                format!("\"{}\"", dir.join("data").display()),
            )
            .env("BLANKETT__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let (first_tx, first) = mpsc::channel();
        let (drained_tx, drained) = mpsc::channel();
        for (i, pipe) in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ]
        .into_iter()
        .enumerate()
        {
            let output = output.clone();
            let first_tx = first_tx.clone();
            let drained_tx = drained_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    // Kept before the listening line is announced, so that what the test
                    // reads after the start holds that line.
                    {
                        let mut o = output.lock().unwrap();
                        o.push_str(&line);
                        o.push('\n');
                    }
                    if i == 0 && line.starts_with("Blankett listens on http://") {
                        let _ = first_tx.send(line);
                    }
                }
                let _ = drained_tx.send(());
            });
        }
        // Only the reader threads hold a sender now: when the process ends without listening,
        // both end and the wait below ends with them.
        drop(first_tx);
        drop(drained_tx);
        let line = match first.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                // The pipes close with the process: once both are read, what it printed is
                // all there.
                for _ in 0..2 {
                    let _ = drained.recv_timeout(Duration::from_secs(10));
                }
                return Err(output.lock().unwrap().clone());
            }
        };
        let addr: SocketAddr = line["Blankett listens on http://".len()..]
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        Ok(Serve {
            pid: child.id(),
            child: Some(child),
            addr,
            output,
            exited: None,
            drained,
        })
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn signal(&mut self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// The exit status, waiting at most `secs` seconds.
    fn wait(&mut self, secs: u64) -> ExitStatus {
        if let Some(mut child) = self.child.take() {
            // The child is waited for on its own thread; this one waits for the answer.
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(child.wait().unwrap());
            });
            self.exited = Some(rx);
        }
        let status = self
            .exited
            .as_ref()
            .unwrap()
            .recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|_| {
                panic!(
                    "the server did not stop within {secs} s:\n{}",
                    self.output()
                )
            });
        // Everything the process printed is read before its output is looked at.
        for _ in 0..2 {
            let _ = self.drained.recv_timeout(Duration::from_secs(10));
        }
        status
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Whether a new connection is refused (the listener is closed).
    fn refuses_connections(&self) -> bool {
        TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_err()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        match self.child.as_mut() {
            Some(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            None => {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Waits (polling, at most `secs` seconds) until `done` holds.
fn until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {secs} s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request over a raw socket: the response's head and body as text.
fn raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The CSRF cookie and token a visitor without a session gets with the start page.
fn anonymous_csrf(addr: SocketAddr) -> (String, String) {
    let page = raw(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let cookie = page
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no CSRF cookie on the start page:\n{page}"));
    let token = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (cookie, token)
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("blankett.db").display())
}

async fn a_stop_finishes_the_request_in_flight(db: Db, signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pg;
    let url = match db {
        Db::Sqlite => sqlite_url(dir.path()),
        Db::Postgres => {
            pg = PgDb::create();
            pg.url()
        }
    };
    let mut server = Serve::start(
        dir.path(),
        &url,
        &[("BLANKETT__SERVER__SHUTDOWN_GRACE_SECS", "20")],
    );

    // Something to keep: a case filled in through the pages.
    let mut b = Browser::at(&server.base());
    b.log_in(CASE_WORKER, "/").await;
    let case_id = fill_lvu(&mut b).await;

    // A language choice whose body is only half sent when the signal comes. The client asks
    // for `100 Continue` and waits for it: then the server is reading the body, so the
    // request is in flight when the signal comes (without the wait, the signal could come
    // before the server had read the head, and a connection with no request is simply closed).
    let (cookie, token) = anonymous_csrf(server.addr);
    let body = format!("_csrf={token}&lang=en&return_to=%2F");
    let (first, rest) = body.split_at(body.len() / 2);
    let mut inflight = TcpStream::connect(server.addr).unwrap();
    inflight
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        inflight,
        "POST /lang HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .unwrap();
    inflight.flush().unwrap();
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        inflight.read_exact(&mut byte).unwrap();
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    inflight.write_all(first.as_bytes()).unwrap();
    inflight.flush().unwrap();

    server.signal(signal);
    // The port closes at once: new connections are refused…
    until(10, "the listener closing", || server.refuses_connections());
    // …while the request in flight is finished and answered.
    inflight.write_all(rest.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = inflight.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 303"),
        "the request in flight was answered: {response}"
    );
    assert!(response.contains("blankett_session="), "{response}");

    let status = server.wait(30);
    assert!(status.success(), "{status}: {}", server.output());
    let out = server.output();
    assert!(out.contains("Blankett stopped"), "{out}");
    assert!(!out.contains("cut off"), "{out}");

    // Everything is in the database; on SQLite in `blankett.db` alone.
    let check_url = match db {
        Db::Sqlite => {
            let wal = dir.path().join("blankett.db-wal");
            assert!(
                !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
                "the log was written into the database at the stop"
            );
            let copy = tempfile::tempdir().unwrap();
            std::fs::copy(
                dir.path().join("blankett.db"),
                copy.path().join("blankett.db"),
            )
            .unwrap();
            let url = sqlite_url(copy.path());
            let store = blankett_store::SeaStore::connect(&url).await.unwrap();
            let case = store.get_case(&case_id).await.unwrap();
            assert!(case.is_some(), "the case is in blankett.db alone");
            assert!(
                store.count_sessions().await.unwrap() >= 2,
                "the sessions (the login, the language chosen during the stop) are kept"
            );
            store.close().await.unwrap();
            std::mem::forget(copy);
            url
        }
        Db::Postgres => url,
    };
    let store = blankett_store::SeaStore::connect(&check_url).await.unwrap();
    assert!(store.get_case(&case_id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_request_in_flight_and_leaves_blankett_db_complete() {
    a_stop_finishes_the_request_in_flight(Db::Sqlite, "TERM").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_finishes_the_request_in_flight_on_sqlite() {
    a_stop_finishes_the_request_in_flight(Db::Sqlite, "INT").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_request_in_flight_on_postgres() {
    a_stop_finishes_the_request_in_flight(Db::Postgres, "TERM").await;
}

/// Opens `n` connections that send half a request head and then nothing.
fn half_open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect()
}

/// Whether the server closed `s` (a read ends), within `secs` seconds.
fn closed_within(s: &mut TcpStream, secs: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_idle_connections_are_closed_and_never_crowd_out_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Serve::start(
        dir.path(),
        &sqlite_url(dir.path()),
        &[
            ("BLANKETT__SERVER__HEADER_READ_TIMEOUT_SECS", "2"),
            ("BLANKETT__SERVER__BODY_READ_TIMEOUT_SECS", "2"),
            ("BLANKETT__SERVER__KEEP_ALIVE_TIMEOUT_SECS", "3"),
            ("BLANKETT__SERVER__SHUTDOWN_GRACE_SECS", "5"),
        ],
    );
    let mut person = Browser::at(&server.base());
    person.log_in(CASE_WORKER, "/").await;

    // Thousands of connections hold half a request head; the person is served all the same.
    let mut held = half_open(server.addr, 3000);
    let my = person.get("/my").await;
    assert_eq!(my.status, StatusCode::OK);
    let health = person.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);

    // A head that does not arrive in time is closed (after about 2 s).
    assert!(
        closed_within(&mut held[0], 15),
        "a half-open head is closed"
    );
    assert!(closed_within(&mut held[2999], 15));
    drop(held);

    // A connection with nothing more to ask is closed after the keep-alive time.
    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(closed_within(&mut idle, 15), "an idle connection is closed");

    // A body that does not arrive in time is answered 408 with the application's page.
    let (cookie, token) = anonymous_csrf(server.addr);
    let mut slow = TcpStream::connect(server.addr).unwrap();
    write!(
        slow,
        "POST /lang HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n_csrf={token}"
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("Det tog för lång tid"), "{answer}");

    // A stop is not held up by half-open connections: it ends within its grace period.
    let _held = half_open(server.addr, 1000);
    let asked = Instant::now();
    server.signal("TERM");
    let status = server.wait(20);
    assert!(status.success(), "{}", server.output());
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "the stop took {:?}",
        asked.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room_for_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(
        dir.path(),
        &sqlite_url(dir.path()),
        &[("BLANKETT__SERVER__MAX_CONNECTIONS", "64")],
    );
    let mut person = Browser::at(&server.base());
    person.log_in(CASE_WORKER, "/").await;
    let _held = half_open(server.addr, 500);
    for _ in 0..5 {
        let my = person.get("/my").await;
        assert_eq!(my.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_writes_a_consistent_copy_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Serve::start(dir.path(), &url, &[]);
    let mut b = Browser::at(&server.base());
    b.log_in(CASE_WORKER, "/").await;
    let case_id = fill_lvu(&mut b).await;

    let copy = dir.path().join("copy.db");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_blankett"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&[
        "backup",
        "--database-url",
        &url,
        "--out",
        copy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("a consistent copy"));
    let store = blankett_store::SeaStore::connect(&format!("sqlite://{}?mode=rwc", copy.display()))
        .await
        .unwrap();
    assert!(store.get_case(&case_id).await.unwrap().is_some());

    // An existing file is never overwritten; PostgreSQL is pointed at pg_dump.
    let again = run(&[
        "backup",
        "--database-url",
        &url,
        "--out",
        copy.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let pg = run(&[
        "backup",
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/test",
        "--out",
        dir.path().join("pg.db").to_str().unwrap(),
    ]);
    assert!(!pg.status.success());
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));
}

fn email(key: &str, n: usize) -> NewMessage {
    NewMessage {
        key: key.to_owned(),
        case_id: None,
        topic: blankett_core::store::Topic::parse("signature_requested").unwrap(),
        channel: blankett_core::store::MessageChannel::Email,
        recipient: format!("person{n}@exempelstad.test"),
        payload: serde_json::json!({"subject": "Ämne", "text": "Text"}),
        not_before: blankett_web::clock::Timestamp::from_utc(blankett_web::clock::now_utc()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_lets_the_worker_finish_its_delivery_and_give_back_the_rest() {
    let smtp = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let store = blankett_store::SeaStore::connect(&url).await.unwrap();
    let batch: Vec<NewMessage> = (0..5).map(|i| email(&format!("k-{i}"), i)).collect();
    assert_eq!(store.enqueue(&batch).await.unwrap(), 5);

    smtp.hold_next();
    let smtp_host = format!("{}", smtp.addr.ip());
    let smtp_port = smtp.addr.port().to_string();
    let mut server = Serve::start(
        dir.path(),
        &url,
        &[
            ("BLANKETT__NOTIFY__SMTP__HOST", &smtp_host),
            ("BLANKETT__NOTIFY__SMTP__PORT", &smtp_port),
            ("BLANKETT__NOTIFY__SMTP__SECURITY", "none"),
            (
                "BLANKETT__NOTIFY__SMTP__FROM",
                "Exempelstad <noreply@exempelstad.test>",
            ),
            ("BLANKETT__SERVER__SHUTDOWN_GRACE_SECS", "30"),
        ],
    );
    // The worker has claimed the batch and is delivering the first message when the stop
    // comes; the SMTP server answers only afterwards.
    smtp.wait_stalled(60).await;
    server.signal("TERM");
    until(10, "the listener closing", || server.refuses_connections());
    smtp.release();
    let status = server.wait(60);
    assert!(status.success(), "{}", server.output());

    assert_eq!(smtp.mails().len(), 1, "only the message in hand was sent");
    let all = store.list_messages(None, 100).await.unwrap();
    let sent: Vec<_> = all
        .iter()
        .filter(|m| m.status == MessageStatus::Sent)
        .collect();
    assert_eq!(sent.len(), 1, "{all:?}");
    assert_eq!(sent[0].attempts, 1);
    for m in all.iter().filter(|m| m.status != MessageStatus::Sent) {
        assert_eq!(m.status, MessageStatus::Pending);
        assert_eq!(
            m.attempts, 0,
            "claimed but not tried: given back with no attempt counted"
        );
    }
}

/// The issuing CA a municipality brings: a P-256 key and a CA certificate whose name is its own.
fn municipal_ca(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Exempelstads kommun utfärdande CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Exempelstads kommun");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("ca-key.pem"), key.serialize_pem()).unwrap();
}

/// The request's cookies as a `Cookie` header, and the CSRF token, from a page.
fn cookies_and_csrf(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_production_configuration_starts_against_local_servers() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // BankID: the local RP API server over mTLS, the RP certificate as PKCS#12 (as in the
    // example), the server's CA pinned.
    let pki = bankid_server::Pki::new();
    let bankid = bankid_server::TestServer::start(&pki.server, &pki.client_ca).await;
    std::fs::write(d.join("bankid-root-ca.pem"), &pki.server_ca.cert_pem).unwrap();
    {
        use p12_keystore::{KeyStore, KeyStoreEntry, PrivateKeyChain};
        let key = p12_keystore::PrivateKey::from_der(&pki.client.key.serialize_der()).unwrap();
        let cert = p12_keystore::Certificate::from_der(&pki.client.cert_der).unwrap();
        let mut store = KeyStore::new();
        store.add_entry(
            "rp",
            KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(b"1".to_vec(), key, vec![cert])),
        );
        std::fs::write(
            d.join("rp-certificate.p12"),
            store.writer("change me").write().unwrap(),
        )
        .unwrap();
    }
    // The municipality's own issuing CA, and an https TSA whose server CA is pinned.
    municipal_ca(&d.join("pki"));
    let tsa_ca = bankid_server::Ca::new("Exempelstad TSA server CA");
    std::fs::write(d.join("tsa-server-ca.pem"), &tsa_ca.cert_pem).unwrap();
    // SMTP: the local server (not contacted at start).
    let smtp = SmtpSink::start().await;

    let example = repo().join("examples/blankett.toml");
    let path = |name: &str| format!("\"{}\"", d.join(name).display());
    let defs = format!(
        "[\"{}\", \"{}\"]",
        repo().join("flows").display(),
        repo().join("form-defs").display()
    );
    let smtp_port = smtp.addr.port().to_string();
    let vars: Vec<(&str, String)> = vec![
        ("BLANKETT__DEFINITIONS", defs),
        ("BLANKETT__EID__BANKID__URL", bankid.base_url()),
        (
            "BLANKETT__EID__BANKID__SERVER_CA",
            path("bankid-root-ca.pem"),
        ),
        (
            "BLANKETT__EID__BANKID__CLIENT_P12",
            path("rp-certificate.p12"),
        ),
        ("BLANKETT__SIGNING__PKI_DIR", path("pki")),
        (
            "BLANKETT__SIGNING__TSA_URL",
            "\"https://127.0.0.1:9/tsa\"".to_owned(),
        ),
        (
            "BLANKETT__SIGNING__TSA_SERVER_CA",
            path("tsa-server-ca.pem"),
        ),
        ("BLANKETT__NOTIFY__SMTP__HOST", "\"127.0.0.1\"".to_owned()),
        ("BLANKETT__NOTIFY__SMTP__PORT", smtp_port),
    ];
    let extra: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = sqlite_url(d);
    let mut server =
        Serve::start_with_args(d, &url, &extra, &["--config", example.to_str().unwrap()]);
    let out = server.output();
    assert!(out.contains("production"), "{out}");

    // It serves: the health check, the catalogue, and a BankID login that reaches BankID.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = server.base();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let login = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = cookies_and_csrf(&login);
    assert!(cookie.starts_with("__Host-blankett_csrf="), "{cookie}");
    let html = login.text().await.unwrap();
    let token = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        !html.contains("Test-e-legitimation"),
        "no test eID in production"
    );
    let started = client
        .post(format!("{base}/login/start"))
        .header("cookie", &cookie)
        .form(&[
            ("_csrf", token.as_str()),
            ("provider", "bankid:other-device"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    assert_eq!(started.headers()["location"].to_str().unwrap(), "/eid/wait");
    assert!(
        started.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure"),
        "production cookies are secure"
    );
    assert_eq!(bankid.count("auth"), 1, "BankID was asked over mTLS");

    server.signal("TERM");
    assert!(server.wait(30).success(), "{}", server.output());

    // The development CA is refused, wherever it is put.
    let dev = d.join("copied-dev-pki");
    blankett_pades::DevPki::load_or_create(&dev, blankett_web::clock::now_utc()).unwrap();
    let mut with_dev = extra.clone();
    let dev_dir = format!("\"{}\"", dev.display());
    with_dev.push(("BLANKETT__SIGNING__PKI_DIR", &dev_dir));
    let refused = Serve::try_start(d, &url, &with_dev, &["--config", example.to_str().unwrap()])
        .err()
        .expect("refused");
    assert!(refused.contains("development CA"), "{refused}");
    // A missing issuing CA is refused, not made.
    let mut empty = extra.clone();
    let empty_dir = format!("\"{}\"", d.join("empty-pki").display());
    empty.push(("BLANKETT__SIGNING__PKI_DIR", &empty_dir));
    let refused = Serve::try_start(d, &url, &empty, &["--config", example.to_str().unwrap()])
        .err()
        .expect("refused");
    assert!(refused.contains("ca.pem is missing"), "{refused}");
    assert!(!d.join("empty-pki").join("ca.pem").exists());
}
