//! Rendering in worker processes, bounded in time and memory.
//!
//! Typst cannot be interrupted: a template that loops (`#for i in range(100000000) [x]`) keeps
//! its thread busy for as long as it likes, and one that allocates without end aborts the
//! process on a failed allocation. So a server (and `blankett check`) renders in separate
//! processes — this binary, started as `blankett render-worker` — that the caller watches
//! while they render: a worker is killed when the rendering passes its time, or when the
//! memory it holds (its resident set, read from `/proc` every 20 ms) passes its limit. A killed
//! or crashed worker is replaced on the next rendering; nothing else notices.
//!
//! Workers are long-lived (the fonts and Typst's caches stay warm) and take one rendering at a
//! time over their standard input and output: a frame is a little-endian `u32` length, a JSON
//! header, then the files (or the PDF and page images) as length-prefixed bytes.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use blankett_core::Diagnostic;
use blankett_core::document::{
    DocumentMeta, DocumentRenderer, RenderError, RenderOptions, RenderRequest, RenderedDocument,
    SignatureField,
};
use blankett_core::time::Timestamp as Moment;
use serde::{Deserialize, Serialize};

use crate::TypstRenderer;

/// The first line a worker writes, so the pool knows the program really is one.
const HELLO: &[u8] = b"blankett-render-worker 1\n";

/// Largest frame read from either side (a PDF with its page images fits many times over).
const MAX_FRAME: u64 = 512 * 1024 * 1024;

/// How to start workers and how far a rendering may go.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// The program and its arguments (normally this binary and `render-worker`).
    pub program: PathBuf,
    pub args: Vec<String>,
    /// How many workers render at once.
    pub workers: usize,
    pub timeout: Duration,
    /// Memory a worker may hold while rendering, in MB (its resident set).
    pub memory_mb: u64,
}

/// Workers that render, at most `workers` at a time. Implements [`DocumentRenderer`].
pub struct RenderPool {
    settings: PoolSettings,
    idle: Mutex<Slots>,
    freed: Condvar,
}

struct Slots {
    /// Started workers waiting for a rendering.
    idle: Vec<Worker>,
    /// Workers out rendering, or slots free to start one: `busy + idle.len() <= workers`.
    busy: usize,
    closed: bool,
}

struct Worker {
    child: Arc<Mutex<Child>>,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WireRequest {
    template: String,
    dir: String,
    data: serde_json::Value,
    meta: DocumentMeta,
    now: Moment,
    preview_scale: Option<f32>,
    /// The names of the files that follow the header, in order.
    files: Vec<String>,
}

#[derive(Serialize, Deserialize)]
enum WireResult {
    Done {
        sha256: String,
        pages: Vec<(f64, f64)>,
        signature_fields: Vec<SignatureField>,
        warnings: Vec<Diagnostic>,
        /// Page images that follow the PDF.
        previews: usize,
    },
    Template(Vec<Diagnostic>),
    UnsupportedCharacters(Vec<char>),
    MissingSignatureFields(Vec<String>),
    Export(String),
}

impl RenderPool {
    /// A pool that starts its workers on first use. [`RenderPool::check`] starts one at once
    /// to learn early whether the program works.
    pub fn new(settings: PoolSettings) -> RenderPool {
        RenderPool {
            settings,
            idle: Mutex::new(Slots {
                idle: Vec::new(),
                busy: 0,
                closed: false,
            }),
            freed: Condvar::new(),
        }
    }

    /// Starts one worker and keeps it: an error says why rendering cannot work here.
    pub fn check(&self) -> Result<(), RenderError> {
        let w = self.spawn()?;
        self.put_back(Some(w));
        Ok(())
    }

    /// Stops every idle worker and refuses new renderings.
    pub fn close(&self) {
        if let Ok(mut s) = self.idle.lock() {
            s.closed = true;
            s.idle.clear();
        }
        self.freed.notify_all();
    }

