//! The typed configuration of `blankett serve`: defaults, then a TOML file (`--config`),
//! then environment variables `BLANKETT__SECTION__KEY` (e.g. `BLANKETT__DATABASE_URL`,
//! `BLANKETT__EID__TEST_EID=false`). Checked at start-up; the server refuses to start with a
//! clear message rather than run half-configured.

pub mod notify;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use blankett_core::ids::Personnummer;
use blankett_eid::Environment;
use blankett_eid::config::{BankIdSettings, EidSettings};
use serde::Deserialize;

/// Why the configuration is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_environment")]
    pub environment: Environment,
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The address people use, for links in messages (default: `http://{listen}`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// `sqlite://blankett.db?mode=rwc` (default) or `postgres://…`.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// Folders of flows and form-defs.
    #[serde(default = "default_definitions")]
    pub definitions: Vec<PathBuf>,
    /// Where the server keeps files of its own (the development PKI).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub site: Site,
    #[serde(default)]
    pub cookies: Cookies,
    #[serde(default)]
    pub eid: EidSection,
    #[serde(default)]
    pub signing: Signing,
    #[serde(default)]
    pub limits: Limits,
    /// Connections: timeouts, the cap, the graceful stop.
    #[serde(default)]
    pub server: ServerSection,
    /// Document rendering: Typst runs in worker processes bounded in time and memory.
    #[serde(default)]
    pub render: RenderSection,
    /// Who is a case worker, and in which units (flow owners). In development with no list,
    /// the first test identity (197701172392) is a case worker of every unit.
    #[serde(default)]
    pub case_workers: Vec<CaseWorker>,
    /// How notifications are delivered (SMTP, SMS gateway, the worker's timing).
    #[serde(default)]
    pub notify: notify::NotifySection,
    /// Integrations told about case events.
    #[serde(default)]
    pub webhooks: Vec<notify::Webhook>,
    /// Where staff are reached for notifications (email, phone), by personnummer.
    #[serde(default)]
    pub directory: Vec<notify::Contact>,
    /// Keys of business systems for the REST API (`/api/v1`); none = the API refuses every
    /// request. Make one with `blankett api-key new`.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    /// Folder of the TOML file, against which relative paths in it are read.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Every setting, with the database URL's password redacted (the other secrets are
/// [`Secret`](blankett_core::secret::Secret)s).
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("database_url", &redact_url(&self.database_url))
            .field("definitions", &self.definitions)
            .field("data_dir", &self.data_dir)
            .field("site", &self.site)
            .field("cookies", &self.cookies)
            .field("eid", &self.eid)
            .field("signing", &self.signing)
            .field("limits", &self.limits)
            .field("server", &self.server)
            .field("render", &self.render)
            .field("case_workers", &self.case_workers)
            .field("notify", &self.notify)
            .field("webhooks", &self.webhooks)
            .field("directory", &self.directory)
            .field("api_keys", &self.api_keys)
            .field("base_dir", &self.base_dir)
            .finish()
    }
}

/// A database URL with its password (`user:password@`, `?password=…`) replaced by
/// `[redacted]`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let from = rest_start + colon + 1;
                out.replace_range(from..rest_start + at, "[redacted]");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=[redacted]"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The municipality's name, shown in every page header.
    #[serde(default = "default_site_name")]
    pub name: String,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            name: default_site_name(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cookies {
    /// Send the session cookie only over HTTPS. Default: on in production, off otherwise
    /// (the development server speaks plain HTTP on 127.0.0.1).
    #[serde(default)]
    pub secure: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EidSection {
    /// The built-in test eID. Default: on in development, off otherwise; refused in
    /// production.
    #[serde(default)]
    pub test_eid: Option<bool>,
    #[serde(default)]
    pub bankid: Option<BankIdSettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// Folder with the issuing CA (`ca.pem`, `ca-key.pem`) and TSA. When not set, a
    /// development PKI is created under `data_dir/dev-pki` (refused in production).
    #[serde(default)]
    pub pki_dir: Option<PathBuf>,
    /// An RFC 3161 time-stamping service; default: the PKI's own TSA (`tsa.pem`).
    #[serde(default)]
    pub tsa_url: Option<String>,
    /// The CA (PEM) of an `https://` TSA's server certificate; it is pinned, the system's
    /// certificate store is not used.
    #[serde(default)]
    pub tsa_server_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request body (bytes).
    #[serde(default = "default_body")]
    pub body_bytes: usize,
    /// Largest step form with files (`multipart/form-data`), in bytes: every file of the step
    /// and its other answers together. A file over its field's `max_size` but within this
    /// gets the field's own error, and the rest of the page is saved; beyond this the answer
    /// is 413. Files are read as they arrive, each up to its field's `max_size`.
    #[serde(default = "default_upload")]
    pub upload_bytes: usize,
    /// eID orders (login and signing) one client address may start per minute.
    #[serde(default = "default_eid_per_minute")]
    pub eid_starts_per_minute: u32,
    /// Idle time after which a session ends (minutes). Drafts are saved on every step, so
    /// nothing typed is lost when it does.
    #[serde(default = "default_session_minutes")]
    pub session_idle_minutes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: default_body(),
            upload_bytes: default_upload(),
            eid_starts_per_minute: default_eid_per_minute(),
            session_idle_minutes: default_session_minutes(),
        }
    }
}

