//! Evaluating expressions. Two marks propagate: a secret operand makes the
//! result secret, and an unknown operand (a resource output) makes the result
//! unknown, carrying the dependencies of every unknown that went into it.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::IndexMap;

use super::Evaluator;
use crate::builtins::{self, MAX_ELEMENTS, MAX_STRING};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::ModuleId;
use crate::source::Span;
use std::fmt::Write as _;

use crate::syntax::ast::{BinOp, Comprehension, Expr, ExprKind, Ident, StrPart, UnaryOp};
use crate::value::{format_duration, Unknown, Value};

/// The deepest nesting of function calls (a guard: recursion is rejected statically).
const MAX_DEPTH: usize = 256;

type R = Result<Value, Diagnostic>;

impl Evaluator<'_> {
    pub(crate) fn eval(&mut self, m: ModuleId, e: &Expr) -> R {
        self.spent.steps += 1;
        if self.spent.steps > self.budget.steps {
            return Err(self.over_budget(format!("{} steps", self.budget.steps), e.span));
        }
        if self.spent.steps & (super::CANCEL_EVERY - 1) == 0 && self.inputs.cancelled() {
            // Every later step fails quietly too: nobody reads this result.
            self.budget.steps = 0;
            self.exhausted = true;
            return Err(super::already_reported(e.span));
        }
        self.nest += 1;
        let v = if crate::stack::due(self.nest) {
            crate::stack::guard(|| self.eval_node(m, e))
        } else {
            self.eval_node(m, e)
        };
        self.nest -= 1;
        let v = v?;
        // What this node built (names, fields and locals only share).
        if matches!(
            e.kind,
            ExprKind::List(_)
                | ExprKind::Record(_)
                | ExprKind::Str(_)
                | ExprKind::ListComp(_)
                | ExprKind::MapComp(_)
                | ExprKind::Binary(..)
                | ExprKind::Call(..)
        ) {
            self.spent.bytes += built_bytes(&v);
            if self.spent.bytes > self.budget.bytes {
                return Err(self.over_budget(format!("{} bytes of values", self.budget.bytes), e.span));
            }
        }
        Ok(v)
    }

    /// The budget's error, naming what was being built; once given, later
    /// steps stop with an error that is not shown again.
    fn over_budget(&mut self, limit: String, span: Span) -> Diagnostic {
        if self.exhausted {
            return super::already_reported(span);
        }
        self.exhausted = true;
        let what = match self.building.last() {
            Some(b) => b.to_string(),
            None => "the configuration".to_string(),
        };
        Diagnostic::error(
            Code::LimitExceeded,
            format!("evaluation budget exceeded while building {what}: more than {limit}"),
        )
        .label(span, "the budget ran out here")
        .help("look for comprehensions over large ranges or collections; a configuration that really needs more can raise the budget with `--max-eval-steps N` or `--max-eval-bytes SIZE`")
    }

    fn eval_node(&mut self, m: ModuleId, e: &Expr) -> R {
        match &e.kind {
            ExprKind::Int(i) => Ok(Value::Int(*i)),
            ExprKind::Float(f) => Ok(Value::Float(*f)),
            ExprKind::Duration(d) => Ok(Value::Duration(*d)),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::Null => Ok(Value::Null),
            ExprKind::Paren(inner) => self.eval(m, inner),
            ExprKind::Str(parts) => self.eval_str(m, parts),
            ExprKind::Ident(id) => self.eval_ident(m, id),
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(m, i)?);
                }
                Ok(Value::list(out))
            }
            ExprKind::Record(entries) => {
                let mut out = IndexMap::with_capacity_and_hasher(entries.len(), Default::default());
                for en in entries {
                    let v = self.eval(m, &en.value)?;
                    out.insert(en.key.name.clone(), v);
                }
                Ok(Value::record(out))
            }
            ExprKind::ListComp(c) => self.eval_comp(m, c, false, e.span),
            ExprKind::MapComp(c) => self.eval_comp(m, c, true, e.span),
            ExprKind::Field(target, name) => self.eval_field(m, target, name),
            ExprKind::Index(target, index) => {
                let t = self.eval(m, target)?;
                let i = self.eval(m, index)?;
                index_value(t, i, index.span)
            }
            ExprKind::Call(callee, args) => self.eval_call(m, callee, args, e.span),
            ExprKind::Unary(op, operand) => {
                let v = self.eval(m, operand)?;
                unary(*op, v, e.span)
            }
            ExprKind::Binary(op, l, r) => self.eval_binary(m, *op, l, r, e.span),
            ExprKind::If(c, t, f) => {
                let cond = self.eval(m, c)?;
                let (cond, secret) = strip(cond);
                let out = match cond {
                    Value::Bool(true) => self.eval(m, t)?,
                    Value::Bool(false) => self.eval(m, f)?,
                    Value::Unknown(u) => {
                        // Both branches are evaluated for their dependencies; the result is unknown.
                        let a = self.eval(m, t)?;
                        let b = self.eval(m, f)?;
                        merge_unknown(&[&Value::Unknown(u), &a, &b]).unwrap_or(Value::Null)
                    }
                    other => return Err(mismatch("the condition of `if`", "bool", &other, c.span)),
                };
                Ok(mark(out, secret))
            }
            ExprKind::Let(name, value, body) => {
                let v = self.eval(m, value)?;
                self.locals.push((name.name.clone(), v));
                let out = self.eval(m, body);
                self.locals.pop();
                out
            }
        }
    }

    fn eval_str(&mut self, m: ModuleId, parts: &[StrPart]) -> R {
        // A plain literal (most strings): its text, without a buffer.
        if let [StrPart::Text(t)] = parts {
            return Ok(Value::str(t.as_str()));
        }
        let texts: usize = parts
            .iter()
            .map(|p| match p {
                StrPart::Text(t) => t.len(),
                StrPart::Interp(_) => 16,
            })
            .sum();
        let mut out = String::with_capacity(texts);
        let mut secret = false;
        let mut unknowns: Vec<Value> = Vec::new();
        for part in parts {
            match part {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Interp(e) => {
                    let v = self.eval(m, e)?;
                    let (v, s) = strip(v);
                    secret |= s;
                    match v {
                        Value::Str(s) => out.push_str(&s),
                        Value::Int(i) => {
                            let _ = write!(out, "{i}");
                        }
                        Value::Float(f) => {
                            let _ = write!(out, "{f}");
                        }
                        Value::Bool(b) => out.push_str(&b.to_string()),
                        Value::Duration(d) => out.push_str(&format_duration(d)),
                        u @ Value::Unknown(_) => unknowns.push(u),
                        other => {
                            return Err(mismatch(
                                "an interpolation",
                                "a string, number, bool or duration",
                                &other,
                                e.span,
                            ))
                        }
                    }
                }
            }
            if out.len() > MAX_STRING {
                return Err(Diagnostic::error(Code::LimitExceeded, "string too long")
                    .help(format!("strings are limited to {MAX_STRING} bytes")));
            }
        }
        if !unknowns.is_empty() {
            let refs: Vec<&Value> = unknowns.iter().collect();
            return Ok(mark(merge_unknown(&refs).unwrap_or(Value::Null), secret));
        }
        Ok(mark(Value::str(out), secret))
    }

    fn eval_ident(&mut self, m: ModuleId, id: &Ident) -> R {
        if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| *n == id.name) {
            return Ok(v.clone());
        }
        let module = self.p.module(m);
        if module.lets.contains_key(&id.name) {
            let (v, deps) = self.let_value(m, &id.name).map_err(|d| with_label(d, id.span))?;
            self.depend_all(&deps);
            return Ok(v);
        }
        if module.params.contains_key(&id.name) {
            let frame = self.frame_for(m);
            let (v, deps) = self.param(frame, &id.name).map_err(|d| with_label(d, id.span))?;
            self.depend_all(&deps);
            return Ok(v);
        }
        if module.resources.contains_key(&id.name) {
            return self.resource_ref(m, &id.name, id.span);
        }
        Err(
            Diagnostic::error(Code::UnknownName, format!("unknown name `{}`", id.name))
                .label(id.span, "not found")
                .help("check the spelling"),
        )
    }

    fn eval_field(&mut self, m: ModuleId, target: &Expr, name: &Ident) -> R {
        if let ExprKind::Ident(id) = &target.kind {
            let local = self.locals.iter().any(|(n, _)| *n == id.name);
            let module = self.p.module(m);
            let shadowed = module.lets.contains_key(&id.name)
                || module.params.contains_key(&id.name)
                || module.resources.contains_key(&id.name);
            if let (false, false, Some(imp)) = (local, shadowed, module.imports.get(&id.name)) {
                let (v, deps) = self
                    .let_value(imp.module, &name.name)
                    .map_err(|d| with_label(d, name.span))?;
                self.depend_all(&deps);
                return Ok(v);
            }
        }
        let t = self.eval(m, target)?;
        self.field_value(t, name)
    }

    fn field_value(&mut self, t: Value, name: &Ident) -> R {
        match t {
            Value::Secret(inner) => self.field_value(*inner, name).map(Value::secret),
            Value::Resource(addr) => self.resource_field(&addr, &name.name, name.span),
            Value::Record(r) => Ok(r.get(&name.name).cloned().unwrap_or(Value::Null)),
            Value::Unknown(u) => Ok(Value::Unknown(Arc::new(Unknown {
                origin: format!("{}.{}", u.origin, name.name),
                deps: u.deps.clone(),
            }))),
            other => Err(Diagnostic::error(
                Code::NotCallable,
                format!("a {} has no field `{}`", other.kind(), name.name),
            )
            .label(name.span, "no such field")
            .help("use `??` to give optional values a fallback before reading fields")),
        }
    }

    fn eval_comp(&mut self, m: ModuleId, c: &Comprehension, is_map: bool, span: Span) -> R {
        let coll = self.eval(m, &c.iter)?;
        let (coll, secret) = strip(coll);
        if let Value::Unknown(_) = coll {
            return Ok(mark(coll, secret));
        }
        let items: Vec<(Value, Value)> = match entries(&coll) {
            Some(items) => items,
            None => return Err(mismatch("a comprehension", "a list or a map", &coll, c.iter.span)),
        };
        let mut list = Vec::new();
        let mut map = IndexMap::default();
        let mut unknowns = Vec::new();
        for (key, value) in items {
            let n = self.locals.len();
            match &c.vars.second {
                Some(second) => {
                    self.locals.push((c.vars.first.name.clone(), key));
                    self.locals.push((second.name.clone(), value));
                }
                None => self.locals.push((c.vars.first.name.clone(), value)),
            }
            let result = self.comp_step(m, c, is_map, &mut list, &mut map, &mut unknowns);
            self.locals.truncate(n);
            result?;
            if list.len() + map.len() > MAX_ELEMENTS {
                return Err(Diagnostic::error(Code::LimitExceeded, "comprehension too large")
                    .label(span, format!("builds more than {MAX_ELEMENTS} elements"))
                    .help("filter the collection, or split the work"));
            }
        }
        if !unknowns.is_empty() {
            let refs: Vec<&Value> = unknowns.iter().collect();
            return Ok(mark(merge_unknown(&refs).unwrap_or(Value::Null), secret));
        }
        Ok(mark(
            if is_map {
                Value::record(map)
            } else {
                Value::list(list)
            },
            secret,
        ))
    }

    fn comp_step(
        &mut self,
        m: ModuleId,
        c: &Comprehension,
        is_map: bool,
        list: &mut Vec<Value>,
        map: &mut IndexMap<String, Value>,
        unknowns: &mut Vec<Value>,
    ) -> Result<(), Diagnostic> {
        if let Some(f) = &c.filter {
            match strip(self.eval(m, f)?).0 {
                Value::Bool(true) => {}
                Value::Bool(false) => return Ok(()),
                u @ Value::Unknown(_) => {
                    unknowns.push(u);
                    return Ok(());
                }
                other => return Err(mismatch("a filter", "bool", &other, f.span)),
            }
        }
        let body = self.eval(m, &c.body)?;
        if !is_map {
            list.push(body);
            return Ok(());
        }
        let Some(key_expr) = &c.key else { return Ok(()) };
        match strip(self.eval(m, key_expr)?).0 {
            Value::Str(k) => {
                if map.contains_key(k.as_ref()) {
                    return Err(Diagnostic::error(
                        Code::DuplicateAddress,
                        format!("the map comprehension makes the key \"{k}\" twice"),
                    )
                    .label(key_expr.span, "this key repeats")
                    .help("make keys unique, e.g. by adding the index: `\"${k}-${i}\"`"));
                }
                map.insert(k.to_string(), body);
            }
            u @ Value::Unknown(_) => unknowns.push(u),
            other => return Err(mismatch("a map key", "string", &other, key_expr.span)),
        }
        Ok(())
    }

    fn eval_call(&mut self, m: ModuleId, callee: &Expr, args: &[Expr], span: Span) -> R {
        let (fn_module, name) = match &callee.kind {
            ExprKind::Ident(id) => (m, id),
            ExprKind::Field(target, name) => match &target.kind {
                ExprKind::Ident(id) => match self.p.module(m).imports.get(&id.name) {
                    Some(imp) => (imp.module, name),
                    None => return Err(not_a_function(callee.span)),
                },
                _ => return Err(not_a_function(callee.span)),
            },
            _ => return Err(not_a_function(callee.span)),
        };
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(self.eval(m, a)?);
        }
        // A component sees its file's functions; their bodies resolve names there.
        let fn_module = self.p.module(fn_module).owner_of(fn_module, &name.name);
        if let Some(f) = self.p.module(fn_module).fns.get(&name.name) {
            if self.depth >= MAX_DEPTH {
                return Err(
                    Diagnostic::error(Code::LimitExceeded, "function calls nest too deeply")
                        .label(span, format!("more than {MAX_DEPTH} nested calls"))
                        .help("simplify the functions"),
                );
            }
            let mut bound = Vec::with_capacity(values.len());
            for (((pname, _), ty), (v, arg)) in f
                .node
                .params
                .iter()
                .zip(f.param_tys.iter())
                .zip(values.into_iter().zip(args))
            {
                let v = self.coerce(
                    v,
                    ty,
                    arg.span,
                    &super::coerce::Ctx::Argument(&pname.name, &name.name),
                )?;
                bound.push((pname.name.clone(), v));
            }
            self.depth += 1;
            let (result, deps) = self.isolated(bound, |ev| ev.eval(fn_module, &f.node.body));
            self.depth -= 1;
            self.depend_all(&deps);
            let ret = f.ty.clone();
            return self.coerce(result?, &ret, span, &super::coerce::Ctx::Result(&name.name));
        }
        let Some(b) = builtins::lookup(&name.name) else {
            return Err(
                Diagnostic::error(Code::UnknownName, format!("unknown function `{}`", name.name))
                    .label(name.span, "not a function")
                    .help("see the builtin functions in docs/language.md"),
            );
        };
        if b.name == "sensitive" {
            return (b.eval)(&values, self.inputs).map_err(|msg| call_error(b.name, &msg, span));
        }
        let refs: Vec<&Value> = values.iter().collect();
        if values.iter().any(Value::contains_unknown) {
            return Ok(merge_unknown(&refs).unwrap_or(Value::Null));
        }
        let secret = values.iter().any(Value::contains_secret);
        let plain: Vec<Value> = values.iter().map(strip_deep).collect();
        if crate::program::FILE_READERS.contains(&b.name)
            || b.name.ends_with("_decode") && b.name != "base64_decode"
        {
            // The configuration's files and declared types: the evaluator's own.
            return self
                .eval_file_builtin(b.name, args, &plain, span)
                .map(|v| mark(v, secret));
        }
        let out = (b.eval)(&plain, self.inputs).map_err(|msg| {
            if b.name == "secret_env" {
                Diagnostic::error(Code::MissingInput, format!("input missing: {msg}"))
                    .label(span, "reads an environment variable")
                    .help("set the variable in the environment that runs tpt (CI secret, shell export)")
            } else if secret {
                // The message may quote an argument; a secret argument must not be shown.
                call_error(b.name, "the call failed on a secret argument (not shown)", span)
            } else {
                call_error(b.name, &msg, span)
            }
        })?;
        Ok(mark(out, secret))
    }

    fn eval_binary(&mut self, m: ModuleId, op: BinOp, l: &Expr, r: &Expr, span: Span) -> R {
        match op {
            BinOp::And | BinOp::Or => {
                let a = self.eval(m, l)?;
                let (a, sa) = strip(a);
                match (op, &a) {
                    (BinOp::And, Value::Bool(false)) | (BinOp::Or, Value::Bool(true)) => {
                        return Ok(mark(a, sa))
                    }
                    (_, Value::Bool(_) | Value::Unknown(_)) => {}
                    (_, other) => {
                        return Err(mismatch(
                            &format!("the left side of `{}`", op.as_str()),
                            "bool",
                            other,
                            l.span,
                        ))
                    }
                }
                let b = self.eval(m, r)?;
                let (b, sb) = strip(b);
                let out = match (&a, &b) {
                    (_, Value::Bool(_)) if matches!(a, Value::Bool(_)) => b,
                    (Value::Unknown(_), _) | (_, Value::Unknown(_)) => {
                        merge_unknown(&[&a, &b]).unwrap_or(Value::Null)
                    }
                    (_, other) => {
                        return Err(mismatch(
                            &format!("the right side of `{}`", op.as_str()),
                            "bool",
                            other,
                            r.span,
                        ))
                    }
                };
                Ok(mark(out, sa || sb))
            }
            BinOp::Coalesce => {
                let a = self.eval(m, l)?;
                match a {
                    Value::Null => self.eval(m, r),
                    Value::Unknown(_) => {
                        let b = self.eval(m, r)?;
                        Ok(merge_unknown(&[&a, &b]).unwrap_or(Value::Null))
                    }
                    a => Ok(a),
                }
            }
            _ => {
                let a = self.eval(m, l)?;
                let b = self.eval(m, r)?;
                binary(op, a, b, span)
            }
        }
    }
}

