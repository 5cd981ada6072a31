//! The wire format of BankID's relying-party API v6.0: every request field, the responses,
//! hint codes and error codes. Field names follow the API (camelCase JSON).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `requirement`: conditions the user's BankID must meet.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    /// `class1` (any card reader) or `class2` (reader with its own PIN pad).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_reader: Option<CardReader>,
    /// Certificate policy OIDs the user's certificate must have.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub certificate_policies: Vec<String>,
    /// Require an ID document check (machine-readable travel document).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mrtd: Option<bool>,
    /// Only this person may complete the order (12 digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_number: Option<String>,
    /// Require the security code (PIN), not biometrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_code: Option<bool>,
}

impl Requirement {
    pub fn is_empty(&self) -> bool {
        *self == Requirement::default()
    }
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requirement")
            .field("card_reader", &self.card_reader)
            .field("certificate_policies", &self.certificate_policies)
            .field("mrtd", &self.mrtd)
            .field(
                "personal_number",
                &self.personal_number.as_ref().map(|_| "<redacted>"),
            )
            .field("pin_code", &self.pin_code)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CardReader {
    Class1,
    Class2,
}

/// `web`: facts about the user's browser session, for BankID's risk assessment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referring_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// `app`: facts about the RP's own app, when the order starts from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "deviceOS")]
    pub device_os: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_model_name: Option<String>,
}

/// The only visible-data format BankID defines besides plain text.
pub const SIMPLE_MARKDOWN_V1: &str = "simpleMarkdownV1";

/// Body of `POST /auth` and `POST /sign`. For `sign`, `user_visible_data` is required.
/// The visible and non-visible data are base64 on the wire; [`crate::bankid::b64`] encodes.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRequest {
    pub end_user_ip: String,
    #[serde(skip_serializing_if = "Requirement::is_empty", default)]
    pub requirement: Requirement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_visible_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_non_visible_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_visible_data_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_risk: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppInfo>,
}

impl fmt::Debug for OrderRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderRequest")
            .field("end_user_ip", &"<redacted>")
            .field("requirement", &self.requirement)
            .field("user_visible_data", &self.user_visible_data.is_some())
            .field(
                "user_non_visible_data",
                &self.user_non_visible_data.is_some(),
            )
            .field("user_visible_data_format", &self.user_visible_data_format)
            .field("return_url", &self.return_url.is_some())
            .field("return_risk", &self.return_risk)
            .finish_non_exhaustive()
    }
}

/// Who called whom in a phone order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallInitiator {
    #[serde(rename = "user")]
    User,
    #[serde(rename = "RP")]
    Rp,
}

/// Body of `POST /phone/auth` and `POST /phone/sign` (the user is on the phone with the RP).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneOrderRequest {
    pub personal_number: String,
    pub call_initiator: CallInitiator,
    #[serde(skip_serializing_if = "Requirement::is_empty", default)]
    pub requirement: Requirement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_visible_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_non_visible_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_visible_data_format: Option<String>,
}

impl fmt::Debug for PhoneOrderRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneOrderRequest")
            .field("personal_number", &"<redacted>")
            .field("call_initiator", &self.call_initiator)
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

/// Answer to `auth` and `sign`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderResponse {
    pub order_ref: String,
    pub auto_start_token: String,
    pub qr_start_token: String,
    pub qr_start_secret: String,
}

impl fmt::Debug for OrderResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderResponse")
            .field("order_ref", &self.order_ref)
            .field("qr_start_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Answer to `phone/auth` and `phone/sign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneOrderResponse {
    pub order_ref: String,
}

/// Body of `collect` and `cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRefRequest {
    pub order_ref: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Pending,
    Failed,
    Complete,
}

/// Answer to `collect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectResponse {
    pub order_ref: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint_code: Option<HintCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_data: Option<CompletionData>,
}

