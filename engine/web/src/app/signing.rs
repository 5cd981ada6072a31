//! The signing ceremony: the signer sees page images of the exact locked bytes (and can
//! download them), signs through eID, and the engine adds their PAdES signature in a new
//! incremental update. After the last signature the document gets validation data and a
//! document timestamp (PAdES B-LTA) and the case is completed.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use blankett_app::signing::{self, Bound, SignError, binding_for, required_level};
use blankett_core::case::{self, Actor, Case, Command, Status};
use blankett_core::eid::{Completion, StartRequest};

use super::access::{Action, my_turn};
use super::cases::visible_case;
use super::cases::{conflict_notice, run, stale_redirect};
use super::eid_order::{level_accepted, provider_views_at, start_order};
use super::forms::Form;
use super::session::{PendingOrder, Purpose};
use super::views::{ErrorAnchor, PageImage, SignPage};
use super::{AppError, AppState, Ctx, redirect};
use blankett_app::commands::CommandError;

/// Pixels per point of the page images (1.5 → an A4 page is 893 px wide).
const PAGE_SCALE: f32 = 1.5;

/// `GET /cases/{id}/document`: the newest version of the document (signed, once signed).
pub async fn download(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (case, flow, _) = visible_case(&app, &ctx, &id).await?;
    let doc = app.document(&case.id).await?.ok_or(AppError::NotFound)?;
    let now = app.clock.now();
    let env = blankett_core::case::env_for(&case, &flow, now, None);
    let name = blankett_core::document::download_name(&flow, &case, &env);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                super::content_disposition(&name),
            ),
        ],
        doc.bytes,
    )
        .into_response())
}

/// `GET /cases/{id}/document/pages/{n}`: page `n` (from 1) as PNG, drawn from the stored bytes.
pub async fn page_image(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, n)): Path<(String, usize)>,
) -> Result<Response, AppError> {
    let (case, _, _) = visible_case(&app, &ctx, &id).await?;
    let doc = app.document(&case.id).await?.ok_or(AppError::NotFound)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    let png = tokio::task::spawn_blocking(move || {
        blankett_pdf::pages::page_png(&doc.bytes, n - 1, PAGE_SCALE)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|_| AppError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png.0).into_response())
}

/// `GET /cases/{id}/sign`.
pub async fn sign_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    render_sign(&app, &ctx, &case, &flow, &actor, None).await
}