/// The `(key, value)` pairs a `for` or a comprehension iterates: (index,
/// element) for lists, (key, value) for maps, none for null; `None` for
/// anything else.
pub(crate) fn entries(coll: &Value) -> Option<Vec<(Value, Value)>> {
    match coll {
        Value::List(xs) => Some(
            xs.iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                .collect(),
        ),
        Value::Record(m) => Some(
            m.iter()
                .map(|(k, v)| (Value::str(k.as_str()), v.clone()))
                .collect(),
        ),
        Value::Null => Some(Vec::new()),
        _ => None,
    }
}

/// A value without its (outer) secret mark, and whether it had one.
pub(crate) fn strip(v: Value) -> (Value, bool) {
    match v {
        Value::Secret(inner) => (strip(*inner).0, true),
        v => (v, false),
    }
}

pub(crate) fn strip_deep(v: &Value) -> Value {
    match v {
        Value::Secret(inner) => strip_deep(inner),
        Value::List(xs) => Value::list(xs.iter().map(strip_deep).collect()),
        Value::Record(m) => Value::record(m.iter().map(|(k, v)| (k.clone(), strip_deep(v))).collect()),
        v => v.clone(),
    }
}

fn mark(v: Value, secret: bool) -> Value {
    if secret {
        Value::secret(v)
    } else {
        v
    }
}

