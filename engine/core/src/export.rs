//! The answers of a case as XML for an e-archive, with the XML Schema (XSD 1.0) that describes
//! them, both generated from the linked flow. Pure: the caller writes the files.
//!
//! ```xml
//! <case xmlns="urn:blankett:flow:lvu-6:1" id="…" number="2026-0042" flow="lvu-6"
//!       flow-revision="1" flow-hash="…" status="completed" created="…" updated="…">
//!   <matter>                          <!-- a step -->
//!     <committee>…</committee>        <!-- a field -->
//!   </matter>
//!   <child>
//!     <child><name>…</name></child>   <!-- `use: person as child`: a nested element -->
//!     <guardians>…</guardians>        <!-- a repeating group: one element per item -->
//!     <guardians>…</guardians>
//!   </child>
//!   <grounds>
//!     <grounds>2</grounds>            <!-- a multi-choice: one element per chosen value -->
//!     <grounds>3</grounds>
//!   </grounds>
//! </case>
//! ```
//!
//! Element names are the step ids, `use … as` prefixes and field ids (all
//! `^[a-z][a-z0-9_]*$`), in the flow's order. Every step and field element is optional
//! (`minOccurs="0"`): steps that did not apply, hidden fields and unanswered fields are absent.
//! Types: text → `xs:string`, integer → `xs:integer`, decimal → `xs:decimal`, date →
//! `xs:date`, date and time → `xs:dateTime` (seconds added), yes/no → `xs:boolean`, a choice →
//! an enumeration of its option values, personnummer and organisationsnummer → patterns.

use serde_json::Value;

use crate::case::{Case, Status};
use crate::def::FieldType;
use crate::model::{Field, Flow};

/// The XML namespace of a flow's exported answers: `urn:blankett:flow:<id>:<revision>`.
pub fn namespace(flow: &Flow) -> String {
    format!("urn:blankett:flow:{}:{}", flow.id, flow.def.revision)
}

/// A field or an object (`use … as` prefix) in the order the flow declares them.
enum Node<'a> {
    Field(&'a Field),
    Object {
        key: &'a str,
        children: Vec<Node<'a>>,
    },
}

/// The fields that store a value, arranged under their `use … as` prefixes. An object is
/// placed where its first field is.
fn tree(fields: &[Field]) -> Vec<Node<'_>> {
    let mut root = Vec::new();
    for f in fields.iter().filter(|f| f.has_value()) {
        insert(&mut root, &f.parent, f);
    }
    root
}

fn insert<'a>(level: &mut Vec<Node<'a>>, path: &'a [String], f: &'a Field) {
    let Some((first, rest)) = path.split_first() else {
        level.push(Node::Field(f));
        return;
    };
    let at = level
        .iter()
        .position(|n| matches!(n, Node::Object { key, .. } if *key == first.as_str()));
    let at = match at {
        Some(i) => i,
        None => {
            level.push(Node::Object {
                key: first.as_str(),
                children: Vec::new(),
            });
            level.len() - 1
        }
    };
    if let Node::Object { children, .. } = &mut level[at] {
        insert(children, rest, f);
    }
}

/// Escapes text for element content and attribute values. Characters XML 1.0 cannot hold at
/// all (most control characters) become U+FFFD; carriage returns, tabs and line feeds are
/// written as references so that a parser gives them back unchanged.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            c if allowed_in_xml(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

// ---- the schema ---------------------------------------------------------------------------

