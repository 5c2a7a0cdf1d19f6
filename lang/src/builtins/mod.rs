//! The builtin functions (strings, lists, maps, encoding, CIDR math, inputs):
//! each with a type rule for the checker and an implementation for the
//! evaluator. All are total: bad input is an error message, never a panic, and
//! results are bounded in size.
//!
//! Contract with the evaluator: `eval` receives arguments with no
//! [`Value::Secret`] and no [`Value::Unknown`] inside (the evaluator strips
//! secrets, re-marks the result, and short-circuits unknowns) — except
//! `sensitive`, which receives its argument as is.

mod cidr;
mod collections;
mod encoding;
pub(crate) mod files;
mod strings;

use crate::eval::Inputs;
use crate::types::Ty;
use crate::value::Value;

pub struct Builtin {
    pub name: &'static str,
    /// e.g. `join(separator: string, items: [string]): string`
    pub signature: &'static str,
    /// One or two sentences for hover and docs.
    pub doc: &'static str,
    /// The result type for these argument types, or what is wrong with them.
    pub check: fn(&[Ty]) -> Result<Ty, ArgError>,
    pub eval: fn(&[Value], &dyn Inputs) -> Result<Value, String>,
}

/// A wrong call: which argument (`None`: the number of arguments) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgError {
    pub arg: Option<usize>,
    pub message: String,
}

/// The most elements a builtin may build (ranges, concatenations).
pub const MAX_ELEMENTS: usize = 1_000_000;
/// The longest string a builtin may build.
pub const MAX_STRING: usize = 16 * 1024 * 1024;

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    ALL.binary_search_by(|b| b.name.cmp(name))
        .ok()
        .and_then(|i| ALL.get(i))
}

/// Every builtin, sorted by name.
pub fn all() -> &'static [Builtin] {
    ALL
}

macro_rules! builtin {
    ($name:literal, $sig:literal, $doc:literal, $check:expr, $eval:expr) => {
        Builtin {
            name: $name,
            signature: $sig,
            doc: $doc,
            check: $check,
            eval: $eval,
        }
    };
}

