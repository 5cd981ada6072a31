//! The REST API for business systems: `/api/v1/…` (JSON) and `/api/openapi.json`.
//!
//! Authentication is a bearer key (`Authorization: Bearer bk_…`) whose SHA-256 is configured
//! under `[[api_keys]]` with its scopes and, optionally, the flows it may see. These routes are
//! outside the session layer: they neither read nor set a cookie, so there is no session to
//! forge and no CSRF token to check. Errors are the JSON of [`ErrorBody`]; axum's own
//! extractor rejections are turned into it too ([`ApiJson`], [`ApiQuery`], [`ApiPath`]).
//!
//! Cases are written through the same store calls as the web pages (`create_case`,
//! `update_case`), with events whose role is `api:<key name>`.

mod cases;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use super::config::ApiScope;
use super::error::{ErrorBody, ErrorDetail, ErrorPage, FieldErrorView};
use super::{AppError, AppState, RequestId};

pub use cases::{
    CaseStatus, CaseSummaryView, CaseView, EventView, HandTo, NewCase, PersonView, SignatureState,
    SignatureView, TextView, WithdrawRequest,
};

/// The API's routes, nested under `/api` (no session layer: see the module docs).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/v1/cases", get(cases::list_cases).post(cases::create_case))
        .route("/v1/cases/{id}", get(cases::get_case))
        .route("/v1/cases/{id}/document", get(cases::get_document))
        .route("/v1/cases/{id}/withdraw", post(cases::withdraw_case))
        .fallback(not_found)
        .layer(middleware::from_fn(log_errors))
}

/// The OpenAPI document, generated from the handlers and types below.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Blankett API",
        description = "Cases of Blankett's e-services for business systems. Authenticate with `Authorization: Bearer <key>` (make a key with `blankett api-key new`). Scopes: `cases:read`, `cases:write`, `documents:read`; a key may be limited to some flows.",
        license(name = "EUPL-1.2"),
    ),
    paths(
        cases::list_cases,
        cases::get_case,
        cases::get_document,
        cases::create_case,
        cases::withdraw_case,
    ),
    components(schemas(ErrorBody, ErrorDetail, FieldErrorView)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags((name = "cases", description = "Cases (ärenden) and their documents")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some("An API key from `[[api_keys]]` (`bk_…`).".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// `GET /api/openapi.json`.
async fn openapi_json() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => AppError::internal(e).into_response(),
    }
}

/// Unknown `/api/…` paths: the JSON 404.
async fn not_found() -> AppError {
    AppError::NotFound
}

/// Logs the cause of an internal error once, with the request id (the pages' session layer
/// does this for the pages), and drops the page marker: API errors stay JSON.
async fn log_errors(req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let mut resp = next.run(req).await;
    match resp.extensions_mut().remove::<ErrorPage>() {
        Some(page) => {
            if let Some(cause) = &page.cause {
                tracing::error!(request_id = %request_id, cause = %cause, "api request failed");
            }
        }
        // A refusal the framework wrote itself (a method not allowed, say) is given the API's
        // JSON error too, never the framework's text.
        None if resp.status().is_client_error() || resp.status().is_server_error() => {
            let status = resp.status();
            let body = ErrorBody {
                error: ErrorDetail {
                    code: match status {
                        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                        StatusCode::NOT_FOUND => "not_found",
                        s if s.is_client_error() => "bad_request",
                        _ => "internal",
                    }
                    .to_owned(),
                    message: status
                        .canonical_reason()
                        .unwrap_or("The request could not be served.")
                        .to_owned(),
                    fields: None,
                },
            };
            let headers = resp.headers().clone();
            resp = (status, axum::Json(body)).into_response();
            if let Some(allow) = headers.get(header::ALLOW) {
                resp.headers_mut().insert(header::ALLOW, allow.clone());
            }
        }
        None => {}
    }
    resp
}

/// The business system calling, authenticated by its key.
pub struct ApiCaller {
    pub name: String,
    scopes: Vec<ApiScope>,
    flows: Option<Vec<String>>,
}

impl ApiCaller {
    /// 403 unless the key has `scope`.
    pub fn require(&self, scope: ApiScope) -> Result<(), AppError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Whether the key may see cases of `flow_id`.
    pub fn sees_flow(&self, flow_id: &str) -> bool {
        self.flows
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == flow_id))
    }

    /// The flows the key is limited to, if it is.
    pub fn flows(&self) -> Option<&[String]> {
        self.flows.as_deref()
    }

    /// The role its events carry.
    pub fn role(&self) -> blankett_core::case::ActorRole {
        blankett_core::case::ActorRole::Api(self.name.clone())
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<ApiCaller, AppError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AppError::Unauthorized)?;
        let (scheme, key) = value.trim().split_once(' ').ok_or(AppError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AppError::Unauthorized);
        }
        let digest = Sha256::digest(key.trim().as_bytes());
        // Every configured key is compared, in constant time, whether or not one matched.
        let mut found = None;
        for k in &app.config.api_keys {
            let expected = hex::decode(&k.sha256).unwrap_or_default();
            let same: bool = expected.as_slice().ct_eq(digest.as_slice()).into();
            if same && found.is_none() {
                found = Some(k);
            }
        }
        let key = found.ok_or(AppError::Unauthorized)?;
        Ok(ApiCaller {
            name: key.name.clone(),
            scopes: key.scopes.clone(),
            flows: key.flows.clone(),
        })
    }
}

/// A JSON body; refusals are the API's JSON errors (415, 413, 400) and never echo the input.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<ApiJson<T>, AppError> {
        if !is_json(&req) {
            return Err(AppError::UnsupportedMediaType);
        }
        let body = read_body(req, state).await?;
        parse_json(&body).map(ApiJson)
    }
}

/// An optional JSON body: none (empty) or `null` is `None`; otherwise as [`ApiJson`].
pub struct ApiOptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequest<S> for ApiOptionalJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<ApiOptionalJson<T>, AppError> {
        let json = is_json(&req);
        let body = read_body(req, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiOptionalJson(None));
        }
        if !json {
            return Err(AppError::UnsupportedMediaType);
        }
        // `null` is no body too, as the document says (`oneOf` the object or null).
        parse_json::<Option<T>>(&body).map(ApiOptionalJson)
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge
        } else {
            AppError::BadRequest("the request body could not be read")
        }
    })
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => AppError::BadRequest(
            "the JSON body does not have the documented shape (see /api/openapi.json)",
        ),
        _ => AppError::BadRequest("the body is not valid JSON"),
    })
}

/// Query parameters; a refusal is a JSON 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ApiQuery<T>, AppError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|_| AppError::BadRequest("the query parameters are not valid"))
    }
}

/// Path parameters; a refusal is a JSON 400.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ApiPath<T>, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| AppError::BadRequest("the path is not valid"))
    }
}
