//! The applicant's journey: the catalogue, starting a case, one page per step (drafts saved
//! on every post), the review page and the receipt.

use std::sync::Arc;

use axum::extract::{FromRequest, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use blankett_core::Flow;
use blankett_core::case::{self, Actor, Case, Command, Status};
use blankett_core::def::{Starter, StepKind};
use blankett_core::model::{Step, Text};
use blankett_core::rules::{FieldError, prefill, step_applies, top_context, visible_fields};
use blankett_core::time::Timestamp;
use serde_json::{Value, json};

use super::cases::{conflict_notice, run, stale_redirect, visible_case, visible_case_at};
use super::forms::{self, FieldContext, Form};
use super::review;
use super::uploads;
use super::views::{
    CataloguePage, ErrorAnchor, ErrorLink, Progress, ReceiptPage, ReviewPage, ServiceItem, StepPage,
};
use super::{AppError, AppState, Ctx, redirect};
use blankett_app::commands::CommandError;

/// `GET /`: the e-services.
pub async fn catalogue(State(app): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let actor = ctx.actor(&app);
    let services: Vec<ServiceItem> = app
        .flows
        .iter()
        .filter(|f| {
            f.def.start.contains(&Starter::Citizen) || actor.as_ref().is_none_or(|a| a.case_worker)
        })
        .map(|f| {
            let desc = f.def.description.as_ref().map(Text::from);
            ServiceItem {
                id: f.id.clone(),
                title: ctx.t(&f.title.sv, &f.title.en).to_owned(),
                description: desc.as_ref().map(|d| ctx.t(&d.sv, &d.en).to_owned()),
                for_case_workers: !f.def.start.contains(&Starter::Citizen),
            }
        })
        .collect();
    ctx.page(
        &app,
        "catalogue.html",
        ctx.t("E-tjänster", "E-services"),
        &CataloguePage { services },
    )
}

/// `POST /e/{flow}/start`: creates a draft and goes to its first step.
pub async fn start(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(flow_id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let flow = app.flow(&flow_id).ok_or(AppError::NotFound)?;
    let Some(actor) = ctx.actor(&app) else {
        // Remember the intent (this post carried the CSRF token); the login comes back to
        // `GET /e/{flow}/start`, which starts the case.
        ctx.session
            .write(|d| d.pending_start = Some(flow.id.clone()));
        return Err(AppError::Login {
            next: format!("/e/{}/start", flow.id),
        });
    };
    start_case(&app, &flow, &actor).await
}

/// `GET /e/{flow}/start`: after a login that "Start" asked for, starts that e-service once;
/// otherwise (a bookmark, a reload) back to the catalogue, where starting is a button.
pub async fn start_after_login(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(flow_id): Path<String>,
) -> Result<Response, AppError> {
    let flow = app.flow(&flow_id).ok_or(AppError::NotFound)?;
    let pending = ctx.session.read(|d| d.pending_start.clone());
    match (ctx.actor(&app), pending) {
        (Some(actor), Some(p)) if p == flow.id => {
            ctx.session.write(|d| d.pending_start = None);
            start_case(&app, &flow, &actor).await
        }
        _ => Ok(redirect("/")),
    }
}

async fn start_case(app: &AppState, flow: &Arc<Flow>, actor: &Actor) -> Result<Response, AppError> {
    let as_ = if actor.case_worker && flow.def.start.contains(&Starter::CaseWorker) {
        Starter::CaseWorker
    } else {
        Starter::Citizen
    };
    if as_ == Starter::CaseWorker && !app.handles(actor, flow) {
        return Err(AppError::Forbidden);
    }
    let out = app.start(flow, actor, as_).await?;
    tracing::info!(case_id = %out.case.id, flow = %flow.id, "case started");
    Ok(redirect(&next_location(&out.case, flow)))
}

/// Where the case's filler goes next: its current step, or the review page.
fn next_location(case: &Case, flow: &Flow) -> String {
    match case.current_step.as_deref().and_then(|s| flow.step(s)) {
        Some(s) if s.kind == StepKind::Form => format!("/cases/{}/steps/{}", case.id, s.id),
        _ => format!("/cases/{}/review", case.id),
    }
}

/// The steps the actor fills that apply now, then the review step.
fn journey_steps<'f>(flow: &'f Flow, case: &Case, actor: &Actor, now: Timestamp) -> Vec<&'f Step> {
    let env = case::env_for(case, flow, now, Some(&actor.person));
    let top = top_context(flow, &case.answers, &env);
    flow.steps
        .iter()
        .filter(|s| {
            step_applies(s, &top)
                && (s.kind == StepKind::Review || case::may_fill(flow, case, s, actor, &env))
        })
        .collect()
}

