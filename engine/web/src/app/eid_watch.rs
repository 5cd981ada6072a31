//! Collecting eID orders in the background.
//!
//! A waiting page must appear at once and pick up every approval, also when the provider
//! answers slowly: a collect that takes 15 s must hold up neither the page nor the next
//! collect. So each pending order gets one task on this instance that collects it every
//! [`COLLECT_EVERY`] (BankID asks for about two seconds) and keeps the latest answer; the
//! waiting page and its status polls read that answer, waiting at most [`FIRST_ANSWER`] for a
//! first one. A task ends when its order ends, when nobody has asked for it for
//! [`ABANDONED_AFTER`], or when collect has failed for [`GIVE_UP_AFTER`] since the order
//! started (then the answer says so).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blankett_core::eid::{EidError, IdentityProvider, OrderHandle, Progress, UserMessage};
use tokio::sync::watch;

use crate::clock::Clock;

/// How often an order is collected.
pub const COLLECT_EVERY: Duration = Duration::from_secs(2);
/// How long a page waits for the first answer of a new collector.
pub const FIRST_ANSWER: Duration = Duration::from_millis(1500);
/// A collector nobody has asked for in this long stops (the person left the page).
pub const ABANDONED_AFTER: Duration = Duration::from_secs(60);
/// Collect errors are tolerated this long after the order started; then the order is given up
/// (a BankID order lives three minutes).
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::seconds(200);

/// The latest answer for an order.
#[derive(Clone)]
pub enum Answer {
    /// No collect has answered yet.
    Waiting,
    Progress(Progress),
    /// A collect failed; it is tried again.
    Trouble(String),
    /// Collect failed for good: not retryable, or for too long.
    Failed(EidError),
}

struct Collector {
    answer: watch::Receiver<Answer>,
    asked: Mutex<Instant>,
}

/// The collectors of this instance, by order reference.
pub struct Watches {
    running: Mutex<HashMap<String, Arc<Collector>>>,
    clock: Arc<dyn Clock>,
}

impl Watches {
    pub fn new(clock: Arc<dyn Clock>) -> Watches {
        Watches {
            running: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// The latest answer for `order`, starting its collector if it has none; waits for the
    /// first answer of a new collector at most [`FIRST_ANSWER`].
    pub async fn latest(
        self: &Arc<Self>,
        provider: Arc<dyn IdentityProvider>,
        order: &OrderHandle,
    ) -> Answer {
        let collector = {
            let Ok(mut running) = self.running.lock() else {
                return Answer::Trouble("the collectors are unavailable".into());
            };
            match running.get(&order.order_ref) {
                Some(c) => c.clone(),
                None => {
                    let (tx, rx) = watch::channel(Answer::Waiting);
                    let c = Arc::new(Collector {
                        answer: rx,
                        asked: Mutex::new(Instant::now()),
                    });
                    running.insert(order.order_ref.clone(), c.clone());
                    tokio::spawn(collect(
                        self.clone(),
                        provider,
                        order.clone(),
                        tx,
                        c.clone(),
                    ));
                    c
                }
            }
        };
        if let Ok(mut asked) = collector.asked.lock() {
            *asked = Instant::now();
        }
        let mut rx = collector.answer.clone();
        let _ = tokio::time::timeout(FIRST_ANSWER, rx.wait_for(|a| !matches!(a, Answer::Waiting)))
            .await;
        rx.borrow().clone()
    }

    /// Forgets an order's collector (its order ended, or was replaced or cancelled).
    pub fn forget(&self, order_ref: &str) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(order_ref);
        }
    }
}

/// One order's collector: collects until the order ends, nobody asks, or it gives up.
async fn collect(
    watches: Arc<Watches>,
    provider: Arc<dyn IdentityProvider>,
    order: OrderHandle,
    tx: watch::Sender<Answer>,
    me: Arc<Collector>,
) {
    loop {
        let answer = match provider.collect(&order, watches.clock.now_utc()).await {
            Ok(p @ Progress::Pending { .. }) => Answer::Progress(p),
            Ok(done) => {
                tx.send_replace(Answer::Progress(done));
                break;
            }
            Err(
                e @ EidError::Provider {
                    retryable: false, ..
                },
            )
            | Err(e @ EidError::Refused(_)) => {
                tx.send_replace(Answer::Failed(e));
                break;
            }
            Err(e) if watches.clock.now_utc() - order.started_at > GIVE_UP_AFTER => {
                tracing::warn!(error = %e, "eID collect failed; giving up");
                tx.send_replace(Answer::Failed(EidError::Provider {
                    code: "noAnswer".into(),
                    retryable: false,
                    message: UserMessage {
                        sv: "Tjänsten för e-legitimation har inte svarat. Inget har ändrats. Börja om."
                            .into(),
                        en: "The eID service has not answered. Nothing was changed. Start again."
                            .into(),
                    },
                }));
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "eID collect failed; trying again");
                Answer::Trouble(e.to_string())
            }
        };
        tx.send_replace(answer);
        let idle = me.asked.lock().map(|t| t.elapsed()).unwrap_or_default();
        if idle > ABANDONED_AFTER {
            break;
        }
        tokio::time::sleep(COLLECT_EVERY).await;
    }
    // The final answer stays readable for the page that asks next (which then forgets it);
    // an answer nobody comes for is forgotten after a while.
    let idle = me.asked.lock().map(|t| t.elapsed()).unwrap_or_default();
    if idle <= ABANDONED_AFTER {
        tokio::time::sleep(ABANDONED_AFTER).await;
    }
    watches.forget(&order.order_ref);
}
