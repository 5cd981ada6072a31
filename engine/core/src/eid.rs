//! The identity port: electronic identification (eID) of citizens and case workers.
//!
//! A flow asks for an assurance level or a provider, never for a vendor API. An adapter
//! (BankID, the built-in test eID, later Freja eID, a SAML/OIDC identity provider, …)
//! implements [`IdentityProvider`]: it starts an authentication or signing order, reports the
//! order's progress when collected, and cancels it. A finished order yields a
//! [`VerifiedIdentity`], the provider's raw [`Evidence`] and an [`AssuranceLevel`].
//!
//! The port is pure data and one trait: no I/O, no clock. `now` is an argument, and the
//! futures returned by a provider are driven by whatever runtime the composition root uses.
//! Everything that can carry personal data has a redacted `Debug`.

use core::net::IpAddr;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::Personnummer;

/// A boxed, sendable future, so that [`IdentityProvider`] stays object safe
/// (`Arc<dyn IdentityProvider>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an order is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Identification (log in).
    Auth,
    /// A signature over something shown to the user.
    Sign,
}

/// How much an identity can be trusted, in eIDAS terms, plus a level for development
/// identities that satisfies no real requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssuranceLevel {
    /// A development identity (the built-in test eID): never enough for a real flow.
    Test,
    /// eIDAS low.
    Low,
    /// eIDAS substantial (Svensk e-legitimation tillitsnivå 3; BankID).
    Substantial,
    /// eIDAS high (tillitsnivå 4).
    High,
}

impl AssuranceLevel {
    /// Whether an identity at this level may be used where `required` is asked for.
    pub fn satisfies(self, required: AssuranceLevel) -> bool {
        self >= required
    }
}

/// The document a signing order binds: what the signer sees and the digest of the exact bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentBinding {
    /// The document title as shown to the signer.
    pub title: String,
    /// The case reference (diarienummer or case id).
    pub case_number: String,
    /// SHA-256 of the exact PDF bytes that are signed.
    pub sha256: [u8; 32],
    /// The flow's sign message (`signing.message`), rendered for this signer; shown first.
    #[serde(default)]
    pub message: Option<String>,
}

impl DocumentBinding {
    /// Binds the given document bytes.
    pub fn of_bytes(title: &str, case_number: &str, document: &[u8]) -> Self {
        Self {
            title: title.to_owned(),
            case_number: case_number.to_owned(),
            sha256: Sha256::digest(document).into(),
            message: None,
        }
    }

    /// The same binding with the flow's sign message (at most [`MAX_SIGN_MESSAGE`] characters
    /// of it; the reference and the digest always follow).
    pub fn with_message(mut self, message: &str) -> Self {
        let m: String = message.trim().chars().take(MAX_SIGN_MESSAGE).collect();
        self.message = (!m.is_empty()).then_some(m);
        self
    }

    /// The digest as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// The sign message in a small Markdown dialect (headings, plain paragraphs), which BankID
    /// calls `simpleMarkdownV1`. Markdown characters in the title and case number are escaped
    /// so they show as typed.
    pub fn visible_text(&self) -> String {
        let message = self
            .message
            .as_deref()
            .map(|m| {
                let paragraphs: Vec<String> = m
                    .split("\n\n")
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(escape_markdown)
                    .collect();
                format!("{}\n\n", paragraphs.join("\n\n"))
            })
            .unwrap_or_default();
        format!(
            "# Underskrift / Signature\n\n{message}{}\n\nÄrende / Case: {}\n\nSHA-256: {}\n",
            escape_markdown(&self.title),
            escape_markdown(&self.case_number),
            self.sha256_hex()
        )
    }

    /// The data not shown to the signer but signed with the message: the digest itself.
    pub fn non_visible_data(&self) -> Vec<u8> {
        self.sha256.to_vec()
    }
}

impl fmt::Debug for DocumentBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentBinding")
            .field("title", &"<redacted>")
            .field("case_number", &self.case_number)
            .field("sha256", &self.sha256_hex())
            .finish()
    }
}