fn progress(
    flow: &Flow,
    case: &Case,
    actor: &Actor,
    step_id: Option<&str>,
    now: Timestamp,
) -> Progress {
    let steps = journey_steps(flow, case, actor, now);
    let total = steps.len().max(1);
    let current = match step_id {
        Some(id) => steps.iter().position(|s| s.id == id).map_or(1, |i| i + 1),
        None => total,
    };
    Progress { current, total }
}

struct StepRender<'a> {
    case: &'a Case,
    flow: &'a Flow,
    actor: &'a Actor,
    step: &'a Step,
    answers: Value,
    errors: Vec<FieldError>,
}

fn render_step(app: &AppState, ctx: &Ctx, r: StepRender<'_>) -> Result<Response, AppError> {
    let now = app.clock.now();
    let env = case::env_for(r.case, r.flow, now, Some(&r.actor.person));
    let mut all = r.case.answers.clone();
    let mut drawn = r.answers.clone();
    forms::pad_groups(&r.step.fields, &mut drawn);
    if let Value::Object(m) = &mut all {
        m.insert(r.step.id.clone(), drawn);
    }
    let visible = visible_fields(r.flow, r.step, &all, &env);
    let en = ctx.en();
    let case_id = r.case.id.to_string();
    let cx = FieldContext {
        case_id: &case_id,
        step_id: &r.step.id,
        errors: &r.errors,
        en,
        visible: &visible,
    };
    let fields = forms::field_views(&r.step.fields, &r.answers, &cx, "");
    let errors: Vec<ErrorAnchor> = r
        .errors
        .iter()
        .map(|e| {
            let rel = e
                .path
                .strip_prefix(&format!("{}.", r.step.id))
                .unwrap_or(&e.path);
            let message = if en { &e.message.en } else { &e.message.sv };
            let message = match forms::item_context(&r.step.fields, rel, en) {
                Some(item) => format!("{item}: {message}"),
                None => message.clone(),
            };
            ErrorAnchor {
                anchor: forms::anchor(rel),
                message,
            }
        })
        .collect();
    let has_previous = case::previous_step(r.flow, r.case, &r.step.id, &env, r.actor).is_some();
    let title = ctx.t(&r.step.title.sv, &r.step.title.en).to_owned();
    let page_title = if errors.is_empty() {
        title.clone()
    } else {
        format!("{} {title}", ctx.t("Fel:", "Error:"))
    };
    let mut resp = ctx.page(
        app,
        "step.html",
        &page_title,
        &StepPage {
            progress: progress(r.flow, r.case, r.actor, Some(&r.step.id), app.clock.now()),
            flow_title: ctx.t(&r.flow.title.sv, &r.flow.title.en).to_owned(),
            case_number: r.case.number.clone(),
            step_title: title,
            step_description: r
                .step
                .description
                .as_ref()
                .map(|d| ctx.t(&d.sv, &d.en).to_owned()),
            action: format!("/cases/{}/steps/{}", r.case.id, r.step.id),
            visibility_url: format!("/cases/{}/steps/{}/visibility", r.case.id, r.step.id),
            undo: ctx.session.read(|d| {
                d.removed
                    .as_ref()
                    .filter(|x| x.case_id == r.case.id && x.step == r.step.id)
                    .map(|x| {
                        if en {
                            x.label.1.clone()
                        } else {
                            x.label.0.clone()
                        }
                    })
            }),
            revision: r.case.revision,
            multipart: r
                .step
                .fields
                .iter()
                .any(|f| f.kind == blankett_core::def::FieldType::File),
            fields,
            errors,
            has_previous,
        },
    )?;
    if !r.errors.is_empty() {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// `GET /cases/{id}/steps/{step}`.
pub async fn step_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, step_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    let step = flow.step(&step_id).ok_or(AppError::NotFound)?;
    if step.kind == StepKind::Review {
        return Ok(redirect(&format!("/cases/{id}/review")));
    }
    if !journey_steps(&flow, &case, &actor, app.clock.now())
        .iter()
        .any(|s| s.id == step.id)
    {
        return Ok(redirect(&format!("/cases/{id}")));
    }
    let now = app.clock.now();
    let env = case::env_for(&case, &flow, now, Some(&actor.person));
    let answers = match case.answers.get(&step.id) {
        Some(v) if v.is_object() => v.clone(),
        _ => prefill(step, &env),
    };
    render_step(
        &app,
        &ctx,
        StepRender {
            case: &case,
            flow: &flow,
            actor: &actor,
            step,
            answers,
            errors: Vec::new(),
        },
    )
}

/// `POST /cases/{id}/steps/{step}/visibility`: which fields of the step are hidden for the
/// answers in the form (not saved), decided by the same rules as a save. The page's script
/// asks this when an answer changes, so questions appear and disappear as the person answers;
/// without the script, a save does the same.
pub async fn visibility(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, step_id)): Path<(String, String)>,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    let step = flow.step(&step_id).ok_or(AppError::NotFound)?;
    if !journey_steps(&flow, &case, &actor, app.clock.now())
        .iter()
        .any(|s| s.id == step.id)
    {
        return Err(AppError::NotFound);
    }
    let mut posted = forms::step_answers(step, &form);
    forms::pad_groups(&step.fields, &mut posted);
    let mut all = case.answers.clone();
    if !all.is_object() {
        all = json!({});
    }
    if let Value::Object(m) = &mut all {
        m.insert(step.id.clone(), posted);
    }
    let now = app.clock.now();
    let env = case::env_for(&case, &flow, now, Some(&actor.person));
    let hidden: Vec<String> = visible_fields(&flow, step, &all, &env)
        .into_iter()
        .filter(|(_, shown)| !shown)
        .map(|(path, _)| path)
        .collect();
    Ok(axum::Json(json!({ "hidden": hidden })).into_response())
}

