//! Fitting a value to its declared type: schema defaults filled (also in nested
//! records, lists and maps), ints widened to floats, and refinements checked on
//! computed values. Types were checked statically; this is where ranges and
//! patterns meet the values they could not see.

use crate::IndexMap;

use super::Evaluator;
use crate::check::describe_refinement;
use crate::diagnostic::{Code, Diagnostic};
use crate::program::SchemaId;
use crate::source::Span;
use crate::types::{RecordTy, Refinement, Ty};
use crate::value::Value;

/// Names the place a value is fitted to, for messages; formatted only on error.
#[derive(Clone, Copy)]
pub(crate) enum Ctx<'a> {
    Text(&'a str),
    /// "field `name` of …"
    Field(&'a str, &'a Ctx<'a>),
    /// "`owner`"
    Owner(&'a str),
    /// "element i of …" (1-based)
    Elem(usize, &'a Ctx<'a>),
    /// "`key` of …"
    Key(&'a str, &'a Ctx<'a>),
    /// "argument `param` of `function`"
    Argument(&'a str, &'a str),
    /// "the result of `function`"
    Result(&'a str),
}

impl std::fmt::Display for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ctx::Text(t) => f.write_str(t),
            Ctx::Field(n, p) => write!(f, "field `{n}` of {p}"),
            Ctx::Owner(o) => write!(f, "`{o}`"),
            Ctx::Elem(i, p) => write!(f, "element {i} of {p}"),
            Ctx::Key(k, p) => write!(f, "`{k}` of {p}"),
            Ctx::Argument(param, function) => write!(f, "argument `{param}` of `{function}`"),
            Ctx::Result(function) => write!(f, "the result of `{function}`"),
        }
    }
}

impl Evaluator<'_> {
    /// Fits `v` to `ty`; `span` is the expression that produced it, `context` names the place.
    pub(super) fn coerce(
        &mut self,
        v: Value,
        ty: &Ty,
        span: Span,
        context: &Ctx,
    ) -> Result<Value, Diagnostic> {
        if let Value::Secret(inner) = v {
            return self
                .coerce(*inner, ty, span, context)
                .map(Value::secret)
                .map_err(redact);
        }
        if matches!(v, Value::Unknown(_)) || !needs_coerce(ty, self) {
            return Ok(v);
        }
        match ty {
            Ty::Alias(_, t) => self.coerce(v, t, span, context),
            Ty::Refined(base, r) => {
                let v = self.coerce(v, base, span, context)?;
                check_refinement(&v, r, span, context)?;
                Ok(v)
            }
            Ty::Optional(t) => match v {
                Value::Null => Ok(Value::Null),
                v => self.coerce(v, t, span, context),
            },
            Ty::Float => match v {
                Value::Int(i) => Ok(Value::Float(i as f64)),
                v => Ok(v),
            },
            Ty::List(t) => match v {
                Value::List(xs) => {
                    let mut out = Vec::with_capacity(xs.len());
                    for (i, x) in xs.iter().enumerate() {
                        out.push(self.coerce(x.clone(), t, span, &Ctx::Elem(i + 1, context))?);
                    }
                    Ok(Value::list(out))
                }
                v => Ok(v),
            },
            Ty::Map(t) => match v {
                Value::Record(m) => {
                    let mut out = IndexMap::with_capacity_and_hasher(m.len(), Default::default());
                    for (k, x) in m.iter() {
                        out.insert(k.clone(), self.coerce(x.clone(), t, span, &Ctx::Key(k, context))?);
                    }
                    Ok(Value::record(out))
                }
                v => Ok(v),
            },
            Ty::Schema(id) if !self.p.schema(*id).is_resource => match v {
                Value::Record(m) => {
                    let fields: IndexMap<String, (Value, Span)> =
                        m.iter().map(|(k, x)| (k.clone(), (x.clone(), span))).collect();
                    let name = self.p.schema(*id).name.clone();
                    self.coerce_schema_fields(*id, fields, span, &name)
                        .map(Value::record)
                }
                v => Ok(v),
            },
            Ty::Record(r) => match v {
                Value::Record(m) => self.coerce_record(&m, r, span, context),
                v => Ok(v),
            },
            Ty::Union(ts) => {
                // The first member the value fits without error (checked statically to exist).
                for t in ts {
                    if fits_shape(&v, t, self) {
                        let n = self.diags.len();
                        if let Ok(out) = self.coerce(v.clone(), t, span, context) {
                            return Ok(out);
                        }
                        self.diags.truncate(n);
                    }
                }
                Ok(v)
            }
            _ => Ok(v),
        }
    }

    fn coerce_record(
        &mut self,
        m: &IndexMap<String, Value>,
        r: &RecordTy,
        span: Span,
        context: &Ctx,
    ) -> Result<Value, Diagnostic> {
        let mut out = IndexMap::with_capacity_and_hasher(r.fields.len(), Default::default());
        for (name, f) in &r.fields {
            let v = m.get(name).cloned().unwrap_or(Value::Null);
            out.insert(
                name.clone(),
                self.coerce(v, &f.ty, span, &Ctx::Field(name, context))?,
            );
        }
        Ok(Value::record(out))
    }

    /// The input fields of a schema, in schema order: given values fitted,
    /// defaults evaluated (in the schema's module), optional fields null.
    pub(super) fn coerce_schema_fields(
        &mut self,
        id: SchemaId,
        mut given: IndexMap<String, (Value, Span)>,
        span: Span,
        owner: &str,
    ) -> Result<IndexMap<String, Value>, Diagnostic> {
        let p = self.p;
        let schema = p.schema(id);
        let mut out = IndexMap::with_capacity_and_hasher(schema.fields.len(), Default::default());
        for (name, f) in &schema.fields {
            if f.output {
                continue;
            }
            let owner_ctx = Ctx::Owner(owner);
            let context = Ctx::Field(name, &owner_ctx);
            // The given entry's key is kept (no copy of the name).
            let (key, (v, vspan)) = match given.swap_remove_entry(name) {
                Some(x) => x,
                None => match &f.default {
                    Some(d) => {
                        let (v, deps) = self.isolated(Vec::new(), |ev| ev.eval(f.default_module, d));
                        self.depend_all(&deps);
                        (name.clone(), (v?, d.span))
                    }
                    None if f.ty.is_optional() => (name.clone(), (Value::Null, span)),
                    None => {
                        return Err(
                            Diagnostic::error(Code::MissingField, format!("{context} is not set"))
                                .label(span, format!("`{name}` has no value"))
                                .help(format!("set `{name} = …`")),
                        );
                    }
                },
            };
            out.insert(key, self.coerce(v, &f.ty, vspan, &context)?);
        }
        Ok(out)
    }
}