/// How connections are bounded, and how the server stops (see `app::server`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// How long the head of a request may take to arrive, from its first byte (seconds).
    #[serde(default = "default_header_read")]
    pub header_read_timeout_secs: u64,
    /// How long the body of a request may take to arrive, from the end of its head (seconds).
    #[serde(default = "default_body_read")]
    pub body_read_timeout_secs: u64,
    /// How long a connection with no request in flight is kept open (seconds).
    #[serde(default = "default_keep_alive")]
    pub keep_alive_timeout_secs: u64,
    /// Most connections open at once. At the cap the longest-idle connection is closed to
    /// make room; the cap is also kept below the process's open-file limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// On SIGTERM or SIGINT: how long requests in flight (and the notification worker's
    /// current delivery) may take to finish before they are cut off (seconds).
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            header_read_timeout_secs: default_header_read(),
            body_read_timeout_secs: default_body_read(),
            keep_alive_timeout_secs: default_keep_alive(),
            max_connections: default_max_connections(),
            shutdown_grace_secs: default_grace(),
        }
    }
}

/// Bounds of one document rendering (and of checking a template at start).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderSection {
    /// How long one rendering may take (seconds).
    #[serde(default = "default_render_timeout")]
    pub timeout_secs: u64,
    /// How much memory a rendering process may use (MB).
    #[serde(default = "default_render_memory")]
    pub memory_mb: u64,
    /// How many renderings run at once (default: the number of CPUs).
    #[serde(default)]
    pub workers: Option<usize>,
    /// The program that renders (default: this `blankett` binary, as `blankett render-worker`).
    #[serde(default)]
    pub worker_program: Option<PathBuf>,
}

