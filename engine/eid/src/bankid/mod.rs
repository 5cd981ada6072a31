//! BankID relying-party API v6.0 over HTTPS with mutual TLS.
//!
//! * [`BankIdClient`] speaks the API: `auth`, `sign`, `phone/auth`, `phone/sign`, `collect`,
//!   `cancel`, with a bounded retry for errors where asking again is safe;
//! * [`BankIdProvider`] implements the engine's [`IdentityProvider`] port on top of it: it
//!   binds signing orders to the document, and refuses a completion by another person or with
//!   signed data that differs from what was sent;
//! * [`qr`] animated QR data and the autostart link, [`messages`] the RFA user messages,
//!   [`binding`] the signature XML check, [`tls`] the client certificate and pinned CA.

pub mod api;
pub mod binding;
pub mod messages;
pub mod qr;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blankett_core::eid::{
    AssuranceLevel, BoxFuture, Completion, EidError, Evidence, FailureReason, IdentityProvider,
    OrderHandle, OrderKind, Progress, Refusal, StartRequest, VerifiedIdentity,
    check_expected_person,
};
use blankett_core::ids::Personnummer;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Sleeper, TokioSleeper};
use api::{
    CollectResponse, Endpoint, ErrorCode, ErrorResponse, HintCode, OrderRefRequest, OrderRequest,
    OrderResponse, PhoneOrderRequest, PhoneOrderResponse, Requirement, SIMPLE_MARKDOWN_V1, Status,
};
pub use tls::ClientIdentity;

/// BankID's test environment.
pub const TEST_URL: &str = "https://appapi2.test.bankid.com/rp/v6.0/";
/// BankID's production environment.
pub const PRODUCTION_URL: &str = "https://appapi2.bankid.com/rp/v6.0/";

/// How often to collect, as BankID recommends.
pub const COLLECT_INTERVAL: Duration = Duration::from_secs(2);

/// Errors of the BankID client. Messages carry codes, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankIdError {
    /// BankID answered with an error code. `details` is BankID's free text.
    #[error("BankID answered `{code}` (HTTP {status})")]
    Api {
        code: ErrorCode,
        status: u16,
        details: String,
    },
    #[error("BankID could not be reached: {0}")]
    Transport(String),
    #[error("unexpected answer from BankID: {0}")]
    Protocol(String),
    #[error("BankID configuration: {0}")]
    Config(String),
    #[error("BankID completion refused: {0}")]
    Refused(Refusal),
}

impl From<BankIdError> for EidError {
    fn from(e: BankIdError) -> Self {
        match e {
            BankIdError::Api { code, .. } => EidError::Provider {
                retryable: matches!(
                    code,
                    ErrorCode::Maintenance | ErrorCode::InternalError | ErrorCode::RequestTimeout
                ),
                message: messages::for_error(&code).message(),
                code: code.as_str().to_owned(),
            },
            BankIdError::Transport(m) => EidError::Transport(m),
            BankIdError::Protocol(m) => EidError::Protocol(m),
            BankIdError::Config(m) => EidError::Config(m),
            BankIdError::Refused(r) => EidError::Refused(r),
        }
    }
}

/// How often a request is sent again when BankID answers with a retryable error.
///
/// `maintenance` ("the service is temporarily unavailable") is retried on every endpoint.
/// `internalError`, `requestTimeout` and transport errors are retried only on `collect` and
/// `cancel`, which cannot start a second order; BankID asks RPs not to send a start request
/// again automatically after those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, at least 1.
    pub max_attempts: u32,
    /// Pause between attempts.
    pub delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// Whether this failure on this endpoint may be retried.
    pub fn retryable(endpoint: Endpoint, error: &BankIdError) -> bool {
        match error {
            BankIdError::Api {
                code: ErrorCode::Maintenance,
                ..
            } => true,
            BankIdError::Api {
                code: ErrorCode::InternalError | ErrorCode::RequestTimeout,
                ..
            }
            | BankIdError::Transport(_) => endpoint.is_idempotent(),
            _ => false,
        }
    }
}

