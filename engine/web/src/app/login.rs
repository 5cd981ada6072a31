//! Logging in and out with eID.

use axum::extract::State;
use axum::response::Response;
use blankett_core::eid::StartRequest;
use serde::Deserialize;

use super::eid_order::{chosen_provider, provider_views, start_order};
use super::forms::Form;
use super::session::Purpose;
use super::views::LoginPage;
use super::{AppError, AppState, Ctx, redirect, safe_next};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`.
pub async fn login_page(
    State(app): State<AppState>,
    ctx: Ctx,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
) -> Result<Response, AppError> {
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    ctx.page(
        &app,
        "login.html",
        ctx.t("Logga in", "Log in"),
        &LoginPage {
            providers: provider_views(&app, &ctx),
            next,
            message: None,
        },
    )
}

/// `POST /login/start`.
pub async fn start_login(
    State(app): State<AppState>,
    ctx: Ctx,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let (provider, same_device) = chosen_provider(&form)?;
    let next = safe_next(form.get("next").unwrap_or("/"));
    start_order(
        &app,
        &ctx,
        &provider,
        same_device,
        StartRequest::auth(ctx.ip),
        Purpose::Login { next },
    )
    .await
}

/// `POST /logout`.
pub async fn logout(
    State(_app): State<AppState>,
    ctx: Ctx,
    form: Form,
) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    ctx.session.log_out();
    Ok(redirect("/"))
}