static ALL: &[Builtin] = &[
    builtin!("base64_decode", "base64_decode(text: string): string", "Decodes standard base64 into text (UTF-8).", strings::str_to_str, encoding::base64_decode),
    builtin!("base64_encode", "base64_encode(text: string): string", "Encodes text as standard base64.", strings::str_to_str, encoding::base64_encode),
    builtin!("cidr_host", "cidr_host(prefix: string, host: int): string", "The address of host number `host` in the network `prefix`, e.g. cidr_host(\"10.0.0.0/16\", 5) is \"10.0.0.5\".", cidr::check_host, cidr::host),
    builtin!("cidr_netmask", "cidr_netmask(prefix: string): string", "The IPv4 netmask of a prefix, e.g. \"255.255.0.0\" for a /16.", strings::str_to_str, cidr::netmask),
    builtin!("cidr_subnet", "cidr_subnet(prefix: string, newbits: int, netnum: int): string", "Subnet number `netnum` of `prefix` with `newbits` more prefix bits, e.g. cidr_subnet(\"10.0.0.0/16\", 8, 2) is \"10.0.2.0/24\".", cidr::check_subnet, cidr::subnet),
    builtin!("coalesce", "coalesce(values: T?...): T", "The first argument that is not null (an error when all are).", collections::check_coalesce, collections::coalesce),
    builtin!("concat", "concat(lists: [T]...): [T]", "One list of the elements of all lists, in order.", collections::check_concat, collections::concat),
    builtin!("contains", "contains(haystack: string | [T], needle: string | T): bool", "Whether a string contains a substring, or a list an element.", collections::check_contains, collections::contains),
    builtin!("distinct", "distinct(list: [T]): [T]", "The list without repeated elements (first occurrence kept).", collections::check_list_same, collections::distinct),
    builtin!("ends_with", "ends_with(text: string, suffix: string): bool", "Whether `text` ends with `suffix`.", strings::str_str_to_bool, strings::ends_with),
    builtin!("file", "file(path: string): string", "The text of a file inside the configuration's directory; `path` is a string literal, relative to the file that reads it (read when the configuration is loaded).", files::check_file, files::read_elsewhere),
    builtin!("flatten", "flatten(lists: [[T]]): [T]", "One list of the elements of a list of lists.", collections::check_flatten, collections::flatten),
    builtin!("join", "join(separator: string, items: [string]): string", "The items joined by the separator.", strings::check_join, strings::join),
    builtin!("json_decode", "json_decode(text: string): T", "JSON text as a value of the declared type: only as the value of a typed `let` (`let v: Values = json_decode(file(\"v.json\"))`), which it must fit.", files::check_decode, files::read_elsewhere),
    builtin!("json_encode", "json_encode(value: any): string", "The value as compact JSON (records keep their field order).", encoding::check_any_to_str, encoding::json_encode),
    builtin!("keys", "keys(map: {string: T}): [string]", "The keys of a map, sorted.", collections::check_keys, collections::keys),
    builtin!("len", "len(value: string | [T] | {string: T}): int", "The number of characters of a string, elements of a list, or entries of a map.", collections::check_len, collections::len),
    builtin!("lookup", "lookup(map: {string: T}, key: string, default: T): T", "The value of `key` in the map, or `default` when it is missing.", collections::check_lookup, collections::lookup),
    builtin!("lower", "lower(text: string): string", "The text in lower case.", strings::str_to_str, strings::lower),
    builtin!("max", "max(numbers: [number]): number", "The largest number of a non-empty list.", collections::check_min_max, collections::max),
    builtin!("merge", "merge(maps: {string: T}...): {string: T}", "One map with the entries of all maps; later maps win.", collections::check_merge, collections::merge),
    builtin!("min", "min(numbers: [number]): number", "The smallest number of a non-empty list.", collections::check_min_max, collections::min),
    builtin!("range", "range(end: int) | range(start: int, end: int): [int]", "The ints from `start` (default 0) up to, not including, `end`.", collections::check_range, collections::range),
    builtin!("regex_match", "regex_match(text: string, pattern: string): bool", "Whether the regular expression matches somewhere in the text.", strings::str_str_to_bool, strings::regex_match),
    builtin!("replace", "replace(text: string, from: string, to: string): string", "The text with every `from` replaced by `to`.", strings::check_replace, strings::replace),
    builtin!("reverse", "reverse(list: [T]): [T]", "The list in reverse order.", collections::check_list_same, collections::reverse),
    builtin!("secret_env", "secret_env(name: string): secret", "A secret read from the named environment variable of the process running tpt (an explicitly named input). An error when it is not set.", strings::check_secret_env, strings::secret_env),
    builtin!("sensitive", "sensitive(value: string): secret", "The same text, marked secret: it is never shown.", strings::check_sensitive, strings::sensitive),
    builtin!("slice", "slice(list: [T], start: int, end: int): [T]", "The elements from index `start` up to, not including, `end`.", collections::check_slice, collections::slice),
    builtin!("sort", "sort(list: [string] | [number]): [T]", "The list sorted ascending.", collections::check_sort, collections::sort),
    builtin!("split", "split(text: string, separator: string): [string]", "The parts of the text between separators.", strings::check_split, strings::split),
    builtin!("starts_with", "starts_with(text: string, prefix: string): bool", "Whether `text` starts with `prefix`.", strings::str_str_to_bool, strings::starts_with),
    builtin!("substr", "substr(text: string, start: int, length: int): string", "`length` characters from character `start`; clamped to the text.", strings::check_substr, strings::substr),
    builtin!("sum", "sum(numbers: [number]): number", "The sum of a list of numbers (0 for an empty list).", collections::check_sum, collections::sum),
    builtin!("templatefile", "templatefile(path: string, vars: {string: T}): string", "A file inside the configuration's directory with each `${expr}` replaced, `expr` reading only `vars` (`$${` writes `${`); `path` is a string literal.", files::check_templatefile, files::read_elsewhere),
    builtin!("to_int", "to_int(value: string | float | int): int", "The value as an int: parses a string, truncates a float.", collections::check_to_int, collections::to_int),
    builtin!("to_string", "to_string(value: string | int | float | bool | duration): string", "The value as text.", collections::check_to_string, collections::to_string),
    builtin!("trim", "trim(text: string): string", "The text without leading and trailing white space.", strings::str_to_str, strings::trim),
    builtin!("trim_prefix", "trim_prefix(text: string, prefix: string): string", "The text without `prefix` at its start, if it is there.", strings::str_str_to_str, strings::trim_prefix),
    builtin!("trim_suffix", "trim_suffix(text: string, suffix: string): string", "The text without `suffix` at its end, if it is there.", strings::str_str_to_str, strings::trim_suffix),
    builtin!("upper", "upper(text: string): string", "The text in upper case.", strings::str_to_str, strings::upper),
    builtin!("url_encode", "url_encode(text: string): string", "The text percent-encoded for use in a URL query.", strings::str_to_str, encoding::url_encode),
    builtin!("values", "values(map: {string: T}): [T]", "The values of a map, in the order of its sorted keys.", collections::check_values, collections::values),
    builtin!("yaml_decode", "yaml_decode(text: string): T", "YAML text as a value of the declared type: only as the value of a typed `let` (`let v: Values = yaml_decode(file(\"values.yaml\"))`), which it must fit.", files::check_decode, files::read_elsewhere),
    builtin!("yaml_encode", "yaml_encode(value: any): string", "The value as YAML.", encoding::check_any_to_str, encoding::yaml_encode),
];

