//! Reading definitions from disk into `blankett_core::Sources` (the core does no I/O).
//!
//! Each path may be: a flow folder (holds `flow.yaml`), a folder of flows, a folder of
//! form-defs (`*.yaml`), or a single form-def file. When no form-defs are named, a
//! `form-defs/` folder beside a flows folder is used. Files in `_shared/` beside the flows
//! (a municipal letterhead, a logo) are offered to every flow's template.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use blankett_core::{Diagnostic, FlowSource, FormDefSource, Pos, Severity, Sources};

/// The folder beside the flows whose files every template may include (as `/_shared/…`).
pub const SHARED_DIR: &str = "_shared";

/// Largest file read from a flow folder; larger ones are reported, not read.
const MAX_FILE: u64 = 20 * 1024 * 1024;
/// Largest YAML file (`flow.yaml`, a form-def): the YAML reader's own limit, checked here
/// before the file is read.
const MAX_YAML: u64 = blankett_core::yaml::MAX_YAML_BYTES as u64;
/// Most bytes and files read from one flow folder (with its subfolders).
const MAX_FOLDER_BYTES: u64 = 64 * 1024 * 1024;
const MAX_FOLDER_FILES: usize = 1_000;
/// How deep subfolders of a flow folder are read.
const MAX_FOLDER_DEPTH: usize = 8;

/// Reads a text file, refusing one larger than `max` bytes before reading it.
fn read_text(path: &Path, max: u64) -> Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > max {
        return Err(format!(
            "the file is {} bytes; at most {} MB is read",
            meta.len(),
            max / 1024 / 1024
        ));
    }
    // Read through a bounded reader: the file may have grown since.
    use std::io::Read as _;
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > max {
        return Err(format!("the file is larger than {} MB", max / 1024 / 1024));
    }
    Ok(text)
}

pub fn read(paths: &[PathBuf]) -> Sources {
    let mut src = Sources::default();
    let mut form_dirs: Vec<PathBuf> = Vec::new();
    let mut flow_parents: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_file() {
            if p.file_name().is_some_and(|n| n == "flow.yaml") {
                if let Some(dir) = p.parent() {
                    read_flow(dir, &mut src);
                    flow_parents.push(dir.parent().unwrap_or(Path::new(".")).to_path_buf());
                }
            } else {
                read_form_def(p, &mut src);
            }
        } else if p.join("flow.yaml").is_file() {
            read_flow(p, &mut src);
            flow_parents.push(p.parent().unwrap_or(Path::new(".")).to_path_buf());
        } else if p.is_dir() {
            let entries = sorted_entries(p, &mut src);
            let flow_dirs: Vec<&PathBuf> = entries
                .iter()
                .filter(|e| e.join("flow.yaml").is_file())
                .collect();
            if !flow_dirs.is_empty() {
                for d in flow_dirs {
                    read_flow(d, &mut src);
                }
                flow_parents.push(p.clone());
            } else {
                form_dirs.push(p.clone());
            }
        } else {
            problem(
                &mut src,
                &p.display().to_string(),
                "no such file or folder".into(),
            );
        }
    }
    // Shared includes (`flows/_shared/`) of the first folder of flows that has them.
    if let Some(shared) = flow_parents
        .iter()
        .map(|p| p.join(SHARED_DIR))
        .find(|d| d.is_dir())
    {
        let mut files = BTreeMap::new();
        let mut budget = Budget::default();
        collect(&shared, &shared, &mut files, &mut src, &mut budget, 0);
        src.shared = files;
    }
    if form_dirs.is_empty() {
        for parent in &flow_parents {
            for cand in [
                parent.join("form-defs"),
                parent.join("..").join("form-defs"),
            ] {
                if cand.is_dir() {
                    form_dirs.push(cand);
                    break;
                }
            }
        }
        form_dirs.dedup();
    }
    for d in form_dirs {
        for e in sorted_entries(&d, &mut src) {
            if e.extension().is_some_and(|x| x == "yaml" || x == "yml") && e.is_file() {
                read_form_def(&e, &mut src);
            }
        }
    }
    src
}

fn problem(src: &mut Sources, file: &str, message: String) {
    src.problems.push(Diagnostic {
        file: file.to_owned(),
        pos: Pos::START,
        severity: Severity::Error,
        message,
    });
}

fn sorted_entries(dir: &Path, src: &mut Sources) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            v
        }
        Err(e) => {
            problem(
                src,
                &dir.display().to_string(),
                format!("cannot read the folder: {e}"),
            );
            Vec::new()
        }
    }
}

fn display(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

fn read_flow(dir: &Path, src: &mut Sources) {
    let flow_path = dir.join("flow.yaml");
    let flow_yaml = match read_text(&flow_path, MAX_YAML) {
        Ok(t) => t,
        Err(message) => {
            problem(src, &display(&flow_path), message);
            return;
        }
    };
    let mut files = BTreeMap::new();
    let mut budget = Budget::default();
    collect(dir, dir, &mut files, src, &mut budget, 0);
    files.remove("flow.yaml");
    src.flows.push(FlowSource {
        dir: display(dir),
        folder_name: dir
            .canonicalize()
            .ok()
            .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default(),
        flow_yaml,
        files,
    });
}

/// What is left of a folder's allowance ([`MAX_FOLDER_BYTES`], [`MAX_FOLDER_FILES`]).
#[derive(Default)]
struct Budget {
    bytes: u64,
    files: usize,
    refused: bool,
}

fn collect(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
    src: &mut Sources,
    budget: &mut Budget,
    depth: usize,
) {
    if depth > MAX_FOLDER_DEPTH {
        problem(
            src,
            &display(dir),
            format!("folders nest more than {MAX_FOLDER_DEPTH} deep; deeper ones are not read"),
        );
        return;
    }
    for e in sorted_entries(dir, src) {
        let name = e
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if budget.refused {
            return;
        }
        if e.is_dir() {
            collect(root, &e, files, src, budget, depth + 1);
        } else if e.is_file() {
            let rel = e
                .strip_prefix(root)
                .map(|r| {
                    r.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or(name);
            let len = fs::metadata(&e).map(|m| m.len()).unwrap_or(0);
            if len > MAX_FILE {
                problem(
                    src,
                    &display(&e),
                    format!("the file is larger than {} MB", MAX_FILE / 1024 / 1024),
                );
                continue;
            }
            budget.files += 1;
            budget.bytes += len;
            if budget.files > MAX_FOLDER_FILES || budget.bytes > MAX_FOLDER_BYTES {
                budget.refused = true;
                problem(
                    src,
                    &display(root),
                    format!(
                        "the folder holds more than {MAX_FOLDER_FILES} files or {} MB; the rest is not read",
                        MAX_FOLDER_BYTES / 1024 / 1024
                    ),
                );
                return;
            }
            use std::io::Read as _;
            let mut bytes = Vec::new();
            match fs::File::open(&e).and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes)) {
                Ok(_) if bytes.len() as u64 > MAX_FILE => problem(
                    src,
                    &display(&e),
                    format!("the file is larger than {} MB", MAX_FILE / 1024 / 1024),
                ),
                Ok(_) => {
                    files.insert(rel, bytes);
                }
                Err(err) => problem(src, &display(&e), format!("cannot read: {err}")),
            }
        }
    }
}

fn read_form_def(path: &Path, src: &mut Sources) {
    match read_text(path, MAX_YAML) {
        Ok(text) => src.form_defs.push(FormDefSource {
            path: display(path),
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            text,
        }),
        Err(message) => problem(src, &display(path), message),
    }
}
