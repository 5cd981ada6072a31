//! Signing benchmark: `cargo bench -p blankett-cli --bench sign`.
//!
//! Reports the median time of one PAdES signature on a ~200 kB PDF/A — one-time P-256 key,
//! its certificate from the development CA, the visible appearance, the incremental update,
//! hashing and CMS — without a TSA round trip (B-B), then with the in-process development TSA
//! (B-T), and the whole-process time of `blankett dev sign-pdf`. Target: under 2.5 ms per
//! signature in-process on a 2-core machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blankett_pades::pdf::Update;
use blankett_pades::{DevPki, DevTsa, Pades, Placement, SignatureRequest, SignerIdentity};
use blankett_web::clock;

const WARMUP: usize = 20;
const TIMED: usize = 300;
const PROCESS_RUNS: usize = 20;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pdf =
        about_200_kb(&std::fs::read(root.join("engine/pades/tests/fixtures/lvu-6.pdf")).unwrap());
    let now = clock::now_utc();
    let pki = Arc::new(DevPki::generate(now, None).unwrap());
    let identity = SignerIdentity {
        given_name: "Tolvan".into(),
        surname: "Tolvansson".into(),
        full_name: "Tolvan Tolvansson".into(),
        personnummer: Some("197701172392".into()),
    };
    let request = SignatureRequest {
        field: "case_worker",
        placement: Some(Placement {
            page: 2,
            rect: [70.87, 562.89, 283.46, 630.92],
        }),
        identity: &identity,
        role: "Handläggare",
        method: "BankID",
        time: now,
        note: None,
    };
    // `BENCH_SIGNS=N`: only sign N times (B-B) and stop — for instruction counts under
    // `valgrind --tool=callgrind`.
    if let Some(n) = std::env::var("BENCH_SIGNS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let pades = Pades::new(pki.clone());
        for _ in 0..n {
            pades.sign(&pdf, &request).unwrap();
        }
        return;
    }
    println!("input: {} bytes", pdf.len());

    let bb = Pades::new(pki.clone());
    report("one signature, B-B (no TSA)", &bb, &pdf, &request);
    let bt = Pades::new(pki.clone()).with_tsa(Arc::new(
        DevTsa::new(&pki, Arc::new(clock::now_utc)).unwrap(),
    ));
    report(
        "one signature, B-T (in-process development TSA)",
        &bt,
        &pdf,
        &request,
    );

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, &pdf).unwrap();
    let exe = env!("CARGO_BIN_EXE_blankett");
    let run = || {
        let out = Command::new(exe)
            .args(["dev", "sign-pdf"])
            .arg(&input)
            .arg("--out")
            .arg(dir.path().join("out.pdf"))
            .args([
                "--name",
                "Tolvan Tolvansson",
                "--personnummer",
                "197701172392",
            ])
            .args([
                "--field",
                "case_worker",
                "--page",
                "2",
                "--rect",
                "70.87,562.89,283.46,630.92",
            ])
            .arg("--pki-dir")
            .arg(dir.path().join("pki"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(); // generates the development PKI once
    let mut times: Vec<Duration> = (0..PROCESS_RUNS)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "`blankett dev sign-pdf` (B-T), whole process: median {:.1} ms, min {:.1} ms",
        ms(times[PROCESS_RUNS / 2]),
        ms(times[0])
    );
}

fn report(label: &str, pades: &Pades, pdf: &[u8], request: &SignatureRequest<'_>) {
    for _ in 0..WARMUP {
        pades.sign(pdf, request).unwrap();
    }
    let mut times: Vec<Duration> = (0..TIMED)
        .map(|_| {
            let t = Instant::now();
            let signed = pades.sign(pdf, request).unwrap();
            let elapsed = t.elapsed();
            assert!(signed.len() > pdf.len());
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "{label}: median {:.3} ms, p90 {:.3} ms, min {:.3} ms",
        ms(times[TIMED / 2]),
        ms(times[TIMED * 9 / 10]),
        ms(times[0])
    );
}

/// The LVU decision grown to about 200 kB by an incremental update that adds an unreferenced
/// 160 kB stream of incompressible bytes (like an embedded photo): hashing scales with size.
fn about_200_kb(pdf: &[u8]) -> Vec<u8> {
    let mut update = Update::open(pdf).unwrap();
    let id = update.allocate();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..160 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    update.put_stream(id, "", &noise);
    update.write().unwrap().bytes
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
