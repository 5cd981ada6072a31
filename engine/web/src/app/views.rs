//! The view models of the HTML pages: one struct per page, serialized as its template's
//! context.
//!
//! Field names are the template's variable names. An `Option` is `none` in the template,
//! never missing (the templates treat an undefined variable as an error).

use blankett_core::store::{MessageChannel, MessageStatus};
use serde::Serialize;
use serde_json::Value;

/// A page's view model: what [`super::Ctx::page`] takes. Only the page structs below
/// implement it, so a page cannot be rendered from an ad-hoc JSON value.
pub trait PageView: Serialize {}

macro_rules! page_views {
    ($($page:ty),* $(,)?) => {
        $(impl PageView for $page {})*
    };
}

page_views!(
    CataloguePage,
    StepPage,
    ReviewPage,
    ReceiptPage,
    CasePage,
    MyPages,
    InboxPage,
    SignPage,
    LoginPage,
    EidWaitPage,
    TestEidPage,
    OutboxPage,
    MailboxPage,
);

/// The fields `layout.html` needs on every page rendered by [`super::Ctx::page`].
#[derive(Serialize)]
pub struct Layout {
    pub lang: &'static str,
    pub page_title: String,
    pub site: Site,
    pub user: Option<LayoutUser>,
    pub csrf: String,
    pub return_to: String,
    pub login_next: String,
    pub notice: Option<String>,
}

/// The site in the header.
#[derive(Serialize)]
pub struct Site {
    pub name: String,
    pub development: bool,
}

/// The logged-in person in the header.
#[derive(Serialize)]
pub struct LayoutUser {
    pub name: String,
    pub case_worker: bool,
}

/// `error.html`: the layout's fields (without a notice) and what went wrong.
#[derive(Serialize)]
pub struct ErrorView {
    pub lang: &'static str,
    pub page_title: String,
    pub site: Site,
    pub user: Option<LayoutUser>,
    pub csrf: String,
    pub return_to: String,
    pub login_next: String,
    pub heading: String,
    pub message: String,
    pub retry: Option<String>,
    pub request_id: String,
}

/// `catalogue.html`: the e-services.
#[derive(Serialize)]
pub struct CataloguePage {
    pub services: Vec<ServiceItem>,
}

/// One e-service in the catalogue.
#[derive(Serialize)]
pub struct ServiceItem {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub for_case_workers: bool,
}

/// Where the applicant is in the journey: step `current` of `total`.
#[derive(Serialize)]
pub struct Progress {
    pub current: usize,
    pub total: usize,
}

/// An entry of an error summary that links to a field on the same page.
#[derive(Serialize)]
pub struct ErrorAnchor {
    pub anchor: String,
    pub message: String,
}

/// An entry of an error summary with a full link (to a field on another page).
#[derive(Serialize)]
pub struct ErrorLink {
    pub href: String,
    pub message: String,
}

/// `step.html`: one step of the form.
#[derive(Serialize)]
pub struct StepPage {
    pub progress: Progress,
    pub flow_title: String,
    pub case_number: String,
    pub step_title: String,
    pub step_description: Option<String>,
    pub action: String,
    pub visibility_url: String,
    /// The label of the item that "Undo" puts back.
    pub undo: Option<String>,
    pub revision: u64,
    /// The step has a file field: the form is sent as `multipart/form-data`.
    pub multipart: bool,
    /// The fields, from [`super::forms::field_views`]: dynamic, their keys vary by field type.
    pub fields: Vec<Value>,
    pub errors: Vec<ErrorAnchor>,
    pub has_previous: bool,
}

/// One step's answers on the review and case pages (and in the receipt PDF).
#[derive(Serialize)]
pub struct SummaryStep {
    pub title: String,
    pub rows: Vec<SummaryRow>,
    pub change_url: Option<String>,
}

/// One answer: its label and its value as lines.
#[derive(Serialize)]
pub struct SummaryRow {
    pub label: String,
    pub lines: Vec<String>,
    /// A file answer: `name`, `size`, `type` and the download `url`.
    pub file: Option<serde_json::Value>,
    pub computed: bool,
    pub anchor: String,
}

/// `review.html`: check your answers before submitting.
#[derive(Serialize)]
pub struct ReviewPage {
    pub progress: Progress,
    pub flow_title: String,
    pub case_number: String,
    pub steps: Vec<SummaryStep>,
    pub errors: Vec<ErrorLink>,
    pub revision: u64,
    pub submit_action: String,
    pub submit_label: String,
    pub submit_text: String,
    pub back_url: Option<String>,
}

/// `receipt.html`: the case has been submitted.
#[derive(Serialize)]
pub struct ReceiptPage {
    pub heading: String,
    pub case_number: String,
    pub message: String,
    pub case_url: String,
    pub receipt_url: Option<String>,
}

/// A case's status: its code (for styling and filters) and its label.
#[derive(Serialize)]
pub struct StatusView {
    pub code: &'static str,
    pub label: String,
}

