//! Document symbols: the outline of one file, from its tree — imports,
//! params, `let`s, functions, types and schemas (with their fields),
//! resources (with their entries; inside `for` blocks too), environments
//! (with their settings and overlays). And the folds of a file (its items
//! over more than one line), and the ranges a selection grows through.

use lsp_types::{
    DocumentSymbol, DocumentSymbolParams, FoldingRange, FoldingRangeKind, FoldingRangeParams, SelectionRange,
    SelectionRangeParams, SymbolInformation, SymbolKind, Url, WorkspaceSymbolParams,
};
use serde_json::Value;
use tpt_lang::source::{FileId, SourceFile, Span};
use tpt_lang::syntax::ast::{self, ItemKind};

use super::hover::trim_trailing;
use crate::index::DeclKind;
use crate::line_index::LineIndex;
use crate::server::{Answer, Server};
use crate::workspace::Analysis;
use std::collections::HashSet;

pub fn document_symbols(server: &mut Server, p: DocumentSymbolParams) -> Answer {
    with_tree(server, &p.text_document.uri, |tree, source, _, _| {
        let outline = Outline {
            text: &source.text,
            index: LineIndex::of(source),
        };
        let symbols: Vec<DocumentSymbol> = tree.items.iter().filter_map(|i| outline.item(i)).collect();
        Ok(serde_json::to_value(symbols).unwrap_or(Value::Null))
    })
}

/// The declarations of every configuration of the workspace (and of the
/// open documents) whose names hold the query's characters in order (`dmn`
/// finds `domain`), case aside: resources, params, `let`s, functions, types,
/// schemas, outputs, environments. The standard library is left out.
#[allow(deprecated)] // `deprecated` is a required field of the struct, deprecated in the protocol.
pub fn workspace_symbols(server: &mut Server, p: WorkspaceSymbolParams) -> Answer {
    let query: Vec<char> = p.query.to_lowercase().chars().collect();
    let analyses = server.ws.every_analysis();
    let mut found: Vec<SymbolInformation> = Vec::new();
    let mut seen: HashSet<(Url, [u32; 2])> = HashSet::new();
    for a in &analyses {
        let mut loc = server.locator(a);
        for (span, decl) in &a.index().decls {
            let kind = match decl {
                DeclKind::Resource(..) => SymbolKind::OBJECT,
                DeclKind::Param(..) => SymbolKind::VARIABLE,
                DeclKind::Let(..) => SymbolKind::CONSTANT,
                DeclKind::Fn(..) => SymbolKind::FUNCTION,
                DeclKind::Schema(_) => SymbolKind::STRUCT,
                DeclKind::Alias(..) => SymbolKind::TYPE_PARAMETER,
                DeclKind::Environment(_) => SymbolKind::NAMESPACE,
                DeclKind::Output(..) => SymbolKind::PROPERTY,
                DeclKind::Field(..) | DeclKind::Import(..) | DeclKind::Local(..) => continue,
            };
            let Some(file) = a.program.sources.get(span.file) else {
                continue;
            };
            if crate::stdlib_files::is_stdlib_name(&file.name) {
                continue;
            }
            let name = file.slice(*span);
            if !fuzzy(&query, name) {
                continue;
            }
            let Some(location) = loc.location(*span) else {
                continue;
            };
            let start = location.range.start;
            if seen.insert((location.uri.clone(), [start.line, start.character])) {
                found.push(SymbolInformation {
                    name: name.to_string(),
                    kind,
                    tags: None,
                    deprecated: None,
                    location,
                    container_name: None,
                });
            }
        }
    }
    found.sort_by(|x, y| {
        (x.name.as_str(), x.location.uri.as_str(), x.location.range.start).cmp(&(
            y.name.as_str(),
            y.location.uri.as_str(),
            y.location.range.start,
        ))
    });
    found.truncate(MAX_WORKSPACE_SYMBOLS);
    Ok(serde_json::to_value(found).unwrap_or(Value::Null))
}

/// The most symbols a workspace search answers.
const MAX_WORKSPACE_SYMBOLS: usize = 1_000;

/// Whether `name` holds the characters of `query` (lowercase) in order.
fn fuzzy(query: &[char], name: &str) -> bool {
    let mut want = query.iter().peekable();
    for c in name.chars().flat_map(char::to_lowercase) {
        if want.peek() == Some(&&c) {
            want.next();
        }
    }
    want.peek().is_none()
}

/// `f` on a document's tree and text, its analysis and its id; null for a
/// document no configuration loads.
fn with_tree(
    server: &mut Server,
    uri: &Url,
    f: impl FnOnce(&ast::File, &SourceFile, &Analysis, FileId) -> Answer,
) -> Answer {
    let Some((a, file)) = server.file(uri) else {
        return Ok(Value::Null);
    };
    let (Some(tree), Some(source)) = (a.trees.get(&file), a.program.sources.get(file)) else {
        return Ok(Value::Null);
    };
    f(tree, source, &a, file)
}