/// Escapes the characters that BankID's `simpleMarkdownV1` gives meaning to.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '#' | '+' | '|' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// How much of a flow's sign message goes to the eID app (BankID shows a few screens).
pub const MAX_SIGN_MESSAGE: usize = 1000;

/// What to start.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRequest {
    pub kind: OrderKind,
    /// The IP address of the end user's device, as seen by the e-service.
    pub end_user_ip: IpAddr,
    /// Only this person may complete the order (for signing: the expected signer).
    pub expected_personnummer: Option<Personnummer>,
    /// The text shown to the user (`simpleMarkdownV1`). Required for signing.
    pub visible_text: Option<String>,
    /// Data signed but not shown.
    pub non_visible_data: Option<Vec<u8>>,
    /// Where the eID app returns the user to after a same-device start.
    pub return_url: Option<String>,
}

impl StartRequest {
    /// An authentication order.
    pub fn auth(end_user_ip: IpAddr) -> Self {
        Self {
            kind: OrderKind::Auth,
            end_user_ip,
            expected_personnummer: None,
            visible_text: None,
            non_visible_data: None,
            return_url: None,
        }
    }

    /// A signing order that binds `document` and may only be completed by `signer`.
    pub fn sign_document(
        end_user_ip: IpAddr,
        document: &DocumentBinding,
        signer: Personnummer,
    ) -> Self {
        Self {
            kind: OrderKind::Sign,
            end_user_ip,
            expected_personnummer: Some(signer),
            visible_text: Some(document.visible_text()),
            non_visible_data: Some(document.non_visible_data()),
            return_url: None,
        }
    }

    /// Checks what every provider needs: signing shows a text.
    pub fn validate(&self) -> Result<(), EidError> {
        if self.kind == OrderKind::Sign
            && self
                .visible_text
                .as_deref()
                .is_none_or(|t| t.trim().is_empty())
        {
            return Err(EidError::InvalidRequest(
                "a signing order needs a visible text".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for StartRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartRequest")
            .field("kind", &self.kind)
            .field("end_user_ip", &"<redacted>")
            .field(
                "expected_personnummer",
                &self.expected_personnummer.as_ref().map(|_| "<redacted>"),
            )
            .field("visible_text", &self.visible_text.as_ref().map(|t| t.len()))
            .field(
                "non_visible_data",
                &self.non_visible_data.as_ref().map(|d| d.len()),
            )
            .field("return_url", &self.return_url.is_some())
            .finish()
    }
}

/// A started order, as the engine keeps it (server side) until the order ends.
///
/// Holds what was asked for, so that the completion can be checked against it without any
/// state in the provider, and the provider's private launch data (for BankID the QR start
/// secret: it stays on the server; only the derived QR data goes to the browser).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderHandle {
    /// The provider id ([`IdentityProvider::id`]).
    pub provider: String,
    /// The provider's order reference.
    pub order_ref: String,
    /// When the provider answered the start request.
    pub started_at: DateTime<Utc>,
    /// The request, as sent.
    pub request: StartRequest,
    /// Provider-specific data needed later (tokens, secrets); never shown to the user.
    pub private: BTreeMap<String, String>,
}

impl fmt::Debug for OrderHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderHandle")
            .field("provider", &self.provider)
            .field("order_ref", &self.order_ref)
            .field("started_at", &self.started_at)
            .field("request", &self.request)
            .field("private", &self.private.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A message for the user, in Swedish and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMessage {
    pub sv: String,
    pub en: String,
}

/// How an order failed, in terms that do not depend on the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The user did not act in time.
    Expired,
    /// The user cancelled in the eID app.
    UserCancelled,
    /// The order was cancelled (by the e-service or because a new one was started).
    Cancelled,
    /// The eID app could not be started or the QR code was not scanned.
    StartFailed,
    /// The user's eID is blocked, too old or does not meet the requirements.
    CertificateError,
    /// The user declined (for example a phone call).
    Declined,
    /// Something else: see the provider's code.
    Other,
}

/// The identity the provider vouches for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedIdentity {
    pub personnummer: Personnummer,
    pub given_name: String,
    pub surname: String,
    pub full_name: String,
}

impl fmt::Debug for VerifiedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifiedIdentity(<redacted>)")
    }
}

