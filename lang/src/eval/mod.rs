//! The evaluator: from a checked program and a chosen environment to the list of
//! resource instances with their input values. Total and deterministic; no IO
//! but the named inputs it is given (`secret_env`).
//!
//! Everything is evaluated lazily and memoised: params, `let`s and resource
//! instances are computed when first used, so a resource may read another's
//! inputs (`main.region`) in any declaration order, and a cycle is reported
//! instead of looping. References to resources are recorded as dependencies of
//! the instance being evaluated, also when they pass through a `let`.
//!
//! Submodules: `expr` evaluates expressions, `coerce` fits values to their
//! declared types (defaults, refinements), `resources` expands `for` loops and
//! applies overlays.

mod coerce;
mod expr;
mod files;
mod resources;
pub(crate) use resources::stamping_itself;

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::{HashMap, HashMapExt, HashSetExt};

use crate::IndexMap;

use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::program::{ModuleId, Program, SchemaId};
use crate::source::Span;
use crate::syntax::ast::Environment;
use crate::value::Value;

/// Named inputs a configuration may read (`secret_env("NAME")`), and the values
/// the caller gives `@var` params. The CLI passes the process environment and
/// its `--var`s; tests pass a map.
pub trait Inputs {
    fn env_var(&self, name: &str) -> Option<String>;

    /// What one evaluation may spend.
    fn budget(&self) -> Budget {
        Budget::default()
    }

    /// Every value the caller gives a param, highest precedence first for a
    /// name given twice (`--var` before `TPT_VAR_NAME`).
    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }

    /// Whether the caller no longer wants the result (asked every
    /// [`CANCEL_EVERY`] steps): the evaluation then stops quietly, with an
    /// error that is not shown. The check pipeline stops an evaluation it
    /// started beside the type check when the program turns out ill-typed.
    fn cancelled(&self) -> bool {
        false
    }
}

/// How many expression steps (a power of two) an evaluation takes between two looks at
/// [`Inputs::cancelled`] (a few microseconds of work).
pub const CANCEL_EVERY: u64 = 1024;

/// What one evaluation of an environment may spend before it stops with
/// E0505: expression steps, and bytes of the values it builds (lists, maps,
/// records and strings, counted as they are made; a value shared by reference
/// counts once). Each collection is bounded on its own too; the budget bounds
/// the sum, so that nested comprehensions cannot run for minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub steps: u64,
    pub bytes: u64,
}

impl Default for Budget {
    /// The generated configuration of `benches/check_eval.rs` (which prints
    /// what it spends) spends about 9 steps and 220 bytes per resource: at
    /// 100,000 resources, under a fiftieth of each limit.
    fn default() -> Budget {
        Budget {
            steps: 50_000_000,
            bytes: 1 << 30,
        }
    }
}

/// What an evaluation spent (see [`Budget`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub steps: u64,
    pub bytes: u64,
}

/// A value for a `@var` param from the caller, as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub name: String,
    pub text: String,
    pub origin: VarOrigin,
}

/// Where a [`Var`] came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VarOrigin {
    /// `--var NAME=VALUE`
    Flag,
    /// `TPT_VAR_NAME`
    Env,
}

impl Var {
    /// `--var replicas=…` or `TPT_VAR_replicas`, for messages (never the value:
    /// it may be a secret).
    pub fn shown(&self) -> String {
        match self.origin {
            VarOrigin::Flag => format!("`--var {}=…`", self.name),
            VarOrigin::Env => format!("`TPT_VAR_{}`", self.name),
        }
    }
}

/// No inputs at all.
pub struct NoInputs;

impl Inputs for NoInputs {
    fn env_var(&self, _name: &str) -> Option<String> {
        None
    }
}

impl Inputs for std::collections::HashMap<String, String> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The result of evaluating one environment.
#[derive(Debug, Clone, Default)]
pub struct Evaluated {
    pub environment: Option<String>,
    /// Every param with its resolved value.
    pub params: IndexMap<String, Value>,
    /// Resource instances in declaration order (stamped ones in key order;
    /// those of a component instance where the instance is declared).
    pub resources: Vec<ResourceInstance>,
    /// The root's outputs (unknown where they read what only an apply knows).
    pub outputs: IndexMap<String, Value>,
    /// `import { to, id }` blocks: (address, object ID), in declaration order.
    pub imports: Vec<(String, String)>,
    /// What the evaluation spent of its [`Budget`].
    pub spent: Spent,
}

