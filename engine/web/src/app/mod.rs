//! The web application: `blankett serve`.
//!
//! Server-rendered pages (minijinja, `renderers/html`) that work without JavaScript, on one
//! axum router. Layers, outermost first: request id + access log + metrics, security
//! headers, the session (loaded from and saved to the store) which also renders error
//! pages. Handlers take a [`Ctx`] (session, request id, client address) and return HTML, a
//! redirect or an [`AppError`].

pub(crate) use blankett_app::access;
pub mod api;
mod cases;
pub use blankett_app::config;
mod eid_order;
mod eid_wait;
mod eid_watch;
mod error;
mod forms;
mod journey;
mod login;
pub mod notify;
mod ops;
mod review;
pub mod server;
mod session;
mod session_cache;
mod signing;
mod state;
mod uploads;
mod views;
mod worker;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use blankett_core::case::{Actor, Person};
use serde_json::Value;

pub use config::{Config, ConfigError};
pub use error::AppError;
pub use session::{Session, SessionUser};
pub use state::{AppState, StartError};

use error::ErrorPage;

/// Everything a handler needs about the request.
pub struct Ctx {
    pub session: Session,
    pub request_id: String,
    pub ip: IpAddr,
    /// Path and query, for "return here" links.
    pub path: String,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Ctx, AppError> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| AppError::internal("session layer missing"))?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        Ok(Ctx {
            session,
            request_id,
            ip,
            path,
        })
    }
}

impl Ctx {
    pub fn en(&self) -> bool {
        self.session.read(|d| d.lang.as_deref() == Some("en"))
    }

    pub fn lang(&self) -> &'static str {
        if self.en() { "en" } else { "sv" }
    }

    /// Picks the text in the session's language.
    pub fn t<'a>(&self, sv: &'a str, en: &'a str) -> &'a str {
        if self.en() { en } else { sv }
    }

    /// The logged-in person as an actor of the case machine.
    pub fn actor(&self, app: &AppState) -> Option<Actor> {
        let user = self.session.user()?;
        let case_worker = app.config.case_worker_units(&user.personnummer).is_some();
        Some(Actor {
            person: Person {
                personnummer: user.personnummer,
                name: user.name,
            },
            case_worker,
        })
    }

    /// The actor, or a redirect to the login page that comes back here.
    pub fn require_actor(&self, app: &AppState) -> Result<Actor, AppError> {
        self.actor(app).ok_or_else(|| AppError::Login {
            next: self.path.clone(),
        })
    }

    /// Renders a page: the layout's fields plus `page`'s.
    pub fn page(
        &self,
        app: &AppState,
        template: &str,
        title: &str,
        page: &impl views::PageView,
    ) -> Result<Response, AppError> {
        let mut ctx = serde_json::to_value(self.layout(app, title)).map_err(AppError::internal)?;
        let page = serde_json::to_value(page).map_err(AppError::internal)?;
        if let (Value::Object(base), Value::Object(extra)) = (&mut ctx, page) {
            base.extend(extra);
        }
        let html = app
            .pages
            .render(template, &ctx)
            .map_err(AppError::internal)?;
        Ok(Html(html).into_response())
    }

    fn layout(&self, app: &AppState, title: &str) -> views::Layout {
        let user = self.actor(app).map(|a| views::LayoutUser {
            name: a.person.name,
            case_worker: a.case_worker,
        });
        views::Layout {
            lang: self.lang(),
            page_title: title.to_owned(),
            site: views::Site {
                name: app.config.site.name.clone(),
                development: !app.config.is_production(),
            },
            user,
            csrf: self.session.csrf(),
            return_to: self.path.clone(),
            login_next: login_next(&self.path),
            notice: self.session.take_notice(self.en()),
        }
    }
}

/// Where "Log in" in the header returns to from `path`: the page itself, except on the login
/// and eID pages, where it keeps where the person was going (their own `next`) instead of
/// nesting the login page in itself.
pub fn login_next(path: &str) -> String {
    let (page, query) = path.split_once('?').unwrap_or((path, ""));
    let on_login = page == "/login" || page.starts_with("/eid/") || page.starts_with("/test-eid/");
    if !on_login {
        return safe_next(path);
    }
    let next = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "/".to_owned());
    let next = safe_next(&next);
    // A `next` that is itself a login page would nest again.
    if next.starts_with("/login") {
        "/".to_owned()
    } else {
        next
    }
}

#[derive(Clone)]
struct RequestId(String);