/// What the provider gave as proof, kept as received.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The provider id.
    pub provider: String,
    /// The provider's signature (BankID: the XML signature document).
    pub signature: Vec<u8>,
    /// The OCSP response for the user's certificate (DER), if the provider gives one.
    pub ocsp_response: Vec<u8>,
    /// The IP address of the user's device as the provider saw it.
    pub device_ip: Option<String>,
    /// When the engine received the completion.
    pub completed_at: DateTime<Utc>,
    /// Further provider-specific facts (issue date of the eID, risk, …).
    pub attributes: BTreeMap<String, String>,
}

impl fmt::Debug for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evidence")
            .field("provider", &self.provider)
            .field(
                "signature",
                &format_args!("<{} bytes>", self.signature.len()),
            )
            .field(
                "ocsp_response",
                &format_args!("<{} bytes>", self.ocsp_response.len()),
            )
            .field("device_ip", &self.device_ip.as_ref().map(|_| "<redacted>"))
            .field("completed_at", &self.completed_at)
            .field("attributes", &self.attributes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A finished order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub kind: OrderKind,
    pub identity: VerifiedIdentity,
    pub evidence: Evidence,
    pub assurance: AssuranceLevel,
}

/// The state of an order when collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Progress {
    /// Still going; `hint` is the provider's code, `message` what to tell the user.
    Pending { hint: String, message: UserMessage },
    /// Done, and every check passed.
    Complete(Box<Completion>),
    /// Ended without an identity.
    Failed {
        reason: FailureReason,
        code: String,
        message: UserMessage,
    },
}

/// Why a completion that the provider reported was refused by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Another person than the expected one completed the order.
    WrongPerson,
    /// The signed data differs from what was sent (visible or non-visible data).
    BindingMismatch,
    /// The completion lacks something required (signature, identity fields).
    IncompleteEvidence,
    /// The identity number is not a valid personnummer.
    InvalidIdentity,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::WrongPerson => "the order was completed by another person than expected",
            Refusal::BindingMismatch => "the signed data differs from what was sent",
            Refusal::IncompleteEvidence => "the completion lacks required evidence",
            Refusal::InvalidIdentity => "the identity number is not valid",
        })
    }
}

/// Errors at the identity port. Messages never contain personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EidError {
    /// The request is not acceptable (before anything was sent).
    #[error("invalid eID request: {0}")]
    InvalidRequest(String),
    /// No provider with this id, or the order belongs to another provider.
    #[error("unknown eID provider `{0}`")]
    UnknownProvider(String),
    /// The provider answered with an error code.
    #[error("the eID provider refused the request: {code}")]
    Provider {
        code: String,
        /// Whether asking again later may succeed.
        retryable: bool,
        message: UserMessage,
    },
    /// The provider reported completion, but the engine does not accept it.
    #[error("eID completion refused: {0}")]
    Refused(Refusal),
    /// The provider could not be reached (network, TLS).
    #[error("the eID provider could not be reached: {0}")]
    Transport(String),
    /// The provider's answer did not follow its protocol.
    #[error("unexpected answer from the eID provider: {0}")]
    Protocol(String),
    /// The provider is misconfigured.
    #[error("eID configuration: {0}")]
    Config(String),
}

/// An identity provider adapter. Object safe: the engine holds `Arc<dyn IdentityProvider>`.
pub trait IdentityProvider: Send + Sync {
    /// A stable id used in configuration and in [`OrderHandle::provider`] (`bankid`, `test`).
    fn id(&self) -> &str;

    /// The assurance level of identities from this provider.
    fn assurance(&self) -> AssuranceLevel;

    /// Starts an order. `now` is recorded as the start time (the QR code counts from it).
    fn start<'a>(
        &'a self,
        request: &'a StartRequest,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<OrderHandle, EidError>>;