// ------------------------------------------------------------ shared helpers

pub(crate) fn arity(args: &[Ty], n: usize, name: &str) -> Result<(), ArgError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(ArgError {
            arg: None,
            message: format!(
                "{} {n} argument{}, {} given",
                if name.is_empty() {
                    "it takes".to_string()
                } else {
                    format!("`{name}` takes")
                },
                if n == 1 { "" } else { "s" },
                args.len()
            ),
        })
    }
}

pub(crate) fn wrong(arg: usize, message: impl Into<String>) -> ArgError {
    ArgError {
        arg: Some(arg),
        message: message.into(),
    }
}

pub(crate) fn is_stringish(t: &Ty) -> bool {
    match t.base() {
        Ty::String | Ty::Literal(_) | Ty::Secret | Ty::Error => true,
        Ty::Union(ts) => ts.iter().all(is_stringish),
        _ => false,
    }
}

pub(crate) fn is_int(t: &Ty) -> bool {
    matches!(t.base(), Ty::Int | Ty::Error)
}

pub(crate) fn is_number(t: &Ty) -> bool {
    matches!(t.base(), Ty::Int | Ty::Float | Ty::Error)
}

/// The element type of a list type (`Ty::Error` passes).
pub(crate) fn list_elem(t: &Ty) -> Option<Ty> {
    match t.non_null().base() {
        Ty::List(e) => Some((**e).clone()),
        Ty::Error => Some(Ty::Error),
        _ => None,
    }
}

/// The value type of a map (or record) type.
pub(crate) fn map_elem(t: &Ty) -> Option<Ty> {
    match t.non_null().base() {
        Ty::Map(e) => Some((**e).clone()),
        Ty::Record(r) => Some(Ty::union(r.fields.values().map(|f| f.ty.clone()).collect())),
        Ty::Error => Some(Ty::Error),
        _ => None,
    }
}

pub(crate) fn str_arg(args: &[Value], i: usize) -> Result<&str, String> {
    match args.get(i) {
        Some(Value::Str(s)) => Ok(s),
        Some(v) => Err(format!("argument {} must be a string, got a {}", i + 1, v.kind())),
        None => Err(format!("missing argument {}", i + 1)),
    }
}

pub(crate) fn int_arg(args: &[Value], i: usize) -> Result<i64, String> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(v) => Err(format!("argument {} must be an int, got a {}", i + 1, v.kind())),
        None => Err(format!("missing argument {}", i + 1)),
    }
}

pub(crate) fn list_arg(args: &[Value], i: usize) -> Result<&[Value], String> {
    match args.get(i) {
        Some(Value::List(xs)) => Ok(xs),
        Some(v) => Err(format!("argument {} must be a list, got a {}", i + 1, v.kind())),
        None => Err(format!("missing argument {}", i + 1)),
    }
}

pub(crate) fn checked_str(s: String) -> Result<Value, String> {
    if s.len() > MAX_STRING {
        Err(format!(
            "the result is too long ({} bytes; the limit is {MAX_STRING})",
            s.len()
        ))
    } else {
        Ok(Value::str(s))
    }
}
