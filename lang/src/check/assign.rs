//! Assignability ("may a value of type A stand where B is expected?") and the
//! static check of literals against refinements.

use super::Checker;
use crate::diagnostic::{did_you_mean, Code, Diagnostic, Fix};
use crate::program::{ModuleId, SchemaId};
use crate::syntax::ast::{Expr, ExprKind, StrPart};
use crate::types::{RecordTy, Refinement, Ty};

/// Why a type does not fit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Misfit {
    Mismatch,
    /// A secret where a plain value is expected.
    Secret,
    /// An optional value where a value is required.
    MaybeNull,
}

impl Checker<'_> {
    /// Infers `e` with `expected` as a hint, then requires the result to fit.
    pub(crate) fn check_expr(
        &mut self,
        m: ModuleId,
        e: &Expr,
        expected: &Ty,
        context: &dyn std::fmt::Display,
    ) -> Ty {
        let found = self.infer(m, e, Some(expected));
        self.require(e, &found, expected, context);
        found
    }

    /// Reports when `found` does not fit `expected`; checks literals against refinements.
    pub(crate) fn require(&mut self, e: &Expr, found: &Ty, expected: &Ty, context: &dyn std::fmt::Display) {
        match self.fits(found, expected) {
            Ok(()) => self.check_literal(e, expected, context),
            Err(Misfit::Secret) => {
                let d = Diagnostic::error(Code::SecretLeak, format!("a secret cannot be used as {context}"))
                    .label(e.span, "this value is secret (computed from a secret)")
                    .help(format!(
                        "{context} is `{}` and would be shown in plans and logs; declare it `secret`, or pass a value that does not come from a secret",
                        self.show(expected)
                    ));
                self.err(d);
            }
            Err(Misfit::MaybeNull) => {
                let d = Diagnostic::error(
                    Code::MaybeNull,
                    format!("{context} needs a value, but this may be null"),
                )
                .label(e.span, format!("this is `{}`", self.show(found)))
                .help("give a fallback with `value ?? default`");
                self.err(d);
            }
            Err(Misfit::Mismatch) => {
                let expected_s = self.show(expected);
                let found_s = match found.resolved() {
                    Ty::Literal(_) if literal_options(expected).is_empty() => "string".to_string(),
                    _ => self.show(found),
                };
                let mut d = Diagnostic::error(
                    Code::TypeMismatch,
                    format!("type mismatch: {context} expects `{expected_s}`, found `{found_s}`"),
                )
                .label(e.span, format!("this is `{found_s}`"));
                d = match (literal_text(e), literal_options(expected)) {
                    (Some(text), options) if !options.is_empty() => {
                        match did_you_mean(&text, options.iter().map(String::as_str)) {
                            Some(s) => d
                                .help(format!("did you mean \"{s}\"?"))
                                .suggest(format!("\"{s}\"")),
                            None => d.help(format!("the allowed values are {}", quote_list(&options))),
                        }
                    }
                    _ => d.help(
                        conversion_hint(found, expected)
                            .unwrap_or_else(|| format!("give {context} a value of type `{expected_s}`")),
                    ),
                };
                if let Some((title, text)) = self.literal_fix(e, expected) {
                    d = d.fix(Fix {
                        title,
                        edits: vec![(e.span, text)],
                        preferred: true,
                    });
                }
                self.err(d);
            }
        }
    }

    /// The same literal written as the expected type wants it: a number,
    /// boolean or duration without its quotes, or one quoted for a string.
    fn literal_fix(&self, e: &Expr, expected: &Ty) -> Option<(String, String)> {
        let want = expected.non_null();
        let source = self.p.sources.get(e.span.file)?.slice(e.span);
        if let Some(text) = literal_text(e) {
            let t = text.as_str();
            let number = |float: bool| {
                let digits = t.strip_prefix('-').unwrap_or(t);
                let ok_chars = digits.chars().all(|c| c.is_ascii_digit() || (float && c == '.'));
                let ends = digits.starts_with(|c: char| c.is_ascii_digit())
                    && digits.ends_with(|c: char| c.is_ascii_digit());
                ok_chars && ends && digits.matches('.').count() <= 1
            };
            let fits = match want.base() {
                Ty::Int => number(false) && t.parse::<i64>().is_ok(),
                Ty::Float => number(true) && t.parse::<f64>().is_ok(),
                Ty::Bool => t == "true" || t == "false",
                Ty::Duration => crate::syntax::parser::parse_duration(t).is_some(),
                _ => false,
            };
            return fits.then(|| (format!("Write `{t}` without quotes"), t.to_string()));
        }
        let scalar = matches!(
            e.kind,
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Duration(_)
        );
        (scalar && matches!(want.base(), Ty::String | Ty::Secret))
            .then(|| (format!("Quote it: `\"{source}\"`"), format!("\"{source}\"")))
    }

    /// Whether a value of `found` may stand where `expected` is required.
    pub(crate) fn fits(&self, found: &Ty, expected: &Ty) -> Result<(), Misfit> {
        let f = found.resolved();
        let x = expected.resolved();
        match (f, x) {
            (Ty::Error, _) | (_, Ty::Error) => Ok(()),
            (_, Ty::Refined(base, _)) => self.fits(f, base),
            (Ty::Refined(base, _), _) => self.fits(base, x),
            (Ty::Union(fs), _) => {
                for t in fs {
                    self.fits(t, x)?;
                }
                Ok(())
            }
            (Ty::Null, Ty::Optional(_)) => Ok(()),
            (Ty::Optional(a), Ty::Optional(b)) => self.fits(a, b),
            (_, Ty::Optional(b)) => self.fits(f, b),
            (Ty::Null, _) if !matches!(x, Ty::Union(_)) => Err(Misfit::MaybeNull),
            (Ty::Optional(a), _) if !matches!(x, Ty::Union(_)) => match self.fits(a, x) {
                Ok(()) => Err(Misfit::MaybeNull),
                Err(e) => Err(e),
            },
            (_, Ty::Union(xs)) => {
                let mut worst = Misfit::Mismatch;
                for t in xs {
                    match self.fits(f, t) {
                        Ok(()) => return Ok(()),
                        Err(Misfit::Secret) => worst = Misfit::Secret,
                        Err(Misfit::MaybeNull) if worst == Misfit::Mismatch => worst = Misfit::MaybeNull,
                        Err(_) => {}
                    }
                }
                Err(worst)
            }
            (Ty::String | Ty::Literal(_), Ty::String | Ty::Secret) => Ok(()),
            (Ty::Secret, Ty::Secret) => Ok(()),
            (Ty::Secret, Ty::String | Ty::Literal(_)) => Err(Misfit::Secret),
            (Ty::Literal(a), Ty::Literal(b)) if a == b => Ok(()),
            (Ty::Int, Ty::Int | Ty::Float) | (Ty::Float, Ty::Float) => Ok(()),
            (Ty::Bool, Ty::Bool) | (Ty::Duration, Ty::Duration) => Ok(()),
            (Ty::List(a), Ty::List(b)) => self.fits(a, b),
            (Ty::Map(a), Ty::Map(b)) => self.fits(a, b),
            (Ty::Record(r), Ty::Map(b)) => {
                for field in r.fields.values() {
                    self.fits(&field.ty, b)?;
                }
                Ok(())
            }
            (Ty::Schema(a), Ty::Schema(b)) => {
                if self.extends(*a, *b) {
                    Ok(())
                } else {
                    Err(Misfit::Mismatch)
                }
            }
            (Ty::Record(r), Ty::Schema(b)) if !self.p.schema(*b).is_resource => {
                self.record_fits(r, &self.p.schema_record(*b))
            }
            (Ty::Schema(a), Ty::Record(r)) if !self.p.schema(*a).is_resource => {
                self.record_fits(&self.p.schema_record(*a), r)
            }
            (Ty::Record(a), Ty::Record(b)) => self.record_fits(a, b),
            _ => Err(Misfit::Mismatch),
        }
    }

    /// Structural record compatibility: every field of `found` exists in
    /// `expected` and fits; every required field of `expected` is present.
    fn record_fits(&self, found: &RecordTy, expected: &RecordTy) -> Result<(), Misfit> {
        for (name, field) in &found.fields {
            match expected.fields.get(name) {
                Some(x) => self.fits(&field.ty, &x.ty)?,
                None => return Err(Misfit::Mismatch),
            }
        }
        for (name, field) in &expected.fields {
            if !field.has_default && !found.fields.contains_key(name) {
                return Err(Misfit::Mismatch);
            }
        }
        Ok(())
    }

    /// Whether schema `a` is `b` or extends it (directly or not).
    pub(crate) fn extends(&self, a: SchemaId, b: SchemaId) -> bool {
        let mut cur = Some(a);
        let mut steps = 0;
        while let Some(c) = cur {
            if c == b {
                return true;
            }
            steps += 1;
            if steps > 64 {
                return false;
            }
            cur = self.p.schema(c).extends;
        }
        false
    }

    /// A literal checked against the refinement of the type it is assigned to.
    fn check_literal(&mut self, e: &Expr, expected: &Ty, context: &dyn std::fmt::Display) {
        let Some(refinement) = refinement_of(expected) else {
            return;
        };
        let ok = match &e.kind {
            ExprKind::Int(i) => refinement.allows_number(*i as f64),
            ExprKind::Float(f) => refinement.allows_number(*f),
            ExprKind::Str(parts) => match plain_text(parts) {
                Some(s) => refinement.allows_str(&s),
                None => true,
            },
            _ => true,
        };
        if !ok {
            let is_length = matches!(
                (&e.kind, &*refinement),
                (ExprKind::Str(_), Refinement::Range { .. })
            );
            let d = Diagnostic::error(
                Code::RefinementLiteral,
                match &*refinement {
                    Refinement::Pattern { text, .. } => {
                        format!("value does not match: {context} must match {text}")
                    }
                    Refinement::Range { .. } => {
                        format!(
                            "value out of range: {context} must be {}",
                            describe(&refinement, is_length)
                        )
                    }
                },
            )
            .label(e.span, format!("not in {}", refinement.describe()))
            .help(format!(
                "{context} is `{}`; choose a value that satisfies it",
                self.show(expected)
            ));
            self.err(d);
        }
    }
}

