//! Starting an eID order for a purpose (a login or a signature): which providers are offered
//! at which assurance level, the start itself (cancelling an order left behind), and the page
//! a failed start shows.

use super::forms::Form;
use super::session::{PendingOrder, Purpose};
use super::views::ProviderChoice;
use super::{AppError, AppState, Ctx, redirect};
use axum::response::Response;
use blankett_core::eid::{AssuranceLevel, EidError, StartRequest};

pub fn provider_label(id: &str, ctx: &Ctx) -> String {
    match id {
        "test" => ctx.t("Test-e-legitimation", "Test eID").to_owned(),
        "bankid" => "BankID".to_owned(),
        other => other.to_owned(),
    }
}

pub fn provider_views(app: &AppState, ctx: &Ctx) -> Vec<ProviderChoice> {
    app.providers
        .ids()
        .into_iter()
        .map(|id| ProviderChoice {
            id: id.to_owned(),
            label: provider_label(id, ctx),
        })
        .collect()
}

pub use blankett_app::signing::level_accepted;

/// The providers offered where `required` is asked for (a flow's signing).
pub fn provider_views_at(
    app: &AppState,
    ctx: &Ctx,
    required: AssuranceLevel,
) -> Vec<ProviderChoice> {
    let test_eid = app.config.test_eid_enabled();
    app.providers
        .ids()
        .into_iter()
        .filter(|id| {
            app.providers
                .get(id)
                .is_ok_and(|p| level_accepted(p.assurance(), required, test_eid))
        })
        .map(|id| ProviderChoice {
            id: id.to_owned(),
            label: provider_label(id, ctx),
        })
        .collect()
}

/// Parses `bankid:same-device` / `bankid:other-device` / `test`.
pub fn chosen_provider(form: &Form) -> Result<(String, bool), AppError> {
    let raw = form
        .get("provider")
        .ok_or(AppError::BadRequest("no eID provider chosen"))?;
    Ok(match raw.split_once(':') {
        Some((p, mode)) => (p.to_owned(), mode == "same-device"),
        None => (raw.to_owned(), false),
    })
}

/// Starts an eID order for `purpose` and goes to the waiting page (or the test eID's page).
pub async fn start_order(
    app: &AppState,
    ctx: &Ctx,
    provider_id: &str,
    same_device: bool,
    mut request: StartRequest,
    purpose: Purpose,
) -> Result<Response, AppError> {
    // On the same device the eID app returns the person to the waiting page in this browser.
    if same_device {
        request.return_url = Some(format!(
            "{}/eid/wait",
            app.config.public_url().trim_end_matches('/')
        ));
    }
    if !app.allow_eid_start(ctx.ip) {
        return Err(AppError::TooManyRequests);
    }
    let provider = app
        .providers
        .get(provider_id)
        .map_err(|_| AppError::BadRequest("unknown eID provider"))?;
    // A new order replaces an earlier one of this session.
    if let Some(old) = ctx.session.read(|d| d.order.clone())
        && let Ok(p) = app.providers.for_order(&old.handle)
    {
        app.watches.forget(&old.handle.order_ref);
        let _ = p.cancel(&old.handle).await;
    }
    let retry = back_to(&purpose);
    let handle = match provider.start(&request, app.clock.now_utc()).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(provider = %provider_id, error = %e, "eID order not started");
            return Err(eid_start_failed(e, retry));
        }
    };
    let to_test_page = handle.provider == "test";
    let order_ref = handle.order_ref.clone();
    ctx.session.write(|d| {
        d.order = Some(PendingOrder {
            handle,
            purpose,
            same_device,
        })
    });
    if to_test_page {
        return Ok(redirect(&format!("/test-eid/{order_ref}")));
    }
    Ok(redirect("/eid/wait"))
}

/// Where a person goes back to when an order for `purpose` ends without success, or to try
/// again.
pub fn back_to(purpose: &Purpose) -> String {
    match purpose {
        Purpose::Login { next } => format!("/login?next={}", super::urlencode(next)),
        Purpose::Sign { case_id, .. } => format!("/cases/{case_id}/sign"),
    }
}

/// An order that could not be started, as a page that says why in the provider's own words
/// (BankID's RFA texts), answers 409/429/503 rather than 500, and offers to try again. Nothing
/// was started, so nothing is left behind: a case stays as it was.
fn eid_start_failed(e: EidError, retry: String) -> AppError {
    use axum::http::StatusCode;
    let cause = e.to_string();
    let unavailable = (
        "Tjänsten för e-legitimation svarar inte just nu. Inget har ändrats. Försök igen om en stund.".to_owned(),
        "The eID service does not answer right now. Nothing was changed. Try again in a while.".to_owned(),
    );
    let (status, (sv, en)) = match e {
        EidError::Provider { code, message, .. } if code == "alreadyInProgress" => {
            (StatusCode::CONFLICT, (message.sv, message.en))
        }
        EidError::Provider { code, message, .. } if code == "tooManyRequests" || code == "429" => {
            (StatusCode::TOO_MANY_REQUESTS, (message.sv, message.en))
        }
        EidError::Provider {
            retryable: true,
            message,
            ..
        } => (StatusCode::SERVICE_UNAVAILABLE, (message.sv, message.en)),
        EidError::Provider { message, .. } => (StatusCode::BAD_GATEWAY, (message.sv, message.en)),
        EidError::Transport(_) | EidError::Protocol(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, unavailable)
        }
        EidError::InvalidRequest(_) | EidError::UnknownProvider(_) => (
            StatusCode::BAD_REQUEST,
            (
                "Legitimeringen kunde inte startas. Försök igen.".to_owned(),
                "The eID order could not be started. Please try again.".to_owned(),
            ),
        ),
        EidError::Refused(_) | EidError::Config(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, unavailable)
        }
    };
    AppError::Eid {
        status,
        sv,
        en,
        retry,
        cause,
    }
}