/// Everything the client needs.
#[derive(Debug, Clone)]
pub struct BankIdConfig {
    /// The API base, e.g. [`TEST_URL`] or [`PRODUCTION_URL`].
    pub base_url: String,
    /// The CA that issued BankID's server certificate (PEM). The only trusted root.
    pub server_ca_pem: Vec<u8>,
    /// The RP certificate.
    pub client: ClientIdentity,
    /// Timeout of one request.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

/// A client of the BankID RP API v6.0.
#[derive(Clone)]
pub struct BankIdClient {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
}

impl std::fmt::Debug for BankIdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BankIdClient")
            .field("base", &self.base)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl BankIdClient {
    /// Builds the client: HTTPS only, the configured CA only, the RP certificate presented.
    pub fn new(config: &BankIdConfig) -> Result<Self, BankIdError> {
        let mut base = config.base_url.trim().to_owned();
        if !base.starts_with("https://") {
            return Err(BankIdError::Config(
                "the BankID URL must start with https://".into(),
            ));
        }
        if !base.ends_with('/') {
            base.push('/');
        }
        let tls = tls::client_config(&config.server_ca_pem, &config.client)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .no_proxy()
            .build()
            .map_err(|e| BankIdError::Config(error_chain(&e)))?;
        Ok(Self {
            http,
            base,
            retry: RetryPolicy {
                max_attempts: config.retry.max_attempts.max(1),
                ..config.retry
            },
            sleeper: Arc::new(TokioSleeper),
        })
    }

    /// Replaces how the client waits between retries (tests pass one that does not wait).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// `POST /auth`.
    pub async fn auth(&self, request: &OrderRequest) -> Result<OrderResponse, BankIdError> {
        self.call(Endpoint::Auth, request).await
    }

    /// `POST /sign`; `user_visible_data` is required.
    pub async fn sign(&self, request: &OrderRequest) -> Result<OrderResponse, BankIdError> {
        if request.user_visible_data.is_none() {
            return Err(BankIdError::Config("sign needs userVisibleData".into()));
        }
        self.call(Endpoint::Sign, request).await
    }

    /// `POST /phone/auth`.
    pub async fn phone_auth(
        &self,
        request: &PhoneOrderRequest,
    ) -> Result<PhoneOrderResponse, BankIdError> {
        self.call(Endpoint::PhoneAuth, request).await
    }

    /// `POST /phone/sign`; `user_visible_data` is required.
    pub async fn phone_sign(
        &self,
        request: &PhoneOrderRequest,
    ) -> Result<PhoneOrderResponse, BankIdError> {
        if request.user_visible_data.is_none() {
            return Err(BankIdError::Config(
                "phone/sign needs userVisibleData".into(),
            ));
        }
        self.call(Endpoint::PhoneSign, request).await
    }

    /// `POST /collect`.
    pub async fn collect(&self, order_ref: &str) -> Result<CollectResponse, BankIdError> {
        let r: CollectResponse = self
            .call(
                Endpoint::Collect,
                &OrderRefRequest {
                    order_ref: order_ref.to_owned(),
                },
            )
            .await?;
        if r.order_ref != order_ref {
            return Err(BankIdError::Protocol(
                "collect answered for another order".into(),
            ));
        }
        Ok(r)
    }

    /// `POST /cancel`.
    pub async fn cancel(&self, order_ref: &str) -> Result<(), BankIdError> {
        let _: serde::de::IgnoredAny = self
            .call(
                Endpoint::Cancel,
                &OrderRefRequest {
                    order_ref: order_ref.to_owned(),
                },
            )
            .await?;
        Ok(())
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        body: &B,
    ) -> Result<R, BankIdError> {
        let mut attempt = 1;
        loop {
            match self.call_once(endpoint, body).await {
                Err(e)
                    if attempt < self.retry.max_attempts
                        && RetryPolicy::retryable(endpoint, &e) =>
                {
                    tracing::warn!(
                        endpoint = endpoint.path(),
                        attempt,
                        error = %e,
                        "BankID request failed; retrying"
                    );
                    self.sleeper.sleep(self.retry.delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once<B: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        body: &B,
    ) -> Result<R, BankIdError> {
        let url = format!("{}{}", self.base, endpoint.path());
        let response = self
            .http
            .post(&url)
            .json(body)
            .send()
            .await
            .map_err(|e| BankIdError::Transport(error_chain(&e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| BankIdError::Transport(error_chain(&e)))?;
        if status.is_success() {
            serde_json::from_slice(&bytes)
                .map_err(|e| BankIdError::Protocol(format!("{}: {e}", endpoint.path())))
        } else {
            match serde_json::from_slice::<ErrorResponse>(&bytes) {
                Ok(err) => Err(BankIdError::Api {
                    code: err.error_code,
                    status: status.as_u16(),
                    details: err.details,
                }),
                Err(_) => Err(BankIdError::Protocol(format!(
                    "{}: HTTP {status} without an error code",
                    endpoint.path()
                ))),
            }
        }
    }
}

/// Keys of [`OrderHandle::private`] used by this provider.
pub mod keys {
    pub const AUTO_START_TOKEN: &str = "bankid.autoStartToken";
    pub const QR_START_TOKEN: &str = "bankid.qrStartToken";
    pub const QR_START_SECRET: &str = "bankid.qrStartSecret";
    /// `autostart`, `qr` or `phone`: how the user reaches the app (chooses the messages).
    /// The web sets it when the user picks "this device" or "another device".
    pub const START_METHOD: &str = "bankid.startMethod";
}

/// BankID as an [`IdentityProvider`].
#[derive(Debug, Clone)]
pub struct BankIdProvider {
    client: BankIdClient,
    /// Extra requirement fields for every order (certificate policies, PIN, …).
    pub requirement: Requirement,
    /// Ask BankID for its risk assessment.
    pub return_risk: bool,
}

impl BankIdProvider {
    pub const ID: &'static str = "bankid";

    pub fn new(client: BankIdClient) -> Self {
        Self {
            client,
            requirement: Requirement::default(),
            return_risk: false,
        }
    }

    pub fn client(&self) -> &BankIdClient {
        &self.client
    }

    /// The API request for a port request.
    pub fn order_request(&self, request: &StartRequest) -> OrderRequest {
        let mut requirement = self.requirement.clone();
        requirement.personal_number = request
            .expected_personnummer
            .as_ref()
            .map(|p| p.as_str().to_owned());
        OrderRequest {
            end_user_ip: request.end_user_ip.to_string(),
            requirement,
            user_visible_data: request.visible_text.as_ref().map(|t| STANDARD.encode(t)),
            user_non_visible_data: request
                .non_visible_data
                .as_ref()
                .map(|d| STANDARD.encode(d)),
            user_visible_data_format: request
                .visible_text
                .as_ref()
                .map(|_| SIMPLE_MARKDOWN_V1.to_owned()),
            return_url: request.return_url.clone(),
            return_risk: self.return_risk.then_some(true),
            web: None,
            app: None,
        }
    }

    async fn start_order(
        &self,
        request: &StartRequest,
        now: DateTime<Utc>,
    ) -> Result<OrderHandle, EidError> {
        request.validate()?;
        let body = self.order_request(request);
        let response = match request.kind {
            OrderKind::Auth => self.client.auth(&body).await?,
            OrderKind::Sign => self.client.sign(&body).await?,
        };
        tracing::info!(order_ref = %response.order_ref, kind = ?request.kind, "BankID order started");
        Ok(OrderHandle {
            provider: Self::ID.to_owned(),
            order_ref: response.order_ref,
            started_at: now,
            request: request.clone(),
            private: BTreeMap::from([
                (keys::AUTO_START_TOKEN.to_owned(), response.auto_start_token),
                (keys::QR_START_TOKEN.to_owned(), response.qr_start_token),
                (keys::QR_START_SECRET.to_owned(), response.qr_start_secret),
            ]),
        })
    }

    async fn collect_order(
        &self,
        order: &OrderHandle,
        now: DateTime<Utc>,
    ) -> Result<Progress, EidError> {
        if order.provider != Self::ID {
            return Err(EidError::UnknownProvider(order.provider.clone()));
        }
        let method = match order.private.get(keys::START_METHOD).map(String::as_str) {
            Some("autostart") => messages::StartMethod::AutoStart,
            Some("phone") => messages::StartMethod::Phone,
            _ => messages::StartMethod::QrCode,
        };
        let response = self.client.collect(&order.order_ref).await?;
        let progress = to_progress(order, response, method, now);
        match &progress {
            Ok(Progress::Pending { hint, .. }) => {
                tracing::debug!(order_ref = %order.order_ref, hint = %hint, "BankID order pending");
            }
            Ok(Progress::Failed { code, .. }) => {
                tracing::info!(order_ref = %order.order_ref, code = %code, "BankID order failed");
            }
            Ok(Progress::Complete(_)) => {
                tracing::info!(order_ref = %order.order_ref, "BankID order complete");
            }
            Err(e) => {
                tracing::warn!(order_ref = %order.order_ref, error = %e, "BankID completion refused");
            }
        }
        progress
    }
}

fn failure_reason(hint: &HintCode) -> FailureReason {
    match hint {
        HintCode::ExpiredTransaction => FailureReason::Expired,
        HintCode::UserCancel => FailureReason::UserCancelled,
        HintCode::Cancelled => FailureReason::Cancelled,
        HintCode::StartFailed => FailureReason::StartFailed,
        HintCode::CertificateErr | HintCode::NotSupportedByUserApp => {
            FailureReason::CertificateError
        }
        HintCode::UserDeclinedCall => FailureReason::Declined,
        _ => FailureReason::Other,
    }
}

/// Turns a collect answer into the port's [`Progress`], checking a completion against the
/// order: the expected person and the signed data.
pub fn to_progress(
    order: &OrderHandle,
    response: CollectResponse,
    method: messages::StartMethod,
    now: DateTime<Utc>,
) -> Result<Progress, EidError> {
    match response.status {
        Status::Pending => {
            let hint = response
                .hint_code
                .unwrap_or(HintCode::OutstandingTransaction);
            Ok(Progress::Pending {
                message: messages::for_hint(&hint, method).message(),
                hint: hint.as_str().to_owned(),
            })
        }
        Status::Failed => {
            let hint = response
                .hint_code
                .unwrap_or_else(|| HintCode::Unknown(String::new()));
            let message = match &hint {
                HintCode::Unknown(_) => messages::for_unknown_failure(),
                known => messages::for_hint(known, method),
            }
            .message();
            Ok(Progress::Failed {
                reason: failure_reason(&hint),
                code: hint.as_str().to_owned(),
                message,
            })
        }
        Status::Complete => {
            let data = response
                .completion_data
                .ok_or(EidError::Refused(Refusal::IncompleteEvidence))?;
            let personnummer = Personnummer::parse(&data.user.personal_number)
                .map_err(|_| EidError::Refused(Refusal::InvalidIdentity))?;
            let identity = VerifiedIdentity {
                personnummer,
                given_name: data.user.given_name,
                surname: data.user.surname,
                full_name: data.user.name,
            };
            check_expected_person(&order.request, &identity)?;
            let signature = STANDARD
                .decode(&data.signature)
                .map_err(|_| EidError::Refused(Refusal::IncompleteEvidence))?;
            if signature.is_empty() {
                return Err(EidError::Refused(Refusal::IncompleteEvidence));
            }
            binding::check(
                &signature,
                order.request.visible_text.as_deref().map(str::as_bytes),
                order.request.non_visible_data.as_deref(),
            )
            .map_err(|e| match e {
                binding::BindingError::VisibleMismatch
                | binding::BindingError::NonVisibleMismatch
                | binding::BindingError::Duplicate(_)
                | binding::BindingError::SignedDataCount(_) => {
                    EidError::Refused(Refusal::BindingMismatch)
                }
                binding::BindingError::Xml(_) | binding::BindingError::Base64(_) => {
                    EidError::Refused(Refusal::IncompleteEvidence)
                }
            })?;
            let ocsp_response = STANDARD
                .decode(&data.ocsp_response)
                .map_err(|_| EidError::Refused(Refusal::IncompleteEvidence))?;
            let mut attributes = BTreeMap::new();
            if let Some(d) = data.bank_id_issue_date {
                attributes.insert("bankIdIssueDate".to_owned(), d);
            }
            if let Some(r) = data.risk {
                attributes.insert("risk".to_owned(), r);
            }
            if let Some(u) = data.device.uhi {
                attributes.insert("uhi".to_owned(), u);
            }
            if let Some(s) = data.step_up {
                attributes.insert("stepUp.mrtd".to_owned(), s.mrtd.to_string());
            }
            Ok(Progress::Complete(Box::new(Completion {
                kind: order.request.kind,
                identity,
                evidence: Evidence {
                    provider: BankIdProvider::ID.to_owned(),
                    signature,
                    ocsp_response,
                    device_ip: Some(data.device.ip_address),
                    completed_at: now,
                    attributes,
                },
                assurance: AssuranceLevel::Substantial,
            })))
        }
    }
}

impl IdentityProvider for BankIdProvider {
    fn id(&self) -> &str {
        Self::ID
    }

    fn assurance(&self) -> AssuranceLevel {
        AssuranceLevel::Substantial
    }

    fn start<'a>(
        &'a self,
        request: &'a StartRequest,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<OrderHandle, EidError>> {
        Box::pin(self.start_order(request, now))
    }

    fn collect<'a>(
        &'a self,
        order: &'a OrderHandle,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Progress, EidError>> {
        Box::pin(self.collect_order(order, now))
    }

    fn cancel<'a>(&'a self, order: &'a OrderHandle) -> BoxFuture<'a, Result<(), EidError>> {
        Box::pin(async move {
            self.client.cancel(&order.order_ref).await?;
            tracing::info!(order_ref = %order.order_ref, "BankID order cancelled");
            Ok(())
        })
    }

    fn qr_data(&self, order: &OrderHandle, now: DateTime<Utc>) -> Option<String> {
        let token = order.private.get(keys::QR_START_TOKEN)?;
        let secret = order.private.get(keys::QR_START_SECRET)?;
        Some(qr::qr_data(
            token,
            secret,
            qr::seconds_since(order.started_at, now),
        ))
    }

    fn autostart_url(&self, order: &OrderHandle) -> Option<String> {
        order
            .private
            .get(keys::AUTO_START_TOKEN)
            .map(|t| qr::autostart_url(t))
    }
}
