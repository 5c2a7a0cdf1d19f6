//! The library API of tpt's workflow: a configuration loaded and checked
//! ([`load`] → [`Checked`]), then a [`Session`] on one environment of it —
//! its settings read once ([`Settings`]), its state backend and the engine —
//! that plans ([`Session::plan`]: state → reconcile → refresh → evaluate →
//! data reads → graph → diff), says what cannot be applied before anything
//! runs ([`Session::cannot_apply`]) and applies ([`Session::apply`]).
//!
//! The CLI parses arguments into [`Settings`] and renders what a session
//! returns; the end-to-end tests drive a session directly. Errors are
//! diagnostics; notes for the user (an interrupted create adopted) go to the
//! caller's `notify`, since only the CLI prints.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tpt_lang::diagnostic::{plural, sort_diagnostics};
use tpt_lang::{Code, Diagnostic, KnownOutputs, Program, ResourceInstance};
use tpt_planner::backend::StateBackend;
use tpt_planner::graph::ResourceGraph;
use tpt_planner::plan::{self, Action, Plan};
use tpt_planner::state::{Sealer, State};

use crate::apply::{Job, Report};
use crate::events::Events;
use crate::host::{root_files, DiskFs, EnvInputs};
use crate::lock::Held;
use crate::{Engine, Failure};

/// How long one operation may take when its schema gives no `@timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Where a configuration's state lives.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendChoice {
    /// Files in the configuration's `.tpt/` directory.
    Local,
    /// Secrets and Leases in `namespace` of the cluster `context` of `kubeconfig`.
    Kubernetes {
        kubeconfig: PathBuf,
        context: Option<String>,
        namespace: String,
    },
    /// Objects under `prefix` in the S3 bucket `bucket`, encrypted (with the
    /// KMS key `kms_key`, else S3's), written conditionally.
    S3 {
        bucket: String,
        prefix: String,
        kms_key: Option<String>,
    },
    /// A name `TPT_STATE_BACKEND` gave that tpt does not know.
    Unknown(String),
}

/// What a session needs to know, read once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration: a `.tpt` file, or a directory holding `main.tpt`.
    pub path: PathBuf,
    /// The environment (`--env`); required when the configuration declares any.
    pub env: Option<String>,
    pub backend: BackendChoice,
    /// `TPT_STATE_KEY`: the state key, in place of the backend's.
    pub state_key: Option<Vec<u8>>,
    /// How long to wait for another run's lock.
    pub lock_timeout: Duration,
    /// Bounds every wait of refresh, lookups and apply (`--wait-timeout`).
    pub wait_limit: Option<Duration>,
    /// Ctrl-C and SIGTERM interrupt the session's work instead of ending the
    /// process (the CLI: so that state is saved and the lock released).
    pub interrupt_on_signals: bool,
}

impl Settings {
    /// The settings of the configuration at `path`, the state backend and key
    /// read from the process environment: `TPT_STATE_BACKEND` (`local`, the
    /// default, or `kubernetes` with `TPT_STATE_KUBECONFIG` — default
    /// `$KUBECONFIG`, then `~/.kube/config` —, `TPT_STATE_CONTEXT` and
    /// `TPT_STATE_NAMESPACE`, default `tpt`; or `s3` with `TPT_STATE_BUCKET`,
    /// `TPT_STATE_PREFIX` — default `tpt/` — and `TPT_STATE_KMS_KEY`, through the
    /// standard AWS chain) and `TPT_STATE_KEY`.
    pub fn from_env(path: &Path) -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let backend = match var("TPT_STATE_BACKEND").as_deref() {
            None | Some("local") => BackendChoice::Local,
            Some("kubernetes") => BackendChoice::Kubernetes {
                kubeconfig: var("TPT_STATE_KUBECONFIG")
                    .or_else(|| var("KUBECONFIG"))
                    .map(PathBuf::from)
                    .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
                    .unwrap_or_default(),
                context: var("TPT_STATE_CONTEXT"),
                namespace: var("TPT_STATE_NAMESPACE").unwrap_or_else(|| "tpt".into()),
            },
            Some("s3") => BackendChoice::S3 {
                bucket: var("TPT_STATE_BUCKET").unwrap_or_default(),
                prefix: var("TPT_STATE_PREFIX").unwrap_or_else(|| "tpt/".into()),
                kms_key: var("TPT_STATE_KMS_KEY"),
            },
            Some(other) => BackendChoice::Unknown(other.to_string()),
        };
        Settings {
            path: path.to_path_buf(),
            env: None,
            backend,
            state_key: var("TPT_STATE_KEY").map(String::into_bytes),
            lock_timeout: Duration::ZERO,
            wait_limit: None,
            interrupt_on_signals: false,
        }
    }

    /// `.tpt/` beside the configuration: in the directory, or beside the file.
    pub fn state_dir(&self) -> PathBuf {
        let base = if self.path.is_dir() {
            self.path.clone()
        } else {
            self.path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        base.join(".tpt")
    }

    /// The state backend these settings name.
    pub fn open_backend(&self) -> Result<Box<dyn StateBackend>, Diagnostic> {
        crate::lock::open_backend(&self.backend, &self.state_dir())
    }

    /// The state key: the one given, else the backend's (`.tpt/state.key`,
    /// or a Secret beside Kubernetes state), made once when missing.
    pub fn state_key(&self, backend: &dyn StateBackend) -> Result<Vec<u8>, Diagnostic> {
        if let Some(k) = &self.state_key {
            return Ok(k.clone());
        }
        backend.key().map_err(|e| {
            Diagnostic::error(Code::Io, format!("cannot read the state key: {e}")).help(
                "the key fingerprints secrets and derives generated passwords: restore it (a new one would change every generated password), or set TPT_STATE_KEY",
            )
        })
    }
}

