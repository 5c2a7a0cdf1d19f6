//! Environments: `extends` chains (known, acyclic), parameter settings (known
//! params, right types, every required param set), overlays (known resources
//! and fields, right types, merges only into records), and the required fields
//! of every resource once the overlays of each environment are applied.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt};

use super::Checker;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::{ModuleId, SchemaId};
use crate::syntax::ast::{Environment, OverlayField, OverlayValue};
use crate::types::{RecordTy, Ty};

pub(super) fn check_environments(c: &mut Checker) {
    let root = c.p.root();
    let module = c.p.module(root);
    for env in module.environments.values() {
        check_env(c, root, &env.node);
    }
    let family = Family::new(c);
    check_moves(c, root);
    check_required_params(c, root, &family);
    check_required_fields(c, root, Some(&family));
}

/// The root's environments with their parents: `extends` is resolved once, so
/// a question about an environment's whole chain costs one step per
/// environment, not one per ancestor (a chain of 10,000 is checked in linear
/// time). Cycles of `extends` are reported here, once each.
struct Family<'a> {
    envs: Vec<&'a Environment>,
    /// The parent of each; `None` without `extends`, for an unknown one, or on a cycle.
    parent: Vec<Option<usize>>,
    /// Every index, parents before their children.
    order: Vec<usize>,
}

impl<'a> Family<'a> {
    fn new(c: &mut Checker<'a>) -> Family<'a> {
        let p = c.p;
        let module = p.module(p.root());
        let envs: Vec<&'a Environment> = module.environments.values().map(|e| &e.node).collect();
        let index: HashMap<&str, usize> = envs
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.name.as_str(), i))
            .collect();
        let mut parent: Vec<Option<usize>> = envs
            .iter()
            .map(|e| {
                e.extends
                    .as_ref()
                    .and_then(|x| index.get(x.name.as_str()).copied())
            })
            .collect();
        // 0: not seen, 1: on the path being walked, 2: placed in `order`.
        let mut state = vec![0u8; envs.len()];
        let mut order = Vec::with_capacity(envs.len());
        for start in 0..envs.len() {
            let mut path = Vec::new();
            let mut cur = Some(start);
            while let Some(i) = cur {
                match state[i] {
                    2 => break,
                    1 => {
                        // `path` from `i` on is a cycle: report it, and cut it so that chains end.
                        let at = path.iter().position(|&k| k == i).unwrap_or(0);
                        let cycle: Vec<usize> = path[at..].to_vec();
                        report_cycle(c, &envs, &cycle);
                        for &k in &cycle {
                            parent[k] = None;
                        }
                        break;
                    }
                    _ => {
                        state[i] = 1;
                        path.push(i);
                        cur = parent[i];
                    }
                }
            }
            for &i in path.iter().rev() {
                state[i] = 2;
                order.push(i);
            }
        }
        Family { envs, parent, order }
    }

    /// For each environment: whether it or one it extends has `own`.
    fn inherited(&self, own: impl Fn(usize) -> bool) -> Vec<bool> {
        let mut has = vec![false; self.envs.len()];
        for &i in &self.order {
            has[i] = own(i) || self.parent[i].is_some_and(|p| has[p]);
        }
        has
    }
}

/// `environments extend each other in a cycle: a → b → a`, from its smallest member.
fn report_cycle(c: &mut Checker, envs: &[&Environment], cycle: &[usize]) {
    let Some(first) = (0..cycle.len()).min_by_key(|&k| &envs[cycle[k]].name.name) else {
        return;
    };
    let mut names: Vec<&str> = (0..cycle.len())
        .map(|k| envs[cycle[(first + k) % cycle.len()]].name.name.as_str())
        .collect();
    names.push(names[0]);
    let env = envs[cycle[first]];
    let mut d = Diagnostic::error(
        Code::EnvironmentCycle,
        format!("environments extend each other in a cycle: {}", names.join(" → ")),
    )
    .label(env.name.span, "this environment is on the cycle");
    if let Some(parent) = &env.extends {
        d = d.label(parent.span, "extends here");
    }
    c.err(d.help("an environment chain must end in an environment without `extends`"));
}

