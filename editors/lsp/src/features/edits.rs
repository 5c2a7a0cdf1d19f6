//! Edits the server proposes: formatting (exactly `tpt fmt`), and quick fixes
//! for the diagnostics that carry a "did you mean" suggestion.

use std::collections::HashMap;

use lsp_server::ErrorCode;
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, DocumentFormattingParams, Range,
    TextEdit, WorkspaceEdit,
};
use serde_json::Value;
use tpt_lang::source::FileId;

use crate::line_index::LineIndex;
use crate::server::{Answer, Failure, Server};

pub fn formatting(server: &mut Server, p: DocumentFormattingParams) -> Answer {
    let Some((a, file)) = server.file(&p.text_document.uri) else {
        return Ok(Value::Null);
    };
    let Some(source) = a.program.sources.get(file) else {
        return Ok(Value::Null);
    };
    let text = &source.text;
    match tpt_lang::fmt::format_source(FileId(0), text) {
        Ok(formatted) if formatted == **text => Ok(serde_json::json!([])),
        Ok(formatted) => {
            let whole = LineIndex::new(text).range(0, text.len());
            Ok(serde_json::to_value(vec![TextEdit::new(whole, formatted)]).unwrap_or(Value::Null))
        }
        Err(_) => Err(Failure::new(
            ErrorCode::RequestFailed,
            "cannot format a file with syntax errors: fix the errors shown first",
        )),
    }
}

fn overlaps(a: &Range, b: &Range) -> bool {
    a.start <= b.end && b.start <= a.end
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
    for d in diagnostics {
        let Some(fix) = d.data.as_ref().and_then(|v| v.get("fix")) else {
            continue;
        };
        let (Some(range), Some(new_text)) = (
            fix.get("range")
                .and_then(|r| serde_json::from_value::<Range>(r.clone()).ok()),
            fix.get("newText").and_then(Value::as_str),
        ) else {
            continue;
        };
        let edit = WorkspaceEdit {
            changes: Some(HashMap::from([(
                uri.clone(),
                vec![TextEdit::new(range, new_text.to_string())],
            )])),
            ..Default::default()
        };
        actions.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: format!("Replace with `{new_text}`"),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(edit),
            is_preferred: Some(true),
            ..Default::default()
        }));
    }
    Ok(serde_json::to_value(actions).unwrap_or(Value::Null))
}