/// A configuration loaded and type-checked.
pub struct Checked {
    pub program: Program,
    /// Loading and checking diagnostics, sorted by location.
    pub diagnostics: Vec<Diagnostic>,
    /// What evaluation reads from outside: `secret_env`, `--var`s, `TPT_VAR_`s.
    pub inputs: EnvInputs,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The configuration's directory: of its root file (`main.tpt`).
    pub fn dir(&self) -> std::sync::Arc<Path> {
        let root = self.program.modules.first().and_then(|m| m.files.first());
        let dir = root
            .and_then(|f| self.program.sources.get(*f))
            .and_then(|f| Path::new(&f.name).parent())
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::sync::Arc::from(dir)
    }

    /// Files of the configuration (the standard library not counted).
    pub fn file_count(&self) -> usize {
        self.program
            .modules
            .iter()
            .filter(|m| !m.name.starts_with("std."))
            .map(|m| m.files.len())
            .sum()
    }

    /// Names of the root module's environments, in declaration order.
    pub fn environments(&self) -> Vec<String> {
        tpt_planner::check::environments(&self.program)
    }

    /// Evaluates environment `env` with the outputs already known.
    pub fn evaluate(
        &self,
        env: Option<&str>,
        known: &KnownOutputs,
    ) -> Result<tpt_lang::Evaluated, Vec<Diagnostic>> {
        tpt_lang::evaluate_with(&self.program, env, &self.inputs, known).map_err(|mut diags| {
            sort_diagnostics(&mut diags);
            diags
        })
    }
}

/// Loads the configuration at `path` from disk (its loading errors are the
/// checker's to report); an error when `path` holds no configuration.
pub fn load_program(path: &Path) -> Result<Program, Diagnostic> {
    Ok(Program::load(&DiskFs, &root_files(path)?))
}

/// Loads the configuration at `path` from disk and runs the type checker.
pub fn load(path: &Path) -> Checked {
    match load_program(path) {
        Ok(program) => {
            let mut diagnostics = tpt_lang::check(&program);
            sort_diagnostics(&mut diagnostics);
            Checked {
                program,
                diagnostics,
                inputs: EnvInputs::from_env(),
            }
        }
        Err(d) => Checked {
            program: Program::default(),
            diagnostics: vec![d],
            inputs: EnvInputs::from_env(),
        },
    }
}

/// Why a session's step stopped.
#[derive(Debug)]
pub enum Stop {
    /// It failed: these diagnostics say why.
    Failed(Vec<Diagnostic>),
    /// Ctrl-C or SIGTERM: nothing more was done (what was done is recorded).
    Interrupted,
}

impl From<Vec<Diagnostic>> for Stop {
    fn from(d: Vec<Diagnostic>) -> Stop {
        Stop::Failed(d)
    }
}

impl From<Diagnostic> for Stop {
    fn from(d: Diagnostic) -> Stop {
        Stop::Failed(vec![d])
    }
}

impl From<crate::Interrupted> for Stop {
    fn from(_: crate::Interrupted) -> Stop {
        Stop::Interrupted
    }
}

/// How to plan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Read the live objects first (drift).
    pub refresh: bool,
    /// Plan the deletion of everything recorded.
    pub destroy: bool,
    /// Only these addresses (and what they need, or what depends on what is deleted).
    pub targets: Vec<String>,
    /// Follow the creates an interrupted run left unconfirmed (apply only: it writes state).
    pub reconcile: bool,
    /// Only accept drift into the state: no object is changed (`--refresh-only`).
    pub refresh_only: bool,
}

/// A plan and what applying it needs.
pub struct Planned {
    pub plan: Plan,
    /// The recorded state as the providers see it (refreshed).
    pub state: State,
    pub resources: Vec<ResourceInstance>,
    pub graph: ResourceGraph,
    pub known: KnownOutputs,
    pub sealer: Sealer,
    pub key: Vec<u8>,
    /// The root outputs as planned (unknown where they read what only the apply knows).
    pub outputs: tpt_lang::IndexMap<String, tpt_lang::value::Value>,
}