/// Whether fitting a value to `ty` can change it or fail: refinements, schema
/// defaults, int→float and records do; plain scalars and collections of them do not.
fn needs_coerce(ty: &Ty, ev: &Evaluator) -> bool {
    match ty {
        Ty::String
        | Ty::Int
        | Ty::Bool
        | Ty::Duration
        | Ty::Secret
        | Ty::Null
        | Ty::Literal(_)
        | Ty::Error => false,
        Ty::Schema(id) => !ev.p.schema(*id).is_resource,
        Ty::Alias(_, t) | Ty::List(t) | Ty::Map(t) | Ty::Optional(t) => needs_coerce(t, ev),
        Ty::Union(ts) => ts.iter().any(|t| needs_coerce(t, ev)),
        Ty::Float | Ty::Record(_) | Ty::Refined(..) => true,
    }
}

/// An error about a secret value must not show it.
fn redact(mut d: Diagnostic) -> Diagnostic {
    for l in &mut d.labels {
        if l.message.starts_with("this evaluates to") {
            l.message = "this evaluates to a secret value (not shown)".to_string();
        }
    }
    d
}

/// Whether a value has the outer shape of a type (to pick a union member).
fn fits_shape(v: &Value, t: &Ty, ev: &Evaluator) -> bool {
    match (v, t.resolved()) {
        (_, Ty::Alias(_, t)) | (_, Ty::Refined(t, _)) => fits_shape(v, t, ev),
        (Value::Null, Ty::Optional(_) | Ty::Null) => true,
        (v, Ty::Optional(t)) => fits_shape(v, t, ev),
        (Value::Str(s), Ty::Literal(l)) => s.as_ref() == l.as_ref(),
        (Value::Str(_), Ty::String | Ty::Secret) => true,
        (Value::Int(_), Ty::Int | Ty::Float) | (Value::Float(_), Ty::Float) => true,
        (Value::Bool(_), Ty::Bool) | (Value::Duration(_), Ty::Duration) => true,
        (Value::List(_), Ty::List(_)) => true,
        (Value::Record(_), Ty::Map(_) | Ty::Record(_)) => true,
        (Value::Record(_), Ty::Schema(id)) => !ev.p.schema(*id).is_resource,
        (Value::Resource(a), Ty::Schema(id)) => ev
            .addresses
            .get(a.as_ref())
            .and_then(|(frame, name)| ev.decl(*frame, name))
            .and_then(|r| r.schema)
            .is_some_and(|s| s == *id),
        (Value::Unknown(_) | Value::Secret(_), _) => true,
        (_, Ty::Union(ts)) => ts.iter().any(|t| fits_shape(v, t, ev)),
        _ => false,
    }
}