    /// Asks for the order's progress. A completion is checked against the handle's request
    /// (expected person, signed data) before it is returned.
    fn collect<'a>(
        &'a self,
        order: &'a OrderHandle,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Progress, EidError>>;

    /// Cancels the order.
    fn cancel<'a>(&'a self, order: &'a OrderHandle) -> BoxFuture<'a, Result<(), EidError>>;

    /// The data for a QR code to show at `now` (animated: changes every second), if this
    /// provider uses QR codes. Safe to send to the browser.
    fn qr_data(&self, _order: &OrderHandle, _now: DateTime<Utc>) -> Option<String> {
        None
    }

    /// A link that starts the eID app on the same device, if the provider has one.
    fn autostart_url(&self, _order: &OrderHandle) -> Option<String> {
        None
    }
}

/// The configured providers, chosen by id or by the assurance level a flow needs.
#[derive(Clone, Default)]
pub struct Providers {
    list: Vec<Arc<dyn IdentityProvider>>,
}

impl Providers {
    pub fn new(list: Vec<Arc<dyn IdentityProvider>>) -> Self {
        Self { list }
    }

    /// The provider with this id.
    pub fn get(&self, id: &str) -> Result<&Arc<dyn IdentityProvider>, EidError> {
        self.list
            .iter()
            .find(|p| p.id() == id)
            .ok_or_else(|| EidError::UnknownProvider(id.to_owned()))
    }

    /// The providers whose identities satisfy `required`, in configuration order.
    pub fn for_level(&self, required: AssuranceLevel) -> Vec<&Arc<dyn IdentityProvider>> {
        self.list
            .iter()
            .filter(|p| p.assurance().satisfies(required))
            .collect()
    }