/// One environment of a checked configuration, its state backend and the engine.
pub struct Session<'c> {
    pub checked: &'c Checked,
    /// The environment (`None`: a configuration without environments).
    pub env: Option<String>,
    /// The name its state is kept under (`default` without environments).
    pub env_name: String,
    pub engine: Engine,
    settings: Settings,
    backend: Box<dyn StateBackend>,
}

impl<'c> Session<'c> {
    /// A session on the environment `settings.env` of `checked` (which must
    /// have no errors): chooses the environment, opens the backend, starts the engine.
    pub fn open(checked: &'c Checked, settings: Settings) -> Result<Session<'c>, Vec<Diagnostic>> {
        let env =
            tpt_planner::check::select_environments(&checked.environments(), settings.env.as_deref(), true)
                .map_err(|d| vec![d])?
                .pop()
                .flatten();
        let backend = settings.open_backend().map_err(|d| vec![d])?;
        let mut engine = Engine::new().map_err(|m| {
            vec![Diagnostic::error(Code::Io, m)
                .help("this is a problem of the machine, not of the configuration")]
        })?;
        engine.wait_limit = settings.wait_limit;
        engine.base_dir = checked.dir();
        if settings.interrupt_on_signals {
            engine.interrupt_on_signals();
        }
        Ok(Session {
            checked,
            env_name: env.clone().unwrap_or_else(|| "default".to_string()),
            env,
            engine,
            settings,
            backend,
        })
    }

    pub fn backend(&self) -> &dyn StateBackend {
        self.backend.as_ref()
    }

    /// Takes the environment's state lock for `operation` (waiting up to the
    /// settings' lock timeout, or until interrupted; `notify` hears that it
    /// waits and for whom); released when the result is dropped.
    pub fn lock(&self, operation: &str, notify: &dyn Fn(&str)) -> Result<Held<'_>, Stop> {
        let interrupted = || self.engine.is_interrupted();
        let waiting = |holder: &tpt_planner::backend::LockInfo| {
            let note = format!(
                "waiting up to {} for the state lock of `{}`, held by {} since {} (operation: {})…",
                crate::events::human_duration(self.settings.lock_timeout),
                self.env_name,
                holder.who,
                holder.when,
                holder.operation
            );
            tracing::info!("{note}");
            notify(&note);
        };
        let took_over = |holder: &tpt_planner::backend::LockInfo| {
            let note = format!(
                "warning: took over the state lock of `{}` left by {} (operation: {}, since {}, lock ID {}): that process is gone",
                self.env_name, holder.who, holder.operation, holder.when, holder.id
            );
            tracing::warn!("{note}");
            notify(&note);
        };
        crate::lock::acquire_unless(
            self.backend(),
            &self.env_name,
            operation,
            self.settings.lock_timeout,
            &interrupted,
            &waiting,
            &took_over,
        )
        .map_err(|e| e.map_or(Stop::Interrupted, Stop::from))
    }

    /// Whether Ctrl-C or SIGTERM came during the session.
    pub fn interrupted(&self) -> bool {
        self.engine.is_interrupted()
    }

    /// Evaluates the session's environment with the outputs already known.
    pub fn evaluate(&self, known: &KnownOutputs) -> Result<tpt_lang::Evaluated, Vec<Diagnostic>> {
        self.checked.evaluate(self.env.as_deref(), known)
    }