/// `POST /cases/{id}/steps/{step}`: saves the draft (always), then goes on, back, or stays.
/// A step with file fields is sent as `multipart/form-data` ([`uploads`]).
pub async fn save_step(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, step_id)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Result<Response, AppError> {
    let (form, files) = if uploads::is_multipart(req.headers()) {
        // The case first (from the URL and the session), so that each file is read only up
        // to its own field's limit; a stranger's upload is refused before it is read.
        let (_, flow, _) = visible_case(&app, &ctx, &id).await?;
        let step = flow.step(&step_id).ok_or(AppError::NotFound)?;
        let limits = uploads::file_limits(step);
        uploads::read(&app, &ctx, req, &limits).await?
    } else {
        (Form::from_request(req, &app).await?, Vec::new())
    };
    form.check_csrf(&ctx)?;
    let expected = form.revision()?;
    let (case, flow, actor) = visible_case_at(&app, &ctx, &id, expected).await?;
    let step = flow.step(&step_id).ok_or(AppError::NotFound)?;
    if !files.is_empty()
        && !journey_steps(&flow, &case, &actor, app.clock.now())
            .iter()
            .any(|s| s.id == step.id)
    {
        // Nothing is stored for a step that is not this person's to fill in now.
        return Ok(redirect(&format!("/cases/{id}")));
    }
    let action = forms::StepAction::parse(form.get("_action"));
    let mut answers = forms::step_answers(step, &form);
    let uploaded = uploads::apply(&app, &case, &flow, step, &form, files, &mut answers).await?;
    // What was removed last on this step can be put back ("Ångra"); any other save forgets it.
    let removed_before = ctx.session.read(|d| d.removed.clone());
    let mut removed = None;
    if let forms::StepAction::Add(group) = &action {
        forms::add_item(&mut answers, group);
    } else if let forms::StepAction::Remove(path) = &action {
        let label = (
            forms::item_label(&step.fields, path, false),
            forms::item_label(&step.fields, path, true),
        );
        if let (Some(item), Some((group, index))) = (
            forms::remove_item(&mut answers, path),
            path.rsplit_once('.'),
        ) && let (Some(sv), Some(en), Ok(index)) = (label.0, label.1, index.parse::<usize>())
        {
            removed = Some(super::session::RemovedItem {
                case_id: id.clone(),
                step: step.id.clone(),
                group: group.to_owned(),
                index,
                item,
                label: (sv, en),
            });
        }
    } else if action == forms::StepAction::UndoRemove
        && let Some(r) = removed_before
            .as_ref()
            .filter(|r| r.case_id == id && r.step == step.id)
    {
        forms::restore_item(&mut answers, &r.group, r.index, r.item.clone());
    }
    let now = app.clock.now();
    let env = case::env_for(&case, &flow, now, Some(&actor.person));
    // What the page showed: the stored answers with the group items the page drew.
    let mut drawn = case.answers.clone();
    if let Some(obj) = drawn.as_object_mut() {
        let step_obj = obj.entry(step.id.clone()).or_insert_with(|| json!({}));
        forms::pad_groups(&step.fields, step_obj);
    }
    let shown_before = visible_fields(&flow, step, &drawn, &env);

    let command = Command::SaveStep {
        step: step.id.clone(),
        answers: answers.clone(),
    };
    let result = run(&app, &flow, &case, &actor, expected, command).await;
    if result.is_err() && !uploaded.stored.is_empty() {
        // The save did not land: the files it stored are nobody's.
        app.forget_files(&case, &uploaded.stored).await?;
    }
    let out = match result {
        Ok(out) => out,
        Err(CommandError::Refused(case::CaseError::Conflict { .. })) => {
            uploads::restore(&case, step, &mut answers);
            return stale(&app, &ctx, &case, &flow, &actor, step, answers);
        }
        Err(CommandError::Refused(
            case::CaseError::Forbidden(_) | case::CaseError::InvalidTransition { .. },
        )) => {
            return Ok(redirect(&format!("/cases/{id}")));
        }
        Err(CommandError::Stale) => {
            let fresh = app.case(&id).await?;
            app.remember_case(&fresh);
            // Access was checked on this instance's copy, which the other write made stale.
            let flow = app.flow_of(&fresh).await?;
            if !app.may_view(&actor, &fresh, &flow) {
                return Err(AppError::NotFound);
            }
            uploads::restore(&fresh, step, &mut answers);
            return stale(&app, &ctx, &fresh, &flow, &actor, step, answers);
        }
        Err(e) => return Err(e.into()),
    };
    let saved = out.case;
    if step
        .fields
        .iter()
        .any(|f| f.kind == blankett_core::def::FieldType::File)
    {
        // A replaced or removed file (or one a hidden question no longer keeps) goes now.
        app.forget_replaced_files(&case, &saved, &flow).await?;
    }
    // A refused file is the field's error (and the field's other errors are that one).
    let mut out_errors: Vec<FieldError> = out
        .errors
        .into_iter()
        .filter(|e| !uploaded.errors.iter().any(|u| u.path == e.path))
        .collect();
    let refused_file = !uploaded.errors.is_empty();
    out_errors.extend(uploaded.errors);
    // The step again with its errors, as saved.
    let with_errors = |errors: Vec<FieldError>| {
        let step_answers = saved.answers.get(&step.id).cloned().unwrap_or(json!({}));
        render_step(
            &app,
            &ctx,
            StepRender {
                case: &saved,
                flow: &flow,
                actor: &actor,
                step,
                answers: step_answers,
                errors,
            },
        )
    };
    if refused_file {
        // Whatever the button, a refused file is said on the page, with everything else
        // that was typed saved.
        return with_errors(out_errors);
    }
    let here = format!("/cases/{id}/steps/{}", step.id);
    if removed_before.is_some() || removed.is_some() {
        ctx.session.write(|d| d.removed = removed.clone());
    }
    if let Some(r) = &removed {
        ctx.session.set_notice(
            format!("{} togs bort.", r.label.0),
            format!("{} was removed.", r.label.1),
        );
    }
    if action == forms::StepAction::UndoRemove
        && let Some(r) = &removed_before
    {
        ctx.session.set_notice(
            format!("{} är tillbaka.", r.label.0),
            format!("{} is back.", r.label.1),
        );
    }
    match action {
        forms::StepAction::Save => {
            ctx.session.set_notice(
                "Utkastet är sparat. Du kan fortsätta nu eller senare via Mina sidor.",
                "The draft is saved. You can continue now or later from My pages.",
            );
            Ok(redirect(&here))
        }
        forms::StepAction::Add(_)
        | forms::StepAction::Remove(_)
        | forms::StepAction::UndoRemove => Ok(redirect(&here)),
        forms::StepAction::Back => {
            let back = Command::Back {
                from: step.id.clone(),
            };
            // Going back is navigation; losing the race only means staying here.
            match run(&app, &flow, &saved, &actor, saved.revision, back).await {
                Ok(b) => Ok(redirect(&next_location(&b.case, &flow))),
                Err(_) => Ok(redirect(&here)),
            }
        }
        _ => {
            let env = case::env_for(&saved, &flow, now, Some(&actor.person));
            let shown_after = visible_fields(&flow, step, &saved.answers, &env);
            // A question this save revealed was never seen: it is not an error yet.
            let mut new_questions = forms::newly_shown(&shown_before, &shown_after);
            // The page's script showed these already (live show/hide): they were seen.
            if let Some(seen) = form.get("_seen") {
                let seen: std::collections::BTreeSet<&str> = seen.lines().collect();
                new_questions.retain(|p| !seen.contains(p.as_str()));
            }
            let errors: Vec<FieldError> = out_errors
                .into_iter()
                .filter(|e| {
                    let rel = e
                        .path
                        .strip_prefix(&format!("{}.", step.id))
                        .unwrap_or(&e.path);
                    !new_questions.contains(rel)
                })
                .collect();
            if !new_questions.is_empty() {
                ctx.session.set_notice(
                    "Dina svar är sparade. Fler frågor har tillkommit på den här sidan.",
                    "Your answers are saved. More questions have appeared on this page.",
                );
            }
            if !errors.is_empty() {
                return with_errors(errors);
            }
            if !new_questions.is_empty() {
                return Ok(redirect(&here));
            }
            Ok(redirect(&next_location(&saved, &flow)))
        }
    }
}

