//! The case page (for everyone with access), the case worker's inbox and actions (assign,
//! return, reject, approve, reopen), withdrawing, and My pages.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use blankett_core::Flow;
use blankett_core::case::{
    self, Actor, ActorRole, Case, Command, EventKind, SignatureState, Status,
};
use blankett_core::def::Starter;
use blankett_core::rules::FieldError;
use blankett_core::store::CaseFilter;
use serde::Deserialize;

use super::access::Action;
use super::cases::{run, stale_redirect, visible_case, write_or_back};
use super::forms::Form;
use super::review;
use super::views::{
    CaseActions, CasePage, CaseRow, CaseSection, ErrorLink, EventRow, FilterOption, FlowOption,
    InboxPage, MyPages, SignatureRow, StatusView,
};
use super::{AppError, AppState, Ctx, redirect};
use blankett_app::approval::{self, Locked};
use blankett_app::commands::CommandError;

pub fn status_view(ctx: &Ctx, s: Status) -> StatusView {
    let (code, sv, en) = match s {
        Status::Draft => ("draft", "Utkast", "Draft"),
        Status::Submitted => ("submitted", "Inskickat", "Submitted"),
        Status::InReview => ("in_review", "Handläggs", "In review"),
        Status::Returned => ("returned", "Åter till sökande", "Returned"),
        Status::Signing => ("signing", "Under signering", "Being signed"),
        Status::Declined => ("declined", "Underskrift avböjd", "Signature declined"),
        Status::SigningExpired => ("signing_expired", "Signeringen gick ut", "Signing expired"),
        Status::Completed => ("completed", "Klart", "Completed"),
        Status::Rejected => ("rejected", "Avslaget", "Rejected"),
        Status::Withdrawn => ("withdrawn", "Återkallat", "Withdrawn"),
    };
    StatusView {
        code,
        label: ctx.t(sv, en).to_owned(),
    }
}

const ALL_STATUSES: [Status; 10] = [
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

fn event_label(ctx: &Ctx, k: &EventKind) -> String {
    let (sv, en) = match k {
        EventKind::Started => ("Ärendet skapades", "Case started"),
        EventKind::StepSaved(_) => ("Uppgifter sparades", "Answers saved"),
        EventKind::WentBack(_) => ("Gick tillbaka ett steg", "Went back a step"),
        EventKind::Submitted => ("Skickades in", "Submitted"),
        EventKind::Assigned => ("Tilldelades handläggare", "Assigned"),
        EventKind::Returned => ("Skickades tillbaka", "Returned"),
        EventKind::Rejected => ("Avslogs", "Rejected"),
        EventKind::Approved => ("Godkändes; dokumentet låstes", "Approved; document locked"),
        EventKind::SignatureRequested(_) => ("Underskrift begärdes", "Signature requested"),
        EventKind::Signed(_) => ("Undertecknades", "Signed"),
        EventKind::Declined(_) => ("Underskrift avböjdes", "Signature declined"),
        EventKind::SigningExpired(_) => ("Signeringen gick ut", "Signing expired"),
        EventKind::Reopened => ("Öppnades igen", "Reopened"),
        EventKind::Completed => ("Klart", "Completed"),
        EventKind::Withdrawn => ("Återkallades", "Withdrawn"),
        EventKind::Viewed => ("Öppnades av handläggare", "Viewed by a case worker"),
    };
    let field = match k {
        EventKind::SignatureRequested(f)
        | EventKind::Signed(f)
        | EventKind::Declined(f)
        | EventKind::SigningExpired(f) => format!(" ({f})"),
        _ => String::new(),
    };
    format!("{}{field}", ctx.t(sv, en))
}

fn role_label(ctx: &Ctx, role: &ActorRole) -> String {
    match role {
        ActorRole::Applicant => ctx.t("Sökande", "Applicant").to_owned(),
        ActorRole::CaseWorker => ctx.t("Handläggare", "Case worker").to_owned(),
        ActorRole::Other => String::new(),
        r => r.to_string().replace('_', " "),
    }
}

/// `GET /cases/{id}`.
pub async fn case_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    let now = app.clock.now();
    if actor.case_worker && actor.person != case.applicant {
        // The audit trail of reads: which case worker opened which case, and when.
        app.append_events(&case.id, &[case::viewed(&case, &actor, now)])
            .await?;
    }
    render_case(&app, &ctx, &case, &flow, &actor, &[], None).await
}