#[derive(Debug, Clone)]
pub struct ResourceInstance {
    /// `shop`, or `cluster["eu-west-1"]` for a stamped one, `team["a"].db`
    /// inside a component instance.
    pub address: String,
    /// The declared name (`cluster`), after its component instance's address
    /// (`team["a"].db`).
    pub name: String,
    pub schema: SchemaId,
    /// `aws.EksCluster`
    pub schema_name: String,
    /// The kind it is applied as: the schema at the root of the `extends` chain
    /// (`k8s.App` for `resource schema Web extends k8s.App`).
    pub kind: String,
    /// Every input field of the schema (defaults filled, outputs left out).
    pub inputs: IndexMap<String, Value>,
    /// Addresses this instance depends on: references and `depends_on`.
    pub depends_on: BTreeSet<String>,
    /// The name in the resource declaration (what diagnostics point at).
    pub span: Span,
    /// How plans treat it: its annotations, and those of the component
    /// instances around it.
    pub lifecycle: Lifecycle,
}

/// `@prevent_destroy`, `@create_before_destroy`, `@ignore_changes(…)` of a resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    /// `@prevent_destroy`: where it is written; a plan that deletes or replaces
    /// the resource fails.
    pub prevent_destroy: Option<Span>,
    /// `@create_before_destroy`: a replacement makes the new object first.
    pub create_before_destroy: bool,
    /// `@ignore_changes(…)`: fields whose recorded value is kept once created.
    pub ignore_changes: Vec<String>,
}

impl Lifecycle {
    /// The lifecycle annotations of a declaration, over `outer` (an enclosing
    /// component instance's).
    pub fn of(annotations: &[crate::syntax::ast::Annotation], outer: &Lifecycle) -> Lifecycle {
        let mut l = Lifecycle {
            prevent_destroy: outer.prevent_destroy,
            create_before_destroy: outer.create_before_destroy,
            ignore_changes: Vec::new(),
        };
        for a in annotations {
            match a.name.name.as_str() {
                "prevent_destroy" => l.prevent_destroy = Some(a.span),
                "create_before_destroy" => l.create_before_destroy = true,
                "ignore_changes" => l
                    .ignore_changes
                    .extend(a.args.iter().filter_map(|e| match &e.kind {
                        crate::syntax::ast::ExprKind::Ident(id) => Some(id.name.clone()),
                        _ => None,
                    })),
                _ => {}
            }
        }
        l
    }
}

/// Evaluates the program for `environment` (`None`: the base configuration,
/// allowed only when the program declares no environments).
pub fn evaluate(
    program: &Program,
    environment: Option<&str>,
    inputs: &dyn Inputs,
) -> Result<Evaluated, Vec<Diagnostic>> {
    evaluate_with(program, environment, inputs, &KnownOutputs::default())
}

/// Outputs already known (recorded by an earlier apply), per address and field.
/// A reference to a known output evaluates to its value instead of an unknown.
#[derive(Debug, Clone, Default)]
pub struct KnownOutputs {
    pub outputs: HashMap<String, IndexMap<String, Value>>,
}

/// [`evaluate`], with outputs known from an earlier apply.
pub fn evaluate_with(
    program: &Program,
    environment: Option<&str>,
    inputs: &dyn Inputs,
    known: &KnownOutputs,
) -> Result<Evaluated, Vec<Diagnostic>> {
    match run(program, environment, inputs, known, None) {
        Evaluation::New(result) => result,
        // Only a record of earlier environments finds one alike.
        Evaluation::Alike(errors) => Err(errors),
    }
}

/// Environments evaluated so far, by what decides an evaluation: the value
/// of every root param and the environments whose overlays apply. Nothing
/// else of an environment reaches its evaluation (its name appears only in
/// messages), so environments alike in both evaluate alike, and
/// [`evaluate_alike`] evaluates only the first of them.
#[derive(Default)]
pub struct Alike {
    seen: HashMap<u64, Vec<Seen>>,
}

/// An environment evaluated, in [`Alike`].
struct Seen {
    params: Vec<Value>,
    overlaying: Vec<usize>,
    /// The errors of its evaluation, before they were given its name.
    errors: Vec<Diagnostic>,
}

/// What [`evaluate_alike`] found.
pub enum Evaluation {
    /// The environment evaluated: nothing alike was evaluated before.
    New(Result<Evaluated, Vec<Diagnostic>>),
    /// The errors of an environment alike, evaluated before, given this
    /// environment's name (none when that evaluation succeeded). Its resources
    /// and their graph are that environment's.
    Alike(Vec<Diagnostic>),
}

