//! Resource instances: `for` expansion into addresses, evaluation of a body,
//! the overlays of the environment chain, and references to resources.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::IndexMap;

use super::{Evaluator, InstancePlan, InstanceSlot, PlanRef, ResourceInstance};
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

/// The deepest nesting of component instances.
const MAX_COMPONENT_NESTING: usize = 64;

impl<'p> Evaluator<'p> {
    /// Every instance of every resource, in declaration order; the resources
    /// of a component instance where the instance is declared.
    pub(super) fn all_instances(&mut self) -> Vec<ResourceInstance> {
        let mut order = Vec::new();
        self.collect_instances(0, &mut order);
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

    /// The addresses of the instances of frame `frame`'s resources, in order.
    fn collect_instances(&mut self, frame: usize, order: &mut Vec<String>) {
        let module = self.p.module(self.frames[frame].module);
        for (name, decl) in &module.resources {
            let Ok(plans) = self.plans(frame, name) else {
                continue;
            };
            let is_component = decl.schema.is_some_and(|s| self.p.schema(s).component.is_some());
            for plan in plans.iter() {
                if is_component {
                    if let Some(inner) = self.component_frame(plan) {
                        self.collect_instances(inner, order);
                    }
                } else if self.instance(plan).is_some() {
                    order.push(plan.address.clone());
                }
            }
        }
    }

    /// The IDs of the root's `import` blocks, evaluated.
    pub(super) fn import_ids(&mut self) -> Vec<(String, String)> {
        let root = self.p.root();
        let mut out = Vec::new();
        for decl in &self.p.module(root).import_blocks {
            let (v, _) = self.in_frame(0, Vec::new(), |ev| ev.eval(root, &decl.id));
            match v {
                Ok(Value::Str(s)) => out.push((decl.to.clone(), s.to_string())),
                Ok(_) => self.diags.push(
                    Diagnostic::error(Code::TypeMismatch, format!("the ID to import as `{}` is not known before apply", decl.to))
                        .label(decl.id.span, "not a plain string")
                        .help("an import's `id` is written out or built from params and `let`s, not from outputs or secrets"),
                ),
                Err(d) => self.diags.push(d),
            }
        }
        out
    }

    /// The root's outputs, in declaration order.
    pub(super) fn root_outputs(&mut self) -> IndexMap<String, Value> {
        let root = self.p.root();
        let mut out = IndexMap::default();
        for (name, decl) in &self.p.module(root).outputs {
            self.building.push(super::Building::Output(name.to_string()));
            let (v, _) = self.in_frame(0, Vec::new(), |ev| ev.eval(root, &decl.node.value));
            self.building.pop();
            let v = v.and_then(|v| {
                self.coerce(
                    v,
                    &decl.ty,
                    decl.node.value.span,
                    &super::coerce::Ctx::Text(&format!("output `{name}`")),
                )
            });
            match v {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err(d) => self.diags.push(d),
            }
        }
        out
    }

    /// The resource declaration `name` of frame `frame`'s module.
    pub(super) fn decl(&self, frame: usize, name: &str) -> Option<&'p ResourceDecl> {
        let p: &'p crate::program::Program = self.p;
        p.module(self.frames.get(frame)?.module).resources.get(name)
    }

