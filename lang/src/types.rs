//! Types of the language, as the checker and the evaluator see them (resolved
//! from the written [`TypeExpr`](crate::syntax::ast::TypeExpr)s).

use std::fmt;
use std::sync::Arc;

use crate::IndexMap;

use crate::program::SchemaId;
use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    String,
    Int,
    Float,
    Bool,
    Duration,
    /// A string that may be sensitive.
    Secret,
    /// The type of `null` alone.
    Null,
    List(Box<Ty>),
    Map(Box<Ty>),
    /// An anonymous record type (`{ a: int }`, or a record literal's type).
    Record(Arc<RecordTy>),
    /// A value of a named schema (a record for plain schemas; for resource
    /// schemas, a reference to a resource instance).
    Schema(SchemaId),
    /// One string value: `"gp3"`.
    Literal(Arc<str>),
    Optional(Box<Ty>),
    Union(Vec<Ty>),
    Refined(Box<Ty>, Arc<Refinement>),
    /// A type alias, kept for messages; behaves as its target.
    Alias(Arc<str>, Box<Ty>),
    /// The type of an expression that already had an error: accepted everywhere,
    /// so that one mistake is reported once.
    Error,
}

/// A refinement on a base type: a range (for `int`/`float`: the value; for
/// `string`: the length) or a regular expression.
#[derive(Debug, Clone)]
pub enum Refinement {
    Range {
        min: Option<f64>,
        max: Option<f64>,
        text: String,
    },
    Pattern {
        regex: regex::Regex,
        text: String,
    },
}

impl PartialEq for Refinement {
    fn eq(&self, other: &Self) -> bool {
        self.describe() == other.describe()
    }
}

impl Refinement {
    /// As written: `1..65535` or `/^[a-z]+$/`.
    pub fn describe(&self) -> &str {
        match self {
            Refinement::Range { text, .. } | Refinement::Pattern { text, .. } => text,
        }
    }

    /// Whether a number (value, or string length) is inside the range.
    pub fn allows_number(&self, n: f64) -> bool {
        match self {
            Refinement::Range { min, max, .. } => min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
            Refinement::Pattern { .. } => true,
        }
    }

