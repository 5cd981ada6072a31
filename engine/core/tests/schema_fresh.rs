//! The committed JSON Schemas are the ones generated from the Rust types.
//! Regenerate with `cargo run -- schema --write .`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use blankett_core::schema::{DefKind, schema_text};

fn committed(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn flow_schema_is_fresh() {
    assert!(
        committed("flows/flow.schema.json") == schema_text(DefKind::Flow),
        "flows/flow.schema.json is stale: run `cargo run -- schema --write .`"
    );
}

#[test]
fn form_def_schema_is_fresh() {
    assert!(
        committed("form-defs/form-def.schema.json") == schema_text(DefKind::FormDef),
        "form-defs/form-def.schema.json is stale: run `cargo run -- schema --write .`"
    );
}

#[test]
fn schema_rejects_unknown_keys_and_offers_field_types() {
    let s: serde_json::Value = serde_json::from_str(&schema_text(DefKind::Flow)).unwrap();
    assert_eq!(s["additionalProperties"], false);
    let types = s["$defs"]["FieldType"].to_string();
    for t in [
        "personnummer",
        "organisationsnummer",
        "multi_choice",
        "group",
        "file",
        "info",
    ] {
        assert!(types.contains(t), "{t} missing from {types}");
    }
}
