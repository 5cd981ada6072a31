//! The composition root of the web door: connects the database, builds the eID providers, the
//! PKI, the renderer pool and the signer, and hands them to the application service
//! ([`Service`]); [`AppState`] adds what only HTTP needs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use blankett_app::service::{Parts, Service};
use blankett_app::signer::PadesSigner;
use blankett_core::eid::{IdentityProvider, Providers};
use blankett_core::store::{FileStore, SessionRecord, Store, StoreError};
use blankett_core::time::Timestamp;
use blankett_core::{Flow, Severity, Sources, load};
use blankett_eid::bankid::{BankIdClient, BankIdProvider};
use blankett_eid::test_eid::TestEid;
use blankett_html::Pages;
use blankett_pades::{DevPki, DevTsa, Pades};
use blankett_pdf::check_template_bounded;
use blankett_pdf::pool::RenderPool;
use chrono::Duration;

use super::config::{Config, ConfigError};
use super::notify::Notifier;
use super::ops::Metrics;
use super::session::{self, Session, SessionData};
use super::session_cache::SessionCache;
use crate::clock::{Clock, SystemClock};
use crate::defs_fs;

/// Why the server did not start. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("the flows have {count} error(s); run `blankett check` for details:\n{first}")]
    Flows { count: usize, first: String },
    #[error("database: {0}")]
    Database(String),
    #[error("eID: {0}")]
    Eid(String),
    #[error("signing: {0}")]
    Signing(String),
    #[error("pages: {0}")]
    Pages(String),
    #[error("listen: {0}")]
    Listen(String),
    #[error("rendering: {0}")]
    Render(String),
}

/// The background tasks of a serving instance.
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
    purge: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Tells the tasks to stop and waits for them until `deadline`: the notification worker
    /// finishes the delivery in hand and gives back the messages it claimed but did not try.
    /// Returns false when the worker had to be cut off (its claims then run out by their lease).
    pub async fn stop(self, deadline: tokio::time::Instant) -> bool {
        let _ = self.stop.send(true);
        let _ = self.purge.await;
        match self.worker {
            None => true,
            Some(mut w) => match tokio::time::timeout_at(deadline, &mut w).await {
                Ok(_) => true,
                Err(_) => {
                    w.abort();
                    false
                }
            },
        }
    }
}

/// Shared by every request; cheap to clone. The application service ([`Service`]: the
/// configuration, the clock, the flows, cases, the renderer and the signer) is reached through
/// `Deref`; the rest is what only the web door needs.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Service>,
    pub providers: Providers,
    pub test_eid: Option<Arc<TestEid>>,
    pool: Arc<RenderPool>,
    pub pages: Arc<Pages>,
    pub metrics: Arc<Metrics>,
    /// The eID orders this instance collects in the background.
    pub(crate) watches: Arc<super::eid_watch::Watches>,
    rate: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
    /// This instance's recent copies of sessions.
    sessions: Arc<SessionCache>,
}

impl std::ops::Deref for AppState {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.core
    }
}

