//! The builtin functions (strings, lists, maps, encoding, CIDR math, inputs):
//! each with a type rule for the checker and an implementation for the evaluator.
//! (Temporary minimal table in the checker's branch; replaced at merge.)

use crate::types::Ty;
use crate::value::Value;

pub struct Builtin {
    pub name: &'static str,
    pub signature: &'static str,
    pub doc: &'static str,
    pub check: fn(&[Ty]) -> Result<Ty, ArgError>,
    pub eval: fn(&[Value], &dyn crate::eval::Inputs) -> Result<Value, String>,
}

pub struct ArgError {
    pub arg: Option<usize>,
    pub message: String,
}

fn len_check(args: &[Ty]) -> Result<Ty, ArgError> {
    if args.len() != 1 {
        return Err(ArgError {
            arg: None,
            message: "len takes 1 argument".into(),
        });
    }
    Ok(Ty::Int)
}

fn len_eval(args: &[Value], _: &dyn crate::eval::Inputs) -> Result<Value, String> {
    match args.first() {
        Some(Value::Str(s)) => Ok(Value::Int(s.chars().count() as i64)),
        Some(Value::List(l)) => Ok(Value::Int(l.len() as i64)),
        _ => Err("len needs a string or list".into()),
    }
}

static ALL: &[Builtin] = &[Builtin {
    name: "len",
    signature: "len(x): int",
    doc: "Length.",
    check: len_check,
    eval: len_eval,
}];

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    ALL.iter().find(|b| b.name == name)
}

pub fn all() -> &'static [Builtin] {
    ALL
}
