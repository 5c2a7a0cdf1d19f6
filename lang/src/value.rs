//! Runtime values of the evaluator.
//!
//! Two marks travel with values: *sensitive* (a [`Value::Secret`] wrapper: the
//! value was computed from a secret and is never shown), and *unknown* (a
//! [`Value::Unknown`]: a resource output known only after apply, carrying the
//! addresses it depends on).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::IndexMap;

/// Text shown instead of a sensitive value, everywhere.
pub const REDACTED: &str = "(sensitive)";

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Milliseconds.
    Duration(i64),
    Str(Arc<str>),
    List(Arc<Vec<Value>>),
    /// Records and maps; keys keep the order they were written (records: schema order).
    Record(Arc<IndexMap<String, Value>>),
    /// A reference to a whole resource instance, by address.
    Resource(Arc<str>),
    /// Known only after apply.
    Unknown(Arc<Unknown>),
    /// A sensitive value (never shown).
    Secret(Box<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    /// What it is, for people: `orders.url`.
    pub origin: String,
    /// Resource addresses it depends on.
    pub deps: BTreeSet<String>,
}

impl Value {
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::Str(s.into())
    }

    /// A JSON value as a value: objects as records (keys in order), arrays as
    /// lists, numbers as ints where they are whole.
    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or_default())),
            J::String(s) => Value::str(s.as_str()),
            J::Array(xs) => Value::list(xs.iter().map(Value::from_json).collect()),
            J::Object(m) => Value::record(m.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect()),
        }
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    pub fn record(fields: IndexMap<String, Value>) -> Value {
        Value::Record(Arc::new(fields))
    }

    /// Marks a value sensitive (idempotent).
    pub fn secret(v: Value) -> Value {
        match v {
            Value::Secret(_) => v,
            v => Value::Secret(Box::new(v)),
        }
    }

    pub fn is_sensitive(&self) -> bool {
        matches!(self, Value::Secret(_))
    }

    /// The value without its sensitive mark, and whether it had one.
    pub fn unwrap_secret(&self) -> (&Value, bool) {
        match self {
            Value::Secret(v) => (v.unwrap_secret().0, true),
            v => (v, false),
        }
    }

    /// Whether the value or anything inside it is unknown.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown(_) => true,
            Value::Secret(v) => v.contains_unknown(),
            Value::List(xs) => xs.iter().any(Value::contains_unknown),
            Value::Record(m) => m.values().any(Value::contains_unknown),
            _ => false,
        }
    }

    /// Whether anything inside is sensitive.
    pub fn contains_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::List(xs) => xs.iter().any(Value::contains_secret),
            Value::Record(m) => m.values().any(Value::contains_secret),
            _ => false,
        }
    }

    /// Whether two values are the same to the bit: unlike `==`, `-0.0` is
    /// not `0.0` and a NaN is itself, so an evaluation that reads either
    /// cannot tell them apart.
    pub fn identical(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.identical(y))
            }
            (Value::Record(a), Value::Record(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.identical(vb))
            }
            (Value::Secret(a), Value::Secret(b)) => a.identical(b),
            (Value::Float(_) | Value::List(_) | Value::Record(_) | Value::Secret(_), _) => false,
            (a, b) => a == b,
        }
    }

    /// Feeds the value to `h` so that [`Value::identical`] values hash alike.
    pub fn hash_into(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        std::mem::discriminant(self).hash(h);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(h),
            Value::Int(i) | Value::Duration(i) => i.hash(h),
            Value::Float(f) => f.to_bits().hash(h),
            Value::Str(s) | Value::Resource(s) => s.hash(h),
            Value::List(xs) => {
                xs.len().hash(h);
                xs.iter().for_each(|x| x.hash_into(h));
            }
            Value::Record(m) => {
                m.len().hash(h);
                for (k, v) in m.iter() {
                    k.hash(h);
                    v.hash_into(h);
                }
            }
            Value::Unknown(u) => {
                u.origin.hash(h);
                u.deps.hash(h);
            }
            Value::Secret(v) => v.hash_into(h),
        }
    }

    /// The kind of value, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Duration(_) => "duration",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Record(_) => "record",
            Value::Resource(_) => "resource",
            Value::Unknown(_) => "unknown",
            Value::Secret(_) => "secret",
        }
    }

    /// JSON for people and tools: secrets become `"(sensitive)"`, unknowns
    /// `{"$unknown": "orders.url"}`, resource references `{"$resource": "main"}`,
    /// durations their written form (`"5m"`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Duration(ms) => J::String(format_duration(*ms)),
            Value::Str(s) => J::String(s.to_string()),
            Value::List(xs) => J::Array(xs.iter().map(Value::to_json).collect()),
            Value::Record(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::Resource(a) => {
                let mut m = serde_json::Map::new();
                m.insert("$resource".into(), J::String(a.to_string()));
                J::Object(m)
            }
            Value::Unknown(u) => {
                let mut m = serde_json::Map::new();
                m.insert("$unknown".into(), J::String(u.origin.clone()));
                J::Object(m)
            }
            Value::Secret(_) => J::String(REDACTED.into()),
        }
    }
}

impl Value {
    /// The value written as tpt source (`"1.5.0"`, `[1, 2]`, `{ a = true }`), for
    /// tools that edit files (`tpt promote`). `None` for what has no literal form
    /// or must never be written out: secrets, unknowns, resource references.
    pub fn to_source(&self) -> Option<String> {
        Some(match self {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => {
                let s = format!("{f:?}");
                if s.contains(['.', 'e', 'E']) && f.is_finite() {
                    s
                } else {
                    return None;
                }
            }
            Value::Duration(ms) if *ms >= 0 => format_duration(*ms),
            Value::Duration(_) => return None,
            Value::Str(s) => crate::fmt::quote(s),
            Value::List(xs) => {
                let parts: Option<Vec<String>> = xs.iter().map(Value::to_source).collect();
                format!("[{}]", parts?.join(", "))
            }
            Value::Record(m) if m.is_empty() => "{}".into(),
            Value::Record(m) => {
                let mut parts = Vec::with_capacity(m.len());
                for (k, v) in m.iter() {
                    let simple = k
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    let key = if simple { k.clone() } else { crate::fmt::quote(k) };
                    parts.push(format!("{key} = {}", v.to_source()?));
                }
                format!("{{ {} }}", parts.join(", "))
            }
            Value::Resource(_) | Value::Unknown(_) | Value::Secret(_) => return None,
        })
    }
}

/// `90000` → `1m30s`.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms.unsigned_abs();
    if ms < 0 {
        out.push('-');
    }
    for (unit, size) in [
        ("d", 86_400_000u64),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{}", rest / size, unit));
            rest %= size;
        }
    }
    out
}

/// Shows a value for people (one line). Secrets are redacted, unknowns shown as
/// `(known after apply)`.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Duration(ms) => f.write_str(&format_duration(*ms)),
            Value::Str(s) => write!(f, "{:?}", s.as_ref()),
            Value::List(xs) => {
                f.write_str("[")?;
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Value::Record(m) => {
                f.write_str("{ ")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_str(" }")
            }
            Value::Resource(a) => f.write_str(a),
            Value::Unknown(_) => f.write_str("(known after apply)"),
            Value::Secret(_) => f.write_str(REDACTED),
        }
    }
}
