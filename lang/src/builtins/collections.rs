//! List, map and conversion builtins.

use std::sync::Arc;

use crate::IndexMap;

use super::{
    arity, int_arg, is_int, is_number, is_stringish, list_arg, list_elem, map_elem, str_arg, wrong, ArgError,
    MAX_ELEMENTS,
};
use crate::eval::Inputs;
use crate::types::Ty;
use crate::value::Value;

fn one_list(args: &[Ty], name: &str) -> Result<Ty, ArgError> {
    arity(args, 1, name)?;
    args.first()
        .and_then(list_elem)
        .ok_or_else(|| wrong(0, "the argument must be a list"))
}

pub fn check_len(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 1, "len")?;
    let ok = args
        .first()
        .is_some_and(|t| is_stringish(t) || list_elem(t).is_some() || map_elem(t).is_some());
    if ok {
        Ok(Ty::Int)
    } else {
        Err(wrong(0, "`len` takes a string, a list or a map"))
    }
}

pub fn check_list_same(args: &[Ty]) -> Result<Ty, ArgError> {
    let e = one_list(args, "")?;
    Ok(Ty::List(Box::new(e)))
}

pub fn check_sort(args: &[Ty]) -> Result<Ty, ArgError> {
    let e = one_list(args, "sort")?;
    if is_stringish(&e) || is_number(&e) || matches!(e.base(), Ty::Duration) {
        Ok(Ty::List(Box::new(e)))
    } else {
        Err(wrong(0, "`sort` takes a list of strings, numbers or durations"))
    }
}

pub fn check_flatten(args: &[Ty]) -> Result<Ty, ArgError> {
    let e = one_list(args, "flatten")?;
    list_elem(&e)
        .map(|inner| Ty::List(Box::new(inner)))
        .ok_or_else(|| wrong(0, "`flatten` takes a list of lists"))
}

pub fn check_concat(args: &[Ty]) -> Result<Ty, ArgError> {
    if args.is_empty() {
        return Err(ArgError {
            arg: None,
            message: "`concat` takes at least one list".into(),
        });
    }
    let mut elems = Vec::new();
    for (i, a) in args.iter().enumerate() {
        elems.push(
            list_elem(a).ok_or_else(|| wrong(i, format!("argument {} of `concat` must be a list", i + 1)))?,
        );
    }
    Ok(Ty::List(Box::new(Ty::union(elems))))
}

pub fn check_merge(args: &[Ty]) -> Result<Ty, ArgError> {
    if args.is_empty() {
        return Err(ArgError {
            arg: None,
            message: "`merge` takes at least one map".into(),
        });
    }
    let mut elems = Vec::new();
    for (i, a) in args.iter().enumerate() {
        elems.push(
            map_elem(a).ok_or_else(|| wrong(i, format!("argument {} of `merge` must be a map", i + 1)))?,
        );
    }
    // Literal values widen to string, so `merge({a = "x"}, {b = "y"})` is a `{string: string}`.
    let elems: Vec<Ty> = elems
        .into_iter()
        .map(|t| {
            if matches!(t.resolved(), Ty::Literal(_)) {
                Ty::String
            } else {
                t
            }
        })
        .collect();
    Ok(Ty::Map(Box::new(Ty::union(elems))))
}

pub fn check_contains(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 2, "contains")?;
    let hay = args.first().cloned().unwrap_or(Ty::Error);
    if is_stringish(&hay) {
        if !args.get(1).is_some_and(is_stringish) {
            return Err(wrong(1, "a string contains only strings"));
        }
        return Ok(Ty::Bool);
    }
    if list_elem(&hay).is_some() {
        return Ok(Ty::Bool);
    }
    Err(wrong(0, "`contains` takes a string or a list"))
}

pub fn check_keys(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 1, "keys")?;
    map_elem(args.first().unwrap_or(&Ty::Error)).ok_or_else(|| wrong(0, "`keys` takes a map"))?;
    Ok(Ty::List(Box::new(Ty::String)))
}

pub fn check_values(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 1, "values")?;
    let e = map_elem(args.first().unwrap_or(&Ty::Error)).ok_or_else(|| wrong(0, "`values` takes a map"))?;
    Ok(Ty::List(Box::new(e)))
}

pub fn check_lookup(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 3, "lookup")?;
    let e =
        map_elem(args.first().unwrap_or(&Ty::Error)).ok_or_else(|| wrong(0, "`lookup` takes a map first"))?;
    if !args.get(1).is_some_and(is_stringish) {
        return Err(wrong(1, "the key must be a string"));
    }
    Ok(Ty::union(vec![e, args.get(2).cloned().unwrap_or(Ty::Error)]))
}

pub fn check_range(args: &[Ty]) -> Result<Ty, ArgError> {
    if args.is_empty() || args.len() > 2 {
        return Err(ArgError {
            arg: None,
            message: format!("`range` takes 1 or 2 arguments, {} given", args.len()),
        });
    }
    for (i, a) in args.iter().enumerate() {
        if !is_int(a) {
            return Err(wrong(i, format!("argument {} of `range` must be an int", i + 1)));
        }
    }
    Ok(Ty::List(Box::new(Ty::Int)))
}

