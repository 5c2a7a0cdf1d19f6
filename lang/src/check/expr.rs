//! Type inference of expressions, bidirectional: an expected type (when the
//! context has one) guides record literals, lists and branches, and makes
//! messages point at the innermost wrong value.

use std::sync::Arc;

use crate::IndexMap;

use super::{Checker, LetState};
use crate::builtins;
use crate::diagnostic::{did_you_mean, Code, Diagnostic, Fix};
use crate::program::{ModuleId, Program, ResourceDecl};
use crate::source::Span;
use crate::syntax::ast::{
    BinOp, Comprehension, Expr, ExprKind, ForVars, Ident, RecordEntry, StrPart, UnaryOp,
};
use crate::types::{FieldTy, RecordTy, Ty};

/// A list of more different string literals than this is a list of `string`.
const MAX_LITERAL_UNION: usize = 64;

/// What a record literal is checked against.
enum RecordTarget {
    Record {
        fields: RecordTy,
        name: String,
        result: Ty,
    },
    Map(Ty),
}

/// How deep the type of a `let` may nest (lists, maps, records, optionals).
pub const MAX_TYPE_DEPTH: usize = 100;

impl Checker<'_> {
    /// The type of `e` in module `m`; `expected` is a hint, not a requirement.
    pub(crate) fn infer(&mut self, m: ModuleId, e: &Expr, expected: Option<&Ty>) -> Ty {
        self.nest += 1;
        let ty = if crate::stack::due(self.nest) {
            crate::stack::guard(|| self.infer_node(m, e, expected))
        } else {
            self.infer_node(m, e, expected)
        };
        self.nest -= 1;
        ty
    }

    fn infer_node(&mut self, m: ModuleId, e: &Expr, expected: Option<&Ty>) -> Ty {
        match &e.kind {
            ExprKind::Int(_) => Ty::Int,
            ExprKind::Float(_) => Ty::Float,
            ExprKind::Duration(_) => Ty::Duration,
            ExprKind::Bool(_) => Ty::Bool,
            ExprKind::Null => Ty::Null,
            ExprKind::Str(parts) => self.infer_str(m, parts),
            ExprKind::Ident(id) => self.infer_ident(m, id, expected),
            ExprKind::Paren(inner) => self.infer(m, inner, expected),
            ExprKind::List(items) => self.infer_list(m, items, expected),
            ExprKind::Record(entries) => self.infer_record(m, entries, e.span, expected),
            ExprKind::ListComp(c) => self.infer_comp(m, c, false, expected),
            ExprKind::MapComp(c) => self.infer_comp(m, c, true, expected),
            ExprKind::Field(target, name) => self.infer_field(m, target, name),
            ExprKind::Index(target, index) => self.infer_index(m, target, index),
            ExprKind::Call(callee, args) => self.infer_call(m, callee, args, e.span),
            ExprKind::Unary(op, operand) => self.infer_unary(m, *op, operand),
            ExprKind::Binary(op, l, r) => self.infer_binary(m, *op, l, r, e.span, expected),
            ExprKind::If(c, t, f) => {
                self.check_expr(m, c, &Ty::Bool, &"the condition of `if`");
                let a = self.infer_branch(m, t, expected);
                let b = self.infer_branch(m, f, expected);
                self.join(&a, &b)
            }
            ExprKind::Let(name, value, body) => {
                let vt = self.infer(m, value, None);
                self.with_locals(vec![(name.name.clone(), vt)], |c| c.infer(m, body, expected))
            }
        }
    }

    fn infer_branch(&mut self, m: ModuleId, e: &Expr, expected: Option<&Ty>) -> Ty {
        match expected {
            Some(x) => self.check_expr(m, e, x, &"this branch"),
            None => self.infer(m, e, None),
        }
    }

    /// The least type both fit in.
    pub(crate) fn join(&self, a: &Ty, b: &Ty) -> Ty {
        match (a.resolved(), b.resolved()) {
            (Ty::Literal(x), Ty::Literal(y)) if x != y => Ty::union(vec![a.clone(), b.clone()]),
            // A union of literals grows with each new literal, up to a bound.
            (Ty::Union(ts), Ty::Literal(_)) | (Ty::Literal(_), Ty::Union(ts))
                if ts.iter().all(|t| matches!(t.resolved(), Ty::Literal(_))) =>
            {
                if ts.len() >= MAX_LITERAL_UNION {
                    Ty::String
                } else {
                    Ty::union(vec![a.clone(), b.clone()])
                }
            }
            (Ty::Null, t) | (t, Ty::Null) => match t {
                Ty::Null | Ty::Optional(_) | Ty::Error => t.clone(),
                t => Ty::Optional(Box::new(t.clone())),
            },
            _ if self.fits(a, b).is_ok() => b.clone(),
            _ if self.fits(b, a).is_ok() => a.clone(),
            (Ty::Secret, Ty::Literal(_)) | (Ty::Literal(_), Ty::Secret) => Ty::Secret,
            (Ty::Int, Ty::Float) | (Ty::Float, Ty::Int) => Ty::Float,
            _ => Ty::union(vec![a.clone(), b.clone()]),
        }
    }

    fn infer_str(&mut self, m: ModuleId, parts: &[StrPart]) -> Ty {
        let mut secret = false;
        let mut plain = true;
        for part in parts {
            if let StrPart::Interp(e) = part {
                plain = false;
                let t = self.infer(m, e, None);
                match t.base() {
                    Ty::Secret => secret = true,
                    Ty::String
                    | Ty::Literal(_)
                    | Ty::Int
                    | Ty::Float
                    | Ty::Bool
                    | Ty::Duration
                    | Ty::Error => {}
                    Ty::Union(ts) if ts.iter().all(|t| matches!(t.base(), Ty::Literal(_) | Ty::String)) => {}
                    other => {
                        let shown = self.show(other);
                        let mut d = Diagnostic::error(
                            Code::TypeMismatch,
                            format!("a `{shown}` cannot be interpolated into a string"),
                        )
                        .label(e.span, format!("this is `{shown}`"));
                        d = if matches!(other, Ty::Optional(_) | Ty::Null) {
                            d.help("give a fallback first: `${value ?? \"default\"}`")
                        } else {
                            d.help("interpolate strings, numbers, bools or durations; for lists use `join(\", \", list)`, for records `json_encode(…)`")
                        };
                        self.err(d);
                    }
                }
            }
        }
        if secret {
            Ty::Secret
        } else if plain {
            Ty::Literal(Arc::from(
                super::assign::plain_text(parts).unwrap_or_default().as_str(),
            ))
        } else {
            Ty::String
        }
    }

    fn infer_ident(&mut self, m: ModuleId, id: &Ident, expected: Option<&Ty>) -> Ty {
        if let Some(t) = self.local(&id.name) {
            return t.clone();
        }
        let module = self.p.module(m);
        if module.lets.contains_key(&id.name) {
            return self.let_type(m, &id.name);
        }
        if let Some(p) = module.params.get(&id.name) {
            return p.ty.clone();
        }
        if let Some(r) = module.resources.get(&id.name) {
            return self.resource_type(m, r);
        }
        let (what, help) = if module.fns.contains_key(&id.name) || builtins::lookup(&id.name).is_some() {
            ("a function", format!("call it: `{}(…)`", id.name))
        } else if module.imports.contains_key(&id.name) {
            ("a module", format!("name a member of it: `{}.NAME`", id.name))
        } else if module.types.contains_key(&id.name) || crate::program::builtin_type(&id.name).is_some() {
            (
                "a type",
                "types are used in declarations (`param x: T`); write a value here".to_string(),
            )
        } else {
            ("", String::new())
        };
        if !what.is_empty() {
            self.err(
                Diagnostic::error(Code::UnknownName, format!("`{}` is {what}, not a value", id.name))
                    .label(id.span, format!("{what} used as a value"))
                    .help(help),
            );
            return Ty::Error;
        }
        let d = Diagnostic::error(Code::UnknownName, format!("unknown name `{}`", id.name))
            .label(id.span, "not found in this scope");
        let d = self.unknown_name_fixes(m, id, expected, d);
        self.err(d);
        Ty::Error
    }

    /// The help and fixes of an unknown name: a module of the standard
    /// library to import; a name of the expected type that is spelled alike
    /// (preferred), or one of another type (offered, not preferred); or a
    /// `param` of the expected type to declare.
    fn unknown_name_fixes(
        &mut self,
        m: ModuleId,
        id: &Ident,
        expected: Option<&Ty>,
        d: Diagnostic,
    ) -> Diagnostic {
        let file_text = self.p.sources.get(id.span.file).map_or("", |f| f.text.as_ref());
        if crate::stdlib::module(&id.name).is_some() {
            return d
                .help(format!("add `import std.{}` at the top of the file", id.name))
                .fix(crate::insert::std_import(id.span.file, file_text, &id.name));
        }
        let expected = expected.filter(|x| !matches!(x.resolved(), Ty::Error));
        // Each visible name with its type, when known without inferring more
        // (a `let` still being inferred would report a false cycle).
        let program: &Program = self.p;
        let module = program.module(m);
        let mut typed: Vec<(String, Option<Ty>)> = self
            .locals
            .iter()
            .map(|(n, t)| (n.clone(), Some(t.clone())))
            .collect();
        typed.extend(module.lets.keys().map(|n| {
            let owner = module.owner_of(m, n);
            let known = match self.lets.get(&(owner, n.clone())) {
                Some(LetState::Done(t)) => Some(t.clone()),
                _ => None,
            };
            (n.clone(), known)
        }));
        typed.extend(module.params.iter().map(|(n, p)| (n.clone(), Some(p.ty.clone()))));
        let fixing = std::mem::replace(&mut self.fixing, true);
        for (n, r) in &module.resources {
            // Inside another fix's inference: the type is not asked for again.
            let t = (!fixing).then(|| self.resource_type(m, r));
            typed.push((n.clone(), t));
        }
        self.fixing = fixing;
        let fitting: Vec<&str> = typed
            .iter()
            .filter(|(_, t)| match (t, expected) {
                (_, None) => true,
                (Some(t), Some(x)) => !matches!(t.resolved(), Ty::Error) && self.fits(t, x).is_ok(),
                (None, Some(_)) => false,
            })
            .map(|(n, _)| n.as_str())
            .collect();
        let mut d = d;
        if let Some(s) = did_you_mean(&id.name, fitting.iter().copied()) {
            return d.help(format!("did you mean `{s}`?")).suggest(s);
        }
        let other = did_you_mean(&id.name, typed.iter().map(|(n, _)| n.as_str()));
        let declare = (m == self.p.root()).then(|| {
            let ty = expected.map_or_else(|| "string".to_string(), |x| self.p.written_in(m, x));
            format!("param {}: {ty}", id.name)
        });
        let other_ty = other
            .as_ref()
            .and_then(|s| typed.iter().find(|(n, _)| n == s))
            .and_then(|(_, t)| t.as_ref());
        d = match (&other, other_ty, expected) {
            (Some(s), Some(t), Some(x)) => d.help(format!(
                "`{s}` is spelled alike, but it is a `{}`, not a `{}`; declare `{}` as a `param`, `let` or `resource`, or check the spelling",
                self.show(t),
                self.show(x),
                id.name
            )),
            (Some(s), _, _) => d.help(format!("did you mean `{s}`?")),
            (None, _, _) => d.help("declare it as a `param`, `let` or `resource`, or check the spelling"),
        };
        if let Some(decl) = declare {
            let (span, text) = crate::insert::declaration(id.span.file, file_text, &decl);
            d = d.fix(Fix {
                title: format!("Declare `{decl}`"),
                edits: vec![(span, text)],
                // A name spelled alike but of another type is not what was meant.
                preferred: other.is_none() || other_ty.is_some(),
            });
        }
        if let Some(s) = other {
            d = d.replace(id.span, s, false);
        }
        d
    }

    /// The type of a top-level `let` (inferred once; cycles reported).
    pub(crate) fn let_type(&mut self, m: ModuleId, name: &str) -> Ty {
        // A component sees its file's `let`s; they are checked there.
        let owner = self.p.module(m).owner_of(m, name);
        if owner != m {
            return self.let_type(owner, name);
        }
        let key = (m, name.to_string());
        match self.lets.get(&key) {
            Some(LetState::Done(t)) => return t.clone(),
            Some(LetState::InProgress) => {
                if let Some(decl) = self.p.module(m).lets.get(name) {
                    let span = decl.node.name.span;
                    self.err(
                        Diagnostic::error(Code::LetCycle, format!("`{name}` depends on itself"))
                            .label(span, "this `let` is part of a cycle")
                            .help("a `let` cannot use its own value, directly or through other `let`s; break the cycle"),
                    );
                }
                return Ty::Error;
            }
            None => {}
        }
        let Some(decl) = self.p.module(m).lets.get(name) else {
            return Ty::Error;
        };
        self.lets.insert(key.clone(), LetState::InProgress);
        // `let`s are checked in their own scope, without the caller's locals.
        let saved = std::mem::take(&mut self.locals);
        let decode = ["yaml_decode", "json_decode"]
            .iter()
            .find_map(|n| decl.node.value.call_of(n).map(|args| (*n, args)));
        let ty = match (&decl.node.ty, decode) {
            (Some(_), Some((fname, args))) => {
                // Decoded text takes the declared type; evaluation checks that it fits.
                let tys = self.infer_args(m, args);
                if let Some(b) = builtins::lookup(fname) {
                    if let Err(e) = (b.check)(&tys) {
                        let at = e
                            .arg
                            .and_then(|i| args.get(i))
                            .map_or(decl.node.value.span, |a| a.span);
                        self.err(
                            Diagnostic::error(
                                Code::TypeMismatch,
                                format!("wrong call of `{fname}`: {}", e.message),
                            )
                            .label(at, e.message.clone())
                            .help(format!("the signature is `{}`", b.signature)),
                        );
                    }
                }
                decl.ty.clone()
            }
            (Some(_), None) => {
                let declared = decl.ty.clone();
                self.check_expr(m, &decl.node.value, &declared, &format_args!("`let {name}`"));
                declared
            }
            (None, _) => self.infer(m, &decl.node.value, None),
        };
        // Each `let` may nest its value one level deeper than the `let`s it reads;
        // a chain of them would build values deeper than any phase can walk.
        let ty = if ty.deeper_than(MAX_TYPE_DEPTH) {
            self.err(
                Diagnostic::error(
                    Code::LimitExceeded,
                    format!("the value of `{name}` nests more than {MAX_TYPE_DEPTH} levels deep"),
                )
                .label(decl.node.name.span, "too deeply nested")
                .help("a configuration's values are records and lists a few levels deep; flatten this one"),
            );
            Ty::Error
        } else {
            ty
        };
        self.locals = saved;
        self.lets.insert(key, LetState::Done(ty.clone()));
        ty
    }

    /// The type of a resource name: a reference, or a map/list of them when stamped by `for`.
    pub(crate) fn resource_type(&mut self, m: ModuleId, r: &ResourceDecl) -> Ty {
        let Some(schema) = r.schema else { return Ty::Error };
        let key = (m, r.node.name.name.clone());
        if self.stamping.contains(&key) {
            self.stamp_cycles.push(crate::eval::stamping_itself(r));
            return Ty::Error;
        }
        if r.loops.is_empty() {
            return Ty::Schema(schema);
        }
        self.stamping.push(key);
        let saved = std::mem::take(&mut self.locals);
        let mut wrappers = Vec::new();
        for l in &r.loops {
            let iter = self.infer_quiet(m, &l.iter);
            let (vars, string_key) = loop_bindings(&l.vars, &iter);
            wrappers.push(string_key);
            self.locals.extend(vars);
        }
        self.locals = saved;
        self.stamping.pop();
        let mut ty = Ty::Schema(schema);
        for string_key in wrappers.into_iter().rev() {
            ty = if string_key {
                Ty::Map(Box::new(ty))
            } else {
                Ty::List(Box::new(ty))
            };
        }
        ty
    }

    /// Infers without reporting (the expression is reported where it is checked).
    pub(crate) fn infer_quiet(&mut self, m: ModuleId, e: &Expr) -> Ty {
        let n = self.diags.len();
        let t = self.infer(m, e, None);
        self.diags.truncate(n);
        t
    }

    fn infer_list(&mut self, m: ModuleId, items: &[Expr], expected: Option<&Ty>) -> Ty {
        let elem_expected = expected.and_then(|x| match x.non_null().resolved() {
            Ty::List(t) => Some((**t).clone()),
            _ => None,
        });
        if let Some(elem) = elem_expected {
            for (i, item) in items.iter().enumerate() {
                self.check_expr(m, item, &elem, &format_args!("list element {}", i + 1));
            }
            return Ty::List(Box::new(elem));
        }
        let mut ty: Option<Ty> = None;
        for item in items {
            let t = self.infer(m, item, None);
            ty = Some(match ty {
                None => t,
                Some(prev) => self.join(&prev, &t),
            });
        }
        Ty::List(Box::new(ty.unwrap_or(Ty::Error)))
    }

    fn record_target(&self, expected: Option<&Ty>) -> Option<RecordTarget> {
        let x = expected?.non_null();
        match x.resolved() {
            Ty::Schema(id) if !self.p.schema(*id).is_resource => Some(RecordTarget::Record {
                fields: self.p.schema_record(*id),
                name: format!("`{}`", self.p.schema(*id).name),
                result: Ty::Schema(*id),
            }),
            Ty::Record(r) => Some(RecordTarget::Record {
                fields: (**r).clone(),
                name: "the record".into(),
                result: x.clone(),
            }),
            Ty::Map(t) => Some(RecordTarget::Map((**t).clone())),
            Ty::Union(ts) => {
                let recordish: Vec<&Ty> = ts
                    .iter()
                    .filter(|t| match t.resolved() {
                        Ty::Schema(id) => !self.p.schema(*id).is_resource,
                        Ty::Record(_) | Ty::Map(_) => true,
                        _ => false,
                    })
                    .collect();
                match recordish.as_slice() {
                    [one] => self.record_target(Some(one)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn infer_record(
        &mut self,
        m: ModuleId,
        entries: &[RecordEntry],
        span: Span,
        expected: Option<&Ty>,
    ) -> Ty {
        self.check_duplicate_keys(entries.iter().map(|e| &e.key));
        match self.record_target(expected) {
            Some(RecordTarget::Map(elem)) => {
                for entry in entries {
                    self.check_expr(
                        m,
                        &entry.value,
                        &elem,
                        &format_args!("the value of `{}`", entry.key.name),
                    );
                }
                Ty::Map(Box::new(elem))
            }
            Some(RecordTarget::Record { fields, name, result }) => {
                let entries: Vec<(&Ident, &Expr)> = entries.iter().map(|e| (&e.key, &e.value)).collect();
                self.check_fields(m, &entries, &fields, &name, span, false);
                result
            }
            None => {
                let mut rec = RecordTy::default();
                for entry in entries {
                    let t = self.infer(m, &entry.value, None);
                    rec.fields.insert(
                        entry.key.name.clone(),
                        FieldTy {
                            ty: t,
                            has_default: false,
                            docs: None,
                            span: Some(entry.key.span),
                        },
                    );
                }
                Ty::Record(Arc::new(rec))
            }
        }
    }

    pub(crate) fn check_duplicate_keys<'a>(&mut self, keys: impl Iterator<Item = &'a Ident>) {
        let mut seen: IndexMap<&str, Span> = IndexMap::default();
        for k in keys {
            if let Some(prev) = seen.get(k.name.as_str()) {
                let prev = *prev;
                self.err(
                    Diagnostic::error(Code::Duplicate, format!("`{}` is set twice", k.name))
                        .label(k.span, "set again here")
                        .label(prev, "first set here")
                        .help("remove one of them"),
                );
            } else {
                seen.insert(&k.name, k.span);
            }
        }
    }

    /// Checks `name = value` entries against record fields: unknown fields,
    /// each value's type, and (unless `partial`) missing required fields.
    pub(crate) fn check_fields(
        &mut self,
        m: ModuleId,
        entries: &[(&Ident, &Expr)],
        fields: &RecordTy,
        owner: &str,
        span: Span,
        partial: bool,
    ) {
        for (key, value) in entries {
            match fields.fields.get(&key.name) {
                Some(f) => {
                    let ty = f.ty.clone();
                    self.check_expr(m, value, &ty, &format_args!("field `{}` of {owner}", key.name));
                }
                None => {
                    self.unknown_field(&key.name, key.span, fields, owner);
                    self.infer(m, value, None);
                }
            }
        }
        if !partial {
            let missing: Vec<&str> = fields
                .fields
                .iter()
                .filter(|(n, f)| !f.has_default && !entries.iter().any(|(k, _)| &k.name == *n))
                .map(|(n, _)| n.as_str())
                .collect();
            if !missing.is_empty() {
                self.missing_fields(m, &missing, fields, owner, span, span, None);
            }
        }
    }

    /// Reports `missing` fields of the block `block` (`{ … }`) in module `m`
    /// (the error shown at `span`), with a fix that adds them.
    #[allow(clippy::too_many_arguments)] // each is a distinct part of the message or the fix
    pub(crate) fn missing_fields(
        &mut self,
        m: ModuleId,
        missing: &[&str],
        fields: &RecordTy,
        owner: &str,
        span: Span,
        block: Span,
        env: Option<&str>,
    ) {
        let list = missing
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let plural = if missing.len() == 1 { "field" } else { "fields" };
        let where_ = env.map(|e| format!(" in environment `{e}`")).unwrap_or_default();
        let mut d = Diagnostic::error(
            Code::MissingField,
            format!("missing required {plural} {list} of {owner}{where_}"),
        )
        .label(span, format!("{list} not set"));
        for n in missing.iter().take(3) {
            if let Some(fs) = fields.fields.get(*n).and_then(|f| f.span) {
                d = d.label(fs, format!("`{n}` declared here"));
            }
        }
        let hint = missing
            .iter()
            .map(|n| {
                let ty = fields
                    .fields
                    .get(*n)
                    .map(|f| self.show(&f.ty))
                    .unwrap_or_default();
                format!("{n} = … ({ty})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let help = if env.is_some() {
            format!("set {hint} in the resource, or in an overlay of every environment")
        } else {
            format!("add {hint}")
        };
        d = d.help(help);
        let entries: Vec<String> = missing
            .iter()
            .filter_map(|n| {
                let f = fields.fields.get(*n)?;
                Some(format!("{n} = {}", self.placeholder(m, &f.ty, 0)))
            })
            .collect();
        let text = self.p.sources.get(block.file).map_or("", |f| f.text.as_ref());
        if let Some((at, new)) = crate::insert::entries(text, block, &entries) {
            d = d.fix(Fix {
                title: format!("Add the missing {plural} {list}"),
                edits: vec![(at, new)],
                preferred: true,
            });
        }
        self.err(d);
    }

    /// A value of type `ty` to start from, as source: the zero of a scalar
    /// (or the least its range allows), the first of the allowed strings,
    /// an empty list or map, a record with its required fields, a resource of
    /// that kind in scope — or `null` where nothing of the type exists.
    fn placeholder(&mut self, m: ModuleId, ty: &Ty, depth: usize) -> String {
        match ty.resolved() {
            Ty::String | Ty::Secret => "\"\"".into(),
            Ty::Literal(s) => crate::fmt::quote(s),
            Ty::Int => "0".into(),
            Ty::Float => "0.0".into(),
            Ty::Bool => "false".into(),
            Ty::Duration => "0s".into(),
            Ty::Null | Ty::Optional(_) | Ty::Error => "null".into(),
            Ty::List(_) => "[]".into(),
            Ty::Map(_) => "{}".into(),
            Ty::Union(ts) => match ts.iter().find(|t| !matches!(t.resolved(), Ty::Null)) {
                Some(t) => self.placeholder(m, t, depth),
                None => "null".into(),
            },
            Ty::Refined(base, r) => match (base.base(), r.as_ref()) {
                (Ty::Int, crate::types::Refinement::Range { min: Some(min), .. }) if *min > 0.0 => {
                    format!("{}", min.ceil() as i64)
                }
                (Ty::Float, crate::types::Refinement::Range { min: Some(min), .. }) if *min > 0.0 => {
                    format!("{min:?}")
                }
                _ => self.placeholder(m, base, depth),
            },
            Ty::Record(r) => self.record_placeholder(m, &r.clone(), depth),
            Ty::Schema(id) if self.p.schema(*id).is_resource => {
                let program: &Program = self.p;
                let want = Ty::Schema(*id);
                if self.fixing {
                    return "null".into();
                }
                self.fixing = true;
                let found = program.module(m).resources.iter().find_map(|(name, r)| {
                    let t = self.resource_type(m, r);
                    self.fits(&t, &want).is_ok().then(|| name.clone())
                });
                self.fixing = false;
                found.unwrap_or_else(|| "null".into())
            }
            Ty::Schema(id) => {
                let rec = self.p.schema_record(*id);
                self.record_placeholder(m, &rec, depth)
            }
            Ty::Alias(_, t) => self.placeholder(m, t, depth),
        }
    }

    fn record_placeholder(&mut self, m: ModuleId, rec: &RecordTy, depth: usize) -> String {
        if depth >= 2 {
            return "{}".into();
        }
        let entries: Vec<String> = rec
            .fields
            .iter()
            .filter(|(_, f)| !f.has_default)
            .map(|(n, f)| format!("{n} = {}", self.placeholder(m, &f.ty, depth + 1)))
            .collect();
        if entries.is_empty() {
            "{}".into()
        } else {
            format!("{{ {} }}", entries.join(", "))
        }
    }

    pub(crate) fn unknown_field(&mut self, name: &str, span: Span, fields: &RecordTy, owner: &str) {
        let mut d = Diagnostic::error(Code::UnknownField, format!("{owner} has no field `{name}`"))
            .label(span, "unknown field");
        d = match did_you_mean(name, fields.fields.keys().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
            None => {
                let names: Vec<&str> = fields.fields.keys().map(String::as_str).take(20).collect();
                d.help(format!("the fields are: {}", names.join(", ")))
            }
        };
        self.err(d);
    }

    fn infer_comp(&mut self, m: ModuleId, c: &Comprehension, is_map: bool, expected: Option<&Ty>) -> Ty {
        let iter = self.infer(m, &c.iter, None);
        let vars = self.iter_vars(&c.vars, &iter, c.iter.span);
        let elem_expected = expected.and_then(|x| match x.non_null().resolved() {
            Ty::List(t) | Ty::Map(t) => Some((**t).clone()),
            _ => None,
        });
        self.with_locals(vars, |ch| {
            if let Some(f) = &c.filter {
                ch.check_expr(m, f, &Ty::Bool, &"the filter of a comprehension");
            }
            if let Some(k) = &c.key {
                ch.check_expr(m, k, &Ty::String, &"a map key");
            }
            let body = match &elem_expected {
                Some(x) => ch.check_expr(m, &c.body, x, &"an element"),
                None => ch.infer(m, &c.body, None),
            };
            let body = elem_expected.unwrap_or(body);
            if is_map {
                Ty::Map(Box::new(body))
            } else {
                Ty::List(Box::new(body))
            }
        })
    }

    /// The variables a `for` binds over a value of type `iter`; reports non-iterables.
    pub(crate) fn iter_vars(&mut self, vars: &ForVars, iter: &Ty, span: Span) -> Vec<(String, Ty)> {
        match iter.non_null().base() {
            Ty::List(_) | Ty::Map(_) | Ty::Record(_) | Ty::Error => {}
            other => {
                let shown = self.show(other);
                self.err(
                    Diagnostic::error(Code::TypeMismatch, format!("cannot iterate over a `{shown}`"))
                        .label(span, format!("this is `{shown}`"))
                        .help("`for` iterates over a list (`for x in xs`, `for i, x in xs`) or a map (`for k, v in m`)"),
                );
            }
        }
        loop_bindings(vars, iter).0
    }

    fn infer_field(&mut self, m: ModuleId, target: &Expr, name: &Ident) -> Ty {
        // `module.member`
        if let ExprKind::Ident(id) = &target.kind {
            if self.local(&id.name).is_none() {
                let module = self.p.module(m);
                let shadowed = module.lets.contains_key(&id.name)
                    || module.params.contains_key(&id.name)
                    || module.resources.contains_key(&id.name);
                if let (false, Some(imp)) = (shadowed, module.imports.get(&id.name)) {
                    return self.module_member(imp.module, &id.name, name);
                }
            }
        }
        let t = self.infer(m, target, None);
        self.field_of(&t, name, target.span)
    }

    fn module_member(&mut self, module: ModuleId, alias: &str, name: &Ident) -> Ty {
        let target = self.p.module(module);
        if target.lets.contains_key(&name.name) {
            return self.let_type(module, &name.name);
        }
        let what = if target.fns.contains_key(&name.name) {
            Some(("a function", format!("call it: `{alias}.{}(…)`", name.name)))
        } else if target.types.contains_key(&name.name) {
            Some((
                "a type",
                "types are used in declarations; write a value here".to_string(),
            ))
        } else {
            None
        };
        if let Some((what, help)) = what {
            self.err(
                Diagnostic::error(
                    Code::UnknownName,
                    format!("`{alias}.{}` is {what}, not a value", name.name),
                )
                .label(name.span, format!("{what} used as a value"))
                .help(help),
            );
            return Ty::Error;
        }
        let candidates: Vec<&str> = target
            .lets
            .keys()
            .chain(target.fns.keys())
            .map(String::as_str)
            .collect();
        let mut d = Diagnostic::error(
            Code::UnknownName,
            format!("module `{alias}` has no `{}`", name.name),
        )
        .label(name.span, "not defined there");
        d = match did_you_mean(&name.name, candidates) {
            Some(s) => d.help(format!("did you mean `{alias}.{s}`?")).suggest(s),
            None => d.help(format!("see the members of `{}`", target.name)),
        };
        self.err(d);
        Ty::Error
    }

    /// The type of `value.name` for a value of type `t`.
    pub(crate) fn field_of(&mut self, t: &Ty, name: &Ident, target_span: Span) -> Ty {
        match t.resolved() {
            Ty::Error => Ty::Error,
            Ty::Schema(id) => {
                let schema = self.p.schema(*id);
                match schema.fields.get(&name.name) {
                    Some(f) => f.ty.clone(),
                    None => {
                        let rec = self.p.schema_record(*id);
                        let owner = format!("`{}`", schema.name);
                        self.unknown_field(&name.name, name.span, &rec, &owner);
                        Ty::Error
                    }
                }
            }
            Ty::Record(r) => match r.fields.get(&name.name) {
                Some(f) => f.ty.clone(),
                None => {
                    let r = (**r).clone();
                    self.unknown_field(&name.name, name.span, &r, "the record");
                    Ty::Error
                }
            },
            Ty::Map(elem) => (**elem).clone(),
            Ty::Optional(_) | Ty::Null => {
                let shown = self.show(t);
                self.err(
                    Diagnostic::error(
                        Code::MaybeNull,
                        format!("cannot read `.{}` of a value that may be null", name.name),
                    )
                    .label(target_span, format!("this is `{shown}`"))
                    .help("give a fallback first: `(value ?? default).field`"),
                );
                Ty::Error
            }
            Ty::Union(ts) => {
                let ts = ts.clone();
                let mut out: Option<Ty> = None;
                let n = self.diags.len();
                for member in &ts {
                    let ft = self.field_of(member, name, target_span);
                    out = Some(match out {
                        None => ft,
                        Some(prev) => self.join(&prev, &ft),
                    });
                }
                if self.diags.len() > n {
                    self.diags.truncate(n);
                    let shown = self.show(t);
                    self.err(
                        Diagnostic::error(
                            Code::UnknownField,
                            format!("not every member of `{shown}` has a field `{}`", name.name),
                        )
                        .label(name.span, "not a field of every member")
                        .help("read only fields that all members of the union have"),
                    );
                    return Ty::Error;
                }
                out.unwrap_or(Ty::Error)
            }
            other => {
                let shown = self.show(other);
                self.err(
                    Diagnostic::error(
                        Code::NotCallable,
                        format!("a value of type `{shown}` has no fields"),
                    )
                    .label(name.span, format!("`.{}` read from a `{shown}`", name.name))
                    .help("fields can be read from records, schemas and resources"),
                );
                Ty::Error
            }
        }
    }

    fn infer_index(&mut self, m: ModuleId, target: &Expr, index: &Expr) -> Ty {
        let t = self.infer(m, target, None);
        match t.resolved() {
            Ty::Error => {
                self.infer(m, index, None);
                Ty::Error
            }
            Ty::List(elem) => {
                let elem = (**elem).clone();
                self.check_expr(m, index, &Ty::Int, &"a list index");
                elem
            }
            Ty::Map(elem) => {
                let elem = (**elem).clone();
                self.check_expr(m, index, &Ty::String, &"a map key");
                elem
            }
            Ty::Record(_) | Ty::Schema(_) => {
                let key_ty = self.check_expr(m, index, &Ty::String, &"a record key");
                if let Ty::Literal(key) = key_ty.resolved() {
                    let ident = Ident {
                        name: key.to_string(),
                        span: index.span,
                    };
                    return self.field_of(&t, &ident, target.span);
                }
                let fields: Vec<Ty> = match t.resolved() {
                    Ty::Record(r) => r.fields.values().map(|f| f.ty.clone()).collect(),
                    Ty::Schema(id) => self.p.schema(*id).fields.values().map(|f| f.ty.clone()).collect(),
                    _ => Vec::new(),
                };
                fields
                    .into_iter()
                    .reduce(|a, b| self.join(&a, &b))
                    .unwrap_or(Ty::Error)
            }
            Ty::String | Ty::Literal(_) | Ty::Secret => {
                self.check_expr(m, index, &Ty::Int, &"a string index");
                if t.is_secret() {
                    Ty::Secret
                } else {
                    Ty::String
                }
            }
            other => {
                let shown = self.show(other);
                self.infer(m, index, None);
                let mut d = Diagnostic::error(Code::TypeMismatch, format!("a `{shown}` cannot be indexed"))
                    .label(target.span, format!("this is `{shown}`"));
                d = if matches!(other, Ty::Optional(_) | Ty::Null) {
                    d.with_code(Code::MaybeNull)
                        .help("give a fallback first: `(value ?? [])[i]`")
                } else {
                    d.help("index lists with an int (`xs[0]`) and maps with a string (`m[\"key\"]`)")
                };
                self.err(d);
                Ty::Error
            }
        }
    }

    fn infer_call(&mut self, m: ModuleId, callee: &Expr, args: &[Expr], span: Span) -> Ty {
        // Resolve the callee to a user function (module, name) or a builtin.
        let (fn_module, fn_name, display) = match &callee.kind {
            ExprKind::Ident(id) if self.local(&id.name).is_none() && !self.is_value_name(m, &id.name) => {
                (m, id, id.name.clone())
            }
            ExprKind::Field(target, name) => match &target.kind {
                ExprKind::Ident(id)
                    if self.local(&id.name).is_none() && self.p.module(m).imports.contains_key(&id.name) =>
                {
                    let imp = self
                        .p
                        .module(m)
                        .imports
                        .get(&id.name)
                        .map(|i| i.module)
                        .unwrap_or(m);
                    if !self.p.module(imp).fns.contains_key(&name.name) {
                        let candidates: Vec<&str> =
                            self.p.module(imp).fns.keys().map(String::as_str).collect();
                        let mut d = Diagnostic::error(
                            Code::UnknownName,
                            format!("module `{}` has no function `{}`", id.name, name.name),
                        )
                        .label(name.span, "not defined there");
                        d = match did_you_mean(&name.name, candidates) {
                            Some(s) => d.help(format!("did you mean `{}.{s}`?", id.name)).suggest(s),
                            None => d.help(format!("see the functions of `{}`", self.p.module(imp).name)),
                        };
                        self.err(d);
                        self.infer_args(m, args);
                        return Ty::Error;
                    }
                    (imp, name, format!("{}.{}", id.name, name.name))
                }
                _ => return self.not_callable(m, callee, args),
            },
            _ => return self.not_callable(m, callee, args),
        };
        if let Some(f) = self.p.module(fn_module).fns.get(&fn_name.name) {
            let params: Vec<(String, Ty)> = f.typed_params();
            let ret = f.ty.clone();
            if params.len() != args.len() {
                let sig = params
                    .iter()
                    .map(|(n, t)| format!("{n}: {}", self.show(t)))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.err(
                    Diagnostic::error(
                        Code::ArgumentCount,
                        format!(
                            "`{display}` takes {} argument{}, {} given",
                            params.len(),
                            plural(params.len()),
                            args.len()
                        ),
                    )
                    .label(span, "wrong number of arguments")
                    .label(f.node.name.span, "defined here")
                    .help(format!("call it as `{display}({sig})`")),
                );
                self.infer_args(m, args);
                return ret;
            }
            for (i, (arg, (pname, pty))) in args.iter().zip(params.iter()).enumerate() {
                let _ = i;
                self.check_expr(m, arg, pty, &format_args!("argument `{pname}` of `{display}`"));
            }
            return ret;
        }
        if fn_module == m {
            if let Some(b) = builtins::lookup(&fn_name.name) {
                if let Some(d) = file_builtin_misuse(b.name, args, span) {
                    self.err(d);
                    self.infer_args(m, args);
                    return Ty::Error;
                }
                let tys = self.infer_args(m, args);
                return match (b.check)(&tys) {
                    Ok(t) => taint(t, &tys),
                    Err(e) => {
                        // An optional argument that would fit without its `?`: say so.
                        if let Some(i) = e.arg.filter(|i| tys.get(*i).is_some_and(Ty::is_optional)) {
                            let mut fixed = tys.clone();
                            if let Some(t) = fixed.get_mut(i) {
                                *t = t.non_null();
                            }
                            if let (Ok(t), Some(a)) = ((b.check)(&fixed), args.get(i)) {
                                let shown = self.show(tys.get(i).unwrap_or(&Ty::Error));
                                self.err(
                                    Diagnostic::error(
                                        Code::MaybeNull,
                                        format!("argument {} of `{}` may be null", i + 1, b.name),
                                    )
                                    .label(a.span, format!("this is `{shown}`"))
                                    .help("give a fallback first: `value ?? default`"),
                                );
                                return taint(t, &tys);
                            }
                        }
                        let (code, at) = match e.arg.and_then(|i| args.get(i)) {
                            Some(a) => (Code::TypeMismatch, a.span),
                            None => (Code::ArgumentCount, span),
                        };
                        self.err(
                            Diagnostic::error(code, format!("wrong call of `{}`: {}", b.name, e.message))
                                .label(at, e.message.clone())
                                .help(format!("the signature is `{}`", b.signature)),
                        );
                        Ty::Error
                    }
                };
            }
        }
        let mut candidates: Vec<String> = self.p.module(m).fns.keys().cloned().collect();
        candidates.extend(builtins::all().iter().map(|b| b.name.to_string()));
        let mut d = Diagnostic::error(Code::UnknownName, format!("unknown function `{}`", fn_name.name))
            .label(fn_name.span, "not a function in scope");
        d = match did_you_mean(&fn_name.name, candidates.iter().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
            None => d.help("declare it with `fn`, or see the builtin functions in docs/language.md"),
        };
        self.err(d);
        self.infer_args(m, args);
        Ty::Error
    }

    /// Whether a name in module scope is a value (not a function).
    fn is_value_name(&self, m: ModuleId, name: &str) -> bool {
        let module = self.p.module(m);
        module.lets.contains_key(name)
            || module.params.contains_key(name)
            || module.resources.contains_key(name)
    }

    fn infer_args(&mut self, m: ModuleId, args: &[Expr]) -> Vec<Ty> {
        args.iter().map(|a| self.infer(m, a, None)).collect()
    }

    fn not_callable(&mut self, m: ModuleId, callee: &Expr, args: &[Expr]) -> Ty {
        let t = self.infer(m, callee, None);
        if t != Ty::Error {
            let shown = self.show(&t);
            self.err(
                Diagnostic::error(
                    Code::NotCallable,
                    format!("a value of type `{shown}` cannot be called"),
                )
                .label(callee.span, format!("this is `{shown}`, not a function"))
                .help("only functions (`fn`, builtins, `module.fn`) can be called"),
            );
        }
        self.infer_args(m, args);
        Ty::Error
    }

    fn infer_unary(&mut self, m: ModuleId, op: UnaryOp, operand: &Expr) -> Ty {
        match op {
            UnaryOp::Not => {
                self.check_expr(m, operand, &Ty::Bool, &"the operand of `!`");
                Ty::Bool
            }
            UnaryOp::Neg => {
                let t = self.infer(m, operand, None);
                match t.base() {
                    Ty::Int | Ty::Float | Ty::Duration | Ty::Error => t.base().clone(),
                    other => {
                        let shown = self.show(other);
                        self.err(
                            Diagnostic::error(Code::TypeMismatch, format!("cannot negate a `{shown}`"))
                                .label(operand.span, format!("this is `{shown}`"))
                                .help("`-` applies to ints, floats and durations"),
                        );
                        Ty::Error
                    }
                }
            }
        }
    }

    fn infer_binary(
        &mut self,
        m: ModuleId,
        op: BinOp,
        l: &Expr,
        r: &Expr,
        span: Span,
        expected: Option<&Ty>,
    ) -> Ty {
        match op {
            BinOp::And | BinOp::Or => {
                self.check_expr(
                    m,
                    l,
                    &Ty::Bool,
                    &format_args!("the left side of `{}`", op.as_str()),
                );
                self.check_expr(
                    m,
                    r,
                    &Ty::Bool,
                    &format_args!("the right side of `{}`", op.as_str()),
                );
                return Ty::Bool;
            }
            BinOp::Coalesce => {
                let lt = self.infer(m, l, expected);
                let inner = lt.non_null();
                let rt = match expected {
                    Some(x) => self.check_expr(m, r, x, &"the fallback of `??`"),
                    None => {
                        let target = if inner == Ty::Error || matches!(inner.resolved(), Ty::Null) {
                            None
                        } else {
                            Some(&inner)
                        };
                        self.infer(m, r, target)
                    }
                };
                return self.join(&inner, &rt);
            }
            _ => {}
        }
        let lt = self.infer(m, l, None);
        let rt = self.infer(m, r, None);
        // Operators work on values, not on values that may be null.
        for (t, side) in [(&lt, l), (&rt, r)] {
            if matches!(t.resolved(), Ty::Optional(_) | Ty::Null) && !matches!(op, BinOp::Eq | BinOp::Ne) {
                let shown = self.show(t);
                self.err(
                    Diagnostic::error(
                        Code::MaybeNull,
                        format!("`{}` needs a value, but this may be null", op.as_str()),
                    )
                    .label(side.span, format!("this is `{shown}`"))
                    .help("give a fallback first: `(value ?? default)`"),
                );
                return Ty::Error;
            }
        }
        let (a, b) = (lt.base().clone(), rt.base().clone());
        if a == Ty::Error || b == Ty::Error {
            return match op {
                BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Ty::Bool,
                _ => Ty::Error,
            };
        }
        let stringish = |t: &Ty| matches!(t, Ty::String | Ty::Literal(_) | Ty::Secret);
        let numeric = |t: &Ty| matches!(t, Ty::Int | Ty::Float);
        let result = match op {
            BinOp::Eq | BinOp::Ne => {
                if self.fits(&lt, &rt).is_ok()
                    || self.fits(&rt, &lt).is_ok()
                    || (numeric(&a) && numeric(&b))
                    || (stringish(&a) && stringish(&b))
                {
                    Some(Ty::Bool)
                } else {
                    None
                }
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                if (numeric(&a) && numeric(&b))
                    || (stringish(&a) && stringish(&b))
                    || (a == Ty::Duration && b == Ty::Duration)
                {
                    Some(Ty::Bool)
                } else {
                    None
                }
            }
            BinOp::Add => match (&a, &b) {
                (Ty::Int, Ty::Int) => Some(Ty::Int),
                (x, y) if numeric(x) && numeric(y) => Some(Ty::Float),
                (Ty::Duration, Ty::Duration) => Some(Ty::Duration),
                (x, y) if stringish(x) && stringish(y) => Some(if *x == Ty::Secret || *y == Ty::Secret {
                    Ty::Secret
                } else {
                    Ty::String
                }),
                (Ty::List(x), Ty::List(y)) => Some(Ty::List(Box::new(self.join(x, y)))),
                _ => None,
            },
            BinOp::Sub => match (&a, &b) {
                (Ty::Int, Ty::Int) => Some(Ty::Int),
                (x, y) if numeric(x) && numeric(y) => Some(Ty::Float),
                (Ty::Duration, Ty::Duration) => Some(Ty::Duration),
                _ => None,
            },
            BinOp::Mul => match (&a, &b) {
                (Ty::Int, Ty::Int) => Some(Ty::Int),
                (x, y) if numeric(x) && numeric(y) => Some(Ty::Float),
                (Ty::Duration, Ty::Int) | (Ty::Int, Ty::Duration) => Some(Ty::Duration),
                _ => None,
            },
            BinOp::Div | BinOp::Rem => match (&a, &b) {
                (Ty::Int, Ty::Int) => Some(Ty::Int),
                (x, y) if numeric(x) && numeric(y) => Some(Ty::Float),
                (Ty::Duration, Ty::Int) => Some(Ty::Duration),
                (Ty::Duration, Ty::Duration) if op == BinOp::Div => Some(Ty::Int),
                _ => None,
            },
            BinOp::And | BinOp::Or | BinOp::Coalesce => Some(Ty::Bool),
        };
        match result {
            Some(t) => t,
            None => {
                let (ls, rs) = (self.show(&lt), self.show(&rt));
                let help = match op {
                    BinOp::Add if stringish(&a) || stringish(&b) => {
                        "join text with interpolation: \"${a}${b}\"; convert numbers with to_string(…)"
                            .to_string()
                    }
                    BinOp::Eq | BinOp::Ne => "compare values of the same type".to_string(),
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        "order compares numbers with numbers, strings with strings, durations with durations"
                            .to_string()
                    }
                    _ => format!(
                        "`{}` works on numbers (and durations where it makes sense)",
                        op.as_str()
                    ),
                };
                self.err(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("`{}` cannot be applied to `{ls}` and `{rs}`", op.as_str()),
                    )
                    .label(span, format!("`{ls}` {} `{rs}`", op.as_str()))
                    .help(help),
                );
                Ty::Error
            }
        }
    }
}

trait WithCode {
    fn with_code(self, code: Code) -> Self;
}

impl WithCode for Diagnostic {
    fn with_code(mut self, code: Code) -> Self {
        self.code = code;
        self
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A string result computed from a secret argument is a secret.
fn taint(result: Ty, args: &[Ty]) -> Ty {
    fn has_secret(t: &Ty) -> bool {
        match t.resolved() {
            Ty::Secret => true,
            Ty::Refined(t, _) | Ty::Optional(t) | Ty::List(t) | Ty::Map(t) => has_secret(t),
            Ty::Record(r) => r.fields.values().any(|f| has_secret(&f.ty)),
            Ty::Union(ts) => ts.iter().any(has_secret),
            _ => false,
        }
    }
    if args.iter().any(has_secret) && matches!(result.base(), Ty::String | Ty::Literal(_)) {
        Ty::Secret
    } else {
        result
    }
}

/// The variables of `for vars in <iter>` and whether the address key is a string.
pub(crate) fn loop_bindings(vars: &ForVars, iter: &Ty) -> (Vec<(String, Ty)>, bool) {
    let iter = iter.non_null();
    let (key, value, string_key) = match iter.base() {
        Ty::List(elem) => {
            let string_elem = matches!(elem.base(), Ty::String | Ty::Literal(_))
                || matches!(elem.base(), Ty::Union(ts) if ts.iter().all(|t| matches!(t.base(), Ty::Literal(_) | Ty::String)));
            (Ty::Int, (**elem).clone(), string_elem)
        }
        Ty::Map(elem) => (Ty::String, (**elem).clone(), true),
        Ty::Record(r) => {
            let value = r
                .fields
                .values()
                .map(|f| f.ty.clone())
                .reduce(|a, b| Ty::union(vec![a, b]))
                .unwrap_or(Ty::Error);
            (Ty::String, value, true)
        }
        _ => (Ty::Error, Ty::Error, true),
    };
    let mut out = Vec::new();
    match &vars.second {
        Some(second) => {
            out.push((vars.first.name.clone(), key));
            out.push((second.name.clone(), value));
        }
        None => out.push((vars.first.name.clone(), value)),
    }
    (out, string_key)
}

/// A file builtin where it cannot stand: `file`/`templatefile` read a path
/// written as a string literal (read when loading); `yaml_decode`/`json_decode`
/// give a value of a declared type, so they stand as the value of a typed `let`
/// (checked there, not here).
fn file_builtin_misuse(name: &str, args: &[Expr], span: Span) -> Option<Diagnostic> {
    if crate::program::FILE_READERS.contains(&name) {
        let path = args.first()?;
        if path.plain_string().is_some() {
            return None;
        }
        return Some(
            Diagnostic::error(Code::TypeMismatch, format!("the path of `{name}` must be a string literal"))
                .label(path.span, "computed")
                .help("files are read when the configuration is loaded, so their paths are written out: `file(\"./values.yaml\")`; choose between files with `if`, or read each and pick with a map"),
        );
    }
    if name == "yaml_decode" || name == "json_decode" {
        return Some(
            Diagnostic::error(Code::TypeMismatch, format!("`{name}` needs a declared type"))
                .label(span, "the type of the decoded value is not declared here")
                .help(format!("decode into a typed `let`, then use it: `let values: Values = {name}(file(\"values.yaml\"))`")),
        );
    }
    None
}