    fn spawn(&self) -> Result<Worker, RenderError> {
        let s = &self.settings;
        let mut child = Command::new(&s.program)
            .args(&s.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                RenderError::Unavailable(format!("{} cannot be started: {e}", s.program.display()))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(RenderError::Unavailable("the worker has no pipes".into()));
        };
        let child = Arc::new(Mutex::new(child));
        let mut stdout = BufReader::new(stdout);
        // The greeting, within the rendering timeout: a program that is not a worker (or
        // hangs) is found out here.
        let mut hello = vec![0u8; HELLO.len()];
        let greeted = with_deadline(&child, s.timeout, u64::MAX, || {
            stdout.read_exact(&mut hello)
        });
        if greeted.is_err() || hello != HELLO {
            if let Ok(mut c) = child.lock() {
                let _ = c.kill();
                let _ = c.wait();
            }
            return Err(RenderError::Unavailable(format!(
                "{} {} is not a Blankett render worker (set render.worker_program to the blankett binary)",
                s.program.display(),
                s.args.join(" ")
            )));
        }
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    /// A worker for one rendering: an idle one, a new one, or (when all are busy) the next
    /// one freed.
    fn take(&self) -> Result<Worker, RenderError> {
        let mut slots = self
            .idle
            .lock()
            .map_err(|_| RenderError::Unavailable("the worker pool is broken".into()))?;
        loop {
            if slots.closed {
                return Err(RenderError::Unavailable("the server is stopping".into()));
            }
            if let Some(w) = slots.idle.pop() {
                slots.busy += 1;
                return Ok(w);
            }
            if slots.busy < self.settings.workers.max(1) {
                slots.busy += 1;
                drop(slots);
                return self.spawn().inspect_err(|_| self.put_back(None));
            }
            slots = self
                .freed
                .wait(slots)
                .map_err(|_| RenderError::Unavailable("the worker pool is broken".into()))?;
        }
    }

    /// Returns a worker after a rendering (`None`: it was lost, its slot is free).
    fn put_back(&self, w: Option<Worker>) {
        if let Ok(mut slots) = self.idle.lock() {
            slots.busy = slots.busy.saturating_sub(1);
            if let Some(w) = w
                && !slots.closed
            {
                slots.idle.push(w);
            }
        }
        self.freed.notify_one();
    }

    fn render_with(
        &self,
        w: &mut Worker,
        req: &RenderRequest,
        opts: RenderOptions,
    ) -> Result<RenderedDocument, RenderError> {
        let template = format!("{}/{}", req.dir.trim_end_matches('/'), req.template);
        let header = WireRequest {
            template: req.template.clone(),
            dir: req.dir.clone(),
            data: req.data.clone(),
            meta: req.meta.clone(),
            now: req.now,
            preview_scale: opts.preview_scale,
            files: req.files.keys().cloned().collect(),
        };
        let lost = |e: std::io::Error| RenderError::Unavailable(format!("the worker: {e}"));
        let child = w.child.clone();
        let timeout = self.settings.timeout;
        let memory = self.settings.memory_mb.saturating_mul(1024 * 1024);
        let outcome = with_deadline(&child, timeout, memory, || -> std::io::Result<_> {
            write_json(&mut w.stdin, &header)?;
            for bytes in req.files.values() {
                write_blob(&mut w.stdin, bytes)?;
            }
            w.stdin.flush()?;
            let result: WireResult = read_json(&mut w.stdout)?;
            let mut blobs = Vec::new();
            let count = match &result {
                WireResult::Done { previews, .. } => 1 + previews,
                _ => 0,
            };
            for _ in 0..count {
                blobs.push(read_blob(&mut w.stdout)?);
            }
            Ok((result, blobs))
        });
        let (result, mut blobs) = match outcome {
            Ok(r) => r,
            Err(Interrupted::Deadline) => {
                return Err(RenderError::TimedOut {
                    template,
                    secs: timeout.as_secs(),
                });
            }
            Err(Interrupted::Memory) => {
                return Err(RenderError::OutOfMemory {
                    template,
                    mb: self.settings.memory_mb,
                });
            }
            Err(Interrupted::Io(e)) => {
                // The worker died: out of memory (it aborts when an allocation fails), or
                // killed from outside.
                let status = child.lock().ok().and_then(|mut c| c.wait().ok());
                return Err(match status {
                    Some(st) if aborted(&st) => RenderError::OutOfMemory {
                        template,
                        mb: self.settings.memory_mb,
                    },
                    Some(st) => RenderError::Unavailable(format!(
                        "the rendering process ended ({st}) while making {template}"
                    )),
                    None => lost(e),
                });
            }
        };
        match result {
            WireResult::Done {
                sha256,
                pages,
                signature_fields,
                warnings,
                ..
            } => {
                let previews = blobs.split_off(1.min(blobs.len()));
                let pdf = blobs.pop().unwrap_or_default();
                Ok(RenderedDocument {
                    pdf,
                    sha256: sha256.into(),
                    pages,
                    signature_fields,
                    previews,
                    warnings,
                })
            }
            WireResult::Template(d) => Err(RenderError::Template(d)),
            WireResult::UnsupportedCharacters(c) => Err(RenderError::UnsupportedCharacters(c)),
            WireResult::MissingSignatureFields(f) => Err(RenderError::MissingSignatureFields(f)),
            WireResult::Export(m) => Err(RenderError::Export(m)),
        }
    }
}

impl DocumentRenderer for RenderPool {
    fn render(
        &self,
        req: &RenderRequest,
        opts: RenderOptions,
    ) -> Result<RenderedDocument, RenderError> {
        let mut w = self.take()?;
        let result = self.render_with(&mut w, req, opts);
        let healthy = !matches!(
            result,
            Err(RenderError::TimedOut { .. }
                | RenderError::OutOfMemory { .. }
                | RenderError::Unavailable(_))
        );
        self.put_back(healthy.then_some(w));
        result
    }
}

impl Drop for RenderPool {
    fn drop(&mut self) {
        self.close();
    }
}

/// Whether a worker ended by `abort()`, which is what a failed allocation does.
fn aborted(status: &std::process::ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        status.signal() == Some(6)
    }
    #[cfg(not(unix))]
    {
        !status.success()
    }
}

enum Interrupted {
    Deadline,
    Memory,
    Io(std::io::Error),
}

/// How often a watchdog looks at the worker.
const WATCH_EVERY: Duration = Duration::from_millis(20);

/// The resident memory of process `pid` in bytes (Linux; `None` elsewhere).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `work` (which talks to the worker) while a watchdog kills the worker when `timeout`
/// passes first or its memory passes `max_bytes`; killing it ends the pipes, so `work`
/// returns.
fn with_deadline<T>(
    child: &Arc<Mutex<Child>>,
    timeout: Duration,
    max_bytes: u64,
    work: impl FnOnce() -> std::io::Result<T>,
) -> Result<T, Interrupted> {
    let done = Arc::new((Mutex::new(false), Condvar::new()));
    // 0: still running; 1: out of time; 2: out of memory.
    let fired = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let pid = child.lock().map(|c| c.id()).unwrap_or(0);
    let watchdog = {
        let done = done.clone();
        let fired = fired.clone();
        let child = child.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let (lock, cv) = &*done;
            let Ok(mut guard) = lock.lock() else { return };
            loop {
                if *guard {
                    return;
                }
                let left = timeout.saturating_sub(started.elapsed());
                let verdict = if left.is_zero() {
                    1
                } else if resident_bytes(pid).is_some_and(|b| b > max_bytes) {
                    2
                } else {
                    0
                };
                if verdict != 0 {
                    fired.store(verdict, std::sync::atomic::Ordering::SeqCst);
                    if let Ok(mut c) = child.lock() {
                        let _ = c.kill();
                    }
                    return;
                }
                match cv.wait_timeout(guard, left.min(WATCH_EVERY)) {
                    Ok((g, _)) => guard = g,
                    Err(_) => return,
                }
            }
        })
    };
    let result = work();
    {
        let (lock, cv) = &*done;
        if let Ok(mut d) = lock.lock() {
            *d = true;
        }
        cv.notify_all();
    }
    let _ = watchdog.join();
    match fired.load(std::sync::atomic::Ordering::SeqCst) {
        1 => Err(Interrupted::Deadline),
        2 => Err(Interrupted::Memory),
        _ => result.map_err(Interrupted::Io),
    }
}

