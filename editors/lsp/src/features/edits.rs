//! Edits the server proposes: formatting and range formatting (exactly `tpt
//! fmt`, as edits of the changed lines only), and the quick fixes the checker
//! attaches to diagnostics (did you mean, add the missing fields, unquote a
//! number, add the import, declare the param).

use std::collections::HashMap;

use lsp_server::ErrorCode;
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, DocumentFormattingParams,
    DocumentRangeFormattingParams, Range, TextEdit, Url, WorkspaceEdit,
};
use serde_json::Value;
use tpt_lang::source::FileId;

use crate::line_index::{overlaps, LineIndex};
use crate::server::{Answer, Failure, Server};

pub fn formatting(server: &mut Server, p: DocumentFormattingParams) -> Answer {
    format_edits(server, &p.text_document.uri, None)
}

/// Formats the whole file (`tpt fmt` decides the layout of a whole file) and
/// answers the edits that touch `range`.
pub fn range_formatting(server: &mut Server, p: DocumentRangeFormattingParams) -> Answer {
    format_edits(server, &p.text_document.uri, Some(p.range))
}

/// The edits that make the file what `tpt fmt` makes of it (those touching
/// `only`, when given), as few and as small as the changed lines allow.
fn format_edits(server: &mut Server, uri: &Url, only: Option<Range>) -> Answer {
    let Some((a, file)) = server.file(uri) else {
        return Ok(Value::Null);
    };
    let Some(source) = a.program.sources.get(file) else {
        return Ok(Value::Null);
    };
    let text = &source.text;
    match tpt_lang::fmt::format_source(FileId(0), text) {
        Ok(formatted) => {
            let edits: Vec<TextEdit> = line_edits(text, &formatted, &LineIndex::of(source))
                .into_iter()
                .filter(|e| only.is_none_or(|r| overlaps(&e.range, &r)))
                .collect();
            Ok(serde_json::to_value(edits).unwrap_or(Value::Null))
        }
        Err(_) => Err(Failure::new(
            ErrorCode::RequestFailed,
            "cannot format a file with syntax errors: fix the errors shown first",
        )),
    }
}

/// The edits that turn `old` into `new`: one per run of changed lines, so
/// that an editor keeps its marks, folds and cursor on the lines that stay.
/// Ranges are in `old` (`index` is its line index), as the protocol applies
/// all edits to the text before them.
fn line_edits(old: &str, new: &str, index: &LineIndex<'_>) -> Vec<TextEdit> {
    let diff = similar::TextDiff::from_lines(old, new);
    let old_lines = diff.old_slices();
    let new_lines = diff.new_slices();
    // Where each line of `old` starts, and the end.
    let mut starts = Vec::with_capacity(old_lines.len() + 1);
    let mut at = 0;
    for line in old_lines {
        starts.push(at);
        at += line.len();
    }
    starts.push(at);
    let mut edits: Vec<TextEdit> = Vec::new();
    for op in diff.ops() {
        let (o, n) = (op.old_range(), op.new_range());
        if matches!(op.tag(), similar::DiffTag::Equal) {
            continue;
        }
        let start = starts.get(o.start).copied().unwrap_or(old.len());
        let end = starts.get(o.end).copied().unwrap_or(old.len());
        let text: String = new_lines.get(n).map(|l| l.concat()).unwrap_or_default();
        // Adjacent changes (a deletion next to an insertion) are one edit.
        match edits.last_mut() {
            Some(last) if last.range.end == index.position(start) => {
                last.range.end = index.position(end);
                last.new_text.push_str(&text);
            }
            _ => edits.push(TextEdit::new(index.range(start, end), text)),
        }
    }
    edits
}

/// The quick fix a diagnostic's `data.fixes` entry describes (see
/// `convert::diagnostic`).
fn action(d: &lsp_types::Diagnostic, fix: &Value) -> Option<CodeAction> {
    let title = fix.get("title")?.as_str()?.to_string();
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    for e in fix.get("edits")?.as_array()? {
        let uri: Url = serde_json::from_value(e.get("uri")?.clone()).ok()?;
        let range: Range = serde_json::from_value(e.get("range")?.clone()).ok()?;
        let text = e.get("newText")?.as_str()?.to_string();
        changes.entry(uri).or_default().push(TextEdit::new(range, text));
    }
    Some(CodeAction {
        title,
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![d.clone()]),
        edit: Some(WorkspaceEdit {
            changes: Some(changes),
            ..Default::default()
        }),
        is_preferred: Some(fix.get("preferred").and_then(Value::as_bool).unwrap_or(false)),
        ..Default::default()
    })
}

pub fn code_actions(server: &mut Server, p: CodeActionParams) -> Answer {
    let uri = p.text_document.uri;
    let mut diagnostics: Vec<lsp_types::Diagnostic> = p
        .context
        .diagnostics
        .into_iter()
        .filter(|d| d.data.is_some())
        .collect();
    if diagnostics.is_empty() {
        diagnostics = server
            .diagnostics
            .get(&uri)
            .map(|ds| {
                ds.iter()
                    .filter(|d| overlaps(&d.range, &p.range))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
    }
    let mut actions = Vec::new();
    for d in &diagnostics {
        let fixes = d
            .data
            .as_ref()
            .and_then(|v| v.get("fixes"))
            .and_then(Value::as_array);
        for fix in fixes.into_iter().flatten() {
            if let Some(action) = action(d, fix) {
                actions.push(CodeActionOrCommand::CodeAction(action));
            }
        }
    }
    Ok(serde_json::to_value(actions).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_index::apply_change;

    /// `old` with `edits` applied, last first (each range is in `old`).
    fn applied(old: &str, edits: &[TextEdit]) -> String {
        let mut text = old.to_string();
        for e in edits.iter().rev() {
            apply_change(&mut text, Some(e.range), &e.new_text);
        }
        text
    }

    #[test]
    fn line_edits_turn_the_old_text_into_the_new_one_touching_only_changed_lines() {
        let cases = [
            ("a\nb\nc\n", "a\nB\nc\n", 1),
            ("a\nb\nc\n", "a\nc\n", 1),
            ("a\nc\n", "a\nb\nc\n", 1),
            ("a\nb\nc\nd\n", "A\nb\nc\nD\n", 2),
            ("a\nb", "a\nb\n", 1),
            ("", "a\n", 1),
            ("a\n", "", 1),
            ("same\n", "same\n", 0),
            ("x = 1\r\ny = 2\r\n", "x = 1\r\ny  = 2\r\n", 1),
            ("é😀\nb\n", "é😀\nβ\n", 1),
        ];
        for (old, new, count) in cases {
            let index = LineIndex::new(old);
            let edits = line_edits(old, new, &index);
            assert_eq!(applied(old, &edits), new, "{old:?} → {new:?}: {edits:?}");
            assert_eq!(edits.len(), count, "{old:?} → {new:?}: {edits:?}");
        }
    }
}
