//! Document rendering benchmark: `cargo bench -p blankett-cli --bench render`.
//!
//! Renders the LVU decision (made three pages long) with the release build and reports:
//! the median time of one render after warm-up, the throughput of two threads rendering at
//! once, and the process's memory after 1,000 renders of different cases (Typst's cache is
//! evicted by the renderer, so memory must stay bounded). Targets on a 2-core machine:
//! median under 10 ms, RSS under 300 MB.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use blankett_core::document::{RenderOptions, RenderRequest, preview_request, sample_now};
use blankett_core::{Flow, load};
use blankett_pdf::TypstRenderer;
use serde_json::Value;

const WARMUP: usize = 30;
const TIMED: usize = 200;
const PER_THREAD: usize = 100;
const MEMORY_RENDERS: usize = 1000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sources = blankett_web::defs_fs::read(&[root.join("flows/lvu-6"), root.join("form-defs")]);
    let (defs, diags) = load(&sources);
    assert!(!diags.has_errors(), "{:?}", diags.sorted());
    let flow = defs.flow("lvu-6").unwrap();
    let renderer = TypstRenderer::new();

    let base = three_page_answers(flow, &renderer);
    // `BENCH_RENDERS=N`: only render N different cases and stop — for instruction counts
    // under `valgrind --tool=callgrind`, which do not depend on what else the machine does.
    if let Some(n) = std::env::var("BENCH_RENDERS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        for i in 0..n {
            renderer
                .render(&request(flow, &base, i + 1), RenderOptions::default())
                .unwrap();
        }
        return;
    }
    let req = request(flow, &base, 0);
    let first = Instant::now();
    let doc = renderer.render(&req, RenderOptions::default()).unwrap();
    println!(
        "the setup's case again (everything memoised): {:.1} ms, {} pages, {} bytes",
        ms(first.elapsed()),
        doc.pages.len(),
        doc.pdf.len()
    );

    for _ in 0..WARMUP {
        renderer.render(&req, RenderOptions::default()).unwrap();
    }
    let cpu_before = cpu_seconds();
    let mut times: Vec<Duration> = (0..TIMED)
        .map(|i| {
            // A different case each time, as in production: the answers change.
            let req = request(flow, &base, i + 1);
            let t = Instant::now();
            renderer.render(&req, RenderOptions::default()).unwrap();
            t.elapsed()
        })
        .collect();
    let cpu = (cpu_seconds() - cpu_before) * 1000.0 / TIMED as f64;
    times.sort();
    println!(
        "one render, {TIMED} different cases after warm-up: median {:.2} ms, p90 {:.2} ms, min {:.2} ms; CPU {cpu:.2} ms per render",
        ms(times[TIMED / 2]),
        ms(times[TIMED * 9 / 10]),
        ms(times[0])
    );

    let t = Instant::now();
    let prev = renderer
        .render(
            &req,
            RenderOptions {
                preview_scale: Some(1.5),
            },
        )
        .unwrap();
    println!(
        "render with PNG previews at 1.5 px/pt: {:.1} ms ({} pages)",
        ms(t.elapsed()),
        prev.previews.len()
    );

    let t = Instant::now();
    std::thread::scope(|s| {
        for thread in 0..2 {
            let (renderer, base) = (renderer.clone(), &base);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let req = request(flow, base, 10_000 * (thread + 1) + i);
                    renderer.render(&req, RenderOptions::default()).unwrap();
                }
            });
        }
    });
    let elapsed = t.elapsed();
    println!(
        "2 threads × {PER_THREAD} renders: {:.0} documents/s ({:.2} ms per document)",
        (2 * PER_THREAD) as f64 / elapsed.as_secs_f64(),
        ms(elapsed) / (2 * PER_THREAD) as f64
    );

    let before = rss_mb();
    for i in 0..MEMORY_RENDERS {
        let req = request(flow, &base, 100_000 + i);
        renderer.render(&req, RenderOptions::default()).unwrap();
    }
    println!(
        "memory: {:.0} MB RSS before, {:.0} MB RSS after {MEMORY_RENDERS} more renders (peak {:.0} MB)",
        before.0,
        rss_mb().0,
        rss_mb().1
    );

    isolation_cost(flow, &base, &renderer);
}

