//! `/api/v1/cases`: list, read, download the document, create (with prefilled answers, handed to
//! a case worker or straight to signing), withdraw.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blankett_app::commands::{self, CommandError};
use blankett_core::Flow;
use blankett_core::case::{
    self, Actor, ActorRole, Case, CaseError, Command, Event, EventKind, Outcome, Person, Status,
};
use blankett_core::def::Starter;
use blankett_core::document::safe_filename;
use blankett_core::ids::Personnummer;
use blankett_core::model::Role;
use blankett_core::rules::{FieldError, validate_all, validate_steps};
use blankett_core::store::CaseFilter;
use blankett_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::super::cases::write;
use super::super::config::ApiScope;
use super::super::error::ErrorBody;
use super::super::worker::{ApproveError, lock_document};
use super::super::{AppError, AppState};
use super::{ApiCaller, ApiJson, ApiOptionalJson, ApiPath, ApiQuery};
use blankett_app::approval::Locked;

/// Where a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Draft,
    Submitted,
    InReview,
    Returned,
    Signing,
    Declined,
    SigningExpired,
    Completed,
    Rejected,
    Withdrawn,
}

impl From<Status> for CaseStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Draft => CaseStatus::Draft,
            Status::Submitted => CaseStatus::Submitted,
            Status::InReview => CaseStatus::InReview,
            Status::Returned => CaseStatus::Returned,
            Status::Signing => CaseStatus::Signing,
            Status::Declined => CaseStatus::Declined,
            Status::SigningExpired => CaseStatus::SigningExpired,
            Status::Completed => CaseStatus::Completed,
            Status::Rejected => CaseStatus::Rejected,
            Status::Withdrawn => CaseStatus::Withdrawn,
        }
    }
}

impl From<CaseStatus> for Status {
    fn from(s: CaseStatus) -> Self {
        match s {
            CaseStatus::Draft => Status::Draft,
            CaseStatus::Submitted => Status::Submitted,
            CaseStatus::InReview => Status::InReview,
            CaseStatus::Returned => Status::Returned,
            CaseStatus::Signing => Status::Signing,
            CaseStatus::Declined => Status::Declined,
            CaseStatus::SigningExpired => Status::SigningExpired,
            CaseStatus::Completed => Status::Completed,
            CaseStatus::Rejected => Status::Rejected,
            CaseStatus::Withdrawn => Status::Withdrawn,
        }
    }
}

/// A row of the case list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseSummaryView {
    /// The case id (a UUID).
    pub id: String,
    /// The case number, e.g. `2026-0042`.
    pub number: String,
    pub flow_id: String,
    pub status: CaseStatus,
    /// Bumped by every change.
    pub revision: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// The case list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseList {
    /// Newest change first.
    pub cases: Vec<CaseSummaryView>,
}

/// A person: a Swedish personnummer (12 digits) and a name.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonView {
    /// 12 digits, e.g. `197701172392`.
    pub personnummer: String,
    pub name: String,
}

impl std::fmt::Debug for PersonView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonView(<redacted>)")
    }
}

/// A text in Swedish and English.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TextView {
    pub sv: String,
    pub en: String,
}

/// Where a signature is.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureState {
    /// Waiting for an earlier signer.
    Waiting,
    /// Requested now.
    Requested,
    Signed,
    Declined,
    Expired,
}

/// One signature of the signing sequence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignatureView {
    /// The signature field in the document, e.g. `case_worker`, `decision_maker`.
    pub field: String,
    pub label: TextView,
    pub state: SignatureState,
    /// Who signs.
    pub signer: PersonView,
    /// When the state was reached (requested, signed, declined, expired).
    #[schema(format = DateTime)]
    pub at: Option<String>,
}

/// One event of the case's audit trail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    #[schema(format = DateTime)]
    pub at: String,
    /// `started`, `step_saved`, `submitted`, `assigned`, `approved`, `signature_requested`,
    /// `signed`, `completed`, `withdrawn`, `viewed`, …
    pub kind: String,
    /// The step or signature field the event is about, if any.
    pub target: Option<String>,
    /// `applicant`, `case_worker`, a party, or `api:<key name>`.
    pub actor_role: String,
    /// A comment or reason given with it.
    pub detail: Option<String>,
}