/// `attachment` with the name twice: plain ASCII (Å → A, others `-`) for old clients, and in
/// UTF-8 (RFC 6266/5987) for every current one.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            'å' | 'ä' => 'a',
            'Å' | 'Ä' => 'A',
            'ö' => 'o',
            'Ö' => 'O',
            'é' => 'e',
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => c,
            _ => '-',
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A `303 See Other` to `location` (after a POST: the browser then GETs it). A location that
/// cannot be a header value goes to the start page instead: a redirect always leads somewhere.
pub fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let value = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    resp.headers_mut().insert(header::LOCATION, value);
    resp
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A local path to return to after login: only paths on this site (no `//host`, no
/// backslash, no control characters such as CR/LF, at most 2,000 bytes); anything else is `/`.
pub fn safe_next(next: &str) -> String {
    if next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 2000
        && !next.chars().any(|c| c.is_control())
        && HeaderValue::from_str(next).is_ok()
    {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

/// The application's routes and layers.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.limits.body_bytes;
    let upload_limit = state.config.limits.upload_bytes;
    Router::new()
        .route("/", get(journey::catalogue))
        .route("/lang", post(ops::set_lang))
        .route("/login", get(login::login_page))
        .route("/login/start", post(login::start_login))
        .route("/logout", post(login::logout))
        .route("/eid/wait", get(eid_wait::wait_page))
        .route("/eid/status", get(eid_wait::status_json))
        .route("/eid/qr", get(eid_wait::qr_svg))
        .route("/eid/cancel", post(eid_wait::cancel))
        .route(
            "/test-eid/{order}",
            get(eid_wait::test_eid_page).post(eid_wait::test_eid_decide),
        )
        .route(
            "/e/{flow}/start",
            post(journey::start).get(journey::start_after_login),
        )
        .route(
            "/cases/{id}/steps/{step}",
            // A step with files is read as it arrives (`uploads`), within `upload_bytes`.
            get(journey::step_page)
                .post(journey::save_step)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/cases/{id}/files/{file}", get(journey::file_download))
        .route(
            "/cases/{id}/steps/{step}/visibility",
            post(journey::visibility),
        )
        .route("/cases/{id}/review", get(journey::review_page))
        .route("/cases/{id}/submit", post(journey::submit))
        .route("/cases/{id}/receipt", get(journey::receipt))
        .route("/cases/{id}/receipt.pdf", get(journey::receipt_pdf))
        .route("/cases/{id}", get(worker::case_page))
        .route("/cases/{id}/assign", post(worker::assign))
        .route("/cases/{id}/return", post(worker::return_case))
        .route("/cases/{id}/reject", post(worker::reject))
        .route("/cases/{id}/approve", post(worker::approve))
        .route("/cases/{id}/reopen", post(worker::reopen))
        .route("/cases/{id}/withdraw", post(worker::withdraw))
        .route("/cases/{id}/document", get(signing::download))
        .route("/cases/{id}/document/pages/{n}", get(signing::page_image))
        .route("/cases/{id}/sign", get(signing::sign_page))
        .route("/cases/{id}/sign/start", post(signing::start))
        .route("/cases/{id}/decline", post(signing::decline))
        .route("/my", get(worker::my_pages))
        .route("/inbox", get(worker::inbox))
        .route("/outbox", get(notify::pages::outbox_page))
        .route("/dev/mailbox", get(notify::pages::mailbox_page))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/static/{file}", get(ops::static_file))
        .fallback(ops::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), read_body))
        .layer(middleware::from_fn_with_state(state.clone(), session_layer))
        // The REST API, outside the session layer: no cookie, no session, no CSRF token.
        .nest(
            "/api",
            api::router().layer(middleware::from_fn_with_state(state.clone(), read_body)),
        )
        .layer(middleware::from_fn(ops::security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), ops::observe))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Reads a request's body whole before the handler, within `limits.body_bytes` and
/// `server.body_read_timeout_secs`: a body that is too large is refused with 413 before it is
/// read, one that does not arrive in time with 408, each with the application's own error.
/// Forms and JSON are small, so holding them in memory once costs nothing extra: the
/// extractors would read them whole anyway.
pub(crate) async fn read_body(
    State(app): State<AppState>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    use axum::body::HttpBody as _;
    if req.body().is_end_stream() || is_step_upload(&req) {
        return next.run(req).await;
    }
    let limit = app.config.limits.body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return AppError::TooLarge.into_response();
    }
    let (parts, body) = req.into_parts();
    let wait = std::time::Duration::from_secs(app.config.server.body_read_timeout_secs);
    match tokio::time::timeout(wait, axum::body::to_bytes(body, limit)).await {
        Err(_) => AppError::Timeout.into_response(),
        Ok(Err(e)) => {
            if is_length_limit(&e) {
                AppError::TooLarge.into_response()
            } else {
                AppError::BadRequest("The request body could not be read.").into_response()
            }
        }
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
    }
}