pub fn check_sum(args: &[Ty]) -> Result<Ty, ArgError> {
    let e = one_list(args, "sum")?;
    if is_number(&e) {
        Ok(e.base().clone())
    } else {
        Err(wrong(0, "`sum` takes a list of numbers"))
    }
}

pub fn check_min_max(args: &[Ty]) -> Result<Ty, ArgError> {
    let e = one_list(args, "min/max")?;
    if is_number(&e) || matches!(e.base(), Ty::Duration) {
        Ok(e.base().clone())
    } else {
        Err(wrong(0, "`min` and `max` take a list of numbers or durations"))
    }
}

pub fn check_slice(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 3, "slice")?;
    let e = args
        .first()
        .and_then(list_elem)
        .ok_or_else(|| wrong(0, "`slice` takes a list first"))?;
    for i in 1..3 {
        if !args.get(i).is_some_and(is_int) {
            return Err(wrong(i, format!("argument {} of `slice` must be an int", i + 1)));
        }
    }
    Ok(Ty::List(Box::new(e)))
}

pub fn check_coalesce(args: &[Ty]) -> Result<Ty, ArgError> {
    if args.is_empty() {
        return Err(ArgError {
            arg: None,
            message: "`coalesce` takes at least one argument".into(),
        });
    }
    Ok(Ty::union(
        args.iter()
            .filter(|t| !matches!(t.resolved(), Ty::Null))
            .map(Ty::non_null)
            .collect(),
    ))
}

pub fn check_to_int(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 1, "to_int")?;
    if args.first().is_some_and(|t| is_stringish(t) || is_number(t)) {
        Ok(Ty::Int)
    } else {
        Err(wrong(0, "`to_int` takes a string or a number"))
    }
}

pub fn check_to_string(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 1, "to_string")?;
    let ok = args
        .first()
        .is_some_and(|t| is_stringish(t) || is_number(t) || matches!(t.base(), Ty::Bool | Ty::Duration));
    if ok {
        Ok(Ty::String)
    } else {
        Err(wrong(0, "`to_string` takes a string, number, bool or duration"))
    }
}

// ------------------------------------------------------------ implementations

fn map_arg(args: &[Value], i: usize) -> Result<&IndexMap<String, Value>, String> {
    match args.get(i) {
        Some(Value::Record(m)) => Ok(m),
        Some(v) => Err(format!("argument {} must be a map, got a {}", i + 1, v.kind())),
        None => Err(format!("missing argument {}", i + 1)),
    }
}

fn count(n: usize) -> Result<Value, String> {
    i64::try_from(n)
        .map(Value::Int)
        .map_err(|_| "too large".to_string())
}

pub fn len(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    match args.first() {
        Some(Value::Str(s)) => count(s.chars().count()),
        Some(Value::List(xs)) => count(xs.len()),
        Some(Value::Record(m)) => count(m.len()),
        Some(v) => Err(format!("`len` takes a string, list or map, got a {}", v.kind())),
        None => Err("missing argument 1".into()),
    }
}

