//! What differs between two environments of one configuration: params and
//! resource inputs, compared on resolved values. Secrets compare by value but
//! show as `(sensitive)`; values known only after apply compare by origin.

use std::collections::BTreeMap;

use tpt_lang::value::Value;
use tpt_lang::Evaluated;

/// One changed value, at a path such as `orders.instance` or `shop.resources.memory`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    /// As shown to people (`"1.5.0"`, `(sensitive)`, `(absent)`).
    pub left: String,
    pub right: String,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct EnvDiff {
    pub params: Vec<Change>,
    /// Addresses only in the left environment.
    pub only_left: Vec<String>,
    /// Addresses only in the right environment.
    pub only_right: Vec<String>,
    /// Per address in both, the inputs that differ.
    pub resources: BTreeMap<String, Vec<Change>>,
}

impl EnvDiff {
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
            && self.only_left.is_empty()
            && self.only_right.is_empty()
            && self.resources.is_empty()
    }
}

pub fn diff(left: &Evaluated, right: &Evaluated) -> EnvDiff {
    let mut out = EnvDiff::default();
    let names: Vec<&String> = left
        .params
        .keys()
        .chain(right.params.keys().filter(|k| !left.params.contains_key(*k)))
        .collect();
    for name in names {
        compare(
            name,
            left.params.get(name),
            right.params.get(name),
            &mut out.params,
        );
    }
    let (l, r) = (by_address(left), by_address(right));
    for (address, lr) in &l {
        match r.get(address) {
            None => out.only_left.push(address.clone()),
            Some(rr) => {
                let mut changes = Vec::new();
                if lr.schema_name != rr.schema_name {
                    changes.push(Change {
                        path: format!("{address} (type)"),
                        left: lr.schema_name.clone(),
                        right: rr.schema_name.clone(),
                    });
                }
                for (field, lv) in &lr.inputs {
                    compare(
                        &format!("{address}.{field}"),
                        Some(lv),
                        rr.inputs.get(field),
                        &mut changes,
                    );
                }
                for (field, rv) in rr.inputs.iter().filter(|(k, _)| !lr.inputs.contains_key(*k)) {
                    compare(&format!("{address}.{field}"), None, Some(rv), &mut changes);
                }
                if !changes.is_empty() {
                    out.resources.insert(address.clone(), changes);
                }
            }
        }
    }
    out.only_right = r.keys().filter(|a| !l.contains_key(*a)).cloned().collect();
    out
}

fn by_address(e: &Evaluated) -> BTreeMap<String, &tpt_lang::ResourceInstance> {
    e.resources.iter().map(|r| (r.address.clone(), r)).collect()
}

