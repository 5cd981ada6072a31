//! Operations: security headers, request ids, the access log, `/metrics`, `/healthz`, static
//! files and the language switch.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::forms::Form;
use super::{AppError, AppState, Ctx, RequestId, redirect, safe_next};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Security headers on every response. The CSP allows no inline script or style.
pub async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(
        h,
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    );
    set(h, header::CACHE_CONTROL, "no-store");
    resp
}

/// Request metrics for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    /// (method, route, status) → count
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Latency histogram over all requests: bucket upper bounds in seconds.
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_owned(), route.to_owned(), status))
                .or_insert(0) += 1;
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP blankett_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE blankett_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "blankett_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP blankett_http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE blankett_http_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "blankett_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "blankett_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "blankett_http_request_duration_seconds_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "blankett_http_request_duration_seconds_count {count}");
        out
    }
}

/// Gives each request an id (shown on error pages, returned as `X-Request-Id`), logs one
/// line per request — method, route pattern, status, duration, never the path's values or
/// the query — and counts it.
pub async fn observe(
    State(app): State<AppState>,
    mut req: axum::extract::Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    app.metrics.record(&method, &route, status, seconds);
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status,
        ms = (seconds * 1000.0 * 10.0).round() / 10.0,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn request_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

pub async fn healthz(State(app): State<AppState>) -> Response {
    match app.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "database unavailable"})),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut text = app.metrics.render();
    if let Ok(n) = app.count_sessions().await {
        text.push_str("# HELP blankett_sessions Stored sessions (logged in, or remembering a language or an eID order).\n");
        text.push_str("# TYPE blankett_sessions gauge\n");
        let _ = writeln!(text, "blankett_sessions {n}");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

pub async fn static_file(Path(file): Path<String>) -> Response {
    match blankett_html::asset(&file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            a.bytes,
        )
            .into_response(),
        None => AppError::NotFound.into_response(),
    }
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// Switches the language and returns to the page.
pub async fn set_lang(ctx: Ctx, form: Form) -> Result<Response, AppError> {
    form.check_csrf(&ctx)?;
    let lang = match form.get("lang") {
        Some("en") => "en",
        _ => "sv",
    };
    ctx.session.write(|d| d.lang = Some(lang.to_owned()));
    Ok(redirect(&safe_next(form.get("return_to").unwrap_or("/"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_prometheus_text_format() {
        let m = Metrics::default();
        m.record("GET", "/", 200, 0.002);
        m.record("GET", "/", 200, 0.02);
        let text = m.render();
        assert!(
            text.contains(
                "blankett_http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 2"
            )
        );
        assert!(text.contains("blankett_http_request_duration_seconds_bucket{le=\"0.0025\"} 1"));
        assert!(text.contains("blankett_http_request_duration_seconds_count 2"));
    }
}
