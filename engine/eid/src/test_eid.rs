//! The built-in test eID: a development provider with no external service.
//!
//! An order waits until someone picks one of Skatteverket's public test identities (or types
//! any valid personnummer) and approves it, or cancels (the web shows a small page for that and
//! calls [`TestEid::approve`] or [`TestEid::user_cancel`]). Order references are random, so an
//! order cannot be guessed or taken over by another browser, also not after a restart (which
//! forgets every order: collecting one then fails and says to start again). Identities from it have [`AssuranceLevel::Test`], which no
//! real flow accepts, and it cannot be constructed when the environment is production.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blankett_core::eid::{
    AssuranceLevel, BoxFuture, Completion, EidError, Evidence, FailureReason, IdentityProvider,
    OrderHandle, Progress, StartRequest, UserMessage, VerifiedIdentity, check_expected_person,
};
use blankett_core::ids::Personnummer;
use chrono::{DateTime, Utc};

use crate::Environment;

/// Skatteverket's public test personal identity numbers, with invented names.
pub const TEST_IDENTITIES: &[(&str, &str, &str)] = &[
    ("197701172392", "Tolvan", "Tolvansson"),
    ("189001019802", "Elva", "Elvasson"),
    ("201212121212", "Tretton", "Trettonsson"),
];

/// The test identities, parsed.
pub fn identities() -> Vec<VerifiedIdentity> {
    TEST_IDENTITIES
        .iter()
        .filter_map(|(pnr, given, surname)| {
            Some(VerifiedIdentity {
                personnummer: Personnummer::parse(pnr).ok()?,
                given_name: (*given).to_owned(),
                surname: (*surname).to_owned(),
                full_name: format!("{given} {surname}"),
            })
        })
        .collect()
}

#[derive(Debug, Clone)]
enum State {
    Waiting,
    Approved(Box<VerifiedIdentity>),
    Cancelled,
}

/// The test eID provider.
#[derive(Debug, Default)]
pub struct TestEid {
    orders: Mutex<HashMap<String, State>>,
}

/// How many orders the test eID keeps before it forgets ended ones.
const MAX_ORDERS: usize = 10_000;

impl TestEid {
    pub const ID: &'static str = "test";

    /// Refuses production: test identities must never reach a real case.
    pub fn new(environment: Environment) -> Result<Self, EidError> {
        if environment == Environment::Production {
            return Err(EidError::Config(
                "the test eID cannot be enabled in production".into(),
            ));
        }
        Ok(Self::default())
    }

    fn set(&self, order_ref: &str, state: State) -> Result<(), EidError> {
        let mut orders = self
            .orders
            .lock()
            .map_err(|_| EidError::Protocol("test eID state poisoned".into()))?;
        match orders.get_mut(order_ref) {
            Some(s @ State::Waiting) => {
                *s = state;
                Ok(())
            }
            Some(_) => Err(EidError::InvalidRequest("the order has ended".into())),
            None => Err(EidError::InvalidRequest("no such test order".into())),
        }
    }

    /// Approves the order as `personnummer`: one of [`TEST_IDENTITIES`] with its name, or any
    /// other valid number with `name` (or "Testperson" and the number's last four digits).
    pub fn approve(
        &self,
        order_ref: &str,
        personnummer: &Personnummer,
        name: Option<&str>,
    ) -> Result<(), EidError> {
        let identity = identities()
            .into_iter()
            .find(|i| i.personnummer == *personnummer)
            .unwrap_or_else(|| {
                let digits = personnummer.as_str();
                let last = &digits[digits.len().saturating_sub(4)..];
                let full = name
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| n.chars().take(100).collect::<String>())
                    .unwrap_or_else(|| format!("Testperson {last}"));
                let (given, surname) = match full.rsplit_once(' ') {
                    Some((g, s)) => (g.to_owned(), s.to_owned()),
                    None => (full.clone(), String::new()),
                };
                VerifiedIdentity {
                    personnummer: personnummer.clone(),
                    given_name: given,
                    surname,
                    full_name: full,
                }
            });
        self.set(order_ref, State::Approved(Box::new(identity)))
    }

    /// The user cancels.
    pub fn user_cancel(&self, order_ref: &str) -> Result<(), EidError> {
        self.set(order_ref, State::Cancelled)
    }

    fn state(&self, order_ref: &str) -> Result<State, EidError> {
        self.orders
            .lock()
            .map_err(|_| EidError::Protocol("test eID state poisoned".into()))?
            .get(order_ref)
            .cloned()
            .ok_or_else(|| EidError::Provider {
                code: "notFound".into(),
                retryable: false,
                message: UserMessage {
                    sv: "Legitimeringen finns inte längre (tjänsten kan ha startats om). Börja om."
                        .into(),
                    en: "The eID order no longer exists (the service may have restarted). Start again."
                        .into(),
                },
            })
    }
}

/// A random order reference: 128 bits, as hex.
fn random_ref() -> Result<String, EidError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| EidError::Protocol(format!("no randomness: {e}")))?;
    Ok(format!("test-{}", hex::encode(b)))
}

fn evidence(order: &OrderHandle, now: DateTime<Utc>) -> Evidence {
    let mut xml = String::from("<testEidSignedData warning=\"TEST eID - NOT A REAL SIGNATURE\">");
    if let Some(v) = &order.request.visible_text {
        xml.push_str(&format!(
            "<usrVisibleData>{}</usrVisibleData>",
            STANDARD.encode(v)
        ));
    }
    if let Some(v) = &order.request.non_visible_data {
        xml.push_str(&format!(
            "<usrNonVisibleData>{}</usrNonVisibleData>",
            STANDARD.encode(v)
        ));
    }
    xml.push_str("</testEidSignedData>");
    Evidence {
        provider: TestEid::ID.to_owned(),
        signature: xml.into_bytes(),
        ocsp_response: Vec::new(),
        device_ip: Some(order.request.end_user_ip.to_string()),
        completed_at: now,
        attributes: BTreeMap::from([("test".to_owned(), "true".to_owned())]),
    }
}

