//! String builtins and the two secret builtins (`secret_env`, `sensitive`).

use super::{
    arity, checked_str, int_arg, is_int, is_stringish, list_arg, list_elem, str_arg, wrong, ArgError,
};
use crate::eval::Inputs;
use crate::types::Ty;
use crate::value::Value;

fn strings(args: &[Ty], n: usize, name: &str) -> Result<(), ArgError> {
    arity(args, n, name)?;
    for (i, a) in args.iter().enumerate() {
        if !is_stringish(a) {
            return Err(wrong(
                i,
                format!("argument {} of `{name}` must be a string", i + 1),
            ));
        }
    }
    Ok(())
}

pub fn str_to_str(args: &[Ty]) -> Result<Ty, ArgError> {
    strings(args, 1, "")?;
    Ok(Ty::String)
}

pub fn str_str_to_str(args: &[Ty]) -> Result<Ty, ArgError> {
    strings(args, 2, "")?;
    Ok(Ty::String)
}

pub fn str_str_to_bool(args: &[Ty]) -> Result<Ty, ArgError> {
    strings(args, 2, "")?;
    Ok(Ty::Bool)
}

pub fn check_replace(args: &[Ty]) -> Result<Ty, ArgError> {
    strings(args, 3, "replace")?;
    Ok(Ty::String)
}

pub fn check_split(args: &[Ty]) -> Result<Ty, ArgError> {
    strings(args, 2, "split")?;
    Ok(Ty::List(Box::new(if args.first().is_some_and(Ty::is_secret) {
        Ty::Secret
    } else {
        Ty::String
    })))
}

pub fn check_join(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 2, "join")?;
    if !args.first().is_some_and(is_stringish) {
        return Err(wrong(0, "the separator must be a string"));
    }
    match args.get(1).and_then(list_elem) {
        Some(e) if is_stringish(&e) => Ok(Ty::String),
        _ => Err(wrong(1, "the items must be a list of strings")),
    }
}

pub fn check_substr(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 3, "substr")?;
    if !args.first().is_some_and(is_stringish) {
        return Err(wrong(0, "the text must be a string"));
    }
    for i in 1..3 {
        if !args.get(i).is_some_and(is_int) {
            return Err(wrong(i, format!("argument {} of `substr` must be an int", i + 1)));
        }
    }
    Ok(Ty::String)
}

pub fn check_secret_env(args: &[Ty]) -> Result<Ty, ArgError> {
    strings(args, 1, "secret_env")?;
    Ok(Ty::Secret)
}

pub fn check_sensitive(args: &[Ty]) -> Result<Ty, ArgError> {
    strings(args, 1, "sensitive")?;
    Ok(Ty::Secret)
}

pub fn upper(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    Ok(Value::str(str_arg(args, 0)?.to_uppercase()))
}

pub fn lower(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    Ok(Value::str(str_arg(args, 0)?.to_lowercase()))
}

pub fn trim(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    Ok(Value::str(str_arg(args, 0)?.trim()))
}

pub fn trim_prefix(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    Ok(Value::str(s.strip_prefix(str_arg(args, 1)?).unwrap_or(s)))
}

pub fn trim_suffix(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    Ok(Value::str(s.strip_suffix(str_arg(args, 1)?).unwrap_or(s)))
}

pub fn starts_with(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    Ok(Value::Bool(str_arg(args, 0)?.starts_with(str_arg(args, 1)?)))
}

pub fn ends_with(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    Ok(Value::Bool(str_arg(args, 0)?.ends_with(str_arg(args, 1)?)))
}

pub fn replace(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let (s, from, to) = (str_arg(args, 0)?, str_arg(args, 1)?, str_arg(args, 2)?);
    if from.is_empty() {
        return Err("the text to replace must not be empty".into());
    }
    let count = s.matches(from).count();
    if s.len().saturating_add(count.saturating_mul(to.len())) > super::MAX_STRING {
        return Err("the result is too long".into());
    }
    Ok(Value::str(s.replace(from, to)))
}

pub fn split(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let (s, sep) = (str_arg(args, 0)?, str_arg(args, 1)?);
    if sep.is_empty() {
        return Err("the separator must not be empty".into());
    }
    Ok(Value::list(s.split(sep).map(Value::str).collect()))
}

pub fn join(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let sep = str_arg(args, 0)?;
    let items = list_arg(args, 1)?;
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Str(s) => parts.push(s.as_ref()),
            other => return Err(format!("join takes strings, found a {}", other.kind())),
        }
    }
    checked_str(parts.join(sep))
}

pub fn substr(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    let start = int_arg(args, 1)?;
    let len = int_arg(args, 2)?;
    if start < 0 || len < 0 {
        return Err("start and length must not be negative".into());
    }
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    Ok(Value::str(s.chars().skip(start).take(len).collect::<String>()))
}

pub fn regex_match(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let (s, pattern) = (str_arg(args, 0)?, str_arg(args, 1)?);
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            format!(
                "invalid regular expression: {}",
                e.to_string().lines().last().unwrap_or("").trim()
            )
        })?;
    Ok(Value::Bool(re.is_match(s)))
}

pub fn secret_env(args: &[Value], inputs: &dyn Inputs) -> Result<Value, String> {
    let name = str_arg(args, 0)?;
    match inputs.env_var(name) {
        Some(v) => Ok(Value::secret(Value::str(v))),
        None => Err(format!("the environment variable `{name}` is not set")),
    }
}

pub fn sensitive(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    match args.first() {
        Some(v) => Ok(Value::secret(v.clone())),
        None => Err("missing argument 1".into()),
    }
}
