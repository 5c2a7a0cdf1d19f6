//! Between the language crate's terms (source names, spans, diagnostics) and
//! the protocol's (URIs, ranges, LSP diagnostics).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range, Url};
use serde_json::{json, Value};
use tpt_lang::diagnostic::Severity;
use tpt_lang::source::{SourceMap, Span};
use tpt_lang::Diagnostic;

use crate::line_index::LineIndex;
use crate::stdlib_files::StdlibFiles;

/// Paths of documents and their URIs. A URI that is not a `file:` URI (an
/// unsaved buffer) gets a path of its own, so that it can still be analysed.
#[derive(Default)]
pub struct Paths {
    other: HashMap<PathBuf, Url>,
}

impl Paths {
    pub fn path(&mut self, uri: &Url) -> PathBuf {
        if uri.scheme() == "file" {
            if let Ok(p) = uri.to_file_path() {
                return p;
            }
        }
        let path = PathBuf::from(format!(
            "/<{}>/{}",
            uri.scheme(),
            uri.path().trim_start_matches('/')
        ));
        self.other.insert(path.clone(), uri.clone());
        path
    }

    pub fn uri(&self, path: &Path) -> Option<Url> {
        if let Some(u) = self.other.get(path) {
            return Some(u.clone());
        }
        // A virtual document of the standard library, before its URI was seen.
        if let Some(uri) = crate::stdlib_files::virtual_uri(path) {
            return Some(uri);
        }
        Url::from_file_path(path).ok()
    }
}

/// Locations of spans: source names are absolute paths, or `std/*.tpt`.
pub struct Locator<'a> {
    pub sources: &'a SourceMap,
    pub paths: &'a Paths,
    pub stdlib: &'a mut StdlibFiles,
}

impl Locator<'_> {
    pub fn uri_of(&mut self, span: Span) -> Option<Url> {
        let file = self.sources.get(span.file)?;
        let path = self.stdlib.path_of(&file.name)?;
        self.paths.uri(&path)
    }

    pub fn range(&self, span: Span) -> Option<Range> {
        let file = self.sources.get(span.file)?;
        Some(LineIndex::of(file).range(span.start as usize, span.end as usize))
    }

    pub fn location(&mut self, span: Span) -> Option<Location> {
        Some(Location::new(self.uri_of(span)?, self.range(span)?))
    }
}

/// An LSP diagnostic of `d`, shown in the file of its primary span. The code is
/// the stable `E0xxx`; the help follows the message; its fixes travel in
/// `data.fixes` for the code action request.
pub fn diagnostic(d: &Diagnostic, loc: &mut Locator<'_>, fallback: Range) -> lsp_types::Diagnostic {
    let primary = d.primary_span();
    let range = primary.and_then(|s| loc.range(s)).unwrap_or(fallback);
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .skip(1)
        .filter_map(|l| {
            Some(DiagnosticRelatedInformation {
                location: loc.location(l.span)?,
                message: if l.message.is_empty() {
                    "here".to_string()
                } else {
                    l.message.clone()
                },
            })
        })
        .collect();
    let data = fixes(d, loc).map(|fixes| json!({ "fixes": fixes }));
    lsp_types::Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        source: Some("tpt".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        data,
        ..Default::default()
    }
}

/// The quick fixes of a diagnostic, as the code action request reads them
/// back from its `data`: `[{ title, preferred, edits: [{ uri, range, newText }] }]`.
/// A fix with an edit that cannot be placed (in no file) is left out.
fn fixes(d: &Diagnostic, loc: &mut Locator<'_>) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    'fixes: for f in &d.fixes {
        let mut edits = Vec::new();
        for (span, text) in &f.edits {
            let (Some(uri), Some(range)) = (loc.uri_of(*span), loc.range(*span)) else {
                continue 'fixes;
            };
            edits.push(json!({ "uri": uri, "range": range, "newText": text }));
        }
        out.push(json!({ "title": f.title, "preferred": f.preferred, "edits": edits }));
    }
    (!out.is_empty()).then_some(out)
}
