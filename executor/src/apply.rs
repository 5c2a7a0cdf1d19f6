//! The walker: applies a plan's changes with tokio, each as soon as what it
//! depends on is done, at most `parallelism` at once.
//!
//! - A failed operation fails only what depends on it (those are skipped and
//!   reported once); independent branches go on.
//! - State is written after every operation. A create is preceded by an
//!   intent written to state, so a crash between the provider's answer and the
//!   record leaves a trace the next run reconciles ([`reconcile`]).
//! - Cancelling (Ctrl-C) starts nothing new; running operations finish and are
//!   recorded.
//! - Values known only after apply (`orders.url` for the app) are filled in by
//!   evaluating the configuration again with the outputs applied so far.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as J;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;
use tpt_lang::IndexMap;

use tpt_lang::value::Value;
use tpt_lang::{KnownOutputs, ResourceInstance};
use tpt_planner::backend::{BackendError, StateBackend};
use tpt_planner::graph::ResourceGraph;
use tpt_planner::plan::{Action, Plan};
use tpt_planner::refresh::Live;
use tpt_planner::state::{record, store, Intent, ResourceState, Sealer, State};

use crate::events::{Event, Events};
use crate::provider::{Applied, Cx, Desired, ErrorKind, ProviderError, Providers, Referenced, Secrets};

/// Stops an apply: the first [`Cancel::cancel`] (Ctrl-C) starts nothing new
/// and lets running operations finish; the second aborts them too (a create
/// aborted that way keeps its intent, so the next run looks it up).
#[derive(Clone, Default)]
pub struct Cancel {
    count: Arc<AtomicUsize>,
    notify: Arc<Notify>,
}

impl Cancel {
    pub fn cancel(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// How many times `cancel` was called.
    fn presses(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn is_cancelled(&self) -> bool {
        self.presses() >= 1
    }

    pub fn is_aborted(&self) -> bool {
        self.presses() >= 2
    }

    /// Returns when `cancel` has been called more than `seen` times.
    pub(crate) async fn beyond(&self, seen: usize) {
        loop {
            let notified = self.notify.notified();
            if self.presses() > seen {
                return;
            }
            notified.await;
        }
    }
}

/// Evaluates the configuration again with more outputs known.
pub type Reevaluate<'a> = dyn Fn(&KnownOutputs) -> Result<Vec<ResourceInstance>, String> + 'a;

/// What to apply.
pub struct Job<'a> {
    pub plan: &'a Plan,
    /// The desired instances, evaluated with the outputs known at plan time.
    pub desired: Vec<ResourceInstance>,
    pub graph: &'a ResourceGraph,
    pub known: KnownOutputs,
    pub reevaluate: &'a Reevaluate<'a>,
    pub sealer: &'a Sealer,
    pub key: &'a [u8],
    /// Operation timeouts by schema (`@timeout`), else `default_timeout`.
    pub timeouts: HashMap<String, Duration>,
    pub default_timeout: Duration,
    pub parallelism: usize,
    pub wait_limit: Option<Duration>,
    /// The configuration's directory (paths in inputs are relative to it).
    pub base_dir: Arc<std::path::Path>,
}

/// How one operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    Failed(String),
    /// A dependency failed (named).
    Skipped(String),
    /// Not started: the apply was cancelled.
    NotStarted,
    /// Stopped while running by a second Ctrl-C.
    Interrupted,
}

/// The end of an apply.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per planned address (no-ops left out), in plan order.
    pub outcomes: Vec<(String, Action, Outcome)>,
    /// Fields that differ from the plan after apply: (address, field, planned, got).
    pub mismatches: Vec<(String, String, String, String)>,
    pub cancelled: bool,
    /// A state write failed; the apply stopped (the message says why).
    pub state_error: Option<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|(_, _, o)| f(o)).count()
    }

    pub fn ok(&self) -> bool {
        self.state_error.is_none()
            && !self.cancelled
            && self.outcomes.iter().all(|(_, _, o)| *o == Outcome::Done)
    }
}

/// Writes state from a thread of its own: backends may run their own runtime
/// (the Kubernetes one does), which cannot be entered from inside this one.
#[derive(Clone)]
pub struct StateWriter {
    tx: std::sync::mpsc::Sender<(State, oneshot::Sender<Result<(), BackendError>>)>,
}

