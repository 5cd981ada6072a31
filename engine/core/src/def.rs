//! The flow format, version 1, exactly as a service designer writes it in YAML.
//!
//! These types are the single source of truth: serde reads them, and the JSON Schema in
//! `flows/flow.schema.json` (for editor autocompletion) is generated from them. Every struct
//! refuses unknown keys. The linked, checked form that the engine runs is in `model`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Text in Swedish and, optionally, English (Swedish is used when English is missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextDef {
    /// Swedish text.
    pub sv: String,
    /// English text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

/// A flow: one e-service, from its first step to the signed document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Blankett flow, format version 1")]
pub struct FlowDef {
    /// The format version of this file. Always 1.
    pub version: u32,
    /// Identifier of the e-service: lowercase letters, digits and `-`. Must equal the folder name.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]*$"))]
    pub id: String,
    /// The e-service's own revision, raised by the designer on every published change
    /// (cases are in any case pinned to the exact content they started with).
    #[serde(default = "one")]
    pub revision: u32,
    /// Name of the e-service, as shown in the catalogue.
    pub title: TextDef,
    /// A short description for the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<TextDef>,
    /// The municipal unit that owns the e-service and its cases (e.g. `socialnamnden`).
    pub owner: String,
    /// Who may start a case.
    pub start: Vec<Starter>,
    /// Whether the person must log in with eID before starting.
    #[serde(default)]
    pub login: Login,
    /// Confidential cases (e.g. social services) are never shown in lists to people outside
    /// the owning unit and their details never leave through notifications.
    #[serde(default)]
    pub confidential: bool,
    /// How long drafts and finished cases are kept.
    #[serde(default)]
    pub retention: RetentionDef,
    /// People who act on a case besides the one who started it, taken from the answers.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub parties: IndexMap<String, PartyDef>,
    /// The steps, in order.
    pub steps: Vec<StepDef>,
    /// The document produced at approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentDef>,
    /// Who signs the document, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningDef>,
    /// Who is told what, when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifyDef>,
    /// How the applicant is reached for notifications (`to: [applicant]`): expressions over
    /// the answers, e.g. `claimant.contact.email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactDef>,
}

/// Where notifications to the applicant go.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactDef {
    /// Expression giving the applicant's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Expression giving the applicant's mobile number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

fn one() -> u32 {
    1
}

/// Who may start a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Starter {
    /// A member of the public (the applicant), in the self-service portal.
    Citizen,
    /// A case worker (handläggare), from the case-worker view.
    CaseWorker,
}

/// Whether eID login is needed to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Login {
    /// eID login before the first step (the default).
    #[default]
    Required,
    /// Anyone may start; login is offered for prefilling and for My pages.
    Optional,
}

/// Retention: durations such as `30d`, `12w`, `6m`, `10y`, or `keep` (never purged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionDef {
    /// How long an untouched draft is kept.
    #[serde(default = "default_drafts")]
    #[schemars(regex(pattern = r"^([0-9]+[dwmy]|keep)$"))]
    pub drafts: String,
    /// How long a finished (completed, rejected, withdrawn) case is kept.
    #[serde(default = "default_cases")]
    #[schemars(regex(pattern = r"^([0-9]+[dwmy]|keep)$"))]
    pub cases: String,
}

fn default_drafts() -> String {
    "30d".into()
}
fn default_cases() -> String {
    "keep".into()
}

impl Default for RetentionDef {
    fn default() -> Self {
        Self {
            drafts: default_drafts(),
            cases: default_cases(),
        }
    }
}

/// A person who acts on a case, identified from the answers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyDef {
    /// How the party is called in the case view ("Beslutsfattare").
    pub label: TextDef,
    /// When set, an expression giving a list (a repeating group): there is one party per item,
    /// and the expressions below see the item as `item`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub each: Option<String>,
    /// Expression giving the party's personnummer (e.g. `decision.maker.personnummer`).
    pub personnummer: String,
    /// Expression giving the party's full name.
    pub name: String,
    /// Expression giving an email address for notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Expression giving a mobile number for notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// One page of the form, or the review page.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// Identifier, unique in the flow; also the name of the step's answers in expressions.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub id: String,
    /// `form` (the default) or `review`: a summary of every answer with links to change it.
    #[serde(default, rename = "type")]
    pub kind: StepKind,
    /// The page heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<TextDef>,
    /// Introductory text shown under the heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<TextDef>,
    /// Who fills in this step: `applicant` (whoever started the case), `case_worker`, or the
    /// name of a party.
    #[serde(default = "applicant")]
    pub by: String,
    /// An expression: the step is skipped when it is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The fields of the step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDef>,
}

fn applicant() -> String {
    "applicant".into()
}