impl Default for RenderSection {
    fn default() -> Self {
        RenderSection {
            timeout_secs: default_render_timeout(),
            memory_mb: default_render_memory(),
            workers: None,
            worker_program: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseWorker {
    pub personnummer: Personnummer,
    /// The flow owners (`owner:` in flow.yaml) whose cases this person handles; empty = all.
    #[serde(default)]
    pub units: Vec<String>,
}

/// A key of the REST API. Only the SHA-256 of the secret is configured; the secret itself
/// is shown once, by `blankett api-key new`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Who uses the key (a business system); events it causes say `api:<name>`.
    pub name: String,
    /// Hex SHA-256 of the secret key.
    pub sha256: String,
    pub scopes: Vec<ApiScope>,
    /// Only cases of these flows (ids); absent = every flow.
    #[serde(default)]
    pub flows: Option<Vec<String>>,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ApiScope {
    /// List and read cases.
    #[serde(rename = "cases:read")]
    CasesRead,
    /// Create and withdraw cases.
    #[serde(rename = "cases:write")]
    CasesWrite,
    /// Download documents.
    #[serde(rename = "documents:read")]
    DocumentsRead,
}

impl ApiScope {
    pub const ALL: [ApiScope; 3] = [
        ApiScope::CasesRead,
        ApiScope::CasesWrite,
        ApiScope::DocumentsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::CasesRead => "cases:read",
            ApiScope::CasesWrite => "cases:write",
            ApiScope::DocumentsRead => "documents:read",
        }
    }

    pub fn parse(s: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Whether `name` may name an API key: it goes into events (`api:<name>`) and logs.
pub fn valid_api_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn default_environment() -> Environment {
    Environment::Development
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_database_url() -> String {
    "sqlite://blankett.db?mode=rwc".into()
}
fn default_definitions() -> Vec<PathBuf> {
    vec![PathBuf::from("flows"), PathBuf::from("form-defs")]
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("blankett-data")
}
fn default_site_name() -> String {
    "Exempelstads kommun".into()
}
fn default_upload() -> usize {
    // A file at the largest `max_size` a flow may set (50 MB), with room to spare.
    64 * 1024 * 1024
}

fn default_body() -> usize {
    // Room for what a form holds: a field of 100,000 characters is 600 kB once a browser has
    // percent-encoded its UTF-8, and must reach the field's own limit message.
    1024 * 1024
}
fn default_header_read() -> u64 {
    10
}
fn default_body_read() -> u64 {
    30
}
fn default_keep_alive() -> u64 {
    60
}
fn default_max_connections() -> usize {
    10_000
}
fn default_grace() -> u64 {
    30
}
fn default_render_timeout() -> u64 {
    20
}
fn default_render_memory() -> u64 {
    1024
}
fn default_eid_per_minute() -> u32 {
    20
}
fn default_session_minutes() -> u32 {
    120
}

impl Config {
    /// Reads the file (if any) and the environment (`vars`, normally `std::env::vars()`).
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                text.parse::<toml::Table>().map_err(|e| ConfigError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?
            }
            None => toml::Table::new(),
        };
        for (name, value) in vars {
            if name == "BLANKETT_ENVIRONMENT" {
                table.insert(
                    "environment".into(),
                    toml::Value::String(value.trim().to_lowercase()),
                );
                continue;
            }
            let Some(rest) = name.strip_prefix("BLANKETT__") else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            set_path(&mut table, &keys, env_value(&value)).map_err(|message| ConfigError::Env {
                name: name.clone(),
                message,
            })?;
        }
        let mut config: Config =
            table
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::File {
                    path: file.map_or("configuration".into(), |p| p.display().to_string()),
                    message: e.to_string(),
                })?;
        config.base_dir = file
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok(config)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    pub fn test_eid_enabled(&self) -> bool {
        self.eid
            .test_eid
            .unwrap_or(self.environment == Environment::Development)
    }

    pub fn secure_cookies(&self) -> bool {
        self.cookies.secure.unwrap_or(self.is_production())
    }

    /// The eID provider settings for `engine/eid`.
    pub fn eid_settings(&self) -> EidSettings {
        EidSettings {
            environment: self.environment,
            bankid: self.eid.bankid.clone(),
            test_eid: self.test_eid_enabled(),
        }
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// Refuses what must never run in production: the test eID, the development CA, a
    /// session cookie that may travel over plain HTTP. Every problem at once.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.is_production() {
            if self.test_eid_enabled() {
                problems.push("production: the test eID is enabled (set eid.test_eid = false)");
            }
            match &self.signing.pki_dir {
                None => problems.push(
                    "production: no signing PKI is configured (signing.pki_dir); the development CA is refused",
                ),
                Some(dir) => {
                    let dev = self.data_dir.join("dev-pki");
                    let same = |a: &Path, b: &Path| {
                        a == b
                            || a.canonicalize().ok().is_some_and(|a| {
                                b.canonicalize().ok().is_some_and(|b| a == b)
                            })
                    };
                    if same(&self.base_dir.join(dir), &dev) {
                        problems.push(
                            "production: signing.pki_dir is the development PKI's folder (data_dir/dev-pki); the development CA is refused",
                        );
                    }
                }
            }
            if !self.secure_cookies() {
                problems
                    .push("production: cookies.secure = false is refused (sessions need HTTPS)");
            }
            if self.eid.bankid.is_none() {
                problems.push("production: no eID provider is configured (eid.bankid)");
            }
        }
        if self.limits.body_bytes < 1024 {
            problems.push("limits.body_bytes must be at least 1024");
        }
        if self.limits.upload_bytes < self.limits.body_bytes {
            problems.push("limits.upload_bytes must be at least limits.body_bytes");
        }
        let srv = &self.server;
        for (value, problem) in [
            (
                srv.header_read_timeout_secs,
                "server.header_read_timeout_secs must be 1–3600",
            ),
            (
                srv.body_read_timeout_secs,
                "server.body_read_timeout_secs must be 1–3600",
            ),
            (
                srv.keep_alive_timeout_secs,
                "server.keep_alive_timeout_secs must be 1–3600",
            ),
            (
                srv.shutdown_grace_secs,
                "server.shutdown_grace_secs must be 1–3600",
            ),
            (
                self.render.timeout_secs,
                "render.timeout_secs must be 1–3600",
            ),
        ] {
            if !(1..=3600).contains(&value) {
                problems.push(problem);
            }
        }
        if srv.max_connections < 16 {
            problems.push("server.max_connections must be at least 16");
        }
        if self.render.memory_mb < 256 {
            problems.push("render.memory_mb must be at least 256");
        }
        if self.render.workers == Some(0) {
            problems.push("render.workers must be at least 1");
        }
        let mut problems: Vec<String> = problems.into_iter().map(str::to_owned).collect();
        problems.extend(notify::problems(
            &self.notify,
            &self.webhooks,
            self.is_production(),
        ));
        problems.extend(self.api_key_problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems.join("\n")))
        }
    }