impl StateWriter {
    async fn save(&self, state: &State) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((state.clone(), tx))
            .map_err(|_| "the state writer stopped".to_string())?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the state writer stopped".to_string()),
        }
    }
}

/// Runs `f` with a [`StateWriter`] writing to `backend` for `env`.
pub fn with_writer<R>(backend: &dyn StateBackend, env: &str, f: impl FnOnce(StateWriter) -> R) -> R {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<(State, oneshot::Sender<Result<(), BackendError>>)>();
        scope.spawn(move || {
            for (state, reply) in rx {
                let _ = reply.send(backend.write(env, &state));
            }
        });
        f(StateWriter { tx })
    })
}

/// One operation of the walk.
struct Op {
    address: String,
    action: Action,
    schema: String,
    /// Must be done (successfully) first.
    hard: Vec<usize>,
    /// Must be finished (either way) first.
    soft: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Pending,
    Running,
    Finished(Outcome),
}

/// The shared, mutable side of a walk.
struct Walk<'a> {
    job: &'a Job<'a>,
    providers: &'a Providers,
    state: State,
    known: KnownOutputs,
    desired: BTreeMap<String, ResourceInstance>,
    writer: StateWriter,
    events: Events,
    secrets: Arc<Secrets>,
    report: Report,
}

/// Applies `job.plan`. `state` is the recorded state it was planned against;
/// it is saved after each operation through `writer`.
pub async fn apply(
    job: &Job<'_>,
    providers: &Providers,
    mut state: State,
    writer: StateWriter,
    events: Events,
    cancel: Cancel,
) -> (Report, State) {
    let start = Instant::now();
    if state.lineage.is_empty() {
        state.lineage = uuid::Uuid::new_v4().to_string();
    }
    let secrets = Arc::new(Secrets::new(job.key, &state.lineage));
    let ops = operations(job, &state);
    let mut walk = Walk {
        job,
        providers,
        desired: job
            .desired
            .iter()
            .map(|r| (r.address.clone(), r.clone()))
            .collect(),
        known: job.known.clone(),
        state,
        writer,
        events,
        secrets,
        report: Report::default(),
    };
    let mut status: Vec<Status> = vec![Status::Pending; ops.len()];
    let mut tasks: JoinSet<(usize, Result<Finished, ProviderError>)> = JoinSet::new();
    let mut task_ops: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut started_at: HashMap<usize, Instant> = HashMap::new();
    let parallelism = job.parallelism.max(1);
    loop {
        // Skip what depends on a failure, once, naming the failed dependency.
        loop {
            let mut changed = false;
            for i in 0..ops.len() {
                if status[i] != Status::Pending {
                    continue;
                }
                let failed_dep = ops[i]
                    .hard
                    .iter()
                    .find(|&&d| matches!(&status[d], Status::Finished(o) if *o != Outcome::Done));
                if let Some(&d) = failed_dep {
                    let because = match &status[d] {
                        Status::Finished(Outcome::Skipped(root)) => root.clone(),
                        _ => ops[d].address.clone(),
                    };
                    if walk.report.state_error.is_none() && !cancel.is_cancelled() {
                        walk.events.send(
                            &ops[i].address,
                            Event::Skipped {
                                because: because.clone(),
                            },
                        );
                    }
                    status[i] = Status::Finished(Outcome::Skipped(because));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // Start what is ready.
        let stop = cancel.is_cancelled() || walk.report.state_error.is_some();
        if !stop {
            for i in 0..ops.len() {
                if tasks.len() >= parallelism {
                    break;
                }
                if status[i] != Status::Pending {
                    continue;
                }
                let ready = ops[i]
                    .hard
                    .iter()
                    .all(|&d| status[d] == Status::Finished(Outcome::Done))
                    && ops[i]
                        .soft
                        .iter()
                        .all(|&d| matches!(status[d], Status::Finished(_)));
                if !ready {
                    continue;
                }
                match walk.start(&ops[i]).await {
                    Ok(fut) => {
                        status[i] = Status::Running;
                        walk.events.send(
                            &ops[i].address,
                            Event::Started {
                                action: ops[i].action.as_str(),
                            },
                        );
                        let handle = tasks.spawn(async move { (i, fut.await) });
                        task_ops.insert(handle.id(), i);
                        started_at.insert(i, Instant::now());
                    }
                    Err(message) => {
                        walk.events.send(
                            &ops[i].address,
                            Event::Done {
                                action: ops[i].action.as_str(),
                                elapsed: Duration::ZERO,
                                error: Some(message.clone()),
                            },
                        );
                        status[i] = Status::Finished(Outcome::Failed(message));
                    }
                }
                if walk.report.state_error.is_some() {
                    break;
                }
            }
        }
        if tasks.is_empty() {
            let progress = !stop && status.contains(&Status::Pending) && {
                // Something may have become ready by a failure just recorded.
                ops.iter().enumerate().any(|(i, op)| {
                    status[i] == Status::Pending
                        && op
                            .hard
                            .iter()
                            .all(|&d| status[d] == Status::Finished(Outcome::Done))
                        && op.soft.iter().all(|&d| matches!(status[d], Status::Finished(_)))
                })
            };
            if !progress {
                break;
            }
            continue;
        }
        let seen = cancel.presses().min(2);
        let joined = tokio::select! {
            j = tasks.join_next() => j,
            _ = cancel.beyond(seen), if seen < 2 => {
                let hard = cancel.is_aborted();
                walk.events.send("", Event::Interrupted { running: tasks.len(), hard });
                if hard {
                    tasks.abort_all();
                }
                continue;
            }
        };
        let Some(joined) = joined else { continue };
        let (i, result) = match joined {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => {
                if let Some(&i) = task_ops.get(&e.id()) {
                    status[i] = Status::Finished(Outcome::Interrupted);
                }
                continue;
            }
            Err(e) => {
                // A provider panicked: a bug of tpt, reported as that operation's failure.
                let message = format!("internal error in the provider (a bug of tpt): {e}");
                if let Some(&i) = task_ops.get(&e.id()) {
                    walk.events.send(
                        &ops[i].address,
                        Event::Done {
                            action: ops[i].action.as_str(),
                            elapsed: Duration::ZERO,
                            error: Some(message.clone()),
                        },
                    );
                    status[i] = Status::Finished(Outcome::Failed(message));
                }
                continue;
            }
        };
        let elapsed = started_at.get(&i).map(Instant::elapsed).unwrap_or_default();
        let outcome = walk.finish(&ops[i], result, elapsed).await;
        status[i] = Status::Finished(outcome);
    }
    walk.report.cancelled = cancel.is_cancelled();
    for (i, op) in ops.iter().enumerate() {
        let outcome = match &status[i] {
            Status::Finished(o) => o.clone(),
            _ => Outcome::NotStarted,
        };
        walk.report
            .outcomes
            .push((op.address.clone(), op.action, outcome));
    }
    walk.report.elapsed = start.elapsed();
    (walk.report, walk.state)
}

/// The operations of a plan and the order between them.
fn operations(job: &Job<'_>, state: &State) -> Vec<Op> {
    let changes: Vec<_> = job
        .plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    let index: HashMap<&str, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.address.as_str(), i))
        .collect();
    let non_deletes: Vec<usize> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.action != Action::Delete)
        .map(|(i, _)| i)
        .collect();
    changes
        .iter()
        .map(|c| {
            let (hard, soft) = if c.action == Action::Delete {
                // After everything else; dependents (as recorded) deleted first.
                let dependents = state
                    .resources
                    .iter()
                    .filter(|(_, r)| r.depends_on.contains(&c.address))
                    .filter_map(|(a, _)| index.get(a.as_str()).copied())
                    .filter(|&j| changes[j].action == Action::Delete)
                    .collect();
                (dependents, non_deletes.clone())
            } else {
                let deps = job
                    .graph
                    .dependencies(&c.address)
                    .into_iter()
                    .filter_map(|a| index.get(a).copied())
                    .filter(|&j| changes[j].action != Action::Delete)
                    .collect();
                (deps, Vec::new())
            };
            Op {
                address: c.address.clone(),
                action: c.action,
                schema: c.schema.clone(),
                hard,
                soft,
            }
        })
        .collect()
}