/// One unknown standing for all unknowns among `values` (deep), or `None`.
fn merge_unknown(values: &[&Value]) -> Option<Value> {
    fn collect(v: &Value, origins: &mut Vec<String>, deps: &mut BTreeSet<String>) {
        match v {
            Value::Unknown(u) => {
                if !origins.contains(&u.origin) {
                    origins.push(u.origin.clone());
                }
                deps.extend(u.deps.iter().cloned());
            }
            Value::Secret(inner) => collect(inner, origins, deps),
            Value::List(xs) => xs.iter().for_each(|x| collect(x, origins, deps)),
            Value::Record(m) => m.values().for_each(|x| collect(x, origins, deps)),
            _ => {}
        }
    }
    let mut origins = Vec::new();
    let mut deps = BTreeSet::new();
    for v in values {
        collect(v, &mut origins, &mut deps);
    }
    if origins.is_empty() {
        return None;
    }
    Some(Value::Unknown(Arc::new(Unknown {
        origin: origins.join(", "),
        deps,
    })))
}

fn mismatch(place: &str, expected: &str, found: &Value, span: Span) -> Diagnostic {
    let shown = if found.is_sensitive() {
        "secret"
    } else {
        found.kind()
    };
    Diagnostic::error(
        Code::TypeMismatch,
        format!("{place} needs {expected}, found a {shown}"),
    )
    .label(span, format!("this is a {shown}"))
    .help(format!("give {place} {expected}"))
}