/// `completionData`, present when `status` is `complete`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionData {
    pub user: User,
    pub device: Device,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_up: Option<StepUp>,
    /// `YYYY-MM-DD` (with a `Z` suffix in some versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_id_issue_date: Option<String>,
    /// The XML signature document, base64.
    pub signature: String,
    /// The OCSP response, base64 DER.
    pub ocsp_response: String,
    /// `low`, `moderate` or `high`, when `returnRisk` was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<String>,
}

impl fmt::Debug for CompletionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompletionData(<redacted>)")
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub personal_number: String,
    pub name: String,
    pub given_name: String,
    pub surname: String,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("User(<redacted>)")
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub ip_address: String,
    /// Unique hardware identifier of the user's device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uhi: Option<String>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Device(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepUp {
    pub mrtd: bool,
}

/// Answer of a failed request (HTTP 4xx/5xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub error_code: ErrorCode,
    #[serde(default)]
    pub details: String,
}

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant,)*
            /// A code this client does not know (BankID may add codes): kept as sent.
            Unknown(String),
        }

        impl $name {
            /// Every known code.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Unknown(s) => s,
                }
            }

            pub fn parse(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)*
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

code_enum!(
    /// `hintCode` in a collect answer: pending and failed states.
    HintCode {
        // pending
        /// The order is being processed; the app has not yet received it.
        OutstandingTransaction = "outstandingTransaction",
        /// The app has not yet received the order (no client started).
        NoClient = "noClient",
        /// The app has started and is searching for a usable BankID.
        Started = "started",
        /// The user is asked to scan an ID document (mrtd requirement).
        UserMrtd = "userMrtd",
        /// The user is asked to confirm a phone call (phone orders).
        UserCallConfirm = "userCallConfirm",
        /// The app has received the order and the user is asked to identify or sign.
        UserSign = "userSign",
        // failed
        /// The order expired (after three minutes, or thirty seconds for a QR code).
        ExpiredTransaction = "expiredTransaction",
        /// The user's BankID is blocked, too old or does not meet the requirements.
        CertificateErr = "certificateErr",
        /// The user cancelled in the app.
        UserCancel = "userCancel",
        /// The order was cancelled (a new order for the user was started).
        Cancelled = "cancelled",
        /// The app could not be started, or no app scanned the QR code in time.
        StartFailed = "startFailed",
        /// The user declined the phone call.
        UserDeclinedCall = "userDeclinedCall",
        /// The user's app is too old for what was asked.
        NotSupportedByUserApp = "notSupportedByUserApp",
        /// BankID's risk assessment blocked the order.
        TransactionRiskBlocked = "transactionRiskBlocked",
    }
);

code_enum!(
    /// `errorCode` of a failed request.
    ErrorCode {
        /// An order for this user is already in progress; both are cancelled.
        AlreadyInProgress = "alreadyInProgress",
        /// A parameter is invalid; `details` says which.
        InvalidParameters = "invalidParameters",
        /// The RP certificate has no access to the service.
        Unauthorized = "unauthorized",
        /// Wrong URL path, or an unknown order.
        NotFound = "notFound",
        /// Only POST is allowed.
        MethodNotAllowed = "methodNotAllowed",
        /// The request took too long to transmit.
        RequestTimeout = "requestTimeout",
        /// The content type is not `application/json`.
        UnsupportedMediaType = "unsupportedMediaType",
        /// Internal error in BankID.
        InternalError = "internalError",
        /// BankID is temporarily unavailable.
        Maintenance = "maintenance",
    }
);

impl HintCode {
    /// The hint codes BankID documents for pending orders.
    pub fn is_pending_hint(&self) -> bool {
        matches!(
            self,
            HintCode::OutstandingTransaction
                | HintCode::NoClient
                | HintCode::Started
                | HintCode::UserMrtd
                | HintCode::UserCallConfirm
                | HintCode::UserSign
        )
    }
}

