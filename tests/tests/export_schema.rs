//! The archive export's XML for every shipped flow: the generated XML Schema is well-formed,
//! and the flow's sample answers (cleaned as a finished case's are) give well-formed XML
//! that `xmllint` validates against it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use blankett_core::case::{Case, Person, Status};
use blankett_core::def::Starter;
use blankett_core::export::{answers_xml, namespace, xml_schema};
use blankett_core::ids::Personnummer;
use blankett_core::rules::{Env, validate_all};
use blankett_core::{Flow, load};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipped() -> Vec<Flow> {
    let src = blankett_web::defs_fs::read(&[root().join("flows"), root().join("form-defs")]);
    assert!(src.problems.is_empty(), "{:?}", src.problems);
    let (defs, diags) = load(&src);
    assert!(!diags.has_errors(), "{:?}", diags.sorted());
    assert_eq!(defs.flows.len(), src.flows.len());
    defs.flows
}

fn sample_case(flow: &Flow) -> Case {
    let answers = blankett_core::document::sample_answers(flow)
        .unwrap_or_else(|| panic!("{} has no sample answers", flow.id));
    let report = validate_all(flow, &answers, &Env::sample());
    assert!(report.errors.is_empty(), "{}: {:?}", flow.id, report.errors);
    let person = Person {
        personnummer: Personnummer::parse("197701172392").unwrap(),
        name: "Test Testsson".into(),
    };
    let now = blankett_core::document::sample_now();
    Case {
        id: "00000000-0000-4000-8000-000000000000".into(),
        number: "2026-0001".into(),
        flow_id: flow.id.clone(),
        flow_hash: flow.content_hash.clone(),
        status: Status::Completed,
        revision: 1,
        started_as: Starter::CaseWorker,
        applicant: person.clone(),
        assignee: Some(person),
        answers: report.answers,
        current_step: None,
        return_comment: None,
        document_sha256: None,
        signatures: vec![],
        created_at: now,
        updated_at: now,
    }
}

#[test]
fn every_shipped_flows_export_schema_is_well_formed_and_declares_its_steps() {
    let flows = shipped();
    assert!(flows.len() >= 4, "the shipped flows are found");
    for flow in &flows {
        let xsd = xml_schema(flow);
        let doc = roxmltree::Document::parse(&xsd)
            .unwrap_or_else(|e| panic!("{}: the XSD is not well-formed: {e}\n{xsd}", flow.id));
        let schema = doc.root_element();
        assert_eq!(schema.tag_name().name(), "schema", "{}", flow.id);
        assert_eq!(
            schema.tag_name().namespace(),
            Some("http://www.w3.org/2001/XMLSchema")
        );
        assert_eq!(
            schema.attribute("targetNamespace"),
            Some(namespace(flow).as_str())
        );
        for step in flow
            .steps
            .iter()
            .filter(|s| s.fields.iter().any(|f| f.has_value()))
        {
            let declared = doc.descendants().any(|n| {
                n.tag_name().name() == "element" && n.attribute("name") == Some(step.id.as_str())
            });
            assert!(declared, "{}: step {} is declared", flow.id, step.id);
        }
    }
}

#[test]
fn every_shipped_flows_sample_answers_export_as_xml_valid_against_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    for flow in shipped() {
        let case = sample_case(&flow);
        let xml = answers_xml(&flow, &case);
        roxmltree::Document::parse(&xml)
            .unwrap_or_else(|e| panic!("{}: the XML is not well-formed: {e}\n{xml}", flow.id));
        let xsd_path = dir.path().join(format!("{}.xsd", flow.id));
        let xml_path = dir.path().join(format!("{}.xml", flow.id));
        std::fs::write(&xsd_path, xml_schema(&flow)).unwrap();
        std::fs::write(&xml_path, &xml).unwrap();
        let out = std::process::Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&xsd_path)
            .arg(&xml_path)
            .output()
            .unwrap_or_else(|e| {
                panic!("`xmllint` is needed by this test (run scripts/setup-test-tools): {e}")
            });
        assert!(
            out.status.success(),
            "{}: {}\n{xml}",
            flow.id,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