/// [`evaluate`] for one of several environments of `program`, recorded in
/// `alike`: an environment alike to one evaluated before (see [`Alike`]) is
/// not evaluated again. Checking every environment of a long chain that sets
/// few params evaluates each distinct setting once.
pub fn evaluate_alike(
    program: &Program,
    environment: Option<&str>,
    inputs: &dyn Inputs,
    alike: &mut Alike,
) -> Evaluation {
    run(
        program,
        environment,
        inputs,
        &KnownOutputs::default(),
        Some(alike),
    )
}

fn run(
    program: &Program,
    environment: Option<&str>,
    inputs: &dyn Inputs,
    known: &KnownOutputs,
    alike: Option<&mut Alike>,
) -> Evaluation {
    let root = program.module(program.root());
    let chosen = match choose_environment(program, environment) {
        Ok(c) => c,
        Err(d) => return Evaluation::New(Err(vec![d])),
    };
    let overlaying = chosen.as_ref().map_or(&[][..], |c| c.overlay_ids);
    let mut ev = Evaluator::new(program, chosen, inputs, known);
    ev.check_vars();
    let mut params = IndexMap::default();
    for name in root.params.keys() {
        match ev.param(0, name) {
            Ok((v, _)) => {
                params.insert(name.clone(), v);
            }
            Err(d) => ev.diags.push(d),
        }
    }
    // An environment whose params fail is not compared: their messages may
    // name it.
    let record = match alike {
        Some(alike) if ev.diags.is_empty() => {
            let mut h = foldhash::fast::FixedState::default().build_hasher();
            params.values().for_each(|v| v.hash_into(&mut h));
            overlaying.hash(&mut h);
            let key = h.finish();
            let same = |s: &Seen| {
                s.overlaying == overlaying
                    && s.params.len() == params.len()
                    && s.params.iter().zip(params.values()).all(|(a, b)| a.identical(b))
            };
            if let Some(seen) = alike.seen.get(&key).and_then(|v| v.iter().find(|s| same(s))) {
                return Evaluation::Alike(named(seen.errors.clone(), environment));
            }
            Some((alike, key))
        }
        _ => None,
    };
    let resources = ev.all_instances();
    let outputs = ev.root_outputs();
    ev.all_lets();
    ev.all_functions();
    let imports = ev.import_ids();
    ev.diags.retain(|d| !d.message.is_empty());
    if let Some((alike, key)) = record {
        alike.seen.entry(key).or_default().push(Seen {
            params: params.values().cloned().collect(),
            overlaying: overlaying.to_vec(),
            errors: ev.diags.clone(),
        });
    }
    if ev.diags.is_empty() {
        Evaluation::New(Ok(Evaluated {
            environment: environment.map(str::to_string),
            params,
            resources,
            outputs,
            imports,
            spent: ev.spent,
        }))
    } else {
        Evaluation::New(Err(named(ev.diags, environment)))
    }
}

/// An evaluation's errors, sorted, each saying the environment it is of: the
/// same configuration may fail in one environment and not another.
fn named(mut diags: Vec<Diagnostic>, environment: Option<&str>) -> Vec<Diagnostic> {
    if let Some(env) = environment {
        for d in &mut diags {
            d.message = format!("in environment `{env}`: {}", d.message);
        }
    }
    crate::diagnostic::sort_diagnostics(&mut diags);
    diags
}

/// An error standing for one already reported (a value that could not be
/// computed because another failed): it stops evaluation of this value and is
/// dropped before diagnostics are returned.
pub(crate) fn already_reported(span: Span) -> Diagnostic {
    Diagnostic::error(Code::DependencyCycle, "").label(span, "")
}

/// The chosen environment and what its chain gives (worked out when the
/// program was loaded: `Module::env_chains`); `None` without one.
fn choose_environment<'p>(
    program: &'p Program,
    environment: Option<&str>,
) -> Result<Option<Chosen<'p>>, Diagnostic> {
    let module = program.module(program.root());
    let envs = &module.environments;
    let list = || {
        envs.keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(name) = environment else {
        if envs.is_empty() {
            return Ok(None);
        }
        return Err(
            Diagnostic::error(Code::UnknownEnvironment, "no environment chosen").help(format!(
                "this configuration declares environments; choose one with `--env`: {}",
                list()
            )),
        );
    };
    let Some((index, _, env)) = envs.get_full(name) else {
        let mut d = Diagnostic::error(
            Code::UnknownEnvironment,
            format!("there is no environment `{name}`"),
        );
        d = match did_you_mean(name, envs.keys().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
            None if envs.is_empty() => {
                d.help("this configuration declares no environments; leave out `--env`")
            }
            None => d.help(format!("the environments are: {}", list())),
        };
        return Err(d);
    };
    let chain = module.env_chains.get(index);
    Ok(Some(Chosen {
        env: &env.node,
        overlay_ids: chain.map_or(&[][..], |c| &c.overlaying[..]),
        overlaying: chain
            .map(|c| {
                c.overlaying
                    .iter()
                    .filter_map(|&i| envs.get_index(i).map(|(_, e)| &e.node))
                    .collect()
            })
            .unwrap_or_default(),
        sets: chain.map(|c| &*c.sets),
    }))
}

