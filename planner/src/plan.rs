//! The plan: for each resource one action, with the fields that change. Made by
//! [`diff`] from the desired instances of an environment and its recorded
//! [`State`]; rendered for people ([`to_text`]), pull requests ([`to_markdown`])
//! and tools ([`to_json`], documented in `docs/plan-json.md`).
//!
//! Order: creates, updates and replacements follow the dependency graph
//! (dependencies first); deletions come after, dependents before their
//! dependencies (the reverse of the order they were created in).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as J;

use tpt_lang::{Program, ResourceInstance};

use crate::graph::ResourceGraph;
use crate::state::{is_sensitive, is_unknown, store, Sealer, State};

/// The version of the JSON plan format (`docs/plan-json.md`).
pub const PLAN_FORMAT_VERSION: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Delete and create again (or create first when the schema says so).
    Replace,
    Delete,
    /// A data lookup (`@data` schema), read at every plan and apply.
    Read,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Read => "read",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Read => "<=",
        }
    }
}

/// One input that changes; values in stored form (secrets fingerprinted).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: String,
    /// `None`: absent before (a create, or a new field).
    pub before: Option<J>,
    /// `None`: absent after (a delete).
    pub after: Option<J>,
    /// The field is `@replace` and its change forces replacement.
    pub forces_replacement: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChange {
    pub address: String,
    pub schema: String,
    pub action: Action,
    /// Why a replacement happens, for people.
    pub reason: Option<String>,
    /// Replace by creating the new object before deleting the old one.
    pub create_before_destroy: bool,
    /// A `moved` block gave the recorded object of this address to it.
    pub moved_from: Option<String>,
    /// An `import` block gave it this existing object (its ID), recorded by the apply.
    pub imported_from: Option<String>,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub environment: String,
    /// Objects changed outside tpt, found by refresh (empty without refresh).
    pub drift: Vec<crate::refresh::Drift>,
    /// The state the plan was made against (a saved plan is refused when it changed).
    pub lineage: String,
    pub serial: u64,
    pub changes: Vec<ResourceChange>,
    /// What applying will do differently from what the changes suggest, for
    /// people (e.g. waits skipped on a cluster without load balancers).
    pub notes: Vec<String>,
    /// Root outputs that change (see [`output_changes`]).
    pub outputs: Vec<OutputChange>,
    /// `--refresh-only`: applying records the drift (and outputs) in the state
    /// and changes no object; `changes` is empty.
    pub refresh_only: bool,
}

/// A root output whose value changes: `before` as recorded (`None`: not yet),
/// `after` in stored form (`None`: no longer declared).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputChange {
    pub name: String,
    pub before: Option<J>,
    pub after: Option<J>,
}

/// The root outputs that `planned` (the evaluated outputs) changes relative to
/// those `state` recorded; values compared in stored form (secrets by
/// fingerprint). An output that is unknown until apply is always a change.
pub fn output_changes(
    state: &State,
    planned: &tpt_lang::IndexMap<String, tpt_lang::value::Value>,
    sealer: &Sealer,
) -> Vec<OutputChange> {
    let mut out = Vec::new();
    for (name, v) in planned {
        let after = crate::state::store(v, sealer);
        let before = state.outputs.get(name);
        if before != Some(&after) || is_unknown(&after) {
            out.push(OutputChange {
                name: name.clone(),
                before: before.cloned(),
                after: Some(after),
            });
        }
    }
    for (name, v) in &state.outputs {
        if !planned.contains_key(name) {
            out.push(OutputChange {
                name: name.clone(),
                before: Some(v.clone()),
                after: None,
            });
        }
    }
    out
}

/// `@ignore_changes(…)`: once a resource is recorded, the listed fields keep
/// their recorded values — in the plan and in what an apply sends. (A field
/// that cannot be recalled, e.g. a fingerprinted secret, keeps the configured
/// value; the checker refuses secret fields.) Recorded objects are found at
/// their address, or where a `moved` block says they were.
pub fn ignore_changes(program: &Program, resources: &mut [ResourceInstance], state: &State) {
    let moves = &program.module(program.root()).moves;
    for r in resources
        .iter_mut()
        .filter(|r| !r.lifecycle.ignore_changes.is_empty())
    {
        let recorded = state.resources.get(&r.address).or_else(|| {
            moves
                .iter()
                .find(|mv| mv.to == r.address)
                .and_then(|mv| state.resources.get(&mv.from))
        });
        let Some(recorded) = recorded.filter(|x| !x.unfinished) else {
            continue;
        };
        let schema = program.schema(r.schema);
        for field in &r.lifecycle.ignore_changes {
            let (Some(stored), Some(f)) = (recorded.inputs.get(field), schema.fields.get(field)) else {
                continue;
            };
            if let Some(v) = crate::state::recall(program, stored, &f.ty) {
                r.inputs.insert(field.clone(), v);
            }
        }
    }
}

/// Why the plan cannot go on: a `@prevent_destroy` resource it would delete or
/// replace (`desired`: the instances with their lifecycle; for a destroy, the
/// configuration's). One diagnostic per resource, at its annotation.
pub fn prevented(p: &Plan, desired: &[ResourceInstance]) -> Vec<tpt_lang::Diagnostic> {
    let by_address: BTreeMap<&str, &ResourceInstance> =
        desired.iter().map(|r| (r.address.as_str(), r)).collect();
    p.changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .filter_map(|c| {
            let r = by_address.get(c.address.as_str())?;
            let at = r.lifecycle.prevent_destroy?;
            let what = match (&c.action, &c.reason) {
                (Action::Replace, Some(why)) => format!("replace it ({why})"),
                (Action::Replace, None) => "replace it".to_string(),
                _ => "delete it".to_string(),
            };
            Some(
                tpt_lang::Diagnostic::error(
                    tpt_lang::Code::PreventDestroy,
                    format!("`{}` is `@prevent_destroy`, and this plan would {what}", c.address),
                )
                .label(at, "protected here")
                .help(if c.action == Action::Replace {
                    "change the configuration so that nothing forces a replacement, or remove `@prevent_destroy` first if losing the object is intended"
                } else {
                    "remove `@prevent_destroy` first (and apply) if deleting the object is intended"
                }),
            )
        })
        .collect()
}