impl AppState {
    /// Checks the configuration, loads and checks the flows, connects to (and migrates) the
    /// database, builds the eID providers and the signer.
    pub async fn start(config: Config) -> Result<AppState, StartError> {
        AppState::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`AppState::start`] with the time read from `clock`.
    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<AppState, StartError> {
        config.check()?;
        let paths: Vec<PathBuf> = config
            .definitions
            .iter()
            .map(|p| config.base_dir.join(p))
            .collect();
        let sources = defs_fs::read(&paths);
        let (defs, diags) = load(&sources);
        let pool = Arc::new(crate::render_pool(&config.render));
        {
            let pool = pool.clone();
            tokio::task::spawn_blocking(move || pool.check())
                .await
                .map_err(|e| StartError::Render(e.to_string()))?
                .map_err(|e| StartError::Render(e.to_string()))?;
        }
        let (defs, diags) = check_templates(&pool, defs, diags).await;
        if diags.error_count() > 0 {
            let first = diags
                .sorted()
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .take(5)
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n");
            return Err(StartError::Flows {
                count: diags.error_count(),
                first,
            });
        }

        let store = blankett_store::SeaStore::connect(&config.database_url)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        // Sessions that ran out while no server ran are gone before the first request.
        if let Err(e) = store.purge_sessions(clock.now()).await {
            tracing::warn!(error = %e, "purging sessions failed");
        }
        let backend = store.backend_name();
        let config = Arc::new(config);
        let flows: Arc<Vec<Arc<Flow>>> = Arc::new(defs.flows.into_iter().map(Arc::new).collect());
        let notifier = Arc::new(
            Notifier::new(config.clone(), flows.clone(), clock.clone())
                .map_err(|e| StartError::Pages(e.to_string()))?,
        );
        let store = Arc::new(store);
        // Uploaded files in the same database, behind their own port.
        let files: Arc<dyn FileStore> = store.clone();
        let store: Arc<dyn Store> = store;

        let mut list: Vec<Arc<dyn IdentityProvider>> = Vec::new();
        if let Some(b) = &config.eid.bankid {
            let cfg = b
                .load(&config.base_dir)
                .map_err(|e| StartError::Eid(e.to_string()))?;
            let client = BankIdClient::new(&cfg).map_err(|e| StartError::Eid(e.to_string()))?;
            list.push(Arc::new(BankIdProvider::new(client)));
        }
        let test_eid = if config.test_eid_enabled() {
            let t = Arc::new(
                TestEid::new(config.environment).map_err(|e| StartError::Eid(e.to_string()))?,
            );
            list.push(t.clone());
            Some(t)
        } else {
            None
        };
        if list.is_empty() {
            return Err(StartError::Eid(
                "no eID provider is enabled (eid.bankid or eid.test_eid)".into(),
            ));
        }

        let now = clock.now_utc();
        let pki = Arc::new(load_pki(&config, now)?);
        let mut pades = Pades::new(pki.clone()).with_revocation(pki.clone());
        pades = match &config.signing.tsa_url {
            Some(url) => {
                let server_ca = match &config.signing.tsa_server_ca {
                    Some(p) => {
                        let path = config.base_dir.join(p);
                        Some(std::fs::read(&path).map_err(|e| {
                            StartError::Signing(format!(
                                "signing.tsa_server_ca: {}: {e}",
                                path.display()
                            ))
                        })?)
                    }
                    None => None,
                };
                // A blocking HTTP client (the TSA is asked from signing's blocking threads)
                // must not be made on the async runtime.
                let url = url.clone();
                let tsa = tokio::task::spawn_blocking(move || {
                    blankett_pades::tsa::HttpTsa::new(&url, server_ca.as_deref())
                })
                .await
                .map_err(|e| StartError::Signing(e.to_string()))?
                .map_err(|e| StartError::Signing(e.to_string()))?;
                pades.with_tsa(Arc::new(tsa))
            }
            None => pades.with_tsa(Arc::new(
                DevTsa::new(&pki, {
                    let clock = clock.clone();
                    Arc::new(move || clock.now_utc())
                })
                .map_err(|e| {
                    StartError::Signing(format!(
                        "{e}; configure signing.tsa_url or put the TSA's tsa.pem and tsa-key.pem in the PKI folder"
                    ))
                })?,
            )),
        };

        let core = Arc::new(Service::new(Parts {
            config,
            clock: clock.clone(),
            store,
            files,
            flows,
            notifier,
            renderer: pool.clone(),
            signer: Arc::new(PadesSigner(pades)),
            backend,
        }));
        core.save_flow_versions(|flow| {
            serde_json::to_string(&pinned_sources(&sources, flow))
                .map_err(|e| StoreError::Backend(e.to_string()))
        })
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;

        let pages = Pages::new().map_err(|e| StartError::Pages(e.to_string()))?;
        Ok(AppState {
            core,
            providers: Providers::new(list),
            test_eid,
            pool,
            pages: Arc::new(pages),
            metrics: Arc::new(Metrics::default()),
            rate: Arc::new(Mutex::new(HashMap::new())),
            watches: Arc::new(super::eid_watch::Watches::new(clock.clone())),
            sessions: Arc::new(SessionCache::default()),
        })
    }

    /// Stops the rendering processes (at a clean stop).
    pub fn renderer_shutdown(&self) {
        self.pool.close();
    }