async fn render_case(
    app: &AppState,
    ctx: &Ctx,
    case: &Case,
    flow: &Flow,
    actor: &Actor,
    errors: &[FieldError],
    open_form: Option<&str>,
) -> Result<Response, AppError> {
    let now = app.clock.now();
    let env = case::env_for(case, flow, now, Some(&actor.person));
    let en = ctx.en();
    let is_assignee = actor.case_worker && case.assignee.as_ref() == Some(&actor.person);
    let handles = app.handles(actor, flow);
    let s = case.status;
    let fills = matches!(s, Status::Draft | Status::Returned | Status::InReview)
        && case.current_step.is_some()
        && case::may_fill(
            flow,
            case,
            case.current_step
                .as_deref()
                .and_then(|st| flow.step(st))
                .unwrap_or(&flow.steps[0]),
            actor,
            &env,
        );
    let drafting = matches!(s, Status::Draft | Status::Returned) && actor.person == case.applicant;
    let continue_url = if fills {
        case.current_step
            .as_ref()
            .map(|st| format!("/cases/{}/steps/{st}", case.id))
    } else if drafting {
        Some(format!("/cases/{}/review", case.id))
    } else if is_assignee && s == Status::InReview {
        flow.steps
            .iter()
            .find(|st| {
                st.kind == blankett_core::def::StepKind::Form
                    && case::may_fill(flow, case, st, actor, &env)
            })
            .map(|st| format!("/cases/{}/steps/{}", case.id, st.id))
    } else {
        None
    };
    let my_turn = s == Status::Signing && case::asked_of(case, &actor.person).is_some();
    let has_document = case.document_sha256.is_some();
    let signatures: Vec<SignatureRow> = case
        .signatures
        .iter()
        .map(|sig| {
            let state = match &sig.state {
                SignatureState::Waiting => ctx.t("väntar på tur", "waiting").to_owned(),
                SignatureState::Requested { .. } => {
                    ctx.t("ska skriva under nu", "to sign now").to_owned()
                }
                SignatureState::Signed { at } => format!(
                    "{} {}",
                    ctx.t("undertecknade", "signed"),
                    at.local().format("%Y-%m-%d %H:%M")
                ),
                SignatureState::Declined { reason, .. } => {
                    format!("{}: {reason}", ctx.t("avböjde", "declined"))
                }
                SignatureState::Expired { .. } => ctx.t("tiden gick ut", "expired").to_owned(),
            };
            SignatureRow {
                label: ctx.t(&sig.label.sv, &sig.label.en).to_owned(),
                name: sig.person.name.clone(),
                state,
            }
        })
        .collect();
    let steps = review::summary(flow, case, &env, en, &|_| None);
    let events: Vec<EventRow> = if handles || is_assignee {
        app.events(&case.id)
            .await?
            .iter()
            .map(|e| EventRow {
                at: e.at.local().format("%Y-%m-%d %H:%M").to_string(),
                what: event_label(ctx, &e.kind),
                detail: e.detail.clone(),
                by: role_label(ctx, &e.actor_role),
            })
            .collect()
    } else {
        Vec::new()
    };
    let error_views: Vec<ErrorLink> = errors
        .iter()
        .map(|e| {
            let (step, rel) = e.path.split_once('.').unwrap_or((&e.path, ""));
            // A field's error links to the field on its step's page; an error of the
            // document as a whole to the approval, where it was reported.
            let href = if flow.step(step).is_some() {
                format!(
                    "/cases/{}/steps/{step}#{}",
                    case.id,
                    super::forms::anchor(rel)
                )
            } else {
                "#approve".to_owned()
            };
            ErrorLink {
                href,
                message: if en { &e.message.en } else { &e.message.sv }.clone(),
            }
        })
        .collect();
    let title = format!("{} {}", ctx.t("Ärende", "Case"), case.number);
    ctx.page(
        app,
        "case.html",
        &title,
        &CasePage {
            flow_title: ctx.t(&flow.title.sv, &flow.title.en).to_owned(),
            case_number: case.number.clone(),
            status: status_view(ctx, s),
            base: format!("/cases/{}", case.id),
            revision: case.revision,
            return_comment: if actor.person == case.applicant {
                case.return_comment.clone()
            } else {
                None
            },
            errors: error_views,
            open_form: open_form.map(str::to_owned),
            actions: CaseActions {
                continue_url,
                continue_label: if drafting {
                    ctx.t("Fortsätt med ärendet", "Continue with the case")
                } else {
                    ctx.t("Fyll i uppgifter", "Fill in details")
                }
                .to_owned(),
                sign_url: if my_turn {
                    Some(format!("/cases/{}/sign", case.id))
                } else {
                    None
                },
                download_url: if has_document {
                    Some(format!("/cases/{}/document", case.id))
                } else {
                    None
                },
                download_label: if s == Status::Completed {
                    ctx.t(
                        "Ladda ner det undertecknade dokumentet (PDF)",
                        "Download the signed document (PDF)",
                    )
                } else {
                    ctx.t("Ladda ner dokumentet (PDF)", "Download the document (PDF)")
                }
                .to_owned(),
                assign: handles
                    && matches!(s, Status::Submitted | Status::InReview)
                    && !is_assignee,
                approve: is_assignee && s == Status::InReview,
                return_to_applicant: is_assignee
                    && s == Status::InReview
                    && case.started_as == Starter::Citizen,
                reject: (is_assignee && s == Status::InReview)
                    || (handles && s == Status::Submitted),
                reopen: is_assignee && matches!(s, Status::Declined | Status::SigningExpired),
                withdraw: (actor.person == case.applicant
                    && matches!(s, Status::Draft | Status::Submitted | Status::Returned))
                    || (is_assignee && matches!(s, Status::Draft | Status::InReview)),
            },
            signatures,
            steps,
            events,
        },
    )
}