/// Moves the recorded objects of `state` to the addresses the plan's `moved`
/// changes give them (and the recorded dependencies on them along); whether
/// anything moved.
pub fn apply_moves(p: &Plan, state: &mut State) -> bool {
    let moves: BTreeMap<&str, &str> = p
        .changes
        .iter()
        .filter_map(|c| Some((c.moved_from.as_deref()?, c.address.as_str())))
        .collect();
    let mut moved = false;
    for (from, to) in &moves {
        if state.resources.contains_key(*to) {
            continue;
        }
        if let Some(r) = state.resources.remove(*from) {
            state.resources.insert((*to).to_string(), r);
            moved = true;
        }
    }
    if moved {
        for r in state.resources.values_mut() {
            for d in &mut r.depends_on {
                if let Some(to) = moves.get(d.as_str()) {
                    *d = (*to).to_string();
                }
            }
        }
    }
    moved
}

impl Plan {
    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        // A move changes the state even when the object stays as it is.
        self.changes.iter().any(|c| {
            !matches!(c.action, Action::NoOp | Action::Read)
                || c.moved_from.is_some()
                || c.imported_from.is_some()
        }) || !self.outputs.is_empty()
            || (self.refresh_only && !self.drift.is_empty())
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// Keeps only the changes of the `targets` and of everything they depend on
/// (so that they can be applied), and deletions of targeted addresses
/// together with the deletions of everything recorded as depending on them
/// (so that nothing is left in state pointing at a deleted object); those are
/// listed with the reason.
pub fn restrict(p: &mut Plan, targets: &[String], graph: &ResourceGraph, state: &State) {
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = targets.to_vec();
    while let Some(a) = queue.pop() {
        if keep.insert(a.clone()) {
            queue.extend(graph.dependencies(&a).into_iter().map(str::to_string));
        }
    }
    // Deleting X deletes what depends on X, transitively (as recorded).
    let deleted: BTreeSet<&str> = p
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.as_str())
        .collect();
    let mut because: BTreeMap<String, String> = BTreeMap::new();
    let mut queue: Vec<String> = keep
        .iter()
        .filter(|a| deleted.contains(a.as_str()))
        .cloned()
        .collect();
    while let Some(a) = queue.pop() {
        for (dependent, r) in &state.resources {
            if r.depends_on.contains(&a)
                && deleted.contains(dependent.as_str())
                && keep.insert(dependent.clone())
            {
                because.insert(dependent.clone(), a.clone());
                queue.push(dependent.clone());
            }
        }
    }
    p.changes.retain(|c| keep.contains(&c.address));
    for c in &mut p.changes {
        if let Some(dep) = because.get(&c.address) {
            c.reason
                .get_or_insert_with(|| format!("it depends on `{dep}`, which is deleted"));
        }
    }
}

/// Like [`diff`], against the state as the providers see it now: `live` holds
/// their answers for recorded objects; what differs from the record is drift,
/// shown in the plan, and the plan brings the live objects back to the
/// configuration.
pub fn diff_refreshed(
    program: &Program,
    environment: &str,
    desired: &[ResourceInstance],
    graph: &ResourceGraph,
    state: &State,
    live: &BTreeMap<String, crate::refresh::Live>,
    sealer: &Sealer,
) -> Plan {
    let (refreshed, drift) = crate::refresh::apply_live(state, live);
    let mut p = diff(program, environment, desired, graph, &refreshed, sealer);
    p.drift = drift;
    p
}