/// Kind of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    #[default]
    Form,
    Review,
}

/// A field, or a `use:` of a reusable field group from `form-defs/`.
///
/// A field has `id` and `type`; a use has `use` (and optionally `as`, a prefix). Which other
/// keys apply depends on the type; `blankett check` says when one does not.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Identifier, unique among its siblings; the answer's name in expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub id: Option<String>,
    /// The field type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<FieldType>,
    /// Name of a field group in `form-defs/` (file name without `.yaml`) whose fields are
    /// inserted here.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_def: Option<String>,
    /// With `use`: the prefix under which the group's answers are kept (`child` gives
    /// `child.name`, `child.personnummer`). Without it, the fields are inserted as they are.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub prefix: Option<String>,
    /// The label (for a `use` with a prefix: the heading of the group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<TextDef>,
    /// Help text shown under the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<TextDef>,
    /// The text of an `info` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextDef>,
    /// The field must be answered (when shown).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// An expression: the field must be answered when it is true (and the field is shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_if: Option<String>,
    /// An expression: the field (or used group) is shown only when it is true. A hidden field's
    /// answer is discarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<String>,
    /// An expression: the field's value is derived, shown read-only and kept up to date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<String>,
    /// Prefill from the logged-in person's verified identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill: Option<Prefill>,
    /// Smallest value (integer, decimal), or fewest items (group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value (integer, decimal), or most items (group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Shortest text, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Longest text, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// A regular expression the whole text must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// What to say when `pattern` does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_message: Option<TextDef>,
    /// Number of decimals kept for a `decimal` field (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u32>,
    /// The alternatives of a `choice` or `multi_choice` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionDef>,
    /// How a choice is shown: `radio` (default for up to 6 options), `select`, `checkboxes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<Display>,
    /// Largest upload of a `file` field, e.g. `10MB`, `500kB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+ ?([kKMG]i?B|B)$"))]
    pub max_size: Option<String>,
    /// Allowed file types of a `file` field: MIME types (`application/pdf`) or extensions (`.pdf`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
    /// The sub-fields of each item of a repeating `group`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDef>,
    /// The HTML autocomplete token (WCAG 1.3.5), e.g. `name`, `email`, `tel`, `postal-code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autocomplete: Option<String>,
}

/// The field types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// One line of text.
    Text,
    /// Several lines of text.
    Textarea,
    /// A whole number.
    Integer,
    /// A number with decimals (entered with a comma or a point).
    Decimal,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// A date and time, `YYYY-MM-DDTHH:MM`.
    Datetime,
    /// Yes or no.
    Boolean,
    /// One of the options.
    Choice,
    /// Any number of the options.
    MultiChoice,
    /// A Swedish personal identity number or coordination number (samordningsnummer), 12 digits.
    Personnummer,
    /// A Swedish organisation number, 10 digits.
    Organisationsnummer,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// An uploaded file.
    File,
    /// Information text only; no answer.
    Info,
    /// A repeating group of sub-fields (`fields`), between `min` and `max` items.
    Group,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Boolean => "boolean",
            FieldType::Choice => "choice",
            FieldType::MultiChoice => "multi_choice",
            FieldType::Personnummer => "personnummer",
            FieldType::Organisationsnummer => "organisationsnummer",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::File => "file",
            FieldType::Info => "info",
            FieldType::Group => "group",
        }
    }

    /// Whether answers of this type are text (and so take `min_length`, `max_length`, `pattern`).
    pub fn is_textual(self) -> bool {
        matches!(
            self,
            FieldType::Text | FieldType::Textarea | FieldType::Email | FieldType::Phone
        )
    }
}

/// What the logged-in person's identity can prefill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Prefill {
    Name,
    GivenName,
    Surname,
    Personnummer,
}

/// One alternative of a choice.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionDef {
    /// The stored value (text; quote numbers: `"2"`).
    pub value: String,
    /// What the person sees.
    pub label: TextDef,
}

/// How a choice is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Display {
    Radio,
    Select,
    Checkboxes,
}

/// The document rendered when the case is approved.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentDef {
    /// The Typst template, relative to the flow's folder. With `from`, the template is the
    /// signature page added after the uploaded document's pages.
    pub template: String,
    /// A document made elsewhere: the `file` field (`step.field`) whose uploaded PDF is the
    /// document. It is checked (a PDF, whole, not encrypted, not signed, no JavaScript or
    /// launch actions) and gets the `template` page with one signature field per signer
    /// after its own pages, which stay exactly as uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// With `from`: whether the upload must declare PDF/A (default `true`). With `false`, a
    /// PDF without PDF/A is taken, and the archive export says it is not PDF/A.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub require_pdfa: bool,
    /// The PDF standard.
    #[serde(default)]
    pub standard: PdfStandard,
    /// The document title (a template: `{{ case.number }}` and the answers may be used).
    pub title: String,
    /// The download file name (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Language of the document (for PDF metadata and accessibility).
    #[serde(default)]
    pub language: Language,
}