fn check_env(c: &mut Checker, m: ModuleId, env: &Environment) {
    let module = c.p.module(m);
    // extends: known and acyclic.
    if let Some(parent) = &env.extends {
        if !module.environments.contains_key(&parent.name) {
            let mut d = Diagnostic::error(
                Code::UnknownEnvironment,
                format!(
                    "environment `{}` extends unknown environment `{}`",
                    env.name.name, parent.name
                ),
            )
            .label(parent.span, "no environment of this name");
            d = match did_you_mean(&parent.name, module.environments.keys().map(String::as_str)) {
                Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
                None => d.help(format!(
                    "the environments are: {}",
                    module
                        .environments
                        .keys()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            c.err(d);
        }
    }
    // Parameter settings.
    c.check_duplicate_keys(env.sets.iter().map(|s| &s.name));
    for set in &env.sets {
        match module.params.get(&set.name.name) {
            Some(p) => {
                let ty = p.ty.clone();
                c.check_expr(m, &set.value, &ty, &format_args!("param `{}`", set.name.name));
            }
            None => {
                let mut d = Diagnostic::error(
                    Code::UnknownParam,
                    format!(
                        "environment `{}` sets `{}`, which is not a param",
                        env.name.name, set.name.name
                    ),
                )
                .label(set.name.span, "not a param");
                let is_resource = module.resources.contains_key(&set.name.name);
                d = match (
                    is_resource,
                    did_you_mean(&set.name.name, module.params.keys().map(String::as_str)),
                ) {
                    (true, _) => d.help(format!(
                        "`{0}` is a resource: overlay its fields with `{0} {{ field = … }}`",
                        set.name.name
                    )),
                    (false, Some(s)) => d.help(format!("did you mean `{s}`?")).suggest(s),
                    (false, None) => {
                        d.help("declare it with `param NAME: TYPE` at the top level, or remove this line")
                    }
                };
                c.err(d);
                c.infer(m, &set.value, None);
            }
        }
    }
    // Overlays.
    for overlay in &env.overlays {
        let Some(r) = module.resources.get(&overlay.target.name) else {
            let mut d = Diagnostic::error(
                Code::UnknownOverlayTarget,
                format!(
                    "environment `{}` overlays `{}`, which is not a resource",
                    env.name.name, overlay.target.name
                ),
            )
            .label(overlay.target.span, "no resource of this name");
            d = if module.params.contains_key(&overlay.target.name) {
                d.help(format!(
                    "`{0}` is a param: set it with `{0} = …`",
                    overlay.target.name
                ))
            } else {
                match did_you_mean(&overlay.target.name, module.resources.keys().map(String::as_str)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
                    None => d.help("overlays change fields of resources declared in the configuration"),
                }
            };
            c.err(d);
            continue;
        };
        check_overlay_key(c, m, r, overlay.key.as_ref(), &overlay.target.name);
        let mut r = r;
        let mut shown = overlay.target.name.clone();
        let mut found = true;
        for seg in &overlay.inner {
            let body = r.schema.and_then(|s| c.p.schema(s).component);
            let Some(body) = body else {
                if r.schema.is_some() {
                    c.err(
                        Diagnostic::error(
                            Code::UnknownOverlayTarget,
                            format!("`{shown}` is a resource, not a component instance"),
                        )
                        .label(seg.name.span, format!("`{shown}` has no resources inside"))
                        .help(format!("overlay its fields as `{shown} {{ … }}`")),
                    );
                }
                found = false;
                break;
            };
            let inner = c.p.module(body);
            let Some(next) = inner.resources.get(&seg.name.name) else {
                let component = r.schema.map(|s| c.p.schema_name(s)).unwrap_or_default();
                let mut d = Diagnostic::error(
                    Code::UnknownOverlayTarget,
                    format!(
                        "environment `{}` overlays `{shown}.{}`, which is not a resource of `{component}`",
                        env.name.name, seg.name.name
                    ),
                )
                .label(seg.name.span, "no resource of this name in the component");
                d = match did_you_mean(&seg.name.name, inner.resources.keys().map(String::as_str)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
                    None => d.help(format!(
                        "the resources of `{component}` are: {}",
                        inner
                            .resources
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                c.err(d);
                found = false;
                break;
            };
            shown = format!("{shown}.{}", seg.name.name);
            check_overlay_key(c, m, next, seg.key.as_ref(), &shown);
            r = next;
        }
        if !found {
            continue;
        }
        let Some(schema) = r.schema else { continue };
        // Loop variables are not in scope in overlays; only params, lets and resources.
        check_overlay_fields(c, m, schema, &overlay.fields, &shown);
    }
}

/// `name[key]` selects an instance of a resource stamped by `for`, by a string or an int.
fn check_overlay_key(
    c: &mut Checker,
    m: ModuleId,
    r: &crate::program::ResourceDecl,
    key: Option<&crate::syntax::ast::Expr>,
    shown: &str,
) {
    let Some(key) = key else { return };
    if r.loops.is_empty() {
        c.err(
            Diagnostic::error(
                Code::UnknownOverlayTarget,
                format!("`{shown}` is a single resource, not stamped by `for`"),
            )
            .label(key.span, "no instances to select")
            .help(format!("overlay it as `{shown} {{ … }}`")),
        );
    } else {
        let t = c.infer(m, key, None);
        if !matches!(t.base(), Ty::String | Ty::Literal(_) | Ty::Int | Ty::Error) {
            let shown = c.show(&t);
            c.err(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!("an instance key is a string or an int, found `{shown}`"),
                )
                .label(key.span, format!("this is `{shown}`"))
                .help("select an instance as `name[\"key\"]` or `name[0]`"),
            );
        }
    }
}

fn check_overlay_fields(
    c: &mut Checker,
    m: ModuleId,
    schema: SchemaId,
    fields: &[OverlayField],
    resource: &str,
) {
    c.check_duplicate_keys(fields.iter().map(|f| &f.name));
    let schema_def = c.p.schema(schema);
    let owner = format!("resource `{resource}` (`{}`)", schema_def.name);
    for f in fields {
        match &f.value {
            OverlayValue::Set(value) => {
                if schema_def.fields.contains_key(&f.name.name) {
                    c.check_resource_field(m, schema, &f.name, value, &owner);
                } else {
                    overlay_unknown_field(c, &f.name.name, f.name.span, &c.p.schema_record(schema), &owner);
                    c.infer(m, value, None);
                }
            }
            OverlayValue::Merge(inner) => match schema_def.fields.get(&f.name.name) {
                Some(sf) if sf.output => {
                    c.check_resource_field(
                        m,
                        schema,
                        &f.name,
                        &crate::syntax::ast::Expr {
                            kind: crate::syntax::ast::ExprKind::Null,
                            span: f.span,
                        },
                        &owner,
                    );
                }
                Some(sf) => {
                    let ty = sf.ty.clone();
                    check_merge(
                        c,
                        m,
                        &ty,
                        inner,
                        &format!("field `{}` of {owner}", f.name.name),
                        f.name.span,
                    );
                }
                None => {
                    overlay_unknown_field(c, &f.name.name, f.name.span, &c.p.schema_record(schema), &owner)
                }
            },
        }
    }
}

/// `field { … }` merges into a record-typed field.
fn check_merge(
    c: &mut Checker,
    m: ModuleId,
    ty: &Ty,
    fields: &[OverlayField],
    context: &str,
    span: crate::source::Span,
) {
    let rec: Option<RecordTy> = match ty.non_null().resolved() {
        Ty::Schema(id) if !c.p.schema(*id).is_resource => Some(c.p.schema_record(*id)),
        Ty::Record(r) => Some((**r).clone()),
        Ty::Map(elem) => {
            // A merge into a map adds or replaces entries.
            let elem = (**elem).clone();
            c.check_duplicate_keys(fields.iter().map(|f| &f.name));
            for f in fields {
                match &f.value {
                    OverlayValue::Set(value) => {
                        c.check_expr(
                            m,
                            value,
                            &elem,
                            &format_args!("entry `{}` of {context}", f.name.name),
                        );
                    }
                    OverlayValue::Merge(inner) => {
                        check_merge(
                            c,
                            m,
                            &elem,
                            inner,
                            &format!("entry `{}` of {context}", f.name.name),
                            f.name.span,
                        );
                    }
                }
            }
            return;
        }
        Ty::Error => return,
        _ => None,
    };
    let Some(rec) = rec else {
        let shown = c.show(ty);
        c.err(
            Diagnostic::error(
                Code::BadOverlayField,
                format!("cannot merge into {context}: it is `{shown}`, not a record"),
            )
            .label(span, "merge `{ … }` needs a record field")
            .help("replace the whole value with `field = value`"),
        );
        return;
    };
    c.check_duplicate_keys(fields.iter().map(|f| &f.name));
    for f in fields {
        match (rec.fields.get(&f.name.name), &f.value) {
            (Some(ft), OverlayValue::Set(value)) => {
                let t = ft.ty.clone();
                c.check_expr(
                    m,
                    value,
                    &t,
                    &format_args!("field `{}` of {context}", f.name.name),
                );
            }
            (Some(ft), OverlayValue::Merge(inner)) => {
                let t = ft.ty.clone();
                check_merge(
                    c,
                    m,
                    &t,
                    inner,
                    &format!("field `{}` of {context}", f.name.name),
                    f.name.span,
                );
            }
            (None, value) => {
                overlay_unknown_field(c, &f.name.name, f.name.span, &rec, context);
                if let OverlayValue::Set(v) = value {
                    c.infer(m, v, None);
                }
            }
        }
    }
}

fn overlay_unknown_field(
    c: &mut Checker,
    name: &str,
    span: crate::source::Span,
    rec: &RecordTy,
    owner: &str,
) {
    let mut d = Diagnostic::error(
        Code::BadOverlayField,
        format!("overlay of a field that does not exist: {owner} has no field `{name}`"),
    )
    .label(span, "unknown field");
    d = match did_you_mean(name, rec.fields.keys().map(String::as_str)) {
        Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
        None => d.help(format!(
            "the fields are: {}",
            rec.fields.keys().take(20).cloned().collect::<Vec<_>>().join(", ")
        )),
    };
    c.err(d);
}

/// A `moved` block, or an `import` block, must point to a resource the
/// configuration declares (inside component instances: a resource of the
/// component).
fn check_moves(c: &mut Checker, m: ModuleId) {
    let module = c.p.module(m);
    for mv in &module.moves {
        check_target(c, m, "`moved` to", &mv.to, &mv.to_path, Code::BadMove);
    }
    for im in &module.import_blocks {
        check_target(c, m, "`import` to", &im.to, &im.to_path, Code::UnknownTarget);
        c.check_expr(
            m,
            &im.id,
            &Ty::String,
            &format_args!("the `id` of the import of `{}`", im.to),
        );
    }
}

fn check_target(
    c: &mut Checker,
    m: ModuleId,
    what: &str,
    to: &str,
    to_path: &[crate::syntax::ast::Ident],
    code: Code,
) {
    let mut scope = m;
    let mut shown = String::new();
    for (i, seg) in to_path.iter().enumerate() {
        let resources = &c.p.module(scope).resources;
        let Some(r) = resources.get(&seg.name) else {
            let mut d = Diagnostic::error(code, format!("{what} `{to}`, which is not a resource"))
                .label(seg.span, "no resource of this name");
            d = match did_you_mean(&seg.name, resources.keys().map(String::as_str)) {
                Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
                None if i == 0 => d.help("name a resource declared in this configuration"),
                None => d.help(format!("`{shown}` has no resource `{}`", seg.name)),
            };
            c.err(d);
            return;
        };
        shown = if shown.is_empty() {
            seg.name.clone()
        } else {
            format!("{shown}.{}", seg.name)
        };
        let body = r.schema.and_then(|s| c.p.schema(s).component);
        let last = i + 1 == to_path.len();
        match (body, last) {
            (Some(_), true) => {
                c.err(
                    Diagnostic::error(code, format!("{what} `{to}`, a component instance"))
                        .label(seg.span, "an instance holds resources; it is not one")
                        .help(format!("name a resource of the instance: `{to}.NAME`")),
                );
                return;
            }
            (Some(b), false) => scope = b,
            (None, false) => {
                c.err(
                    Diagnostic::error(
                        code,
                        format!("{what} `{to}`: `{shown}` is not a component instance"),
                    )
                    .label(seg.span, "a resource, with no resources inside")
                    .help("a path `a.b` names resource `b` inside component instance `a`"),
                );
                return;
            }
            (None, true) => {}
        }
    }
}

fn check_required_params(c: &mut Checker, m: ModuleId, family: &Family) {
    let module = c.p.module(m);
    for (name, p) in &module.params {
        // A `@var` param may get its value from the command line: evaluation says
        // so when it has none.
        if p.node.default.is_some() || p.ty.is_optional() || p.has_annotation("var") {
            continue;
        }
        if family.envs.is_empty() {
            c.err(
                Diagnostic::error(Code::MissingParam, format!("param `{name}` has no value"))
                    .label(
                        p.node.name.span,
                        "declared without a default, and no environment sets it",
                    )
                    .help(format!(
                        "give it a default (`param {name}: … = value`) or declare environments that set it"
                    )),
            );
            continue;
        }
        let set = family.inherited(|i| family.envs[i].sets.iter().any(|s| s.name.name == *name));
        for (env, _) in family.envs.iter().zip(&set).filter(|(_, set)| !**set) {
            let env_name = &env.name.name;
            c.err(
                Diagnostic::error(Code::MissingParam, format!("environment `{env_name}` does not set param `{name}`"))
                    .label(env.name.span, format!("`{name}` has no value here"))
                    .label(p.node.name.span, "declared without a default here")
                    .help(format!("add `{name} = …` to environment `{env_name}` (or to one it extends), or give the param a default")),
            );
        }
    }
}

/// The required fields of the resources of a component's body.
pub(super) fn check_component_fields(c: &mut Checker, m: ModuleId) {
    check_required_fields(c, m, None);
}

/// Every required field of every resource has a value in every environment
/// (from the resource's body or an overlay of the environment's chain).
fn check_required_fields(c: &mut Checker, m: ModuleId, family: Option<&Family>) {
    let module = c.p.module(m);
    // (environment, resource) → the fields that environment itself overlays
    // (whole-resource overlays).
    let mut overlaid: HashMap<(usize, &str), BTreeSet<&str>> = HashMap::new();
    let envs: &[&Environment] = family.map_or(&[], |f| &f.envs);
    for (i, env) in envs.iter().enumerate() {
        for o in env
            .overlays
            .iter()
            .filter(|o| o.key.is_none() && o.inner.is_empty())
        {
            overlaid
                .entry((i, o.target.name.as_str()))
                .or_default()
                .extend(o.fields.iter().map(|f| f.name.name.as_str()));
        }
    }
    let runs = envs.len().max(1);
    for (rname, r) in &module.resources {
        let Some(schema) = r.schema else { continue };
        let s = c.p.schema(schema);
        let base: BTreeSet<&str> = r.node.body.iter().map(|e| e.name.name.as_str()).collect();
        let unset: Vec<&str> = s
            .fields
            .iter()
            .filter(|(n, f)| !f.is_optional() && !base.contains(n.as_str()))
            .map(|(n, _)| n.as_str())
            .collect();
        if unset.is_empty() {
            continue;
        }
        // Per environment, the fields still missing once its chain's overlays apply.
        let mut missing: Vec<Vec<&str>> = vec![Vec::new(); runs];
        for f in &unset {
            match family {
                Some(family) if !family.envs.is_empty() => {
                    let given = family.inherited(|i| {
                        overlaid
                            .get(&(i, rname.as_str()))
                            .is_some_and(|fs| fs.contains(f))
                    });
                    for (i, given) in given.into_iter().enumerate() {
                        if !given {
                            missing[i].push(f);
                        }
                    }
                }
                _ => missing[0].push(f),
            }
        }
        let per_env: Vec<(Option<&str>, Vec<&str>)> = missing
            .into_iter()
            .enumerate()
            .filter(|(_, m)| !m.is_empty())
            .map(|(i, m)| (envs.get(i).map(|e| e.name.name.as_str()), m))
            .collect();
        if per_env.is_empty() {
            continue;
        }
        let owner = format!("resource `{rname}` (`{}`)", s.name);
        let rec = c.p.schema_record(schema);
        let everywhere = per_env.len() == runs && per_env.windows(2).all(|w| w[0].1 == w[1].1);
        if everywhere {
            let missing = per_env[0].1.clone();
            c.missing_fields(
                m,
                &missing,
                &rec,
                &owner,
                r.node.name.span,
                r.node.body_span,
                None,
            );
        } else {
            for (env, missing) in per_env {
                c.missing_fields(m, &missing, &rec, &owner, r.node.name.span, r.node.body_span, env);
            }
        }
    }
}
