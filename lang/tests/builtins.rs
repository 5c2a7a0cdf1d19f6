//! Every builtin: its type rule and its implementation, on success and on error.

use std::collections::HashMap;

use tpt_lang::builtins::{all, lookup};
use tpt_lang::types::Ty;
use tpt_lang::value::Value;

fn s(x: &str) -> Value {
    Value::str(x)
}

fn list(xs: Vec<Value>) -> Value {
    Value::list(xs)
}

fn map(xs: &[(&str, Value)]) -> Value {
    Value::record(xs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let b = lookup(name).unwrap_or_else(|| panic!("no builtin {name}"));
    let inputs: HashMap<String, String> = [("TPT_SECRET".to_string(), "hunter2".to_string())]
        .into_iter()
        .collect();
    (b.eval)(args, &inputs)
}

fn ty(name: &str, args: &[Ty]) -> Result<Ty, String> {
    let b = lookup(name).unwrap_or_else(|| panic!("no builtin {name}"));
    (b.check)(args).map_err(|e| e.message)
}

#[test]
fn table_is_sorted_and_documented() {
    let names: Vec<&str> = all().iter().map(|b| b.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "ALL must stay sorted: lookup binary-searches it");
    for b in all() {
        assert!(!b.doc.is_empty() && b.signature.starts_with(b.name), "{}", b.name);
        assert!(lookup(b.name).is_some());
    }
}

#[test]
fn evaluation_successes() {
    let cases: Vec<(&str, Vec<Value>, Value)> = vec![
        ("len", vec![s("héllo")], Value::Int(5)),
        ("len", vec![list(vec![Value::Int(1)])], Value::Int(1)),
        ("upper", vec![s("ab")], s("AB")),
        ("lower", vec![s("AB")], s("ab")),
        ("trim", vec![s("  a ")], s("a")),
        ("trim_prefix", vec![s("v1.2"), s("v")], s("1.2")),
        ("trim_suffix", vec![s("a.tpt"), s(".tpt")], s("a")),
        ("replace", vec![s("a-b-c"), s("-"), s("_")], s("a_b_c")),
        ("split", vec![s("a,b"), s(",")], list(vec![s("a"), s("b")])),
        ("join", vec![s(", "), list(vec![s("a"), s("b")])], s("a, b")),
        ("contains", vec![s("abc"), s("b")], Value::Bool(true)),
        (
            "contains",
            vec![list(vec![Value::Int(1)]), Value::Int(2)],
            Value::Bool(false),
        ),
        ("starts_with", vec![s("abc"), s("ab")], Value::Bool(true)),
        ("ends_with", vec![s("abc"), s("bc")], Value::Bool(true)),
        ("substr", vec![s("héllo"), Value::Int(1), Value::Int(3)], s("éll")),
        ("substr", vec![s("ab"), Value::Int(1), Value::Int(10)], s("b")),
        (
            "regex_match",
            vec![s("abc123"), s("^[a-z]+[0-9]+$")],
            Value::Bool(true),
        ),
        ("to_string", vec![Value::Duration(90_000)], s("1m30s")),
        ("to_int", vec![s(" 42 ")], Value::Int(42)),
        ("to_int", vec![Value::Float(2.9)], Value::Int(2)),
        (
            "concat",
            vec![list(vec![Value::Int(1)]), list(vec![Value::Int(2)])],
            list(vec![Value::Int(1), Value::Int(2)]),
        ),
        (
            "flatten",
            vec![list(vec![list(vec![Value::Int(1)]), list(vec![])])],
            list(vec![Value::Int(1)]),
        ),
        (
            "distinct",
            vec![list(vec![s("a"), s("b"), s("a")])],
            list(vec![s("a"), s("b")]),
        ),
        (
            "sort",
            vec![list(vec![Value::Int(3), Value::Int(1)])],
            list(vec![Value::Int(1), Value::Int(3)]),
        ),
        (
            "reverse",
            vec![list(vec![Value::Int(1), Value::Int(2)])],
            list(vec![Value::Int(2), Value::Int(1)]),
        ),
        (
            "range",
            vec![Value::Int(3)],
            list(vec![Value::Int(0), Value::Int(1), Value::Int(2)]),
        ),
        (
            "range",
            vec![Value::Int(2), Value::Int(4)],
            list(vec![Value::Int(2), Value::Int(3)]),
        ),
        (
            "sum",
            vec![list(vec![Value::Int(1), Value::Int(2)])],
            Value::Int(3),
        ),
        (
            "sum",
            vec![list(vec![Value::Int(1), Value::Float(0.5)])],
            Value::Float(1.5),
        ),
        (
            "min",
            vec![list(vec![Value::Int(3), Value::Int(1)])],
            Value::Int(1),
        ),
        (
            "max",
            vec![list(vec![Value::Int(3), Value::Int(1)])],
            Value::Int(3),
        ),
        (
            "keys",
            vec![map(&[("b", Value::Int(1)), ("a", Value::Int(2))])],
            list(vec![s("a"), s("b")]),
        ),
        (
            "values",
            vec![map(&[("b", Value::Int(1)), ("a", Value::Int(2))])],
            list(vec![Value::Int(2), Value::Int(1)]),
        ),
        (
            "merge",
            vec![
                map(&[("a", Value::Int(1))]),
                map(&[("a", Value::Int(2)), ("b", Value::Int(3))]),
            ],
            map(&[("a", Value::Int(2)), ("b", Value::Int(3))]),
        ),
        (
            "lookup",
            vec![map(&[("a", Value::Int(1))]), s("z"), Value::Int(0)],
            Value::Int(0),
        ),
        (
            "slice",
            vec![
                list(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
                Value::Int(1),
                Value::Int(3),
            ],
            list(vec![Value::Int(2), Value::Int(3)]),
        ),
        ("coalesce", vec![Value::Null, s("x")], s("x")),
        ("base64_encode", vec![s("hi")], s("aGk=")),
        ("base64_decode", vec![s("aGk=")], s("hi")),
        (
            "json_encode",
            vec![map(&[("a", list(vec![Value::Int(1)]))])],
            s("{\"a\":[1]}"),
        ),
        ("yaml_encode", vec![map(&[("a", Value::Int(1))])], s("a: 1\n")),
        // YAML 1.1 readers (Kubernetes) would take these strings for bools, numbers and nulls.
        (
            "yaml_encode",
            vec![map(&[
                ("a", s("yes")),
                ("b", list(vec![s("on"), s("080"), s("~"), s("plain")])),
                ("c", map(&[])),
            ])],
            s("a: \"yes\"\nb:\n  - \"on\"\n  - \"080\"\n  - \"~\"\n  - plain\nc: {}\n"),
        ),
        ("url_encode", vec![s("a b&c")], s("a%20b%26c")),
        (
            "cidr_subnet",
            vec![s("10.0.0.0/16"), Value::Int(8), Value::Int(2)],
            s("10.0.2.0/24"),
        ),
        (
            "cidr_subnet",
            vec![s("fd00::/48"), Value::Int(16), Value::Int(1)],
            s("fd00:0:0:1::/64"),
        ),
        ("cidr_host", vec![s("10.0.0.0/16"), Value::Int(5)], s("10.0.0.5")),
        ("cidr_netmask", vec![s("10.0.0.0/12")], s("255.240.0.0")),
        ("secret_env", vec![s("TPT_SECRET")], Value::secret(s("hunter2"))),
        ("sensitive", vec![s("x")], Value::secret(s("x"))),
    ];
    for (name, args, expected) in cases {
        assert_eq!(call(name, &args), Ok(expected), "{name}");
    }
}

#[test]
fn evaluation_errors_are_messages_not_panics() {
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        ("split", vec![s("a"), s("")], "separator"),
        ("replace", vec![s("a"), s(""), s("b")], "empty"),
        ("substr", vec![s("a"), Value::Int(-1), Value::Int(1)], "negative"),
        ("regex_match", vec![s("a"), s("[")], "invalid regular expression"),
        ("to_int", vec![s("x1")], "not an int"),
        ("range", vec![Value::Int(5_000_000)], "too large"),
        ("min", vec![list(vec![])], "empty"),
        (
            "slice",
            vec![list(vec![Value::Int(1)]), Value::Int(0), Value::Int(5)],
            "outside",
        ),
        ("coalesce", vec![Value::Null], "null"),
        ("base64_decode", vec![s("%%%")], "base64"),
        (
            "cidr_subnet",
            vec![s("10.0.0.0/30"), Value::Int(8), Value::Int(0)],
            "longer",
        ),
        (
            "cidr_subnet",
            vec![s("10.0.0.0/16"), Value::Int(2), Value::Int(4)],
            "does not fit",
        ),
        ("cidr_host", vec![s("10.0.0.0/30"), Value::Int(9)], "does not fit"),
        ("cidr_host", vec![s("nonsense"), Value::Int(1)], "CIDR"),
        ("cidr_netmask", vec![s("fd00::/8")], "IPv4"),
        ("secret_env", vec![s("TPT_SURELY_UNSET")], "not set"),
        ("sort", vec![list(vec![Value::Int(1), s("a")])], "cannot sort"),
    ];
    for (name, args, fragment) in cases {
        match call(name, &args) {
            Err(msg) => assert!(msg.contains(fragment), "{name}: {msg:?} lacks {fragment:?}"),
            Ok(v) => panic!("{name} should fail, got {v:?}"),
        }
    }
}

#[test]
fn type_rules() {
    let str_list = Ty::List(Box::new(Ty::String));
    assert_eq!(ty("join", &[Ty::String, str_list.clone()]), Ok(Ty::String));
    assert!(ty("join", &[Ty::String, Ty::List(Box::new(Ty::Int))]).is_err());
    assert!(ty("join", &[Ty::String]).is_err());
    assert_eq!(ty("len", std::slice::from_ref(&str_list)), Ok(Ty::Int));
    assert!(ty("len", &[Ty::Bool]).is_err());
    assert_eq!(ty("range", &[Ty::Int, Ty::Int]), Ok(Ty::List(Box::new(Ty::Int))));
    assert!(ty("range", &[Ty::String]).is_err());
    assert_eq!(ty("keys", &[Ty::Map(Box::new(Ty::Int))]), Ok(str_list.clone()));
    assert_eq!(
        ty("values", &[Ty::Map(Box::new(Ty::Int))]),
        Ok(Ty::List(Box::new(Ty::Int)))
    );
    assert_eq!(ty("secret_env", &[Ty::String]), Ok(Ty::Secret));
    assert_eq!(ty("sensitive", &[Ty::String]), Ok(Ty::Secret));
    assert_eq!(ty("sum", &[Ty::List(Box::new(Ty::Float))]), Ok(Ty::Float));
    assert!(ty("sum", std::slice::from_ref(&str_list)).is_err());
    assert_eq!(ty("cidr_subnet", &[Ty::String, Ty::Int, Ty::Int]), Ok(Ty::String));
    assert!(ty("cidr_subnet", &[Ty::String, Ty::String, Ty::Int]).is_err());
    // An earlier error is not reported again.
    assert_eq!(ty("upper", &[Ty::Error]), Ok(Ty::String));
    assert_eq!(ty("concat", &[str_list.clone(), Ty::Error]).map(|_| ()), Ok(()));
}