/// The step page again after a lost race: the typed values, the new revision, a notice.
fn stale(
    app: &AppState,
    ctx: &Ctx,
    fresh: &Case,
    flow: &Flow,
    actor: &Actor,
    step: &Step,
    answers: Value,
) -> Result<Response, AppError> {
    let notice = conflict_notice(ctx);
    ctx.session.set_notice(notice.clone(), notice);
    let mut resp = render_step(
        app,
        ctx,
        StepRender {
            case: fresh,
            flow,
            actor,
            step,
            answers,
            errors: Vec::new(),
        },
    )?;
    *resp.status_mut() = StatusCode::CONFLICT;
    Ok(resp)
}

/// `GET /cases/{id}/review`: check your answers.
pub async fn review_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    if !matches!(case.status, Status::Draft | Status::Returned) || actor.person != case.applicant {
        return Ok(redirect(&format!("/cases/{id}")));
    }
    render_review(&app, &ctx, &case, &flow, &actor, &[])
}

fn render_review(
    app: &AppState,
    ctx: &Ctx,
    case: &Case,
    flow: &Flow,
    actor: &Actor,
    errors: &[FieldError],
) -> Result<Response, AppError> {
    let now = app.clock.now();
    let env = case::env_for(case, flow, now, Some(&actor.person));
    let en = ctx.en();
    let steps = review::summary(flow, case, &env, en, &|s: &Step| {
        case::may_fill(flow, case, s, actor, &env)
            .then(|| format!("/cases/{}/steps/{}", case.id, s.id))
    });
    let error_links: Vec<ErrorLink> = errors
        .iter()
        .map(|e| {
            let (step, rel) = e.path.split_once('.').unwrap_or((&e.path, ""));
            ErrorLink {
                href: format!("/cases/{}/steps/{step}#{}", case.id, forms::anchor(rel)),
                message: if en { &e.message.en } else { &e.message.sv }.clone(),
            }
        })
        .collect();
    // The error summary links to other pages here: `href` is a full link.
    let by_case_worker = case.started_as == Starter::CaseWorker;
    let back = journey_steps(flow, case, actor, app.clock.now())
        .iter()
        .rev()
        .find(|s| s.kind == StepKind::Form)
        .map(|s| format!("/cases/{}/steps/{}", case.id, s.id));
    let mut resp = ctx.page(
        app,
        "review.html",
        ctx.t("Kontrollera dina svar", "Check your answers"),
        &ReviewPage {
            progress: progress(flow, case, actor, None, app.clock.now()),
            flow_title: ctx.t(&flow.title.sv, &flow.title.en).to_owned(),
            case_number: case.number.clone(),
            steps,
            errors: error_links,
            revision: case.revision,
            submit_action: format!("/cases/{}/submit", case.id),
            submit_label: if by_case_worker { ctx.t("Klar – till granskning", "Done – to approval") } else { ctx.t("Skicka in", "Submit") }.to_owned(),
            submit_text: if by_case_worker {
                ctx.t("Underlaget är klart. Därefter godkänner du ärendet och dokumentet skapas för underskrift.", "The report is complete. Then you approve the case and the document is created for signing.")
            } else {
                ctx.t("När du skickar in går ärendet till en handläggare.", "When you submit, the case goes to a case worker.")
            }.to_owned(),
            back_url: back,
        },
    )?;
    if !errors.is_empty() {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// `POST /cases/{id}/submit`.
pub async fn submit(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    let expected = form.revision()?;
    let out = match run(&app, &flow, &case, &actor, expected, Command::Submit).await {
        Ok(o) => o,
        Err(CommandError::Refused(case::CaseError::Invalid(errors))) => {
            return render_review(&app, &ctx, &case, &flow, &actor, &errors);
        }
        Err(e) if e.is_stale() => {
            return Ok(stale_redirect(&ctx, &format!("/cases/{id}/review")));
        }
        Err(CommandError::Refused(case::CaseError::InvalidTransition { .. })) => {
            return Ok(redirect(&format!("/cases/{id}")));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(case_id = %id, "case submitted");
    if out.case.status == Status::InReview {
        ctx.session.set_notice(
            "Underlaget är klart. Granska och godkänn ärendet nedan.",
            "The report is complete. Review and approve the case below.",
        );
        return Ok(redirect(&format!("/cases/{id}")));
    }
    Ok(redirect(&format!("/cases/{id}/receipt")))
}

/// `GET /cases/{id}/receipt`.
pub async fn receipt(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (case, flow, _) = visible_case(&app, &ctx, &id).await?;
    ctx.page(
        &app,
        "receipt.html",
        ctx.t("Ärendet är inskickat", "The case has been submitted"),
        &ReceiptPage {
            heading: ctx
                .t("Ärendet är inskickat", "The case has been submitted")
                .to_owned(),
            case_number: case.number.clone(),
            message: format!(
                "{} {}",
                ctx.t(
                    "Tack! Ditt ärende har kommit in till",
                    "Thank you. Your case has reached"
                ),
                ctx.t(&flow.title.sv, &flow.title.en)
            ),
            case_url: format!("/cases/{id}"),
            receipt_url: (case.status != Status::Draft).then(|| format!("/cases/{id}/receipt.pdf")),
        },
    )
    .map(IntoResponse::into_response)
}

/// `GET /cases/{id}/receipt.pdf`: a copy of what was sent, as the review page shows it, as a
/// PDF/A (made with the built-in receipt template). For whoever may see the case, once it has
/// been sent in.
pub async fn receipt_pdf(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    use blankett_core::document::{DocumentMeta, RenderOptions, RenderRequest};
    let (case, flow, _) = visible_case(&app, &ctx, &id).await?;
    if case.status == Status::Draft {
        return Err(AppError::NotFound);
    }
    let now = app.clock.now();
    let env = case::env_for(&case, &flow, now, None);
    let steps = super::review::summary(&flow, &case, &env, false, &|_| None);
    let events = app.events(&case.id).await?;
    let submitted = events
        .iter()
        .rev()
        .find(|e| e.kind == case::EventKind::Submitted)
        .map(|e| e.at.local().format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default();
    let title = format!("Kvitto – {} – {}", flow.title.sv, case.number);
    let data = json!({
        "receipt": {
            "title": title,
            "site": app.config.site.name,
            "flow": flow.title.sv,
            "number": case.number,
            "submitted": submitted,
            "steps": steps,
        }
    });
    let mut files = std::collections::BTreeMap::new();
    files.insert(
        "receipt.typ".to_owned(),
        blankett_pdf::RECEIPT_TEMPLATE.as_bytes().to_vec(),
    );
    let request = RenderRequest {
        files: std::sync::Arc::new(files),
        template: "receipt.typ".into(),
        dir: "receipt".into(),
        data,
        meta: DocumentMeta {
            title: title.clone(),
            author: app.config.site.name.clone(),
            language: blankett_core::def::Language::Sv,
            standard: blankett_core::def::PdfStandard::PdfA2b,
            flow_id: flow.id.clone(),
            flow_revision: flow.def.revision,
            flow_hash: flow.content_hash.clone(),
            template_sha256: blankett_core::document::sha256_hex(
                blankett_pdf::RECEIPT_TEMPLATE.as_bytes(),
            )
            .to_string(),
            filename: format!("kvitto-{}.pdf", case.number),
        },
        now,
    };
    let renderer = app.renderer.clone();
    let doc =
        tokio::task::spawn_blocking(move || renderer.render(&request, RenderOptions::default()))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
    let name = blankett_core::document::safe_filename(&format!("kvitto-{}.pdf", case.number));
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                super::content_disposition(&name),
            ),
        ],
        doc.pdf,
    )
        .into_response())
}

/// `GET /cases/{id}/files/{file}`: an uploaded file of a case, for those who may see the
/// case, and only while its answers name it (404 otherwise, as for a case one may not see).
/// Always a download (never shown inline), in a sandbox, with the type its content has.
pub async fn file_download(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (case, flow, _) = visible_case(&app, &ctx, &id).await?;
    let (meta, bytes) = app.case_file(&case, &flow, &file).await?;
    Ok((
        [
            (header::CONTENT_TYPE, meta.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                super::content_disposition(&meta.name),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}