/// The environment an evaluation is for, and what its chain gives.
struct Chosen<'p> {
    env: &'p Environment,
    /// The environments of the chain that have overlays, base first.
    overlaying: Vec<&'p Environment>,
    /// Their indexes in the root module's environments.
    overlay_ids: &'p [usize],
    /// The innermost setting of each param along the chain (environment
    /// index, index in its `sets`).
    sets: Option<&'p HashMap<String, (usize, usize)>>,
}

/// Keeps a value computed for `key` (with its dependencies), or forgets the
/// attempt when it failed, so that its error is not mistaken for a cycle.
fn remember<K: std::hash::Hash + Eq>(
    slots: &mut HashMap<K, Slot>,
    key: K,
    result: &Result<(Value, BTreeSet<String>), Diagnostic>,
) {
    match result {
        Ok((v, d)) => {
            slots.insert(key, Slot::Done(v.clone(), d.clone()));
        }
        Err(_) => {
            slots.remove(&key);
        }
    }
}

/// A memoised value with the resource addresses it depends on.
#[derive(Clone)]
enum Slot {
    InProgress,
    Done(Value, BTreeSet<String>),
}

/// One stamped (or single) instance of a resource declaration.
#[derive(Clone)]
struct InstancePlan {
    address: String,
    name: String,
    /// The frame the declaration is evaluated in.
    frame: usize,
    /// The innermost loop key (for overlays `name["key"]`), if stamped.
    key: Option<Value>,
    /// Every loop key, outermost first.
    keys: Vec<Value>,
    /// Loop variables bound for this instance.
    bindings: Vec<(String, Value)>,
}

/// The instances of one declaration, expanded once (`Err`: its `for` failed, reported).
type Planned = Result<std::sync::Arc<Vec<InstancePlan>>, ()>;

/// One instance's plan inside its declaration's memoised plans (not a copy).
struct PlanRef {
    plans: std::sync::Arc<Vec<InstancePlan>>,
    index: usize,
}

impl std::ops::Deref for PlanRef {
    type Target = InstancePlan;

    fn deref(&self) -> &InstancePlan {
        // `index` was found in `plans` when the reference was made, and the
        // vector behind the `Arc` never changes.
        &self.plans[self.index]
    }
}

/// Where names of a component's body resolve: one per component instance,
/// and the root's (index 0).
struct Frame {
    module: ModuleId,
    /// `web`, `team["a"]`; empty for the root.
    address: String,
    /// The names and keys of the instances from the root, for overlays.
    path: Vec<(String, Option<Value>)>,
    /// What the instance sets (its body, then overlays): value, where, dependencies.
    inputs: IndexMap<String, (Value, Span, BTreeSet<String>)>,
    /// `depends_on` of the instance and of the instances around it.
    depends: BTreeSet<String>,
    /// Lifecycle annotations of the instance and of the instances around it.
    lifecycle: Lifecycle,
    /// The instance's name in its declaration.
    span: Span,
}

impl Frame {
    /// `web.` — what the addresses of its resources start with.
    fn prefix(&self) -> String {
        if self.address.is_empty() {
            String::new()
        } else {
            format!("{}.", self.address)
        }
    }
}

enum FrameSlot {
    InProgress,
    Done(usize),
    Failed,
}