fn check_refinement(v: &Value, r: &Refinement, span: Span, context: &Ctx) -> Result<(), Diagnostic> {
    // Every refined value passes through here: the text of an error is made
    // only for a value that fails.
    let (ok, is_length) = match v {
        Value::Int(i) => (r.allows_number(*i as f64), false),
        Value::Float(f) => (r.allows_number(*f), false),
        Value::Str(s) => (r.allows_str(s), matches!(r, Refinement::Range { .. })),
        _ => (true, false),
    };
    if ok {
        return Ok(());
    }
    let shown = match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => format!("{s:?}"),
        _ => String::new(),
    };
    let what = match r {
        Refinement::Pattern { text, .. } => format!("must match {text}"),
        Refinement::Range { .. } => format!("must be {}", describe_refinement(r, is_length)),
    };
    Err(Diagnostic::error(
        Code::RefinementValue,
        format!("computed value out of bounds: {context} {what}"),
    )
    .label(span, format!("this evaluates to {shown}"))
    .help(format!(
        "{context} is refined by {}; change the inputs of this computation so the value satisfies it",
        r.describe()
    )))
}

/// A value from outside the configuration (a `--var`, decoded YAML or JSON)
/// fitted to its declared type — what the checker guarantees for values written
/// in files: durations from their text (`"5m"`), ints widened to floats,
/// secrets marked, records with exactly their fields. `Err` says where
/// (`element 2`, `` `cpu` ``) and what was expected. Defaults and refinements
/// are `coerce`'s, after.
pub(super) fn fit(v: Value, ty: &Ty, ev: &Evaluator) -> Result<Value, String> {
    let shown = |t: &Ty| ev.p.show(t);
    let fail = |v: &Value| Err(format!("expected `{}`, found a {}", shown(ty), v.kind()));
    match (v, ty.resolved()) {
        (Value::Secret(inner), _) => fit(*inner, ty, ev).map(Value::secret),
        (v, Ty::Error) => Ok(v),
        (v, Ty::Refined(base, _)) => fit(v, base, ev),
        (Value::Null, Ty::Optional(_) | Ty::Null) => Ok(Value::Null),
        (v, Ty::Optional(inner)) => fit(v, inner, ev),
        (Value::Str(s), Ty::Literal(l)) if s.as_ref() == l.as_ref() => Ok(Value::Str(s)),
        (Value::Str(s), Ty::Literal(l)) => Err(format!("expected {l:?}, found {s:?}")),
        (Value::Str(s), Ty::String) => Ok(Value::Str(s)),
        (Value::Str(s), Ty::Secret) => Ok(Value::secret(Value::Str(s))),
        (Value::Str(s), Ty::Duration) => crate::syntax::parser::parse_duration(&s)
            .map(Value::Duration)
            .ok_or_else(|| format!("expected a duration such as \"5m\", found {s:?}")),
        (Value::Int(i), Ty::Int) => Ok(Value::Int(i)),
        (Value::Int(i), Ty::Float) => Ok(Value::Float(i as f64)),
        (Value::Float(f), Ty::Float) => Ok(Value::Float(f)),
        (Value::Bool(b), Ty::Bool) => Ok(Value::Bool(b)),
        (Value::Duration(d), Ty::Duration) => Ok(Value::Duration(d)),
        (Value::List(xs), Ty::List(elem)) => xs
            .iter()
            .enumerate()
            .map(|(i, x)| fit(x.clone(), elem, ev).map_err(|e| format!("element {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::list),
        (Value::Record(m), Ty::Map(elem)) => m
            .iter()
            .map(|(k, x)| {
                fit(x.clone(), elem, ev)
                    .map(|x| (k.clone(), x))
                    .map_err(|e| format!("`{k}`: {e}"))
            })
            .collect::<Result<IndexMap<_, _>, _>>()
            .map(Value::record),
        (Value::Record(m), Ty::Record(r)) => {
            let fields: Vec<(String, Ty, bool)> = r
                .fields
                .iter()
                .map(|(k, f)| (k.clone(), f.ty.clone(), f.has_default))
                .collect();
            fit_fields(&m, &fields, ev)
        }
        (Value::Record(m), Ty::Schema(id)) if !ev.p.schema(*id).is_resource => {
            let fields: Vec<(String, Ty, bool)> =
                ev.p.schema(*id)
                    .fields
                    .iter()
                    .map(|(k, f)| (k.clone(), f.ty.clone(), f.is_optional()))
                    .collect();
            fit_fields(&m, &fields, ev)
        }
        (v, Ty::Union(ts)) => {
            if let Some(out) = ts.iter().find_map(|t| fit(v.clone(), t, ev).ok()) {
                return Ok(out);
            }
            let literals: Vec<&str> = ts
                .iter()
                .filter_map(|t| match t.resolved() {
                    Ty::Literal(l) => Some(l.as_ref()),
                    _ => None,
                })
                .collect();
            if literals.len() == ts.len() {
                Err(format!(
                    "expected one of {}",
                    literals
                        .iter()
                        .map(|l| format!("{l:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            } else {
                fail(&v)
            }
        }
        (v, _) => fail(&v),
    }
}

fn fit_fields(
    m: &IndexMap<String, Value>,
    fields: &[(String, Ty, bool)],
    ev: &Evaluator,
) -> Result<Value, String> {
    if let Some(k) = m.keys().find(|k| !fields.iter().any(|(n, _, _)| n == *k)) {
        let names: Vec<&str> = fields.iter().map(|(n, _, _)| n.as_str()).collect();
        return Err(format!("no field `{k}` (the fields are: {})", names.join(", ")));
    }
    let mut out = IndexMap::default();
    for (name, ty, optional) in fields {
        match m.get(name) {
            Some(x) => {
                out.insert(
                    name.clone(),
                    fit(x.clone(), ty, ev).map_err(|e| format!("`{name}`: {e}"))?,
                );
            }
            None if *optional => {}
            None => return Err(format!("`{name}` is missing")),
        }
    }
    Ok(Value::record(out))
}