/// The plan that brings `state` to the `desired` instances of one environment.
/// `graph` orders them; `program` knows which fields force replacement.
pub fn diff(
    program: &Program,
    environment: &str,
    desired: &[ResourceInstance],
    graph: &ResourceGraph,
    state: &State,
    sealer: &Sealer,
) -> Plan {
    let by_address: BTreeMap<&str, &ResourceInstance> =
        desired.iter().map(|r| (r.address.as_str(), r)).collect();
    // `moved` blocks: the recorded object follows its resource to the new address.
    let mut state = state.clone();
    let mut moved: BTreeMap<String, String> = BTreeMap::new();
    for mv in &program.module(program.root()).moves {
        if state.resources.contains_key(&mv.to) {
            continue;
        }
        if let Some(r) = state.resources.remove(&mv.from) {
            state.resources.insert(mv.to.clone(), r);
            moved.insert(mv.to.clone(), mv.from.clone());
        }
    }
    let state = &state;
    let order: Vec<&str> = graph
        .creation_order()
        .unwrap_or_else(|| by_address.keys().copied().collect());
    let mut changes = Vec::new();
    for address in order {
        let Some(r) = by_address.get(address) else {
            continue;
        };
        let mut change = diff_one(program, r, state, sealer);
        change.moved_from = moved.get(address).cloned();
        changes.push(change);
    }
    changes.extend(deletions(state, &by_address));
    Plan {
        environment: environment.to_string(),
        drift: Vec::new(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        changes,
        notes: Vec::new(),
        outputs: Vec::new(),
        refresh_only: false,
    }
}

fn diff_one(program: &Program, r: &ResourceInstance, state: &State, sealer: &Sealer) -> ResourceChange {
    let schema = program.schema(r.schema);
    if schema.is_data() {
        // A lookup: read now, nothing to compare with, nothing recorded.
        let fields = r
            .inputs
            .iter()
            .filter(|(_, v)| !matches!(v, tpt_lang::value::Value::Null))
            .map(|(k, v)| FieldChange {
                field: k.clone(),
                before: None,
                after: Some(store(v, sealer)),
                forces_replacement: false,
            })
            .collect();
        return ResourceChange {
            address: r.address.clone(),
            schema: r.schema_name.clone(),
            action: Action::Read,
            reason: None,
            create_before_destroy: false,
            moved_from: None,
            imported_from: None,
            fields,
        };
    }
    let create_before_destroy = r.lifecycle.create_before_destroy
        || schema
            .annotations
            .iter()
            .any(|a| a.name.name == "create_before_destroy");
    let desired: BTreeMap<&str, J> = r
        .inputs
        .iter()
        .map(|(k, v)| (k.as_str(), store(v, sealer)))
        .collect();
    let Some(recorded) = state.resources.get(&r.address) else {
        let fields = r
            .inputs
            .keys()
            .filter_map(|k| {
                let after = desired.get(k.as_str())?.clone();
                (!after.is_null()).then(|| FieldChange {
                    field: k.clone(),
                    before: None,
                    after: Some(after),
                    forces_replacement: false,
                })
            })
            .collect();
        return ResourceChange {
            address: r.address.clone(),
            schema: r.schema_name.clone(),
            action: Action::Create,
            reason: None,
            create_before_destroy,
            moved_from: None,
            imported_from: None,
            fields,
        };
    };
    let mut fields = Vec::new();
    for (name, after) in &desired {
        let before = recorded.inputs.get(*name);
        // An unknown value is a change: its value will be known, and set, at apply.
        if before == Some(after) && !is_unknown(after) {
            continue;
        }
        if before.is_none() && after.is_null() {
            continue;
        }
        // A `@setting` (how to wait) is not part of the object: no change.
        if schema.fields.get(*name).is_some_and(|f| f.setting) {
            continue;
        }
        let forces = schema.fields.get(*name).is_some_and(|f| f.replace);
        fields.push(FieldChange {
            field: name.to_string(),
            before: before.cloned(),
            after: Some(after.clone()),
            forces_replacement: forces,
        });
    }
    for (name, before) in recorded
        .inputs
        .iter()
        .filter(|(k, _)| !desired.contains_key(k.as_str()))
    {
        fields.push(FieldChange {
            field: name.clone(),
            before: Some(before.clone()),
            after: None,
            forces_replacement: false,
        });
    }
    // Another kind is another object; another schema of the same kind (a
    // resource moved to `Web extends k8s.App`) is the same object.
    let type_changed = recorded.kind() != r.kind;
    let forcing: Vec<&str> = fields
        .iter()
        .filter(|f| f.forces_replacement)
        .map(|f| f.field.as_str())
        .collect();
    let (action, reason) = if type_changed {
        (
            Action::Replace,
            Some(format!(
                "its kind changes from `{}` to `{}`",
                recorded.kind(),
                r.kind
            )),
        )
    } else if !forcing.is_empty() {
        let names: Vec<String> = forcing.iter().map(|f| format!("`{f}`")).collect();
        let verb = if names.len() == 1 { "forces" } else { "force" };
        (
            Action::Replace,
            Some(format!("{} {verb} replacement", names.join(", "))),
        )
    } else if recorded.unfinished {
        (
            Action::Update,
            Some("an interrupted apply left it unfinished: applying finishes it".to_string()),
        )
    } else if fields.is_empty() {
        (Action::NoOp, None)
    } else {
        (Action::Update, None)
    };
    ResourceChange {
        address: r.address.clone(),
        schema: r.schema_name.clone(),
        action,
        reason,
        create_before_destroy,
        moved_from: None,
        imported_from: None,
        fields,
    }
}

/// Recorded resources no longer desired, dependents first.
fn deletions(state: &State, desired: &BTreeMap<&str, &ResourceInstance>) -> Vec<ResourceChange> {
    let gone: BTreeSet<&str> = state
        .resources
        .keys()
        .map(String::as_str)
        .filter(|a| !desired.contains_key(a))
        .collect();
    // Repeatedly take those that no remaining deleted resource depends on.
    let mut remaining: Vec<&str> = gone.iter().copied().collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let needed: BTreeSet<&str> = remaining
            .iter()
            .filter_map(|a| state.resources.get(*a))
            .flat_map(|r| r.depends_on.iter().map(String::as_str))
            .collect();
        let (mut now, mut later): (Vec<&str>, Vec<&str>) =
            remaining.iter().partition(|a| !needed.contains(*a));
        if now.is_empty() {
            // A recorded cycle cannot be ordered; delete the rest in address order.
            now = std::mem::take(&mut later);
        }
        remaining = later;
        for a in now {
            let Some(r) = state.resources.get(a) else { continue };
            let fields = r
                .inputs
                .iter()
                .map(|(k, v)| FieldChange {
                    field: k.clone(),
                    before: Some(v.clone()),
                    after: None,
                    forces_replacement: false,
                })
                .collect();
            out.push(ResourceChange {
                address: a.to_string(),
                schema: r.schema.clone(),
                action: Action::Delete,
                reason: None,
                create_before_destroy: false,
                moved_from: None,
                imported_from: None,
                fields,
            });
        }
    }
    out
}

// ------------------------------------------------------------------ rendering