/// `case.html`: the case page.
#[derive(Serialize)]
pub struct CasePage {
    pub flow_title: String,
    pub case_number: String,
    pub status: StatusView,
    pub base: String,
    pub revision: u64,
    pub return_comment: Option<String>,
    pub errors: Vec<ErrorLink>,
    /// The action form to show open (after an error in it).
    pub open_form: Option<String>,
    pub actions: CaseActions,
    pub signatures: Vec<SignatureRow>,
    pub steps: Vec<SummaryStep>,
    pub events: Vec<EventRow>,
}

/// What the viewer of a case page may do.
#[derive(Serialize)]
pub struct CaseActions {
    pub continue_url: Option<String>,
    pub continue_label: String,
    pub sign_url: Option<String>,
    pub download_url: Option<String>,
    pub download_label: String,
    pub assign: bool,
    pub approve: bool,
    pub return_to_applicant: bool,
    pub reject: bool,
    pub reopen: bool,
    pub withdraw: bool,
}

/// One signer on the case page.
#[derive(Serialize)]
pub struct SignatureRow {
    pub label: String,
    pub name: String,
    pub state: String,
}

/// One event of the case's history.
#[derive(Serialize)]
pub struct EventRow {
    pub at: String,
    pub what: String,
    pub detail: Option<String>,
    pub by: String,
}

/// One case in a list (My pages, the inbox).
#[derive(Serialize)]
pub struct CaseRow {
    pub url: String,
    pub number: String,
    pub flow_title: String,
    pub status: StatusView,
    pub updated: String,
    pub action_url: Option<String>,
    pub action_label: Option<String>,
    pub receipt_url: Option<String>,
    /// Who handles the case (the inbox only; empty elsewhere).
    pub assignee: String,
}

/// `my_pages.html`: the person's cases in sections.
#[derive(Serialize)]
pub struct MyPages {
    pub sections: Vec<CaseSection>,
}

/// A titled list of cases, with a text for when it is empty.
#[derive(Serialize)]
pub struct CaseSection {
    pub title: String,
    pub empty: String,
    pub cases: Vec<CaseRow>,
}

/// `inbox.html`: the case worker's cases and the filters.
#[derive(Serialize)]
pub struct InboxPage {
    pub cases: Vec<CaseRow>,
    pub flows: Vec<FlowOption>,
    pub statuses: Vec<FilterOption>,
    pub assignees: Vec<FilterOption>,
}

/// An e-service to filter by.
#[derive(Serialize)]
pub struct FlowOption {
    pub id: String,
    pub title: String,
    pub selected: bool,
}

/// A filter choice (a status, an assignee).
#[derive(Serialize)]
pub struct FilterOption {
    pub code: &'static str,
    pub label: String,
    pub selected: bool,
}

/// An eID provider to choose.
#[derive(Serialize)]
pub struct ProviderChoice {
    pub id: String,
    pub label: String,
}

/// A page of the document as an image.
#[derive(Serialize)]
pub struct PageImage {
    pub number: usize,
    pub url: String,
}

/// `sign.html`: review the locked document and sign (or decline).
#[derive(Serialize)]
pub struct SignPage {
    pub flow_title: String,
    pub case_number: String,
    pub signer_label: String,
    pub sha256: String,
    pub sign_text: String,
    pub download_url: String,
    pub pages: Vec<PageImage>,
    pub providers: Vec<ProviderChoice>,
    pub start_action: String,
    pub decline_action: String,
    pub revision: u64,
    pub errors: Vec<ErrorAnchor>,
    pub decline_error: Option<String>,
    pub open_form: Option<&'static str>,
}

/// `login.html`: choose an eID to log in with.
#[derive(Serialize)]
pub struct LoginPage {
    pub providers: Vec<ProviderChoice>,
    pub next: String,
    pub message: Option<String>,
}

/// `eid_wait.html`: waiting for the eID order.
#[derive(Serialize)]
pub struct EidWaitPage {
    pub heading: String,
    pub message: String,
    pub poll_url: &'static str,
    pub poll_page: &'static str,
    pub qr_url: Option<&'static str>,
    pub autostart_url: Option<String>,
    pub test_url: Option<String>,
}

/// `test_eid.html`: the built-in test eID (development only).
#[derive(Serialize)]
pub struct TestEidPage {
    pub identities: Vec<TestIdentity>,
    pub visible_text: Option<String>,
    pub action: String,
    pub error: Option<String>,
    pub other: String,
    pub other_name: String,
}

/// A test person to log in or sign as.
#[derive(Serialize)]
pub struct TestIdentity {
    pub personnummer: String,
    pub name: String,
}

/// `outbox.html` for administrators: undelivered messages.
#[derive(Serialize)]
pub struct OutboxPage {
    /// Always `false` here.
    pub dev: bool,
    pub messages: Vec<MessageRow>,
    pub failed: usize,
    pub pending: usize,
}

/// `outbox.html` in development: every message, and the folder they are kept in.
#[derive(Serialize)]
pub struct MailboxPage {
    /// Always `true` here.
    pub dev: bool,
    pub messages: Vec<MessageRow>,
    pub mailbox_dir: String,
}

/// One message of the outbox.
#[derive(Serialize)]
pub struct MessageRow {
    pub created_at: String,
    pub channel: MessageChannel,
    pub topic: String,
    pub recipient: String,
    pub status: MessageStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub subject: String,
    pub text: String,
}