/// A step form with files: its handler reads it as it arrives, within `limits.upload_bytes`
/// and the same body timeout ([`uploads::read`]).
fn is_step_upload(req: &axum::extract::Request) -> bool {
    let path = req.uri().path();
    req.method() == axum::http::Method::POST
        && uploads::is_multipart(req.headers())
        && path.starts_with("/cases/")
        && path.split('/').nth(3) == Some("steps")
        && path.split('/').count() == 5
}

/// Whether reading a body failed on its length limit.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.to_string().contains("length limit") {
            return true;
        }
        source = s.source();
    }
    false
}

/// Loads the session before the handler, saves it after, and turns error responses into
/// pages in the visitor's language.
async fn session_layer(
    State(app): State<AppState>,
    mut req: axum::extract::Request,
    next: Next,
) -> Response {
    let now = app.clock.now();
    let cookies = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = session::cookie_value(cookies).map(str::to_owned);
    let csrf_cookie = session::named_cookie(cookies, app.csrf_cookie_name())
        .filter(|t| {
            t.len() == 43
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned);
    let loaded = match &token {
        Some(t) => app.load_session(t, now).await,
        None => Ok(None),
    };
    let session = match loaded {
        Ok(Some(data)) => Session::new(data, token, csrf_cookie),
        Ok(None) => Session::new(session::SessionData::default(), None, csrf_cookie),
        Err(e) => {
            tracing::error!(error = %e, "session store unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable").into_response();
        }
    };
    req.extensions_mut().insert(session.clone());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let path = req.uri().path().to_owned();

    let mut resp = next.run(req).await;

    // A refusal the framework wrote itself (a path or query value its extractor could not
    // read) gets the application's page too, never the framework's text.
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if (resp.status().is_client_error() || resp.status().is_server_error())
        && resp.extensions().get::<ErrorPage>().is_none()
        && !is_html
    {
        let status = resp.status();
        resp.extensions_mut().insert(ErrorPage {
            status,
            cause: None,
            message: None,
            retry: None,
        });
    }
    if let Some(page) = resp.extensions().get::<ErrorPage>().cloned() {
        if let Some(cause) = &page.cause {
            if page.status.is_server_error() && page.retry.is_none() {
                tracing::error!(request_id = %request_id, path = %path, cause = %cause, "request failed");
            } else {
                tracing::warn!(request_id = %request_id, path = %path, cause = %cause, "request refused");
            }
        }
        resp = error_page(&app, &session, &page, &request_id);
    }
    if let Some(cookie) = app.csrf_cookie(&session)
        && let Ok(v) = HeaderValue::from_str(&cookie)
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    match app.save_session(&session, now).await {
        Ok(Some(cookie)) => {
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(request_id = %request_id, error = %e, "session not saved");
            return (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable").into_response();
        }
    }
    resp
}

fn error_page(app: &AppState, session: &Session, page: &ErrorPage, request_id: &str) -> Response {
    let en = session.read(|d| d.lang.as_deref() == Some("en"));
    let (heading, message) = match page.status {
        StatusCode::NOT_FOUND => (
            ("Sidan finns inte", "Page not found"),
            (
                "Sidan eller ärendet finns inte, eller så har du inte tillgång till det.",
                "The page or case does not exist, or you do not have access to it.",
            ),
        ),
        StatusCode::FORBIDDEN => (
            ("Åtgärden är inte tillåten", "Not allowed"),
            (
                "Formuläret kunde inte tas emot, eller så får du inte göra detta. Gå tillbaka, ladda om sidan och försök igen.",
                "The form could not be accepted, or you may not do this. Go back, reload the page and try again.",
            ),
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            ("För många försök", "Too many attempts"),
            (
                "Vänta en minut och försök igen.",
                "Wait a minute and try again.",
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ("För mycket på en gång", "Too much at once"),
            (
                "Det du skickade var större än vad som tas emot på en gång. Inget har ändrats. Gå tillbaka och korta texten, eller dela upp den.",
                "What you sent was larger than can be received at once. Nothing was changed. Go back and shorten the text, or split it up.",
            ),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ("Det tog för lång tid", "It took too long"),
            (
                "Det du skickade kom inte fram i tid. Inget har ändrats. Gå tillbaka och försök igen.",
                "What you sent did not arrive in time. Nothing was changed. Go back and try again.",
            ),
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            (
                "Tjänsten är inte tillgänglig just nu",
                "The service is not available right now",
            ),
            (
                "Det du har sparat finns kvar. Försök igen om en stund.",
                "What you saved is kept. Try again in a while.",
            ),
        ),
        s if s.is_client_error() => (
            ("Felaktig begäran", "Bad request"),
            (
                "Det som skickades kunde inte tas emot. Inget har ändrats.",
                "What was sent could not be accepted. Nothing was changed.",
            ),
        ),
        _ => (
            ("Något gick fel", "Something went wrong"),
            (
                "Ett tekniskt fel uppstod. Det du har sparat finns kvar. Försök igen om en stund.",
                "A technical error occurred. What you saved is kept. Try again in a while.",
            ),
        ),
    };
    let pick = |p: (&'static str, &'static str)| if en { p.1 } else { p.0 };
    let message = match &page.message {
        Some((sv, en_text)) => {
            if en {
                en_text.clone()
            } else {
                sv.clone()
            }
        }
        None => pick(message).to_owned(),
    };
    let heading = if page.retry.is_some() && page.message.is_some() {
        pick(("Det gick inte just nu", "It did not work just now"))
    } else {
        pick(heading)
    };
    // The person stays who they are on an error page: their name, their menu.
    let user = session.user().map(|u| views::LayoutUser {
        case_worker: app.config.case_worker_units(&u.personnummer).is_some(),
        name: u.name,
    });
    let csrf = if user.is_some() || session.has_token() {
        session.csrf()
    } else {
        String::new()
    };
    let ctx = views::ErrorView {
        lang: if en { "en" } else { "sv" },
        page_title: heading.to_owned(),
        site: views::Site {
            name: app.config.site.name.clone(),
            development: !app.config.is_production(),
        },
        user,
        csrf,
        return_to: page.retry.clone().unwrap_or_else(|| "/".to_owned()),
        login_next: login_next(page.retry.as_deref().unwrap_or("/")),
        heading: heading.to_owned(),
        message,
        retry: page.retry.clone(),
        request_id: request_id.to_owned(),
    };
    match app.pages.render("error.html", &ctx) {
        Ok(html) => (page.status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "error page failed");
            (page.status, heading.to_owned()).into_response()
        }
    }
}

/// Starts the server and runs until SIGTERM or SIGINT (Ctrl-C), then stops gracefully: the
/// port is closed, requests in flight finish within `server.shutdown_grace_secs`, the
/// notification worker finishes or gives back what it claimed, and the database is closed
/// (on SQLite with its log written into `blankett.db`).
pub async fn serve(config: Config) -> Result<(), StartError> {
    let state = AppState::start(config).await?;
    let listener = tokio::net::TcpListener::bind(state.config.listen)
        .await
        .map_err(|e| StartError::Listen(format!("{}: {e}", state.config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(e.to_string()))?;
    let srv = &state.config.server;
    let limits = server::ServerLimits {
        header_read_timeout: std::time::Duration::from_secs(srv.header_read_timeout_secs),
        keep_alive_timeout: std::time::Duration::from_secs(srv.keep_alive_timeout_secs),
        max_connections: server::connection_room(srv.max_connections),
        shutdown_grace: std::time::Duration::from_secs(srv.shutdown_grace_secs),
    };
    println!("Blankett listens on http://{addr}/ ({})", state.describe());
    let background = state.spawn_background();
    let grace = limits.shutdown_grace;
    let stopping_at = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mark = stopping_at.clone();
    let stop = async move {
        stop_signal().await;
        if let Ok(mut m) = mark.lock() {
            *m = Some(tokio::time::Instant::now());
        }
        tracing::info!("stopping: no new connections; finishing the requests in flight");
    };
    let stopped = server::run(listener, router(state.clone()), limits, stop).await;
    if stopped.cut_off > 0 {
        tracing::warn!(
            cut_off = stopped.cut_off,
            "requests still running after the grace period were cut off"
        );
    }
    let started = stopping_at
        .lock()
        .ok()
        .and_then(|m| *m)
        .unwrap_or_else(tokio::time::Instant::now);
    if !background.stop(started + grace).await {
        tracing::warn!(
            "the notification worker was cut off; its messages are retried when their lease runs out"
        );
    }
    state.renderer_shutdown();
    match state.close().await {
        Ok(()) => tracing::info!("database closed"),
        Err(e) => tracing::warn!(error = %e, "the database did not close cleanly"),
    }
    // The state holds blocking clients (the TSA's): let them go off the async runtime.
    let _ = tokio::task::spawn_blocking(move || drop(state)).await;
    println!("Blankett stopped");
    Ok(())
}

/// Resolves on SIGTERM (systemd, Docker, Kubernetes) or SIGINT (Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                return;
            }
            _ => tracing::warn!("SIGTERM cannot be caught; only Ctrl-C stops gracefully"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