/// A stored value for people: secrets `(sensitive)`, unknowns `(known after apply)`.
pub fn show(v: &J) -> String {
    if let J::Object(m) = v {
        if m.contains_key("$sensitive") {
            return "(sensitive)".into();
        }
        if m.contains_key("$unknown") {
            return "(known after apply)".into();
        }
        if let Some(J::String(a)) = m.get("$resource") {
            return a.clone();
        }
    }
    if is_sensitive(v) || is_unknown(v) {
        // A collection holding some: show its shape with those parts masked.
        return match v {
            J::Array(xs) => format!("[{}]", xs.iter().map(show).collect::<Vec<_>>().join(", ")),
            J::Object(m) => format!(
                "{{ {} }}",
                m.iter()
                    .map(|(k, x)| format!("{k} = {}", show(x)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => v.to_string(),
        };
    }
    v.to_string()
}

fn headline(c: &ResourceChange) -> String {
    let mut line = headline_action(c);
    if let Some(from) = &c.moved_from {
        line = format!("{line} (moved from `{from}`)");
    }
    if let Some(id) = &c.imported_from {
        if c.action != Action::NoOp {
            line = format!("{line} (imported from `{id}`)");
        }
    }
    line
}

fn headline_action(c: &ResourceChange) -> String {
    match c.action {
        Action::Create => format!("{} ({}) will be created", c.address, c.schema),
        Action::Update => {
            let why = c.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            format!("{} ({}) will be updated in place{why}", c.address, c.schema)
        }
        Action::Replace => {
            let how = if c.create_before_destroy {
                "created anew, then the old one deleted"
            } else {
                "deleted, then created anew"
            };
            let why = c.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            format!("{} ({}) must be replaced ({how}){why}", c.address, c.schema)
        }
        Action::Delete => {
            let why = c.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            format!("{} ({}) will be deleted{why}", c.address, c.schema)
        }
        Action::Read => format!("{} ({}) will be read", c.address, c.schema),
        Action::NoOp if c.imported_from.is_some() => format!(
            "{} ({}) will be imported from `{}`",
            c.address,
            c.schema,
            c.imported_from.as_deref().unwrap_or_default()
        ),
        Action::NoOp if c.moved_from.is_some() => format!("{} ({}) keeps its object", c.address, c.schema),
        Action::NoOp => format!("{} ({}) is up to date", c.address, c.schema),
    }
}

/// Long text (manifests) changes as a line diff.
fn text_diff(before: &str, after: &str, pad: &str) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => " ",
        };
        out.push_str(&format!("{pad}{sign} {}", change.value()));
        if !change.value().ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Whether a stored value is a record or map holding records or lists (a
/// chart's rendered objects): its changes are shown leaf by leaf.
pub(crate) fn is_nested(v: &J) -> bool {
    let plain = |x: &J| match x {
        J::Object(o) => {
            !o.contains_key("$sensitive") && !o.contains_key("$unknown") && !o.contains_key("$resource")
        }
        _ => false,
    };
    // A map of records (objects by key; a large one recorded as a string), not
    // a record with lists among its fields (`network`): those show as before.
    match v {
        J::Object(m) if plain(v) => m.values().any(plain) && m.values().all(|x| plain(x) || x.is_string()),
        _ => false,
    }
}

/// A path segment: `.name` for a plain key, `["a b"]` for others.
fn segment(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!(".{key}")
    } else {
        format!("[{}]", J::String(key.to_string()))
    }
}

/// One leaf that differs between two stored values: where, before, after
/// (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct LeafChange {
    pub path: String,
    pub before: Option<J>,
    pub after: Option<J>,
}

/// The leaves where `before` and `after` differ, depth first in key order.
/// Secrets, unknowns and references are leaves; lists of another length
/// change as a whole.
pub fn leaf_changes(before: &J, after: &J) -> Vec<LeafChange> {
    fn walk(path: &mut String, b: Option<&J>, a: Option<&J>, out: &mut Vec<LeafChange>) {
        if b == a {
            return;
        }
        let plain = |v: Option<&J>| match v {
            Some(J::Object(m)) => {
                !m.contains_key("$sensitive") && !m.contains_key("$unknown") && !m.contains_key("$resource")
            }
            _ => false,
        };
        match (b, a) {
            (Some(J::Object(x)), Some(J::Object(y))) if plain(b) && plain(a) => {
                let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let len = path.len();
                    path.push_str(&segment(k));
                    walk(path, x.get(k), y.get(k), out);
                    path.truncate(len);
                }
            }
            (Some(J::Array(x)), Some(J::Array(y))) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(path, Some(p), Some(q), out);
                    path.truncate(len);
                }
            }
            _ => out.push(LeafChange {
                path: path.trim_start_matches('.').to_string(),
                before: b.cloned(),
                after: a.cloned(),
            }),
        }
    }
    let mut out = Vec::new();
    walk(&mut String::new(), Some(before), Some(after), &mut out);
    out
}

/// The changes of a nested field (`objects` of a Helm release): a line per
/// entry added or removed, and per leaf changed inside an entry:
/// `~ Deployment web/web: spec.replicas: 1 → 2`.
pub(crate) fn nested_lines(before: Option<&J>, after: Option<&J>, pad: &str, out: &mut String) {
    let empty = J::Object(serde_json::Map::new());
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let (J::Object(x), J::Object(y)) = (b, a) else {
        return;
    };
    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    for k in keys {
        match (x.get(k), y.get(k)) {
            (None, Some(v)) if v.is_object() || v.is_array() => out.push_str(&format!("{pad}+ {k}\n")),
            (None, Some(v)) => out.push_str(&format!("{pad}+ {k} = {}\n", show(v))),
            (Some(_), None) => out.push_str(&format!("{pad}- {k}\n")),
            (Some(p), Some(q)) if p == q => {}
            (Some(p), Some(q)) => {
                for leaf in leaf_changes(p, q) {
                    let at = if leaf.path.is_empty() {
                        k.clone()
                    } else {
                        format!("{k}: {}", leaf.path)
                    };
                    match (&leaf.before, &leaf.after) {
                        (Some(J::String(s)), Some(J::String(t))) if s.contains('\n') || t.contains('\n') => {
                            out.push_str(&format!("{pad}~ {at}:\n"));
                            out.push_str(&text_diff(s, t, &format!("{pad}    ")));
                        }
                        (None, Some(v)) => out.push_str(&format!("{pad}+ {at} = {}\n", show(v))),
                        (Some(v), None) => out.push_str(&format!("{pad}- {at} = {}\n", show(v))),
                        (Some(v), Some(w)) => {
                            out.push_str(&format!("{pad}~ {at}: {} → {}\n", show(v), show(w)))
                        }
                        (None, None) => {}
                    }
                }
            }
            (None, None) => {}
        }
    }
}