/// What a finished operation hands back to the walk.
enum Finished {
    /// Created or updated (replaced): record it.
    Applied {
        applied: Applied,
        instance: Box<ResourceInstance>,
        live: Option<Live>,
    },
    Deleted,
    Read {
        outputs: IndexMap<String, Value>,
    },
    /// A replace deleted the old object, then failed to make the new one.
    OldDeleted {
        error: ProviderError,
    },
}

type OpFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Finished, ProviderError>> + Send>>;

impl Walk<'_> {
    fn cx(&self, address: &str, refs: BTreeSet<String>) -> Cx {
        let mut refs = Referenced::recorded(&self.state, refs);
        // A cluster's settings are the configuration's now: a change of one
        // alone is no change of the cluster, so its record may hold the old value.
        for (a, r) in &mut refs {
            let Some(d) = self.desired.get(a) else { continue };
            for setting in crate::provider::registry::CLUSTER_SETTINGS {
                if let Some(v) = d.inputs.get(*setting) {
                    r.inputs.insert((*setting).to_string(), v.to_json());
                }
            }
        }
        Cx {
            address: address.to_string(),
            events: self.events.clone(),
            refs: Arc::new(refs),
            secrets: self.secrets.clone(),
            retry: Default::default(),
            wait_limit: self.job.wait_limit,
            deadline: None,
            base_dir: self.job.base_dir.clone(),
        }
    }

    fn timeout(&self, schema: &str) -> Duration {
        self.job
            .timeouts
            .get(schema)
            .copied()
            .unwrap_or(self.job.default_timeout)
    }

    /// The instance to apply at `address`, every input known: evaluates again
    /// when an input waited for another resource's output.
    fn instance(&mut self, address: &str) -> Result<ResourceInstance, String> {
        let Some(r) = self.desired.get(address) else {
            return Err(format!("`{address}` is no longer in the configuration"));
        };
        if r.inputs.values().any(Value::contains_unknown) {
            let fresh = (self.job.reevaluate)(&self.known)?;
            self.desired = fresh.into_iter().map(|r| (r.address.clone(), r)).collect();
        }
        let Some(r) = self.desired.get(address) else {
            return Err(format!("`{address}` is no longer in the configuration"));
        };
        if let Some((field, v)) = r.inputs.iter().find(|(_, v)| v.contains_unknown()) {
            let what = match v.to_json().get("$unknown") {
                Some(J::String(o)) => o.clone(),
                _ => "an output".to_string(),
            };
            return Err(format!(
                "input `{field}` is still unknown after its dependencies were applied (it needs {what})"
            ));
        }
        Ok(r.clone())
    }

    /// Prepares an operation: records an intent for a create, and returns the
    /// future that runs it.
    async fn start(&mut self, op: &Op) -> Result<OpFuture, String> {
        let timeout = self.timeout(&op.schema);
        let address = op.address.clone();
        let provider_for = |schema: &str| {
            self.providers
                .get(schema)
                .ok_or_else(|| format!("no provider can apply `{schema}`"))
        };
        match op.action {
            Action::Delete => {
                let prior = self
                    .state
                    .resources
                    .get(&op.address)
                    .cloned()
                    .ok_or_else(|| format!("`{}` is not in the state", op.address))?;
                let provider = provider_for(prior.kind())?;
                let cx = self.cx(&address, refs_of_stored(&prior.inputs));
                Ok(Box::pin(async move {
                    with_timeout(timeout, provider.delete(&cx, &prior)).await?;
                    Ok(Finished::Deleted)
                }))
            }
            Action::Read => {
                let r = self.instance(&op.address)?;
                let source = self
                    .providers
                    .data(&r.kind)
                    .ok_or_else(|| format!("no provider can read `{}` yet", r.kind))?;
                let d = desired(&r);
                let cx = self.cx(&address, r.depends_on.clone());
                Ok(Box::pin(async move {
                    let applied = with_timeout(timeout, source.read_data(&cx, &d)).await?;
                    Ok(Finished::Read {
                        outputs: applied.outputs,
                    })
                }))
            }
            Action::Create | Action::Update | Action::Replace => {
                let r = self.instance(&op.address)?;
                let provider = provider_for(&r.kind)?;
                let prior = self.state.resources.get(&op.address).cloned();
                let create = op.action == Action::Create || op.action == Action::Replace;
                // An earlier run began this create and could not confirm it.
                let earlier_intent = self.state.intents.contains_key(&op.address);
                // The instance in stored form: what an intent records, and what
                // the object is read back against.
                let planned = record(&r, "", None, self.job.sealer);
                if create {
                    self.state.intents.insert(
                        op.address.clone(),
                        Intent {
                            schema: planned.schema.clone(),
                            kind: planned.kind.clone(),
                            inputs: planned.inputs.clone(),
                            depends_on: planned.depends_on.clone(),
                            started: crate::now_rfc3339(),
                        },
                    );
                    self.save().await?;
                }
                let d = desired(&r);
                let mut cx = self.cx(&address, r.depends_on.clone());
                // A resource's own `wait_timeout` bounds its waits, within `--wait-timeout`.
                if let Some(own) = d.setting_duration("wait_timeout") {
                    cx.wait_limit = Some(cx.wait_limit.map_or(own, |global| global.min(own)));
                }
                cx.deadline = Some(Instant::now() + timeout);
                let action = op.action;
                let cbd = self
                    .job
                    .plan
                    .changes
                    .iter()
                    .any(|c| c.address == op.address && c.create_before_destroy);
                let sealer = Sealer::new(self.job.key);
                Ok(Box::pin(async move {
                    // Set once a replace has deleted the old object.
                    let old_gone = AtomicBool::new(false);
                    let work = async {
                        let applied = match (action, &prior) {
                            // Finish what an interrupted apply began (waiting, as
                            // a create does), then bring it to the configuration.
                            (Action::Update, Some(p)) if p.unfinished => {
                                match provider.lookup(&cx, &d).await? {
                                    Some(found) => {
                                        let finished = ResourceState {
                                            provider_id: found.provider_id.clone(),
                                            outputs: found
                                                .outputs
                                                .iter()
                                                .map(|(k, v)| (k.clone(), store(v, &sealer)))
                                                .collect(),
                                            unfinished: false,
                                            ..p.clone()
                                        };
                                        provider.update(&cx, &finished, &d).await?
                                    }
                                    None => provider.create(&cx, &d).await?,
                                }
                            }
                            (Action::Update, Some(p)) => provider.update(&cx, p, &d).await?,
                            (Action::Replace, Some(p)) if cbd => {
                                let a = provider.create(&cx, &d).await?;
                                provider.delete(&cx, p).await?;
                                a
                            }
                            (Action::Replace, Some(p)) => {
                                provider.delete(&cx, p).await?;
                                old_gone.store(true, Ordering::SeqCst);
                                provider.create(&cx, &d).await?
                            }
                            _ => match provider.create(&cx, &d).await {
                                // What an earlier, interrupted run made became
                                // visible only now: adopt it.
                                Err(e) if e.kind == ErrorKind::AlreadyExists && earlier_intent => {
                                    match provider.lookup(&cx, &d).await? {
                                        Some(a) => {
                                            cx.event(Event::Adopted {
                                                provider_id: a.provider_id.clone(),
                                            });
                                            a
                                        }
                                        None => return Err(e),
                                    }
                                }
                                other => other?,
                            },
                        };
                        Ok::<_, ProviderError>(applied)
                    };
                    let applied = match with_timeout(timeout, work).await {
                        Ok(a) => a,
                        Err(error) if old_gone.load(Ordering::SeqCst) => {
                            return Ok(Finished::OldDeleted { error })
                        }
                        Err(e) => return Err(e),
                    };
                    // A kind that does not produce an output its schema declares
                    // is a bug of tpt: said now, not found later as a missing value.
                    let declared = provider.fields().outputs;
                    if let Some(o) = declared.iter().find(|o| !applied.outputs.contains_key(**o)) {
                        return Err(ProviderError::permanent(format!(
                            "`{}` did not produce its output `{o}` (a bug of tpt)",
                            d.schema
                        )));
                    }
                    // Read back, to compare with the plan (a failed read is no failure).
                    let mut check = ResourceState {
                        provider_id: applied.provider_id.clone(),
                        ..planned
                    };
                    for (field, v) in &applied.rendered {
                        check.inputs.insert(field.clone(), store(v, &sealer));
                    }
                    let live = provider.read(&cx, &check).await.ok();
                    Ok(Finished::Applied {
                        applied,
                        instance: Box::new(r),
                        live,
                    })
                }))
            }
            Action::NoOp => Err("nothing to do".to_string()),
        }
    }

    /// Records a finished operation and saves the state.
    async fn finish(
        &mut self,
        op: &Op,
        result: Result<Finished, ProviderError>,
        elapsed: Duration,
    ) -> Outcome {
        let outcome = match result {
            Err(e) => {
                // A failed create leaves its intent: the object may exist (a
                // timeout after the provider accepted it); the next run looks.
                Outcome::Failed(e.message)
            }
            Ok(Finished::Deleted) => {
                self.state.resources.remove(&op.address);
                self.known.outputs.remove(&op.address);
                Outcome::Done
            }
            Ok(Finished::Read { outputs }) => {
                self.known.outputs.insert(op.address.clone(), outputs);
                Outcome::Done
            }
            Ok(Finished::OldDeleted { error }) => {
                // The old object is gone: so is its record. The create's intent
                // stays, for the next run to look up what it may have made.
                self.state.resources.remove(&op.address);
                self.known.outputs.remove(&op.address);
                let message = format!(
                    "{} (the old object was deleted; the next apply creates the new one)",
                    error.message
                );
                match self.save().await {
                    Ok(()) => Outcome::Failed(message),
                    Err(e) => Outcome::Failed(format!("{message}; {e}")),
                }
            }
            Ok(Finished::Applied {
                applied,
                instance,
                live,
            }) => {
                let mut recorded = record(
                    &instance,
                    &applied.provider_id,
                    Some(&applied.outputs),
                    self.job.sealer,
                );
                for (field, v) in &applied.rendered {
                    recorded.inputs.insert(field.clone(), store(v, self.job.sealer));
                }
                if let Some(Live::Present { inputs, .. }) = &live {
                    for (field, got) in inputs {
                        if let Some(planned) = recorded.inputs.get(field) {
                            if planned != got && !tpt_planner::state::is_sensitive(planned) {
                                let (p, g) = (tpt_planner::plan::show(planned), tpt_planner::plan::show(got));
                                self.events.send(
                                    &op.address,
                                    Event::Mismatch {
                                        field: field.clone(),
                                        planned: p.clone(),
                                        got: g.clone(),
                                    },
                                );
                                self.report
                                    .mismatches
                                    .push((op.address.clone(), field.clone(), p, g));
                            }
                        }
                    }
                }
                self.state.intents.remove(&op.address);
                self.state.resources.insert(op.address.clone(), recorded);
                self.known.outputs.insert(op.address.clone(), applied.outputs);
                Outcome::Done
            }
        };
        let saved = if outcome == Outcome::Done {
            self.save().await
        } else {
            Ok(())
        };
        let outcome = match saved {
            Ok(()) => outcome,
            Err(e) => Outcome::Failed(e),
        };
        self.events.send(
            &op.address,
            Event::Done {
                action: op.action.as_str(),
                elapsed,
                error: match &outcome {
                    Outcome::Failed(m) => Some(m.clone()),
                    _ => None,
                },
            },
        );
        outcome
    }

    /// Bumps the serial and writes the state; a failure stops the apply.
    async fn save(&mut self) -> Result<(), String> {
        self.state.serial += 1;
        match self.writer.save(&self.state).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let message = format!("cannot save the state: {e}");
                self.report.state_error = Some(message.clone());
                Err(message)
            }
        }
    }
}

async fn with_timeout<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(ProviderError::permanent(format!(
            "timed out after {} (the schema's `@timeout`)",
            crate::events::human_duration(limit)
        ))),
    }
}

/// The provider's view of an instance.
pub fn desired(r: &ResourceInstance) -> Desired {
    Desired::new(&r.address, &r.kind, r.inputs.clone())
}

/// Addresses referenced (`{"$resource": a}`) in stored inputs.
pub fn refs_of_stored(inputs: &BTreeMap<String, J>) -> BTreeSet<String> {
    fn walk(j: &J, out: &mut BTreeSet<String>) {
        match j {
            J::Object(m) => {
                if let Some(J::String(a)) = m.get("$resource") {
                    out.insert(a.clone());
                }
                m.values().for_each(|v| walk(v, out));
            }
            J::Array(xs) => xs.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    inputs.values().for_each(|v| walk(v, &mut out));
    out
}