/// PDF standards Blankett can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum PdfStandard {
    #[default]
    #[serde(rename = "pdf/a-2b")]
    PdfA2b,
    #[serde(rename = "pdf/a-2a")]
    PdfA2a,
    #[serde(rename = "pdf/a-2u")]
    PdfA2u,
    #[serde(rename = "pdf/a-3b")]
    PdfA3b,
    #[serde(rename = "pdf/a-2b+ua-1")]
    PdfA2bUa1,
}

/// A language of the UI or a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    Sv,
    En,
}

/// The signing sequence.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningDef {
    /// The signers, in the order they sign.
    pub signers: Vec<SignerDef>,
    /// The text shown in the eID app when signing (a template; `document.title`,
    /// `document.sha256`, `case.number`, `signer.label` and the answers may be used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long each signer has, e.g. `14d`, before the request expires.
    #[serde(default = "default_expires")]
    #[schemars(regex(pattern = r"^[0-9]+[dw]$"))]
    pub expires_after: String,
    /// The eID assurance level every signer must sign with (eIDAS terms): only eID providers
    /// at this level or higher are offered, and a signature made at a lower level is refused.
    /// Default `substantial` (BankID, Freja eID+). The development test eID is accepted
    /// whatever this says, and only outside production.
    #[serde(default)]
    pub assurance: Assurance,
    /// What the last signature completes, shown in that signer's visible signature with its
    /// date and time, e.g. "Protokollet är justerat" for minutes: the signed document itself
    /// then says that, and when, it was completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_note: Option<TextDef>,
    /// `sequential` (default): one signer after another, in the order listed, each asked when
    /// the one before has signed. `any`: every signer is asked at once and signs when they
    /// like, each in their own incremental revision; the case completes when all have
    /// signed, and one decline stops it. Or an expression over the answers that gives
    /// `sequential` or `any` (the person who starts the case chooses).
    #[serde(default = "default_order")]
    pub order: String,
    /// Whether one person may sign more than once (in two roles, or listed twice). Default
    /// `false`: approval is refused when the signers name someone twice (four eyes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_same_signer: bool,
}

/// In which order the signers sign (`signing.order` as decided for a case).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningOrder {
    /// One after another, in the order listed.
    #[default]
    Sequential,
    /// All at once, in any order.
    Any,
}

/// An eID assurance level a flow can ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Assurance {
    /// eIDAS low.
    Low,
    /// eIDAS substantial (Svensk e-legitimation, tillitsnivå 3).
    #[default]
    Substantial,
    /// eIDAS high (tillitsnivå 4).
    High,
}

impl Assurance {
    /// The level of the eID port that satisfies this requirement.
    pub fn level(self) -> crate::eid::AssuranceLevel {
        match self {
            Assurance::Low => crate::eid::AssuranceLevel::Low,
            Assurance::Substantial => crate::eid::AssuranceLevel::Substantial,
            Assurance::High => crate::eid::AssuranceLevel::High,
        }
    }
}

fn default_order() -> String {
    "sequential".into()
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn default_expires() -> String {
    "14d".into()
}

/// One signature.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignerDef {
    /// `case_worker` (the assigned case worker), `applicant`, or the name of a party. A party
    /// with `each` gives one signature per item, in order.
    pub who: String,
    /// The role label in the signature block ("Handläggare", "Vårdnadshavare").
    pub label: TextDef,
}

/// A notification rule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyDef {
    /// The event.
    pub on: NotifyEvent,
    /// Recipients: `applicant`, `case_worker`, `next_signer`, `signers`, or party names.
    pub to: Vec<String>,
    /// Channels.
    #[serde(default = "default_channels")]
    pub by: Vec<Channel>,
    /// For `reminder`: after how long without a signature, e.g. `3d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+[dw]$"))]
    pub after: Option<String>,
}

fn default_channels() -> Vec<Channel> {
    vec![Channel::Email]
}

/// Events that can notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    Submitted,
    Returned,
    SignatureRequested,
    Reminder,
    SigningExpired,
    Declined,
    Completed,
    Rejected,
}

/// Notification channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

/// A reusable group of fields, one file in `form-defs/`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Blankett form-def (reusable field group), format version 1")]
pub struct FormDef {
    /// The format version of this file. Always 1.
    pub version: u32,
    /// Identifier; must equal the file name without `.yaml`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]*$"))]
    pub id: String,
    /// What the group is.
    pub title: TextDef,
    /// The fields.
    pub fields: Vec<FieldDef>,
}