async fn render_sign(
    app: &AppState,
    ctx: &Ctx,
    case: &Case,
    flow: &blankett_core::Flow,
    actor: &Actor,
    decline_error: Option<String>,
) -> Result<Response, AppError> {
    let Some(i) = my_turn(case, actor) else {
        return Ok(redirect(&format!("/cases/{}", case.id)));
    };
    let doc = app
        .document(&case.id)
        .await?
        .ok_or_else(|| AppError::internal("a case being signed has no document"))?;
    let sha = doc.sha256.clone();
    let sign_text = binding_for(case, flow, i, &doc.bytes, app.clock.now()).visible_text();
    let pages = tokio::task::spawn_blocking(move || blankett_pdf::pages::page_count(&doc.bytes))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    let pages: Vec<PageImage> = (1..=pages)
        .map(|n| PageImage {
            number: n,
            url: format!("/cases/{}/document/pages/{n}", case.id),
        })
        .collect();
    let sig = &case.signatures[i];
    let errors: Vec<ErrorAnchor> = decline_error
        .iter()
        .map(|m| ErrorAnchor {
            anchor: "reason".to_owned(),
            message: m.clone(),
        })
        .collect();
    let mut resp = ctx.page(
        app,
        "sign.html",
        ctx.t("Granska och signera", "Review and sign"),
        &SignPage {
            flow_title: ctx.t(&flow.title.sv, &flow.title.en).to_owned(),
            case_number: case.number.clone(),
            signer_label: ctx.t(&sig.label.sv, &sig.label.en).to_owned(),
            sha256: sha.to_string(),
            sign_text,
            download_url: format!("/cases/{}/document", case.id),
            pages,
            providers: provider_views_at(app, ctx, required_level(flow)),
            start_action: format!("/cases/{}/sign/start", case.id),
            decline_action: format!("/cases/{}/decline", case.id),
            revision: case.revision,
            errors,
            open_form: decline_error.is_some().then_some("decline"),
            decline_error: decline_error.clone(),
        },
    )?;
    if decline_error.is_some() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// `POST /cases/{id}/sign/start`: starts a signing order bound to the locked bytes.
pub async fn start(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    let Some(i) = my_turn(&case, &actor) else {
        return Err(AppError::Forbidden);
    };
    let doc = app
        .document(&case.id)
        .await?
        .ok_or_else(|| AppError::internal("a case being signed has no document"))?;
    // The signer signs what they were shown: refuse if the document changed since.
    if form.get("sha256") != Some(doc.sha256.as_str()) || form.revision()? != case.revision {
        return Ok(stale_redirect(&ctx, &format!("/cases/{id}/sign")));
    }
    let raw = form
        .get("provider")
        .ok_or(AppError::BadRequest("no eID provider chosen"))?;
    let (provider, same_device) = match raw.split_once(':') {
        Some((p, mode)) => (p.to_owned(), mode == "same-device"),
        None => (raw.to_owned(), false),
    };
    // Only a provider at the flow's assurance level may sign (the page offers no other).
    let level = app
        .providers
        .get(&provider)
        .map_err(|_| AppError::BadRequest("unknown eID provider"))?
        .assurance();
    if !level_accepted(level, required_level(&flow), app.config.test_eid_enabled()) {
        return Err(AppError::BadRequest(
            "this eID does not reach the assurance level the e-service requires",
        ));
    }
    let binding = binding_for(&case, &flow, i, &doc.bytes, app.clock.now());
    let request = StartRequest::sign_document(
        ctx.ip,
        &binding,
        case.signatures[i].person.personnummer.clone(),
    );
    start_order(
        &app,
        &ctx,
        &provider,
        same_device,
        request,
        Purpose::Sign {
            case_id: case.id.to_string(),
            revision: case.revision,
            sha256: doc.sha256.to_string(),
        },
    )
    .await
}

/// Called when a signing order completed: signs the PDF and records it (see
/// [`signing::sign`]). Returns where to go.
pub async fn complete(
    app: &AppState,
    ctx: &Ctx,
    order: &PendingOrder,
    done: Completion,
) -> Result<String, AppError> {
    let Purpose::Sign {
        case_id,
        revision,
        sha256,
    } = &order.purpose
    else {
        return Err(AppError::internal("not a signing order"));
    };
    let back = format!("/cases/{case_id}");
    let bound = Bound {
        case_id,
        revision: *revision,
        sha256,
        visible_text: order.handle.request.visible_text.as_deref(),
    };
    let out = match signing::sign(app, &bound, &done).await {
        Ok(out) => out,
        Err(SignError::Stale) => {
            let n = conflict_notice(ctx);
            ctx.session.set_notice(n.clone(), n);
            return Ok(format!("{back}/sign"));
        }
        Err(SignError::NotTheirTurn) => return Err(AppError::Forbidden),
        Err(SignError::LevelTooLow) => {
            tracing::warn!(case_id = %case_id, "signature refused: eID assurance level too low");
            ctx.session.set_notice(
                "Den e-legitimation du använde har inte den tillitsnivå som e-tjänsten kräver. Inget har skrivits under.",
                "The eID you used does not have the assurance level this e-service requires. Nothing was signed.",
            );
            return Ok(format!("{back}/sign"));
        }
        Err(SignError::Service(e)) => return Err(e.into()),
        Err(SignError::Command(e)) => return Err(e.into()),
        Err(SignError::Failed(e)) => return Err(AppError::Internal(e)),
    };
    tracing::info!(case_id = %case_id, "document signed");
    if out.case.status == Status::Completed {
        ctx.session.set_notice(
            "Du har skrivit under. Alla underskrifter är klara och dokumentet kan laddas ner.",
            "You have signed. All signatures are in and the document can be downloaded.",
        );
    } else {
        ctx.session.set_notice(
            "Du har skrivit under. Nästa undertecknare har fått dokumentet.",
            "You have signed. The next signer has been given the document.",
        );
    }
    Ok(back)
}

/// `POST /cases/{id}/decline`.
pub async fn decline(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let (case, flow, actor) = visible_case(&app, &ctx, &id).await?;
    if !super::access::may(&actor, app.staff(&actor), &case, &flow, Action::Sign) {
        return Err(AppError::Forbidden);
    }
    let expected = form.revision()?;
    let reason = form.get("reason").unwrap_or("").to_owned();
    match run(
        &app,
        &flow,
        &case,
        &actor,
        expected,
        Command::Decline { reason },
    )
    .await
    {
        Ok(_) => {}
        Err(CommandError::Refused(case::CaseError::Invalid(_))) => {
            let msg = ctx
                .t("Skriv varför du avböjer.", "Write why you decline.")
                .to_owned();
            return render_sign(&app, &ctx, &case, &flow, &actor, Some(msg)).await;
        }
        Err(e) if e.is_stale() => {
            return Ok(stale_redirect(&ctx, &format!("/cases/{id}/sign")));
        }
        Err(e) => return Err(e.into()),
    }
    ctx.session.set_notice(
        "Du har avböjt att skriva under. Handläggaren har fått ditt skäl.",
        "You have declined to sign. The case worker has been given your reason.",
    );
    Ok(redirect(&format!("/cases/{id}")))
}