/// The refinement in words: "from 1 to 8", "of a length at most 63", "matching /…/".
pub(crate) fn describe(r: &Refinement, is_length: bool) -> String {
    let what = if is_length { "of a length " } else { "" };
    let n = |x: f64| {
        if x.fract() == 0.0 {
            format!("{}", x as i64)
        } else {
            format!("{x}")
        }
    };
    match r {
        Refinement::Range {
            min: Some(a),
            max: Some(b),
            ..
        } => format!("{what}from {} to {}", n(*a), n(*b)),
        Refinement::Range {
            min: Some(a),
            max: None,
            ..
        } => format!("{what}at least {}", n(*a)),
        Refinement::Range {
            min: None,
            max: Some(b),
            ..
        } => format!("{what}at most {}", n(*b)),
        Refinement::Range { .. } => "any value".to_string(),
        Refinement::Pattern { text, .. } => format!("matching {text}"),
    }
}

/// The refinement directly on a type (through aliases and optionals).
fn refinement_of(ty: &Ty) -> Option<std::sync::Arc<Refinement>> {
    match ty {
        Ty::Alias(_, t) | Ty::Optional(t) => refinement_of(t),
        Ty::Refined(t, r) => refinement_of(t).or_else(|| Some(r.clone())),
        _ => None,
    }
}

