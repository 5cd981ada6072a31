//! The definitions as text, handed to the core by whoever read them (the core does no I/O).

use std::collections::BTreeMap;

use crate::diag::Diagnostic;

/// One flow folder (`flows/<id>/`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FlowSource {
    /// The folder as the user named it (used in diagnostics), e.g. `flows/lvu-6`.
    pub dir: String,
    /// The folder's own name; must equal the flow's `id`.
    pub folder_name: String,
    /// The text of `flow.yaml`.
    pub flow_yaml: String,
    /// Every other file in the folder, by path relative to it with `/` separators
    /// (`document.typ`, `sample-answers.json`, `tests/happy.yaml`, `logo.svg`…).
    pub files: BTreeMap<String, Vec<u8>>,
}

impl FlowSource {
    /// Display path of a file in this folder.
    pub fn path_of(&self, rel: &str) -> String {
        format!("{}/{}", self.dir.trim_end_matches('/'), rel)
    }

    /// A file of the folder as UTF-8 text.
    pub fn text(&self, rel: &str) -> Option<&str> {
        self.files
            .get(rel)
            .and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// One form-def file (`form-defs/<name>.yaml`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FormDefSource {
    /// Display path, e.g. `form-defs/person.yaml`.
    pub path: String,
    /// File name without `.yaml`: the name flows `use:`.
    pub name: String,
    pub text: String,
}

/// Everything to load at once.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Sources {
    pub flows: Vec<FlowSource>,
    pub form_defs: Vec<FormDefSource>,
    /// Files every flow's template may include (a municipal letterhead, a logo), by path
    /// relative to the shared folder (`flows/_shared/`); templates see them as `/_shared/…`.
    pub shared: BTreeMap<String, Vec<u8>>,
    /// Problems met while reading the files (unreadable file, not UTF-8…).
    #[serde(skip)]
    pub problems: Vec<Diagnostic>,
}
