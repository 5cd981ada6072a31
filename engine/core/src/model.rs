//! The linked flow: what the engine runs after `link` has checked a `FlowDef`.
//! `use:` is expanded, expressions are compiled, names are resolved, defaults are applied.

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::def::{
    Channel, Display, DocumentDef, FieldType, FlowDef, NotifyEvent, OptionDef, Prefill, StepKind,
    TextDef,
};
use crate::expr::Expr;

/// Text in Swedish and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Text {
    pub sv: String,
    pub en: String,
}

impl Text {
    pub fn new(sv: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            sv: sv.into(),
            en: en.into(),
        }
    }

    pub fn get(&self, lang: crate::def::Language) -> &str {
        match lang {
            crate::def::Language::Sv => &self.sv,
            crate::def::Language::En => &self.en,
        }
    }
}

impl From<&TextDef> for Text {
    fn from(t: &TextDef) -> Self {
        Text {
            sv: t.sv.clone(),
            en: t.en.clone().unwrap_or_else(|| t.sv.clone()),
        }
    }
}

/// Who acts: fills a step or signs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Role {
    /// Whoever started the case (a citizen, or a case worker for flows they start).
    Applicant,
    /// The case worker handling the case.
    CaseWorker,
    /// A party declared under `parties`.
    Party(String),
}

impl Role {
    pub fn parse(s: &str) -> Role {
        match s {
            "applicant" => Role::Applicant,
            "case_worker" => Role::CaseWorker,
            other => Role::Party(other.to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Role::Applicant => "applicant",
            Role::CaseWorker => "case_worker",
            Role::Party(p) => p,
        }
    }
}

/// A linked flow.
#[derive(Debug, Clone)]
pub struct Flow {
    pub def: FlowDef,
    pub id: String,
    /// SHA-256 (hex) of everything the flow is made of: its folder and the form-defs it uses.
    pub content_hash: crate::ids::FlowHash,
    /// Display path of the flow's folder.
    pub dir: String,
    pub title: Text,
    pub steps: Vec<Step>,
    pub parties: IndexMap<String, Party>,
    pub signers: Vec<SignerSlot>,
    pub sign_message: String,
    pub signing_expires_days: u32,
    /// `signing.order`: fixed, or an expression over the answers.
    pub signing_order: OrderRule,
    /// `signing.allow_same_signer`.
    pub allow_same_signer: bool,
    pub document: Option<DocumentDef>,
    pub notify: Vec<Notify>,
    /// How the applicant is reached: email and phone expressions over the answers.
    pub contact: (Option<Expr>, Option<Expr>),
    pub retention: Retention,
    /// The form-defs this flow uses (name → SHA-256 of the file).
    pub uses: IndexMap<String, String>,
    /// The files the document renderer may read: the folder's own files and the shared
    /// includes under `_shared/`. Covered by `content_hash`.
    pub files: Arc<BTreeMap<String, Vec<u8>>>,
}

/// Retention periods in days; `None` means keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub drafts_days: Option<u32>,
    pub cases_days: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Party {
    pub name: String,
    pub label: Text,
    pub each: Option<Expr>,
    pub personnummer: Expr,
    pub full_name: Expr,
    pub email: Option<Expr>,
    pub phone: Option<Expr>,
}

/// One declared signature (a party with `each` expands to several at approval).
#[derive(Debug, Clone)]
pub struct SignerSlot {
    pub who: Role,
    pub label: Text,
}

#[derive(Debug, Clone)]
pub struct Notify {
    pub on: NotifyEvent,
    pub to: Vec<String>,
    pub by: Vec<Channel>,
    pub after_days: Option<u32>,
}

/// A linked step.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    pub title: Text,
    pub description: Option<Text>,
    pub by: Role,
    pub when: Option<Expr>,
    pub fields: Vec<Field>,
    /// The compiled JSON Schema of the step's answers.
    pub schema: StepSchema,
    /// The step's answers with every field empty (null, or [] for lists): the base that
    /// expressions see, so an unanswered field reads as empty rather than undefined.
    pub empty_answers: serde_json::Value,
}

impl Step {
    /// Every field of the step, depth first (group children after their group).
    pub fn all_fields(&self) -> Vec<&Field> {
        fn walk<'a>(fields: &'a [Field], out: &mut Vec<&'a Field>) {
            for f in fields {
                out.push(f);
                walk(&f.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.fields, &mut out);
        out
    }
}

/// A segment of a field's location inside its step's answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Seg {
    /// A key in an object (a field id or a `use … as` prefix).
    Key(String),
    /// "each item" of a repeating group.
    Item,
}

/// How `signing.order` is decided.
#[derive(Debug, Clone)]
pub enum OrderRule {
    Fixed(crate::def::SigningOrder),
    /// An expression over the answers giving `sequential` or `any`.
    Expr(Expr),
}

/// A linked field. `use:` has been expanded: fields of a prefixed group have the prefix in
/// their `parent`, and inherit its `show_if`.
#[derive(Debug, Clone)]
pub struct Field {
    pub id: String,
    /// The objects from the step (or from the group item, for group children) down to this
    /// field: `[Key("maker")]` for `decision.maker.name`.
    pub parent: Vec<String>,
    pub kind: FieldType,
    pub label: Text,
    pub help: Option<Text>,
    pub text: Option<Text>,
    /// Heading of the `use … as` section this field starts, if it is the first of one.
    pub section: Option<Section>,
    pub required: bool,
    pub required_if: Option<Expr>,
    /// All conditions that must hold for the field to be shown (its own and those of the
    /// `use` it came from).
    pub show_if: Vec<Expr>,
    pub compute: Option<Expr>,
    pub prefill: Option<Prefill>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<String>,
    pub pattern_message: Option<Text>,
    pub decimals: u32,
    pub options: Vec<ChoiceOption>,
    pub display: Option<Display>,
    pub max_size: Option<u64>,
    pub accept: Vec<String>,
    pub autocomplete: Option<String>,
    /// Sub-fields of a repeating group, located relative to the item.
    pub children: Vec<Field>,
    /// Where it was written, for diagnostics.
    pub origin: Origin,
}

impl Field {
    /// The path of the field relative to its step (or group item): `maker.name`.
    pub fn local_path(&self) -> Vec<String> {
        let mut p = self.parent.clone();
        p.push(self.id.clone());
        p
    }

    /// Whether the field stores a value at all.
    pub fn has_value(&self) -> bool {
        self.kind != FieldType::Info
    }
}

/// Where a definition was written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub file: String,
    pub pos: crate::diag::Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub prefix: Vec<String>,
    pub label: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChoiceOption {
    pub value: String,
    pub label: Text,
}

impl From<&OptionDef> for ChoiceOption {
    fn from(o: &OptionDef) -> Self {
        ChoiceOption {
            value: o.value.clone(),
            label: Text::from(&o.label),
        }
    }
}

impl Flow {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

/// A compiled JSON Schema for one step's answers (built by `rules`, where its formats live).
#[derive(Clone)]
pub struct StepSchema(pub(crate) Option<std::sync::Arc<jsonschema::Validator>>);

impl std::fmt::Debug for StepSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepSchema")
    }
}
