//! The archive export of a finished case (`blankett export`): one folder per case, in the
//! manner of Open ePlatform's XML export, for an e-archive.
//!
//! | file | what it holds |
//! |---|---|
//! | `document.pdf` | the newest document version: the signed PDF/A (B-LTA after the last signer) |
//! | `answers.json` | the answers as stored, by step id |
//! | `answers.xml` | the answers as XML (`blankett_core::export::answers_xml`) |
//! | `answers.xsd` | the XML Schema of `answers.xml`, generated from the case's pinned flow |
//! | `events.json` | the case's event log, oldest first (time, kind, role, personnummer, comment) |
//! | `evidence.json` | the eID evidence of each signature (provider data in base64) |
//! | `verification.txt`, `verification.json` | the report of `blankett verify` on `document.pdf` |
//! | `files/<n>-<name>` | each uploaded file the answers name (`n` from 1, in the order of the flow's fields; the name made safe) |
//! | `manifest.json` | case, flow (id, revision, content hash), time of export, each file's name, size and SHA-256, which answer each uploaded file is, and the PDF/A `document.pdf` declares (`null`: none) |
//!
//! The case's times in `manifest.json`, `answers.xml` and `events.json` are Swedish time, as
//! the archive's readers count them (the format is unchanged since `blankett-export/1`);
//! `exported_at` is UTC.
//!
//! Only completed (fully signed) cases are exported. The package is written into a new folder
//! beside the target and renamed into place when complete, so a failed export leaves nothing
//! half-written; an existing target must be an empty folder.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use blankett_core::Flow;
use blankett_core::case::{Case, Status};
use blankett_core::export::{answers_xml, namespace, status_name, xml_schema};
use blankett_core::store::{CaseFilter, FileStore, Store, StoreError};

use crate::pinned::flow_from_version;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Why a case was not exported. Nothing was written. Never holds personal data (case ids
/// are random and case numbers are registry numbers).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no case has the id or number `{0}`")]
    UnknownCase(String),
    #[error(
        "case {number} is {status}, not completed: only completed (fully signed) cases are exported"
    )]
    NotFinished {
        number: String,
        status: &'static str,
    },
    #[error("case {0} has no document")]
    NoDocument(String),
    #[error(
        "the stored document of case {0} does not match the SHA-256 recorded for it; not exported"
    )]
    DocumentMismatch(String),
    #[error("case {number}: the file answering `{field}` is not stored; not exported")]
    FileMissing { number: String, field: String },
    #[error(
        "case {number}: the stored file answering `{field}` does not match the SHA-256 taken at upload; not exported"
    )]
    FileMismatch { number: String, field: String },
    #[error(
        "the flow version case {number} is pinned to ({flow_id}, {content_hash}) is neither stored nor among the definitions"
    )]
    FlowMissing {
        number: String,
        flow_id: String,
        content_hash: String,
    },
    #[error("{0} exists and is not an empty folder: give a new or empty folder")]
    OutDirNotEmpty(PathBuf),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("the document cannot be verified: {0}")]
    Verify(String),
    #[error("trust anchors: {0}")]
    Trust(String),
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Other(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |e| ExportError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// What `manifest.json` says about the package.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// The package format: `blankett-export/1`.
    pub format: &'static str,
    pub case: ManifestCase,
    pub flow: ManifestFlow,
    /// When the package was made (UTC, RFC 3339).
    pub exported_at: String,
    /// The verifier's overall verdict on `document.pdf` (details in `verification.json`).
    pub verification: ManifestVerification,
    /// Every file of the package except `manifest.json` itself.
    pub files: Vec<ManifestFile>,
    /// The uploaded files the answers name, and where each is in the package.
    pub attachments: Vec<ManifestAttachment>,
    /// The PDF/A `document.pdf` declares (`PDF/A-2B`), or `null`: a document uploaded by a
    /// flow with `require_pdfa: false` may be no PDF/A, and the archive is told so here.
    pub document_pdfa: Option<String>,
}