/// A case.
#[derive(Clone, Serialize, ToSchema)]
pub struct CaseView {
    pub id: String,
    pub number: String,
    pub flow_id: String,
    pub status: CaseStatus,
    /// Bumped by every change; give it back to `withdraw` to refuse a concurrent change.
    pub revision: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The answers by step id (as in the flow's `sample-answers.json`), with computed values.
    #[schema(value_type = Object)]
    pub answers: Value,
    pub applicant: PersonView,
    /// The case worker handling it.
    pub assignee: Option<PersonView>,
    /// SHA-256 (hex) of the newest document, from approval on.
    pub document_sha256: Option<String>,
    pub signatures: Vec<SignatureView>,
    /// Oldest first.
    pub events: Vec<EventView>,
}

/// Whom a new case goes to.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandTo {
    /// `{"case_worker": "<personnummer>"}`: submitted and assigned to this case worker of the
    /// flow's unit.
    CaseWorker(String),
    /// `"signing"`: approved at once (the document is rendered and locked, the first signature
    /// requested). The applicant must be a case worker of the flow's unit; the case is then
    /// theirs.
    Signing,
}

impl std::fmt::Debug for HandTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandTo::CaseWorker(_) => f.write_str("CaseWorker(<redacted>)"),
            HandTo::Signing => f.write_str("Signing"),
        }
    }
}

/// A new case with its answers, from a business system.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// The flow (e-service) id, e.g. `avtal`.
    pub flow: String,
    /// Whom the case is for; a case worker for flows only case workers start.
    pub applicant: PersonView,
    /// The answers by step id, validated with the rules of the flow's forms. For a flow whose
    /// document is uploaded, leave its file field out: `document` fills it.
    #[schema(value_type = Object)]
    pub answers: Value,
    pub hand_to: HandTo,
    /// The document, for a flow whose document is made elsewhere (`document.from` in the
    /// flow): a PDF, checked as an upload on the web is (PDF/A, whole, not encrypted, not
    /// signed, no JavaScript), within the request's size limit (`limits.body_bytes`).
    #[serde(default)]
    pub document: Option<DocumentUpload>,
}

/// A PDF sent with a new case, base64-encoded.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentUpload {
    /// The file name (a name only: no path).
    #[schema(min_length = 1, max_length = 240)]
    pub name: String,
    /// The PDF's bytes in base64 (RFC 4648, with padding).
    pub content_base64: String,
}

/// Withdrawing a case.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// Why; kept in the case's events.
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// The revision last read: a case changed since is not withdrawn (409).
    pub revision: Option<u64>,
}