/// Applies a simple command from a case page form and returns to the case page.
async fn act(
    app: AppState,
    ctx: Ctx,
    id: String,
    form: Form,
    command: Command,
    open_form: &str,
    done: (&str, &str),
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    let expected = form.revision()?;
    match run(&app, &flow, &case, &actor, expected, command).await {
        Ok(_) => {}
        Err(CommandError::Refused(case::CaseError::Invalid(errors))) => {
            return render_case(&app, &ctx, &case, &flow, &actor, &errors, Some(open_form)).await;
        }
        Err(e) if e.is_stale() => {
            return Ok(stale_redirect(&ctx, &format!("/cases/{id}")));
        }
        Err(CommandError::Refused(case::CaseError::InvalidTransition { .. })) => {
            ctx.session.set_notice(
                "Det går inte att göra så i ärendets nuvarande läge.",
                "That is not possible in the case's current state.",
            );
            return Ok(redirect(&format!("/cases/{id}")));
        }
        Err(e) => return Err(e.into()),
    }
    ctx.session.set_notice(done.0, done.1);
    Ok(redirect(&format!("/cases/{id}")))
}

pub async fn assign(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    act(
        app,
        ctx,
        id,
        form,
        Command::Assign,
        "",
        ("Ärendet är tilldelat dig.", "The case is assigned to you."),
    )
    .await
}

pub async fn return_case(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    let comment = form.get("comment").unwrap_or("").to_owned();
    act(
        app,
        ctx,
        id,
        form,
        Command::Return { comment },
        "return",
        (
            "Ärendet är skickat tillbaka till den sökande.",
            "The case is returned to the applicant.",
        ),
    )
    .await
}