pub fn distinct(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let mut out: Vec<Value> = Vec::new();
    for x in list_arg(args, 0)? {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    Ok(Value::list(out))
}

pub fn reverse(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    Ok(Value::list(list_arg(args, 0)?.iter().rev().cloned().collect()))
}

pub fn sort(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let mut xs: Vec<Value> = list_arg(args, 0)?.to_vec();
    let mut bad = None;
    xs.sort_by(|a, b| match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) | (Value::Duration(x), Value::Duration(y)) => x.cmp(y),
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => {
                bad = Some(a.kind());
                std::cmp::Ordering::Equal
            }
        },
    });
    match bad {
        Some(kind) => Err(format!("cannot sort a list with a {kind} in it")),
        None => Ok(Value::list(xs)),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

pub fn flatten(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let mut out = Vec::new();
    for x in list_arg(args, 0)? {
        match x {
            Value::List(inner) => out.extend(inner.iter().cloned()),
            other => {
                return Err(format!(
                    "`flatten` takes a list of lists, found a {}",
                    other.kind()
                ))
            }
        }
        if out.len() > MAX_ELEMENTS {
            return Err(format!("the result has more than {MAX_ELEMENTS} elements"));
        }
    }
    Ok(Value::list(out))
}

pub fn concat(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let mut out = Vec::new();
    for i in 0..args.len() {
        out.extend(list_arg(args, i)?.iter().cloned());
        if out.len() > MAX_ELEMENTS {
            return Err(format!("the result has more than {MAX_ELEMENTS} elements"));
        }
    }
    Ok(Value::list(out))
}

pub fn merge(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let mut out = IndexMap::default();
    for i in 0..args.len() {
        for (k, v) in map_arg(args, i)? {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::record(out))
}

pub fn contains(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    match (args.first(), args.get(1)) {
        (Some(Value::Str(h)), Some(Value::Str(n))) => Ok(Value::Bool(h.contains(n.as_ref()))),
        (Some(Value::List(xs)), Some(n)) => Ok(Value::Bool(xs.iter().any(|x| x == n))),
        _ => Err("`contains` takes a string and a string, or a list and a value".into()),
    }
}

pub fn keys(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let mut ks: Vec<&String> = map_arg(args, 0)?.keys().collect();
    ks.sort();
    Ok(Value::list(
        ks.into_iter().map(|k| Value::str(k.as_str())).collect(),
    ))
}

pub fn values(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let m = map_arg(args, 0)?;
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    Ok(Value::list(entries.into_iter().map(|(_, v)| v.clone()).collect()))
}

pub fn lookup(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let m = map_arg(args, 0)?;
    let key = str_arg(args, 1)?;
    match m.get(key) {
        Some(v) => Ok(v.clone()),
        None => args.get(2).cloned().ok_or_else(|| "missing argument 3".into()),
    }
}

pub fn range(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let (start, end) = if args.len() == 1 {
        (0, int_arg(args, 0)?)
    } else {
        (int_arg(args, 0)?, int_arg(args, 1)?)
    };
    let n = end.saturating_sub(start).max(0);
    if n > MAX_ELEMENTS as i64 {
        return Err(format!(
            "range of {n} elements is too large (the limit is {MAX_ELEMENTS})"
        ));
    }
    Ok(Value::List(Arc::new(
        (start..end.max(start)).map(Value::Int).collect(),
    )))
}

pub fn sum(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let xs = list_arg(args, 0)?;
    if xs.iter().all(|x| matches!(x, Value::Int(_))) {
        let mut total: i64 = 0;
        for x in xs {
            if let Value::Int(i) = x {
                total = total.checked_add(*i).ok_or("the sum overflows a 64-bit int")?;
            }
        }
        return Ok(Value::Int(total));
    }
    let mut total = 0.0;
    for x in xs {
        total += number(x).ok_or_else(|| format!("`sum` takes numbers, found a {}", x.kind()))?;
    }
    Ok(Value::Float(total))
}

fn extreme(args: &[Value], want: std::cmp::Ordering, name: &str) -> Result<Value, String> {
    let xs = list_arg(args, 0)?;
    let mut best: Option<&Value> = None;
    for x in xs {
        let better = match (best, x) {
            (None, _) => true,
            (Some(Value::Duration(a)), Value::Duration(b)) => b.cmp(a) == want,
            (Some(a), b) => match (number(a), number(b)) {
                (Some(a), Some(b)) => b.total_cmp(&a) == want,
                _ => {
                    return Err(format!(
                        "`{name}` takes numbers or durations, found a {}",
                        b.kind()
                    ))
                }
            },
        };
        if better {
            best = Some(x);
        }
    }
    best.cloned().ok_or_else(|| format!("`{name}` of an empty list"))
}

pub fn min(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    extreme(args, std::cmp::Ordering::Less, "min")
}

pub fn max(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    extreme(args, std::cmp::Ordering::Greater, "max")
}

pub fn slice(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let xs = list_arg(args, 0)?;
    let (start, end) = (int_arg(args, 1)?, int_arg(args, 2)?);
    let len = xs.len() as i64;
    if start < 0 || end < start || end > len {
        return Err(format!(
            "slice {start}..{end} is outside the list of {len} elements"
        ));
    }
    Ok(Value::list(
        xs.get(start as usize..end as usize).unwrap_or(&[]).to_vec(),
    ))
}

pub fn coalesce(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    args.iter()
        .find(|v| !matches!(v, Value::Null))
        .cloned()
        .ok_or_else(|| "every argument of `coalesce` is null".into())
}

pub fn to_int(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    match args.first() {
        Some(Value::Int(i)) => Ok(Value::Int(*i)),
        Some(Value::Float(f)) if f.is_finite() && f.abs() < 9.2e18 => Ok(Value::Int(f.trunc() as i64)),
        Some(Value::Float(_)) => Err("the float is too large for an int".into()),
        Some(Value::Str(s)) => s
            .trim()
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("\"{s}\" is not an int")),
        Some(v) => Err(format!("`to_int` takes a string or a number, got a {}", v.kind())),
        None => Err("missing argument 1".into()),
    }
}

pub fn to_string(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    match args.first() {
        Some(Value::Str(s)) => Ok(Value::Str(s.clone())),
        Some(Value::Int(i)) => Ok(Value::str(i.to_string())),
        Some(Value::Float(f)) => Ok(Value::str(f.to_string())),
        Some(Value::Bool(b)) => Ok(Value::str(b.to_string())),
        Some(Value::Duration(ms)) => Ok(Value::str(crate::value::format_duration(*ms))),
        Some(v) => Err(format!("`to_string` takes a scalar, got a {}", v.kind())),
        None => Err("missing argument 1".into()),
    }
}
