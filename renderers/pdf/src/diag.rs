//! Typst diagnostics as Blankett diagnostics: `file:line:col` in the template.

use blankett_core::{Diagnostic, Pos, Severity};
use typst::World;
use typst::WorldExt;
use typst::diag::{self, SourceDiagnostic};
use typst::syntax::DiagSpan;

use crate::world::{DocWorld, PREAMBLE_LINES, package_of};

/// Converts one diagnostic. When it points into Blankett's own library (a helper called with
/// a wrong argument), the nearest call site in the flow's files is reported instead.
pub(crate) fn convert(world: &DocWorld<'_>, d: &SourceDiagnostic) -> Diagnostic {
    let severity = match d.severity {
        diag::Severity::Error => Severity::Error,
        diag::Severity::Warning => Severity::Warning,
    };
    let mut message = d.message.to_string();
    for hint in &d.hints {
        message.push_str("; hint: ");
        message.push_str(&hint.v);
    }
    let in_project = |span: DiagSpan| span.id().filter(|id| package_of(*id).is_none());
    let span = if in_project(d.span).is_some() {
        Some(d.span)
    } else {
        d.trace
            .iter()
            .map(|t| DiagSpan::from(t.span))
            .find(|s| in_project(*s).is_some())
            .or(Some(d.span))
    };
    let located = span.and_then(|span| {
        let id = span.id()?;
        let range = world.range(span)?;
        let source = world.source(id).ok()?;
        let (line, col) = source.lines().byte_to_line_column(range.start)?;
        // The template's own lines come after the preamble the renderer puts before it.
        let (line, col) = if id == world.main() {
            match line.checked_sub(PREAMBLE_LINES) {
                Some(l) => (l, col),
                None => (0, 0),
            }
        } else {
            (line, col)
        };
        Some((
            world.display_path(id),
            Pos {
                line: line + 1,
                col: col + 1,
            },
        ))
    });
    let (file, pos) = located.unwrap_or_else(|| (world.display_path(world.main()), Pos::START));
    Diagnostic {
        file,
        pos,
        severity,
        message,
    }
}
