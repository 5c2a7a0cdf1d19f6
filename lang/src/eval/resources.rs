//! Resource instances: `for` expansion into addresses, evaluation of a body,
//! the overlays of the environment chain, and references to resources.

use std::collections::BTreeSet;
use std::sync::Arc;

use indexmap::IndexMap;

use super::{Evaluator, InstancePlan, InstanceSlot, ResourceInstance};
use crate::diagnostic::{Code, Diagnostic};
use crate::program::ResourceDecl;
use crate::source::Span;
use crate::syntax::ast::{OverlayField, OverlayValue};
use crate::value::{Unknown, Value};

/// `name["key"]`, `name[0]`, `name["a"]["b"]`.
pub(crate) fn address(name: &str, keys: &[Value]) -> String {
    let mut out = name.to_string();
    for k in keys {
        match k {
            Value::Int(i) => out.push_str(&format!("[{i}]")),
            Value::Str(s) => out.push_str(&format!("[{:?}]", s.as_ref())),
            other => out.push_str(&format!("[{other}]")),
        }
    }
    out
}

impl Evaluator<'_> {
    /// Every instance of every resource, in declaration order.
    pub(super) fn all_instances(&mut self) -> Vec<ResourceInstance> {
        let root = self.p.module(self.p.root());
        let mut order = Vec::new();
        for name in root.resources.keys() {
            let Ok(plans) = self.plans(name) else { continue };
            for plan in plans.iter() {
                if self.instance(name, &plan.address).is_some() {
                    order.push(plan.address.clone());
                }
            }
        }
        self.check_overlay_keys();
        // Evaluation is over: take the instances out (cloning only if still shared).
        let mut out = Vec::with_capacity(order.len());
        for address in order {
            if let Some(InstanceSlot::Done(i)) = self.instances.remove(&address) {
                out.push(Arc::try_unwrap(i).unwrap_or_else(|shared| (*shared).clone()));
            }
        }
        out
    }

    /// The instances a declaration stamps out (memoised).
    pub(super) fn plans(&mut self, name: &str) -> Result<Arc<Vec<InstancePlan>>, ()> {
        if let Some(p) = self.plans.get(name) {
            return p.clone();
        }
        let root = self.p.root();
        let Some(decl) = self.p.module(root).resources.get(name) else {
            return Err(());
        };
        // Expanding evaluates loop collections, which may reference other resources;
        // those are not dependencies of any instance being evaluated right now.
        let (result, _) = self.isolated(Vec::new(), |ev| ev.expand(decl, 0, Vec::new(), Vec::new()));
        let result = result.map(Arc::new).map_err(|d| self.diags.push(d));
        if let Ok(plans) = &result {
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            for p in plans.iter() {
                if !seen.insert(&p.address) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::DuplicateAddress,
                            format!("two instances have the address `{}`", p.address),
                        )
                        .label(decl.node.name.span, "this `for` stamps the same key twice")
                        .help("iterate over distinct values (e.g. `distinct(list)`), or over a map"),
                    );
                    break;
                }
            }
        }
        self.plans.insert(name.to_string(), result.clone());
        result
    }

    fn expand(
        &mut self,
        decl: &ResourceDecl,
        depth: usize,
        keys: Vec<Value>,
        bindings: Vec<(String, Value)>,
    ) -> Result<Vec<InstancePlan>, Diagnostic> {
        let Some(l) = decl.loops.get(depth) else {
            return Ok(vec![InstancePlan {
                address: address(&decl.node.name.name, &keys),
                name: decl.node.name.name.clone(),
                key: keys.last().cloned(),
                keys,
                bindings,
            }]);
        };
        self.locals = bindings.clone();
        let root = self.p.root();
        let coll = self.eval(root, &l.iter)?;
        let items = self.loop_items(&coll, l.iter.span)?;
        let mut out = Vec::new();
        for (key, value) in items {
            let mut b = bindings.clone();
            match &l.vars.second {
                Some(second) => {
                    b.push((l.vars.first.name.clone(), key.clone()));
                    b.push((second.name.clone(), value.clone()));
                }
                None => b.push((l.vars.first.name.clone(), value.clone())),
            }
            // Lists of strings are keyed by the string, other lists by index.
            let address_key = match (&key, value.unwrap_secret().0) {
                (Value::Int(_), Value::Str(s)) => Value::Str(s.clone()),
                _ => key,
            };
            let mut k = keys.clone();
            k.push(address_key);
            out.extend(self.expand(decl, depth + 1, k, b)?);
        }
        Ok(out)
    }

    /// `(key, value)` pairs of a `for` collection; a collection known only
    /// after apply cannot stamp resources.
    pub(super) fn loop_items(&mut self, coll: &Value, span: Span) -> Result<Vec<(Value, Value)>, Diagnostic> {
        if let Some(items) = super::expr::entries(coll.unwrap_secret().0) {
            return Ok(items);
        }
        match coll.unwrap_secret().0 {
            Value::Unknown(u) => Err(Diagnostic::error(
                Code::TypeMismatch,
                "`for` needs a collection known before apply",
            )
            .label(span, format!("depends on `{}`, known only after apply", u.origin))
            .help("stamp resources from params or lets, not from resource outputs")),
            other => Err(Diagnostic::error(
                Code::TypeMismatch,
                format!("cannot iterate over a {}", other.kind()),
            )
            .label(span, "not a list or a map")
            .help("`for` iterates over a list or a map")),
        }
    }

    /// The evaluated instance at `address` of resource `name` (memoised).
    pub(super) fn instance(&mut self, name: &str, address: &str) -> Option<Arc<ResourceInstance>> {
        match self.instances.get(address) {
            Some(InstanceSlot::Done(i)) => return Some(i.clone()),
            Some(InstanceSlot::Failed) => return None,
            Some(InstanceSlot::InProgress) => {
                let span = self
                    .p
                    .module(self.p.root())
                    .resources
                    .get(name)
                    .map(|r| r.node.name.span)
                    .unwrap_or_default();
                let mut on_cycle: Vec<&str> = self
                    .instances
                    .iter()
                    .filter(|(_, s)| matches!(s, InstanceSlot::InProgress))
                    .map(|(a, _)| a.as_str())
                    .collect();
                on_cycle.sort_unstable();
                self.diags.push(
                    Diagnostic::error(
                        Code::DependencyCycle,
                        format!("resources read each other's inputs in a cycle: {}", on_cycle.join(", ")),
                    )
                    .label(span, format!("`{address}` needs its own value"))
                    .help("a resource may read the inputs of the resources it depends on, but not in a circle; pass the shared value through a `let` or a param"),
                );
                return None;
            }
            None => {}
        }
        let plan = self
            .plans(name)
            .ok()?
            .iter()
            .find(|p| p.address == address)
            .cloned()?;
        self.instances
            .insert(address.to_string(), InstanceSlot::InProgress);
        let result = self.evaluate_instance(&plan);
        match result {
            Ok(i) => {
                let i = Arc::new(i);
                self.instances
                    .insert(address.to_string(), InstanceSlot::Done(i.clone()));
                Some(i)
            }
            Err(d) => {
                self.diags.push(d);
                self.instances.insert(address.to_string(), InstanceSlot::Failed);
                None
            }
        }
    }

    fn evaluate_instance(&mut self, plan: &InstancePlan) -> Result<ResourceInstance, Diagnostic> {
        let p = self.p;
        let root = p.root();
        let decl = p.module(root).resources.get(&plan.name).ok_or_else(|| {
            Diagnostic::error(Code::UnknownName, format!("unknown resource `{}`", plan.name))
                .help("check the spelling")
        })?;
        let schema_id = decl.schema.ok_or_else(|| {
            Diagnostic::error(
                Code::UnknownType,
                format!("resource `{}` has no schema", plan.name),
            )
            .label(decl.node.schema.span, "unknown schema")
            .help("fix the schema name")
        })?;
        let (result, deps) = self.isolated(plan.bindings.clone(), |ev| -> Result<_, Diagnostic> {
            let mut fields: IndexMap<String, (Value, Span)> = IndexMap::new();
            let mut explicit: BTreeSet<String> = BTreeSet::new();
            for entry in &decl.node.body {
                if entry.name.name == "depends_on" {
                    let v = ev.eval(root, &entry.value)?;
                    collect_addresses(&v, &mut explicit);
                    continue;
                }
                let v = ev.eval(root, &entry.value)?;
                fields.insert(entry.name.name.clone(), (v, entry.value.span));
            }
            // Overlays of the environment chain, base first; loop variables are not in scope.
            let saved = std::mem::take(&mut ev.locals);
            let overlays = ev.overlays.get(plan.name.as_str()).cloned().unwrap_or_default();
            for o in overlays {
                if let Some(k) = &o.key {
                    let key = ev.eval(root, k)?;
                    if plan.key.as_ref() != Some(&key) {
                        continue;
                    }
                }
                ev.apply_overlay(&mut fields, &o.fields)?;
            }
            ev.locals = saved;
            let inputs = ev.coerce_schema_fields(schema_id, fields, decl.node.name.span, &plan.address)?;
            Ok((inputs, explicit))
        });
        let (inputs, explicit) = result?;
        let mut depends_on = deps;
        depends_on.extend(explicit);
        // References held in the inputs (`cluster = main`, a map of instances).
        for v in inputs.values() {
            collect_addresses(v, &mut depends_on);
        }
        // A resource reading its own output stays a dependency of itself: the
        // graph reports it as a cycle.
        let schema = p.schema(schema_id);
        Ok(ResourceInstance {
            address: plan.address.clone(),
            name: plan.name.clone(),
            schema: schema_id,
            schema_name: schema.name.clone(),
            kind: p.schema_name(p.kind_of(schema_id)),
            inputs,
            depends_on,
            span: decl.node.name.span,
        })
    }

    fn apply_overlay(
        &mut self,
        fields: &mut IndexMap<String, (Value, Span)>,
        overlay: &[OverlayField],
    ) -> Result<(), Diagnostic> {
        let root = self.p.root();
        for f in overlay {
            match &f.value {
                OverlayValue::Set(e) => {
                    let v = self.eval(root, e)?;
                    fields.insert(f.name.name.clone(), (v, e.span));
                }
                OverlayValue::Merge(inner) => {
                    let base = fields
                        .get(&f.name.name)
                        .map(|(v, _)| v.clone())
                        .unwrap_or(Value::Null);
                    let merged = self.merge_value(base, inner)?;
                    fields.insert(f.name.name.clone(), (merged, f.span));
                }
            }
        }
        Ok(())
    }

    fn merge_value(&mut self, base: Value, overlay: &[OverlayField]) -> Result<Value, Diagnostic> {
        let root = self.p.root();
        let mut record = match base {
            Value::Record(m) => (*m).clone(),
            _ => IndexMap::new(),
        };
        for f in overlay {
            let v = match &f.value {
                OverlayValue::Set(e) => self.eval(root, e)?,
                OverlayValue::Merge(inner) => {
                    let b = record.get(&f.name.name).cloned().unwrap_or(Value::Null);
                    self.merge_value(b, inner)?
                }
            };
            record.insert(f.name.name.clone(), v);
        }
        Ok(Value::record(record))
    }

    /// An overlay `name["key"]` must select an instance that exists.
    fn check_overlay_keys(&mut self) {
        let root = self.p.root();
        let chain = self.chain.clone();
        for env in chain {
            for o in &env.overlays {
                let Some(k) = &o.key else { continue };
                let Ok(plans) = self.plans(&o.target.name) else {
                    continue;
                };
                let (key, _) = self.isolated(Vec::new(), |ev| ev.eval(root, k));
                let Ok(key) = key else { continue };
                if !plans.iter().any(|p| p.key.as_ref() == Some(&key)) {
                    let keys: Vec<String> = plans
                        .iter()
                        .filter_map(|p| p.key.as_ref().map(|k| k.to_string()))
                        .take(10)
                        .collect();
                    self.diags.push(
                        Diagnostic::error(
                            Code::UnknownOverlayTarget,
                            format!(
                                "environment `{}` overlays `{}[{key}]`, which is not an instance",
                                env.name.name, o.target.name
                            ),
                        )
                        .label(k.span, "no instance has this key")
                        .help(format!(
                            "the instances of `{}` have the keys: {}",
                            o.target.name,
                            keys.join(", ")
                        )),
                    );
                }
            }
        }
    }

    /// The value of a resource name: a reference, or a map/list of references
    /// when stamped by `for`.
    pub(super) fn resource_ref(&mut self, name: &str, span: Span) -> Result<Value, Diagnostic> {
        let root = self.p.root();
        let Some(decl) = self.p.module(root).resources.get(name) else {
            return Err(
                Diagnostic::error(Code::UnknownName, format!("unknown resource `{name}`"))
                    .label(span, "")
                    .help("check the spelling"),
            );
        };
        if decl.loops.is_empty() {
            self.depend(name);
            return Ok(Value::Resource(name.into()));
        }
        let plans = self.plans(name).map_err(|()| {
            Diagnostic::error(
                Code::TypeMismatch,
                format!("the instances of `{name}` could not be stamped"),
            )
            .label(span, "see the error at its `for`")
            .help("fix the error of the `for` collection")
        })?;
        // Build nested collections from the plans' addresses (keys in order).
        let mut top: Vec<(Vec<Value>, Value)> = Vec::new();
        // No dependency yet: reading an instance's field records one for that
        // instance only; instances that end up in a value are found in the result.
        for p in plans.iter() {
            top.push((p.keys.clone(), Value::Resource(p.address.as_str().into())));
        }
        Ok(nest(top))
    }

    /// `instance.field`: the input value, or an unknown for an output.
    pub(super) fn resource_field(
        &mut self,
        address: &str,
        field: &str,
        span: Span,
    ) -> Result<Value, Diagnostic> {
        self.depend(address);
        let name = address.split('[').next().unwrap_or(address).to_string();
        let root = self.p.root();
        let schema = self.p.module(root).resources.get(&name).and_then(|r| r.schema);
        let Some(schema) = schema else {
            return Err(
                Diagnostic::error(Code::UnknownName, format!("unknown resource `{name}`"))
                    .label(span, "")
                    .help("check the spelling"),
            );
        };
        let def = self.p.schema(schema);
        match def.fields.get(field) {
            Some(f) if f.output => match self.known.outputs.get(address).and_then(|o| o.get(field)) {
                Some(v) => Ok(v.clone()),
                None => Ok(Value::Unknown(std::sync::Arc::new(Unknown {
                    origin: format!("{address}.{field}"),
                    deps: std::iter::once(address.to_string()).collect(),
                }))),
            },
            Some(_) => {
                let saved = std::mem::take(&mut self.locals);
                let inst = self.instance(&name, address);
                self.locals = saved;
                match inst {
                    Some(i) => Ok(i.inputs.get(field).cloned().unwrap_or(Value::Null)),
                    // That resource's own error is reported; this one would only repeat it.
                    None => Err(super::already_reported(span)),
                }
            }
            None => Err(Diagnostic::error(
                Code::UnknownField,
                format!("`{}` has no field `{field}`", def.name),
            )
            .label(span, "unknown field")
            .help("see the schema's fields")),
        }
    }
}