    /// What is wrong with the `[[api_keys]]`: names, hashes, duplicates.
    fn api_key_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, k) in self.api_keys.iter().enumerate() {
            let at = format!("api_keys[{i}]");
            if !valid_api_key_name(&k.name) {
                problems.push(format!(
                    "{at}: name must be 1–64 characters a–z, A–Z, 0–9, `-`, `_` or `.`"
                ));
            }
            if self.api_keys[..i].iter().any(|o| o.name == k.name) {
                problems.push(format!("{at}: the name `{}` is used twice", k.name));
            }
            if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!(
                    "{at}: sha256 must be the 64 hex digits of the key's SHA-256 (`blankett api-key new` prints it)"
                ));
            }
            if self.api_keys[..i]
                .iter()
                .any(|o| o.sha256.eq_ignore_ascii_case(&k.sha256))
            {
                problems.push(format!("{at}: the same key is configured twice"));
            }
            if k.scopes.is_empty() {
                problems.push(format!("{at}: scopes is empty"));
            }
            if k.flows.as_ref().is_some_and(Vec::is_empty) {
                problems.push(format!(
                    "{at}: flows is empty (leave it out to allow every flow)"
                ));
            }
        }
        problems
    }

    /// The units a person handles cases for, if they are a case worker.
    pub fn case_worker_units(&self, who: &Personnummer) -> Option<&[String]> {
        if self.case_workers.is_empty() && self.environment == Environment::Development {
            return (who.as_str() == "197701172392").then_some(&[][..]);
        }
        self.case_workers
            .iter()
            .find(|c| &c.personnummer == who)
            .map(|c| c.units.as_slice())
    }
}