/// The XML Schema (XSD 1.0) of the answers of `flow`'s cases, as [`answers_xml`] writes them.
pub fn xml_schema(flow: &Flow) -> String {
    let ns = escape(&namespace(flow));
    let mut x = Xsd::default();
    x.line(0, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.line(
        0,
        &format!(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="{ns}" targetNamespace="{ns}" elementFormDefault="qualified" attributeFormDefault="unqualified">"#
        ),
    );
    x.documentation(
        1,
        &format!(
            "{} ({}, revision {}, content SHA-256 {}): the answers of a case.",
            flow.title.sv, flow.id, flow.def.revision, flow.content_hash
        ),
    );
    x.line(1, r#"<xs:element name="case">"#);
    x.line(2, "<xs:complexType>");
    x.line(3, "<xs:sequence>");
    for step in &flow.steps {
        let nodes = tree(&step.fields);
        if nodes.is_empty() {
            continue;
        }
        x.line(
            4,
            &format!(r#"<xs:element name="{}" minOccurs="0">"#, escape(&step.id)),
        );
        x.documentation(5, &step.title.sv);
        x.complex(5, &nodes);
        x.line(4, "</xs:element>");
    }
    x.line(3, "</xs:sequence>");
    for (name, kind) in [("id", "xs:string"), ("number", "xs:string")] {
        x.line(
            3,
            &format!(r#"<xs:attribute name="{name}" type="{kind}" use="required"/>"#),
        );
    }
    for (name, kind, value) in [
        ("flow", "xs:string", flow.id.clone()),
        (
            "flow-revision",
            "xs:nonNegativeInteger",
            flow.def.revision.to_string(),
        ),
        ("flow-hash", "xs:string", flow.content_hash.to_string()),
    ] {
        x.line(
            3,
            &format!(
                r#"<xs:attribute name="{name}" type="{kind}" use="required" fixed="{}"/>"#,
                escape(&value)
            ),
        );
    }
    x.line(3, r#"<xs:attribute name="status" use="required">"#);
    x.enumeration(4, "xs:string", STATUSES.iter().map(|s| status_name(*s)));
    x.line(3, "</xs:attribute>");
    for name in ["created", "updated"] {
        x.line(
            3,
            &format!(r#"<xs:attribute name="{name}" type="xs:dateTime" use="required"/>"#),
        );
    }
    x.line(2, "</xs:complexType>");
    x.line(1, "</xs:element>");
    x.line(0, "</xs:schema>");
    x.out
}

const STATUSES: [Status; 10] = [
    Status::Draft,
    Status::Submitted,
    Status::InReview,
    Status::Returned,
    Status::Signing,
    Status::Declined,
    Status::SigningExpired,
    Status::Completed,
    Status::Rejected,
    Status::Withdrawn,
];

/// The status as it is serialised (`in_review`).
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Draft => "draft",
        Status::Submitted => "submitted",
        Status::InReview => "in_review",
        Status::Returned => "returned",
        Status::Signing => "signing",
        Status::Declined => "declined",
        Status::SigningExpired => "signing_expired",
        Status::Completed => "completed",
        Status::Rejected => "rejected",
        Status::Withdrawn => "withdrawn",
    }
}

#[derive(Default)]
struct Xsd {
    out: String,
}

impl Xsd {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn documentation(&mut self, depth: usize, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        self.line(depth, "<xs:annotation>");
        self.line(
            depth + 1,
            &format!(
                r#"<xs:documentation xml:lang="sv">{}</xs:documentation>"#,
                escape(text.trim())
            ),
        );
        self.line(depth, "</xs:annotation>");
    }

    /// An anonymous complex type holding `nodes` in order.
    fn complex(&mut self, depth: usize, nodes: &[Node<'_>]) {
        self.line(depth, "<xs:complexType>");
        self.line(depth + 1, "<xs:sequence>");
        for n in nodes {
            self.node(depth + 2, n);
        }
        self.line(depth + 1, "</xs:sequence>");
        self.line(depth, "</xs:complexType>");
    }

    fn enumeration<'a>(
        &mut self,
        depth: usize,
        base: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) {
        self.line(depth, "<xs:simpleType>");
        self.line(depth + 1, &format!(r#"<xs:restriction base="{base}">"#));
        for v in values {
            self.line(
                depth + 2,
                &format!(r#"<xs:enumeration value="{}"/>"#, escape(v)),
            );
        }
        self.line(depth + 1, "</xs:restriction>");
        self.line(depth, "</xs:simpleType>");
    }

    fn node(&mut self, depth: usize, node: &Node<'_>) {
        match node {
            Node::Object { key, children } => {
                self.line(
                    depth,
                    &format!(r#"<xs:element name="{}" minOccurs="0">"#, escape(key)),
                );
                self.complex(depth + 1, children);
                self.line(depth, "</xs:element>");
            }
            Node::Field(f) => self.field(depth, f),
        }
    }

    fn field(&mut self, depth: usize, f: &Field) {
        let name = escape(&f.id);
        let max = match f.kind {
            FieldType::MultiChoice => "unbounded".to_owned(),
            FieldType::Group => match f.max {
                Some(m) if m >= 1.0 => format!("{}", m.floor() as u64),
                _ => "unbounded".to_owned(),
            },
            _ => "1".to_owned(),
        };
        let occurs = if max == "1" {
            r#"minOccurs="0""#.to_owned()
        } else {
            format!(r#"minOccurs="0" maxOccurs="{max}""#)
        };
        let builtin = match f.kind {
            FieldType::Text | FieldType::Textarea | FieldType::Email | FieldType::Phone => {
                Some("xs:string")
            }
            FieldType::Date => Some("xs:date"),
            FieldType::Datetime => Some("xs:dateTime"),
            FieldType::Boolean => Some("xs:boolean"),
            FieldType::Integer | FieldType::Decimal if f.min.is_none() && f.max.is_none() => {
                Some(if f.kind == FieldType::Integer {
                    "xs:integer"
                } else {
                    "xs:decimal"
                })
            }
            _ => None,
        };
        if let Some(kind) = builtin {
            self.line(
                depth,
                &format!(r#"<xs:element name="{name}" type="{kind}" {occurs}>"#),
            );
            self.documentation(depth + 1, &f.label.sv);
            self.line(depth, "</xs:element>");
            return;
        }
        self.line(depth, &format!(r#"<xs:element name="{name}" {occurs}>"#));
        self.documentation(depth + 1, &f.label.sv);
        let d = depth + 1;
        match f.kind {
            FieldType::Choice | FieldType::MultiChoice => {
                self.enumeration(d, "xs:string", f.options.iter().map(|o| o.value.as_str()));
            }
            FieldType::Integer | FieldType::Decimal => {
                let integer = f.kind == FieldType::Integer;
                self.line(d, "<xs:simpleType>");
                self.line(
                    d + 1,
                    &format!(
                        r#"<xs:restriction base="{}">"#,
                        if integer { "xs:integer" } else { "xs:decimal" }
                    ),
                );
                if let Some(min) = f.min {
                    let min = if integer { min.ceil() } else { min };
                    self.line(
                        d + 2,
                        &format!(r#"<xs:minInclusive value="{}"/>"#, decimal_text(min)),
                    );
                }
                if let Some(max) = f.max {
                    let max = if integer { max.floor() } else { max };
                    self.line(
                        d + 2,
                        &format!(r#"<xs:maxInclusive value="{}"/>"#, decimal_text(max)),
                    );
                }
                self.line(d + 1, "</xs:restriction>");
                self.line(d, "</xs:simpleType>");
            }
            FieldType::Personnummer | FieldType::Organisationsnummer => {
                let pattern = if f.kind == FieldType::Personnummer {
                    "[0-9]{12}"
                } else {
                    "[0-9]{6}-[0-9]{4}"
                };
                self.line(d, "<xs:simpleType>");
                self.line(d + 1, r#"<xs:restriction base="xs:string">"#);
                self.line(d + 2, &format!(r#"<xs:pattern value="{pattern}"/>"#));
                self.line(d + 1, "</xs:restriction>");
                self.line(d, "</xs:simpleType>");
            }
            FieldType::File => {
                self.line(d, "<xs:complexType>");
                self.line(d + 1, "<xs:sequence>");
                for (name, kind, optional) in [
                    ("id", "xs:string", false),
                    ("name", "xs:string", false),
                    ("size", "xs:nonNegativeInteger", false),
                    ("content_type", "xs:string", false),
                    ("sha256", "xs:string", true),
                ] {
                    let occurs = if optional { r#" minOccurs="0""# } else { "" };
                    self.line(
                        d + 2,
                        &format!(r#"<xs:element name="{name}" type="{kind}"{occurs}/>"#),
                    );
                }
                self.line(d + 1, "</xs:sequence>");
                self.line(d, "</xs:complexType>");
            }
            FieldType::Group => {
                let children = tree(&f.children);
                self.complex(d, &children);
            }
            // Handled above (a built-in type) or stores nothing.
            FieldType::Text
            | FieldType::Textarea
            | FieldType::Email
            | FieldType::Phone
            | FieldType::Date
            | FieldType::Datetime
            | FieldType::Boolean
            | FieldType::Info => {}
        }
        self.line(depth, "</xs:element>");
    }
}

/// A number as an `xs:decimal` literal: never in exponent notation (Rust's `Display` of a
/// float never uses it), and integral values without a fraction.
fn decimal_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

// ---- the answers --------------------------------------------------------------------------

/// The case's answers as XML, valid against [`xml_schema`] of the same flow (for answers that
/// passed the flow's validation, as a finished case's have).
pub fn answers_xml(flow: &Flow, case: &Case) -> String {
    let mut x = Xsd::default();
    x.line(0, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.line(
        0,
        &format!(
            r#"<case xmlns="{}" id="{}" number="{}" flow="{}" flow-revision="{}" flow-hash="{}" status="{}" created="{}" updated="{}">"#,
            escape(&namespace(flow)),
            escape(&case.id),
            escape(&case.number),
            escape(&flow.id),
            flow.def.revision,
            escape(&flow.content_hash),
            status_name(case.status),
            // Swedish time, as the archive's readers count it.
            case.created_at.local().format("%Y-%m-%dT%H:%M:%S"),
            case.updated_at.local().format("%Y-%m-%dT%H:%M:%S"),
        ),
    );
    for step in &flow.steps {
        let nodes = tree(&step.fields);
        if nodes.is_empty() {
            continue;
        }
        let Some(obj) = case.answers.get(&step.id).filter(|v| v.is_object()) else {
            continue;
        };
        write_object(&mut x, 1, &step.id, &nodes, obj);
    }
    x.line(0, "</case>");
    x.out
}

/// `<name>` holding `nodes` read from `obj`; nothing when none of them has a value.
fn write_object(x: &mut Xsd, depth: usize, name: &str, nodes: &[Node<'_>], obj: &Value) {
    let mut inner = Xsd::default();
    for n in nodes {
        match n {
            Node::Object { key, children } => {
                if let Some(sub) = obj.get(*key).filter(|v| v.is_object()) {
                    write_object(&mut inner, depth + 1, key, children, sub);
                }
            }
            Node::Field(f) => {
                if let Some(v) = obj.get(&f.id) {
                    write_field(&mut inner, depth + 1, f, v);
                }
            }
        }
    }
    if inner.out.is_empty() {
        return;
    }
    x.line(depth, &format!("<{name}>"));
    x.out.push_str(&inner.out);
    x.line(depth, &format!("</{name}>"));
}

fn write_field(x: &mut Xsd, depth: usize, f: &Field, v: &Value) {
    let name = f.id.as_str();
    match f.kind {
        FieldType::Info => {}
        FieldType::MultiChoice => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                Value::Null => Vec::new(),
                other => vec![other],
            };
            for item in items {
                if let Some(t) = scalar_text(f.kind, item) {
                    x.line(depth, &format!("<{name}>{}</{name}>", escape(&t)));
                }
            }
        }
        FieldType::Group => {
            let nodes = tree(&f.children);
            if let Value::Array(items) = v {
                for item in items.iter().filter(|i| i.is_object()) {
                    let before = x.out.len();
                    write_object(x, depth, name, &nodes, item);
                    if x.out.len() == before {
                        // An item without any answer is still an item.
                        x.line(depth, &format!("<{name}/>"));
                    }
                }
            }
        }
        FieldType::File => {
            let Value::Object(m) = v else { return };
            x.line(depth, &format!("<{name}>"));
            for key in ["id", "name", "size", "content_type", "sha256"] {
                if let Some(t) = m.get(key).and_then(|v| scalar_text(FieldType::Text, v)) {
                    x.line(depth + 1, &format!("<{key}>{}</{key}>", escape(&t)));
                }
            }
            x.line(depth, &format!("</{name}>"));
        }
        _ => {
            if let Some(t) = scalar_text(f.kind, v) {
                x.line(depth, &format!("<{name}>{}</{name}>", escape(&t)));
            }
        }
    }
}

/// The text of one value of a field of type `kind`; `None` for an absent value.
fn scalar_text(kind: FieldType, v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => decimal_text(f),
            (None, None, None) => n.to_string(),
        },
        Value::String(s) if kind == FieldType::Datetime && s.len() == 16 => format!("{s}:00"),
        Value::String(s) if kind == FieldType::Datetime => s.get(..19).unwrap_or(s).to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::BTreeMap;

    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;
    use crate::case::Person;
    use crate::def::Starter;
    use crate::ids::Personnummer;
    use crate::{FlowSource, FormDefSource, Sources, load};

    const FLOW: &str = r#"
version: 1
id: allt
revision: 3
title: { sv: "Alla fälttyper & mer", en: Every field type }
owner: test
start: [case_worker]
steps:
  - id: first
    title: { sv: Första steget }
    fields:
      - id: intro
        type: info
        text: { sv: Bara information }
      - id: name
        type: text
        label: { sv: Namn }
      - id: notes
        type: textarea
        label: { sv: Anteckningar }
      - id: count
        type: integer
        label: { sv: Antal }
        min: 0
        max: 10
      - id: amount
        type: decimal
        label: { sv: Belopp }
      - id: day
        type: date
        label: { sv: Dag }
      - id: at
        type: datetime
        label: { sv: Tid }
      - id: agree
        type: boolean
        label: { sv: Samtycke }
      - id: colour
        type: choice
        label: { sv: Färg }
        options:
          - { value: red, label: { sv: Röd } }
          - { value: "a&b", label: { sv: A och B } }
      - id: tags
        type: multi_choice
        label: { sv: Taggar }
        options:
          - { value: "1", label: { sv: Ett } }
          - { value: "2", label: { sv: Två } }
      - id: pnr
        type: personnummer
        label: { sv: Personnummer }
      - id: org
        type: organisationsnummer
        label: { sv: Organisationsnummer }
      - id: mail
        type: email
        label: { sv: E-post }
      - id: tel
        type: phone
        label: { sv: Telefon }
      - use: person
        as: maker
        label: { sv: Beslutsfattare }
      - id: attachment
        type: file
        label: { sv: Bilaga }
      - id: hidden
        type: text
        label: { sv: Dold }
        show_if: first.agree == false
      - id: people
        type: group
        label: { sv: Personer }
        max: 4
        fields:
          - use: person
            as: who
          - id: role
            type: text
            label: { sv: Roll }
  - id: later
    title: { sv: Sedan }
    fields:
      - id: comment
        type: text
        label: { sv: Kommentar }
  - id: review
    type: review
"#;

    const PERSON: &str = r#"
version: 1
id: person
title: { sv: Person }
fields:
  - id: name
    type: text
    label: { sv: Namn }
  - id: personnummer
    type: personnummer
    label: { sv: Personnummer }
"#;

    fn flow() -> Flow {
        let sources = Sources {
            flows: vec![FlowSource {
                dir: "flows/allt".into(),
                folder_name: "allt".into(),
                flow_yaml: FLOW.into(),
                files: BTreeMap::from([(
                    "sample-answers.json".to_owned(),
                    br#"{"first": {"name": "Tolvan"}, "later": {"comment": "Klart"}}"#.to_vec(),
                )]),
            }],
            form_defs: vec![FormDefSource {
                path: "form-defs/person.yaml".into(),
                name: "person".into(),
                text: PERSON.into(),
            }],
            shared: BTreeMap::new(),
            problems: vec![],
        };
        let (defs, diags) = load(&sources);
        assert!(!diags.has_errors(), "{:#?}", diags.sorted());
        defs.flows.into_iter().next().unwrap()
    }

    fn case(flow: &Flow, answers: Value) -> Case {
        let at = crate::time::Timestamp::from_local(
            NaiveDate::from_ymd_opt(2026, 11, 22)
                .unwrap()
                .and_hms_opt(14, 30, 5)
                .unwrap(),
        );
        let person = Person {
            personnummer: Personnummer::parse("197701172392").unwrap(),
            name: "Tolvan Tolvansson".into(),
        };
        Case {
            id: "c0ffee".into(),
            number: "2026-0042".into(),
            flow_id: flow.id.clone(),
            flow_hash: flow.content_hash.clone(),
            status: Status::Completed,
            revision: 9,
            started_as: Starter::CaseWorker,
            applicant: person.clone(),
            assignee: Some(person),
            answers,
            current_step: None,
            return_comment: None,
            document_sha256: None,
            signatures: vec![],
            created_at: at,
            updated_at: at,
        }
    }

    fn full_answers() -> Value {
        json!({
            "first": {
                "name": "Åsa <Öberg> & \"co\" 'x'",
                "notes": "rad ett\nrad två\r\n\ttab\u{1}",
                "count": 3,
                "amount": 1e21,
                "day": "2026-11-22",
                "at": "2026-11-22T14:30",
                "agree": true,
                "colour": "a&b",
                "tags": ["1", "2"],
                "pnr": "197701172392",
                "org": "556016-0680",
                "mail": "a@example.se",
                "tel": "070-123 45 67",
                "maker": {"name": "Ordförande", "personnummer": "189001019802"},
                "attachment": {"id": "f1", "name": "a.pdf", "size": 10, "content_type": "application/pdf"},
                "people": [
                    {"who": {"name": "En"}, "role": "Ledamot"},
                    {}
                ]
            }
        })
    }

    fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Vec<roxmltree::Node<'a, 'i>> {
        n.children()
            .filter(|c| c.is_element() && c.tag_name().name() == name)
            .collect()
    }

    /// The `xs:element` declarations directly inside a declaration's anonymous type.
    fn declared<'a, 'i>(el: roxmltree::Node<'a, 'i>) -> Vec<roxmltree::Node<'a, 'i>> {
        let Some(ct) = child(el, "complexType").into_iter().next() else {
            return vec![];
        };
        child(child(ct, "sequence")[0], "element")
    }

    fn by_name<'a, 'i>(list: &[roxmltree::Node<'a, 'i>], name: &str) -> roxmltree::Node<'a, 'i> {
        *list
            .iter()
            .find(|e| e.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no element {name}"))
    }

    /// The facets (`value` attributes) under a declaration, by facet name.
    fn facets<'a>(el: roxmltree::Node<'a, '_>) -> Vec<(&'a str, &'a str)> {
        el.descendants()
            .filter_map(|d| Some((d.tag_name().name(), d.attribute("value")?)))
            .collect()
    }

    #[test]
    fn export_schema_declares_every_step_and_field_with_its_type() {
        let flow = flow();
        let xsd = xml_schema(&flow);
        let doc = roxmltree::Document::parse(&xsd).unwrap_or_else(|e| panic!("{e}\n{xsd}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "schema");
        assert_eq!(
            root.attribute("targetNamespace"),
            Some("urn:blankett:flow:allt:3")
        );
        let case_el = by_name(&child(root, "element"), "case");
        let steps = declared(case_el);
        let names: Vec<_> = steps.iter().filter_map(|s| s.attribute("name")).collect();
        assert_eq!(
            names,
            ["first", "later"],
            "the review step holds no answers"
        );
        assert!(steps.iter().all(|s| s.attribute("minOccurs") == Some("0")));

        let fields = declared(steps[0]);
        let names: Vec<_> = fields.iter().filter_map(|s| s.attribute("name")).collect();
        assert_eq!(
            names,
            [
                "name",
                "notes",
                "count",
                "amount",
                "day",
                "at",
                "agree",
                "colour",
                "tags",
                "pnr",
                "org",
                "mail",
                "tel",
                "maker",
                "attachment",
                "hidden",
                "people"
            ],
            "in the flow's order, info fields left out"
        );
        assert!(fields.iter().all(|f| f.attribute("minOccurs") == Some("0")));
        let kind = |n: &str| by_name(&fields, n).attribute("type");
        assert_eq!(kind("name"), Some("xs:string"));
        assert_eq!(kind("notes"), Some("xs:string"));
        assert_eq!(kind("amount"), Some("xs:decimal"));
        assert_eq!(kind("day"), Some("xs:date"));
        assert_eq!(kind("at"), Some("xs:dateTime"));
        assert_eq!(kind("agree"), Some("xs:boolean"));
        assert_eq!(kind("mail"), Some("xs:string"));

        let facets = |n: &str| facets(by_name(&fields, n));
        let restriction_base = |n: &str| {
            by_name(&fields, n)
                .descendants()
                .find(|d| d.tag_name().name() == "restriction")
                .and_then(|r| r.attribute("base"))
                .map(str::to_owned)
        };
        assert_eq!(restriction_base("count").as_deref(), Some("xs:integer"));
        assert_eq!(
            facets("count"),
            [("minInclusive", "0"), ("maxInclusive", "10")]
        );
        assert_eq!(
            facets("colour"),
            [("enumeration", "red"), ("enumeration", "a&b")]
        );
        let tags = by_name(&fields, "tags");
        assert_eq!(tags.attribute("maxOccurs"), Some("unbounded"));
        assert_eq!(facets("tags").len(), 2);
        assert_eq!(facets("pnr"), [("pattern", "[0-9]{12}")]);

        let maker = declared(by_name(&fields, "maker"));
        let names: Vec<_> = maker.iter().filter_map(|s| s.attribute("name")).collect();
        assert_eq!(
            names,
            ["name", "personnummer"],
            "a prefix is a nested element"
        );

        let file: Vec<_> = declared(by_name(&fields, "attachment"))
            .iter()
            .map(|e| (e.attribute("name").unwrap(), e.attribute("type").unwrap()))
            .collect();
        assert_eq!(
            file,
            [
                ("id", "xs:string"),
                ("name", "xs:string"),
                ("size", "xs:nonNegativeInteger"),
                ("content_type", "xs:string"),
                ("sha256", "xs:string")
            ]
        );

        let people = by_name(&fields, "people");
        assert_eq!(people.attribute("maxOccurs"), Some("4"));
        let items = declared(people);
        let names: Vec<_> = items.iter().filter_map(|s| s.attribute("name")).collect();
        assert_eq!(names, ["who", "role"]);
        assert_eq!(declared(items[0]).len(), 2);

        let attrs: Vec<_> = case_el
            .descendants()
            .filter(|d| d.tag_name().name() == "attribute")
            .filter_map(|a| Some((a.attribute("name")?, a.attribute("fixed"))))
            .collect();
        assert!(attrs.contains(&("flow", Some("allt"))));
        assert!(attrs.contains(&("flow-hash", Some(flow.content_hash.as_str()))));
        assert!(attrs.contains(&("status", None)));
    }

    #[test]
    fn export_answers_are_escaped_typed_and_in_the_schemas_order() {
        let flow = flow();
        let xml = answers_xml(&flow, &case(&flow, full_answers()));
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "case");
        assert_eq!(
            root.tag_name().namespace(),
            Some("urn:blankett:flow:allt:3")
        );
        assert_eq!(root.attribute("number"), Some("2026-0042"));
        assert_eq!(root.attribute("status"), Some("completed"));
        assert_eq!(root.attribute("created"), Some("2026-11-22T14:30:05"));
        assert_eq!(
            root.attribute("flow-hash"),
            Some(flow.content_hash.as_str())
        );

        let steps: Vec<_> = root.children().filter(|c| c.is_element()).collect();
        assert_eq!(steps.len(), 1, "a step without answers is absent");
        let first = steps[0];
        let names: Vec<_> = first
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        assert_eq!(
            names,
            [
                "name",
                "notes",
                "count",
                "amount",
                "day",
                "at",
                "agree",
                "colour",
                "tags",
                "tags",
                "pnr",
                "org",
                "mail",
                "tel",
                "maker",
                "attachment",
                "people",
                "people"
            ]
        );
        let text = |n: &str| child(first, n)[0].text().unwrap_or_default().to_owned();
        assert_eq!(text("name"), "Åsa <Öberg> & \"co\" 'x'");
        assert_eq!(
            text("notes"),
            "rad ett\nrad två\r\n\ttab\u{FFFD}",
            "line breaks survive; a control character XML cannot hold is replaced"
        );
        assert_eq!(text("amount"), "1000000000000000000000", "no exponent");
        assert_eq!(text("at"), "2026-11-22T14:30:00", "xs:dateTime has seconds");
        assert_eq!(text("agree"), "true");
        assert_eq!(text("colour"), "a&b");
        let tags: Vec<_> = child(first, "tags").iter().map(|t| t.text()).collect();
        assert_eq!(tags, [Some("1"), Some("2")]);
        let maker = child(first, "maker")[0];
        assert_eq!(child(maker, "personnummer")[0].text(), Some("189001019802"));
        let file = child(first, "attachment")[0];
        let parts: Vec<_> = file
            .children()
            .filter(|c| c.is_element())
            .map(|c| (c.tag_name().name(), c.text().unwrap_or_default()))
            .collect();
        assert_eq!(
            parts,
            [
                ("id", "f1"),
                ("name", "a.pdf"),
                ("size", "10"),
                ("content_type", "application/pdf")
            ]
        );
        let people = child(first, "people");
        let who = child(people[0], "who")[0];
        assert_eq!(child(who, "name")[0].text(), Some("En"));
        assert_eq!(child(people[0], "role")[0].text(), Some("Ledamot"));
        assert_eq!(
            people[1].children().count(),
            0,
            "an empty item is still there"
        );
    }

    #[test]
    fn export_leaves_out_absent_empty_and_hidden_answers() {
        let flow = flow();
        let answers = json!({
            "first": {"name": null, "tags": [], "maker": {}, "count": 0, "agree": false},
            "later": {"comment": "Klart"}
        });
        let xml = answers_xml(&flow, &case(&flow, answers));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let first = child(doc.root_element(), "first")[0];
        let names: Vec<_> = first
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        assert_eq!(names, ["count", "agree"], "zero and false are answers");
        let later = child(doc.root_element(), "later")[0];
        assert_eq!(child(later, "comment")[0].text(), Some("Klart"));
        assert!(!xml.contains("<hidden>"));
    }

    #[test]
    fn export_escape_covers_markup_and_characters_xml_cannot_hold() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("\u{0}\u{B}\u{FFFE}ok"), "\u{FFFD}\u{FFFD}\u{FFFD}ok");
        assert_eq!(escape("😀 å"), "😀 å");
        assert_eq!(decimal_text(2.5), "2.5");
        assert_eq!(decimal_text(-3.0), "-3");
        assert_eq!(decimal_text(1e-7), "0.0000001");
    }
}