/// Builds nested maps (string keys) or lists (int keys) from (keys, value) pairs.
fn nest(entries: Vec<(Vec<Value>, Value)>) -> Value {
    if entries.iter().all(|(k, _)| k.is_empty()) {
        return entries.into_iter().next().map(|(_, v)| v).unwrap_or(Value::Null);
    }
    type Keyed = Vec<(Vec<Value>, Value)>;
    let mut groups: IndexMap<String, (Value, Keyed)> = IndexMap::new();
    for (mut keys, v) in entries {
        if keys.is_empty() {
            continue;
        }
        let first = keys.remove(0);
        let label = first.to_string();
        groups
            .entry(label)
            .or_insert_with(|| (first, Vec::new()))
            .1
            .push((keys, v));
    }
    let int_keys = groups.values().all(|(k, _)| matches!(k, Value::Int(_)));
    if int_keys {
        Value::list(groups.into_values().map(|(_, inner)| nest(inner)).collect())
    } else {
        Value::record(
            groups
                .into_values()
                .map(|(k, inner)| {
                    let key = match k {
                        Value::Str(s) => s.to_string(),
                        other => other.to_string(),
                    };
                    (key, nest(inner))
                })
                .collect(),
        )
    }
}

fn collect_addresses(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Resource(a) => {
            out.insert(a.to_string());
        }
        Value::List(xs) => xs.iter().for_each(|x| collect_addresses(x, out)),
        Value::Record(m) => m.values().for_each(|x| collect_addresses(x, out)),
        _ => {}
    }
}