    pub fn allows_str(&self, s: &str) -> bool {
        match self {
            Refinement::Range { .. } => self.allows_number(s.chars().count() as f64),
            Refinement::Pattern { regex, .. } => regex.is_match(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordTy {
    pub fields: IndexMap<String, FieldTy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldTy {
    pub ty: Ty,
    /// Has a default or is optional: may be omitted.
    pub has_default: bool,
    pub docs: Option<String>,
    pub span: Option<Span>,
}

impl Ty {
    /// Whether the type nests more than `limit` levels (looking no deeper than that).
    /// Scalars are 0 deep; a list, map, record or optional one more than what it holds.
    pub fn deeper_than(&self, limit: usize) -> bool {
        match self {
            Ty::List(t) | Ty::Map(t) | Ty::Optional(t) => {
                limit.checked_sub(1).is_none_or(|l| t.deeper_than(l))
            }
            Ty::Record(r) => r
                .fields
                .values()
                .any(|f| limit.checked_sub(1).is_none_or(|l| f.ty.deeper_than(l))),
            Ty::Refined(t, _) | Ty::Alias(_, t) => t.deeper_than(limit),
            Ty::Union(ts) => ts.iter().any(|t| t.deeper_than(limit)),
            _ => false,
        }
    }

    /// Looks through aliases.
    pub fn resolved(&self) -> &Ty {
        match self {
            Ty::Alias(_, t) => t.resolved(),
            t => t,
        }
    }

    /// Looks through aliases and refinements.
    pub fn base(&self) -> &Ty {
        match self {
            Ty::Alias(_, t) | Ty::Refined(t, _) => t.base(),
            t => t,
        }
    }

    pub fn is_optional(&self) -> bool {
        match self.resolved() {
            Ty::Optional(_) | Ty::Null | Ty::Error => true,
            Ty::Refined(t, _) => t.is_optional(),
            Ty::Union(ts) => ts.iter().any(Ty::is_optional),
            _ => false,
        }
    }

    /// The type without its optional marker.
    pub fn non_null(&self) -> Ty {
        match self.resolved() {
            Ty::Optional(t) => t.non_null(),
            Ty::Union(ts) => {
                let rest: Vec<Ty> = ts
                    .iter()
                    .filter(|t| !matches!(t.resolved(), Ty::Null))
                    .map(Ty::non_null)
                    .collect();
                Ty::union(rest)
            }
            _ => self.clone(),
        }
    }

    /// A union of types, flattened, without duplicates; one type stays itself.
    pub fn union(types: Vec<Ty>) -> Ty {
        let mut out: Vec<Ty> = Vec::new();
        for t in types {
            let parts = match t {
                Ty::Union(ts) => ts,
                t => vec![t],
            };
            for p in parts {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        if out.len() == 1 {
            out.pop().unwrap_or(Ty::Error)
        } else if out.is_empty() {
            Ty::Error
        } else {
            Ty::Union(out)
        }
    }

    /// Whether values of this type may be sensitive.
    pub fn is_secret(&self) -> bool {
        matches!(self.base(), Ty::Secret)
    }

    /// Whether values of this type may hold a sensitive part (`{string: secret}`).
    pub fn contains_secret(&self) -> bool {
        match self.resolved() {
            Ty::Secret => true,
            Ty::Refined(t, _) | Ty::Optional(t) | Ty::List(t) | Ty::Map(t) => t.contains_secret(),
            Ty::Union(ts) => ts.iter().any(Ty::contains_secret),
            Ty::Record(r) => r.fields.values().any(|f| f.ty.contains_secret()),
            _ => false,
        }
    }

    /// A type name as users write it, with schema names from `names`.
    pub fn display<'a>(&'a self, names: &'a dyn Fn(SchemaId) -> String) -> TyDisplay<'a> {
        TyDisplay {
            ty: self,
            names: Names {
                schemas: names,
                aliases: None,
            },
        }
    }

    /// As [`Ty::display`], with the names of aliases from `aliases` (given
    /// an alias's name and target); an alias it has no name for is written
    /// out as its target.
    pub fn display_with<'a>(
        &'a self,
        names: &'a dyn Fn(SchemaId) -> String,
        aliases: AliasNames<'a>,
    ) -> TyDisplay<'a> {
        TyDisplay {
            ty: self,
            names: Names {
                schemas: names,
                aliases: Some(aliases),
            },
        }
    }
}

pub struct TyDisplay<'a> {
    ty: &'a Ty,
    names: Names<'a>,
}

/// The name of an alias (given its name and target), if it has one.
type AliasNames<'a> = &'a dyn Fn(&str, &Ty) -> Option<String>;

#[derive(Clone, Copy)]
struct Names<'a> {
    schemas: &'a dyn Fn(SchemaId) -> String,
    aliases: Option<AliasNames<'a>>,
}

impl fmt::Display for TyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ty(f, self.ty, self.names)
    }
}

fn write_ty(f: &mut fmt::Formatter<'_>, ty: &Ty, names: Names<'_>) -> fmt::Result {
    match ty {
        Ty::String => f.write_str("string"),
        Ty::Int => f.write_str("int"),
        Ty::Float => f.write_str("float"),
        Ty::Bool => f.write_str("bool"),
        Ty::Duration => f.write_str("duration"),
        Ty::Secret => f.write_str("secret"),
        Ty::Null => f.write_str("null"),
        Ty::List(t) => {
            f.write_str("[")?;
            write_ty(f, t, names)?;
            f.write_str("]")
        }
        Ty::Map(t) => {
            f.write_str("{string: ")?;
            write_ty(f, t, names)?;
            f.write_str("}")
        }
        Ty::Record(r) => {
            f.write_str("{ ")?;
            for (i, (name, field)) in r.fields.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{name}: ")?;
                write_ty(f, &field.ty, names)?;
            }
            f.write_str(" }")
        }
        Ty::Schema(id) => f.write_str(&(names.schemas)(*id)),
        Ty::Literal(s) => write!(f, "{s:?}"),
        Ty::Optional(t) => {
            if matches!(**t, Ty::Union(_)) {
                f.write_str("(")?;
                write_ty(f, t, names)?;
                f.write_str(")?")
            } else {
                write_ty(f, t, names)?;
                f.write_str("?")
            }
        }
        Ty::Union(ts) => {
            for (i, t) in ts.iter().enumerate() {
                if i > 0 {
                    f.write_str(" | ")?;
                }
                write_ty(f, t, names)?;
            }
            Ok(())
        }
        Ty::Refined(t, r) => {
            write_ty(f, t, names)?;
            write!(f, "({})", r.describe())
        }
        Ty::Alias(name, target) => match names.aliases {
            None => f.write_str(name),
            Some(aliases) => match aliases(name, target) {
                Some(n) => f.write_str(&n),
                None => write_ty(f, target, names),
            },
        },
        Ty::Error => f.write_str("<error>"),
    }
}
