//! Signature help: inside the parentheses of a call to a builtin or a
//! function of the configuration, its signature with the argument at the
//! cursor marked, and its documentation.

use lsp_types::{
    Documentation, MarkupContent, MarkupKind, ParameterInformation, ParameterLabel, SignatureHelp,
    SignatureHelpParams, SignatureInformation,
};
use serde_json::Value;

use super::completion::text::{is_ident_char, scan};
use super::At;
use crate::index::{DeclKind, Target};
use crate::server::{Answer, Server};

pub fn signature_help(server: &mut Server, p: SignatureHelpParams) -> Answer {
    let Some(at) = At::of(server, &p.text_document_position_params) else {
        return Ok(Value::Null);
    };
    Ok(help(&at)
        .and_then(|h| serde_json::to_value(h).ok())
        .unwrap_or(Value::Null))
}

fn help(at: &At) -> Option<SignatureHelp> {
    let text = at.text();
    let before = text.get(..at.offset)?;
    let scanned = scan(before);
    if scanned.in_string || scanned.in_comment {
        return None;
    }
    let open = scanned.open.iter().rev().find(|o| o.ch == b'(')?;
    // The callee's name ends just before the parenthesis.
    let name_end = text.get(..open.pos)?.trim_end().len();
    if !text[..name_end].ends_with(is_ident_char) {
        return None;
    }
    let index = at.analysis.index();
    let occurrence = index.at(at.file, name_end)?;
    let p = &at.analysis.program;
    let (label, params, docs): (String, Vec<String>, Option<String>) = match &occurrence.target {
        Target::Builtin(name) => {
            let b = tpt_lang::builtins::lookup(name)?;
            let params = split_params(b.signature);
            (b.signature.to_string(), params, Some(b.doc.to_string()))
        }
        Target::Decl(span) => match index.decls.get(span)? {
            DeclKind::Fn(m, name) => {
                let d = p.module(*m).fns.get(name)?;
                let params = super::hover::fn_params(p, d);
                let label = format!("{name}({}): {}", params.join(", "), p.show(&d.ty));
                (label, params, d.docs.clone())
            }
            _ => return None,
        },
    };
    // Each parameter by its offsets in the label (UTF-16, as the protocol counts).
    let mut from = label.find('(').map_or(0, |i| i + 1);
    let mut parameters = Vec::new();
    for param in &params {
        let Some(i) = label.get(from..).and_then(|l| l.find(param.as_str())) else {
            break;
        };
        let start = utf16_len(&label[..from + i]);
        let end = start + utf16_len(param);
        parameters.push(ParameterInformation {
            label: ParameterLabel::LabelOffsets([start, end]),
            documentation: None,
        });
        from += i + param.len();
    }
    let active = top_level_commas(text.get(open.pos + 1..at.offset)?);
    let active = u32::try_from(active).ok()?;
    Some(SignatureHelp {
        signatures: vec![SignatureInformation {
            label,
            documentation: docs.map(|d| {
                Documentation::MarkupContent(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: d,
                })
            }),
            parameters: Some(parameters),
            active_parameter: Some(active),
        }],
        active_signature: Some(0),
        active_parameter: Some(active),
    })
}

/// The parameters of a builtin's signature, `join(separator: string, items:
/// [string]): string` → `separator: string`, `items: [string]`.
fn split_params(signature: &str) -> Vec<String> {
    let Some(open) = signature.find('(') else {
        return Vec::new();
    };
    let mut depth = 0usize;
    let mut params = Vec::new();
    let mut current = String::new();
    for c in signature[open + 1..].chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' if depth == 0 => break,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                params.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        params.push(current.trim().to_string());
    }
    params
}

/// The commas of `args` outside brackets, strings and comments: the index of
/// the argument at its end.
fn top_level_commas(args: &str) -> usize {
    args.match_indices(',')
        .filter(|(i, _)| {
            let s = scan(&args[..*i]);
            s.open.is_empty() && !s.in_string && !s.in_comment
        })
        .count()
}

fn utf16_len(s: &str) -> u32 {
    u32::try_from(s.encode_utf16().count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_of_a_signature_and_the_argument_at_the_end() {
        assert_eq!(
            split_params("join(separator: string, items: [string]): string"),
            vec!["separator: string", "items: [string]"]
        );
        assert_eq!(
            split_params("f({a: int, b: int}, x): int"),
            vec!["{a: int, b: int}", "x"]
        );
        assert_eq!(split_params("now(): string"), Vec::<String>::new());
        assert_eq!(top_level_commas("\"a,b\", [1, 2], "), 2);
        assert_eq!(top_level_commas("x"), 0);
        assert_eq!(top_level_commas("f(a, b"), 0);
    }
}
