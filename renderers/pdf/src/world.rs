//! The Typst `World` of one render.
//!
//! Files come from memory only: the flow's folder as pinned by its content hash, the shared
//! includes (`/_shared/…`), and the package `@blankett/doc:1.0.0` whose `case.json` is this
//! render's data. Fonts are the bundled ones; `today` is the engine's clock.

use std::collections::HashMap;
use std::sync::Mutex;

use blankett_core::document::{RenderError, RenderRequest};
use blankett_core::{Diagnostic, Severity};
use chrono::Datelike;
use typst::diag::{FileError, FileResult, PackageError};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::package::PackageSpec;
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, World};

use crate::{LIBRARY_IMPORT, Shared, at_start};

const LIB_TYP: &str = include_str!("../typst/lib.typ");

/// A line put before every template: a run of more than 30 characters without a space (a long
/// reference, an address, a word typed without spaces) may break between any two of its
/// characters, so that what a person typed always stays inside its box, in a paragraph and in a
/// table cell. Each character goes into its own inline box, so nothing is added to the text
/// (copying or extracting it gives exactly what was typed), and ordinary words are never split.
/// One line: diagnostics subtract it again ([`PREAMBLE_LINES`]).
pub(crate) const PREAMBLE: &str =
    "#show regex(\"\\\\S{31,}\"): it => it.text.clusters().map(c => box(c)).join()\n";

/// How many lines [`PREAMBLE`] adds before the template's first line.
pub(crate) const PREAMBLE_LINES: usize = 1;
const LIB_TOML: &str = include_str!("../typst/typst.toml");

pub(crate) struct DocWorld<'a> {
    shared: &'a Shared,
    req: &'a RenderRequest,
    main: FileId,
    package: PackageSpec,
    data: Bytes,
    today: Option<Datetime>,
    sources: Mutex<HashMap<FileId, Source>>,
}

impl<'a> DocWorld<'a> {
    pub(crate) fn new(shared: &'a Shared, req: &'a RenderRequest) -> Result<Self, RenderError> {
        let bad_path = |e: String| {
            RenderError::Template(vec![at_start(
                format!("{}/{}", req.dir, req.template),
                Severity::Error,
                format!("the template path cannot be used: {e}"),
            )])
        };
        let vpath =
            VirtualPath::new(format!("/{}", req.template)).map_err(|e| bad_path(e.to_string()))?;
        let main = FileId::new(RootedPath::new(VirtualRoot::Project, vpath));
        let package: PackageSpec = LIBRARY_IMPORT
            .parse()
            .map_err(|e| bad_path(format!("{e}")))?;
        let data = serde_json::to_vec(&req.data).map_err(|e| RenderError::Export(e.to_string()))?;
        // The template's `today` is the Swedish date.
        let n = req.now.local();
        Ok(DocWorld {
            shared,
            req,
            main,
            package,
            data: Bytes::new(data),
            today: Datetime::from_ymd(n.year(), n.month() as u8, n.day() as u8),
            sources: Mutex::new(HashMap::new()),
        })
    }

    /// The display path of a file: `flows/lvu-6/document.typ`, `@blankett/doc:1.0.0/lib.typ`.
    pub(crate) fn display_path(&self, id: FileId) -> String {
        let rel = id
            .vpath()
            .get_with_slash()
            .trim_start_matches('/')
            .to_owned();
        match package_of(id) {
            None => format!("{}/{rel}", self.req.dir.trim_end_matches('/')),
            Some(spec) => format!("{spec}/{rel}"),
        }
    }

    /// A diagnostic about the template as a whole (at its first line).
    pub(crate) fn template_diagnostic(&self, severity: Severity, message: String) -> Diagnostic {
        at_start(self.display_path(self.main), severity, message)
    }

    fn bytes(&self, id: FileId) -> FileResult<Bytes> {
        let rel = id.vpath().get_with_slash().trim_start_matches('/');
        match package_of(id) {
            None => self
                .req
                .files
                .get(rel)
                .map(|b| Bytes::new(b.clone()))
                .ok_or_else(|| FileError::NotFound(rel.into())),
            Some(spec) if *spec == self.package => match rel {
                "typst.toml" => Ok(Bytes::from_string(LIB_TOML)),
                "lib.typ" => Ok(Bytes::from_string(LIB_TYP)),
                "case.json" => Ok(self.data.clone()),
                _ => Err(FileError::NotFound(rel.into())),
            },
            // No other packages: rendering never reaches the network.
            Some(spec) => Err(FileError::Package(PackageError::NotFound(spec.clone()))),
        }
    }
}

impl World for DocWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.shared.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.shared.book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if let Ok(cache) = self.sources.lock()
            && let Some(s) = cache.get(&id)
        {
            return Ok(s.clone());
        }
        let bytes = self.bytes(id)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| FileError::InvalidUtf8)?;
        let text = if id == self.main {
            format!("{PREAMBLE}{text}")
        } else {
            text.to_owned()
        };
        let source = Source::new(id, text);
        if let Ok(mut cache) = self.sources.lock() {
            cache.insert(id, source.clone());
        }
        Ok(source)
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.bytes(id)
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.shared.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        self.today
    }
}

/// The package a file belongs to; `None` for the flow's own files.
pub(crate) fn package_of(id: FileId) -> Option<&'static PackageSpec> {
    match id.get().root() {
        VirtualRoot::Project => None,
        VirtualRoot::Package(spec) => Some(spec),
    }
}
