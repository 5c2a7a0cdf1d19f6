//! Encoding builtins: base64, JSON, YAML, URL.

use base64::Engine as _;

use super::{arity, checked_str, str_arg, ArgError};
use crate::eval::Inputs;
use crate::types::Ty;
use crate::value::Value;

pub fn check_any_to_str(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 1, "")?;
    Ok(Ty::String)
}

pub fn base64_encode(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    checked_str(base64::engine::general_purpose::STANDARD.encode(str_arg(args, 0)?))
}

pub fn base64_decode(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(str_arg(args, 0)?.trim())
        .map_err(|e| format!("not valid base64: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::str)
        .map_err(|_| "the decoded bytes are not UTF-8 text".into())
}

pub fn json_encode(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let v = args.first().ok_or("missing argument 1")?;
    checked_str(serde_json::to_string(&v.to_json()).map_err(|e| e.to_string())?)
}

pub fn yaml_encode(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let v = args.first().ok_or("missing argument 1")?;
    checked_str(crate::yaml::to_yaml(&v.to_json()))
}

pub fn url_encode(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let mut out = String::new();
    for b in str_arg(args, 0)?.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    checked_str(out)
}