    /// Reads the state (the caller holds the lock), follows interrupted
    /// creates (with `options.reconcile`), refreshes, evaluates with what is
    /// known, reads data lookups and diffs. `notify` receives notes for the
    /// user: each phase that calls out as it starts, and what it found.
    pub fn plan(&self, options: &Options, notify: &dyn Fn(&str)) -> Result<Planned, Stop> {
        let notify = |note: &str| {
            tracing::info!(environment = %self.env_name, "{note}");
            notify(note);
        };
        let engine = &self.engine;
        let env_name = self.env_name.as_str();
        let program = &self.checked.program;
        let provider_failures = |what: &str, failures: Vec<Failure>| -> Vec<Diagnostic> {
            failures
                .into_iter()
                .map(|f| {
                    let help = if what == "refresh" {
                        "check the provider's credentials and endpoint, or plan with `--refresh=false` to use the recorded state as it is"
                    } else {
                        "check the provider's credentials and endpoint, and what the message names"
                    };
                    let d = Diagnostic::error(Code::ProviderFailed, format!("cannot {what} `{}`: {}", f.address, f.message))
                        .help(help);
                    // At the resource's declaration (`app["a"]` is declared as `app`).
                    let name = f.address.split(['[', '.']).next().unwrap_or_default();
                    match program.module(program.root()).resources.get(name) {
                        Some(r) => d.label(r.node.name.span, "this resource"),
                        None => d,
                    }
                })
                .collect()
        };
        if self.settings.backend != BackendChoice::Local {
            notify(&format!("reading the state of `{env_name}`…"));
        }
        let mut state = match self.backend.read(env_name) {
            Ok(s) => s.unwrap_or_else(|| State::new(env_name, String::new())),
            Err(e) => return Err(crate::lock::backend_error(env_name, e).into()),
        };
        let key = self.settings.state_key(self.backend())?;
        if self.interrupted() {
            return Err(Stop::Interrupted);
        }
        let sealer = Sealer::new(&key);
        if !state.intents.is_empty() {
            if options.reconcile {
                notify(&format!(
                    "looking up {} an interrupted apply left unconfirmed…",
                    plural(state.intents.len(), "create")
                ));
                let (adopted, failures) = engine.reconcile(&mut state, self.backend(), &key)?;
                for a in adopted {
                    notify(&format!(
                        "{a}: found the object an interrupted apply began; recorded it (applying finishes it)"
                    ));
                }
                if !failures.is_empty() {
                    return Err(provider_failures("look up", failures).into());
                }
            } else {
                for a in state.intents.keys() {
                    notify(&format!(
                        "warning: an earlier apply was interrupted while creating `{a}`; the next `tpt apply` looks it up before anything else"
                    ));
                }
            }
        }
        let mut live = BTreeMap::new();
        if options.refresh && !state.resources.is_empty() {
            notify(&format!(
                "refreshing {}…",
                plural(state.resources.len(), "resource")
            ));
            let (answers, failures) = engine.refresh(&state, &key)?;
            if !failures.is_empty() {
                return Err(provider_failures("refresh", failures).into());
            }
            live = answers;
        }
        let (mut refreshed, _) = tpt_planner::refresh::apply_live(&state, &live);
        // Evaluated with the outputs an earlier apply recorded (and secret ones,
        // derived) known, then again when data lookups added theirs.
        let mut known = self.known(&refreshed, &key);
        let mut evaluated = if options.destroy {
            tpt_lang::Evaluated::default()
        } else {
            self.evaluate(&known)?
        };
        if !options.destroy {
            let program = &self.checked.program;
            let lookups = evaluated
                .resources
                .iter()
                .filter(|r| program.schema(r.schema).is_data())
                .count();
            if lookups > 0 {
                notify(&format!("reading {}…", plural(lookups, "data lookup")));
            }
            let failures = engine.read_data(&evaluated.resources, &refreshed, &key, &mut known)?;
            if !failures.is_empty() {
                return Err(provider_failures("read", failures).into());
            }
            if evaluated
                .resources
                .iter()
                .any(|r| known.outputs.contains_key(&r.address) && program.schema(r.schema).is_data())
            {
                evaluated = self.evaluate(&known)?;
            }
        }
        // `import` blocks: each object not recorded yet is read as the resource it
        // becomes, and planned against as if it were recorded.
        let mut imported: BTreeMap<String, String> = BTreeMap::new();
        if !options.destroy && !options.refresh_only {
            let pending: Vec<(String, String)> = evaluated
                .imports
                .iter()
                .filter(|(a, _)| !refreshed.resources.contains_key(a))
                .cloned()
                .collect();
            if !pending.is_empty() {
                notify(&format!("reading {} to import…", plural(pending.len(), "object")));
                for (address, id) in &pending {
                    let record =
                        self.read_import(&evaluated.resources, &refreshed, address, id, &key, &sealer)?;
                    state.resources.insert(address.clone(), record.clone());
                    refreshed.resources.insert(address.clone(), record);
                    imported.insert(address.clone(), id.clone());
                }
                let mut theirs = tpt_planner::state::known_outputs(&self.checked.program, &refreshed);
                for address in imported.keys() {
                    if let Some(o) = theirs.outputs.remove(address) {
                        known.outputs.insert(address.clone(), o);
                    }
                }
                evaluated = self.evaluate(&known)?;
            }
        }
        if !options.destroy {
            plan::ignore_changes(&self.checked.program, &mut evaluated.resources, &refreshed);
            let renders = engine.renders(&evaluated.resources, &refreshed);
            if renders > 0 {
                notify(&format!(
                    "rendering {} (charts, gateways)…",
                    plural(renders, "resource")
                ));
            }
            let failures = engine.render(&mut evaluated.resources, &refreshed, &key)?;
            if !failures.is_empty() {
                return Err(provider_failures("render", failures).into());
            }
        }
        let graph = tpt_planner::graph::build(&evaluated.resources)?;
        let mut p = plan::diff_refreshed(
            &self.checked.program,
            env_name,
            &evaluated.resources,
            &graph,
            &state,
            &live,
            &sealer,
        );
        for c in &mut p.changes {
            c.imported_from = imported.get(&c.address).cloned();
        }
        if !options.targets.is_empty() {
            for t in &options.targets {
                if graph.node(t).is_none() && !state.resources.contains_key(t) {
                    return Err(unknown_target(t, env_name, &evaluated.resources, &state).into());
                }
            }
            plan::restrict(&mut p, &options.targets, &graph, &state);
        }
        // `@prevent_destroy`: a destroy asks the configuration which resources it
        // protects. With `--refresh-only`, what refresh found is all there is to
        // apply (outputs follow the live objects).
        let protected = if options.refresh_only {
            p.changes.clear();
            p.refresh_only = true;
            Vec::new()
        } else if !options.destroy {
            plan::prevented(&p, &evaluated.resources)
        } else if self.protects_any() {
            let config = self.evaluate(&known).map_err(|mut diags| {
                diags.insert(
                    0,
                    Diagnostic::error(
                        Code::PreventDestroy,
                        "cannot tell which resources are `@prevent_destroy`: the configuration does not evaluate",
                    )
                    .help("fix the errors below, then destroy again"),
                );
                Stop::Failed(diags)
            })?;
            plan::prevented(&p, &config.resources)
        } else {
            Vec::new()
        };
        if !protected.is_empty() {
            return Err(Stop::Failed(protected));
        }
        if !options.refresh_only {
            p.notes = skipped_waits(&p, &evaluated.resources);
        }
        if options.targets.is_empty() || options.refresh_only {
            p.outputs = plan::output_changes(&refreshed, &evaluated.outputs, &sealer);
        }
        Ok(Planned {
            plan: p,
            state: refreshed,
            resources: evaluated.resources,
            graph,
            known,
            sealer,
            key,
            outputs: evaluated.outputs,
        })
    }