/// The folds of a file: every item over more than one line, and the items
/// inside components and `for` blocks.
pub fn folding_ranges(server: &mut Server, p: FoldingRangeParams) -> Answer {
    with_tree(server, &p.text_document.uri, |tree, source, _, _| {
        let index = LineIndex::of(source);
        let mut folds = Vec::new();
        let mut items: Vec<&ast::Item> = tree.items.iter().collect();
        while let Some(item) = items.pop() {
            let (start, end) = (
                index.position(item.span.start as usize),
                index.position(item.span.end as usize),
            );
            if end.line > start.line {
                folds.push(FoldingRange {
                    start_line: start.line,
                    start_character: None,
                    end_line: end.line,
                    end_character: None,
                    kind: Some(FoldingRangeKind::Region),
                    collapsed_text: None,
                });
            }
            match &item.kind {
                ItemKind::Component(c) => items.extend(&c.items),
                ItemKind::For(f) => items.extend(&f.members),
                _ => {}
            }
        }
        folds.sort_by_key(|f| (f.start_line, f.end_line));
        Ok(serde_json::to_value(folds).unwrap_or(Value::Null))
    })
}

/// For each position, the ranges a selection grows through: the name or
/// literal under the cursor, each expression around it, the entry, the item
/// (and the items around it in a component or `for` block), the file.
pub fn selection_ranges(server: &mut Server, p: SelectionRangeParams) -> Answer {
    with_tree(server, &p.text_document.uri, |tree, source, a, file| {
        let index = LineIndex::of(source);
        let whole = (0, source.text.len() as u32);
        let answers: Vec<SelectionRange> = p
            .positions
            .iter()
            .map(|pos| {
                let offset = index.offset(*pos) as u32;
                let mut spans = vec![whole];
                let holds = |s: Span| s.start <= offset && offset <= s.end;
                let mut items: Vec<&ast::Item> = tree.items.iter().filter(|i| holds(i.span)).collect();
                while let Some(item) = items.pop() {
                    spans.push((item.span.start, item.span.end));
                    item.visit_exprs(&mut |e| {
                        if holds(e.span) {
                            spans.push((e.span.start, e.span.end));
                        }
                    });
                    match &item.kind {
                        ItemKind::Resource(r) => spans.extend(
                            r.body
                                .iter()
                                .filter(|e| holds(e.span))
                                .map(|e| (e.span.start, e.span.end)),
                        ),
                        ItemKind::Schema(sc) => spans.extend(
                            sc.fields
                                .iter()
                                .filter(|f| holds(f.span))
                                .map(|f| (f.span.start, f.span.end)),
                        ),
                        ItemKind::Environment(env) => {
                            spans.extend(
                                env.sets
                                    .iter()
                                    .filter(|x| holds(x.span))
                                    .map(|x| (x.span.start, x.span.end)),
                            );
                            spans.extend(
                                env.overlays
                                    .iter()
                                    .filter(|o| holds(o.span))
                                    .map(|o| (o.span.start, o.span.end)),
                            );
                        }
                        ItemKind::Component(c) => items.extend(c.items.iter().filter(|i| holds(i.span))),
                        ItemKind::For(f) => items.extend(f.members.iter().filter(|i| holds(i.span))),
                        _ => {}
                    }
                }
                if let Some(o) = a.index().at(file, offset as usize) {
                    spans.push((o.span.start, o.span.end));
                }
                // Outermost first; each kept range holds the one before it.
                spans.sort_by_key(|(start, end)| (std::cmp::Reverse(end - start), *start));
                let mut chain: Option<SelectionRange> = None;
                let mut last: Option<(u32, u32)> = None;
                for (start, end) in spans {
                    if last.is_some_and(|(ls, le)| start < ls || end > le || (start, end) == (ls, le)) {
                        continue;
                    }
                    last = Some((start, end));
                    chain = Some(SelectionRange {
                        range: index.range(start as usize, end as usize),
                        parent: chain.map(Box::new),
                    });
                }
                chain.unwrap_or(SelectionRange {
                    range: index.range(offset as usize, offset as usize),
                    parent: None,
                })
            })
            .collect();
        Ok(serde_json::to_value(answers).unwrap_or(Value::Null))
    })
}

struct Outline<'t> {
    text: &'t str,
    index: LineIndex<'t>,
}

