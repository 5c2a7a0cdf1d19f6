//! YAML output: `yaml_encode` and `tpt eval --format yaml`.

/// YAML in block style that YAML 1.1 readers (Kubernetes' go-yaml) read back
/// as the same values: a string that such a reader would take for something
/// else (`yes`, `on`, `080`, `1e3`, `2026-01-01`, `~`, …) is double-quoted.
pub fn to_yaml(j: &serde_json::Value) -> String {
    let mut out = String::new();
    yaml_block(j, 0, &mut out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn yaml_block(j: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value as J;
    let pad = "  ".repeat(indent);
    match j {
        J::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                out.push_str(&format!("{pad}{}:", yaml_scalar_str(k)));
                yaml_child(v, indent, out);
            }
        }
        J::Array(xs) if !xs.is_empty() => {
            for x in xs {
                out.push_str(&format!("{pad}-"));
                yaml_child(x, indent, out);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&yaml_scalar(other));
            out.push('\n');
        }
    }
}

/// After `key:` or `-`: a nested collection on the next lines, a scalar inline.
fn yaml_child(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value as J;
    match v {
        J::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_block(v, indent + 1, out);
        }
        J::Array(xs) if !xs.is_empty() => {
            out.push('\n');
            yaml_block(v, indent + 1, out);
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_scalar(other));
            out.push('\n');
        }
    }
}

fn yaml_scalar(j: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match j {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::String(s) => yaml_scalar_str(s),
        J::Object(_) => "{}".into(),
        J::Array(_) => "[]".into(),
    }
}

/// A string plain when every YAML reader reads it back as this string, else
/// double-quoted (JSON escapes are valid YAML).
fn yaml_scalar_str(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let special_word = matches!(
        lower.as_str(),
        "y" | "yes"
            | "n"
            | "no"
            | "true"
            | "false"
            | "on"
            | "off"
            | "null"
            | "~"
            | ".nan"
            | ".inf"
            | "-.inf"
            | "+.inf"
    );
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_');
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    let number_like = s.parse::<f64>().is_ok() || s.starts_with(|c: char| c.is_ascii_digit());
    if !s.is_empty() && first_ok && chars_ok && !special_word && !number_like {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}
