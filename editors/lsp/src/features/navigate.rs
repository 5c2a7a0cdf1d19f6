//! Go to definition, find references, document highlight, document links
//! (import sources) and rename: lookups in the symbol index.
//! A rename edits every file of the configuration that names the target
//! (`main.tpt`, `envs/*.tpt`, imported files); names of the standard library
//! and builtins cannot be renamed.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use lsp_server::ErrorCode;
use lsp_types::{
    DocumentHighlight, DocumentHighlightKind, DocumentHighlightParams, DocumentLink, DocumentLinkParams,
    GotoDefinitionParams, Location, PrepareRenameResponse, Range, ReferenceParams, RenameParams,
    TextDocumentPositionParams, TextEdit, Url, WorkspaceEdit,
};
use serde_json::Value;
use tpt_lang::program::ModuleId;
use tpt_lang::source::Span;

use super::At;
use crate::index::{DeclKind, Occurrence, Target};
use crate::server::{Answer, Failure, Server};
use crate::workspace::Analysis;

/// The words of the language that cannot be names.
const KEYWORDS: &[&str] = &[
    "import",
    "as",
    "param",
    "let",
    "fn",
    "resource",
    "schema",
    "type",
    "for",
    "in",
    "environment",
    "extends",
    "if",
    "then",
    "else",
    "true",
    "false",
    "null",
    "moved",
    "std",
    "component",
    "output",
];

fn module_start(a: &Analysis, m: ModuleId) -> Option<Span> {
    let file = *a.program.module(m).files.first()?;
    Some(Span {
        file,
        start: 0,
        end: 0,
    })
}

/// Where go to definition leads from a target: the declaration, or for an
/// import's name, the imported module itself.
fn definition_span(a: &Analysis, target: &Target) -> Option<Span> {
    match target {
        Target::Builtin(_) => None,
        Target::Decl(span) => match a.index().decls.get(span) {
            Some(DeclKind::Import(_, of)) => module_start(a, *of),
            _ => Some(*span),
        },
    }
}

pub fn definition(server: &mut Server, p: GotoDefinitionParams) -> Answer {
    let Some(at) = At::of(server, &p.text_document_position_params) else {
        return Ok(Value::Null);
    };
    let index = at.analysis.index();
    let span = match index.link_at(at.file, at.offset) {
        Some(m) => module_start(&at.analysis, m),
        None => index
            .at(at.file, at.offset)
            .and_then(|o| definition_span(&at.analysis, &o.target)),
    };
    let location = span.and_then(|s| server.locator(&at.analysis).location(s));
    Ok(serde_json::to_value(location).unwrap_or(Value::Null))
}

/// The import sources of a file (`"./lib/net.tpt"`, `std.aws`) as links to
/// the modules they load (the standard library's written copies).
pub fn links(server: &mut Server, p: DocumentLinkParams) -> Answer {
    let Some((a, file)) = server.file(&p.text_document.uri) else {
        return Ok(Value::Null);
    };
    let sources: Vec<(Span, ModuleId)> = a.index().links.get(&file).cloned().unwrap_or_default();
    let mut loc = server.locator(&a);
    let links: Vec<DocumentLink> = sources
        .into_iter()
        .filter_map(|(span, m)| {
            Some(DocumentLink {
                range: loc.range(span)?,
                target: Some(loc.uri_of(module_start(&a, m)?)?),
                tooltip: None,
                data: None,
            })
        })
        .collect();
    Ok(serde_json::to_value(links).unwrap_or(Value::Null))
}