pub async fn reject(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    let reason = form.get("reason").unwrap_or("").to_owned();
    act(
        app,
        ctx,
        id,
        form,
        Command::Reject { reason },
        "reject",
        ("Ärendet är avslaget.", "The case is rejected."),
    )
    .await
}

pub async fn reopen(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    act(
        app,
        ctx,
        id,
        form,
        Command::Reopen,
        "",
        ("Ärendet är öppnat igen.", "The case is reopened."),
    )
    .await
}

pub async fn withdraw(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    act(
        app,
        ctx,
        id,
        form,
        Command::Withdraw,
        "",
        ("Ärendet är återkallat.", "The case is withdrawn."),
    )
    .await
}

/// `POST /cases/{id}/approve`: renders the document, locks its bytes and starts signing.
pub async fn approve(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    let expected = form.revision()?;
    if expected != case.revision {
        return Ok(stale_redirect(&ctx, &format!("/cases/{id}")));
    }
    if !super::access::may(&actor, app.staff(&actor), &case, &flow, Action::Approve) {
        return Err(AppError::Forbidden);
    }
    // A case handed over through the REST API knows its case worker by personnummer only:
    // the name (for the signatures) comes from the eID login.
    let mut case = case;
    case.assignee = Some(actor.person.clone());
    let Locked { out, write: w } =
        match lock_document(&app, &case, &flow, &actor, expected, None).await {
            Ok(l) => l,
            Err(ApproveError::Invalid(errors)) => {
                return render_case(&app, &ctx, &case, &flow, &actor, &errors, None).await;
            }
            Err(ApproveError::Failed(e)) => return Err(e),
        };
    let stale = write_or_back(&app, &ctx, expected, &out, Some(w), &format!("/cases/{id}")).await?;
    if let Some(stale) = stale {
        return Ok(stale);
    }
    tracing::info!(case_id = %id, "case approved; document locked");
    if out.case.status == Status::Signing && case::asked_of(&out.case, &actor.person).is_some() {
        ctx.session.set_notice(
            "Dokumentet är skapat och låst. Nu är det din tur att skriva under.",
            "The document is created and locked. It is your turn to sign.",
        );
        return Ok(redirect(&format!("/cases/{id}/sign")));
    }
    ctx.session.set_notice(
        "Dokumentet är skapat och låst och har skickats för underskrift.",
        "The document is created, locked and sent for signing.",
    );
    Ok(redirect(&format!("/cases/{id}")))
}

/// [`approval::lock`] with this server's renderer, clock and name; its faults as the
/// application's errors.
/// `original` is an uploaded document not stored yet (the API's create); `None` reads the
/// one the case's answers name, if the flow's document is uploaded.
pub(super) async fn lock_document(
    app: &AppState,
    case: &Case,
    flow: &Flow,
    actor: &Actor,
    expected: u64,
    original: Option<Vec<u8>>,
) -> Result<Locked, ApproveError> {
    let renderer = app.renderer.clone();
    let author = app.config.site.name.as_str();
    let original = match original {
        Some(bytes) => Some(bytes),
        None => app
            .document_original(case, flow)
            .await
            .map_err(|e| ApproveError::Failed(e.into()))?,
    };
    approval::lock(
        renderer,
        app.clock.as_ref(),
        author,
        case,
        flow,
        actor,
        expected,
        original,
    )
    .await
    .map_err(|e| match e {
        approval::ApproveError::Invalid(errors) => ApproveError::Invalid(errors),
        approval::ApproveError::Unavailable(m) => ApproveError::Failed(AppError::Unavailable(m)),
        approval::ApproveError::Refused(e) => ApproveError::Failed(e.into()),
        approval::ApproveError::Failed(m) => ApproveError::Failed(AppError::Internal(m)),
    })
}

