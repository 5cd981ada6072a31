//! Collecting an order until it ends.

use std::time::Duration;

use blankett_core::eid::{EidError, IdentityProvider, OrderHandle, Progress};
use chrono::{DateTime, Utc};

use crate::Sleeper;

/// Collects `order` every `interval` until it completes or fails, calling `on_pending` with
/// each pending state. `now` is the clock. Stops with an error after `max_polls` collects
/// (BankID ends every order within a few minutes, so this only guards against a broken
/// provider).
pub async fn until_done(
    provider: &dyn IdentityProvider,
    order: &OrderHandle,
    now: &(dyn Fn() -> DateTime<Utc> + Send + Sync),
    sleeper: &dyn Sleeper,
    interval: Duration,
    max_polls: u32,
    mut on_pending: impl FnMut(&Progress) + Send,
) -> Result<Progress, EidError> {
    for _ in 0..max_polls {
        let progress = provider.collect(order, now()).await?;
        if !matches!(progress, Progress::Pending { .. }) {
            return Ok(progress);
        }
        on_pending(&progress);
        sleeper.sleep(interval).await;
    }
    Err(EidError::Protocol(format!(
        "the order was still pending after {max_polls} collects"
    )))
}