impl IdentityProvider for TestEid {
    fn id(&self) -> &str {
        Self::ID
    }

    fn assurance(&self) -> AssuranceLevel {
        AssuranceLevel::Test
    }

    fn start<'a>(
        &'a self,
        request: &'a StartRequest,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<OrderHandle, EidError>> {
        Box::pin(async move {
            request.validate()?;
            let order_ref = random_ref()?;
            let mut orders = self
                .orders
                .lock()
                .map_err(|_| EidError::Protocol("test eID state poisoned".into()))?;
            if orders.len() >= MAX_ORDERS {
                orders.retain(|_, s| matches!(s, State::Waiting));
                if orders.len() >= MAX_ORDERS {
                    orders.clear();
                }
            }
            orders.insert(order_ref.clone(), State::Waiting);
            Ok(OrderHandle {
                provider: Self::ID.to_owned(),
                order_ref,
                started_at: now,
                request: request.clone(),
                private: BTreeMap::new(),
            })
        })
    }

    fn collect<'a>(
        &'a self,
        order: &'a OrderHandle,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Progress, EidError>> {
        Box::pin(async move {
            match self.state(&order.order_ref)? {
                State::Waiting => Ok(Progress::Pending {
                    hint: "waiting".into(),
                    message: UserMessage {
                        sv: "Välj en testperson och godkänn (test-e-legitimation).".into(),
                        en: "Pick a test person and approve (test eID).".into(),
                    },
                }),
                State::Cancelled => Ok(Progress::Failed {
                    reason: FailureReason::UserCancelled,
                    code: "userCancel".into(),
                    message: UserMessage {
                        sv: "Åtgärden avbruten.".into(),
                        en: "Action cancelled.".into(),
                    },
                }),
                State::Approved(identity) => {
                    check_expected_person(&order.request, &identity)?;
                    Ok(Progress::Complete(Box::new(Completion {
                        kind: order.request.kind,
                        identity: *identity,
                        evidence: evidence(order, now),
                        assurance: AssuranceLevel::Test,
                    })))
                }
            }
        })
    }

    fn cancel<'a>(&'a self, order: &'a OrderHandle) -> BoxFuture<'a, Result<(), EidError>> {
        Box::pin(async move { self.set(&order.order_ref, State::Cancelled) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use blankett_core::eid::{DocumentBinding, Refusal};
    use core::net::{IpAddr, Ipv4Addr};

    fn ip() -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    #[test]
    fn refused_in_production() {
        assert!(matches!(
            TestEid::new(Environment::Production),
            Err(EidError::Config(_))
        ));
        assert!(TestEid::new(Environment::Development).is_ok());
        assert!(TestEid::new(Environment::Test).is_ok());
    }

    #[tokio::test]
    async fn approve_completes_with_the_chosen_identity_at_test_level() {
        let eid = TestEid::new(Environment::Development).unwrap();
        let now = DateTime::<Utc>::default();
        let order = eid.start(&StartRequest::auth(ip()), now).await.unwrap();
        assert!(matches!(
            eid.collect(&order, now).await.unwrap(),
            Progress::Pending { .. }
        ));
        let pnr = Personnummer::parse("189001019802").unwrap();
        eid.approve(&order.order_ref, &pnr, None).unwrap();
        let Progress::Complete(done) = eid.collect(&order, now).await.unwrap() else {
            panic!("not complete");
        };
        assert_eq!(done.identity.personnummer, pnr);
        assert_eq!(done.identity.full_name, "Elva Elvasson");
        assert_eq!(done.assurance, AssuranceLevel::Test);
        // an ended order cannot be approved again
        assert!(eid.user_cancel(&order.order_ref).is_err());
        // any valid number, with a name given or made up
        let other = eid.start(&StartRequest::auth(ip()), now).await.unwrap();
        let not_listed = Personnummer::parse("189001019976").unwrap(); // synthetic, born 1890
        eid.approve(&other.order_ref, &not_listed, None).unwrap();
        let Progress::Complete(done) = eid.collect(&other, now).await.unwrap() else {
            panic!("not complete");
        };
        assert_eq!(done.identity.full_name, "Testperson 9976");
        // order references are random and an unknown one says to start again
        assert_ne!(order.order_ref, other.order_ref);
        assert!(order.order_ref.len() > 30);
        let forgotten = TestEid::new(Environment::Development).unwrap();
        assert!(matches!(
            forgotten.collect(&other, now).await,
            Err(EidError::Provider {
                retryable: false,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn signing_by_another_person_is_refused_and_cancel_fails_the_order() {
        let eid = TestEid::new(Environment::Development).unwrap();
        let now = DateTime::<Utc>::default();
        let doc = DocumentBinding::of_bytes("Beslut", "KS 1", b"pdf");
        let req =
            StartRequest::sign_document(ip(), &doc, Personnummer::parse("197701172392").unwrap());
        let order = eid.start(&req, now).await.unwrap();
        eid.approve(
            &order.order_ref,
            &Personnummer::parse("201212121212").unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(
            eid.collect(&order, now).await,
            Err(EidError::Refused(Refusal::WrongPerson))
        );

        let order = eid.start(&req, now).await.unwrap();
        eid.cancel(&order).await.unwrap();
        assert!(matches!(
            eid.collect(&order, now).await.unwrap(),
            Progress::Failed {
                reason: FailureReason::Cancelled | FailureReason::UserCancelled,
                ..
            }
        ));
    }
}