    /// The instances a declaration stamps out (memoised).
    pub(super) fn plans(&mut self, frame: usize, name: &str) -> Result<Arc<Vec<InstancePlan>>, ()> {
        if let Some(p) = self.plans.get(&frame).and_then(|by_name| by_name.get(name)) {
            return p.clone();
        }
        let Some(decl) = self.decl(frame, name) else {
            return Err(());
        };
        let prefix = self.frames[frame].prefix();
        let key = (frame, name.to_string());
        if self.expanding.contains(&key) {
            self.diags.push(stamping_itself(decl));
            return Err(());
        }
        self.expanding.push(key);
        // Expanding evaluates loop collections, which may reference other resources;
        // those are not dependencies of any instance being evaluated right now.
        let (result, _) = self.in_frame(frame, Vec::new(), |ev| ev.expand(decl, 0, Vec::new(), Vec::new()));
        self.expanding.pop();
        let result = result
            .map(|mut plans| {
                for p in &mut plans {
                    p.address.insert_str(0, &prefix);
                    p.frame = frame;
                }
                Arc::new(plans)
            })
            .map_err(|d| self.diags.push(d));
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
            for p in plans.iter() {
                self.addresses
                    .insert(p.address.clone(), (frame, name.to_string()));
            }
        }
        self.plans
            .entry(frame)
            .or_default()
            .insert(name.to_string(), result.clone());
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
                frame: self.frame,
                key: keys.last().cloned(),
                keys,
                bindings,
            }]);
        };
        self.locals = bindings.clone();
        let module = self.frames[self.frame].module;
        let coll = self.eval(module, &l.iter)?;
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

    /// The evaluated instance of a plan (memoised).
    pub(super) fn instance(&mut self, plan: &InstancePlan) -> Option<Arc<ResourceInstance>> {
        let address = plan.address.as_str();
        match self.instances.get(address) {
            Some(InstanceSlot::Done(i)) => return Some(i.clone()),
            Some(InstanceSlot::Failed) => return None,
            Some(InstanceSlot::InProgress) => {
                let span = self
                    .decl(plan.frame, &plan.name)
                    .map(|r| r.node.name.span)
                    .unwrap_or_default();
                self.report_cycle(address, span);
                return None;
            }
            None => {}
        }
        self.instances
            .insert(address.to_string(), InstanceSlot::InProgress);
        self.building.push(super::Building::Resource(address.to_string()));
        let result = self.evaluate_instance(plan);
        self.building.pop();
        match result {
            Ok(i) => {
                let i = Arc::new(i);
                self.finish_instance(address, InstanceSlot::Done(i.clone()));
                Some(i)
            }
            Err(d) => {
                self.diags.push(d);
                self.finish_instance(address, InstanceSlot::Failed);
                None
            }
        }
    }

    /// Replaces the in-progress slot of `address` (no second key allocated).
    fn finish_instance(&mut self, address: &str, slot: InstanceSlot) {
        match self.instances.get_mut(address) {
            Some(s) => *s = slot,
            None => {
                self.instances.insert(address.to_string(), slot);
            }
        }
    }

    fn report_cycle(&mut self, address: &str, span: Span) {
        let mut on_cycle: Vec<&str> = self
            .instances
            .iter()
            .filter(|(_, s)| matches!(s, InstanceSlot::InProgress))
            .map(|(a, _)| a.as_str())
            .chain(
                self.frame_of
                    .iter()
                    .filter(|(_, s)| matches!(s, super::FrameSlot::InProgress))
                    .map(|(a, _)| a.as_str()),
            )
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
    }

    /// The overlays of the environment chain for the instance at `path`
    /// (names and keys from the root), base first. A key left out matches every instance.
    fn overlays_at(
        &mut self,
        path: &[(String, Option<Value>)],
    ) -> Result<Vec<&'p crate::syntax::ast::Overlay>, Diagnostic> {
        let Some((first, _)) = path.first() else {
            return Ok(Vec::new());
        };
        let candidates = self.overlays.get(first.as_str()).cloned().unwrap_or_default();
        let root = self.p.root();
        let mut out = Vec::new();
        'overlays: for o in candidates {
            if o.inner.len() + 1 != path.len() {
                continue;
            }
            let segments =
                std::iter::once((&o.target, &o.key)).chain(o.inner.iter().map(|s| (&s.name, &s.key)));
            for ((name, key), (want, have)) in segments.zip(path) {
                if name.name != *want {
                    continue 'overlays;
                }
                if let Some(k) = key {
                    // Loop variables are not in scope in overlays.
                    let (v, _) = self.in_frame(0, Vec::new(), |ev| ev.eval(root, k));
                    if have.as_ref() != Some(&v?) {
                        continue 'overlays;
                    }
                }
            }
            out.push(o);
        }
        Ok(out)
    }

    fn evaluate_instance(&mut self, plan: &InstancePlan) -> Result<ResourceInstance, Diagnostic> {
        let p = self.p;
        let decl = self.decl(plan.frame, &plan.name).ok_or_else(|| {
            Diagnostic::error(Code::UnknownName, format!("unknown resource `{}`", plan.name))
                .help("check the spelling")
        })?;
        let module = self.frames[plan.frame].module;
        let schema_id = decl.schema.ok_or_else(|| {
            Diagnostic::error(
                Code::UnknownType,
                format!("resource `{}` has no schema", plan.name),
            )
            .label(decl.node.schema.span, "unknown schema")
            .help("fix the schema name")
        })?;
        let mut path = self.frames[plan.frame].path.clone();
        path.push((plan.name.clone(), plan.key.clone()));
        let (result, deps) =
            self.in_frame(plan.frame, plan.bindings.clone(), |ev| -> Result<_, Diagnostic> {
                let mut fields: IndexMap<String, (Value, Span)> = IndexMap::default();
                let mut explicit: BTreeSet<String> = BTreeSet::new();
                for entry in &decl.node.body {
                    if entry.name.name == "depends_on" {
                        let v = ev.eval(module, &entry.value)?;
                        collect_addresses(&v, &mut explicit);
                        continue;
                    }
                    let v = ev.eval(module, &entry.value)?;
                    fields.insert(entry.name.name.clone(), (v, entry.value.span));
                }
                // Overlays of the environment chain, base first; loop variables are not in scope.
                let saved = std::mem::take(&mut ev.locals);
                for o in ev.overlays_at(&path)? {
                    ev.apply_overlay(&mut fields, &o.fields)?;
                }
                ev.locals = saved;
                let inputs =
                    ev.coerce_schema_fields(schema_id, fields, decl.node.name.span, &plan.address)?;
                Ok((inputs, explicit))
            });
        let (inputs, explicit) = result?;
        let mut depends_on = deps;
        depends_on.extend(explicit);
        depends_on.extend(self.frames[plan.frame].depends.iter().cloned());
        // References held in the inputs (`cluster = main`, a map of instances).
        for v in inputs.values() {
            collect_addresses(v, &mut depends_on);
        }
        let depends_on = self.expand_components(depends_on, decl.node.name.span)?;
        // A resource reading its own output stays a dependency of itself: the
        // graph reports it as a cycle.
        let schema = p.schema(schema_id);
        Ok(ResourceInstance {
            address: plan.address.clone(),
            name: self.frames[plan.frame].prefix() + &plan.name,
            schema: schema_id,
            schema_name: schema.name.clone(),
            kind: p.schema_name(p.kind_of(schema_id)),
            inputs,
            depends_on,
            span: decl.node.name.span,
            lifecycle: super::Lifecycle::of(&decl.annotations, &self.frames[plan.frame].lifecycle),
        })
    }

    /// Dependencies on component instances become dependencies on every
    /// resource inside them.
    fn expand_components(
        &mut self,
        deps: BTreeSet<String>,
        span: Span,
    ) -> Result<BTreeSet<String>, Diagnostic> {
        if !deps.iter().any(|d| self.is_component_instance(d)) {
            return Ok(deps);
        }
        let mut out = BTreeSet::new();
        for d in deps {
            if self.is_component_instance(&d) {
                out.extend(self.resources_inside(&d, span)?);
            } else {
                out.insert(d);
            }
        }
        Ok(out)
    }

    fn is_component_instance(&self, address: &str) -> bool {
        self.addresses
            .get(address)
            .and_then(|(frame, name)| self.decl(*frame, name))
            .and_then(|d| d.schema)
            .is_some_and(|s| self.p.schema(s).component.is_some())
    }

    /// The addresses of the resources inside the component instance at `address`.
    fn resources_inside(&mut self, address: &str, span: Span) -> Result<Vec<String>, Diagnostic> {
        let Some(plan) = self.plan_at(address) else {
            return Ok(Vec::new());
        };
        let Some(frame) = self.component_frame(&plan) else {
            return Err(super::already_reported(span));
        };
        let module = self.p.module(self.frames[frame].module);
        let mut out = Vec::new();
        for name in module.resources.keys() {
            let Ok(plans) = self.plans(frame, name) else {
                continue;
            };
            for p in plans.iter() {
                if self.is_component_instance(&p.address) {
                    out.extend(self.resources_inside(&p.address, span)?);
                } else {
                    out.push(p.address.clone());
                }
            }
        }
        Ok(out)
    }

    /// The plan of the instance at `address`, planned before.
    fn plan_at(&mut self, address: &str) -> Option<PlanRef> {
        let (frame, name) = self.addresses.get(address)?;
        let (frame, name) = (*frame, name.clone());
        let plans = self.plans(frame, &name).ok()?;
        let index = plans.iter().position(|p| p.address == address)?;
        Some(PlanRef { plans, index })
    }

    /// The frame of a component instance: its inputs evaluated (memoised).
    pub(super) fn component_frame(&mut self, plan: &InstancePlan) -> Option<usize> {
        match self.frame_of.get(&plan.address) {
            Some(super::FrameSlot::Done(f)) => return Some(*f),
            Some(super::FrameSlot::Failed) => return None,
            Some(super::FrameSlot::InProgress) => {
                let span = self
                    .decl(plan.frame, &plan.name)
                    .map(|r| r.node.name.span)
                    .unwrap_or_default();
                self.report_cycle(&plan.address, span);
                return None;
            }
            None => {}
        }
        self.frame_of
            .insert(plan.address.clone(), super::FrameSlot::InProgress);
        match self.evaluate_frame(plan) {
            Ok(frame) => {
                let id = self.frames.len();
                self.frames.push(frame);
                self.frame_of
                    .insert(plan.address.clone(), super::FrameSlot::Done(id));
                Some(id)
            }
            Err(d) => {
                self.diags.push(d);
                self.frame_of
                    .insert(plan.address.clone(), super::FrameSlot::Failed);
                None
            }
        }
    }

    fn evaluate_frame(&mut self, plan: &InstancePlan) -> Result<super::Frame, Diagnostic> {
        let decl = self
            .decl(plan.frame, &plan.name)
            .ok_or_else(|| super::already_reported(Span::default()))?;
        let body = decl
            .schema
            .and_then(|s| self.p.schema(s).component)
            .ok_or_else(|| super::already_reported(decl.node.name.span))?;
        let module = self.frames[plan.frame].module;
        // The checker refuses a component that contains itself; this bound
        // keeps an evaluation of an unchecked program (see `Inputs::cancelled`)
        // from recursing without end.
        if self.frames[plan.frame].path.len() >= MAX_COMPONENT_NESTING {
            return Err(
                Diagnostic::error(Code::LimitExceeded, "components nest too deeply")
                    .label(
                        decl.node.name.span,
                        format!("more than {MAX_COMPONENT_NESTING} components inside one another"),
                    )
                    .help("a component may not contain itself, directly or through others"),
            );
        }
        let mut path = self.frames[plan.frame].path.clone();
        path.push((plan.name.clone(), plan.key.clone()));
        let mut inputs: IndexMap<String, (Value, Span, BTreeSet<String>)> = IndexMap::default();
        let mut explicit = BTreeSet::new();
        let (result, _) = self.in_frame(
            plan.frame,
            plan.bindings.clone(),
            |ev| -> Result<(), Diagnostic> {
                for entry in &decl.node.body {
                    let (v, deps) = ev.isolated(ev.locals.clone(), |ev| ev.eval(module, &entry.value));
                    let v = v?;
                    if entry.name.name == "depends_on" {
                        collect_addresses(&v, &mut explicit);
                        explicit.extend(deps);
                        continue;
                    }
                    inputs.insert(entry.name.name.clone(), (v, entry.value.span, deps));
                }
                // Overlays of the environment chain, base first; loop variables are not in scope.
                let saved = std::mem::take(&mut ev.locals);
                for o in ev.overlays_at(&path)? {
                    let mut fields: IndexMap<String, (Value, Span)> = inputs
                        .iter()
                        .map(|(k, (v, s, _))| (k.clone(), (v.clone(), *s)))
                        .collect();
                    let ((), deps) = {
                        let (r, deps) =
                            ev.isolated(Vec::new(), |ev| ev.apply_overlay(&mut fields, &o.fields));
                        r?;
                        ((), deps)
                    };
                    for (k, (v, s)) in fields {
                        let changed = inputs.get(&k).is_none_or(|(old, os, _)| *os != s || *old != v);
                        if changed {
                            inputs.insert(k, (v, s, deps.clone()));
                        }
                    }
                }
                ev.locals = saved;
                Ok(())
            },
        );
        result?;
        let mut depends = self.frames[plan.frame].depends.clone();
        depends.extend(explicit);
        let lifecycle = super::Lifecycle::of(&decl.annotations, &self.frames[plan.frame].lifecycle);
        Ok(super::Frame {
            module: body,
            address: plan.address.clone(),
            path,
            inputs,
            depends,
            lifecycle,
            span: decl.node.name.span,
        })
    }

    /// A param of a component instance: what the instance sets, else its default.
    pub(super) fn component_param(
        &mut self,
        frame: usize,
        name: &str,
    ) -> Result<(Value, BTreeSet<String>), Diagnostic> {
        let memo = (frame, name.to_string());
        match self.params.get(&memo) {
            Some(super::Slot::Done(v, d)) => return Ok((v.clone(), d.clone())),
            Some(super::Slot::InProgress) => {
                return Err(
                    Diagnostic::error(Code::LetCycle, format!("param `{name}` depends on itself"))
                        .help("break the cycle between the defaults of these params"),
                )
            }
            None => {}
        }
        let module = self.frames[frame].module;
        let Some(decl) = self.p.module(module).params.get(name) else {
            return Err(
                Diagnostic::error(Code::UnknownName, format!("unknown param `{name}`"))
                    .help("declare it with `param`"),
            );
        };
        self.params.insert(memo.clone(), super::Slot::InProgress);
        let address = self.frames[frame].address.clone();
        let ctx = format!("param `{name}` of `{address}`");
        let given = self.frames[frame].inputs.get(name).cloned();
        let result = match (given, &decl.node.default) {
            (Some((v, span, deps)), _) => self
                .coerce(v, &decl.ty, span, &super::coerce::Ctx::Text(&ctx))
                .map(|v| (v, deps)),
            (None, Some(d)) => {
                let (v, deps) = self.in_frame(frame, Vec::new(), |ev| ev.eval(module, d));
                v.and_then(|v| self.coerce(v, &decl.ty, d.span, &super::coerce::Ctx::Text(&ctx)))
                    .map(|v| (v, deps))
            }
            (None, None) if decl.ty.is_optional() => Ok((Value::Null, BTreeSet::new())),
            (None, None) => Err(Diagnostic::error(
                Code::MissingParam,
                format!("`{address}` does not set `{name}`"),
            )
            .label(self.frames[frame].span, format!("`{name}` has no value"))
            .help(format!("set `{name} = …` in the instance"))),
        };
        super::remember(&mut self.params, memo, &result);
        result
    }

    /// An output of the component instance at `address` (memoised per instance).
    fn component_output(
        &mut self,
        address: &str,
        name: &str,
        span: Span,
    ) -> Result<(Value, BTreeSet<String>), Diagnostic> {
        let plan = self
            .plan_at(address)
            .ok_or_else(|| super::already_reported(span))?;
        let frame = self
            .component_frame(&plan)
            .ok_or_else(|| super::already_reported(span))?;
        let memo = (frame, name.to_string());
        match self.outputs.get(&memo) {
            Some(super::Slot::Done(v, d)) => return Ok((v.clone(), d.clone())),
            Some(super::Slot::InProgress) => {
                return Err(Diagnostic::error(
                    Code::LetCycle,
                    format!("output `{name}` of `{address}` depends on itself"),
                )
                .label(span, "read here")
                .help("an output cannot use its own value, directly or through the instance's inputs"))
            }
            None => {}
        }
        let module = self.frames[frame].module;
        let Some(decl) = self.p.module(module).outputs.get(name) else {
            return Err(super::already_reported(span));
        };
        self.outputs.insert(memo.clone(), super::Slot::InProgress);
        let (v, deps) = self.in_frame(frame, Vec::new(), |ev| ev.eval(module, &decl.node.value));
        let ctx = format!("output `{name}` of `{address}`");
        let result = v
            .and_then(|v| self.coerce(v, &decl.ty, decl.node.value.span, &super::coerce::Ctx::Text(&ctx)))
            .map(|v| (v, deps));
        super::remember(&mut self.outputs, memo, &result);
        result
    }

    fn apply_overlay(
        &mut self,
        fields: &mut IndexMap<String, (Value, Span)>,
        overlay: &[OverlayField],
    ) -> Result<(), Diagnostic> {
        let root = self.p.root();
        let saved = std::mem::replace(&mut self.frame, 0);
        let r = self.apply_overlay_in(root, fields, overlay);
        self.frame = saved;
        r
    }

    fn apply_overlay_in(
        &mut self,
        root: crate::program::ModuleId,
        fields: &mut IndexMap<String, (Value, Span)>,
        overlay: &[OverlayField],
    ) -> Result<(), Diagnostic> {
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
            _ => IndexMap::default(),
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

    /// An overlay `name["key"]` (or `team["a"].db`) must select instances that exist.
    fn check_overlay_keys(&mut self) {
        let overlaying = self
            .chosen
            .as_ref()
            .map(|c| c.overlaying.clone())
            .unwrap_or_default();
        for env in overlaying {
            for o in &env.overlays {
                let segments: Vec<(&crate::syntax::ast::Ident, &Option<crate::syntax::ast::Expr>)> =
                    std::iter::once((&o.target, &o.key))
                        .chain(o.inner.iter().map(|s| (&s.name, &s.key)))
                        .collect();
                if segments.iter().all(|(_, k)| k.is_none()) {
                    continue;
                }
                self.check_overlay_path(&env.name.name, 0, &segments, String::new());
            }
        }
    }

    fn check_overlay_path(
        &mut self,
        env: &str,
        frame: usize,
        segments: &[(&crate::syntax::ast::Ident, &Option<crate::syntax::ast::Expr>)],
        shown: String,
    ) {
        let Some(((name, key), rest)) = segments.split_first() else {
            return;
        };
        let root = self.p.root();
        let Ok(plans) = self.plans(frame, &name.name) else {
            return;
        };
        let shown = if shown.is_empty() {
            name.name.clone()
        } else {
            format!("{shown}.{}", name.name)
        };
        let selected: Vec<InstancePlan> = match key {
            Some(k) => {
                let (key, _) = self.in_frame(0, Vec::new(), |ev| ev.eval(root, k));
                let Ok(key) = key else { return };
                let hit: Vec<InstancePlan> = plans
                    .iter()
                    .filter(|p| p.key.as_ref() == Some(&key))
                    .cloned()
                    .collect();
                if hit.is_empty() {
                    let keys: Vec<String> = plans
                        .iter()
                        .filter_map(|p| p.key.as_ref().map(|k| k.to_string()))
                        .take(10)
                        .collect();
                    self.diags.push(
                        Diagnostic::error(
                            Code::UnknownOverlayTarget,
                            format!(
                                "environment `{env}` overlays `{shown}[{key}]`, which is not an instance"
                            ),
                        )
                        .label(k.span, "no instance has this key")
                        .help(format!(
                            "the instances of `{shown}` have the keys: {}",
                            keys.join(", ")
                        )),
                    );
                    return;
                }
                hit
            }
            None => plans.iter().cloned().collect(),
        };
        if rest.is_empty() {
            return;
        }
        for plan in selected {
            if let Some(inner) = self.component_frame(&plan) {
                let at = self.frames[inner].address.clone();
                let _ = shown;
                self.check_overlay_path(env, inner, rest, at);
            }
        }
    }

    /// The value of a resource name: a reference, or a map/list of references
    /// when stamped by `for`.
    pub(super) fn resource_ref(
        &mut self,
        m: crate::program::ModuleId,
        name: &str,
        span: Span,
    ) -> Result<Value, Diagnostic> {
        let frame = self.frame_for(m);
        let plans = self.plans(frame, name).map_err(|()| {
            Diagnostic::error(
                Code::TypeMismatch,
                format!("the instances of `{name}` could not be stamped"),
            )
            .label(span, "see the error at its `for`")
            .help("fix the error of the `for` collection")
        })?;
        let Some(decl) = self.decl(frame, name) else {
            return Err(
                Diagnostic::error(Code::UnknownName, format!("unknown resource `{name}`"))
                    .label(span, "")
                    .help("check the spelling"),
            );
        };
        if decl.loops.is_empty() {
            // One instance, planned with its address.
            let address = match plans.first() {
                Some(p) => p.address.clone(),
                None => format!("{}{name}", self.frames[frame].prefix()),
            };
            // An instance of a component is a dependency where it is held (an
            // input, `depends_on`); reading its fields depends on what they read.
            let is_component = decl.schema.is_some_and(|s| self.p.schema(s).component.is_some());
            if !is_component {
                self.depend(&address);
            }
            return Ok(Value::Resource(address.as_str().into()));
        }
        // Build nested collections from the plans' addresses (keys in order).
        let mut top: Vec<(Vec<Value>, Value)> = Vec::new();
        // No dependency yet: reading an instance's field records one for that
        // instance only; instances that end up in a value are found in the result.
        for p in plans.iter() {
            top.push((p.keys.clone(), Value::Resource(p.address.as_str().into())));
        }
        Ok(nest(top))
    }

    /// `instance.field`: the input value, or an unknown for an output; of a
    /// component instance, its param or its output.
    pub(super) fn resource_field(
        &mut self,
        address: &str,
        field: &str,
        span: Span,
    ) -> Result<Value, Diagnostic> {
        let unknown = || {
            Diagnostic::error(Code::UnknownName, format!("unknown resource `{address}`"))
                .label(span, "")
                .help("check the spelling")
        };
        let Some(plan) = self.plan_at(address) else {
            return Err(unknown());
        };
        let Some(schema) = self.decl(plan.frame, &plan.name).and_then(|r| r.schema) else {
            return Err(unknown());
        };
        let def = self.p.schema(schema);
        if def.component.is_some() {
            let saved = std::mem::take(&mut self.locals);
            let result = match def.fields.get(field) {
                Some(f) if f.output => self.component_output(address, field, span),
                Some(_) => match self.component_frame(&plan) {
                    Some(frame) => self.param(frame, field),
                    None => Err(super::already_reported(span)),
                },
                None => Err(Diagnostic::error(
                    Code::UnknownField,
                    format!("`{}` has no field `{field}`", def.name),
                )
                .label(span, "unknown field")
                .help("see the component's params and outputs")),
            };
            self.locals = saved;
            let (v, deps) = result?;
            self.depend_all(&deps);
            return Ok(v);
        }
        self.depend(address);
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
                let inst = self.instance(&plan);
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
    let mut groups: IndexMap<String, (Value, Keyed)> = IndexMap::default();
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

/// A `for` whose list reads the instances it stamps (`for i in r { resource r … }`):
/// what the checker and the evaluator say of the declaration.
pub(crate) fn stamping_itself(decl: &ResourceDecl) -> Diagnostic {
    let name = &decl.node.name.name;
    let list = decl.loops.first().map_or(decl.node.name.span, |l| l.iter.span);
    Diagnostic::error(
        Code::DependencyCycle,
        format!("`{name}` is stamped by a `for` whose list reads `{name}` itself"),
    )
    .label(list, "this list reads the instances it stamps")
    .label(decl.node.name.span, "stamped here")
    .help("a `for` cannot iterate over the instances it makes: iterate over a list or map that does not come from them")
}