/// Filters of the case list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this flow.
    pub flow: Option<String>,
    /// Only this status.
    pub status: Option<CaseStatus>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A moment as RFC 3339 in Swedish time with its offset (`+01:00` or `+02:00`; the two
/// moments of the repeated autumn hour each with their own).
fn stamp(t: Timestamp) -> String {
    t.swedish().format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn person(p: &Person) -> PersonView {
    PersonView {
        personnummer: p.personnummer.as_str().to_owned(),
        name: p.name.clone(),
    }
}

fn event_view(e: &Event) -> EventView {
    let (kind, target) = match &e.kind {
        EventKind::Started => ("started", None),
        EventKind::StepSaved(s) => ("step_saved", Some(s)),
        EventKind::WentBack(s) => ("went_back", Some(s)),
        EventKind::Submitted => ("submitted", None),
        EventKind::Assigned => ("assigned", None),
        EventKind::Returned => ("returned", None),
        EventKind::Rejected => ("rejected", None),
        EventKind::Approved => ("approved", None),
        EventKind::SignatureRequested(f) => ("signature_requested", Some(f)),
        EventKind::Signed(f) => ("signed", Some(f)),
        EventKind::Declined(f) => ("declined", Some(f)),
        EventKind::SigningExpired(f) => ("signing_expired", Some(f)),
        EventKind::Reopened => ("reopened", None),
        EventKind::Completed => ("completed", None),
        EventKind::Withdrawn => ("withdrawn", None),
        EventKind::Viewed => ("viewed", None),
    };
    EventView {
        at: stamp(e.at),
        kind: kind.to_owned(),
        target: target.cloned(),
        actor_role: e.actor_role.to_string(),
        detail: e.detail.clone(),
    }
}

fn case_view(c: &Case, events: &[Event]) -> CaseView {
    let signatures = c
        .signatures
        .iter()
        .map(|s| {
            let (state, at) = match &s.state {
                case::SignatureState::Waiting => (SignatureState::Waiting, None),
                case::SignatureState::Requested { at, .. } => {
                    (SignatureState::Requested, Some(*at))
                }
                case::SignatureState::Signed { at } => (SignatureState::Signed, Some(*at)),
                case::SignatureState::Declined { at, .. } => (SignatureState::Declined, Some(*at)),
                case::SignatureState::Expired { at } => (SignatureState::Expired, Some(*at)),
            };
            SignatureView {
                field: s.field.clone(),
                label: TextView {
                    sv: s.label.sv.clone(),
                    en: s.label.en.clone(),
                },
                state,
                signer: person(&s.person),
                at: at.map(stamp),
            }
        })
        .collect();
    CaseView {
        id: c.id.to_string(),
        number: c.number.clone(),
        flow_id: c.flow_id.clone(),
        status: c.status.into(),
        revision: c.revision,
        created_at: stamp(c.created_at),
        updated_at: stamp(c.updated_at),
        answers: c.answers.clone(),
        applicant: person(&c.applicant),
        assignee: c.assignee.as_ref().map(person),
        document_sha256: c.document_sha256.clone().map(String::from),
        signatures,
        events: events.iter().map(event_view).collect(),
    }
}

/// The case `id` if this key may see it (its flow); 404 otherwise, as for an unknown id.
async fn visible(
    app: &AppState,
    caller: &ApiCaller,
    id: &str,
) -> Result<(Case, Arc<Flow>), AppError> {
    // Case ids are UUIDs; anything else is unknown without asking the database.
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    let case = app.case(id).await?;
    if !caller.sees_flow(&case.flow_id) {
        return Err(AppError::NotFound);
    }
    let flow = app.flow_of(&case).await?;
    Ok((case, flow))
}

/// The audit event of a read through the API.
fn viewed(case: &Case, caller: &ApiCaller, now: Timestamp) -> Event {
    Event {
        at: now,
        kind: EventKind::Viewed,
        actor_role: caller.role(),
        actor: None,
        revision: case.revision,
        detail: None,
    }
}

/// Events of commands the API ran: done by the business system, not by a person.
fn as_api(events: &mut [Event], caller: &ApiCaller) {
    for e in events {
        e.actor_role = caller.role();
        e.actor = None;
    }
}

fn field_error(path: &str, code: &'static str, sv: &str, en: &str) -> FieldError {
    FieldError {
        path: path.to_owned(),
        code,
        message: blankett_core::Text::new(sv, en),
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

/// List cases.
#[utoipa::path(
    get,
    path = "/api/v1/cases",
    tag = "cases",
    operation_id = "list_cases",
    params(ListQuery),
    description = "The cases of the flows the key may see, newest change first. Scope `cases:read`.",
    responses(
        (status = 200, description = "The cases", body = CaseList),
        (status = 400, description = "Malformed query parameters", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks `cases:read`, or may not see the flow asked for", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub async fn list_cases(
    State(app): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, AppError> {
    caller.require(ApiScope::CasesRead)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::BadRequest("limit must be from 1 to 200"));
    }
    let flow_ids: Vec<String> = match (&q.flow, caller.flows()) {
        (Some(f), _) if !caller.sees_flow(f) => return Err(AppError::Forbidden),
        (Some(f), _) => vec![f.clone()],
        (None, Some(allowed)) => allowed.to_vec(),
        (None, None) => Vec::new(),
    };
    // Only flow ids this server knows reach the database.
    let known: Vec<String> = flow_ids
        .into_iter()
        .filter(|f| app.flow(f).is_some())
        .collect();
    let asked_for_flows = q.flow.is_some() || caller.flows().is_some();
    let list = if asked_for_flows && known.is_empty() {
        Vec::new()
    } else {
        app.cases(&CaseFilter {
            flow_ids: known,
            statuses: q.status.map(|s| vec![s.into()]).unwrap_or_default(),
            limit,
            ..CaseFilter::default()
        })
        .await?
    };
    let cases = list
        .iter()
        .map(|c| CaseSummaryView {
            id: c.id.clone(),
            number: c.number.clone(),
            flow_id: c.flow_id.clone(),
            status: c.status.into(),
            revision: c.revision,
            created_at: stamp(c.created_at),
            updated_at: stamp(c.updated_at),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &CaseList { cases }))
}

/// Read a case.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}",
    tag = "cases",
    operation_id = "get_case",
    params(("id" = String, Path, description = "The case id (a UUID)")),
    description = "A case with its answers, signatures and events. Scope `cases:read`. The read is recorded in the case's events (`viewed`).",
    responses(
        (status = 200, description = "The case", body = CaseView),
        (status = 400, description = "Malformed path", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks `cases:read`", body = ErrorBody),
        (status = 404, description = "No such case, or not of a flow the key may see", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub async fn get_case(
    State(app): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, AppError> {
    caller.require(ApiScope::CasesRead)?;
    let (case, _) = visible(&app, &caller, &id).await?;
    app.append_events(&case.id, &[viewed(&case, &caller, app.clock.now())])
        .await?;
    let events = app.events(&case.id).await?;
    Ok(json_response(StatusCode::OK, &case_view(&case, &events)))
}

/// Download the document.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}/document",
    tag = "cases",
    operation_id = "get_document",
    params(("id" = String, Path, description = "The case id (a UUID)")),
    description = "The newest version of the case's document (PDF/A): the locked document from approval on, with every signature so far once signed. Scope `documents:read`.",
    responses(
        (status = 200, description = "The PDF", content_type = "application/pdf", body = inline(String),
            headers(("Content-Disposition" = String, description = "`attachment` with a file name"))),
        (status = 400, description = "Malformed path", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks `documents:read`", body = ErrorBody),
        (status = 404, description = "No such case, not visible to the key, or no document yet", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub async fn get_document(
    State(app): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, AppError> {
    caller.require(ApiScope::DocumentsRead)?;
    let (case, flow) = visible(&app, &caller, &id).await?;
    let doc = app.document(&case.id).await?.ok_or(AppError::NotFound)?;
    app.append_events(&case.id, &[viewed(&case, &caller, app.clock.now())])
        .await?;
    let name = safe_filename(&format!("{}-{}.pdf", flow.id, case.number));
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        doc.bytes,
    )
        .into_response())
}

/// Create a case.
#[utoipa::path(
    post,
    path = "/api/v1/cases",
    tag = "cases",
    operation_id = "create_case",
    request_body(content = NewCase, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create safe: a second request with the same key (from the same API key) and the same body gets the first request's case (200, `Idempotent-Replayed: true`) instead of a second case; the same key with another body is refused (422 `idempotency_key_reused`). 1–255 visible ASCII characters."),
    ),
    description = "Creates a case with its answers, validated with the same rules as the flow's forms, and hands it to a case worker (submitted and assigned) or straight to signing (approved: the document is rendered and locked, the first signature requested). For a flow whose document is made elsewhere (`signera`), `document` carries the PDF (base64): it is checked as an upload is on the web and, handed to signing, becomes the locked document with a signature page after its pages (pattern 3). Completion is reported by the `case.completed` webhook; `GET /api/v1/cases/{id}/document` fetches the signed PDF. Scope `cases:write`.",
    responses(
        (status = 200, description = "A retry with the same `Idempotency-Key`: the case the first request made", body = CaseView,
            headers(("Location" = String, description = "`/api/v1/cases/{id}`"),
                ("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 201, description = "The case", body = CaseView,
            headers(("Location" = String, description = "`/api/v1/cases/{id}`"))),
        (status = 400, description = "Malformed JSON, or not the documented shape", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks `cases:write`, or may not use the flow", body = ErrorBody),
        (status = 409, description = "The case changed while it was being created, or the first request with this `Idempotency-Key` is still being handled", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "Answers, people, hand-over or document the flow refuses (`fields` lists them; a refused PDF is `document` with `pdf_not_pdf`, `pdf_damaged`, `pdf_encrypted`, `pdf_signed`, `pdf_javascript`, `pdf_launch`, `pdf_not_pdfa`, `file_type` or `file_size`)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub async fn create_case(
    State(app): State<AppState>,
    caller: ApiCaller,
    headers: axum::http::HeaderMap,
    ApiJson(mut body): ApiJson<NewCase>,
) -> Result<Response, AppError> {
    caller.require(ApiScope::CasesWrite)?;
    let idempotency = idempotency_key(&headers, &caller.name)?;
    let Some(flow) = app.flow(&body.flow) else {
        return Err(AppError::Invalid(vec![field_error(
            "flow",
            "unknown_flow",
            "Det finns ingen sådan e-tjänst.",
            "There is no such flow.",
        )]));
    };
    if !caller.sees_flow(&flow.id) {
        return Err(AppError::Forbidden);
    }
    let (applicant, worker) = check_people(&app, &flow, &body)?;
    let case_worker_start =
        flow.def.start.contains(&Starter::CaseWorker) && app.handles(&applicant, &flow);
    let started_as = if case_worker_start {
        Starter::CaseWorker
    } else if flow.def.start.contains(&Starter::Citizen) {
        Starter::Citizen
    } else {
        return Err(AppError::Invalid(vec![field_error(
            "applicant.personnummer",
            "not_a_case_worker",
            "E-tjänsten startas av en handläggare: den sökande måste vara handläggare för e-tjänstens enhet.",
            "Case workers start this flow: the applicant must be a case worker of the flow's unit.",
        )]));
    };
    if matches!(body.hand_to, HandTo::Signing) && started_as != Starter::CaseWorker {
        return Err(AppError::Invalid(vec![field_error(
            "hand_to",
            "no_case_worker",
            "Bara ett ärende vars sökande är handläggare för e-tjänstens enhet kan gå direkt till underskrift; lämna det till en handläggare i stället.",
            "Only a case whose applicant is a case worker of the flow's unit can go straight to signing; hand it to a case worker instead.",
        )]));
    }

    let now = app.clock.now();
    let id = uuid::Uuid::new_v4().to_string();
    // What tells a retry from another request, before the document's answer is added.
    let digest = request_digest(&body);
    // A document made elsewhere: judged as an upload, and its answer put where the flow
    // takes it from.
    let upload = take_document(&app, &flow, &id, &mut body).await?;
    // The answers first, on a provisional case: a refusal reserves no case number.
    let provisional = case::start(
        &flow,
        String::new(),
        String::new(),
        &applicant,
        started_as,
        now,
    )
    .map_err(|e| AppError::Internal(format!("starting an API case: {e}")))?;
    let uploaded: Vec<blankett_core::store::FileMeta> =
        upload.iter().map(|(m, _)| m.clone()).collect();
    let report = check_answers(
        &flow,
        &provisional.case,
        &applicant,
        &body,
        started_as,
        now,
        &uploaded,
    );
    if !report.errors.is_empty() {
        return Err(AppError::Invalid(report.errors));
    }
    // A retried request with the same key gets the case the first one made.
    if let Some(key) = &idempotency
        && let Some(first) = claim(&app, key, &id, &digest, now).await?
    {
        return replay(&app, &caller, first, &digest).await;
    }
    let created = create_claimed(
        &app,
        &caller,
        &flow,
        &body,
        id.clone(),
        (applicant, worker),
        started_as,
        now,
        upload,
    )
    .await;
    if created.is_err()
        && let Some(key) = &idempotency
        && app.case(&id).await.is_err()
    {
        // The create did not happen: the key may be used again. (A fault after the case was
        // written keeps the key, so a retry gets that case rather than a second one.)
        app.release_idempotency_key(key).await?;
    }
    created
}

/// How long a claimed key whose case never appeared (the instance died mid-create) holds
/// before a retry may claim it again.
const ABANDONED_CLAIM_SECS: i64 = 600;

/// Claims `key` for case `id`; `Some` is the earlier claim a retry answers with. A claim
/// whose case never appeared within [`ABANDONED_CLAIM_SECS`] is taken over.
async fn claim(
    app: &AppState,
    key: &str,
    id: &str,
    digest: &str,
    now: Timestamp,
) -> Result<Option<blankett_core::store::IdempotentCreate>, AppError> {
    let Some(first) = app.claim_idempotency_key(key, id, digest, now).await? else {
        return Ok(None);
    };
    let abandoned = (now.utc() - first.claimed_at.utc()).num_seconds() > ABANDONED_CLAIM_SECS
        && app.case(&first.case_id).await.is_err();
    if !abandoned {
        return Ok(Some(first));
    }
    app.release_idempotency_key(key).await?;
    Ok(app.claim_idempotency_key(key, id, digest, now).await?)
}

/// The rest of [`create_case`], once the answers passed and any idempotency key is claimed.
#[allow(clippy::too_many_arguments)]
async fn create_claimed(
    app: &AppState,
    caller: &ApiCaller,
    flow: &Arc<Flow>,
    body: &NewCase,
    id: String,
    (applicant, worker): (Actor, Option<Actor>),
    started_as: Starter,
    now: Timestamp,
    upload: Option<(blankett_core::store::FileMeta, Vec<u8>)>,
) -> Result<Response, AppError> {
    let app = app.clone();
    let flow = flow.clone();
    let uploaded: Vec<blankett_core::store::FileMeta> =
        upload.iter().map(|(m, _)| m.clone()).collect();
    let number = app.next_case_number(now.local_year()).await?;
    let started = case::start(&flow, id, number, &applicant, started_as, now)
        .map_err(|e| AppError::Internal(format!("starting an API case: {e}")))?;
    let mut draft = started.case;
    let report = check_answers(&flow, &draft, &applicant, body, started_as, now, &uploaded);
    if !report.errors.is_empty() {
        return Err(AppError::Invalid(report.errors));
    }
    let given = given_steps(&body.answers);
    draft.answers = report.answers;
    let mut created_events = started.events;
    created_events.extend(
        flow.steps
            .iter()
            .filter(|s| given.contains(&s.id) && draft.answers.get(&s.id).is_some())
            .map(|s| Event {
                at: now,
                kind: EventKind::StepSaved(s.id.clone()),
                actor_role: ActorRole::Other,
                actor: None,
                revision: draft.revision,
                detail: None,
            }),
    );
    as_api(&mut created_events, caller);

    // Submitted by the applicant, then assigned or approved, in memory: nothing is stored
    // unless every step succeeds.
    let submitted = apply(&flow, &draft, &applicant, Command::Submit, now)?;
    let mut current = submitted.case;
    let mut events = submitted.events;
    let mut document = None;
    match &worker {
        Some(w) => {
            if current.assignee.as_ref() != Some(&w.person) {
                let assigned = apply(&flow, &current, w, Command::Assign, now)?;
                current = assigned.case;
                events.extend(assigned.events);
            }
        }
        None => {
            let Locked { out, write: w } = match lock_document(
                &app,
                &current,
                &flow,
                &applicant,
                current.revision,
                upload.as_ref().map(|(_, b)| b.clone()),
            )
            .await
            {
                Ok(l) => l,
                Err(ApproveError::Invalid(errors)) => return Err(AppError::Invalid(errors)),
                Err(ApproveError::Failed(e)) => return Err(e),
            };
            current = out.case;
            events.extend(out.events);
            document = w.document;
        }
    }
    as_api(&mut events, caller);

    let out = Outcome {
        case: current,
        events,
        errors: Vec::new(),
    };
    app.create(&draft, &created_events, &out, document.as_ref())
        .await?;
    if let Some((meta, bytes)) = &upload {
        app.store_file(meta, bytes).await?;
    }
    tracing::info!(case_id = %out.case.id, flow = %flow.id, key = %caller.name, "case created through the API");
    let events = app.events(&out.case.id).await?;
    let mut resp = json_response(StatusCode::CREATED, &case_view(&out.case, &events));
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/cases/{}", out.case.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The `Idempotency-Key` header, bound to the API key that sent it (as a SHA-256, so the
/// stored key says nothing); `None` without the header.
fn idempotency_key(
    headers: &axum::http::HeaderMap,
    api_key: &str,
) -> Result<Option<String>, AppError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .ok_or(AppError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ))?;
    Ok(Some(
        blankett_core::document::sha256_hex(format!("{api_key}\n{v}").as_bytes()).to_string(),
    ))
}

/// What makes two creates the same request: the flow, the applicant, the answers, the
/// hand-over and the document.
fn request_digest(body: &NewCase) -> String {
    let hand_to = match &body.hand_to {
        HandTo::Signing => "signing".to_owned(),
        HandTo::CaseWorker(p) => format!("case_worker:{}", p.as_str()),
    };
    let canonical = serde_json::json!({
        "flow": body.flow,
        "applicant": [body.applicant.personnummer, body.applicant.name],
        "answers": body.answers,
        "hand_to": hand_to,
        "document": body.document.as_ref().map(|d| {
            blankett_core::document::sha256_hex(d.content_base64.trim().as_bytes()).to_string()
        }),
    });
    blankett_core::document::sha256_hex(sorted(&canonical).to_string().as_bytes()).to_string()
}

/// `value` with every object's keys in order, so that key order does not make two requests
/// different.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The answer to a retried create: the first request's case (200), or why not.
async fn replay(
    app: &AppState,
    caller: &ApiCaller,
    first: blankett_core::store::IdempotentCreate,
    digest: &str,
) -> Result<Response, AppError> {
    if first.request_sha256 != digest {
        return Err(AppError::Invalid(vec![field_error(
            "Idempotency-Key",
            "idempotency_key_reused",
            "Nyckeln användes redan för en annan begäran; ge varje ny begäran en egen nyckel.",
            "The key was used for another request; give each new request its own key.",
        )]));
    }
    let Ok(case) = app.case(&first.case_id).await else {
        return Err(AppError::Conflict(
            "the first request with this Idempotency-Key is still being handled; try again shortly",
        ));
    };
    let flow = app.flow_of(&case).await?;
    if !caller.sees_flow(&flow.id) {
        return Err(AppError::Forbidden);
    }
    let events = app.events(&case.id).await?;
    let mut resp = json_response(StatusCode::OK, &case_view(&case, &events));
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/cases/{}", case.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(
        header::HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    );
    Ok(resp)
}

/// For a flow whose document is made elsewhere: the `document` of the body, judged as an
/// upload to the flow's file field, with its answer put into the answers. A body with a
/// document for a flow that renders its own, or without one where it is needed, is refused.
async fn take_document(
    app: &AppState,
    flow: &Flow,
    case_id: &str,
    body: &mut NewCase,
) -> Result<Option<(blankett_core::store::FileMeta, Vec<u8>)>, AppError> {
    use base64::Engine as _;
    let from = flow.document.as_ref().and_then(|d| d.from.clone());
    let (path, doc) = match (from, body.document.take()) {
        (Some(path), Some(doc)) => (path, doc),
        (Some(_), None) => {
            return Err(AppError::Invalid(vec![field_error(
                "document",
                "required",
                "E-tjänstens dokument laddas upp: skicka det som `document`.",
                "The flow's document is uploaded: send it as `document`.",
            )]));
        }
        (None, Some(_)) => {
            return Err(AppError::Invalid(vec![field_error(
                "document",
                "no_upload",
                "E-tjänsten skapar sitt dokument själv och tar inget uppladdat dokument.",
                "The flow makes its own document and takes no uploaded one.",
            )]));
        }
        (None, None) => return Ok(None),
    };
    let path = &path;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(doc.content_base64.trim())
        .map_err(|_| {
            AppError::Invalid(vec![field_error(
                "document.content_base64",
                "base64",
                "Innehållet är inte base64.",
                "The content is not base64.",
            )])
        })?;
    let Some((_, field)) = blankett_app::files::file_fields(flow)
        .into_iter()
        .find(|(p, _)| p == path)
    else {
        return Err(AppError::Internal(format!(
            "the flow's document field {path} is missing"
        )));
    };
    let size = bytes.len() as u64;
    let upload = blankett_app::files::Upload {
        name: doc.name,
        bytes,
        size,
    };
    match app.judge_upload(case_id, flow, field, path, upload).await? {
        Ok((meta, bytes)) => {
            if let Some(answers) = body.answers.as_object_mut() {
                let (step, rest) = path.split_once('.').unwrap_or((path.as_str(), ""));
                let step_answers = answers
                    .entry(step.to_owned())
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(m) = step_answers.as_object_mut() {
                    m.insert(rest.to_owned(), meta.answer());
                }
            }
            Ok(Some((meta, bytes)))
        }
        Err(mut e) => {
            e.path = "document".into();
            Err(AppError::Invalid(vec![e]))
        }
    }
}

/// The step ids the body gives answers for.
fn given_steps(answers: &Value) -> HashSet<String> {
    answers
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The answers, with the rules of the forms: every step the applicant fills when the case is
/// submitted (and, for a case worker's own case, theirs) and every step given; before
/// signing, every step, as at approval.
fn check_answers(
    flow: &Flow,
    draft: &Case,
    applicant: &Actor,
    body: &NewCase,
    started_as: Starter,
    now: Timestamp,
    uploaded: &[blankett_core::store::FileMeta],
) -> blankett_core::rules::Report {
    let env = case::env_for(draft, flow, now, Some(&applicant.person));
    let given = given_steps(&body.answers);
    let mut report = match body.hand_to {
        HandTo::Signing => validate_all(flow, &body.answers, &env),
        HandTo::CaseWorker(_) => validate_steps(flow, &body.answers, &env, &|st| {
            st.by == Role::Applicant
                || (started_as == Starter::CaseWorker && st.by == Role::CaseWorker)
                || given.contains(&st.id)
        }),
    };
    // A new case has no uploaded files but the document sent with it: any other file answer
    // in the JSON names nothing stored.
    report
        .errors
        .extend(blankett_app::files::foreign_file_answers(
            flow,
            &body.answers,
            uploaded,
        ));
    report
}

/// A command of [`create_case`]: a refusal is the client's (422), a lost race a 409.
fn apply(
    flow: &Flow,
    case: &Case,
    actor: &Actor,
    cmd: Command,
    now: Timestamp,
) -> Result<Outcome, AppError> {
    commands::decide(flow, case, actor, case.revision, cmd, now).map_err(|e| match e {
        CommandError::Refused(CaseError::Invalid(errors)) => AppError::Invalid(errors),
        CommandError::Refused(CaseError::Conflict { .. }) | CommandError::Stale => {
            AppError::Conflict("the case changed meanwhile")
        }
        CommandError::Refused(CaseError::Signers(m)) => AppError::Invalid(vec![field_error(
            "signers",
            "signers",
            &format!("Undertecknarna kan inte bestämmas: {m}"),
            &format!("The signers cannot be determined: {m}"),
        )]),
        other => AppError::Internal(format!("an API command was refused: {other}")),
    })
}

/// The applicant and (when handed to one) the case worker, checked; every problem at once.
fn check_people(
    app: &AppState,
    flow: &Flow,
    body: &NewCase,
) -> Result<(Actor, Option<Actor>), AppError> {
    let mut errors = Vec::new();
    let pnr = Personnummer::parse(body.applicant.personnummer.trim());
    if pnr.is_err() {
        errors.push(field_error(
            "applicant.personnummer",
            "personnummer",
            "Ange ett giltigt personnummer (12 siffror).",
            "Give a valid personal identity number (12 digits).",
        ));
    }
    let name = body.applicant.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(field_error(
            "applicant.name",
            "required",
            "Ange ett namn (högst 200 tecken).",
            "Give a name (at most 200 characters).",
        ));
    }
    let unshowable = blankett_core::charset::unshowable(name);
    if !unshowable.is_empty() {
        let list = blankett_core::charset::code_points(&unshowable);
        errors.push(field_error(
            "applicant.name",
            "characters",
            &format!("Namnet innehåller tecken som inte kan visas i dokumentet: {list}."),
            &format!("The name contains characters the document cannot show: {list}."),
        ));
    }
    let mut worker = None;
    if let HandTo::CaseWorker(p) = &body.hand_to {
        match Personnummer::parse(p.trim()) {
            Err(_) => errors.push(field_error(
                "hand_to.case_worker",
                "personnummer",
                "Ange handläggarens personnummer (12 siffror).",
                "Give the case worker's personal identity number (12 digits).",
            )),
            Ok(p) => {
                let w = Actor {
                    person: Person {
                        personnummer: p,
                        name: String::new(),
                    },
                    case_worker: true,
                };
                if app.handles(&w, flow) {
                    worker = Some(w);
                } else {
                    errors.push(field_error(
                        "hand_to.case_worker",
                        "not_a_case_worker",
                        "Personen är inte handläggare för e-tjänstens enhet.",
                        "This person is not a case worker of the flow's unit.",
                    ));
                }
            }
        }
    }
    match &body.answers {
        Value::Object(m) => {
            for key in m.keys().filter(|k| flow.step(k).is_none()) {
                errors.push(field_error(
                    &format!("answers.{key}"),
                    "unknown_step",
                    "E-tjänsten har inget sådant steg.",
                    "The flow has no such step.",
                ));
            }
        }
        _ => errors.push(field_error(
            "answers",
            "not_an_object",
            "Svaren ska vara ett objekt med ett fält per steg.",
            "The answers must be an object with one member per step.",
        )),
    }
    match (pnr, errors.is_empty()) {
        (Ok(personnummer), true) => {
            let case_worker = app.config.case_worker_units(&personnummer).is_some();
            Ok((
                Actor {
                    person: Person {
                        personnummer,
                        name: name.to_owned(),
                    },
                    case_worker,
                },
                worker,
            ))
        }
        _ => Err(AppError::Invalid(errors)),
    }
}

/// Withdraw a case.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/withdraw",
    tag = "cases",
    operation_id = "withdraw_case",
    params(("id" = String, Path, description = "The case id (a UUID)")),
    request_body(content = Option<WithdrawRequest>, content_type = "application/json",
        description = "Optional: a reason, and the revision last read"),
    description = "Withdraws a case that is not finished (completed, rejected or withdrawn). Scope `cases:write`.",
    responses(
        (status = 200, description = "The withdrawn case", body = CaseView),
        (status = 400, description = "Malformed path or JSON, or not the documented shape", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks `cases:write`", body = ErrorBody),
        (status = 404, description = "No such case, or not of a flow the key may see", body = ErrorBody),
        (status = 409, description = "The case's status does not allow it, or it changed since `revision`", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "A body that is not `application/json`", body = ErrorBody),
        (status = 422, description = "The reason is too long", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub async fn withdraw_case(
    State(app): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<String>,
    ApiOptionalJson(body): ApiOptionalJson<WithdrawRequest>,
) -> Result<Response, AppError> {
    caller.require(ApiScope::CasesWrite)?;
    let body = body.unwrap_or_default();
    let (case, flow) = visible(&app, &caller, &id).await?;
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if reason.as_ref().is_some_and(|r| r.chars().count() > 2000) {
        return Err(AppError::Invalid(vec![field_error(
            "reason",
            "max_length",
            "Skälet får vara högst 2000 tecken.",
            "The reason may be at most 2000 characters.",
        )]));
    }
    if body.revision.is_some_and(|r| r != case.revision) {
        return Err(AppError::Conflict(
            "the case has changed since that revision; read it again",
        ));
    }
    // The command runs as the person the state machine lets withdraw now: the applicant
    // while it is theirs, otherwise its case worker.
    let actor = if matches!(
        case.status,
        Status::Draft | Status::Submitted | Status::Returned
    ) {
        Some(Actor {
            person: case.applicant.clone(),
            case_worker: app
                .config
                .case_worker_units(&case.applicant.personnummer)
                .is_some(),
        })
    } else if case.status.is_final() {
        None
    } else {
        case.assignee.clone().map(|person| Actor {
            person,
            case_worker: true,
        })
    };
    let Some(actor) = actor else {
        return Err(AppError::Conflict(
            "the case's status does not allow withdrawing it",
        ));
    };
    let now = app.clock.now();
    let mut out = commands::decide(&flow, &case, &actor, case.revision, Command::Withdraw, now)
        .map_err(|e| match e {
            CommandError::Refused(CaseError::Conflict { .. }) | CommandError::Stale => {
                AppError::Conflict("the case changed meanwhile")
            }
            CommandError::Refused(
                CaseError::InvalidTransition { .. } | CaseError::Forbidden(_),
            ) => AppError::Conflict("the case's status does not allow withdrawing it"),
            other => AppError::Internal(format!("withdrawing through the API: {other}")),
        })?;
    as_api(&mut out.events, &caller);
    for e in &mut out.events {
        e.detail = reason.clone();
    }
    match write(&app, case.revision, &out, None).await {
        Ok(()) => {}
        Err(None) => {
            return Err(AppError::Conflict(
                "the case changed meanwhile; read it again",
            ));
        }
        Err(Some(e)) => return Err(e),
    }
    tracing::info!(case_id = %case.id, key = %caller.name, "case withdrawn through the API");
    let events = app.events(&case.id).await?;
    Ok(json_response(
        StatusCode::OK,
        &case_view(&out.case, &events),
    ))
}