pub(crate) struct Evaluator<'p> {
    p: &'p Program,
    /// Frames of the component instances met so far; 0 is the root's.
    frames: Vec<Frame>,
    /// The frame of the component module being evaluated (0 outside components).
    frame: usize,
    /// Component instance address → its frame.
    frame_of: HashMap<String, FrameSlot>,
    /// Instance address → (frame, declared name), for every planned instance.
    addresses: HashMap<String, (usize, String)>,
    /// Outputs of component instances, per (frame, name).
    outputs: HashMap<(usize, String), Slot>,
    /// The chosen environment and what its chain gives, if one is chosen.
    chosen: Option<Chosen<'p>>,
    inputs: &'p dyn Inputs,
    diags: Vec<Diagnostic>,
    /// Local variables (let-in, loop and fn parameters), innermost last.
    locals: Vec<(String, Value)>,
    /// Addresses referenced while evaluating the current instance/let/param.
    deps: Vec<BTreeSet<String>>,
    lets: HashMap<(usize, ModuleId, String), Slot>,
    params: HashMap<(usize, String), Slot>,
    /// (frame, resource name) → its instances, expanded once.
    /// Memoised plans by frame, then resource name (looked up without allocating).
    plans: HashMap<usize, HashMap<String, Planned>>,
    /// Declarations whose `for` lists are being evaluated: met again, a list
    /// reads the instances it stamps (it recursed until out of memory).
    expanding: Vec<(usize, String)>,
    /// Address → evaluated inputs.
    instances: HashMap<String, InstanceSlot>,
    /// Nested function calls, to bound the depth.
    depth: usize,
    /// Outputs known from an earlier apply.
    known: &'p KnownOutputs,
    /// The overlays of the environment chain by target resource, base first.
    overlays: HashMap<&'p str, Vec<&'p crate::syntax::ast::Overlay>>,
    budget: Budget,
    spent: Spent,
    /// What is being evaluated, innermost last, for the budget's error (made
    /// into words only then).
    building: Vec<Building>,
    /// Whether the budget's error was given (later steps stop quietly).
    exhausted: bool,
    /// How many `eval`s are running inside one another (see `stack::due`).
    nest: usize,
}

/// Something being evaluated, named in the budget's error.
enum Building {
    Let(String),
    Output(String),
    Resource(String),
}

impl std::fmt::Display for Building {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Building::Let(name) => write!(f, "`let {name}`"),
            Building::Output(name) => write!(f, "output `{name}`"),
            Building::Resource(address) => write!(f, "resource `{address}`"),
        }
    }
}

enum InstanceSlot {
    InProgress,
    Done(std::sync::Arc<ResourceInstance>),
    Failed,
}

impl<'p> Evaluator<'p> {
    fn new(
        p: &'p Program,
        chosen: Option<Chosen<'p>>,
        inputs: &'p dyn Inputs,
        known: &'p KnownOutputs,
    ) -> Self {
        let mut overlays: HashMap<&'p str, Vec<&'p crate::syntax::ast::Overlay>> = HashMap::new();
        for env in chosen.iter().flat_map(|c| &c.overlaying) {
            for o in &env.overlays {
                overlays.entry(o.target.name.as_str()).or_default().push(o);
            }
        }
        Evaluator {
            frames: vec![Frame {
                module: p.root(),
                address: String::new(),
                path: Vec::new(),
                inputs: IndexMap::default(),
                depends: BTreeSet::new(),
                lifecycle: Lifecycle::default(),
                span: Span::default(),
            }],
            frame: 0,
            frame_of: HashMap::new(),
            addresses: HashMap::new(),
            outputs: HashMap::new(),
            known,
            overlays,
            budget: inputs.budget(),
            spent: Spent::default(),
            building: Vec::new(),
            exhausted: false,
            nest: 0,
            p,
            chosen,
            inputs,
            diags: Vec::new(),
            locals: Vec::new(),
            deps: Vec::new(),
            lets: HashMap::new(),
            params: HashMap::new(),
            plans: HashMap::new(),
            expanding: Vec::new(),
            instances: HashMap::new(),
            depth: 0,
        }
    }

    /// Records a dependency of whatever is being evaluated.
    fn depend(&mut self, address: &str) {
        if let Some(top) = self.deps.last_mut() {
            if !top.contains(address) {
                top.insert(address.to_string());
            }
        }
    }

    fn depend_all(&mut self, addresses: &BTreeSet<String>) {
        if let Some(top) = self.deps.last_mut() {
            top.extend(addresses.iter().cloned());
        }
    }

    /// Runs `f` with fresh locals and a fresh dependency set; returns its deps.
    fn isolated<T>(
        &mut self,
        locals: Vec<(String, Value)>,
        f: impl FnOnce(&mut Self) -> T,
    ) -> (T, BTreeSet<String>) {
        let saved = std::mem::replace(&mut self.locals, locals);
        self.deps.push(BTreeSet::new());
        let out = f(self);
        let deps = self.deps.pop().unwrap_or_default();
        self.locals = saved;
        (out, deps)
    }

