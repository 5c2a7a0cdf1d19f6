//! Hover: what a name is — its declaration as code (with its type) and its
//! doc comment. Schemas list their fields; fields say whether they are
//! outputs or force replacement.

use lsp_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};
use serde_json::Value;
use tpt_lang::program::{ModuleId, TypeDef};
use tpt_lang::source::Span;
use tpt_lang::Types;

use super::At;
use crate::index::{DeclKind, Target};
use crate::server::{Answer, Server};
use crate::workspace::Analysis;

pub fn hover(server: &mut Server, p: HoverParams) -> Answer {
    let Some(at) = At::of(server, &p.text_document_position_params) else {
        return Ok(Value::Null);
    };
    let index = at.analysis.index();
    let (markdown, span) = match index.at(at.file, at.offset) {
        Some(occ) => (describe(&at.analysis, &occ.target), Some(occ.span)),
        None => match index.link_at(at.file, at.offset) {
            Some(m) => (Some(describe_module(&at.analysis, m)), None),
            None => (None, None),
        },
    };
    let Some(markdown) = markdown else {
        return Ok(Value::Null);
    };
    let range = span.and_then(|s| server.locator(&at.analysis).range(s));
    let hover = Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range,
    };
    Ok(serde_json::to_value(hover).unwrap_or(Value::Null))
}

fn code(text: &str) -> String {
    format!("```tpt\n{text}\n```")
}

fn with_docs(mut out: String, docs: Option<&str>) -> String {
    if let Some(d) = docs.filter(|d| !d.trim().is_empty()) {
        out.push_str("\n\n");
        out.push_str(d.trim());
    }
    out
}

/// The hover text of a target (Markdown).
pub fn describe(a: &Analysis, target: &Target) -> Option<String> {
    let p = &a.program;
    let span = match target {
        Target::Builtin(name) => {
            let b = tpt_lang::builtins::lookup(name)?;
            return Some(format!("{}\n\n{}", code(b.signature), b.doc));
        }
        Target::Decl(span) => *span,
    };
    let kind = a.index().decls.get(&span)?;
    Some(match kind {
        DeclKind::Resource(m, name) => {
            let d = p.module(*m).resources.get(name)?;
            let schema = d
                .schema
                .map(|s| p.schema_name(s))
                .unwrap_or_else(|| d.node.schema.to_string());
            let mut out = with_docs(code(&format!("resource {name}: {schema}")), d.docs.as_deref());
            if !d.loops.is_empty() {
                out.push_str("\n\nStamped out by `for`: one instance per element.");
            }
            if let Some(s) = d.schema {
                out = with_docs(out + "\n\n---", p.schema(s).docs.as_deref());
            }
            out
        }
        DeclKind::Param(m, name) => {
            let d = p.module(*m).params.get(name)?;
            let mut decl = format!("param {name}: {}", p.show(&d.ty));
            if let Some(default) = &d.node.default {
                decl.push_str(&format!(" = {}", source_text(a, default.span)));
            }
            if d.has_annotation("promote") {
                decl = format!("@promote {decl}");
            }
            with_docs(code(&decl), d.docs.as_deref())
        }
        DeclKind::Let(m, name) => {
            let d = p.module(*m).lets.get(name)?;
            let ty = Types::new(p).let_type(*m, name);
            with_docs(code(&format!("let {name}: {}", p.show(&ty))), d.docs.as_deref())
        }
        DeclKind::Fn(m, name) => {
            let d = p.module(*m).fns.get(name)?;
            let params = fn_params(p, d);
            with_docs(
                code(&format!(
                    "fn {}{name}({}): {}",
                    prefix(a, *m),
                    params.join(", "),
                    p.show(&d.ty)
                )),
                d.docs.as_deref(),
            )
        }
        DeclKind::Schema(sid) => describe_schema(a, *sid),
        DeclKind::Field(sid, name) => {
            let s = p.schema(*sid);
            let f = s.fields.get(name)?;
            let mut decl = format!("{name}: {}", p.show(&f.ty));
            if let Some(default) = &f.default {
                decl.push_str(&format!(" = {}", source_text(a, default.span)));
            }
            let mut out = code(&decl);
            out.push_str(&format!("\n\nField of `{}`", s.name));
            if f.output {
                out.push_str(" — an output, known after apply");
            } else if f.replace {
                out.push_str(" — a change replaces the resource");
            } else if !f.is_optional() {
                out.push_str(" — required");
            }
            out.push('.');
            with_docs(out, f.docs.as_deref())
        }
        DeclKind::Alias(m, name) => match p.module(*m).types.get(name)? {
            TypeDef::Alias { ty, docs, .. } => with_docs(
                code(&format!(
                    "type {}{name} = {}",
                    prefix(a, *m),
                    p.show(ty.resolved())
                )),
                docs.as_deref(),
            ),
            TypeDef::Schema(sid) => describe_schema(a, *sid),
        },
        DeclKind::Environment(name) => {
            let d = p.module(p.root()).environments.get(name)?;
            let mut decl = format!("environment {name}");
            if let Some(parent) = &d.node.extends {
                decl.push_str(&format!(" extends {}", parent.name));
            }
            with_docs(code(&decl), d.docs.as_deref())
        }
        DeclKind::Import(_, of) => describe_module(a, *of),
        DeclKind::Output(m, name) => {
            let d = p.module(*m).outputs.get(name)?;
            let owner = match &p.module(*m).component {
                Some(c) => format!("Output of component `{}`.", p.schema_name(c.schema)),
                None => "Output of the configuration: shown after apply and by `tpt output`.".to_string(),
            };
            with_docs(
                format!(
                    "{}\n\n{owner}",
                    code(&format!("output {name}: {}", p.show(&d.ty)))
                ),
                d.docs.as_deref(),
            )
        }
        DeclKind::Local(name, ty) => format!(
            "{}\n\nA local variable.",
            code(&format!("{name}: {}", p.show(ty)))
        ),
    })
}