/// An uploaded file in the package.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestAttachment {
    /// The answer it is (`underlag.kvitto`); `answers.xml` holds the same file's `id`.
    pub field: String,
    pub id: String,
    /// The name as uploaded (made safe).
    pub name: String,
    /// Its type, judged by its content.
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// Its path in the package (`files/1-kvitto.pdf`).
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestCase {
    pub id: String,
    pub number: String,
    pub status: &'static str,
    /// Local (Swedish) civil time, as the case records it.
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestFlow {
    pub id: String,
    pub revision: u32,
    /// SHA-256 of the flow version the case is pinned to.
    pub content_hash: String,
    /// The XML namespace of `answers.xml`.
    pub namespace: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestVerification {
    /// Every signature intact, valid and trusted, and nothing but allowed updates after them.
    pub valid: bool,
    pub signatures: usize,
    pub all_valid: bool,
    pub modified_after_last_signature: bool,
    /// The verdict line of `verification.txt`.
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// One signature's eID evidence as written to `evidence.json`.
#[derive(Serialize)]
struct EvidenceOut<'a> {
    field: &'a str,
    personnummer: &'a str,
    /// SHA-256 of the bytes the signer was shown and signed.
    signed_sha256: &'a str,
    provider: &'a str,
    completed_at: String,
    device_ip: Option<&'a str>,
    attributes: &'a std::collections::BTreeMap<String, String>,
    /// The provider's signature (BankID: the XML signature document), base64.
    signature_base64: String,
    /// The OCSP response for the signer's eID certificate (DER), base64; empty if none.
    ocsp_response_base64: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn json_bytes(value: &impl Serialize) -> Result<Vec<u8>, ExportError> {
    let mut v = serde_json::to_vec_pretty(value).map_err(|e| ExportError::Other(e.to_string()))?;
    v.push(b'\n');
    Ok(v)
}

/// The case with this id, or else with this case number.
pub async fn find_case(store: &dyn Store, id_or_number: &str) -> Result<Case, ExportError> {
    let wanted = id_or_number.trim();
    if let Some(case) = store.get_case(wanted).await? {
        return Ok(case);
    }
    let all = store
        .list_cases(&CaseFilter {
            limit: u32::MAX,
            ..CaseFilter::default()
        })
        .await?;
    match all.iter().find(|c| c.number == wanted) {
        Some(summary) => store
            .get_case(&summary.id)
            .await?
            .ok_or_else(|| ExportError::UnknownCase(wanted.to_owned())),
        None => Err(ExportError::UnknownCase(wanted.to_owned())),
    }
}

/// The flow version `case` is pinned to: one of `current` (the definitions as loaded now) if
/// its content hash matches, else the version the store kept when a server first saw it.
pub async fn pinned_flow(
    store: &dyn Store,
    case: &Case,
    current: &[Flow],
) -> Result<Flow, ExportError> {
    if let Some(f) = current
        .iter()
        .find(|f| f.id == case.flow_id && f.content_hash == case.flow_hash)
    {
        return Ok(f.clone());
    }
    store
        .flow_version(&case.flow_hash)
        .await?
        .and_then(|v| flow_from_version(&v, &case.flow_id, &case.flow_hash))
        .ok_or_else(|| ExportError::FlowMissing {
            number: case.number.clone(),
            flow_id: case.flow_id.clone(),
            content_hash: case.flow_hash.to_string(),
        })
}

/// Refuses a target that exists and is anything but an empty folder.
fn check_target(out_dir: &Path) -> Result<(), ExportError> {
    match std::fs::symlink_metadata(out_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(out_dir)(e)),
        Ok(m) if m.is_dir() => {
            let mut entries = std::fs::read_dir(out_dir).map_err(io(out_dir))?;
            if entries.next().is_some() {
                Err(ExportError::OutDirNotEmpty(out_dir.to_path_buf()))
            } else {
                Ok(())
            }
        }
        Ok(_) => Err(ExportError::OutDirNotEmpty(out_dir.to_path_buf())),
    }
}

/// Exports the completed case `case_id`, pinned to `flow`, into the folder `out_dir` (which
/// must not exist or be empty). `trust_pem` are the PEM certificates the verifier trusts
/// (as `blankett verify --trust`); `now` is the verifier's clock and the time of export.
pub async fn export_case(
    store: &dyn Store,
    file_store: &dyn FileStore,
    flow: &Flow,
    case_id: &str,
    trust_pem: &[Vec<u8>],
    now: DateTime<Utc>,
    out_dir: &Path,
) -> Result<Manifest, ExportError> {
    check_target(out_dir)?;
    let case = store
        .get_case(case_id)
        .await?
        .ok_or_else(|| ExportError::UnknownCase(case_id.to_owned()))?;
    if case.status != Status::Completed {
        return Err(ExportError::NotFinished {
            number: case.number.clone(),
            status: status_name(case.status),
        });
    }
    if flow.id != case.flow_id || flow.content_hash != case.flow_hash {
        return Err(ExportError::FlowMissing {
            number: case.number.clone(),
            flow_id: case.flow_id.clone(),
            content_hash: case.flow_hash.to_string(),
        });
    }
    let document = store
        .latest_document(&case.id)
        .await?
        .ok_or_else(|| ExportError::NoDocument(case.number.clone()))?;
    let digest = sha256_hex(&document.bytes);
    if digest != document.sha256
        || case
            .document_sha256
            .as_ref()
            .is_some_and(|recorded| *recorded != digest)
    {
        return Err(ExportError::DocumentMismatch(case.number.clone()));
    }
    let events: Vec<serde_json::Value> = store
        .events(&case.id)
        .await?
        .iter()
        .map(|e| {
            // Swedish time, as the format has always had it.
            let mut v = serde_json::to_value(e)?;
            v["at"] = serde_json::to_value(e.at.local())?;
            Ok(v)
        })
        .collect::<Result<_, serde_json::Error>>()
        .map_err(|e| ExportError::Other(e.to_string()))?;
    let evidence = store.signature_evidence(&case.id).await?;

    let mut anchors = Vec::new();
    for pem in trust_pem {
        anchors.extend(
            blankett_pades::pki::certificates_from_pem(pem)
                .map_err(|e| ExportError::Trust(e.to_string()))?,
        );
    }
    let report = blankett_pades::verify::verify_at(&document.bytes, &anchors, now)
        .map_err(|e| ExportError::Verify(e.to_string()))?;
    let report_text = report.to_text();
    let verdict = report_text
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();

    let evidence_out: Vec<EvidenceOut<'_>> = evidence
        .iter()
        .map(|e| EvidenceOut {
            field: &e.field,
            personnummer: e.personnummer.as_str(),
            signed_sha256: &e.signed_sha256,
            provider: &e.evidence.provider,
            completed_at: e
                .evidence
                .completed_at
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            device_ip: e.evidence.device_ip.as_deref(),
            attributes: &e.evidence.attributes,
            signature_base64: base64::engine::general_purpose::STANDARD
                .encode(&e.evidence.signature),
            ocsp_response_base64: base64::engine::general_purpose::STANDARD
                .encode(&e.evidence.ocsp_response),
        })
        .collect();

    // The uploaded files the answers name, checked against the digest taken at upload.
    let mut uploaded: Vec<(String, Vec<u8>)> = Vec::new();
    let mut attachments = Vec::new();
    for (i, (field, id)) in crate::files::answered_files(flow, &case.answers)
        .into_iter()
        .enumerate()
    {
        let (meta, bytes) = file_store
            .file(case.id.as_str(), &id)
            .await?
            .ok_or_else(|| ExportError::FileMissing {
                number: case.number.clone(),
                field: field.clone(),
            })?;
        if sha256_hex(&bytes) != meta.sha256.as_str() {
            return Err(ExportError::FileMismatch {
                number: case.number.clone(),
                field,
            });
        }
        let path = format!(
            "files/{}-{}",
            i + 1,
            blankett_core::files::safe_name(&meta.name)
        );
        attachments.push(ManifestAttachment {
            field,
            id: meta.id.clone(),
            name: meta.name.clone(),
            content_type: meta.content_type.clone(),
            size: meta.size,
            sha256: meta.sha256.to_string(),
            path: path.clone(),
        });
        uploaded.push((path, bytes));
    }

    let document_pdfa = blankett_pades::upload::declared_pdfa(&document.bytes);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("document.pdf", document.bytes),
        ("answers.json", json_bytes(&case.answers)?),
        ("answers.xml", answers_xml(flow, &case).into_bytes()),
        ("answers.xsd", xml_schema(flow).into_bytes()),
        ("events.json", json_bytes(&events)?),
        ("evidence.json", json_bytes(&evidence_out)?),
        ("verification.txt", report_text.into_bytes()),
        ("verification.json", json_bytes(&report)?),
    ];
    files.extend(uploaded.iter().map(|(p, b)| (p.as_str(), b.clone())));
    let manifest = Manifest {
        format: "blankett-export/1",
        case: ManifestCase {
            id: case.id.to_string(),
            number: case.number.clone(),
            status: status_name(case.status),
            created_at: case
                .created_at
                .local()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
            updated_at: case
                .updated_at
                .local()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
        },
        flow: ManifestFlow {
            id: flow.id.clone(),
            revision: flow.def.revision,
            content_hash: flow.content_hash.to_string(),
            namespace: namespace(flow),
        },
        exported_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        verification: ManifestVerification {
            valid: !report.signatures.is_empty()
                && report.all_valid
                && !report.modified_after_last_signature,
            signatures: report.signatures.len(),
            all_valid: report.all_valid,
            modified_after_last_signature: report.modified_after_last_signature,
            verdict,
        },
        files: files
            .iter()
            .map(|(name, bytes)| ManifestFile {
                name: (*name).to_owned(),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect(),
        attachments,
        document_pdfa,
    };
    let manifest_bytes = json_bytes(&manifest)?;
    write_package(
        out_dir,
        files
            .iter()
            .map(|(n, b)| (*n, b.as_slice()))
            .chain([("manifest.json", manifest_bytes.as_slice())]),
    )?;
    Ok(manifest)
}

/// Writes the files into a new folder beside `out_dir`, then renames it to `out_dir`. On any
/// failure the new folder is removed and `out_dir` is as it was.
fn write_package<'a>(
    out_dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), ExportError> {
    let name = out_dir
        .file_name()
        .ok_or_else(|| ExportError::Other(format!("{}: not a folder name", out_dir.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = parent.join(format!(".{name}.partial-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&temp).map_err(io(&temp))?;
    let result = fill_and_rename(&temp, out_dir, files);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result
}

fn fill_and_rename<'a>(
    temp: &Path,
    out_dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), ExportError> {
    for (file, bytes) in files {
        let path = temp.join(file);
        if let Some(dir) = path.parent().filter(|d| !d.exists()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let mut f = std::fs::File::create(&path).map_err(io(&path))?;
        std::io::Write::write_all(&mut f, bytes).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
    }
    // Renaming onto an empty folder replaces it (POSIX); elsewhere, remove it first.
    if std::fs::rename(temp, out_dir).is_err() {
        check_target(out_dir)?;
        if out_dir.exists() {
            std::fs::remove_dir(out_dir).map_err(io(out_dir))?;
        }
        std::fs::rename(temp, out_dir).map_err(io(out_dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn export_target_must_be_new_or_an_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_target(&dir.path().join("new")).is_ok());
        assert!(check_target(dir.path()).is_ok(), "empty");
        std::fs::write(dir.path().join("file"), "x").unwrap();
        assert!(matches!(
            check_target(dir.path()),
            Err(ExportError::OutDirNotEmpty(_))
        ));
        assert!(matches!(
            check_target(&dir.path().join("file")),
            Err(ExportError::OutDirNotEmpty(_))
        ));
    }

    #[test]
    fn export_package_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pkg");
        write_package(&out, [("a.txt", &b"a"[..]), ("b.txt", &b"b"[..])]).unwrap();
        assert_eq!(names(&out), ["a.txt", "b.txt"]);
        assert_eq!(names(dir.path()), ["pkg"], "no temporary folder is left");

        // The target filled up after the check: the rename fails, the target is untouched
        // and the temporary folder is removed.
        let taken = dir.path().join("taken");
        std::fs::create_dir(&taken).unwrap();
        std::fs::write(taken.join("mine"), "x").unwrap();
        let err = write_package(&taken, [("a.txt", &b"a"[..])]).unwrap_err();
        assert!(matches!(err, ExportError::OutDirNotEmpty(_)), "{err}");
        assert_eq!(names(&taken), ["mine"]);
        assert_eq!(names(dir.path()), ["pkg", "taken"]);

        // A file that cannot be written (its folder is a file) leaves nothing.
        let err = write_package(
            &dir.path().join("bad"),
            [("a.txt", &b"a"[..]), ("a.txt/x.txt", &b"x"[..])],
        );
        assert!(matches!(err, Err(ExportError::Io { .. })));
        assert_eq!(names(dir.path()), ["pkg", "taken"]);
    }
}