    /// [`Evaluator::isolated`] in frame `frame`.
    fn in_frame<T>(
        &mut self,
        frame: usize,
        locals: Vec<(String, Value)>,
        f: impl FnOnce(&mut Self) -> T,
    ) -> (T, BTreeSet<String>) {
        let saved = std::mem::replace(&mut self.frame, frame);
        let out = self.isolated(locals, f);
        self.frame = saved;
        out
    }

    /// The frame names of module `m` resolve in: the current one in a
    /// component's body, the root's elsewhere.
    /// Evaluates every `let` of the root and of every imported file, used or
    /// not, as a compiler checks dead code: a `let` whose value breaks its
    /// declared type fails here, not on the day something starts to use it.
    /// (A component's `let`s are evaluated in each of its instances.)
    fn all_lets(&mut self) {
        for (m, module) in self.modules_outside_components() {
            for name in module.lets.keys() {
                let (value, _) = self.in_frame(0, Vec::new(), |ev| ev.let_value(m, name));
                if let Err(d) = value {
                    self.diags.push(d);
                }
            }
        }
    }

    /// The root's and imported files' modules (a component's declarations
    /// are evaluated in each of its instances instead).
    fn modules_outside_components(
        &self,
    ) -> impl Iterator<Item = (ModuleId, &'p crate::program::Module)> + 'p {
        let p = self.p;
        p.modules
            .iter()
            .enumerate()
            .filter(|(_, module)| module.component.is_none())
            .map(|(i, module)| (ModuleId(i as u32), module))
    }

    /// Every function without parameters is called once, used or not, and
    /// its result fitted to its declared type, as `all_lets` does for `let`s: a
    /// refinement of its result that its body breaks fails here. (A function
    /// with parameters cannot run without arguments: its parameter and result
    /// types and their refinements are checked statically, and its result at
    /// every call.) A failure already reported by a call is not repeated.
    fn all_functions(&mut self) {
        for (m, module) in self.modules_outside_components() {
            for (name, f) in &module.fns {
                if !f.node.params.is_empty() {
                    continue;
                }
                let (result, _) = self.in_frame(0, Vec::new(), |ev| {
                    let value = ev.eval(m, &f.node.body)?;
                    let context = format!("the result of `{name}`");
                    ev.coerce(value, &f.ty, f.node.body.span, &coerce::Ctx::Text(&context))
                });
                if let Err(d) = result {
                    if !self.diags.iter().any(|known| known.message == d.message) {
                        self.diags.push(d);
                    }
                }
            }
        }
    }

    fn frame_for(&self, m: ModuleId) -> usize {
        if self.p.module(m).component.is_some() {
            self.frame
        } else {
            0
        }
    }

    /// The value of a param of frame `frame`: the root's in the chosen
    /// environment, or a component's as its instance sets it.
    fn param(&mut self, frame: usize, name: &str) -> Result<(Value, BTreeSet<String>), Diagnostic> {
        if frame != 0 {
            return self.component_param(frame, name);
        }
        match self.params.get(&(0, name.to_string())) {
            Some(Slot::Done(v, d)) => return Ok((v.clone(), d.clone())),
            Some(Slot::InProgress) => {
                let span = self
                    .p
                    .module(self.p.root())
                    .params
                    .get(name)
                    .map(|p| p.node.name.span)
                    .unwrap_or_default();
                return Err(
                    Diagnostic::error(Code::LetCycle, format!("param `{name}` depends on itself"))
                        .label(span, "its value needs its own value")
                        .help("break the cycle between the defaults of these params"),
                );
            }
            None => {}
        }
        let root = self.p.root();
        let Some(decl) = self.p.module(root).params.get(name) else {
            return Err(
                Diagnostic::error(Code::UnknownName, format!("unknown param `{name}`"))
                    .help("declare it with `param`"),
            );
        };
        self.params.insert((0, name.to_string()), Slot::InProgress);
        // The caller's value of a `@var` param wins over every environment.
        let given = if decl.has_annotation("var") {
            self.inputs.vars().into_iter().find(|v| v.name == name)
        } else {
            None
        };
        // Else the innermost environment that sets it.
        let envs = &self.p.module(root).environments;
        let set = self
            .chosen
            .as_ref()
            .and_then(|c| c.sets?.get(name))
            .and_then(|&(env, set)| envs.get_index(env)?.1.node.sets.get(set));
        let (expr, span) = match (set, &decl.node.default) {
            (Some(s), _) => (Some(&s.value), s.value.span),
            (None, Some(d)) => (Some(d), d.span),
            (None, None) => (None, decl.node.name.span),
        };
        let result = match (given, expr) {
            (Some(var), _) => self.var_value(&var, decl),
            (None, Some(e)) => {
                let (v, deps) = self.isolated(Vec::new(), |ev| ev.eval(root, e));
                v.and_then(|v| self.coerce(v, &decl.ty, span, &coerce::Ctx::Text(&format!("param `{name}`"))))
                    .map(|v| (v, deps))
            }
            (None, None) if decl.ty.is_optional() => Ok((Value::Null, BTreeSet::new())),
            (None, None) => {
                let env = self.chosen.as_ref().map(|c| c.env.name.name.clone());
                let mut help = match env {
                    Some(e) => format!("set `{name} = …` in environment `{e}` or one it extends"),
                    None => "give it a default, or set it in an environment".to_string(),
                };
                if decl.has_annotation("var") {
                    help.push_str(&format!(", or pass `--var {name}=…` (or `TPT_VAR_{name}`)"));
                }
                Err(
                    Diagnostic::error(Code::MissingParam, format!("param `{name}` has no value"))
                        .label(decl.node.name.span, "declared without a default")
                        .help(help),
                )
            }
        };
        remember(&mut self.params, (0, name.to_string()), &result);
        result
    }

    /// Every value the caller gives must be for a `@var` param (a
    /// `TPT_VAR_NAME` naming no param at all is someone else's).
    fn check_vars(&mut self) {
        let root = self.p.module(self.p.root());
        let mut seen = foldhash::HashSet::new();
        for var in self.inputs.vars() {
            if !seen.insert((var.name.clone(), var.origin == VarOrigin::Flag)) {
                continue;
            }
            let shown = var.shown();
            match root.params.get(&var.name) {
                Some(p) if p.has_annotation("var") => {}
                Some(p) => self.diags.push(
                    Diagnostic::error(
                        Code::UnknownParam,
                        format!("{shown} sets param `{}`, which is not `@var`", var.name),
                    )
                    .label(p.node.name.span, "declared without `@var`")
                    .help(format!(
                        "only params marked `@var` may be set from the command line: write `@var param {} …`, or set it in an environment",
                        var.name
                    )),
                ),
                None if var.origin == VarOrigin::Env => {}
                None => {
                    let mut d = Diagnostic::error(
                        Code::UnknownParam,
                        format!("{shown} sets `{}`, which is not a param", var.name),
                    );
                    let vars = root
                        .params
                        .iter()
                        .filter(|(_, p)| p.has_annotation("var"))
                        .map(|(n, _)| n.as_str());
                    d = match did_you_mean(&var.name, vars) {
                        Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
                        None => d.help("declare it with `@var param NAME: TYPE` in the root configuration"),
                    };
                    self.diags.push(d);
                }
            }
        }
    }

    /// The value of `var` for param `decl`: the text itself for a param that
    /// takes a string, else a literal written as in tpt; fitted to its type.
    fn var_value(
        &mut self,
        var: &Var,
        decl: &crate::program::Decl<crate::syntax::ast::Param>,
    ) -> Result<(Value, BTreeSet<String>), Diagnostic> {
        let shown = var.shown();
        let ty_shown = self.p.show(&decl.ty);
        let fix = |mut d: Diagnostic| {
            // The value has no place in a file: say where it came from instead.
            d.labels.clear();
            d.message = format!("in {shown}: {}", d.message);
            if d.code == Code::RefinementValue {
                d.help = Some(format!("pass a value of type `{ty_shown}`"));
            }
            d.label(decl.node.name.span, "the param it sets")
        };
        let value = if takes_text(&decl.ty) {
            Value::str(var.text.as_str())
        } else {
            let file = crate::source::FileId(u32::MAX);
            let literal = crate::syntax::parser::parse_expr(file, &var.text).filter(is_literal);
            let Some(e) = literal else {
                return Err(fix(Diagnostic::error(
                    Code::TypeMismatch,
                    format!("expected a literal of type `{}`", self.p.show(&decl.ty)),
                )
                .help(format!(
                    "write the value as in a .tpt file, e.g. `--var {}=3`, `=true`, `=5m`, `='[\"a\", \"b\"]'`; names and calls are not allowed",
                    var.name
                ))));
            };
            let root = self.p.root();
            self.eval(root, &e).map_err(fix)?
        };
        let value = match coerce::fit(value, &decl.ty, self) {
            Ok(v) => v,
            Err(what) => {
                return Err(fix(Diagnostic::error(
                    Code::TypeMismatch,
                    format!("param `{}`: {what}", var.name),
                )
                .help(format!("give a value of type `{}`", self.p.show(&decl.ty)))))
            }
        };
        let ctx = coerce::Ctx::Text(&format!("param `{}`", var.name));
        self.coerce(value, &decl.ty, decl.node.name.span, &ctx)
            .map(|v| (v, BTreeSet::new()))
            .map_err(fix)
    }

    /// The value of a top-level `let`.
    fn let_value(&mut self, m: ModuleId, name: &str) -> Result<(Value, BTreeSet<String>), Diagnostic> {
        // A component sees its file's `let`s; they are evaluated there.
        let owner = self.p.module(m).owner_of(m, name);
        if owner != m {
            return self.let_value(owner, name);
        }
        let key = (self.frame_for(m), m, name.to_string());
        let Some(decl) = self.p.module(m).lets.get(name) else {
            return Err(
                Diagnostic::error(Code::UnknownName, format!("unknown name `{name}`"))
                    .help("check the spelling"),
            );
        };
        match self.lets.get(&key) {
            Some(Slot::Done(v, d)) => return Ok((v.clone(), d.clone())),
            Some(Slot::InProgress) => {
                return Err(
                    Diagnostic::error(Code::LetCycle, format!("`{name}` depends on itself"))
                        .label(decl.node.name.span, "this `let` is part of a cycle")
                        .help(
                            "a `let` cannot use its own value, directly or through functions or other `let`s",
                        ),
                );
            }
            None => {}
        }
        self.lets.insert(key.clone(), Slot::InProgress);
        self.building.push(Building::Let(name.to_string()));
        let (v, deps) = self.isolated(Vec::new(), |ev| ev.eval(m, &decl.node.value));
        self.building.pop();
        // Decoded YAML or JSON: fitted to the declared type, which it must have.
        let decoded = ["yaml_decode", "json_decode"]
            .iter()
            .find_map(|n| decl.node.value.call_of(n).map(|args| (*n, args)));
        let v = match (v, decoded) {
            (Ok(v), Some((fname, args))) if !v.contains_unknown() => {
                let source = args
                    .first()
                    .and_then(files::file_named)
                    .unwrap_or_else(|| format!("the text `{fname}` decodes"));
                coerce::fit(v, &decl.ty, self).map_err(|what| {
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("{source} does not fit `let {name}`: {what}"),
                    )
                    .label(
                        decl.node.value.span,
                        format!("decoded as `{}`", self.p.show(&decl.ty)),
                    )
                    .help("change the file, or the declared type")
                })
            }
            (v, _) => v,
        };
        let v = match (v, &decl.node.ty) {
            (Ok(v), Some(_)) => self.coerce(
                v,
                &decl.ty,
                decl.node.value.span,
                &coerce::Ctx::Text(&format!("`let {name}`")),
            ),
            (v, _) => v,
        };
        let result = v.map(|v| (v, deps));
        remember(&mut self.lets, key, &result);
        result
    }
}