    /// `tpt import ADDRESS ID`: records the existing object `id` (in the form
    /// its kind says) as the resource the configuration declares at
    /// `address`, as the kind reads it back; changes no object. The caller
    /// holds the lock. Returns the ID's form, for the message.
    pub fn import(&self, address: &str, id: &str) -> Result<(), Stop> {
        let env = self.env_name.as_str();
        let mut state = self
            .backend
            .read(env)
            .map_err(|e| Stop::Failed(vec![crate::lock::backend_error(env, e)]))?
            .unwrap_or_else(|| State::new(env, String::new()));
        if state.lineage.is_empty() {
            state.lineage = uuid::Uuid::new_v4().to_string();
        }
        if state.resources.contains_key(address) {
            return Err(Stop::Failed(vec![Diagnostic::error(
                Code::StateAddress,
                format!("`{address}` is already recorded in `{env}`"),
            )
            .help(format!(
                "`tpt state rm {address}` forgets the recorded object first, if another one should take its place"
            ))]));
        }
        let key = self.settings.state_key(self.backend())?;
        let sealer = Sealer::new(&key);
        let evaluated = self.evaluate(&self.known(&state, &key))?;
        if !evaluated.resources.iter().any(|r| r.address == address) {
            let d = Diagnostic::error(
                Code::UnknownTarget,
                format!("`{address}` is not a resource of the configuration in `{env}`"),
            );
            let d = match tpt_lang::diagnostic::did_you_mean(address, evaluated.resources.iter().map(|r| r.address.as_str())) {
                Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
                None => d.help("declare the resource first: `tpt import` records an object as a resource the configuration declares"),
            };
            return Err(Stop::Failed(vec![d]));
        }
        let record = self.read_import(&evaluated.resources, &state, address, id, &key, &sealer)?;
        state.resources.insert(address.to_string(), record);
        state.serial += 1;
        self.backend
            .write(env, &state)
            .map_err(|e| Stop::Failed(vec![crate::lock::backend_error(env, e)]))
    }

    /// The record an import makes: the resource at `address` (one of
    /// `resources`) with the object `id`, as its kind reads it back; `state`
    /// gives the records it refers to. Refused for kinds that cannot adopt.
    fn read_import(
        &self,
        resources: &[ResourceInstance],
        state: &State,
        address: &str,
        id: &str,
        key: &[u8],
        sealer: &Sealer,
    ) -> Result<tpt_planner::state::ResourceState, Stop> {
        let Some(r) = resources.iter().find(|r| r.address == address) else {
            return Err(unknown_target(address, &self.env_name, resources, state).into());
        };
        let at = |d: Diagnostic| d.label(r.span, "declared here");
        if self.checked.program.schema(r.schema).is_data() {
            return Err(Stop::Failed(vec![at(Diagnostic::error(
                Code::ProviderFailed,
                format!("`{address}` is a `@data` lookup: there is nothing to import"),
            )
            .help("lookups are read at every plan"))]));
        }
        let form = match self.engine.import_id(&r.kind) {
            None => {
                return Err(Stop::Failed(vec![at(Diagnostic::error(
                    Code::NoProvider,
                    format!("no provider can apply `{}`", r.kind),
                )
                .help(
                    "a resource schema of one's own applies through the kind it `extends`",
                ))]))
            }
            Some(Err(why)) => {
                return Err(Stop::Failed(vec![at(Diagnostic::error(
                    Code::ProviderFailed,
                    format!("`{}` cannot import: {why}", r.kind),
                )
                .help("let tpt create the object instead (`tpt apply`)"))]))
            }
            Some(Ok(form)) => form,
        };
        // A provisional record: the configuration's inputs, the given ID; what
        // the kind reads back replaces what it can see.
        let mut record = tpt_planner::state::record(r, id, None, sealer);
        let mut with = state.clone();
        with.resources.insert(address.to_string(), record.clone());
        let live = self
            .engine
            .read_one(&with, address, key)
            .map_err(|_| Stop::Interrupted)?
            .map_err(|m| {
                Stop::Failed(vec![at(Diagnostic::error(
                    Code::ProviderFailed,
                    format!("cannot read `{id}` as `{address}` ({}): {m}", r.kind),
                )
                .help(format!("the ID of a `{}` is {form}", r.kind)))])
            })?;
        match live {
            tpt_planner::refresh::Live::Gone => Err(Stop::Failed(vec![at(Diagnostic::error(
                Code::ProviderFailed,
                format!("there is no `{}` with the ID `{id}`", r.kind),
            )
            .help(format!("the ID of a `{}` is {form}", r.kind)))])),
            tpt_planner::refresh::Live::Present { inputs, outputs } => {
                record.inputs.extend(inputs);
                record.outputs = outputs;
                Ok(record)
            }
        }
    }

