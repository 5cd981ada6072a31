//! Architecture rules that a reviewer would otherwise have to remember.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every package `blankett-core` depends on, transitively, from Cargo.lock (normal and dev
/// dependencies alike, which is stricter than needed).
fn core_closure() -> BTreeSet<String> {
    let lock: toml::Table = std::fs::read_to_string(root().join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    for p in lock["package"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_owned();
        let list: Vec<String> = p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|a| {
                a.iter()
                    .map(|d| d.as_str().unwrap().split(' ').next().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        deps.entry(name).or_default().extend(list);
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec!["blankett-core".to_owned()];
    while let Some(n) = todo.pop() {
        if seen.insert(n.clone()) {
            todo.extend(deps.get(&n).cloned().unwrap_or_default());
        }
    }
    seen
}

#[test]
fn core_depends_on_no_runtime_framework_database_renderer_or_http_client() {
    let closure = core_closure();
    assert!(
        closure.contains("minijinja"),
        "the lock file walk found nothing: {closure:?}"
    );
    for banned in [
        "tokio", "axum", "sea-orm", "sqlx", "typst", "reqwest", "hyper", "lettre",
    ] {
        assert!(
            !closure.contains(banned),
            "engine/core must not depend on {banned} (even transitively)"
        );
    }
}

#[test]
fn core_reads_no_clock_and_no_environment() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("engine/core/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let ws: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(manifest["dependencies"].get("chrono").is_some());
    let chrono = &ws["workspace"]["dependencies"]["chrono"];
    assert_eq!(
        chrono.get("default-features").and_then(|v| v.as_bool()),
        Some(false),
        "chrono without its clock"
    );
    let features: Vec<&str> = chrono["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !features.contains(&"clock") && !features.contains(&"now"),
        "{features:?}"
    );
    let mut files = Vec::new();
    let mut dirs = vec![root().join("engine/core/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for banned in [
            "SystemTime::now",
            "Instant::now",
            "std::env::var",
            "std::fs::",
            "std::net::",
            "rand::",
        ] {
            assert!(!text.contains(banned), "{} uses {banned}", path.display());
        }
    }
}

#[test]
fn every_crate_uses_the_workspace_lints() {
    let workspace: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let members = workspace["workspace"]["members"].as_array().unwrap();
    assert!(members.len() >= 5, "{members:?}");
    for krate in members.iter().map(|m| m.as_str().unwrap()) {
        let m: toml::Table = std::fs::read_to_string(root().join(krate).join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(m["lints"]["workspace"].as_bool(), Some(true), "{krate}");
    }
}