/// Whether a param's value from the command line is its text as it is: the
/// type takes a string.
fn takes_text(ty: &crate::types::Ty) -> bool {
    use crate::types::Ty;
    match ty.non_null().resolved() {
        Ty::String | Ty::Secret | Ty::Literal(_) => true,
        Ty::Refined(base, _) => takes_text(base),
        Ty::Union(ts) => !ts.is_empty() && ts.iter().all(takes_text),
        _ => false,
    }
}

/// Whether an expression is a literal (what `--var` may write): no names, calls
/// or interpolations.
fn is_literal(e: &crate::syntax::ast::Expr) -> bool {
    use crate::syntax::ast::{ExprKind, StrPart, UnaryOp};
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Duration(_)
        | ExprKind::Bool(_)
        | ExprKind::Null => true,
        ExprKind::Str(parts) => parts.iter().all(|p| matches!(p, StrPart::Text(_))),
        ExprKind::List(items) => items.iter().all(is_literal),
        ExprKind::Record(entries) => entries.iter().all(|en| is_literal(&en.value)),
        ExprKind::Paren(inner) => is_literal(inner),
        ExprKind::Unary(UnaryOp::Neg, inner) => matches!(inner.kind, ExprKind::Int(_) | ExprKind::Float(_)),
        _ => false,
    }
}
