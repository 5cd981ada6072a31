//! Cases as every page reaches them: who may see a case (and handle its flow), loading a case
//! the logged-in person may see, and writing a command's outcome with the "someone else
//! changed this case" answer to a lost race.

use std::sync::Arc;

use axum::response::Response;
use blankett_app::commands::{self, CommandError};
use blankett_core::Flow;
use blankett_core::case::{Actor, Case, Command, Outcome};
use blankett_core::store::CaseWrite;

use super::{AppError, AppState, Ctx, redirect};

/// Loads a case the logged-in person may see.
pub async fn visible_case(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
) -> Result<(Case, Arc<Flow>, Actor), AppError> {
    let actor = ctx.require_actor(app)?;
    let (case, flow) = app.visible_case(&actor, id).await?;
    Ok((case, flow, actor))
}

/// [`visible_case`] for a command whose form was made at `revision`: this instance's copy of
/// the case is used when it is at that revision (see [`AppState::recent_case`] for why that is
/// safe), which saves a read before the write.
pub async fn visible_case_at(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    revision: u64,
) -> Result<(Case, Arc<Flow>, Actor), AppError> {
    let actor = ctx.require_actor(app)?;
    let (case, flow) = app.visible_case_at(&actor, id, revision).await?;
    Ok((case, flow, actor))
}

/// Writes a command's outcome; a stale revision becomes `Err(None)` so the caller can show
/// "someone else changed this case" with what was typed.
pub async fn write(
    app: &AppState,
    expected: u64,
    out: &Outcome,
    extra: Option<CaseWrite>,
) -> Result<(), Option<AppError>> {
    let w = extra.unwrap_or_else(|| commands::plain_write(out, expected));
    match app.write(&w).await {
        Ok(()) => Ok(()),
        Err(CommandError::Stale) => Err(None),
        Err(e) => Err(Some(e.into())),
    }
}

/// Runs `command` on `case` (see [`Service::run`](blankett_app::service::Service::run)).
pub async fn run(
    app: &AppState,
    flow: &Flow,
    case: &Case,
    actor: &Actor,
    expected: u64,
    command: Command,
) -> Result<Outcome, CommandError> {
    app.run(flow, case, actor, expected, command).await
}

/// [`write`], for commands whose lost race needs no form shown again: on a stale revision
/// it sets the "someone else changed this case" notice and returns the redirect to `back`.
pub async fn write_or_back(
    app: &AppState,
    ctx: &Ctx,
    expected: u64,
    out: &Outcome,
    extra: Option<CaseWrite>,
    back: &str,
) -> Result<Option<Response>, AppError> {
    match write(app, expected, out, extra).await {
        Ok(()) => Ok(None),
        Err(None) => Ok(Some(stale_redirect(ctx, back))),
        Err(Some(e)) => Err(e),
    }
}

/// "Someone else changed this case" as a notice for the next page, and a redirect there.
pub fn stale_redirect(ctx: &Ctx, back: &str) -> Response {
    let n = conflict_notice(ctx);
    ctx.session.set_notice(n.clone(), n);
    redirect(back)
}

pub fn conflict_notice(ctx: &Ctx) -> String {
    ctx.t(
        "Någon annan har ändrat ärendet medan du arbetade. Dina uppgifter nedan är inte sparade än – kontrollera dem och spara igen.",
        "Someone else changed this case while you were working. Your entries below are not saved yet – check them and save again.",
    )
    .to_owned()
}