    /// One line for the start-up message.
    pub fn describe(&self) -> String {
        format!(
            "{:?}, {} database, {} flow(s), eID: {}",
            self.config.environment,
            self.backend_name(),
            self.flows.len(),
            self.providers.ids().join(", ")
        )
        .to_lowercase()
    }

    /// Background work: delivering messages (see [`super::notify::worker`]) and purging
    /// expired sessions every ten minutes. [`Background::stop`] ends both.
    pub fn spawn_background(&self) -> Background {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let worker = super::notify::worker::spawn_until(self.core.clone(), stopping.clone());
        let core = self.core.clone();
        let mut purge_stop = stopping;
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = purge_stop.changed() => return,
                }
                match core.purge_sessions().await {
                    Ok(n) if n > 0 => tracing::info!(sessions = n, "expired sessions purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging sessions failed"),
                }
            }
        });
        Background {
            stop,
            worker,
            purge,
        }
    }

    /// Counts an eID start for `ip`; false when over the limit for this minute.
    pub fn allow_eid_start(&self, ip: IpAddr) -> bool {
        let limit = self.config.limits.eid_starts_per_minute;
        let Ok(mut m) = self.rate.lock() else {
            return false;
        };
        let now = Instant::now();
        if m.len() > 10_000 {
            m.retain(|_, (t, _)| now.duration_since(*t).as_secs() < 60);
        }
        let entry = m.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0).as_secs() >= 60 {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= limit
    }

    pub(crate) async fn load_session(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<SessionData>, StoreError> {
        let hash = session::hash_token(token);
        let cached = self.sessions.get(&hash, now);
        let (mut data, expires_at) = match cached {
            Some(c) => c,
            None => {
                let ticket = self.sessions.begin_read();
                let Some(rec) = self.core.session(&hash, now).await? else {
                    return Ok(None);
                };
                // A row that does not parse (an older format) is a fresh session, not an error.
                let data: SessionData = serde_json::from_value(rec.data).unwrap_or_default();
                self.sessions.put_read(&hash, &data, rec.expires_at, ticket);
                (data, rec.expires_at)
            }
        };
        // Extend an idle session at most every five minutes, not on every request.
        let idle = Duration::minutes(i64::from(self.config.limits.session_idle_minutes));
        data.extend = expires_at - now < idle - Duration::minutes(5);
        Ok(Some(data))
    }

    /// The name of the CSRF cookie of visitors without a session (`__Host-` prefixed when
    /// cookies are secure).
    pub(crate) fn csrf_cookie_name(&self) -> &'static str {
        if self.config.secure_cookies() {
            session::CSRF_COOKIE_SECURE
        } else {
            session::CSRF_COOKIE
        }
    }

    /// The `Set-Cookie` value of a CSRF token made during this request, if one was.
    pub(crate) fn csrf_cookie(&self, session: &Session) -> Option<String> {
        let inner = session.lock();
        if !inner.new_csrf_cookie {
            return None;
        }
        let token = inner.cookie_csrf.clone()?;
        let secure = if self.config.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        Some(format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.csrf_cookie_name()
        ))
    }

    /// Saves the session if it changed; returns a `Set-Cookie` value when the cookie changes.
    pub(crate) async fn save_session(
        &self,
        session: &Session,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let secure = if self.config.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        let (old, new_token, data, destroy) = {
            let mut inner = session.lock();
            if inner.destroy {
                (inner.token.take(), None, None, true)
            } else if !inner.dirty && !inner.rotate && !inner.data.extend {
                return Ok(None);
            } else {
                // A session stored for the first time keeps the token the visitor's forms
                // already carry (from the CSRF cookie).
                if inner.data.csrf.is_empty() {
                    inner.data.csrf = inner
                        .cookie_csrf
                        .clone()
                        .unwrap_or_else(session::random_token);
                }
                let old = inner.token.clone();
                let new_token = if inner.rotate || old.is_none() {
                    let t = session::random_token();
                    if t.is_empty() {
                        return Err(StoreError::Backend("no randomness for a session id".into()));
                    }
                    inner.token = Some(t.clone());
                    Some(t)
                } else {
                    None
                };
                inner.data.extend = false;
                let old = if inner.rotate { old } else { None };
                inner.rotate = false;
                inner.dirty = false;
                (old, new_token, Some(inner.data.clone()), false)
            }
        };
        if let Some(old) = &old {
            let hash = session::hash_token(old);
            self.sessions.put_written(&hash, None);
            self.core.delete_session(&hash).await?;
        }
        if destroy {
            return Ok(Some(format!(
                "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
                session::COOKIE
            )));
        }
        let Some(data) = data else { return Ok(None) };
        let token = match (&new_token, session.lock().token.clone()) {
            (Some(t), _) => t.clone(),
            (None, Some(t)) => t,
            (None, None) => return Ok(None),
        };
        let expires_at =
            now + Duration::minutes(i64::from(self.config.limits.session_idle_minutes));
        let hash = session::hash_token(&token);
        // Forgotten first: if the write fails, the next request reads the database.
        self.sessions.put_written(&hash, None);
        self.core
            .put_session(&SessionRecord {
                id_hash: hash.clone(),
                data: serde_json::to_value(&data)
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
                expires_at,
            })
            .await?;
        self.sessions.put_written(&hash, Some((&data, expires_at)));
        Ok(new_token.map(|t| {
            format!(
                "{}={t}; Path=/; HttpOnly; SameSite=Lax{secure}",
                session::COOKIE
            )
        }))
    }
}