/// An environment value: a TOML literal when it parses as one (`false`, `8080`, `["a"]`),
/// otherwise a string.
fn env_value(v: &str) -> toml::Value {
    format!("v = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(v.to_owned()))
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    match keys {
        [] => Err("empty key".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("`{first}` is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
    }

    #[test]
    fn defaults_are_a_development_server_on_sqlite_with_the_test_eid() {
        let c = Config::load(None, vars(&[])).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.starts_with("sqlite://"));
        assert!(c.test_eid_enabled());
        assert!(!c.secure_cookies());
        c.check().unwrap();
    }

    #[test]
    fn the_example_production_configuration_is_read_and_passes_the_check() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/blankett.toml");
        let c = Config::load(Some(&file), vars(&[])).unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert!(c.database_url.starts_with("postgres://"));
        assert!(!c.test_eid_enabled());
        assert!(c.secure_cookies());
        assert!(c.eid.bankid.is_some());
        assert_eq!(c.case_workers.len(), 2);
        assert_eq!(c.case_workers[0].units, ["socialnamnden"]);
        assert!(c.notify.smtp.is_some() && c.notify.sms.is_some());
        assert_eq!(c.webhooks.len(), 1);
        assert_eq!(c.directory.len(), 1);
        c.check().unwrap();
    }

    #[test]
    fn production_refuses_the_development_mailbox_and_weak_webhooks() {
        let c = Config::load(
            None,
            vars(&[
                ("BLANKETT_ENVIRONMENT", "production"),
                (
                    "BLANKETT__WEBHOOKS",
                    "[{name = \"a\", url = \"http://x.test/h\", secret = \"short\", events = [\"case.signd\"]}]",
                ),
            ]),
        )
        .unwrap();
        let err = c.check().unwrap_err().to_string();
        assert!(err.contains("no SMTP server is configured"), "{err}");
        assert!(
            err.contains("webhooks.a: the secret must be at least 16"),
            "{err}"
        );
        assert!(
            err.contains("webhooks.a: the URL must start with https://"),
            "{err}"
        );
        assert!(err.contains("unknown event `case.signd`"), "{err}");
    }

    #[test]
    fn database_urls_lose_only_their_password() {
        for (url, shown) in [
            (
                "sqlite://blankett.db?mode=rwc",
                "sqlite://blankett.db?mode=rwc",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://u:p%40ss@h:5432/db",
                "postgres://u:[redacted]@h:5432/db",
            ),
            (
                "postgres://h/db?user=u&password=secret&sslmode=require",
                "postgres://h/db?user=u&password=[redacted]&sslmode=require",
            ),
            (
                "postgres://u:pw@h/db?x=@y",
                "postgres://u:[redacted]@h/db?x=@y",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn secrets_are_read_but_never_shown_by_debug() {
        let c = Config::load(
            None,
            vars(&[
                (
                    "BLANKETT__WEBHOOKS",
                    "[{name = \"a\", url = \"https://x.test/h\", secret = \"webhook-secret-0123456789\"}]",
                ),
                (
                    "BLANKETT__NOTIFY__SMTP",
                    "{host = \"smtp.test\", from = \"a@b.test\", username = \"u\", password = \"smtp-password-42\"}",
                ),
                (
                    "BLANKETT__NOTIFY__SMS",
                    "{url = \"https://sms.test\", headers = {Authorization = \"Bearer sms-token-77\"}}",
                ),
                (
                    "BLANKETT__EID__BANKID",
                    "{url = \"https://bankid.test/\", server_ca = \"ca.pem\", client_p12 = \"rp.p12\", client_p12_password = \"p12-password-9\"}",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.webhooks[0].secret.expose(), "webhook-secret-0123456789");
        let c = Config {
            database_url: "postgres://blankett:db-pass-31@db.test:5432/blankett?sslmode=require"
                .into(),
            ..c
        };
        let shown = format!("{c:?} {:?}", c.eid_settings());
        for secret in [
            "webhook-secret-0123456789",
            "smtp-password-42",
            "sms-token-77",
            "p12-password-9",
            "db-pass-31",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("bankid.test"), "{shown}");
        assert!(
            shown.contains("postgres://blankett:[redacted]@db.test:5432/blankett?sslmode=require"),
            "{shown}"
        );
    }

    #[test]
    fn environment_overrides_nested_keys_with_typed_values() {
        let c = Config::load(
            None,
            vars(&[
                ("BLANKETT__DATABASE_URL", "postgres://x@h/db"),
                ("BLANKETT__EID__TEST_EID", "false"),
                ("BLANKETT__LIMITS__BODY_BYTES", "4096"),
                ("UNRELATED", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.database_url, "postgres://x@h/db");
        assert!(!c.test_eid_enabled());
        assert_eq!(c.limits.body_bytes, 4096);
    }

    #[test]
    fn production_refuses_the_test_eid_the_development_ca_and_insecure_cookies() {
        let c = Config::load(
            None,
            vars(&[
                ("BLANKETT_ENVIRONMENT", "production"),
                ("BLANKETT__EID__TEST_EID", "true"),
                ("BLANKETT__COOKIES__SECURE", "false"),
            ]),
        )
        .unwrap();
        let msg = c.check().unwrap_err().to_string();
        assert!(msg.contains("test eID"), "{msg}");
        assert!(msg.contains("development CA"), "{msg}");
        assert!(msg.contains("cookies.secure"), "{msg}");
    }

    #[test]
    fn api_keys_are_read_from_the_environment_and_checked() {
        let hash = "a".repeat(64);
        let c = Config::load(
            None,
            vars(&[(
                "BLANKETT__API_KEYS",
                &format!(
                    "[{{name = \"erp\", sha256 = \"{hash}\", scopes = [\"cases:read\", \"documents:read\"], flows = [\"avtal\"]}}]"
                ),
            )]),
        )
        .unwrap();
        assert_eq!(c.api_keys.len(), 1);
        assert_eq!(
            c.api_keys[0].scopes,
            [ApiScope::CasesRead, ApiScope::DocumentsRead]
        );
        c.check().unwrap();

        let bad = Config::load(
            None,
            vars(&[(
                "BLANKETT__API_KEYS",
                "[{name = \"a b\", sha256 = \"xyz\", scopes = []}, {name = \"a b\", sha256 = \"xyz\", scopes = [\"cases:read\"], flows = []}]",
            )]),
        )
        .unwrap();
        let msg = bad.check().unwrap_err().to_string();
        for needle in [
            "name must be",
            "used twice",
            "sha256 must be",
            "scopes is empty",
            "flows is empty",
        ] {
            assert!(msg.contains(needle), "{needle}: {msg}");
        }
        let unknown = Config::load(
            None,
            vars(&[(
                "BLANKETT__API_KEYS",
                "[{name = \"x\", sha256 = \"\", scopes = [\"cases:delete\"]}]",
            )]),
        );
        assert!(unknown.is_err(), "an unknown scope is refused");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Config::load(None, vars(&[("BLANKETT__NO_SUCH_KEY", "1")])).unwrap_err();
        assert!(e.to_string().contains("no_such_key"), "{e}");
    }
}