/// Why [`lock_document`] did not approve.
pub(super) enum ApproveError {
    /// The answers, the signers or the characters are not acceptable; nothing changed.
    Invalid(Vec<FieldError>),
    Failed(AppError),
}

fn case_rows(
    app: &AppState,
    ctx: &Ctx,
    list: &[blankett_core::store::CaseSummary],
    action: &dyn Fn(&blankett_core::store::CaseSummary) -> Option<(String, String)>,
) -> Vec<CaseRow> {
    list.iter()
        .map(|c| {
            let flow_title = app
                .flow(&c.flow_id)
                .map(|f| ctx.t(&f.title.sv, &f.title.en).to_owned())
                .unwrap_or_else(|| c.flow_id.clone());
            let (action_url, action_label) = action(c).unzip();
            CaseRow {
                url: format!("/cases/{}", c.id),
                number: c.number.clone(),
                flow_title,
                status: status_view(ctx, c.status),
                updated: c.updated_at.local().format("%Y-%m-%d %H:%M").to_string(),
                action_url,
                action_label,
                receipt_url: (c.status != Status::Draft)
                    .then(|| format!("/cases/{}/receipt.pdf", c.id)),
                assignee: String::new(),
            }
        })
        .collect()
}

/// `GET /my`: My pages.
pub async fn my_pages(State(app): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let actor = ctx.require_actor(&app)?;
    let me = actor.person.personnummer.clone();
    let waiting = app
        .cases(&CaseFilter {
            awaiting_signature_by: Some(me.clone()),
            statuses: vec![Status::Signing],
            ..CaseFilter::default()
        })
        .await?;
    let mine = app
        .cases(&CaseFilter {
            involving: Some(me.clone()),
            ..CaseFilter::default()
        })
        .await?;
    let drafts: Vec<_> = mine
        .iter()
        .filter(|c| matches!(c.status, Status::Draft | Status::Returned) && c.applicant == me)
        .cloned()
        .collect();
    let ongoing: Vec<_> = mine
        .iter()
        .filter(|c| {
            let my_draft =
                matches!(c.status, Status::Draft | Status::Returned) && c.applicant == me;
            !c.status.is_final() && !my_draft
        })
        .cloned()
        .collect();
    let finished: Vec<_> = mine
        .iter()
        .filter(|c| c.status.is_final())
        .cloned()
        .collect();
    let sign_action = |c: &blankett_core::store::CaseSummary| {
        Some((
            format!("/cases/{}/sign", c.id),
            ctx.t("Skriv under", "Sign").to_owned(),
        ))
    };
    let draft_action = |c: &blankett_core::store::CaseSummary| {
        Some((
            format!("/cases/{}", c.id),
            ctx.t("Fortsätt", "Continue").to_owned(),
        ))
    };
    let download = |c: &blankett_core::store::CaseSummary| {
        (c.status == Status::Completed).then(|| {
            (
                format!("/cases/{}/document", c.id),
                ctx.t("Ladda ner PDF", "Download PDF").to_owned(),
            )
        })
    };
    let section = |(sv, en): (&str, &str), (empty_sv, empty_en): (&str, &str), cases| CaseSection {
        title: ctx.t(sv, en).to_owned(),
        empty: ctx.t(empty_sv, empty_en).to_owned(),
        cases,
    };
    let sections = vec![
        section(
            ("Väntar på din underskrift", "Waiting for your signature"),
            ("Inget väntar på dig.", "Nothing is waiting for you."),
            case_rows(&app, &ctx, &waiting, &sign_action),
        ),
        section(
            ("Utkast", "Drafts"),
            ("Inga utkast.", "No drafts."),
            case_rows(&app, &ctx, &drafts, &draft_action),
        ),
        section(
            ("Pågående ärenden", "Ongoing cases"),
            ("Inga pågående ärenden.", "No ongoing cases."),
            case_rows(&app, &ctx, &ongoing, &|_| None),
        ),
        section(
            ("Avslutade ärenden", "Finished cases"),
            ("Inga avslutade ärenden.", "No finished cases."),
            case_rows(&app, &ctx, &finished, &download),
        ),
    ];
    ctx.page(
        &app,
        "my_pages.html",
        ctx.t("Mina sidor", "My pages"),
        &MyPages { sections },
    )
}