/// The signing PKI. In development a missing `signing.pki_dir` means the development CA
/// (made on first use under `data_dir/dev-pki`). In production the CA must be the operator's
/// own: it is only read, never made, and Blankett's development CA is refused wherever it is
/// kept (by its name, which says TEST).
fn load_pki(config: &Config, now: chrono::DateTime<chrono::Utc>) -> Result<DevPki, StartError> {
    let dir = match &config.signing.pki_dir {
        Some(d) => config.base_dir.join(d),
        None => config.data_dir.join("dev-pki"),
    };
    let at = |e: blankett_pades::SignError| StartError::Signing(format!("{}: {e}", dir.display()));
    if !config.is_production() {
        return DevPki::load_or_create(&dir, now).map_err(at);
    }
    let pki = DevPki::load_existing(&dir).map_err(at)?;
    if pki.is_development_ca() {
        return Err(StartError::Signing(format!(
            "{}: this is Blankett's development CA (its name says TEST); production needs the municipality's own issuing CA",
            dir.display()
        )));
    }
    Ok(pki)
}

/// Checks every flow's template with its sample answers, several at a time. A template that
/// does not finish within the rendering bounds does not stop the server: its flow is left
/// out (and said so in the log), and the other flows are served. Any other template error is
/// an error of the definitions, as `blankett check` reports it.
async fn check_templates(
    pool: &Arc<RenderPool>,
    defs: blankett_core::Definitions,
    mut diags: blankett_core::Diagnostics,
) -> (blankett_core::Definitions, blankett_core::Diagnostics) {
    let mut tasks = Vec::new();
    for flow in defs.flows {
        let pool = pool.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            let (found, bounded) = check_template_bounded(pool.as_ref(), &flow);
            (flow, found, bounded)
        }));
    }
    let mut flows = Vec::new();
    for t in tasks {
        let Ok((flow, found, bounded)) = t.await else {
            continue;
        };
        if bounded {
            for d in found.iter().filter(|d| d.severity == Severity::Error) {
                tracing::error!(flow = %flow.id, problem = %d, "the flow is not offered: its template does not finish within the rendering bounds");
            }
            continue;
        }
        for d in found {
            diags.add(d);
        }
        flows.push(flow);
    }
    (blankett_core::Definitions { flows, ..defs }, diags)
}

/// The sources one flow needs, kept with its content hash.
fn pinned_sources(all: &Sources, flow: &Flow) -> Sources {
    Sources {
        flows: all
            .flows
            .iter()
            .filter(|f| f.folder_name == flow.id)
            .cloned()
            .collect(),
        form_defs: all.form_defs.clone(),
        shared: all.shared.clone(),
        problems: Vec::new(),
    }
}