fn field_lines(c: &ResourceChange, out: &mut String) {
    let empty = |v: &Option<J>| {
        v.as_ref()
            .is_none_or(|j| j.as_object().is_some_and(|m| m.is_empty()))
    };
    for f in &c.fields {
        let nested_or_empty = |v: &Option<J>| empty(v) || v.as_ref().is_some_and(is_nested);
        // A chart's objects that will be known only after apply: said, not dumped.
        if let (Some(b), Some(a)) = (&f.before, &f.after) {
            if is_nested(b) && (is_unknown(a) || is_sensitive(a)) && !is_nested(a) {
                out.push_str(&format!("      ~ {}: {}\n", f.field, show(a)));
                continue;
            }
        }
        let nested = nested_or_empty(&f.before)
            && nested_or_empty(&f.after)
            && (f.before.as_ref().is_some_and(is_nested) || f.after.as_ref().is_some_and(is_nested));
        if nested {
            let mark = match (&f.before, &f.after) {
                (None, Some(_)) => "+",
                (Some(_), None) => "-",
                _ => "~",
            };
            out.push_str(&format!("      {mark} {}:\n", f.field));
            nested_lines(f.before.as_ref(), f.after.as_ref(), "          ", out);
            continue;
        }
        let mark = match (&f.before, &f.after) {
            (None, Some(_)) => "+",
            (Some(_), None) => "-",
            _ => "~",
        };
        let forces = if f.forces_replacement {
            "  # forces replacement"
        } else {
            ""
        };
        match (&f.before, &f.after) {
            (Some(J::String(a)), Some(J::String(b))) if a.contains('\n') || b.contains('\n') => {
                out.push_str(&format!("      {mark} {}:{forces}\n", f.field));
                out.push_str(&text_diff(a, b, "          "));
            }
            (None, Some(a)) => out.push_str(&format!("      {mark} {} = {}\n", f.field, show(a))),
            (Some(b), None) => out.push_str(&format!("      {mark} {} = {}\n", f.field, show(b))),
            (Some(b), Some(a)) => out.push_str(&format!(
                "      {mark} {}: {} → {}{forces}\n",
                f.field,
                show(b),
                show(a)
            )),
            (None, None) => {}
        }
    }
}

/// The plan for people.
pub fn to_text(p: &Plan) -> String {
    let drift = crate::refresh::drift_text(&p.drift);
    if p.refresh_only {
        if !p.has_changes() {
            return format!(
                "No changes: the state of `{}` matches the live objects.\n",
                p.environment
            );
        }
        return format!(
            "{drift}{}Refresh only: applying records {} in the state of `{}`; no object is changed.\n",
            outputs_text(p),
            crate::refresh::describe_drift(&p.drift),
            p.environment
        );
    }
    if !p.has_changes() {
        return format!(
            "{drift}No changes: `{}` matches the configuration.\n{}",
            p.environment,
            notes_text(p)
        );
    }
    let mut out = format!(
        "{drift}tpt will perform these actions in `{}`:\n\n",
        p.environment
    );
    for c in p
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.moved_from.is_some() || c.imported_from.is_some())
    {
        let symbol = if c.action == Action::NoOp && c.imported_from.is_some() {
            "<"
        } else if c.action == Action::NoOp {
            ">"
        } else {
            c.action.symbol()
        };
        out.push_str(&format!("  {symbol} {}\n", headline(c)));
        if c.action != Action::Delete {
            field_lines(c, &mut out);
        }
        out.push('\n');
    }
    out.push_str(&outputs_text(p));
    out.push_str(&summary(p));
    out.push('\n');
    out.push_str(&notes_text(p));
    out
}

/// `Changes to outputs:` and a line per output, or nothing.
fn outputs_text(p: &Plan) -> String {
    if p.outputs.is_empty() {
        return String::new();
    }
    let mut out = String::from("Changes to outputs:\n");
    for o in &p.outputs {
        match (&o.before, &o.after) {
            (None, Some(after)) => out.push_str(&format!("  + {} = {}\n", o.name, show(after))),
            (Some(before), Some(after)) => {
                out.push_str(&format!("  ~ {}: {} → {}\n", o.name, show(before), show(after)))
            }
            (Some(_), None) => out.push_str(&format!("  - {}\n", o.name)),
            (None, None) => {}
        }
    }
    out.push('\n');
    out
}

/// The plan's notes, a paragraph each.
fn notes_text(p: &Plan) -> String {
    p.notes.iter().map(|n| format!("\nNote: {n}\n")).collect()
}

/// `Plan: 2 to create, 1 to update, 0 to replace, 1 to delete.`
pub fn summary(p: &Plan) -> String {
    let moves = p.changes.iter().filter(|c| c.moved_from.is_some()).count();
    let mut moved = if moves > 0 {
        format!(" {moves} moved.")
    } else {
        String::new()
    };
    let reads = p.count(Action::Read);
    if reads > 0 {
        moved.push_str(&format!(" {reads} to read."));
    }
    let imports = p.changes.iter().filter(|c| c.imported_from.is_some()).count();
    if imports > 0 {
        moved.push_str(&format!(" {imports} to import."));
    }
    format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete.{moved}",
        p.count(Action::Create),
        p.count(Action::Update),
        p.count(Action::Replace),
        p.count(Action::Delete)
    )
}

