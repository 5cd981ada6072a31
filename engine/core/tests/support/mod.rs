//! Building in-memory definitions for the tests of this crate (`mod support;`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use blankett_core::{Flow, FlowSource, FormDefSource, Sources, load};

/// One flow in folder `dir` (its last segment is the folder name) with the given files, and
/// form-defs by name (at `<form_dir>/<name>.yaml`).
pub fn sources(
    dir: &str,
    flow_yaml: &str,
    files: Vec<(&str, Vec<u8>)>,
    form_dir: &str,
    form_defs: &[(&str, &str)],
) -> Sources {
    let files: BTreeMap<String, Vec<u8>> =
        files.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Sources {
        flows: vec![FlowSource {
            dir: dir.to_owned(),
            folder_name: dir.rsplit('/').next().unwrap().to_owned(),
            flow_yaml: flow_yaml.to_owned(),
            files,
        }],
        form_defs: form_defs
            .iter()
            .map(|(name, text)| FormDefSource {
                path: format!("{form_dir}/{name}.yaml"),
                name: (*name).to_owned(),
                text: (*text).to_owned(),
            })
            .collect(),
        problems: vec![],
        shared: BTreeMap::new(),
    }
}

/// Loads the sources, which must hold exactly one flow without errors.
pub fn load_one(sources: &Sources) -> Flow {
    let (defs, diags) = load(sources);
    assert!(!diags.has_errors(), "{:#?}", diags.sorted());
    assert_eq!(defs.flows.len(), 1, "{:#?}", diags.sorted());
    defs.flows.into_iter().next().unwrap()
}
