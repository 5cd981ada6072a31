//! Architecture rules that a reviewer would otherwise have to remember.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

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
            "Utc::now",
            "Local::now",
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

/// The dependency entries of a member manifest that name their own version or path instead of
/// the workspace's (`name = "1"`, `name = { version = … }`, `name = { path = … }`).
fn own_pins(manifest: &toml::Table) -> Vec<String> {
    let mut tables: Vec<(String, &toml::Table)> = Vec::new();
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(t) = manifest.get(key).and_then(|v| v.as_table()) {
            tables.push((key.to_owned(), t));
        }
    }
    if let Some(targets) = manifest.get("target").and_then(|v| v.as_table()) {
        for (cfg, t) in targets {
            for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
                if let Some(t) = t.get(key).and_then(|v| v.as_table()) {
                    tables.push((format!("target.{cfg}.{key}"), t));
                }
            }
        }
    }
    let mut pins = Vec::new();
    for (table, deps) in tables {
        for (name, spec) in deps {
            let from_workspace = spec
                .as_table()
                .and_then(|t| t.get("workspace"))
                .and_then(|w| w.as_bool())
                == Some(true);
            if !from_workspace {
                pins.push(format!("[{table}] {name} = {spec}"));
            }
        }
    }
    pins
}

#[test]
fn the_own_pin_finder_finds_pins() {
    let m: toml::Table = r#"
        [dependencies]
        a.workspace = true
        b = { workspace = true, features = ["x"] }
        c = "1"
        d = { version = "0.2", features = ["y"] }
        [dev-dependencies]
        e = { path = "../e" }
        [target.'cfg(unix)'.dependencies]
        f = "2"
    "#
    .parse()
    .unwrap();
    let pins = own_pins(&m);
    assert_eq!(pins.len(), 4, "{pins:?}");
}

