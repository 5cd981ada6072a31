//! The pages of the outbox: `/outbox` shows administrators what has not been delivered, and
//! `/dev/mailbox` shows, in development, every message the server would have sent.

use axum::extract::State;
use axum::response::Response;
use blankett_core::store::{Message, MessageStatus};
use serde_json::Value;

use crate::app::views::{MailboxPage, MessageRow, OutboxPage};
use crate::app::{AppError, AppState, Ctx};

/// Administrators are the case workers of every unit (`units = []` in `[[case_workers]]`).
fn require_admin(app: &AppState, ctx: &Ctx) -> Result<(), AppError> {
    let actor = ctx.require_actor(app)?;
    if crate::app::access::may_see_outbox(app.staff(&actor)) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

fn row(m: &Message, dev: bool) -> MessageRow {
    let text = |k: &str| m.payload.get(k).and_then(Value::as_str).unwrap_or_default();
    MessageRow {
        created_at: m.created_at.local().format("%Y-%m-%d %H:%M:%S").to_string(),
        channel: m.channel,
        topic: m.topic.to_string(),
        // Outside development an address is personal data: shown only in part.
        recipient: if dev {
            m.recipient.clone()
        } else {
            mask(&m.recipient, m.channel)
        },
        status: m.status,
        attempts: m.attempts,
        last_error: m.last_error.clone(),
        subject: text("subject").to_owned(),
        text: text("text").to_owned(),
    }
}

/// `t…@example.se`, `+4670…12`, a webhook's name as is.
fn mask(recipient: &str, channel: blankett_core::store::MessageChannel) -> String {
    use blankett_core::store::MessageChannel;
    match channel {
        MessageChannel::Webhook => recipient.to_owned(),
        MessageChannel::Email => match recipient.split_once('@') {
            Some((local, domain)) => {
                format!("{}…@{domain}", local.chars().next().unwrap_or('?'))
            }
            None => "…".into(),
        },
        MessageChannel::Sms => {
            let chars: Vec<char> = recipient.chars().collect();
            let head: String = chars.iter().take(5).collect();
            let tail: String = chars.iter().skip(chars.len().saturating_sub(2)).collect();
            format!("{head}…{tail}")
        }
    }
}

/// `GET /outbox`: undelivered messages (pending and failed), for administrators.
pub async fn outbox_page(State(app): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    require_admin(&app, &ctx)?;
    let failed = app.messages(Some(MessageStatus::Failed), 200).await?;
    let pending = app.messages(Some(MessageStatus::Pending), 200).await?;
    let messages: Vec<MessageRow> = failed
        .iter()
        .chain(pending.iter())
        .map(|m| row(m, false))
        .collect();
    ctx.page(
        &app,
        "outbox.html",
        ctx.t("Utskick som inte gått fram", "Undelivered messages"),
        &OutboxPage {
            dev: false,
            messages,
            failed: failed.len(),
            pending: pending.len(),
        },
    )
}

/// `GET /dev/mailbox`: the development mailbox (404 in production).
pub async fn mailbox_page(State(app): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    if app.config.is_production() {
        return Err(AppError::NotFound);
    }
    let list = app.messages(None, 200).await?;
    let messages: Vec<MessageRow> = list
        .iter()
        .filter(|m| m.channel != blankett_core::store::MessageChannel::Webhook)
        .map(|m| row(m, true))
        .collect();
    let dir = app
        .config
        .notify
        .mailbox_dir
        .as_ref()
        .map(|d| app.config.base_dir.join(d))
        .unwrap_or_else(|| app.config.data_dir.join("mailbox"));
    ctx.page(
        &app,
        "outbox.html",
        ctx.t("Brevlåda (utveckling)", "Mailbox (development)"),
        &MailboxPage {
            dev: true,
            messages,
            mailbox_dir: dir.display().to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use blankett_core::store::MessageChannel;

    #[test]
    fn addresses_are_masked_outside_development() {
        assert_eq!(
            mask("tolvan@example.se", MessageChannel::Email),
            "t…@example.se"
        );
        assert_eq!(mask("+46701740612", MessageChannel::Sms), "+4670…12");
        assert_eq!(mask("arkivet", MessageChannel::Webhook), "arkivet");
    }
}