impl Outline<'_> {
    #[allow(deprecated)] // `deprecated` is a required field of the struct, deprecated in the protocol.
    fn symbol(
        &self,
        name: &str,
        detail: Option<String>,
        kind: SymbolKind,
        span: Span,
        name_span: Span,
        children: Vec<DocumentSymbol>,
    ) -> DocumentSymbol {
        // Pest spans of some nodes run on over the blanks and comments after them.
        let start = span.start as usize;
        let content = trim_trailing(self.text.get(start..span.end as usize).unwrap_or(""));
        let end = (start + content.len()).max(name_span.end as usize);
        let start = start.min(name_span.start as usize);
        DocumentSymbol {
            name: name.to_string(),
            detail,
            kind,
            tags: None,
            deprecated: None,
            range: self.index.range(start, end),
            selection_range: self.index.range(name_span.start as usize, name_span.end as usize),
            children: (!children.is_empty()).then_some(children),
        }
    }

    fn item(&self, item: &ast::Item) -> Option<DocumentSymbol> {
        let span = item.span;
        Some(match &item.kind {
            ItemKind::Import(i) => {
                let name = i.binding()?;
                let source = match &i.source {
                    ast::ImportSource::Std(n) => format!("std.{}", n.name),
                    ast::ImportSource::Path { path, .. } => format!("{path:?}"),
                };
                self.symbol(
                    &name.name,
                    Some(source),
                    SymbolKind::MODULE,
                    span,
                    name.span,
                    vec![],
                )
            }
            ItemKind::TypeAlias(t) => self.symbol(
                &t.name.name,
                None,
                SymbolKind::TYPE_PARAMETER,
                span,
                t.name.span,
                vec![],
            ),
            ItemKind::Schema(s) => {
                let fields = s
                    .fields
                    .iter()
                    .map(|f| {
                        self.symbol(
                            &f.name.name,
                            Some(self.slice(f.ty.span)),
                            SymbolKind::FIELD,
                            f.span,
                            f.name.span,
                            vec![],
                        )
                    })
                    .collect();
                let kind = if s.is_resource {
                    "resource schema"
                } else {
                    "schema"
                };
                self.symbol(
                    &s.name.name,
                    Some(kind.into()),
                    SymbolKind::STRUCT,
                    span,
                    s.name.span,
                    fields,
                )
            }
            ItemKind::Param(p) => self.symbol(
                &p.name.name,
                Some(self.slice(p.ty.span)),
                SymbolKind::VARIABLE,
                span,
                p.name.span,
                vec![],
            ),
            ItemKind::Let(l) => self.symbol(
                &l.name.name,
                None,
                SymbolKind::CONSTANT,
                span,
                l.name.span,
                vec![],
            ),
            ItemKind::Fn(f) => self.symbol(
                &f.name.name,
                None,
                SymbolKind::FUNCTION,
                span,
                f.name.span,
                vec![],
            ),
            ItemKind::Resource(r) => {
                let entries = r
                    .body
                    .iter()
                    .map(|e| self.symbol(&e.name.name, None, SymbolKind::FIELD, e.span, e.name.span, vec![]))
                    .collect();
                self.symbol(
                    &r.name.name,
                    Some(r.schema.to_string()),
                    SymbolKind::OBJECT,
                    span,
                    r.name.span,
                    entries,
                )
            }
            ItemKind::Component(c) => {
                let members = c.items.iter().filter_map(|m| self.item(m)).collect();
                self.symbol(
                    &c.name.name,
                    Some("component".into()),
                    SymbolKind::CLASS,
                    span,
                    c.name.span,
                    members,
                )
            }
            ItemKind::ImportBlock(b) => {
                let to = ast::Moved::address(&b.to).unwrap_or_default();
                self.symbol(
                    &format!("import {to}"),
                    None,
                    SymbolKind::EVENT,
                    span,
                    b.to.span,
                    vec![],
                )
            }
            ItemKind::Output(o) => self.symbol(
                &o.name.name,
                Some(self.slice(o.ty.span)),
                SymbolKind::PROPERTY,
                span,
                o.name.span,
                vec![],
            ),
            ItemKind::For(f) => {
                let members = f.members.iter().filter_map(|m| self.item(m)).collect();
                let name = format!("for {}", f.vars.first.name);
                self.symbol(
                    &name,
                    None,
                    SymbolKind::NAMESPACE,
                    span,
                    f.vars.first.span,
                    members,
                )
            }
            ItemKind::Environment(e) => {
                let mut children: Vec<DocumentSymbol> = e
                    .sets
                    .iter()
                    .map(|s| {
                        self.symbol(
                            &s.name.name,
                            None,
                            SymbolKind::PROPERTY,
                            s.span,
                            s.name.span,
                            vec![],
                        )
                    })
                    .collect();
                children.extend(e.overlays.iter().map(|o| {
                    self.symbol(
                        &o.shown(),
                        Some("overlay".into()),
                        SymbolKind::OBJECT,
                        o.span,
                        o.target.span,
                        vec![],
                    )
                }));
                let detail = e.extends.as_ref().map(|p| format!("extends {}", p.name));
                self.symbol(
                    &e.name.name,
                    detail,
                    SymbolKind::NAMESPACE,
                    span,
                    e.name.span,
                    children,
                )
            }
            ItemKind::Moved(m) => {
                let name = format!("moved {} → {}", self.slice(m.from.span), self.slice(m.to.span));
                self.symbol(&name, None, SymbolKind::EVENT, span, m.from.span, vec![])
            }
        })
    }

    fn slice(&self, span: Span) -> String {
        trim_trailing(
            self.text
                .get(span.start as usize..span.end as usize)
                .unwrap_or(""),
        )
        .to_string()
    }
}