/// The plan for a pull-request comment.
pub fn to_markdown(p: &Plan) -> String {
    let mut out = format!("### tpt plan for `{}`\n\n", p.environment);
    if !p.has_changes() {
        out.push_str("No changes.\n");
        return out;
    }
    out.push_str(&format!(
        "**{}**\n\n| action | resource | type | why |\n|---|---|---|---|\n",
        summary(p)
    ));
    for c in p.changes.iter().filter(|c| c.action != Action::NoOp) {
        let why = c.reason.clone().unwrap_or_default().replace('|', "\\|");
        out.push_str(&format!(
            "| {} | `{}` | `{}` | {} |\n",
            c.action.as_str(),
            c.address,
            c.schema,
            why
        ));
    }
    out.push_str("\n<details><summary>Details</summary>\n\n```\n");
    out.push_str(&to_text(p));
    out.push_str("```\n\n</details>\n");
    out
}

/// A nested stored value for tools: secrets `"(sensitive)"`, unknowns
/// `"(known after apply)"` where they are.
fn masked(v: &J) -> J {
    match v {
        J::Object(m) if m.contains_key("$sensitive") || m.contains_key("$unknown") => J::String(show(v)),
        J::Object(m) => J::Object(m.iter().map(|(k, x)| (k.clone(), masked(x))).collect()),
        J::Array(xs) => J::Array(xs.iter().map(masked).collect()),
        other => other.clone(),
    }
}

/// [`masked`] undone (markers without their fingerprints), for a saved plan.
fn unmasked(v: &J) -> J {
    match v {
        J::String(s) if s == "(sensitive)" => serde_json::json!({ "$sensitive": "" }),
        J::String(s) if s == "(known after apply)" => serde_json::json!({ "$unknown": "" }),
        J::Object(m) => J::Object(m.iter().map(|(k, x)| (k.clone(), unmasked(x))).collect()),
        J::Array(xs) => J::Array(xs.iter().map(unmasked).collect()),
        other => other.clone(),
    }
}