/// Compares two values; records dotted paths of the differences (records are
/// compared field by field, everything else as a whole).
fn compare(path: &str, left: Option<&Value>, right: Option<&Value>, out: &mut Vec<Change>) {
    match (left, right) {
        (Some(Value::Record(a)), Some(Value::Record(b))) => {
            for (k, av) in a.iter() {
                compare(&format!("{path}.{k}"), Some(av), b.get(k), out);
            }
            for (k, bv) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                compare(&format!("{path}.{k}"), None, Some(bv), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Change {
            path: path.to_string(),
            left: show(a),
            right: show(b),
        }),
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_string(),
        Some(v) => v.to_string(),
    }
}

/// For people: params, then resources only on one side, then changed inputs.
pub fn to_text(d: &EnvDiff, left: &str, right: &str) -> String {
    if d.is_empty() {
        return format!("`{left}` and `{right}` evaluate to the same resources and params\n");
    }
    let mut out = String::new();
    if !d.params.is_empty() {
        out.push_str("params:\n");
        for c in &d.params {
            out.push_str(&format!("  ~ {}: {} → {}\n", c.path, c.left, c.right));
        }
    }
    if !d.only_left.is_empty() || !d.only_right.is_empty() || !d.resources.is_empty() {
        out.push_str("resources:\n");
    }
    for a in &d.only_left {
        out.push_str(&format!("  - {a}  (only in {left})\n"));
    }
    for a in &d.only_right {
        out.push_str(&format!("  + {a}  (only in {right})\n"));
    }
    for (address, changes) in &d.resources {
        out.push_str(&format!("  ~ {address}\n"));
        for c in changes {
            let field = c
                .path
                .strip_prefix(address.as_str())
                .map(|p| p.trim_start_matches('.'))
                .unwrap_or(&c.path);
            out.push_str(&format!("      {field}: {} → {}\n", c.left, c.right));
        }
    }
    out
}

/// For tools: `{"left", "right", "params": [...], "only_left": [...], "only_right": [...], "resources": {...}}`.
pub fn to_json(d: &EnvDiff, left: &str, right: &str) -> serde_json::Value {
    let change = |c: &Change| serde_json::json!({ "path": c.path, "left": c.left, "right": c.right });
    let resources: serde_json::Map<String, serde_json::Value> = d
        .resources
        .iter()
        .map(|(a, cs)| {
            (
                a.clone(),
                serde_json::Value::Array(cs.iter().map(change).collect()),
            )
        })
        .collect();
    serde_json::json!({
        "left": left,
        "right": right,
        "params": d.params.iter().map(change).collect::<Vec<_>>(),
        "only_left": d.only_left,
        "only_right": d.only_right,
        "resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tpt_lang::program::SchemaId;
    use tpt_lang::IndexMap;
    use tpt_lang::ResourceInstance;

    fn ev(params: &[(&str, Value)], resources: Vec<(&str, Vec<(&str, Value)>)>) -> Evaluated {
        Evaluated {
            environment: None,
            params: params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            resources: resources
                .into_iter()
                .map(|(a, inputs)| ResourceInstance {
                    address: a.into(),
                    name: a.into(),
                    schema: SchemaId(0),
                    schema_name: "S".into(),
                    kind: "S".into(),
                    inputs: inputs
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<IndexMap<_, _>>(),
                    depends_on: Default::default(),
                    span: Default::default(),
                    lifecycle: Default::default(),
                })
                .collect(),
            outputs: IndexMap::default(),
            imports: Vec::new(),
            spent: Default::default(),
        }
    }

    #[test]
    fn params_resources_and_nested_fields() {
        let nested = |m: &str| Value::record([("memory".to_string(), Value::str(m))].into_iter().collect());
        let a = ev(
            &[("tag", Value::str("1.4")), ("same", Value::Int(1))],
            vec![
                ("web", vec![("res", nested("1Gi")), ("n", Value::Int(1))]),
                ("old", vec![]),
            ],
        );
        let b = ev(
            &[("tag", Value::str("1.5")), ("same", Value::Int(1))],
            vec![
                ("web", vec![("res", nested("2Gi")), ("n", Value::Int(1))]),
                ("new", vec![]),
            ],
        );
        let d = diff(&a, &b);
        assert_eq!(
            d.params,
            vec![Change {
                path: "tag".into(),
                left: "\"1.4\"".into(),
                right: "\"1.5\"".into()
            }]
        );
        assert_eq!(d.only_left, ["old"]);
        assert_eq!(d.only_right, ["new"]);
        assert_eq!(d.resources["web"][0].path, "web.res.memory");
        let text = to_text(&d, "staging", "prod");
        assert!(
            text.contains("  ~ web\n      res.memory: \"1Gi\" → \"2Gi\"\n"),
            "{text}"
        );
    }

    #[test]
    fn secrets_differ_without_showing() {
        let a = ev(&[("pw", Value::secret(Value::str("hunter2")))], vec![]);
        let b = ev(&[("pw", Value::secret(Value::str("swordfish")))], vec![]);
        let text = to_text(&diff(&a, &b), "a", "b");
        assert!(text.contains("pw: (sensitive) → (sensitive)"));
        assert!(!text.contains("hunter2") && !text.contains("swordfish"));
        assert!(diff(&a, &a).is_empty());
    }
}