fn write_json<T: Serialize>(w: &mut impl Write, v: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    write_blob(w, &bytes)
}

fn read_json<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> std::io::Result<T> {
    let bytes = read_blob(r)?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

fn write_blob(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(&(bytes.len() as u64).to_le_bytes())?;
    w.write_all(bytes)
}

fn read_blob(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(std::io::Error::other("a frame larger than allowed"));
    }
    let mut buf = vec![0u8; usize::try_from(len).map_err(std::io::Error::other)?];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// The worker's side: greets, then renders one request after another from `input` to
/// `output` until `input` ends. The pool that started it watches its time and memory.
pub fn worker_main(input: &mut impl Read, output: &mut impl Write) -> std::io::Result<()> {
    let renderer = TypstRenderer::new();
    output.write_all(HELLO)?;
    output.flush()?;
    loop {
        let header: WireRequest = match read_json(input) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut files = BTreeMap::new();
        for name in &header.files {
            files.insert(name.clone(), read_blob(input)?);
        }
        let req = RenderRequest {
            files: Arc::new(files),
            template: header.template,
            dir: header.dir,
            data: header.data,
            meta: header.meta,
            now: header.now,
        };
        let opts = RenderOptions {
            preview_scale: header.preview_scale,
        };
        match renderer.render(&req, opts) {
            Ok(doc) => {
                write_json(
                    output,
                    &WireResult::Done {
                        sha256: doc.sha256.to_string(),
                        pages: doc.pages,
                        signature_fields: doc.signature_fields,
                        warnings: doc.warnings,
                        previews: doc.previews.len(),
                    },
                )?;
                write_blob(output, &doc.pdf)?;
                for p in &doc.previews {
                    write_blob(output, p)?;
                }
            }
            Err(e) => {
                let wire = match e {
                    RenderError::Template(d) => WireResult::Template(d),
                    RenderError::UnsupportedCharacters(c) => WireResult::UnsupportedCharacters(c),
                    RenderError::MissingSignatureFields(f) => WireResult::MissingSignatureFields(f),
                    other => WireResult::Export(other.to_string()),
                };
                write_json(output, &wire)?;
            }
        }
        output.flush()?;
    }
}
