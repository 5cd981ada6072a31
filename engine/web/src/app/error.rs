//! The one HTTP error type. It never shows internal text: the page says what happened in
//! plain words and gives the request id; the cause goes to the log once, with that id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use blankett_core::case::CaseError;
use blankett_core::store::StoreError;

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
    /// Logged in required; redirect to the login page.
    #[error("login required")]
    Login { next: String },
    #[error("internal: {0}")]
    Internal(String),
}

/// Attached to an error response; the page layer renders the HTML and logs the cause.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub cause: Option<String>,
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
            AppError::Login { .. } => StatusCode::SEE_OTHER,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
            AppError::Internal(c) => Some(c.clone()),
            _ => None,
        };
        let mut resp = (status, status.canonical_reason().unwrap_or("error")).into_response();
        resp.extensions_mut().insert(ErrorPage { status, cause });
        resp
    }
}