#[derive(Deserialize)]
pub struct InboxQuery {
    flow: Option<String>,
    status: Option<String>,
    assignee: Option<String>,
}

/// `GET /inbox`: the case worker's inbox, filtered by flow, status and assignee.
pub async fn inbox(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(q): Query<InboxQuery>,
) -> Result<Response, AppError> {
    let actor = ctx.require_actor(&app)?;
    if !actor.case_worker {
        return Err(AppError::NotFound);
    }
    let flows: Vec<Arc<Flow>> = app
        .flows
        .iter()
        .filter(|f| app.handles(&actor, f))
        .cloned()
        .collect();
    let flow_filter = q.flow.filter(|f| flows.iter().any(|x| x.id == *f));
    let status_filter = q.status.as_deref().and_then(|s| {
        ALL_STATUSES
            .iter()
            .find(|st| status_view(&ctx, **st).code == s)
            .copied()
    });
    let assignee = q.assignee.unwrap_or_else(|| "any".into());
    let filter = CaseFilter {
        flow_ids: match &flow_filter {
            Some(f) => vec![f.clone()],
            None => flows.iter().map(|f| f.id.clone()).collect(),
        },
        statuses: match status_filter {
            Some(s) => vec![s],
            None => vec![
                Status::Draft,
                Status::Submitted,
                Status::InReview,
                Status::Signing,
                Status::Declined,
                Status::SigningExpired,
            ],
        },
        assignee: (assignee == "me").then(|| actor.person.personnummer.clone()),
        unassigned: assignee == "none",
        ..CaseFilter::default()
    };
    let list = if filter.flow_ids.is_empty() {
        Vec::new()
    } else {
        app.cases(&filter).await?
    };
    let list: Vec<_> = list
        .into_iter()
        .filter(|c| {
            !(c.status == Status::Draft && c.assignee.as_ref() != Some(&actor.person.personnummer))
        })
        .collect();
    let mut rows = case_rows(&app, &ctx, &list, &|_| None);
    for (row, c) in rows.iter_mut().zip(&list) {
        row.assignee = match &c.assignee {
            Some(p) if *p == actor.person.personnummer => ctx.t("Jag", "Me").to_owned(),
            Some(_) => ctx.t("Annan handläggare", "Another case worker").to_owned(),
            None => ctx.t("Ingen", "Nobody").to_owned(),
        };
    }
    let flow_opts: Vec<FlowOption> = flows
        .iter()
        .map(|f| FlowOption {
            id: f.id.clone(),
            title: ctx.t(&f.title.sv, &f.title.en).to_owned(),
            selected: flow_filter.as_deref() == Some(f.id.as_str()),
        })
        .collect();
    let status_opts: Vec<FilterOption> = ALL_STATUSES
        .iter()
        .map(|s| {
            let v = status_view(&ctx, *s);
            FilterOption {
                code: v.code,
                label: v.label,
                selected: Some(*s) == status_filter,
            }
        })
        .collect();
    let assignee_opt = |code: &'static str, (sv, en): (&str, &str)| FilterOption {
        code,
        label: ctx.t(sv, en).to_owned(),
        selected: assignee == code,
    };
    let assignee_opts = vec![
        assignee_opt("any", ("Alla", "Anyone")),
        assignee_opt("me", ("Mina ärenden", "Mine")),
        assignee_opt("none", ("Ej tilldelade", "Unassigned")),
    ];
    ctx.page(
        &app,
        "inbox.html",
        ctx.t("Inkorg", "Inbox"),
        &InboxPage {
            cases: rows,
            flows: flow_opts,
            statuses: status_opts,
            assignees: assignee_opts,
        },
    )
}