    /// The outputs `state` records, and the secret ones its kinds derive
    /// from the state key: what evaluation may treat as known.
    fn known(&self, state: &State, key: &[u8]) -> KnownOutputs {
        let mut known = tpt_planner::state::known_outputs(&self.checked.program, state);
        self.engine.secret_outputs(state, key, &mut known);
        known
    }

    /// Whether any resource of the configuration is `@prevent_destroy`.
    fn protects_any(&self) -> bool {
        self.checked.program.modules.iter().any(|m| {
            m.resources
                .values()
                .any(|r| r.annotations.iter().any(|a| a.name.name == "prevent_destroy"))
        })
    }

    /// The recorded state of the session's environment; an error when there is none.
    pub fn recorded(&self) -> Result<State, Diagnostic> {
        read_recorded(self.backend(), &self.env_name)
    }

    /// The root outputs as the configuration gives them now, with the outputs
    /// of the recorded state (and secret ones, derived) known: how `tpt output
    /// NAME --show-secret` finds a secret's value, which the state holds only as a
    /// fingerprint. Nothing is refreshed.
    pub fn current_outputs(
        &self,
    ) -> Result<tpt_lang::IndexMap<String, tpt_lang::value::Value>, Vec<Diagnostic>> {
        let state = read_recorded(self.backend(), &self.env_name).map_err(|d| vec![d])?;
        let key = self.settings.state_key(self.backend()).map_err(|d| vec![d])?;
        Ok(self.evaluate(&self.known(&state, &key))?.outputs)
    }

    /// The root outputs once an apply ended with `state`: evaluated with every
    /// recorded output (and secret ones, derived) known, recorded in the state
    /// (secrets as fingerprints; outputs still unknown, after a failure, left
    /// out) and written when they changed. Returns the state and the outputs.
    /// After a destroy, no output is recorded.
    pub fn record_outputs(
        &self,
        planned: &Planned,
        mut state: State,
        destroy: bool,
    ) -> Result<(State, tpt_lang::IndexMap<String, tpt_lang::value::Value>), Vec<Diagnostic>> {
        let program = &self.checked.program;
        let outputs = if destroy || program.module(program.root()).outputs.is_empty() {
            tpt_lang::IndexMap::default()
        } else {
            self.evaluate(&self.known(&state, &planned.key))?.outputs
        };
        let recorded: BTreeMap<String, serde_json::Value> = outputs
            .iter()
            .filter(|(_, v)| !v.contains_unknown())
            .map(|(k, v)| (k.clone(), tpt_planner::state::store(v, &planned.sealer)))
            .collect();
        if recorded != state.outputs {
            state.outputs = recorded;
            state.serial += 1;
            self.backend
                .write(&self.env_name, &state)
                .map_err(|e| vec![crate::lock::backend_error(&self.env_name, e)])?;
        }
        Ok((state, outputs))
    }