    /// The provider that started `order`.
    pub fn for_order(&self, order: &OrderHandle) -> Result<&Arc<dyn IdentityProvider>, EidError> {
        self.get(&order.provider)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.list.iter().map(|p| p.id()).collect()
    }
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

/// Checks a completion against what was asked for: the expected person, if any.
pub fn check_expected_person(
    request: &StartRequest,
    identity: &VerifiedIdentity,
) -> Result<(), EidError> {
    match &request.expected_personnummer {
        Some(expected) if *expected != identity.personnummer => {
            Err(EidError::Refused(Refusal::WrongPerson))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn pnr(s: &str) -> Personnummer {
        Personnummer::parse(s).unwrap_or_else(|_| unreachable!())
    }

    fn ip() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
    }

    #[test]
    fn assurance_levels_are_ordered() {
        assert!(AssuranceLevel::High.satisfies(AssuranceLevel::Substantial));
        assert!(AssuranceLevel::Substantial.satisfies(AssuranceLevel::Substantial));
        assert!(!AssuranceLevel::Low.satisfies(AssuranceLevel::Substantial));
        assert!(!AssuranceLevel::Test.satisfies(AssuranceLevel::Low));
    }

    #[test]
    fn document_binding_shows_title_case_and_digest() {
        let b = DocumentBinding::of_bytes("Beslut *LVU* #1", "KS 2026/17", b"%PDF-1.7 test");
        let text = b.visible_text();
        assert!(text.contains("Beslut \\*LVU\\* \\#1"), "{text}");
        assert!(text.contains("KS 2026/17"));
        // sha256("%PDF-1.7 test"), computed independently with `sha256sum`
        assert_eq!(
            b.sha256_hex(),
            "eddc31937fbdaf708e866af0d20b9fb8c79dd001881c8a11e4c617f2882e779f"
        );
        assert!(text.contains(&b.sha256_hex()));
        assert_eq!(b.non_visible_data(), b.sha256.to_vec());
        assert!(!format!("{b:?}").contains("LVU"));
    }

    #[test]
    fn signing_needs_a_visible_text() {
        let mut r = StartRequest::auth(ip());
        assert!(r.validate().is_ok());
        r.kind = OrderKind::Sign;
        assert!(matches!(r.validate(), Err(EidError::InvalidRequest(_))));
        r.visible_text = Some("  ".into());
        assert!(r.validate().is_err());
        let b = DocumentBinding::of_bytes("T", "1", b"x");
        assert!(
            StartRequest::sign_document(ip(), &b, pnr("197701172392"))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn expected_person_is_enforced() {
        let b = DocumentBinding::of_bytes("T", "1", b"x");
        let req = StartRequest::sign_document(ip(), &b, pnr("197701172392"));
        let mut id = VerifiedIdentity {
            personnummer: pnr("189001019802"),
            given_name: "Tolvan".into(),
            surname: "Tolvansson".into(),
            full_name: "Tolvan Tolvansson".into(),
        };
        assert_eq!(
            check_expected_person(&req, &id),
            Err(EidError::Refused(Refusal::WrongPerson))
        );
        id.personnummer = pnr("197701172392");
        assert_eq!(check_expected_person(&req, &id), Ok(()));
        assert_eq!(
            check_expected_person(&StartRequest::auth(ip()), &id),
            Ok(())
        );
    }

    #[test]
    fn debug_output_holds_no_personal_data() {
        let b = DocumentBinding::of_bytes("Secret title", "1", b"x");
        let req = StartRequest::sign_document(ip(), &b, pnr("197701172392"));
        let handle = OrderHandle {
            provider: "bankid".into(),
            order_ref: "o-1".into(),
            started_at: DateTime::<Utc>::default(),
            request: req.clone(),
            private: BTreeMap::from([("qr_start_secret".into(), "s3cr3t".into())]),
        };
        let evidence = Evidence {
            provider: "bankid".into(),
            signature: b"<x>197701172392</x>".to_vec(),
            ocsp_response: vec![1, 2],
            device_ip: Some("192.0.2.7".into()),
            completed_at: DateTime::<Utc>::default(),
            attributes: BTreeMap::new(),
        };
        let id = VerifiedIdentity {
            personnummer: pnr("197701172392"),
            given_name: "Tolvan".into(),
            surname: "Tolvansson".into(),
            full_name: "Tolvan Tolvansson".into(),
        };
        let all = format!("{req:?} {handle:?} {evidence:?} {id:?}");
        for secret in [
            "197701172392",
            "Tolvan",
            "192.0.2.7",
            "s3cr3t",
            "Secret title",
        ] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
    }

    struct Fake(&'static str, AssuranceLevel);
    impl IdentityProvider for Fake {
        fn id(&self) -> &str {
            self.0
        }
        fn assurance(&self) -> AssuranceLevel {
            self.1
        }
        fn start<'a>(
            &'a self,
            _: &'a StartRequest,
            _: DateTime<Utc>,
        ) -> BoxFuture<'a, Result<OrderHandle, EidError>> {
            Box::pin(async { Err(EidError::Config("fake".into())) })
        }
        fn collect<'a>(
            &'a self,
            _: &'a OrderHandle,
            _: DateTime<Utc>,
        ) -> BoxFuture<'a, Result<Progress, EidError>> {
            Box::pin(async { Err(EidError::Config("fake".into())) })
        }
        fn cancel<'a>(&'a self, _: &'a OrderHandle) -> BoxFuture<'a, Result<(), EidError>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[test]
    fn providers_are_chosen_by_id_or_level() {
        let ps = Providers::new(vec![
            Arc::new(Fake("test", AssuranceLevel::Test)),
            Arc::new(Fake("bankid", AssuranceLevel::Substantial)),
        ]);
        assert_eq!(ps.get("bankid").map(|p| p.id()), Ok("bankid"));
        assert!(matches!(
            ps.get("freja"),
            Err(EidError::UnknownProvider(id)) if id == "freja"
        ));
        let ids: Vec<&str> = ps
            .for_level(AssuranceLevel::Substantial)
            .iter()
            .map(|p| p.id())
            .collect();
        assert_eq!(ids, vec!["bankid"]);
        assert_eq!(ps.for_level(AssuranceLevel::Test).len(), 2);
    }
}