/// `aws.` for a declaration of an imported module (as it is written from outside).
fn prefix(a: &Analysis, m: ModuleId) -> String {
    let module = a.program.module(m);
    if module.is_root {
        String::new()
    } else {
        format!("{}.", tpt_lang::program::module_short_name(&module.name))
    }
}

/// A function's parameters as written for people: `name: type`.
pub fn fn_params(
    p: &tpt_lang::Program,
    d: &tpt_lang::program::Decl<tpt_lang::syntax::ast::FnItem>,
) -> Vec<String> {
    d.typed_params()
        .iter()
        .map(|(n, t)| format!("{n}: {}", p.show(t)))
        .collect()
}

pub fn describe_schema(a: &Analysis, sid: tpt_lang::program::SchemaId) -> String {
    let p = &a.program;
    let s = p.schema(sid);
    let mut decl = if s.is_resource {
        format!("resource schema {}", s.name)
    } else {
        format!("schema {}", s.name)
    };
    if let Some(base) = s.extends {
        decl.push_str(&format!(" extends {}", p.schema_name(base)));
    }
    let mut out = with_docs(code(&decl), s.docs.as_deref());
    if !s.fields.is_empty() {
        out.push_str("\n\nFields:\n");
        for (name, f) in &s.fields {
            let note = if f.output {
                " (output)"
            } else if f.setting {
                " (setting)"
            } else if f.is_optional() {
                ""
            } else {
                " (required)"
            };
            out.push_str(&format!("- `{name}: {}`{note}\n", p.show(&f.ty)));
        }
    }
    out
}

fn describe_module(a: &Analysis, m: ModuleId) -> String {
    let module = a.program.module(m);
    // Imported files are named by their path; the file name is what users wrote.
    let name = match std::path::Path::new(&module.name).file_name() {
        Some(f) if module.name.contains('/') => f.to_string_lossy().into_owned(),
        _ => module.name.clone(),
    };
    let schemas = module
        .types
        .values()
        .filter(|t| matches!(t, TypeDef::Schema(_)))
        .count();
    format!(
        "{}\n\n{} schemas, {} types, {} functions, {} values.",
        code(&format!("module {name}")),
        schemas,
        module.types.len() - schemas,
        module.fns.len(),
        module.lets.len()
    )
}

/// The source of a span without the blanks and comments a pest span may end with.
pub fn source_text(a: &Analysis, span: Span) -> String {
    let text = a.program.sources.get(span.file).map_or("", |f| f.slice(span));
    trim_trailing(text).to_string()
}

/// `text` without trailing blanks and comments (the formatter's rule for node ends).
pub fn trim_trailing(text: &str) -> &str {
    let comments = tpt_lang::fmt::comments::scan(text);
    let mut end = text.len();
    loop {
        let trimmed = text.get(..end).unwrap_or("").trim_end().len();
        match comments.iter().rev().find(|c| c.start < trimmed) {
            Some(c) if c.start + c.text.len() == trimmed => end = c.start,
            _ => return text.get(..trimmed).unwrap_or(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::trim_trailing;

    #[test]
    fn trailing_comments_and_blanks_are_not_content() {
        assert_eq!(trim_trailing("2  // two\n  // more\n\n"), "2");
        assert_eq!(trim_trailing("\"a // b\"  "), "\"a // b\"");
        assert_eq!(trim_trailing(""), "");
    }
}
