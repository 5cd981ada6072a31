//! The one HTTP error type. It never shows internal text: the page says what happened in
//! plain words and gives the request id; the cause goes to the log once, with that id.
//!
//! The response body is the REST API's JSON error (`{"error": {"code", "message"}}`, see
//! [`ErrorBody`]); for pages the session layer replaces it with an HTML page in the
//! visitor's language.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blankett_core::case::CaseError;
use blankett_core::rules::FieldError;
use blankett_core::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// The form's CSRF token is missing or wrong.
    #[error("invalid form token")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("too many requests")]
    TooManyRequests,
    /// The request body is larger than `limits.body_bytes`.
    #[error("request body too large")]
    TooLarge,
    /// The request body did not arrive within `server.body_read_timeout_secs`.
    #[error("request body timed out")]
    Timeout,
    /// A service the request needs (an eID provider) cannot be reached or refuses for now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An eID order could not be started: the page says what happened in the provider's own
    /// words (BankID's RFA texts) and offers to try again at `retry`.
    #[error("eID: {cause}")]
    Eid {
        status: StatusCode,
        sv: String,
        en: String,
        retry: String,
        cause: String,
    },
    /// Logged in required; redirect to the login page.
    #[error("login required")]
    Login { next: String },
    /// The API: no valid key (`Authorization: Bearer …`).
    #[error("unauthorized")]
    Unauthorized,
    /// The case changed since it was read, or its status does not allow this.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The API: answers (or other input) that the flow's rules refuse.
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// The API: a body that is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("internal: {0}")]
    Internal(String),
}

/// Attached to an error response; the page layer renders the HTML and logs the cause.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub cause: Option<String>,
    /// What to say instead of the status's general text: (Swedish, English).
    pub message: Option<(String, String)>,
    /// Where "Försök igen" leads, when trying again can help.
    pub retry: Option<String>,
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> AppError {
        AppError::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Timeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Eid { status, .. } => *status,
            AppError::Login { .. } => StatusCode::SEE_OTHER,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code and the plain message of the JSON error body. Never internal text,
    /// never input.
    fn code_and_message(&self) -> (&'static str, &'static str) {
        match self {
            AppError::NotFound => ("not_found", "Not found, or not visible to this key."),
            AppError::Forbidden => ("forbidden", "Not allowed."),
            AppError::Csrf => ("forbidden", "The form token is missing or wrong."),
            AppError::BadRequest(m) => ("bad_request", m),
            AppError::TooManyRequests => ("too_many_requests", "Too many requests."),
            AppError::TooLarge => ("payload_too_large", "The request body is too large."),
            AppError::Timeout => (
                "request_timeout",
                "The request body did not arrive in time.",
            ),
            AppError::Unavailable(_) | AppError::Eid { .. } => (
                "unavailable",
                "A service this request needs is not available; try again later.",
            ),
            AppError::Login { .. } => ("login_required", "Log in first."),
            AppError::Unauthorized => (
                "unauthorized",
                "A valid API key is required: Authorization: Bearer <key>.",
            ),
            AppError::Conflict(m) => ("conflict", m),
            AppError::Invalid(_) => ("invalid", "The input is not valid; see fields."),
            AppError::UnsupportedMediaType => (
                "unsupported_media_type",
                "The body must be JSON (Content-Type: application/json).",
            ),
            AppError::Internal(_) => (
                "internal",
                "An internal error occurred; the X-Request-Id header identifies it in the log.",
            ),
        }
    }
}

/// The JSON error body of every error response of the REST API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `request_timeout`,
    /// `unsupported_media_type`, `invalid`, `unavailable`, `internal`.
    pub code: String,
    /// What went wrong, in English, for a developer.
    pub message: String,
    /// With `invalid` (422): one entry per refused field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldErrorView>>,
}

/// One refused field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldErrorView {
    /// Dotted path: `counterparty.signatories.0.personnummer`, `applicant.name`, `hand_to`.
    pub path: String,
    /// A stable code: `required`, `type`, `personnummer`, `choice`, `unknown_step`, …
    pub code: String,
    /// In Swedish.
    pub message_sv: String,
    /// In English.
    pub message_en: String,
}

impl From<&FieldError> for FieldErrorView {
    fn from(e: &FieldError) -> Self {
        FieldErrorView {
            path: e.path.clone(),
            code: e.code.to_owned(),
            message_sv: e.message.sv.clone(),
            message_en: e.message.en.clone(),
        }
    }
}

impl AppError {
    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        let (code, message) = self.code_and_message();
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.to_owned(),
                fields: match self {
                    AppError::Invalid(errors) => Some(errors.iter().map(Into::into).collect()),
                    _ => None,
                },
            },
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<blankett_app::service::ServiceError> for AppError {
    fn from(e: blankett_app::service::ServiceError) -> Self {
        use blankett_app::service::ServiceError;
        match e {
            ServiceError::NotFound => AppError::NotFound,
            ServiceError::Internal(m) => AppError::Internal(m.to_owned()),
            ServiceError::Store(e) => e.into(),
        }
    }
}

impl From<blankett_app::commands::CommandError> for AppError {
    fn from(e: blankett_app::commands::CommandError) -> Self {
        use blankett_app::commands::CommandError;
        match e {
            CommandError::Refused(e) => e.into(),
            CommandError::Stale => AppError::Conflict("the case was changed by someone else"),
            CommandError::Store(e) => e.into(),
        }
    }
}

impl From<CaseError> for AppError {
    fn from(e: CaseError) -> Self {
        match e {
            CaseError::Forbidden(_) => AppError::Forbidden,
            CaseError::UnknownStep(_) => AppError::NotFound,
            other => AppError::Internal(format!("unhandled case error: {other}")),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Login { next } = &self {
            let location = format!("/login?next={}", super::urlencode(next));
            return super::redirect(&location);
        }
        let status = self.status();
        let cause = match &self {
            AppError::Internal(c) | AppError::Unavailable(c) => Some(c.clone()),
            AppError::Eid { cause, .. } => Some(cause.clone()),
            _ => None,
        };
        let (message, retry) = match &self {
            AppError::Eid { sv, en, retry, .. } => {
                (Some((sv.clone(), en.clone())), Some(retry.clone()))
            }
            _ => (None, None),
        };
        let mut resp = (status, axum::Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp.extensions_mut().insert(ErrorPage {
            status,
            cause,
            message,
            retry,
        });
        resp
    }
}
