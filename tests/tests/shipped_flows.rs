//! The shipped definitions load without errors or warnings, and every flow test passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use blankett_core::{FlowSource, FormDefSource, Sources, flowtest, load};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_dir_files(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if p.is_dir() {
            read_dir_files(&p, &r, out);
        } else {
            out.insert(r, fs::read(&p).unwrap());
        }
    }
}

fn shipped() -> Sources {
    let mut src = Sources::default();
    for e in fs::read_dir(root().join("flows")).unwrap() {
        let dir = e.unwrap().path();
        if !dir.join("flow.yaml").is_file() {
            continue;
        }
        let mut files = BTreeMap::new();
        read_dir_files(&dir, "", &mut files);
        let flow_yaml = String::from_utf8(files.remove("flow.yaml").unwrap()).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        src.flows.push(FlowSource {
            dir: format!("flows/{name}"),
            folder_name: name,
            flow_yaml,
            files,
        });
    }
    for e in fs::read_dir(root().join("form-defs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            src.form_defs.push(FormDefSource {
                path: format!("form-defs/{}", p.file_name().unwrap().to_string_lossy()),
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                text: fs::read_to_string(&p).unwrap(),
            });
        }
    }
    src
}

#[test]
fn shipped_definitions_have_no_errors_or_warnings() {
    let src = shipped();
    assert!(!src.flows.is_empty(), "no flows found");
    let (defs, diags) = load(&src);
    let all: Vec<String> = diags.sorted().iter().map(ToString::to_string).collect();
    assert!(diags.is_empty(), "diagnostics:\n{}", all.join("\n"));
    assert_eq!(defs.flows.len(), src.flows.len());
    assert!(defs.flow("lvu-6").is_some());
}

#[test]
fn every_flow_test_passes_and_every_flow_has_tests() {
    let src = shipped();
    let (defs, mut diags) = load(&src);
    let mut failures = Vec::new();
    for s in &src.flows {
        let flow = defs.flows.iter().find(|f| f.dir == s.dir).unwrap();
        let results = flowtest::run_flow_tests(flow, s, &mut diags);
        assert!(!results.is_empty(), "{} has no flow tests", s.dir);
        for r in results {
            if !r.passed() {
                failures.push(format!("{} › {}: {:?}", flow.id, r.name, r.failures));
            }
        }
    }
    assert!(!diags.has_errors(), "{:?}", diags.sorted());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shipped_yaml_names_its_schema_for_editors() {
    let src = shipped();
    for f in &src.flows {
        assert!(
            f.flow_yaml
                .starts_with("# yaml-language-server: $schema=../flow.schema.json"),
            "{}/flow.yaml must start with the schema line",
            f.dir
        );
    }
    for f in &src.form_defs {
        assert!(
            f.text
                .starts_with("# yaml-language-server: $schema=./form-def.schema.json"),
            "{} must start with the schema line",
            f.path
        );
    }
}