fn with_label(mut d: Diagnostic, span: Span) -> Diagnostic {
    if d.labels.is_empty() {
        d = d.label(span, "used here");
    }
    d
}

fn not_a_function(span: Span) -> Diagnostic {
    Diagnostic::error(Code::NotCallable, "this is not a function")
        .label(span, "cannot be called")
        .help("call functions declared with `fn`, builtins, or `module.fn`")
}

fn call_error(name: &str, msg: &str, span: Span) -> Diagnostic {
    let (code, help) = if msg.contains("too large") || msg.contains("too long") || msg.contains("more than") {
        (
            Code::LimitExceeded,
            "evaluation builds bounded values; make the input smaller",
        )
    } else {
        (
            Code::TypeMismatch,
            "check the arguments against the signature in docs/language.md",
        )
    };
    Diagnostic::error(code, format!("`{name}` failed: {msg}"))
        .label(span, "in this call")
        .help(help)
}

fn index_value(t: Value, i: Value, span: Span) -> R {
    let (t, st) = strip(t);
    let (i, si) = strip(i);
    let secret = st || si;
    if let Some(u) = merge_unknown(&[&t, &i]) {
        if matches!(t, Value::Unknown(_)) || matches!(i, Value::Unknown(_)) {
            return Ok(mark(u, secret));
        }
    }
    let out = match (&t, &i) {
        (Value::List(xs), Value::Int(n)) => {
            let idx = usize::try_from(*n).ok().filter(|n| *n < xs.len());
            match idx.and_then(|n| xs.get(n)) {
                Some(v) => v.clone(),
                None => {
                    return Err(Diagnostic::error(
                        Code::IndexOutOfRange,
                        format!("index {n} is out of range"),
                    )
                    .label(span, format!("the list has {} elements", xs.len()))
                    .help(if xs.is_empty() {
                        "the list is empty".to_string()
                    } else {
                        format!("valid indexes are 0 to {}", xs.len() - 1)
                    }))
                }
            }
        }
        (Value::Record(m), Value::Str(k)) => match m.get(k.as_ref()) {
            Some(v) => v.clone(),
            None => {
                let shown = if secret {
                    "(sensitive)".to_string()
                } else {
                    format!("\"{k}\"")
                };
                let mut d = Diagnostic::error(Code::IndexOutOfRange, format!("no key {shown} in the map"))
                    .label(span, "missing key");
                let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                d = match (secret, did_you_mean(k, keys.iter().copied())) {
                    (false, Some(s)) => d.help(format!("did you mean \"{s}\"?")),
                    _ if keys.is_empty() => {
                        d.help("the map is empty; use `lookup(map, key, default)` for a fallback")
                    }
                    _ => d.help(format!(
                        "the keys are: {}; use `lookup(map, key, default)` for a fallback",
                        keys.iter()
                            .take(10)
                            .map(|k| format!("\"{k}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                return Err(d);
            }
        },
        (Value::Str(s), Value::Int(n)) => match usize::try_from(*n).ok().and_then(|n| s.chars().nth(n)) {
            Some(c) => Value::str(c.to_string()),
            None => {
                return Err(
                    Diagnostic::error(Code::IndexOutOfRange, format!("index {n} is out of range"))
                        .label(span, "past the end of the string")
                        .help("use `substr(text, start, length)`, which clamps"),
                )
            }
        },
        (other, _) => return Err(mismatch("indexing", "a list, map or string", other, span)),
    };
    Ok(mark(out, secret))
}

fn unary(op: UnaryOp, v: Value, span: Span) -> R {
    let (v, secret) = strip(v);
    let out = match (op, v) {
        (_, u @ Value::Unknown(_)) => u,
        (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
        (UnaryOp::Neg, Value::Int(i)) => Value::Int(i.checked_neg().ok_or_else(|| overflow(span))?),
        (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
        (UnaryOp::Neg, Value::Duration(d)) => Value::Duration(d.checked_neg().ok_or_else(|| overflow(span))?),
        (_, other) => return Err(mismatch("this operator", "a matching operand", &other, span)),
    };
    Ok(mark(out, secret))
}

fn overflow(span: Span) -> Diagnostic {
    Diagnostic::error(Code::Arithmetic, "arithmetic overflow")
        .label(span, "the result does not fit in a 64-bit integer")
        .help("use smaller numbers")
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn binary(op: BinOp, a: Value, b: Value, span: Span) -> R {
    let (a, sa) = strip(a);
    let (b, sb) = strip(b);
    let secret = sa || sb;
    if let Some(u) = merge_unknown(&[&a, &b]) {
        if matches!(a, Value::Unknown(_))
            || matches!(b, Value::Unknown(_))
            || op == BinOp::Eq
            || op == BinOp::Ne
        {
            return Ok(mark(u, secret));
        }
    }
    use BinOp::*;
    let out = match (op, &a, &b) {
        (Eq, _, _) => Value::Bool(values_equal(&a, &b)),
        (Ne, _, _) => Value::Bool(!values_equal(&a, &b)),
        (Lt | Le | Gt | Ge, _, _) => {
            let ord = match (&a, &b) {
                (Value::Int(x), Value::Int(y)) | (Value::Duration(x), Value::Duration(y)) => x.partial_cmp(y),
                (Value::Str(x), Value::Str(y)) => x.partial_cmp(y),
                _ => match (num(&a), num(&b)) {
                    (Some(x), Some(y)) => x.partial_cmp(&y),
                    _ => None,
                },
            };
            let Some(ord) = ord else {
                return Err(mismatch(
                    &format!("`{}`", op.as_str()),
                    "two numbers, strings or durations",
                    &b,
                    span,
                ));
            };
            Value::Bool(match op {
                Lt => ord.is_lt(),
                Le => ord.is_le(),
                Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        (Add, Value::Str(x), Value::Str(y)) => {
            if x.len() + y.len() > MAX_STRING {
                return Err(Diagnostic::error(Code::LimitExceeded, "string too long")
                    .label(span, "this concatenation")
                    .help("build smaller strings"));
            }
            Value::str(format!("{x}{y}"))
        }
        (Add, Value::List(x), Value::List(y)) => {
            if x.len() + y.len() > MAX_ELEMENTS {
                return Err(Diagnostic::error(Code::LimitExceeded, "list too long")
                    .label(span, "this concatenation")
                    .help("build smaller lists"));
            }
            Value::list(x.iter().chain(y.iter()).cloned().collect())
        }
        (Add | Sub | Mul | Div | Rem, Value::Int(x), Value::Int(y)) => Value::Int(int_op(op, *x, *y, span)?),
        (Add | Sub, Value::Duration(x), Value::Duration(y)) => Value::Duration(int_op(op, *x, *y, span)?),
        (Mul | Div, Value::Duration(x), Value::Int(y)) => Value::Duration(int_op(op, *x, *y, span)?),
        (Mul, Value::Int(x), Value::Duration(y)) => Value::Duration(int_op(op, *x, *y, span)?),
        (Div, Value::Duration(x), Value::Duration(y)) => Value::Int(int_op(op, *x, *y, span)?),
        (Add | Sub | Mul | Div | Rem, _, _) => match (num(&a), num(&b)) {
            (Some(x), Some(y)) => {
                let r = match op {
                    Add => x + y,
                    Sub => x - y,
                    Mul => x * y,
                    Div => x / y,
                    _ => x % y,
                };
                if !r.is_finite() {
                    return Err(
                        Diagnostic::error(Code::Arithmetic, "the result is not a finite number")
                            .label(span, "division by zero or overflow")
                            .help("check the divisor"),
                    );
                }
                Value::Float(r)
            }
            _ => return Err(mismatch(&format!("`{}`", op.as_str()), "numbers", &b, span)),
        },
        (And | Or | Coalesce, _, _) => Value::Null,
    };
    Ok(mark(out, secret))
}

fn int_op(op: BinOp, x: i64, y: i64, span: Span) -> Result<i64, Diagnostic> {
    let r = match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::Div | BinOp::Rem if y == 0 => {
            return Err(Diagnostic::error(Code::Arithmetic, "division by zero")
                .label(span, "the divisor is 0")
                .help("guard the division: `if d == 0 then … else x / d`"))
        }
        BinOp::Div => x.checked_div(y),
        _ => x.checked_rem(y),
    };
    r.ok_or_else(|| overflow(span))
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::Secret(x), y) | (y, Value::Secret(x)) => values_equal(x, y),
        _ => a == b,
    }
}

/// The bytes a value built at one node holds directly: its elements (which
/// are counted where they were built), or its text.
fn built_bytes(v: &Value) -> u64 {
    const SLOT: u64 = std::mem::size_of::<Value>() as u64;
    let n = match v {
        Value::Str(s) => s.len() as u64,
        Value::List(l) => l.len() as u64 * SLOT,
        Value::Record(r) => r.len() as u64 * (SLOT + 32),
        Value::Secret(inner) => return built_bytes(inner),
        _ => 0,
    };
    n + SLOT
}