    /// Why the changes of `planned` cannot be applied, found before anything
    /// runs: a resource whose kind tpt has no module for (E0801), or inputs
    /// its kind cannot turn into a request (E0800). Each at its resource.
    pub fn cannot_apply(&self, planned: &Planned) -> Vec<Diagnostic> {
        let instances: HashMap<&str, &ResourceInstance> = planned
            .resources
            .iter()
            .map(|r| (r.address.as_str(), r))
            .collect();
        let at = |d: Diagnostic, address: &str, label: &str| match instances.get(address) {
            Some(r) => d.label(r.span, label.to_string()),
            None => d,
        };
        let kind_of = |address: &str| -> Option<String> {
            match instances.get(address) {
                Some(r) => Some(r.kind.clone()),
                None => planned.state.resources.get(address).map(|r| r.kind().to_string()),
            }
        };
        let changes = || planned.plan.changes.iter().filter(|c| c.action != Action::NoOp);
        let mut problems: Vec<Diagnostic> = changes()
            .filter_map(|c| {
                let kind = kind_of(&c.address)?;
                if self.engine.supports(&kind) {
                    return None;
                }
                let d = Diagnostic::error(
                    Code::NoProvider,
                    format!("no provider can apply `{}` (`{}`)", c.schema, c.address),
                )
                .help(format!(
                    "tpt applies {}; a resource schema of one's own applies through the kind it `extends`; remove the resource or plan with `--target` to leave it out",
                    self.engine.kinds().join(", ")
                ));
                Some(at(d, &c.address, "declared here"))
            })
            .collect();
        let to_apply: Vec<&ResourceInstance> = changes()
            .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Replace))
            .filter_map(|c| instances.get(c.address.as_str()).copied())
            .collect();
        for f in self.engine.validate(&to_apply) {
            let d = Diagnostic::error(
                Code::ProviderFailed,
                format!("`{}` cannot be applied: {}", f.address, f.message),
            )
            .help("change the resource's inputs as the message says, then run `tpt apply` again: nothing was changed");
            problems.push(at(d, &f.address, "this resource"));
        }
        problems
    }

    /// Applies `planned` with at most `parallelism` operations at once; the
    /// state is written after every operation. Progress goes to `events`.
    pub fn apply(&self, planned: &Planned, parallelism: usize, events: Events) -> (Report, State) {
        let reevaluate = |known: &KnownOutputs| {
            let program = &self.checked.program;
            self.evaluate(known)
                .map(|mut e| {
                    plan::ignore_changes(program, &mut e.resources, &planned.state);
                    e.resources
                })
                .map_err(|diags| {
                    diags
                        .iter()
                        .map(|d| d.message.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
        };
        let job = Job {
            plan: &planned.plan,
            desired: planned.resources.clone(),
            graph: &planned.graph,
            known: planned.known.clone(),
            reevaluate: &reevaluate,
            sealer: &planned.sealer,
            key: &planned.key,
            timeouts: schema_timeouts(&self.checked.program),
            default_timeout: DEFAULT_TIMEOUT,
            parallelism,
            wait_limit: self.settings.wait_limit,
            base_dir: self.engine.base_dir.clone(),
        };
        if planned.plan.refresh_only {
            // The refreshed state is the result: written as it is, nothing else runs.
            let mut state = planned.state.clone();
            let mut report = Report::default();
            if !planned.plan.drift.is_empty() {
                state.serial += 1;
                if let Err(e) = self.backend.write(&self.env_name, &state) {
                    report.state_error = Some(format!("cannot record the refreshed state: {e}"));
                    return (report, planned.state.clone());
                }
            }
            return (report, state);
        }
        // `moved` blocks: the recorded objects take their new addresses first,
        // written before anything runs (a plan of moves alone runs nothing else).
        let mut state = planned.state.clone();
        let imports = planned.plan.changes.iter().any(|c| c.imported_from.is_some());
        if plan::apply_moves(&planned.plan, &mut state) || imports {
            if state.lineage.is_empty() {
                state.lineage = uuid::Uuid::new_v4().to_string();
            }
            state.serial += 1;
            if let Err(e) = self.backend.write(&self.env_name, &state) {
                let report = Report {
                    state_error: Some(format!("cannot record the moves: {e}")),
                    ..Report::default()
                };
                return (report, planned.state.clone());
            }
        }
        self.engine.apply(&job, state, self.backend(), events)
    }
}

/// Whether a saved plan (`tpt plan --out`) may be applied as `planned`, the
/// plan made now: it was made against the same state, and makes the same changes.
pub fn check_saved(saved: &Plan, planned: &Planned) -> Result<(), Diagnostic> {
    let stale = |message: &str| {
        Diagnostic::error(Code::StalePlan, format!("this plan is stale: {message}"))
            .help("make a new plan with `tpt plan --out FILE` and apply that one")
    };
    plan::check_current(saved, &planned.state).map_err(|e| stale(&e.to_string()))?;
    if plan::to_json(saved)["changes"] != plan::to_json(&planned.plan)["changes"] {
        return Err(stale(
            "the configuration (or the live objects) changed since the plan was made",
        ));
    }
    Ok(())
}

/// What the plan skips waiting for: the resources to apply on a cluster
/// whose settings (`load_balancers`, `runs_pods`: `registry::CLUSTER_SETTINGS`)
/// say those waits cannot end there.
fn skipped_waits(p: &Plan, resources: &[ResourceInstance]) -> Vec<String> {
    let by_address: HashMap<&str, &ResourceInstance> =
        resources.iter().map(|r| (r.address.as_str(), r)).collect();
    let cannot = |cluster: &ResourceInstance, setting: &str| {
        matches!(
            cluster.inputs.get(setting),
            Some(tpt_lang::value::Value::Bool(false))
        )
    };
    // cluster address → the resources to apply on it
    let mut on: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in p
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Replace))
    {
        let Some(r) = by_address.get(c.address.as_str()) else {
            continue;
        };
        let Some(tpt_lang::value::Value::Resource(cluster)) = r.inputs.get("cluster") else {
            continue;
        };
        on.entry(&**cluster).or_default().push(r.address.as_str());
    }
    let mut notes = Vec::new();
    for (cluster, addresses) in on {
        let Some(c) = by_address.get(cluster) else {
            continue;
        };
        let list = addresses
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if cannot(c, "load_balancers") {
            notes.push(format!(
                "`{cluster}` has no load balancers (`load_balancers = false`): {list} will not wait for an address, and the outputs that hold one stay empty."
            ));
        }
        if cannot(c, "runs_pods") {
            notes.push(format!(
                "`{cluster}` runs no pods (`runs_pods = false`): {list} will not wait for rollouts or readiness."
            ));
        }
    }
    notes
}