/// The plan for tools (`docs/plan-json.md`). Values are in display form:
/// secrets `"(sensitive)"`, unknowns `"(known after apply)"`.
pub fn to_json(p: &Plan) -> J {
    let display = |v: &Option<J>| match v {
        None => J::Null,
        // A chart's objects keep their shape, their secret parts masked.
        Some(v) if is_nested(v) => masked(v),
        Some(v) if is_sensitive(v) || is_unknown(v) => J::String(show(v)),
        Some(v) => v.clone(),
    };
    let changes: Vec<J> = p
        .changes
        .iter()
        .map(|c| {
            serde_json::json!({
                "address": c.address,
                "type": c.schema,
                "action": c.action.as_str(),
                "reason": c.reason,
                                "create_before_destroy": c.create_before_destroy,
                "moved_from": c.moved_from,
                "imported_from": c.imported_from,
                "fields": c.fields.iter().map(|f| serde_json::json!({
                    "field": f.field,
                    "before": display(&f.before),
                    "after": display(&f.after),
                    "before_sensitive": f.before.as_ref().is_some_and(is_sensitive),
                    "after_sensitive": f.after.as_ref().is_some_and(is_sensitive),
                    "after_unknown": f.after.as_ref().is_some_and(is_unknown),
                    "forces_replacement": f.forces_replacement,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut doc = serde_json::json!({
        "format_version": PLAN_FORMAT_VERSION,
        "environment": p.environment,
        "state": { "lineage": p.lineage, "serial": p.serial },
        "summary": {
            "create": p.count(Action::Create),
            "update": p.count(Action::Update),
            "replace": p.count(Action::Replace),
            "delete": p.count(Action::Delete),
        },
                "drift": p.drift.iter().map(|d| serde_json::json!({
            "address": d.address,
            "type": d.schema,
            "deleted": d.changed.is_none(),
            "fields": d.changed.iter().flatten().map(|f| serde_json::json!({
                "field": f.field,
                "before": display(&f.before),
                "after": display(&f.after),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "changes": changes,
    });
    if p.refresh_only {
        doc["refresh_only"] = J::Bool(true);
    }
    if !p.outputs.is_empty() {
        doc["outputs"] = J::Array(
            p.outputs
                .iter()
                .map(|o| {
                    serde_json::json!({
                        "name": o.name,
                        "action": match (&o.before, &o.after) {
                            (None, _) => "create",
                            (_, None) => "delete",
                            _ => "update",
                        },
                        "before": display(&o.before),
                        "after": display(&o.after),
                        "before_sensitive": o.before.as_ref().is_some_and(is_sensitive),
                        "after_sensitive": o.after.as_ref().is_some_and(is_sensitive),
                        "after_unknown": o.after.as_ref().is_some_and(is_unknown),
                    })
                })
                .collect(),
        );
    }
    if !p.notes.is_empty() {
        doc["notes"] = serde_json::json!(p.notes);
    }
    doc
}

// ------------------------------------------------------------------ saved plans

/// The kind tag of a saved plan file.
pub const SAVED_PLAN_KIND: &str = "tpt-plan";

/// A plan written by `tpt plan --out FILE`: the plan in its JSON form, the state
/// it was made against, and what it was made from. It holds no secret (secrets
/// are fingerprints in the plan), so applying it re-evaluates the configuration
/// for their values and refuses when the result or the state differs.
pub fn to_saved(p: &Plan, tool_version: &str, config: &str) -> J {
    serde_json::json!({
        "kind": SAVED_PLAN_KIND,
        "format_version": PLAN_FORMAT_VERSION,
        "tool_version": tool_version,
        "config": config,
        "plan": to_json(p),
    })
}

/// Why a saved plan cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum SavedPlanError {
    /// Not a saved plan, or a newer format.
    Unreadable(String),
    /// The state changed since the plan was made.
    Stale {
        planned_lineage: String,
        planned_serial: u64,
        lineage: String,
        serial: u64,
    },
}

impl std::fmt::Display for SavedPlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SavedPlanError::Unreadable(m) => write!(f, "not a usable saved plan: {m}"),
            SavedPlanError::Stale {
                planned_lineage,
                lineage,
                ..
            } if planned_lineage.is_empty() => write!(
                f,
                "the plan was made when there was no state yet; the state now has lineage {lineage}"
            ),
            SavedPlanError::Stale {
                planned_lineage,
                lineage,
                ..
            } if lineage.is_empty() => write!(
                f,
                "the plan was made for a state (lineage {planned_lineage}) that no longer exists"
            ),
            SavedPlanError::Stale {
                planned_lineage,
                lineage,
                ..
            } if planned_lineage != lineage => write!(
                f,
                "the plan was made for another state (lineage {planned_lineage}, the state's is {lineage})"
            ),
            SavedPlanError::Stale {
                planned_serial,
                serial,
                ..
            } => write!(
                f,
                "the state changed since the plan was made (serial {planned_serial} then, {serial} now)"
            ),
        }
    }
}

/// Reads a saved plan back into a [`Plan`] (values in their display form).
pub fn from_saved(bytes: &[u8]) -> Result<Plan, SavedPlanError> {
    let bad = |m: &str| SavedPlanError::Unreadable(m.to_string());
    let doc: J = serde_json::from_slice(bytes).map_err(|e| SavedPlanError::Unreadable(e.to_string()))?;
    if doc["kind"] != SAVED_PLAN_KIND {
        return Err(bad("it has no `kind: tpt-plan`"));
    }
    if doc["format_version"] != PLAN_FORMAT_VERSION {
        return Err(SavedPlanError::Unreadable(format!(
            "format version {} is not {PLAN_FORMAT_VERSION}; use the tpt that made it",
            doc["format_version"]
        )));
    }
    let p = &doc["plan"];
    let action = |s: &str| match s {
        "create" => Some(Action::Create),
        "update" => Some(Action::Update),
        "replace" => Some(Action::Replace),
        "delete" => Some(Action::Delete),
        "no-op" => Some(Action::NoOp),
        "read" => Some(Action::Read),
        _ => None,
    };
    let stored = |v: &J, sensitive: bool, unknown: bool| -> Option<J> {
        if v.is_null() {
            None
        } else if v.is_object() && (sensitive || unknown) {
            Some(unmasked(v))
        } else if sensitive {
            Some(serde_json::json!({ "$sensitive": "" }))
        } else if unknown {
            Some(serde_json::json!({ "$unknown": "" }))
        } else {
            Some(v.clone())
        }
    };
    let mut changes = Vec::new();
    for c in p["changes"].as_array().ok_or_else(|| bad("no `changes`"))? {
        let fields = c["fields"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| FieldChange {
                        field: f["field"].as_str().unwrap_or_default().to_string(),
                        before: stored(&f["before"], f["before_sensitive"] == true, false),
                        after: stored(
                            &f["after"],
                            f["after_sensitive"] == true,
                            f["after_unknown"] == true,
                        ),
                        forces_replacement: f["forces_replacement"] == true,
                    })
                    .collect()
            })
            .unwrap_or_default();
        changes.push(ResourceChange {
            address: c["address"]
                .as_str()
                .ok_or_else(|| bad("a change without an address"))?
                .to_string(),
            schema: c["type"].as_str().unwrap_or_default().to_string(),
            action: action(c["action"].as_str().unwrap_or_default())
                .ok_or_else(|| bad("an unknown action"))?,
            reason: c["reason"].as_str().map(str::to_string),
            create_before_destroy: c["create_before_destroy"] == true,
            moved_from: c["moved_from"].as_str().map(str::to_string),
            imported_from: c["imported_from"].as_str().map(str::to_string),
            fields,
        });
    }
    let drift = p["drift"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| crate::refresh::Drift {
                    address: d["address"].as_str().unwrap_or_default().to_string(),
                    schema: d["type"].as_str().unwrap_or_default().to_string(),
                    changed: (d["deleted"] != true).then(|| {
                        d["fields"]
                            .as_array()
                            .map(|fs| {
                                fs.iter()
                                    .map(|f| FieldChange {
                                        field: f["field"].as_str().unwrap_or_default().to_string(),
                                        before: stored(&f["before"], false, false),
                                        after: stored(&f["after"], false, false),
                                        forces_replacement: false,
                                    })
                                    .collect()
                            })
                            .unwrap_or_default()
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Plan {
        environment: p["environment"].as_str().unwrap_or_default().to_string(),
        drift,
        lineage: p["state"]["lineage"].as_str().unwrap_or_default().to_string(),
        serial: p["state"]["serial"].as_u64().unwrap_or(0),
        changes,
        notes: p["notes"]
            .as_array()
            .map(|n| n.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        refresh_only: p["refresh_only"] == true,
        outputs: p["outputs"]
            .as_array()
            .map(|os| {
                os.iter()
                    .map(|o| OutputChange {
                        name: o["name"].as_str().unwrap_or_default().to_string(),
                        before: stored(&o["before"], o["before_sensitive"] == true, false),
                        after: stored(
                            &o["after"],
                            o["after_sensitive"] == true,
                            o["after_unknown"] == true,
                        ),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A saved plan may be applied only to the state it was made against.
pub fn check_current(p: &Plan, state: &State) -> Result<(), SavedPlanError> {
    if p.lineage == state.lineage && p.serial == state.serial {
        Ok(())
    } else {
        Err(SavedPlanError::Stale {
            planned_lineage: p.lineage.clone(),
            planned_serial: p.serial,
            lineage: state.lineage.clone(),
            serial: state.serial,
        })
    }
}

#[cfg(test)]
mod saved_tests {
    use super::*;

    /// A chart's objects change leaf by leaf, in the plan and its saved form.
    #[test]
    fn nested_fields_show_what_changes_inside() {
        let before = serde_json::json!({
            "Deployment web/web": {"spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "a:1"}]}}}},
            "ConfigMap web/old": {"data": {"k": "v"}},
            "Secret web/auth": {"data": {"p": {"$sensitive": "hmac-sha256:aa"}}},
        });
        let after = serde_json::json!({
            "Deployment web/web": {"spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "a:2"}]}}}},
            "ConfigMap web/new": {"data": {"k": "v"}},
            "Secret web/auth": {"data": {"p": {"$sensitive": "hmac-sha256:bb"}}},
        });
        let p = Plan {
            drift: Vec::new(),
            environment: "dev".into(),
            lineage: "L".into(),
            serial: 1,
            notes: Vec::new(),
            outputs: Vec::new(),
            refresh_only: false,
            changes: vec![ResourceChange {
                address: "web".into(),
                schema: "k8s.HelmRelease".into(),
                action: Action::Update,
                reason: None,
                create_before_destroy: false,
                moved_from: None,
                imported_from: None,
                fields: vec![FieldChange {
                    field: "objects".into(),
                    before: Some(before),
                    after: Some(after),
                    forces_replacement: false,
                }],
            }],
        };
        let text = to_text(&p);
        assert!(text.contains("      ~ objects:\n"), "{text}");
        assert!(text.contains("          + ConfigMap web/new\n"), "{text}");
        assert!(text.contains("          - ConfigMap web/old\n"), "{text}");
        assert!(
            text.contains(
                "          ~ Deployment web/web: spec.template.spec.containers[0].image: \"a:1\" → \"a:2\"\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("          ~ Secret web/auth: data.p: (sensitive) → (sensitive)\n"),
            "{text}"
        );
        let json = to_json(&p).to_string();
        assert!(!json.contains("hmac"), "{json}");
        assert!(json.contains("\"p\":\"(sensitive)\""), "{json}");
        let back = from_saved(to_saved(&p, "0", "x").to_string().as_bytes()).expect("readable");
        let again = to_text(&back);
        assert!(again.contains("+ ConfigMap web/new"), "{again}");
        assert!(
            again.contains("containers[0].image: \"a:1\" → \"a:2\""),
            "{again}"
        );
    }

    #[test]
    fn leaves_are_paths() {
        let b = serde_json::json!({"metadata": {"labels": {"helm.sh/chart": "x-1"}}, "ports": [1, 2]});
        let a = serde_json::json!({"metadata": {"labels": {"helm.sh/chart": "x-2"}}, "ports": [1]});
        let paths: Vec<String> = leaf_changes(&b, &a).into_iter().map(|l| l.path).collect();
        assert_eq!(paths, ["metadata.labels[\"helm.sh/chart\"]", "ports"]);
    }

    fn sample() -> Plan {
        Plan {
            drift: Vec::new(),
            environment: "prod".into(),
            lineage: "L".into(),
            serial: 3,
            notes: vec!["a note".into()],
            refresh_only: false,
            outputs: vec![
                OutputChange {
                    name: "url".into(),
                    before: None,
                    after: Some(serde_json::json!("https://x")),
                },
                OutputChange {
                    name: "password".into(),
                    before: Some(serde_json::json!({"$sensitive": "hmac-sha256:00"})),
                    after: Some(serde_json::json!({"$unknown": "db.password"})),
                },
            ],
            changes: vec![ResourceChange {
                address: "db".into(),
                schema: "Db".into(),
                action: Action::Replace,
                reason: Some("`engine` forces replacement".into()),
                create_before_destroy: false,
                moved_from: None,
                imported_from: None,
                fields: vec![
                    FieldChange {
                        field: "engine".into(),
                        before: Some(J::from("postgres")),
                        after: Some(J::from("mysql")),
                        forces_replacement: true,
                    },
                    FieldChange {
                        field: "password".into(),
                        before: Some(serde_json::json!({ "$sensitive": "hmac-sha256:aa" })),
                        after: Some(serde_json::json!({ "$sensitive": "hmac-sha256:bb" })),
                        forces_replacement: false,
                    },
                ],
            }],
        }
    }

    #[test]
    fn a_saved_plan_renders_as_the_plan_did() {
        let p = sample();
        let saved = to_saved(&p, "0.1.0", "examples/shop").to_string();
        assert!(
            !saved.contains("hmac-sha256"),
            "fingerprints stay out of plan files: {saved}"
        );
        let back = from_saved(saved.as_bytes()).expect("readable");
        assert_eq!(to_text(&back), to_text(&p));
        assert!(matches!(from_saved(b"{}"), Err(SavedPlanError::Unreadable(_))));
    }

    #[test]
    fn a_plan_for_another_state_is_refused() {
        let p = sample();
        let mut state = State::new("prod", "L".into());
        state.serial = 3;
        assert_eq!(check_current(&p, &state), Ok(()));
        state.serial = 4;
        let err = check_current(&p, &state)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "the state changed since the plan was made (serial 3 then, 4 now)"
        );
        let other = State::new("prod", "M".into());
        assert!(check_current(&p, &other)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("another state"));
    }
}
