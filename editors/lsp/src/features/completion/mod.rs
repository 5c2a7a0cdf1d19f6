//! Completion. The context is read from the text before the cursor, not from
//! the tree: a half-typed line is a syntax error, and the parser drops the
//! item it is in. A small scanner finds the brackets that are open at the
//! cursor (skipping strings and comments) and what opened each — a resource
//! of some schema, an environment, an overlay, a field's record or list
//! value — and from that the type expected where the cursor stands. The
//! names are then resolved against the last analysis of the configuration.
//!
//! Offered: the fields of the schema or record at the cursor (with types and
//! docs), params and resources in environments, the values of a string enum,
//! value names (params, `let`s, resources, functions, builtins, imports),
//! members of imported modules (`aws.` → schemas, types, functions), fields
//! after `value.`, type names where a type is written, annotations after `@`,
//! and keywords at the top level.

use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionParams, CompletionResponse, Documentation,
    MarkupContent, MarkupKind,
};
use serde_json::Value;
use tpt_lang::program::{ModuleId, TypeDef, BUILTIN_TYPES, FIELD_ANNOTATIONS, ITEM_ANNOTATIONS};
use tpt_lang::source::Span;
use tpt_lang::syntax::ast::{Expr, ExprKind, Ident, QualifiedName};
use tpt_lang::types::Ty;
use tpt_lang::{Program, Types};

pub mod text;

use self::text::{assignment, is_ident_char, keys_in_block, opener_text, re, scan, Open};
use super::At;
use crate::index::DeclKind;
use crate::server::{Answer, Server};
use crate::workspace::Analysis;
use tpt_lang::source::FileId;

const TOP_KEYWORDS: &[&str] = &[
    "import",
    "param",
    "let",
    "fn",
    "resource",
    "schema",
    "type",
    "for",
    "environment",
    "moved",
    "component",
    "output",
];

pub fn completion(server: &mut Server, p: CompletionParams) -> Answer {
    let Some(at) = At::of(server, &p.text_document_position) else {
        return Ok(Value::Null);
    };
    let m = at.analysis.module_at(at.file, at.offset);
    let before = at.text().get(..at.offset).unwrap_or("");
    let items = Completer {
        p: &at.analysis.program,
        m,
        text: at.text(),
        locals: locals_at(&at.analysis, at.file, at.offset),
    }
    .complete(before);
    let list = CompletionResponse::List(CompletionList {
        is_incomplete: false,
        items,
    });
    Ok(serde_json::to_value(list).unwrap_or(Value::Null))
}

/// Where the completion happens.
#[derive(Debug, Clone)]
enum Ctx {
    /// Outside any block.
    Top,
    /// A block of `key = value` entries for a value of this type (a resource body, a record literal).
    Entries(Option<Ty>),
    /// An environment's block: params and overlays.
    Environment,
    /// An overlay of a resource (or a field merged into): fields of this type.
    Overlay(Option<Ty>),
    /// Elements of a list.
    List(Option<Ty>),
    /// A schema's body: fields being declared.
    Schema,
    /// An expression (call arguments, interpolation, function body).
    Value,
}

struct Completer<'a> {
    p: &'a Program,
    m: ModuleId,
    /// The whole document.
    text: &'a str,
    /// Local variables that may be in scope at the cursor, innermost last.
    locals: Vec<(String, Ty)>,
}

/// The local variables declared before the cursor in the item it is in
/// (`for` variables, function parameters, `let … in`, comprehensions): those
/// that may be in scope there, innermost last.
fn locals_at(a: &Analysis, file: FileId, offset: usize) -> Vec<(String, Ty)> {
    let Some(tree) = a.trees.get(&file) else {
        return Vec::new();
    };
    let Ok(offset) = u32::try_from(offset) else {
        return Vec::new();
    };
    let Some(item) = tree
        .items
        .iter()
        .find(|i| i.span.start <= offset && offset <= i.span.end)
    else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String, Ty)> = a
        .index()
        .decls
        .iter()
        .filter_map(|(span, kind)| match kind {
            DeclKind::Local(name, ty)
                if span.file == file && item.span.start <= span.start && span.end <= offset =>
            {
                Some((span.start, name.clone(), ty.clone()))
            }
            _ => None,
        })
        .collect();
    found.sort_by_key(|(start, _, _)| *start);
    found.into_iter().map(|(_, n, t)| (n, t)).collect()
}