#[test]
fn every_dependency_version_is_set_once_in_the_root_manifest() {
    let workspace: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let members = workspace["workspace"]["members"].as_array().unwrap();
    let mut pins = Vec::new();
    for krate in members.iter().map(|m| m.as_str().unwrap()) {
        let m: toml::Table = std::fs::read_to_string(root().join(krate).join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        pins.extend(own_pins(&m).into_iter().map(|p| format!("{krate}: {p}")));
    }
    assert!(
        pins.is_empty(),
        "these name their own version or path; move them to [workspace.dependencies] and write `name.workspace = true`:\n{}",
        pins.join("\n")
    );
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_doors_change_cases_only_through_the_application_layer() {
    // The case machine and the case write are reached through `blankett_app::commands`
    // (decide, run, write): one place for the lost race, the notifications in the same
    // transaction, and access.
    let mut files = Vec::new();
    rust_files(&root().join("engine/web/src"), &mut files);
    assert!(files.len() > 20, "{files:?}");
    let mut found = Vec::new();
    for f in files {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for needle in ["case::apply(", ".update_case("] {
            if code.contains(needle) {
                found.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "call blankett_app::commands instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_web_door_reaches_the_store_only_through_the_application_service() {
    // The pages and the API read and write through `blankett_app::service::Service`; only the
    // composition root (`state.rs`, which connects the database and hands it to the service)
    // names the store.
    let mut files = Vec::new();
    rust_files(&root().join("engine/web/src/app"), &mut files);
    assert!(files.len() > 20, "{files:?}");
    let mut found = Vec::new();
    for f in files {
        if f.ends_with("app/state.rs") {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for needle in [
            ".store()",
            "dyn Store",
            "store::Store",
            "{Store",
            " Store,",
            " Store}",
            "blankett_store",
            "SeaStore",
            "commands::run(",
            "commands::start(",
            "commands::run_with(",
        ] {
            // A whole name: `store::Store` is not `store::StoreError`.
            let whole = code.match_indices(needle).any(|(i, _)| {
                !code[i + needle.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if whole {
                found.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "call the application service (blankett_app::service::Service) instead:\n{}",
        found.join("\n")
    );
}

// ---- no import circles between modules -----------------------------------------------------

/// A crate's modules: module path (`["app", "journey"]`; the crate root is `[]`) → file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut mods = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.first().map(String::as_str) == Some("bin") {
                continue;
            }
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            mods.insert(parts, path);
        }
    }
    mods
}

/// Rust source with comments, strings and character literals blanked, so only code is left.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let rest = |k: usize| c.get(i + k).copied();
        if c[i] == '/' && rest(1) == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && rest(1) == Some('*') {
            i += 2;
            while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c[i] == 'r'
            && matches!(rest(1), Some('"' | '#'))
            && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
        {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() {
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && rest(1) == Some('\\') {
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' && rest(2) == Some('\'') {
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The paths a `use` tree names (`a::{b, c::d as e}` → `a::b`, `a::c::d`).
fn use_paths(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let mut p = prefix.to_vec();
        let tree = tree.split(" as ").next().unwrap_or(tree);
        p.extend(
            tree.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "*")
                .map(str::to_owned),
        );
        out.push(p);
        return;
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let mut head = prefix.to_vec();
    head.extend(
        tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    let (mut depth, mut start) = (0, open + 1);
    let inner_end = close;
    let bytes = tree.as_bytes();
    for k in open + 1..=inner_end {
        let b = if k < inner_end { bytes[k] } else { b',' };
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                let part = tree[start..k].trim();
                if part == "self" {
                    out.push(head.clone());
                } else if !part.is_empty() {
                    use_paths(part, &head, out);
                }
                start = k + 1;
            }
            _ => {}
        }
    }
}

/// The paths at the start of `crate::`, `super::`, `self::` chains and of a child module's
/// name followed by `::`.
fn inline_paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    let mut k = 0;
    while k < chars.len() {
        let (pos, ch) = chars[k];
        let starts_word = is_ident(ch)
            && (k == 0 || {
                let prev = chars[k - 1].1;
                !is_ident(prev) && prev != ':'
            });
        if !starts_word {
            k += 1;
            continue;
        }
        let mut end = k;
        while end < chars.len() && (is_ident(chars[end].1) || chars[end].1 == ':') {
            end += 1;
        }
        let stop = chars.get(end).map_or(code.len(), |c| c.0);
        let word = &code[pos..stop];
        let parts: Vec<String> = word.split("::").map(str::to_owned).collect();
        if parts.len() > 1
            && (matches!(parts[0].as_str(), "crate" | "super" | "self")
                || children.contains(&parts[0]))
        {
            out.push(parts.into_iter().filter(|p| !p.is_empty()).collect());
        }
        k = end.max(k + 1);
    }
    out
}

/// Module → the modules it refers to, leaving out its own ancestors (a module sees what its
/// parents hold, as the module tree says it does).
fn module_edges(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mods = modules(src);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, file) in &mods {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let children: BTreeSet<String> = mods
            .keys()
            .filter(|c| c.len() == m.len() + 1 && c.starts_with(m))
            .map(|c| c[m.len()].clone())
            .collect();
        let mut paths = Vec::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("use ") {
            let before = rest[..at].chars().last();
            let after = &rest[at + 4..];
            if before.is_none_or(|b| !(b.is_alphanumeric() || b == '_'))
                && let Some(end) = after.find(';')
            {
                use_paths(&after[..end], &[], &mut paths);
            }
            rest = after;
        }
        paths.extend(inline_paths(&code, &children));
        for path in paths {
            let Some(first) = path.first() else { continue };
            let absolute: Vec<String> = match first.as_str() {
                "crate" => path[1..].to_vec(),
                "super" => {
                    let ups = path.iter().take_while(|p| *p == "super").count();
                    let mut base = m[..m.len().saturating_sub(ups)].to_vec();
                    base.extend_from_slice(&path[ups..]);
                    base
                }
                "self" => [m.as_slice(), &path[1..]].concat(),
                c if children.contains(c) => [m.as_slice(), &path].concat(),
                _ => continue,
            };
            let Some(target) = (1..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|p| mods.contains_key(p))
            else {
                continue;
            };
            if m.starts_with(&target) {
                continue;
            }
            edges.entry(m.clone()).or_default().insert(target);
        }
    }
    edges
}

/// Every circle of references, each as the modules around it.
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    fn visit(
        n: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut HashMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        found: &mut Vec<Vec<String>>,
    ) {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for next in edges.get(n).into_iter().flatten() {
            match state.get(next) {
                None => visit(next, edges, state, stack, found),
                Some(1) => {
                    let from = stack.iter().position(|s| s == next).unwrap_or(0);
                    found.push(
                        stack[from..]
                            .iter()
                            .chain(std::iter::once(next))
                            .map(|p| {
                                if p.is_empty() {
                                    "crate".to_owned()
                                } else {
                                    p.join("::")
                                }
                            })
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
    }
    let mut state = HashMap::new();
    let mut found = Vec::new();
    for n in edges.keys() {
        if !state.contains_key(n) {
            visit(n, edges, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("app")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod app;\nmod other;\n").unwrap();
    std::fs::write(src.join("app/mod.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(
        src.join("app/a.rs"),
        "use super::b::{x, y as z};\n// use crate::other;\nfn f() { let s = \"crate::other::q\"; }\n",
    )
    .unwrap();
    std::fs::write(src.join("app/b.rs"), "fn g() { crate::app::a::h(); }\n").unwrap();
    std::fs::write(src.join("other.rs"), "use crate::app;\n").unwrap();
    let edges = module_edges(src);
    let found = circles(&edges);
    assert_eq!(found, vec![vec!["app::a", "app::b", "app::a"]], "{edges:?}");
    // A comment or a string naming a module is not a reference; a parent is not one either.
    assert!(!edges[&vec!["app".to_owned(), "a".to_owned()]].contains(&vec!["other".to_owned()]));
    assert!(!edges.contains_key(&vec!["app".to_owned()]));
}

#[test]
fn no_crate_has_import_circles_between_its_modules() {
    let mut crates = Vec::new();
    for dir in ["engine", "renderers"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let src = entry.unwrap().path().join("src");
            if src.is_dir() {
                crates.push(src);
            }
        }
    }
    crates.push(root().join("migrations/src"));
    assert!(crates.len() >= 7, "{crates:?}");
    let mut problems = Vec::new();
    for src in &crates {
        let edges = module_edges(src);
        for circle in circles(&edges) {
            problems.push(format!("{}: {}", src.display(), circle.join(" → ")));
        }
    }
    assert!(
        problems.is_empty(),
        "modules that refer to each other in a circle:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_binary_is_the_cli_crate_and_the_web_crate_is_a_library() {
    // One door per crate: `engine/cli` is the command line (one module per subcommand),
    // `engine/web` the pages and the API; neither parses the other's input.
    let web: toml::Table = std::fs::read_to_string(root().join("engine/web/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(web.get("bin").is_none(), "engine/web has a [[bin]]");
    assert!(
        web["dependencies"]
            .as_table()
            .unwrap()
            .get("clap")
            .is_none(),
        "engine/web depends on clap"
    );
    assert!(!root().join("engine/web/src/main.rs").exists());
    let cli: toml::Table = std::fs::read_to_string(root().join("engine/cli/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let bins = cli["bin"].as_array().unwrap();
    assert_eq!(bins[0]["name"].as_str(), Some("blankett"));
    let mut files = Vec::new();
    rust_files(&root().join("engine/cli/src"), &mut files);
    for f in files {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        assert!(
            !code.contains("axum::"),
            "{}: the command line serves through blankett_web, it does not route",
            f.display()
        );
    }
}