/// What rendering in a worker process (as `serve`, `check` and `render` do, to bound time and
/// memory) costs per document, side by side with rendering in this process: the same
/// requests, in alternating blocks, in one run.
fn isolation_cost(flow: &Flow, base: &Value, renderer: &TypstRenderer) {
    use blankett_core::document::DocumentRenderer as _;
    let pool = blankett_pdf::pool::RenderPool::new(blankett_pdf::pool::PoolSettings {
        program: env!("CARGO_BIN_EXE_blankett").into(),
        args: vec!["render-worker".into()],
        workers: 1,
        timeout: Duration::from_secs(60),
        memory_mb: 2048,
    });
    for i in 0..WARMUP {
        pool.render(&request(flow, base, 200_000 + i), RenderOptions::default())
            .unwrap();
    }
    const ROUNDS: usize = 5;
    const BLOCK: usize = 40;
    let (mut inside, mut worker) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        for i in 0..BLOCK {
            let req = request(flow, base, 300_000 + round * BLOCK + i);
            let t = Instant::now();
            renderer.render(&req, RenderOptions::default()).unwrap();
            inside.push(t.elapsed());
            let req = request(flow, base, 400_000 + round * BLOCK + i);
            let t = Instant::now();
            pool.render(&req, RenderOptions::default()).unwrap();
            worker.push(t.elapsed());
        }
    }
    inside.sort();
    worker.sort();
    let (a, b) = (ms(inside[inside.len() / 2]), ms(worker[worker.len() / 2]));
    println!(
        "in this process vs in a worker process ({} renders each, interleaved): median {a:.2} ms vs {b:.2} ms, {:+.2} ms ({:+.0} %) per document",
        inside.len(),
        b - a,
        (b - a) / a * 100.0
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The flow's sample answers with longer reasons, so that the decision is three pages.
fn three_page_answers(flow: &Flow, renderer: &TypstRenderer) -> Value {
    let mut a = blankett_core::document::sample_answers(flow).unwrap();
    for times in 2..12 {
        for key in ["home_conditions", "behaviour", "court_cannot_wait"] {
            let text = a["grounds"][key].as_str().unwrap().to_owned();
            let first = text.split("\n\n").next().unwrap().to_owned();
            a["grounds"][key] = Value::String(vec![first; times].join("\n\n"));
        }
        let doc = renderer
            .render(&request(flow, &a, 0), RenderOptions::default())
            .unwrap();
        if doc.pages.len() >= 3 {
            assert_eq!(doc.pages.len(), 3);
            return a;
        }
    }
    panic!("could not make the document three pages long");
}

/// Case number `case`: another reference, another child, another decision time — what
/// differs between two LVU decisions — while the legal text stays the same.
fn request(flow: &Flow, base: &Value, case: usize) -> RenderRequest {
    let mut a = base.clone();
    a["matter"]["case_reference"] = Value::String(format!("SN 2026/{case:05}"));
    let names = [
        "Tolvan Tolvansson",
        "Åsa Öberg",
        "Sven Svensson",
        "Lisa Lindqvist",
    ];
    a["child"]["child"]["name"] = Value::String(format!("{} {case}", names[case % names.len()]));
    a["decision"]["decided_at"] = Value::String(format!(
        "2026-11-{:02}T{:02}:{:02}",
        1 + case % 28,
        8 + case % 10,
        case % 60
    ));
    preview_request(flow, &a, sample_now()).unwrap()
}

/// Resident and peak resident memory of this process in MB (Linux).
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) this process has used, in seconds (Linux). Less disturbed than
/// wall-clock time when other work shares the machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let ticks = f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0);
    ticks / 100.0
}
