//! Waiting for an eID order of any purpose (with and without JavaScript): the waiting page,
//! its status polls and animated BankID QR code, cancelling, and the built-in test eID's own
//! page. A completed order logs the person in or hands the signature to `signing`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use blankett_core::eid::{EidError, OrderHandle, Progress, Refusal};
use blankett_core::ids::Personnummer;
use serde_json::json;

use super::eid_order::back_to;
use super::eid_watch::Answer;
use super::forms::Form;
use super::session::{Purpose, SessionUser};
use super::views::{EidWaitPage, TestEidPage, TestIdentity};
use super::{AppError, AppState, Ctx, redirect, signing};

/// How long collect errors are tolerated before the waiting page gives up (seconds since the
/// order started): a little longer than a BankID order lives.
const COLLECT_GIVE_UP_SECS: i64 = 200;

/// Where an order stands after one collect.
pub enum Poll {
    Pending { message: String },
    Done { next: String },
    Failed { message: String, back: String },
}

/// Collects the session's order once; on completion logs in or signs.
pub async fn poll(app: &AppState, ctx: &Ctx) -> Result<Poll, AppError> {
    let Some(order) = ctx.session.read(|d| d.order.clone()) else {
        return Ok(Poll::Failed {
            message: ctx
                .t(
                    "Det finns ingen pågående legitimering.",
                    "There is no eID order in progress.",
                )
                .to_owned(),
            back: "/".into(),
        });
    };
    let back = back_to(&order.purpose);
    let provider = app
        .providers
        .for_order(&order.handle)
        .map_err(AppError::internal)?
        .clone();
    // The order is collected in the background; this reads its latest answer at once.
    let progress = match app.watches.latest(provider, &order.handle).await {
        Answer::Waiting => Ok(Progress::Pending {
            hint: "starting".into(),
            message: blankett_core::eid::UserMessage {
                sv: "Väntar på svar från e-legitimationen …".into(),
                en: "Waiting for the eID to answer …".into(),
            },
        }),
        Answer::Progress(p) => Ok(p),
        Answer::Trouble(m) => Err(EidError::Transport(m)),
        Answer::Failed(e) => Err(e),
    };
    let ended = !matches!(
        progress,
        Ok(Progress::Pending { .. }) | Err(EidError::Transport(_))
    );
    if ended {
        app.watches.forget(&order.handle.order_ref);
    }
    let en = ctx.en();
    let pick = |m: &blankett_core::eid::UserMessage| if en { m.en.clone() } else { m.sv.clone() };
    match progress {
        Ok(Progress::Pending { message, .. }) => Ok(Poll::Pending {
            message: pick(&message),
        }),
        Ok(Progress::Failed { message, .. }) => {
            ctx.session.write(|d| d.order = None);
            Ok(Poll::Failed {
                message: pick(&message),
                back,
            })
        }
        Ok(Progress::Complete(done)) => {
            ctx.session.write(|d| d.order = None);
            match &order.purpose {
                Purpose::Login { next } => {
                    ctx.session.log_in(SessionUser {
                        personnummer: done.identity.personnummer.clone(),
                        name: done.identity.full_name.clone(),
                        provider: order.handle.provider.clone(),
                    });
                    tracing::info!(provider = %order.handle.provider, "logged in");
                    Ok(Poll::Done { next: next.clone() })
                }
                Purpose::Sign { .. } => {
                    let next = signing::complete(app, ctx, &order, *done).await?;
                    Ok(Poll::Done { next })
                }
            }
        }
        Err(EidError::Refused(r)) => {
            ctx.session.write(|d| d.order = None);
            tracing::warn!(refusal = ?r, "eID completion refused");
            let message = match r {
                Refusal::WrongPerson => ctx.t(
                    "Legitimeringen gjordes av en annan person än den som ska skriva under. Inget har skrivits under.",
                    "The eID was used by another person than the designated signer. Nothing was signed.",
                ),
                _ => ctx.t(
                    "Legitimeringen kunde inte godtas. Inget har ändrats.",
                    "The eID result could not be accepted. Nothing was changed.",
                ),
            };
            Ok(Poll::Failed {
                message: message.to_owned(),
                back,
            })
        }
        Err(EidError::Provider {
            message,
            retryable: false,
            ..
        }) => {
            ctx.session.write(|d| d.order = None);
            Ok(Poll::Failed {
                message: pick(&message),
                back,
            })
        }
        Err(e)
            if app.clock.now_utc() - order.handle.started_at
                > chrono::Duration::seconds(COLLECT_GIVE_UP_SECS) =>
        {
            // An order lives three minutes at BankID; past that, errors will not clear.
            tracing::warn!(error = %e, "eID collect failed; giving up");
            ctx.session.write(|d| d.order = None);
            Ok(Poll::Failed {
                message: ctx
                    .t(
                        "Tjänsten för e-legitimation har inte svarat. Inget har ändrats. Börja om.",
                        "The eID service has not answered. Nothing was changed. Start again.",
                    )
                    .to_owned(),
                back,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "eID collect failed");
            Ok(Poll::Pending {
                message: ctx
                    .t(
                        "Tjänsten för e-legitimation svarar inte just nu. Vi försöker igen.",
                        "The eID service does not answer right now. We keep trying.",
                    )
                    .to_owned(),
            })
        }
    }
}

/// `GET /eid/wait`: the waiting page (collects once; "check again" without JavaScript).
pub async fn wait_page(State(app): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let order = ctx.session.read(|d| d.order.clone());
    match poll(&app, &ctx).await? {
        Poll::Done { next } => Ok(redirect(&next)),
        Poll::Failed { message, back } => {
            ctx.session.set_notice(message.clone(), message);
            Ok(redirect(&back))
        }
        Poll::Pending { message } => {
            let order = order.ok_or(AppError::NotFound)?;
            let provider = app
                .providers
                .for_order(&order.handle)
                .map_err(AppError::internal)?;
            let is_test = order.handle.provider == "test";
            let heading = match order.purpose {
                Purpose::Login { .. } => ctx.t("Legitimera dig", "Identify yourself"),
                Purpose::Sign { .. } => ctx.t("Skriv under", "Sign"),
            };
            let qr = !order.same_device
                && provider
                    .qr_data(&order.handle, app.clock.now_utc())
                    .is_some();
            ctx.page(
                &app,
                "eid_wait.html",
                heading,
                &EidWaitPage {
                    heading: heading.to_owned(),
                    message,
                    poll_url: "/eid/status",
                    poll_page: "/eid/wait",
                    qr_url: if qr { Some("/eid/qr") } else { None },
                    autostart_url: if order.same_device {
                        provider.autostart_url(&order.handle)
                    } else {
                        None
                    },
                    test_url: if is_test {
                        Some(format!("/test-eid/{}", order.handle.order_ref))
                    } else {
                        None
                    },
                },
            )
        }
    }
}

/// `GET /eid/status`: the same as the waiting page, as JSON for the script.
pub async fn status_json(State(app): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let body = match poll(&app, &ctx).await? {
        Poll::Pending { message } => json!({"done": false, "message": message}),
        Poll::Done { next } => json!({"done": true, "next": next}),
        Poll::Failed { message, back } => {
            ctx.session.set_notice(message.clone(), message.clone());
            json!({"done": true, "next": back, "message": message})
        }
    };
    Ok(axum::Json(body).into_response())
}

/// `GET /eid/qr`: the current animated QR code as SVG (changes every second).
pub async fn qr_svg(State(app): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let order = ctx
        .session
        .read(|d| d.order.clone())
        .ok_or(AppError::NotFound)?;
    let provider = app
        .providers
        .for_order(&order.handle)
        .map_err(AppError::internal)?;
    let data = provider
        .qr_data(&order.handle, app.clock.now_utc())
        .ok_or(AppError::NotFound)?;
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(AppError::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// `POST /eid/cancel`.
pub async fn cancel(
    State(app): State<AppState>,
    ctx: Ctx,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let order = ctx.session.write(|d| d.order.take());
    let back = match &order {
        Some(o) => {
            app.watches.forget(&o.handle.order_ref);
            if let Ok(p) = app.providers.for_order(&o.handle) {
                let _ = p.cancel(&o.handle).await;
            }
            back_to(&o.purpose)
        }
        None => "/".to_owned(),
    };
    ctx.session
        .set_notice("Legitimeringen avbröts.", "The eID order was cancelled.");
    Ok(redirect(&back))
}

fn own_test_order(ctx: &Ctx, order_ref: &str) -> Result<OrderHandle, AppError> {
    ctx.session
        .read(|d| d.order.clone())
        .filter(|o| o.handle.provider == "test" && o.handle.order_ref == order_ref)
        .map(|o| o.handle)
        .ok_or(AppError::NotFound)
}

/// `GET /test-eid/{order}`: the test eID's page (development only).
pub async fn test_eid_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(order_ref): Path<String>,
) -> Result<Response, AppError> {
    if app.test_eid.is_none() {
        return Err(AppError::NotFound);
    }
    let handle = own_test_order(&ctx, &order_ref)?;
    test_eid_view(&app, &ctx, &handle, &order_ref, None, "", "")
}

/// The test eID's page, with a message about a typed number that was not accepted.
fn test_eid_view(
    app: &AppState,
    ctx: &Ctx,
    handle: &OrderHandle,
    order_ref: &str,
    error: Option<&str>,
    other: &str,
    other_name: &str,
) -> Result<Response, AppError> {
    let identities: Vec<TestIdentity> = blankett_eid::test_eid::identities()
        .into_iter()
        .map(|i| TestIdentity {
            personnummer: i.personnummer.as_str().to_owned(),
            name: i.full_name,
        })
        .collect();
    let mut resp = ctx.page(
        app,
        "test_eid.html",
        ctx.t("Test-e-legitimation", "Test eID"),
        &TestEidPage {
            identities,
            visible_text: handle.request.visible_text.clone(),
            action: format!("/test-eid/{order_ref}"),
            error: error.map(str::to_owned),
            other: other.to_owned(),
            other_name: other_name.to_owned(),
        },
    )?;
    if error.is_some() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// `POST /test-eid/{order}`: approve as a test person (one of the listed, or any valid
/// personnummer typed in), or cancel.
pub async fn test_eid_decide(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(order_ref): Path<String>,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let test = app.test_eid.clone().ok_or(AppError::NotFound)?;
    let handle = own_test_order(&ctx, &order_ref)?;
    let result = if form.get("decision") == Some("approve") {
        let chosen = form.get("personnummer").unwrap_or("");
        let other = form.get("other_personnummer").unwrap_or("").trim();
        let other_name = form.get("other_name").unwrap_or("").trim();
        let typed = chosen == "other" || (chosen.is_empty() && !other.is_empty());
        let raw = if typed { other } else { chosen };
        let Ok(pnr) = Personnummer::parse(raw) else {
            let message = ctx.t(
                "Skriv ett giltigt personnummer med tolv siffror (ÅÅÅÅMMDDNNNN), eller välj en testperson.",
                "Type a valid personal identity number of twelve digits (YYYYMMDDNNNN), or choose a test person.",
            );
            return test_eid_view(
                &app,
                &ctx,
                &handle,
                &order_ref,
                Some(message),
                other,
                other_name,
            );
        };
        let name = (typed && !other_name.is_empty()).then_some(other_name);
        test.approve(&order_ref, &pnr, name)
    } else {
        test.user_cancel(&order_ref)
    };
    if result.is_err() {
        // The order ended meanwhile (cancelled from the waiting page, or the server
        // restarted): the waiting page says what happened.
        tracing::info!("a decision on an ended test eID order");
    }
    Ok(redirect("/eid/wait"))
}