/// `--target t` that names nothing of the environment.
fn unknown_target(t: &str, env_name: &str, resources: &[ResourceInstance], state: &State) -> Diagnostic {
    let known = resources
        .iter()
        .map(|r| r.address.as_str())
        .chain(state.resources.keys().map(String::as_str));
    let d = Diagnostic::error(
        Code::UnknownTarget,
        format!("`--target {t}` names no resource of `{env_name}`"),
    );
    match tpt_lang::diagnostic::did_you_mean(t, known) {
        Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
        None => {
            d.help("`tpt graph --format text` lists the addresses; stamped ones look like `name[\"key\"]`")
        }
    }
}

/// `@timeout(d)` of each resource schema.
fn schema_timeouts(program: &Program) -> HashMap<String, Duration> {
    program
        .schemas
        .iter()
        .filter_map(|s| {
            let a = s.annotations.iter().find(|a| a.name.name == "timeout")?;
            let tpt_lang::syntax::ast::ExprKind::Duration(ms) = a.args.first()?.kind else {
                return None;
            };
            Some((s.name.clone(), Duration::from_millis(ms.max(0).unsigned_abs())))
        })
        .collect()
}

/// A change of the recorded state that `tpt state` makes.
#[derive(Debug, Clone, PartialEq)]
pub enum StateEdit {
    /// Forget the object at the address (the object itself is untouched).
    Remove(String),
    /// Record the object of the first address under the second.
    Move(String, String),
}

/// The recorded state of `env` in the backend of `settings`; an error when
/// there is none.
pub fn recorded_state(settings: &Settings, env: &str) -> Result<State, Diagnostic> {
    read_recorded(settings.open_backend()?.as_ref(), env)
}

fn read_recorded(backend: &dyn StateBackend, env: &str) -> Result<State, Diagnostic> {
    backend
        .read(env)
        .map_err(|e| crate::lock::backend_error(env, e))?
        .ok_or_else(|| {
            Diagnostic::error(
                Code::StateAddress,
                format!("environment `{env}` has no recorded state"),
            )
            .help("state is recorded by `tpt apply`; check `--env` and `--path`")
        })
}

/// Makes `edit` in the recorded state of `env` under its lock (waiting up to
/// the settings' lock timeout), bumping the serial.
pub fn edit_state(settings: &Settings, env: &str, edit: &StateEdit) -> Result<(), Diagnostic> {
    let backend = settings.open_backend()?;
    let backend = backend.as_ref();
    let operation = match edit {
        StateEdit::Remove(_) => "state rm",
        StateEdit::Move(..) => "state mv",
    };
    let _held = crate::lock::acquire(backend, env, operation, settings.lock_timeout)?;
    let mut state = read_recorded(backend, env)?;
    let (StateEdit::Remove(address) | StateEdit::Move(address, _)) = edit;
    let r = state
        .resources
        .remove(address)
        .ok_or_else(|| unknown_address(&state, address, env))?;
    if let StateEdit::Move(_, to) = edit {
        if state.resources.contains_key(to) {
            return Err(Diagnostic::error(
                Code::StateAddress,
                format!("`{to}` is already recorded in `{env}`"),
            )
            .help(format!(
                "remove it first with `tpt state rm {to} --env {env}`, or choose another address"
            )));
        }
        state.resources.insert(to.clone(), r);
    }
    state.serial += 1;
    backend
        .write(env, &state)
        .map_err(|e| crate::lock::backend_error(env, e))
}

/// Releases the lock `id` of `env` (a run that died holding it).
pub fn unlock_state(settings: &Settings, env: &str, id: &str) -> Result<(), Diagnostic> {
    settings
        .open_backend()?
        .unlock(env, id)
        .map_err(|e| crate::lock::backend_error(env, e))
}

/// `address` is not in the state of `env`, with a "did you mean".
pub fn unknown_address(state: &State, address: &str, env: &str) -> Diagnostic {
    let d = Diagnostic::error(
        Code::StateAddress,
        format!("`{address}` is not recorded in the state of `{env}`"),
    );
    match tpt_lang::diagnostic::did_you_mean(address, state.resources.keys().map(String::as_str)) {
        Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
        None => d.help(format!(
            "`tpt state list --env {env}` lists the recorded addresses"
        )),
    }
}
