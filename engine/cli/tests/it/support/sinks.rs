//! Local stand-ins for the outside services the notifications go to, speaking their real
//! protocols: an SMTP server and an HTTP receiver (SMS gateway and webhooks).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A message the SMTP server accepted (answered `250` to its data).
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub message_id: String,
    pub raw: String,
}

/// An SMTP server on 127.0.0.1. With `stall_next`, it takes the next message's data and then
/// never answers, as a server that is slow to accept: the client may give up or die then.
pub struct SmtpSink {
    pub addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Mail>>>,
    count: watch::Receiver<usize>,
    stall: Arc<AtomicBool>,
    stalled: watch::Receiver<bool>,
    hold: Arc<AtomicBool>,
    released: Arc<watch::Sender<bool>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (count_tx, count) = watch::channel(0usize);
        let (stalled_tx, stalled) = watch::channel(false);
        let stall = Arc::new(AtomicBool::new(false));
        let hold = Arc::new(AtomicBool::new(false));
        let (released_tx, _) = watch::channel(false);
        let released = Arc::new(released_tx);
        let count_tx = Arc::new(count_tx);
        let stalled_tx = Arc::new(stalled_tx);
        {
            let accepted = accepted.clone();
            let stall = stall.clone();
            let hold = hold.clone();
            let released = released.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        return;
                    };
                    let accepted = accepted.clone();
                    let stall = stall.clone();
                    let count_tx = count_tx.clone();
                    let stalled_tx = stalled_tx.clone();
                    let hold = (hold.clone(), released.subscribe());
                    tokio::spawn(async move {
                        let _ = session(sock, accepted, stall, count_tx, stalled_tx, hold).await;
                    });
                }
            });
        }
        SmtpSink {
            addr,
            accepted,
            count,
            stall,
            stalled,
            hold,
            released,
        }
    }

    pub fn stall_next(&self) {
        self.stall.store(true, Ordering::SeqCst);
    }

    /// Holds the reply to the next message's data until [`SmtpSink::release`], then accepts
    /// it: a slow server that does answer.
    pub fn hold_next(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.released.send_replace(true);
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.accepted.lock().unwrap().clone()
    }

    /// Waits until `n` messages were accepted (at most `secs` seconds).
    pub async fn wait_for(&self, n: usize, secs: u64) {
        let mut rx = self.count.clone();
        let waited =
            tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|c| *c >= n)).await;
        assert!(
            waited.is_ok(),
            "the SMTP server got {} of {n} messages in {secs} s",
            self.mails().len()
        );
    }

    /// Waits until a message is being held (see [`SmtpSink::stall_next`]).
    pub async fn wait_stalled(&self, secs: u64) {
        let mut rx = self.stalled.clone();
        let waited = tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|s| *s)).await;
        assert!(
            waited.is_ok(),
            "no message reached the SMTP server in {secs} s"
        );
    }
}

async fn session(
    sock: tokio::net::TcpStream,
    accepted: Arc<Mutex<Vec<Mail>>>,
    stall: Arc<AtomicBool>,
    count_tx: Arc<watch::Sender<usize>>,
    stalled_tx: Arc<watch::Sender<bool>>,
    (hold, mut released): (Arc<AtomicBool>, watch::Receiver<bool>),
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") {
            w.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if cmd.starts_with("HELO") || cmd.starts_with("MAIL FROM") || cmd == "NOOP" {
            w.write_all(b"250 OK\r\n").await?;
        } else if cmd.starts_with("RSET") {
            to.clear();
            w.write_all(b"250 OK\r\n").await?;
        } else if cmd.starts_with("RCPT TO:") {
            let addr = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned();
            to.push(addr);
            w.write_all(b"250 OK\r\n").await?;
        } else if cmd == "DATA" {
            w.write_all(b"354 go ahead\r\n").await?;
            let mut raw = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                raw.push_str(&line);
            }
            if hold.swap(false, Ordering::SeqCst) {
                stalled_tx.send_replace(true);
                let _ = released.wait_for(|r| *r).await;
            } else if stall.swap(false, Ordering::SeqCst) {
                // Hold the reply: the message counts only when `250` is sent. The client
                // goes away (killed) and the message is dropped, as by a real server.
                stalled_tx.send_replace(true);
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                }
            }
            let message_id = raw
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Message-ID:")
                        .or_else(|| l.strip_prefix("Message-Id:"))
                })
                .unwrap_or_default()
                .trim()
                .to_owned();
            let n = {
                let mut a = accepted.lock().unwrap();
                a.push(Mail {
                    to: std::mem::take(&mut to),
                    message_id,
                    raw,
                });
                a.len()
            };
            w.write_all(b"250 OK queued\r\n").await?;
            count_tx.send_replace(n);
        } else if cmd == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 not implemented\r\n").await?;
        }
    }
}

/// A request the HTTP receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// What it answered.
    pub status: u16,
}

/// An HTTP receiver on 127.0.0.1: `POST /sms` (an SMS gateway) answers 202; `POST /hook`
/// (a webhook receiver) answers 500 to the first `fail_first` attempts of each delivery, then
/// 204.
pub struct HttpSink {
    pub addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    count: watch::Receiver<usize>,
}

#[derive(Clone)]
struct HttpState {
    hits: Arc<Mutex<Vec<Hit>>>,
    fail_first: usize,
    count_tx: Arc<watch::Sender<usize>>,
}

impl HttpSink {
    pub async fn start(fail_first: usize) -> HttpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (count_tx, count) = watch::channel(0usize);
        let state = HttpState {
            hits: hits.clone(),
            fail_first,
            count_tx: Arc::new(count_tx),
        };
        let app = Router::new()
            .route("/sms", post(receive))
            .route("/hook", post(receive))
            .with_state(state);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HttpSink { addr, hits, count }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `n` requests were answered with success (at most `secs` seconds).
    pub async fn wait_for_ok(&self, n: usize, secs: u64) {
        let mut rx = self.count.clone();
        let waited =
            tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|c| *c >= n)).await;
        assert!(
            waited.is_ok(),
            "the HTTP receiver answered {} of {n} requests with success in {secs} s",
            *self.count.borrow()
        );
    }
}

async fn receive(
    State(s): State<HttpState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_owned();
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let mut hits = s.hits.lock().unwrap();
    let status = if path == "/hook" {
        let id = headers
            .get("blankett-delivery")
            .cloned()
            .unwrap_or_default();
        let earlier = hits
            .iter()
            .filter(|h| h.headers.get("blankett-delivery") == Some(&id))
            .count();
        if earlier < s.fail_first { 500 } else { 204 }
    } else {
        202
    };
    hits.push(Hit {
        path,
        headers,
        body: body.to_vec(),
        status,
    });
    let ok = hits.iter().filter(|h| h.status < 300).count();
    drop(hits);
    s.count_tx.send_replace(ok);
    StatusCode::from_u16(status).unwrap()
}
