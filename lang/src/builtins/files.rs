//! `file`, `templatefile`, `yaml_decode`, `json_decode`: their type rules, and
//! the pure parts of their evaluation (decoding text, splitting templates).
//! The files themselves are read when the configuration is loaded
//! (`Program::data`); the evaluator calls these with their text.

use super::{arity, ArgError};
use crate::eval::Inputs;
use crate::types::Ty;
use crate::value::Value;

fn string_arg(args: &[Ty], i: usize) -> Result<(), ArgError> {
    match args.get(i).map(|t| t.base()) {
        Some(Ty::String | Ty::Literal(_) | Ty::Error) => Ok(()),
        _ => Err(ArgError {
            arg: Some(i),
            message: "expected a string".into(),
        }),
    }
}

pub fn check_file(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 1, "")?;
    string_arg(args, 0)?;
    Ok(Ty::String)
}

pub fn check_templatefile(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 2, "")?;
    string_arg(args, 0)?;
    match args.get(1).map(|t| t.resolved()) {
        Some(Ty::Record(_) | Ty::Map(_) | Ty::Error) => Ok(Ty::String),
        _ => Err(ArgError {
            arg: Some(1),
            message: "expected a record of the template's variables".into(),
        }),
    }
}

/// The type is the declared one of the `let` it stands in (the checker sees to it).
pub fn check_decode(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 1, "")?;
    string_arg(args, 0)?;
    Ok(Ty::Error)
}

/// The table's `eval` of these builtins: the evaluator evaluates them itself
/// (they need the configuration's files and declared types).
pub fn read_elsewhere(_: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    Err("evaluated by the evaluator, with the configuration's files".into())
}

/// JSON (`json`) or YAML text as a value; errors say the line and column.
pub fn decode(json: bool, text: &str) -> Result<serde_json::Value, String> {
    if json {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "line {}, column {}: {}",
                e.line(),
                e.column(),
                strip_position(&e.to_string())
            )
        })
    } else {
        let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!(
                "line {}, column {}: {}",
                l.line(),
                l.column(),
                strip_position(&e.to_string())
            ),
            None => e.to_string(),
        })?;
        yaml_to_json(v)
    }
}

/// serde's messages end in ` at line L column C`: said once, first.
fn strip_position(m: &str) -> String {
    match m.find(" at line ") {
        Some(i) => m[..i].to_string(),
        None => m.to_string(),
    }
}

fn yaml_to_json(v: serde_yaml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    use serde_yaml::Value as Y;
    Ok(match v {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(f64::NAN))
                    .map(J::Number)
                    .ok_or_else(|| format!("the number {n} has no value in tpt"))?
            }
        }
        Y::String(s) => J::String(s),
        Y::Sequence(xs) => J::Array(xs.into_iter().map(yaml_to_json).collect::<Result<_, _>>()?),
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("a map key must be a string, found {other:?}")),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            J::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value)?,
    })
}

/// A piece of a template: text as it is, or the source of an expression.
#[derive(Debug, PartialEq)]
pub enum TemplatePart {
    Text(String),
    /// The expression's text and its byte offset in the template.
    Expr(String, usize),
}

/// Splits a template at `${…}` (braces inside balanced, strings skipped);
/// `$${` is a literal `${`. `Err` gives the offset of an unclosed `${`.
pub fn template_parts(text: &str) -> Result<Vec<TemplatePart>, usize> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'$') && b.get(i + 2) == Some(&b'{') {
            lit.push_str(&text[start..i]);
            lit.push_str("${");
            i += 3;
            start = i;
            continue;
        }
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            lit.push_str(&text[start..i]);
            if !lit.is_empty() {
                out.push(TemplatePart::Text(std::mem::take(&mut lit)));
            }
            let open = i;
            let mut depth = 1;
            let mut j = i + 2;
            let mut in_str = false;
            while j < b.len() && depth > 0 {
                match (in_str, b[j]) {
                    (true, b'\\') => j += 1,
                    (true, b'"') => in_str = false,
                    (false, b'"') => in_str = true,
                    (false, b'{') => depth += 1,
                    (false, b'}') => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            if depth > 0 {
                return Err(open);
            }
            out.push(TemplatePart::Expr(text[open + 2..j - 1].to_string(), open + 2));
            i = j;
            start = i;
            continue;
        }
        i += 1;
    }
    lit.push_str(&text[start..]);
    if !lit.is_empty() {
        out.push(TemplatePart::Text(lit));
    }
    Ok(out)
}

/// The 1-based line and column of a byte offset, for messages.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_at_interpolations() {
        assert_eq!(
            template_parts("a ${x} b $${y} ${ {k = \"}\"}.k }").expect("parts"),
            vec![
                TemplatePart::Text("a ".into()),
                TemplatePart::Expr("x".into(), 4),
                TemplatePart::Text(" b ${y} ".into()),
                TemplatePart::Expr(" {k = \"}\"}.k ".into(), 17),
            ]
        );
        assert_eq!(template_parts("x ${ open"), Err(2));
    }

    #[test]
    fn decoding_errors_say_where() {
        assert_eq!(
            decode(true, "{\"a\": 1}").expect("json"),
            serde_json::json!({"a": 1})
        );
        let e = decode(true, "{\n  \"a\": ,\n}").expect_err("bad json");
        assert!(e.starts_with("line 2, column 8"), "{e}");
        assert_eq!(
            decode(false, "a: [1, x]\nb: {c: true}").expect("yaml"),
            serde_json::json!({"a": [1, "x"], "b": {"c": true}})
        );
        let e = decode(false, "a: 1\n  b: 2\n").expect_err("bad yaml");
        assert!(e.starts_with("line 2"), "{e}");
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