pub fn references(server: &mut Server, p: ReferenceParams) -> Answer {
    let Some(at) = At::of(server, &p.text_document_position) else {
        return Ok(Value::Null);
    };
    let Some(occ) = at.analysis.index().at(at.file, at.offset).cloned() else {
        return Ok(Value::Null);
    };
    let include_decl = p.context.include_declaration;
    let mut locations: Vec<Location> = Vec::new();
    let mut seen: HashSet<Place> = HashSet::new();
    for (a, target) in analyses_naming(server, &at.analysis, &occ.target) {
        let spans: Vec<Span> = a
            .index()
            .occurrences_of(&target)
            .into_iter()
            .filter(|o| include_decl || !o.is_decl)
            .map(|o| o.span)
            .collect();
        let mut loc = server.locator(&a);
        for l in spans.into_iter().filter_map(|s| loc.location(s)) {
            if seen.insert(place(&l.uri, l.range)) {
                locations.push(l);
            }
        }
    }
    Ok(serde_json::to_value(locations).unwrap_or(Value::Null))
}

/// A range of a document, as a key: a file read by several configurations is
/// found in each, and references and renames keep one of each place.
type Place = (Url, [u32; 4]);

fn place(uri: &Url, range: Range) -> Place {
    let (start, end) = (range.start, range.end);
    (
        uri.clone(),
        [start.line, start.character, end.line, end.character],
    )
}

/// Every occurrence in this file of what the cursor names: the declaration
/// as written (`Write`), the uses as read (`Read`).
pub fn highlight(server: &mut Server, p: DocumentHighlightParams) -> Answer {
    let Some(at) = At::of(server, &p.text_document_position_params) else {
        return Ok(Value::Null);
    };
    let index = at.analysis.index();
    let Some(occ) = index.at(at.file, at.offset) else {
        return Ok(Value::Null);
    };
    let loc = server.locator(&at.analysis);
    let highlights: Vec<DocumentHighlight> = index
        .in_file(at.file)
        .iter()
        .filter(|o| o.target == occ.target)
        .filter_map(|o| {
            Some(DocumentHighlight {
                range: loc.range(o.span)?,
                kind: Some(if o.is_decl {
                    DocumentHighlightKind::WRITE
                } else {
                    DocumentHighlightKind::READ
                }),
            })
        })
        .collect();
    Ok(serde_json::to_value(highlights).unwrap_or(Value::Null))
}

/// The analyses that may name a target, each with the target in its terms: the
/// one asked, and every other configuration of the workspace that loads the
/// file declaring it — a library imported by several apps, asked from an app
/// or from the library itself (its own configuration when opened alone). Not
/// for the standard library, which every configuration loads.
fn analyses_naming(server: &mut Server, a: &Rc<Analysis>, target: &Target) -> Vec<(Rc<Analysis>, Target)> {
    let mut out = vec![(a.clone(), target.clone())];
    let Target::Decl(span) = target else { return out };
    let Some(name) = a.program.sources.get(span.file).map(|f| f.name.clone()) else {
        return out;
    };
    if crate::stdlib_files::is_stdlib_name(&name) {
        return out;
    }
    for root in server.ws.all_configurations() {
        if root == a.root {
            continue;
        }
        let other = server.ws.analysis(&root);
        if let Some(file) = other.program.sources.find(&name) {
            out.push((other, Target::Decl(Span { file, ..*span })));
        }
    }
    out
}

/// The occurrence a rename at this position would rename, or why it cannot.
fn renameable(
    server: &mut Server,
    p: &TextDocumentPositionParams,
) -> Result<Option<(At, Occurrence)>, Failure> {
    let Some(at) = At::of(server, p) else {
        return Ok(None);
    };
    let Some(occ) = at.analysis.index().at(at.file, at.offset).cloned() else {
        return Ok(None);
    };
    let refuse = |what: &str| {
        Err(Failure::new(
            ErrorCode::InvalidRequest,
            format!("cannot rename {what}"),
        ))
    };
    match &occ.target {
        Target::Builtin(name) => return refuse(&format!("`{name}`: it is a builtin function")),
        Target::Decl(span) => {
            let in_std = at
                .analysis
                .program
                .sources
                .get(span.file)
                .is_some_and(|f| crate::stdlib_files::is_stdlib_name(&f.name));
            if in_std {
                return refuse("a name of the standard library");
            }
        }
    }
    Ok(Some((at, occ)))
}