/// The endpoints, relative to the base URL (`…/rp/v6.0/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Auth,
    Sign,
    PhoneAuth,
    PhoneSign,
    Collect,
    Cancel,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Auth => "auth",
            Endpoint::Sign => "sign",
            Endpoint::PhoneAuth => "phone/auth",
            Endpoint::PhoneSign => "phone/sign",
            Endpoint::Collect => "collect",
            Endpoint::Cancel => "cancel",
        }
    }

    /// Whether sending the same request twice cannot start a second order.
    pub fn is_idempotent(self) -> bool {
        matches!(self, Endpoint::Collect | Endpoint::Cancel)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_fields_use_the_api_names_and_skip_absent_ones() {
        let req = OrderRequest {
            end_user_ip: "192.0.2.1".into(),
            requirement: Requirement {
                card_reader: Some(CardReader::Class2),
                certificate_policies: vec!["1.2.752.78.1.5".into()],
                mrtd: Some(false),
                personal_number: Some("197701172392".into()),
                pin_code: Some(true),
            },
            user_visible_data: Some("dGV4dA==".into()),
            user_non_visible_data: Some("AAE=".into()),
            user_visible_data_format: Some(SIMPLE_MARKDOWN_V1.into()),
            return_url: Some("https://e.example/x".into()),
            return_risk: Some(true),
            web: Some(WebInfo {
                device_identifier: Some("d".into()),
                referring_domain: Some("e.example".into()),
                user_agent: Some("ua".into()),
            }),
            app: Some(AppInfo {
                app_identifier: Some("se.example".into()),
                device_os: Some("iOS 19".into()),
                device_identifier: Some("d".into()),
                device_model_name: Some("m".into()),
            }),
        };
        let v = serde_json::to_value(&req).unwrap();
        for key in [
            "endUserIp",
            "requirement",
            "userVisibleData",
            "userNonVisibleData",
            "userVisibleDataFormat",
            "returnUrl",
            "returnRisk",
            "web",
            "app",
        ] {
            assert!(v.get(key).is_some(), "{key} in {v}");
        }
        assert_eq!(v["requirement"]["cardReader"], "class2");
        assert_eq!(v["requirement"]["personalNumber"], "197701172392");
        assert_eq!(v["requirement"]["pinCode"], true);
        assert_eq!(v["app"]["deviceOS"], "iOS 19");
        assert_eq!(v["web"]["referringDomain"], "e.example");

        let minimal = serde_json::to_value(OrderRequest {
            end_user_ip: "192.0.2.1".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(minimal, serde_json::json!({"endUserIp": "192.0.2.1"}));

        let phone = PhoneOrderRequest {
            personal_number: "197701172392".into(),
            call_initiator: CallInitiator::Rp,
            requirement: Requirement::default(),
            user_visible_data: None,
            user_non_visible_data: None,
            user_visible_data_format: None,
        };
        assert_eq!(
            serde_json::to_value(&phone).unwrap(),
            serde_json::json!({"personalNumber": "197701172392", "callInitiator": "RP"})
        );
        assert!(!format!("{req:?}{phone:?}").contains("197701172392"));
    }

    #[test]
    fn unknown_codes_are_kept_not_refused() {
        let r: CollectResponse = serde_json::from_str(
            r#"{"orderRef":"a","status":"pending","hintCode":"somethingNew"}"#,
        )
        .unwrap();
        assert_eq!(r.hint_code, Some(HintCode::Unknown("somethingNew".into())));
        let e: ErrorResponse =
            serde_json::from_str(r#"{"errorCode":"maintenance","details":"x"}"#).unwrap();
        assert_eq!(e.error_code, ErrorCode::Maintenance);
        for code in HintCode::ALL {
            assert_eq!(&HintCode::parse(code.as_str()), code);
        }
        for code in ErrorCode::ALL {
            assert_eq!(&ErrorCode::parse(code.as_str()), code);
        }
    }
}