/// The text of a string literal without interpolation.
pub(crate) fn plain_text(parts: &[StrPart]) -> Option<String> {
    let mut out = String::new();
    for p in parts {
        match p {
            StrPart::Text(t) => out.push_str(t),
            StrPart::Interp(_) => return None,
        }
    }
    Some(out)
}

fn literal_text(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Str(parts) => plain_text(parts),
        _ => None,
    }
}

/// The string literals a type allows (`"gp3" | "io2"`), for "did you mean".
fn literal_options(ty: &Ty) -> Vec<String> {
    match ty.resolved() {
        Ty::Literal(s) => vec![s.to_string()],
        Ty::Union(ts) => ts.iter().flat_map(literal_options).collect(),
        Ty::Optional(t) => literal_options(t),
        _ => Vec::new(),
    }
}

fn quote_list(options: &[String]) -> String {
    let shown: Vec<String> = options.iter().take(12).map(|o| format!("\"{o}\"")).collect();
    let more = if options.len() > 12 {
        format!(" (and {} more)", options.len() - 12)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

fn conversion_hint(found: &Ty, expected: &Ty) -> Option<String> {
    Some(match (found.base(), expected.base()) {
        (Ty::Int | Ty::Float | Ty::Bool | Ty::Duration, Ty::String) => {
            "convert with `to_string(…)` or interpolate: \"${…}\"".into()
        }
        (Ty::String | Ty::Literal(_), Ty::Int) => {
            "convert with `to_int(…)`, or write the number without quotes".into()
        }
        (Ty::Int, Ty::Duration) => "write a duration with a unit, e.g. `30s` or `5m`".into(),
        (Ty::Float, Ty::Int) => "convert with `to_int(…)`".into(),
        (Ty::String, Ty::Literal(_) | Ty::Union(_)) => {
            "a computed string cannot be proven to be one of the allowed values; write one of them literally"
                .into()
        }
        (t, Ty::List(_)) if !matches!(t, Ty::List(_)) => "wrap the value in a list: `[…]`".into(),
        _ => return None,
    })
}