/// Why `new` cannot be the name of a module-level declaration: the module has it already.
fn conflict(a: &Analysis, target: &Target, new: &str) -> Option<String> {
    let Target::Decl(span) = target else { return None };
    let m = match a.index().decls.get(span)? {
        DeclKind::Resource(m, _) | DeclKind::Param(m, _) | DeclKind::Let(m, _) | DeclKind::Fn(m, _) => *m,
        DeclKind::Alias(m, _) | DeclKind::Import(m, _) => *m,
        DeclKind::Output(m, _) => {
            let taken = a.program.module(*m).outputs.contains_key(new);
            return taken.then(|| format!("there is already an output `{new}`"));
        }
        DeclKind::Schema(sid) => a.program.schema(*sid).module,
        DeclKind::Field(sid, _) => {
            let taken = a.program.schema(*sid).fields.contains_key(new);
            return taken.then(|| format!("`{}` already has a field `{new}`", a.program.schema(*sid).name));
        }
        DeclKind::Environment(_) => {
            let taken = a.program.module(a.program.root()).environments.contains_key(new);
            return taken.then(|| format!("there is already an environment `{new}`"));
        }
        DeclKind::Local(..) => return None,
    };
    let module = a.program.module(m);
    let taken = module.lets.contains_key(new)
        || module.params.contains_key(new)
        || module.resources.contains_key(new)
        || module.fns.contains_key(new)
        || module.types.contains_key(new)
        || module.imports.contains_key(new);
    taken.then(|| format!("`{new}` is already defined in this module"))
}

pub fn prepare_rename(server: &mut Server, p: TextDocumentPositionParams) -> Answer {
    let Some((at, occ)) = renameable(server, &p)? else {
        return Ok(Value::Null);
    };
    let range = server.locator(&at.analysis).range(occ.span);
    Ok(serde_json::to_value(range.map(PrepareRenameResponse::Range)).unwrap_or(Value::Null))
}

pub fn rename(server: &mut Server, p: RenameParams) -> Answer {
    let new = p.new_name.trim();
    let valid = new
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && new.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid || KEYWORDS.contains(&new) {
        return Err(Failure::new(
            ErrorCode::InvalidParams,
            format!("`{new}` is not a valid name: use letters, digits and `_`, not starting with a digit, and not a keyword"),
        ));
    }
    let Some((at, occ)) = renameable(server, &p.text_document_position)? else {
        return Ok(Value::Null);
    };
    let a = at.analysis.clone();
    if let Some(taken) = conflict(&a, &occ.target, new) {
        return Err(Failure::new(ErrorCode::InvalidParams, taken));
    }
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    let mut seen: HashSet<Place> = HashSet::new();
    for (a, target) in analyses_naming(server, &a, &occ.target) {
        let occurrences: Vec<Occurrence> = a.index().occurrences_of(&target).into_iter().cloned().collect();
        let mut loc = server.locator(&a);
        for o in occurrences {
            // `import std.aws` binds `aws` implicitly: renaming it adds an alias.
            let implicit_import = o.is_decl
                && matches!(a.index().decls.get(&o.span), Some(DeclKind::Import(..)))
                && a.index().link_at(o.span.file, o.span.start as usize).is_some();
            let new_text = if implicit_import {
                let old = a.program.sources.get(o.span.file).map_or("", |f| f.slice(o.span));
                format!("{old} as {new}")
            } else {
                new.to_string()
            };
            if let (Some(uri), Some(range)) = (loc.uri_of(o.span), loc.range(o.span)) {
                if seen.insert(place(&uri, range)) {
                    changes
                        .entry(uri)
                        .or_default()
                        .push(TextEdit::new(range, new_text));
                }
            }
        }
    }
    let edit = WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    };
    Ok(serde_json::to_value(edit).unwrap_or(Value::Null))
}