impl Completer<'_> {
    fn complete(&self, before: &str) -> Vec<CompletionItem> {
        let scan = scan(before);
        if scan.in_comment {
            return Vec::new();
        }
        let word_start = before.trim_end_matches(is_ident_char).len();
        let head = before.get(..word_start).unwrap_or("");
        let ctx = self.context(before, &scan.open);
        let level_start = scan.open.last().map_or(0, |o| o.pos + 1);
        let segment_start = head
            .rfind(['\n', ',', ';'])
            .map_or(level_start, |i| (i + 1).max(level_start));
        let segment = head.get(segment_start..).unwrap_or("").trim_start();

        if scan.in_string {
            // Only the values of an enum are offered inside a string.
            let quote = segment.rfind('"').unwrap_or(0);
            let key_part = segment.get(..quote).unwrap_or("");
            return match self.value_expected(&ctx, key_part) {
                Some(ty) => self.enum_items(&ty, false),
                None => Vec::new(),
            };
        }
        if head.ends_with('@') {
            return ITEM_ANNOTATIONS
                .iter()
                .map(|(a, _)| *a)
                .chain(FIELD_ANNOTATIONS.iter().copied())
                .map(|a| item(a, CompletionItemKind::KEYWORD, None, None))
                .collect();
        }
        if let Some(chain_text) = head.strip_suffix('.') {
            let start = chain_text
                .trim_end_matches(|c: char| is_ident_char(c) || c == '.')
                .len();
            let chain: Vec<&str> = chain_text.get(start..).unwrap_or("").split('.').collect();
            let prefix = chain_text.get(..start).unwrap_or("");
            return self.members(&chain, prefix);
        }
        let type_position = re(r":\s*$").is_some_and(|r| r.is_match(segment)) && !segment.contains('=');
        if type_position {
            return self.type_items(segment.contains("resource"));
        }
        let value = assignment(segment);
        // Keys already written in this block (the one being typed aside) are not offered again.
        let typed = before.get(word_start..).unwrap_or("");
        let block_keys = match scan.open.last() {
            Some(o) if o.ch == b'{' => keys_in_block(self.text, o.pos + 1),
            _ => Vec::new(),
        };
        let unset = |items: Vec<CompletionItem>| -> Vec<CompletionItem> {
            items
                .into_iter()
                .filter(|i| i.label == typed || !block_keys.contains(&i.label))
                .collect()
        };
        match (&ctx, value) {
            (Ctx::Top, None) => TOP_KEYWORDS
                .iter()
                .map(|k| item(k, CompletionItemKind::KEYWORD, None, None))
                .collect(),
            (Ctx::Entries(ty), None) => {
                let mut items = self.field_items(ty.as_ref(), false);
                if matches!(ty.as_ref().map(Ty::resolved), Some(Ty::Schema(s)) if self.p.schema(*s).is_resource)
                {
                    items.push(item(
                        "depends_on",
                        CompletionItemKind::FIELD,
                        Some("[resource]".into()),
                        None,
                    ));
                }
                unset(items)
            }
            (Ctx::Overlay(ty), None) => unset(self.field_items(ty.as_ref(), false)),
            (Ctx::Environment, None) => unset(self.environment_items()),
            (Ctx::Schema, None) => Vec::new(),
            (Ctx::List(elem), None) => {
                let mut items = elem
                    .as_ref()
                    .map(|t| self.enum_items(t, true))
                    .unwrap_or_default();
                items.extend(self.value_items());
                items
            }
            (_, _) => {
                let mut items = match value {
                    Some(key) => self
                        .value_expected(&ctx, &format!("{key} ="))
                        .map(|t| self.enum_items(&t, true))
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                items.extend(self.value_items());
                items
            }
        }
    }

    /// The type expected after `key =` in a context.
    fn value_expected(&self, ctx: &Ctx, segment: &str) -> Option<Ty> {
        let key = assignment(segment)?;
        self.field_type(ctx, key)
    }

    /// The type of `key` in a context: a field of its type, or in an environment a param.
    fn field_type(&self, ctx: &Ctx, key: &str) -> Option<Ty> {
        match ctx {
            Ctx::Entries(Some(t)) | Ctx::Overlay(Some(t)) => self
                .fields_of(t)
                .into_iter()
                .find(|(n, _, _, _)| n == key)
                .map(|(_, t, _, _)| t),
            Ctx::Environment => self.p.module(self.p.root()).params.get(key).map(|d| d.ty.clone()),
            _ => None,
        }
    }

    /// Folds the open brackets (outermost first) into the context at the cursor.
    fn context(&self, text: &str, open: &[Open]) -> Ctx {
        let mut ctx = Ctx::Top;
        for o in open {
            let opener = opener_text(text, o.pos);
            ctx = match o.ch {
                b'$' | b'(' => Ctx::Value,
                b'[' => match (&ctx, assignment(opener)) {
                    (_, Some(key)) => Ctx::List(self.field_type(&ctx, key).and_then(|t| element(&t))),
                    (Ctx::List(Some(t)), None) if opener.is_empty() => Ctx::List(element(t)),
                    _ => Ctx::Value,
                },
                _ => self.brace(&ctx, opener),
            };
        }
        ctx
    }

    fn brace(&self, ctx: &Ctx, opener: &str) -> Ctx {
        if let Some(c) = re(r"^(?:@\w+(?:\([^)]*\))?\s*)*resource\s+\w+\s*:\s*([\w.]+)\s*$")
            .and_then(|r| r.captures(opener))
        {
            return Ctx::Entries(c.get(1).and_then(|q| self.resolve_type(q.as_str())));
        }
        if re(r"^environment\s+\w+").is_some_and(|r| r.is_match(opener)) {
            return Ctx::Environment;
        }
        if re(r"^(?:@\w+(?:\([^)]*\))?\s*)*(?:resource\s+)?schema\s").is_some_and(|r| r.is_match(opener)) {
            return Ctx::Schema;
        }
        if opener.starts_with("for ") && matches!(ctx, Ctx::Top) {
            return Ctx::Top;
        }
        if let Some(key) = assignment(opener) {
            return Ctx::Entries(self.field_type(ctx, key));
        }
        let block = re(r"^(\w+)\s*(?:\[.*\])?\s*$")
            .and_then(|r| r.captures(opener))
            .and_then(|c| c.get(1));
        match (ctx, block) {
            (Ctx::Environment, Some(name)) => Ctx::Overlay(self.resource_type(name.as_str())),
            (Ctx::Overlay(_), Some(name)) => Ctx::Overlay(self.field_type(ctx, name.as_str())),
            (Ctx::List(t), None) if opener.is_empty() => Ctx::Entries(t.clone()),
            _ => Ctx::Value,
        }
    }

    /// The schema of a resource: from the analysis, or, when the resource is
    /// being edited (a syntax error drops it from the analysis), from its
    /// declaration in the text.
    fn resource_type(&self, name: &str) -> Option<Ty> {
        if let Some(r) = self.p.module(self.p.root()).resources.get(name) {
            return r.schema.map(Ty::Schema);
        }
        let pattern = format!(r"(?m)^\s*resource\s+{}\s*:\s*([\w.]+)", regex::escape(name));
        let written = re(&pattern)?.captures(self.text)?.get(1)?.as_str();
        self.resolve_type(written)
    }

    /// A written type name (`aws.EksCluster`, `Service`) resolved in the current module.
    fn resolve_type(&self, written: &str) -> Option<Ty> {
        let ident = |name: &str| Ident {
            name: name.to_string(),
            span: Span::default(),
        };
        let q = match written.split_once('.') {
            Some((module, name)) => QualifiedName {
                module: Some(ident(module)),
                name: ident(name),
                span: Span::default(),
            },
            None => QualifiedName {
                module: None,
                name: ident(written),
                span: Span::default(),
            },
        };
        self.p.lookup_type(self.m, &q)
    }

    /// Fields of a record-like type: name, type, docs, whether it is an output.
    fn fields_of(&self, t: &Ty) -> Vec<(String, Ty, Option<String>, bool)> {
        match t.non_null().resolved() {
            Ty::Schema(sid) => self
                .p
                .schema(*sid)
                .fields
                .iter()
                .map(|(n, f)| (n.clone(), f.ty.clone(), f.docs.clone(), f.output))
                .collect(),
            Ty::Record(r) => r
                .fields
                .iter()
                .map(|(n, f)| (n.clone(), f.ty.clone(), f.docs.clone(), false))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Fields to set (outputs left out) or to read (`with_outputs`).
    fn field_items(&self, t: Option<&Ty>, with_outputs: bool) -> Vec<CompletionItem> {
        let Some(t) = t else { return Vec::new() };
        let required: Vec<String> = match t.non_null().resolved() {
            Ty::Schema(sid) => self
                .p
                .schema(*sid)
                .fields
                .iter()
                .filter(|(_, f)| !f.is_optional())
                .map(|(n, _)| n.clone())
                .collect(),
            _ => Vec::new(),
        };
        self.fields_of(t)
            .into_iter()
            .filter(|(_, _, _, output)| with_outputs || !output)
            .enumerate()
            .map(|(i, (name, ty, docs, _))| {
                let mut it = item(&name, CompletionItemKind::FIELD, Some(self.p.show(&ty)), docs);
                // Required fields first, then in declaration order.
                let rank = if required.contains(&name) { 0 } else { 1 };
                it.sort_text = Some(format!("{rank}{i:04}"));
                it
            })
            .collect()
    }

    fn environment_items(&self) -> Vec<CompletionItem> {
        let root = self.p.module(self.p.root());
        let params = root.params.iter().map(|(n, d)| {
            item(
                n,
                CompletionItemKind::VARIABLE,
                Some(self.p.show(&d.ty)),
                d.docs.clone(),
            )
        });
        let overlays = root.resources.iter().map(|(n, d)| {
            let schema = d.schema.map(|s| self.p.schema_name(s));
            item(
                n,
                CompletionItemKind::STRUCT,
                schema.map(|s| format!("overlay of {s}")),
                d.docs.clone(),
            )
        });
        params.chain(overlays).collect()
    }

    /// The values of a string enum (quoted, unless typed inside a string).
    fn enum_items(&self, t: &Ty, quoted: bool) -> Vec<CompletionItem> {
        let mut values = Vec::new();
        enum_values(t, &mut values);
        let mut items: Vec<CompletionItem> = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let label = if quoted { format!("\"{v}\"") } else { v };
                let mut it = item(
                    &label,
                    CompletionItemKind::ENUM_MEMBER,
                    Some(self.p.show(t)),
                    None,
                );
                it.sort_text = Some(format!("0{i:04}"));
                it
            })
            .collect();
        if quoted && matches!(t.non_null().base(), Ty::Bool) {
            items.extend(
                ["true", "false"].map(|b| item(b, CompletionItemKind::KEYWORD, Some("bool".into()), None)),
            );
        }
        items
    }

    /// Names usable as values in the current module.
    fn value_items(&self) -> Vec<CompletionItem> {
        let module = self.p.module(self.m);
        let mut items = Vec::new();
        for (n, ty) in self.locals.iter().rev() {
            if items.iter().any(|i: &CompletionItem| i.label == *n) {
                continue; // shadowed by an inner one
            }
            let mut it = item(n, CompletionItemKind::VARIABLE, Some(self.p.show(ty)), None);
            it.sort_text = Some(format!("0{n}"));
            items.push(it);
        }
        let sorted = |items: &mut Vec<CompletionItem>, it: CompletionItem| {
            let mut it = it;
            it.sort_text = Some(format!("1{}", it.label));
            items.push(it);
        };
        for (n, d) in &module.params {
            sorted(
                &mut items,
                item(
                    n,
                    CompletionItemKind::VARIABLE,
                    Some(self.p.show(&d.ty)),
                    d.docs.clone(),
                ),
            );
        }
        let mut types = Types::new(self.p);
        for (n, d) in &module.lets {
            let ty = types.let_type(self.m, n);
            sorted(
                &mut items,
                item(
                    n,
                    CompletionItemKind::CONSTANT,
                    Some(self.p.show(&ty)),
                    d.docs.clone(),
                ),
            );
        }
        for (n, d) in &module.resources {
            let schema = d.schema.map(|s| self.p.schema_name(s));
            sorted(
                &mut items,
                item(n, CompletionItemKind::STRUCT, schema, d.docs.clone()),
            );
        }
        for (n, d) in &module.fns {
            sorted(
                &mut items,
                item(n, CompletionItemKind::FUNCTION, None, d.docs.clone()),
            );
        }
        for n in module.imports.keys() {
            sorted(&mut items, item(n, CompletionItemKind::MODULE, None, None));
        }
        for b in tpt_lang::builtins::all() {
            let mut it = item(
                b.name,
                CompletionItemKind::FUNCTION,
                Some(b.signature.into()),
                Some(b.doc.into()),
            );
            it.sort_text = Some(format!("2{}", b.name));
            items.push(it);
        }
        for k in ["true", "false", "null", "if", "let", "for"] {
            let mut it = item(k, CompletionItemKind::KEYWORD, None, None);
            it.sort_text = Some(format!("3{k}"));
            items.push(it);
        }
        items
    }

    /// Type names: builtin types, the module's types, imported modules.
    fn type_items(&self, resource_only: bool) -> Vec<CompletionItem> {
        let module = self.p.module(self.m);
        let mut items: Vec<CompletionItem> = Vec::new();
        if !resource_only {
            items.extend(
                BUILTIN_TYPES
                    .iter()
                    .map(|t| item(t, CompletionItemKind::KEYWORD, None, None)),
            );
        }
        items.extend(self.types_of(self.m, resource_only));
        items.extend(
            module
                .imports
                .keys()
                .map(|n| item(n, CompletionItemKind::MODULE, None, None)),
        );
        items
    }

    fn types_of(&self, m: ModuleId, resource_only: bool) -> Vec<CompletionItem> {
        self.p
            .module(m)
            .types
            .iter()
            .filter_map(|(n, t)| match t {
                TypeDef::Schema(sid) => {
                    let s = self.p.schema(*sid);
                    if resource_only && !s.is_resource {
                        return None;
                    }
                    let kind = if s.is_resource {
                        "resource schema"
                    } else {
                        "schema"
                    };
                    Some(item(
                        n,
                        CompletionItemKind::STRUCT,
                        Some(kind.into()),
                        s.docs.clone(),
                    ))
                }
                TypeDef::Alias { ty, docs, .. } if !resource_only => Some(item(
                    n,
                    CompletionItemKind::ENUM,
                    Some(self.p.show(ty.resolved())),
                    docs.clone(),
                )),
                TypeDef::Alias { .. } => None,
            })
            .collect()
    }

    /// After `a.b.`: members of an imported module, or fields of a value.
    fn members(&self, chain: &[&str], prefix: &str) -> Vec<CompletionItem> {
        let module = self.p.module(self.m);
        let segment = prefix
            .rsplit(['\n', ',', ';', '{', '(', '['])
            .next()
            .unwrap_or("");
        if chain == ["std"] && segment.trim_start().starts_with("import") {
            return tpt_lang::stdlib::MODULES
                .iter()
                .map(|(n, _, _)| item(n, CompletionItemKind::MODULE, Some(format!("std.{n}")), None))
                .collect();
        }
        if let [alias] = chain {
            let shadowed = module.lets.contains_key(*alias)
                || module.params.contains_key(*alias)
                || module.resources.contains_key(*alias);
            if let (false, Some(imp)) = (shadowed, module.imports.get(*alias)) {
                let type_position = segment.contains(':') && !segment.contains('=');
                let mut items = self.types_of(imp.module, type_position && segment.contains("resource"));
                if !type_position {
                    let target = self.p.module(imp.module);
                    let mut types = Types::new(self.p);
                    for (n, d) in &target.lets {
                        let ty = types.let_type(imp.module, n);
                        items.push(item(
                            n,
                            CompletionItemKind::CONSTANT,
                            Some(self.p.show(&ty)),
                            d.docs.clone(),
                        ));
                    }
                    for (n, d) in &target.fns {
                        items.push(item(n, CompletionItemKind::FUNCTION, None, d.docs.clone()));
                    }
                }
                return items;
            }
        }
        let Some(expr) = chain_expr(chain) else {
            return Vec::new();
        };
        let mut ty = Types::new(self.p).type_of(self.m, &self.locals, &expr);
        if ty == Ty::Error {
            // A resource being edited: its schema from the text, then the fields read.
            let Some((first, rest)) = chain.split_first() else {
                return Vec::new();
            };
            let Some(mut t) = self.resource_type(first) else {
                return Vec::new();
            };
            for name in rest {
                match self.fields_of(&t).into_iter().find(|(n, _, _, _)| n == name) {
                    Some((_, field_ty, _, _)) => t = field_ty,
                    None => return Vec::new(),
                }
            }
            ty = t;
        }
        self.field_items(Some(&ty), true)
    }
}

fn element(t: &Ty) -> Option<Ty> {
    match t.non_null().resolved() {
        Ty::List(e) => Some((**e).clone()),
        _ => None,
    }
}

fn enum_values(t: &Ty, out: &mut Vec<String>) {
    match t.non_null().resolved() {
        Ty::Literal(s) => out.push(s.to_string()),
        Ty::Union(ts) => {
            for t in ts {
                enum_values(t, out);
            }
        }
        Ty::Refined(inner, _) => enum_values(inner, out),
        _ => {}
    }
}

/// `a.b.c` as an expression (for its type).
fn chain_expr(chain: &[&str]) -> Option<Expr> {
    let (first, rest) = chain.split_first()?;
    if first.is_empty() || !first.chars().all(is_ident_char) {
        return None;
    }
    let ident = |name: &str| Ident {
        name: name.to_string(),
        span: Span::default(),
    };
    let mut e = Expr {
        kind: ExprKind::Ident(ident(first)),
        span: Span::default(),
    };
    for name in rest {
        e = Expr {
            kind: ExprKind::Field(Box::new(e), ident(name)),
            span: Span::default(),
        };
    }
    Some(e)
}

fn item(
    label: &str,
    kind: CompletionItemKind,
    detail: Option<String>,
    docs: Option<String>,
) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        documentation: docs.map(|d| {
            Documentation::MarkupContent(MarkupContent {
                kind: MarkupKind::Markdown,
                value: d,
            })
        }),
        ..Default::default()
    }
}
