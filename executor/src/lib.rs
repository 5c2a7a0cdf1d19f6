//! The executor: the only crate that talks to the world. It holds the
//! configuration's files on disk (`host`), the state backends (`backend`) and
//! their locks (`lock`), the kinds (`provider`: Kubernetes, AWS EKS / RDS /
//! Route53) and the walker that applies a plan (`apply`). [`Engine`] is a tokio
//! runtime with the kinds, and the operations that need them — refresh, data
//! lookups, reconciling interrupted creates, apply. [`session`] is the workflow
//! as a library (load, check, plan, apply): what the CLI and the tests call.

pub mod apply;
pub mod backend;
pub mod events;
pub mod host;
pub mod lock;
pub mod provider;
pub mod session;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tpt_lang::{KnownOutputs, ResourceInstance};
use tpt_planner::backend::StateBackend;
use tpt_planner::refresh::Live;
use tpt_planner::state::{ResourceState, State};

use crate::apply::{Cancel, Job, Report};
use crate::events::Events;
use crate::provider::{Cx, Providers, Secrets};

/// Chooses rustls' process-wide crypto provider. Two are linked (kube's ring,
/// the AWS SDK's aws-lc), so rustls cannot pick one itself; every client made
/// by this crate calls this first. An error means the choice was made already.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A tokio runtime and the providers.
pub struct Engine {
    runtime: tokio::runtime::Runtime,
    providers: Providers,
    /// Pressed by Ctrl-C and SIGTERM once [`Engine::interrupt_on_signals`] ran:
    /// refresh, lookups and data reads stop at once, the walk as it documents.
    cancel: Cancel,
    /// Bounds every wait of refresh, lookups and apply (`--wait-timeout`).
    pub wait_limit: Option<std::time::Duration>,
    /// The configuration's directory (paths in inputs are relative to it).
    pub base_dir: std::sync::Arc<std::path::Path>,
}

/// Work stopped by Ctrl-C or SIGTERM before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// A failure of one resource's refresh, lookup or data read.
#[derive(Debug, Clone)]
pub struct Failure {
    pub address: String,
    pub message: String,
}

impl Engine {
    pub fn new() -> Result<Engine, String> {
        install_crypto();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the executor: {e}"))?;
        Ok(Engine {
            runtime,
            providers: Providers::default(),
            cancel: Cancel::default(),
            wait_limit: None,
            base_dir: std::sync::Arc::from(std::path::Path::new(".")),
        })
    }

    /// From now on Ctrl-C (SIGINT) and SIGTERM — what CI systems send when a
    /// job is cancelled or times out — no longer end the process: they press
    /// the engine's [`Cancel`]. Refresh, lookups and data reads stop at the
    /// first press; an apply starts nothing new at the first and stops running
    /// operations at the second; a third ends the process at once (exit 130).
    pub fn interrupt_on_signals(&self) {
        let c = self.cancel.clone();
        // The handlers are installed before this returns (not when the task
        // below first runs): a signal that comes right after — while waiting
        // for a lock, on a loaded machine — must not end the process.
        #[cfg(unix)]
        let (mut int, mut term) = {
            use tokio::signal::unix::{signal, SignalKind};
            let _in_runtime = self.runtime.enter();
            (
                signal(SignalKind::interrupt()).ok(),
                signal(SignalKind::terminate()).ok(),
            )
        };
        self.runtime.spawn(async move {
            for press in 1.. {
                #[cfg(unix)]
                let signalled = match (int.as_mut(), term.as_mut()) {
                    (Some(i), Some(t)) => tokio::select! {
                        r = i.recv() => r.is_some(),
                        r = t.recv() => r.is_some(),
                    },
                    _ => tokio::signal::ctrl_c().await.is_ok(),
                };
                #[cfg(not(unix))]
                let signalled = tokio::signal::ctrl_c().await.is_ok();
                if !signalled {
                    return;
                }
                // A third press: whatever does not heed the first two (a call
                // that hangs) must not keep the user waiting.
                if press >= 3 {
                    std::process::exit(130);
                }
                c.cancel();
            }
        });
    }

    /// The engine's cancel: pressing it does what Ctrl-C does (a client
    /// cancelling a plan it asked the language server for).
    pub fn canceller(&self) -> Cancel {
        self.cancel.clone()
    }

    /// Whether Ctrl-C or SIGTERM came.
    pub fn is_interrupted(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Runs `work` on the runtime until it ends or the engine is interrupted
    /// (then `work` is dropped, which stops its calls).
    fn until_interrupted<F: std::future::Future>(&self, work: F) -> Result<F::Output, Interrupted> {
        let cancel = self.cancel.clone();
        self.runtime.block_on(async move {
            tokio::select! {
                biased;
                () = cancel.beyond(0) => Err(Interrupted),
                out = work => Ok(out),
            }
        })
    }

    fn cx(
        &self,
        address: &str,
        state: &State,
        refs: impl IntoIterator<Item = String>,
        secrets: &std::sync::Arc<Secrets>,
    ) -> Cx {
        Cx {
            address: address.to_string(),
            events: Events::none(),
            refs: std::sync::Arc::new(provider::Referenced::recorded(state, refs)),
            secrets: secrets.clone(),
            retry: Default::default(),
            wait_limit: self.wait_limit,
            deadline: None,
            base_dir: self.base_dir.clone(),
        }
    }

    /// The live objects of every recorded resource, read in parallel.
    /// The live object of the one resource recorded at `address` (its kind's
    /// `read`, with the other records as its references): `tpt import`.
    pub fn read_one(
        &self,
        state: &State,
        address: &str,
        key: &[u8],
    ) -> Result<Result<Live, String>, Interrupted> {
        let secrets = std::sync::Arc::new(Secrets::new(key, &state.lineage));
        self.until_interrupted(async {
            let Some(r) = state.resources.get(address) else {
                return Err(format!("`{address}` is not recorded"));
            };
            let Some(p) = self.providers.get(r.kind()) else {
                return Err(format!("no kind applies `{}`", r.kind()));
            };
            let cx = self.cx(address, state, apply::refs_of_stored(&r.inputs), &secrets);
            p.read(&cx, r).await.map_err(|e| e.message)
        })
    }

    /// How `kind` names an object for `tpt import` (`Ok`), or why it cannot
    /// adopt one (`Err`); `None` when no kind applies it.
    pub fn import_id(&self, kind: &str) -> Option<Result<&'static str, &'static str>> {
        self.providers.get(kind).map(|p| p.import_id())
    }

    pub fn refresh(
        &self,
        state: &State,
        key: &[u8],
    ) -> Result<(BTreeMap<String, Live>, Vec<Failure>), Interrupted> {
        let secrets = std::sync::Arc::new(Secrets::new(key, &state.lineage));
        self.until_interrupted(async {
            let mut tasks = tokio::task::JoinSet::new();
            for (address, r) in &state.resources {
                let Some(p) = self.providers.get(r.kind()) else {
                    continue;
                };
                let cx = self.cx(address, state, apply::refs_of_stored(&r.inputs), &secrets);
                let (address, r) = (address.clone(), r.clone());
                tasks.spawn(async move {
                    let live = p.read(&cx, &r).await;
                    (address, live)
                });
            }
            let mut live = BTreeMap::new();
            let mut failures = Vec::new();
            while let Some(j) = tasks.join_next().await {
                match j {
                    Ok((a, Ok(l))) => {
                        live.insert(a, l);
                    }
                    Ok((address, Err(e))) => failures.push(Failure {
                        address,
                        message: e.message,
                    }),
                    Err(e) => failures.push(Failure {
                        address: String::new(),
                        message: format!("internal error in a provider: {e}"),
                    }),
                }
            }
            failures.sort_by(|a, b| a.address.cmp(&b.address));
            (live, failures)
        })
    }

    /// The secret outputs of recorded resources (generated passwords and what
    /// is built from them), derived from the key: they are never stored.
    pub fn secret_outputs(&self, state: &State, key: &[u8], known: &mut KnownOutputs) {
        let secrets = std::sync::Arc::new(Secrets::new(key, &state.lineage));
        // An unfinished object's outputs are not known until an apply finishes it.
        for (address, r) in state.resources.iter().filter(|(_, r)| !r.unfinished) {
            let Some(p) = self.providers.get(r.kind()) else {
                continue;
            };
            let cx = self.cx(address, state, [], &secrets);
            let outputs = p.secret_outputs(&cx, r);
            if !outputs.is_empty() {
                known.outputs.entry(address.clone()).or_default().extend(outputs);
            }
        }
    }

    /// Adds the inputs kinds compute before planning ([`provider::Fields::rendered`]:
    /// a chart's rendered objects) to `instances`, so that the plan shows
    /// what changes inside them. Where an input is still unknown, or a
    /// resource it refers to (its cluster) is not applied yet, they are
    /// unknown: the kind renders them when it applies. Returns how many it
    /// rendered and the failures.
    pub fn render(
        &self,
        instances: &mut [ResourceInstance],
        state: &State,
        key: &[u8],
    ) -> Result<Vec<Failure>, Interrupted> {
        use tpt_lang::value::{Unknown, Value};
        let secrets = std::sync::Arc::new(Secrets::new(key, &state.lineage));
        // What the resources referred to will be once applied (they are
        // applied first): their inputs as the configuration gives them — a
        // controller's new class — over what was recorded; outputs as recorded.
        // One not recorded yet (made in the same apply) is seen with its
        // inputs alone. Only those a rendering instance refers to.
        let referred: std::collections::BTreeSet<&str> = instances
            .iter()
            .filter(|r| self.renders_now(r, state))
            .flat_map(|r| r.depends_on.iter().map(String::as_str))
            .collect();
        let planned: BTreeMap<String, provider::Referenced> = instances
            .iter()
            .filter(|r| referred.contains(r.address.as_str()))
            .map(|r| {
                let known = r
                    .inputs
                    .iter()
                    .filter(|(_, v)| !v.contains_unknown() && !v.contains_secret())
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                let referred = provider::Referenced {
                    kind: r.kind.clone(),
                    inputs: known,
                    outputs: BTreeMap::new(),
                };
                (r.address.clone(), referred)
            })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, r) in instances.iter_mut().enumerate() {
            let Some(p) = self.providers.get(&r.kind) else {
                continue;
            };
            let fields = p.fields().rendered;
            if fields.is_empty() {
                continue;
            }
            if !self.renders_now(r, state) {
                for f in fields {
                    let unknown = Unknown {
                        origin: format!("{}.{f}", r.address),
                        deps: r.depends_on.clone(),
                    };
                    r.inputs
                        .insert((*f).to_string(), Value::Unknown(std::sync::Arc::new(unknown)));
                }
                continue;
            }
            let mut cx = self.cx(&r.address, state, r.depends_on.iter().cloned(), &secrets);
            let mut refs = (*cx.refs).clone();
            for address in &r.depends_on {
                let Some(p) = planned.get(address) else { continue };
                match refs.get_mut(address) {
                    Some(referred) => referred.inputs.extend(p.inputs.clone()),
                    None => {
                        refs.insert(address.clone(), p.clone());
                    }
                }
            }
            cx.refs = std::sync::Arc::new(refs);
            let d = apply::desired(r);
            tasks.spawn_on(async move { (i, p.render(&cx, &d).await) }, self.runtime.handle());
        }
        let results = self.until_interrupted(async {
            let mut out = Vec::new();
            while let Some(j) = tasks.join_next().await {
                out.push(j);
            }
            out
        })?;
        let mut failures = Vec::new();
        for j in results {
            match j {
                Ok((i, Ok(rendered))) => {
                    if let Some(r) = instances.get_mut(i) {
                        r.inputs.extend(rendered);
                    }
                }
                Ok((i, Err(e))) => failures.push(Failure {
                    address: instances.get(i).map(|r| r.address.clone()).unwrap_or_default(),
                    message: e.message,
                }),
                Err(e) => failures.push(Failure {
                    address: String::new(),
                    message: format!("internal error in a provider: {e}"),
                }),
            }
        }
        failures.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(failures)
    }

    /// How many of `instances` [`Engine::render`] renders now: of a kind that
    /// renders, every input known, what they refer to applied.
    pub fn renders(&self, instances: &[ResourceInstance], state: &State) -> usize {
        instances.iter().filter(|r| self.renders_now(r, state)).count()
    }

    /// A release renders once its cluster is applied and every input is known
    /// (what else it depends on — a data lookup, a database — only matters
    /// through its inputs).
    fn renders_now(&self, r: &ResourceInstance, state: &State) -> bool {
        let cluster_applied = match r.inputs.get("cluster") {
            Some(tpt_lang::value::Value::Resource(a)) => state.resources.contains_key(&**a),
            _ => false,
        };
        self.providers
            .get(&r.kind)
            .is_some_and(|p| !p.fields().rendered.is_empty())
            && cluster_applied
            && !r.inputs.values().any(tpt_lang::value::Value::contains_unknown)
    }

    /// Reads the data lookups among `instances` whose inputs are known; their
    /// outputs become known.
    pub fn read_data(
        &self,
        instances: &[ResourceInstance],
        state: &State,
        key: &[u8],
        known: &mut KnownOutputs,
    ) -> Result<Vec<Failure>, Interrupted> {
        let secrets = std::sync::Arc::new(Secrets::new(key, &state.lineage));
        let mut failures = Vec::new();
        self.until_interrupted(async {
            for r in instances {
                let Some(source) = self.providers.data(&r.kind) else {
                    continue;
                };
                if r.inputs.values().any(tpt_lang::value::Value::contains_unknown) {
                    continue;
                }
                let cx = self.cx(&r.address, state, r.depends_on.iter().cloned(), &secrets);
                match source.read_data(&cx, &apply::desired(r)).await {
                    Ok(a) => {
                        known.outputs.insert(r.address.clone(), a.outputs);
                    }
                    Err(e) => failures.push(Failure {
                        address: r.address.clone(),
                        message: e.message,
                    }),
                }
            }
        })?;
        Ok(failures)
    }

    /// Follows the creates an earlier run started but did not confirm: an
    /// object found at the provider (`Provider::find`, which never waits) is
    /// recorded as `unfinished` (adopted), else the intent is dropped. Returns the addresses adopted and the failures; `state` is
    /// written after each, so an interruption loses nothing.
    pub fn reconcile(
        &self,
        state: &mut State,
        backend: &dyn StateBackend,
        key: &[u8],
    ) -> Result<(Vec<String>, Vec<Failure>), Interrupted> {
        let mut adopted = Vec::new();
        let mut failures = Vec::new();
        let secrets = std::sync::Arc::new(Secrets::new(key, &state.lineage));
        let intents: Vec<_> = state.intents.clone().into_iter().collect();
        for (address, intent) in intents {
            let Some(p) = self.providers.get(intent.kind()) else {
                state.intents.remove(&address);
                continue;
            };
            // A replace's intent: the address is recorded (the old object). What
            // the interrupted create made is the walk's to adopt when its create
            // meets it; recording it here would lose the old object or the change.
            if state.resources.contains_key(&address) {
                continue;
            }
            let d = provider::Desired::new(
                &address,
                intent.kind(),
                intent
                    .inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), from_stored(v)))
                    .collect(),
            );
            let cx = self.cx(&address, state, apply::refs_of_stored(&intent.inputs), &secrets);
            // Found, not waited for: the next apply finishes it, a destroy deletes it.
            match self.until_interrupted(p.find(&cx, &d))? {
                Ok(Some(provider_id)) => {
                    state.resources.insert(
                        address.clone(),
                        ResourceState {
                            schema: intent.schema.clone(),
                            kind: intent.kind.clone(),
                            provider_id,
                            inputs: intent.inputs.clone(),
                            outputs: BTreeMap::new(),
                            depends_on: intent.depends_on.clone(),
                            unfinished: true,
                        },
                    );
                    adopted.push(address.clone());
                }
                // Nothing yet: a create sent just before a crash may still
                // become visible (the service finishes what it accepted), so
                // a recent intent stays; the next create adopts what it meets.
                Ok(None) if seconds_since(&intent.started).is_some_and(|s| s < INTENT_GRACE_SECS) => continue,
                Ok(None) => {}
                Err(e) => {
                    failures.push(Failure {
                        address,
                        message: e.message,
                    });
                    continue;
                }
            }
            state.intents.remove(&address);
            state.serial += 1;
            if let Err(e) = backend.write(&state.environment.clone(), state) {
                failures.push(Failure {
                    address: String::new(),
                    message: format!("cannot save the state: {e}"),
                });
                break;
            }
        }
        Ok((adopted, failures))
    }

    /// Applies a plan; see [`apply::apply`]. State is written to `backend`
    /// after every operation.
    pub fn apply(
        &self,
        job: &Job<'_>,
        state: State,
        backend: &dyn StateBackend,
        events: Events,
    ) -> (Report, State) {
        let env = state.environment.clone();
        let cancel = self.cancel.clone();
        apply::with_writer(backend, &env, |writer| {
            self.runtime
                .block_on(apply::apply(job, &self.providers, state, writer, events, cancel))
        })
    }

    /// Sends `instance` to its recorded object through its kind's update, and
    /// records nothing: what a change made by hand outside tpt does. The
    /// end-to-end conformance tests make drift with it, after the same update
    /// has been shown to reach the server.
    pub fn update_unrecorded(
        &self,
        state: &State,
        key: &[u8],
        instance: &ResourceInstance,
    ) -> Result<(), String> {
        let recorded = state
            .resources
            .get(&instance.address)
            .ok_or_else(|| format!("`{}` is not recorded", instance.address))?;
        let p = self
            .providers
            .get(&instance.kind)
            .ok_or_else(|| format!("no kind applies `{}`", instance.kind))?;
        let secrets = std::sync::Arc::new(Secrets::new(key, &state.lineage));
        let cx = self.cx(
            &instance.address,
            state,
            instance.depends_on.iter().cloned(),
            &secrets,
        );
        self.runtime
            .block_on(p.update(&cx, recorded, &apply::desired(instance)))
            .map(|_| ())
            .map_err(|e| e.message)
    }

    /// The fields a kind updates in place, reads back and outputs.
    pub fn fields(&self, kind: &str) -> Option<provider::Fields> {
        self.providers.get(kind).map(|p| p.fields())
    }

    /// Whether a kind (or data lookup) can be applied.
    pub fn supports(&self, kind: &str) -> bool {
        self.providers.get(kind).is_some() || self.providers.data(kind).is_some()
    }

    /// The schemas with a kind, sorted (for messages).
    pub fn kinds(&self) -> Vec<&str> {
        self.providers.schemas()
    }

    /// Reads the inputs of each instance into its kind's request, without
    /// calling anything: what a kind cannot apply is found before an apply
    /// starts. Instances with inputs still unknown, and kinds tpt lacks, are
    /// left out.
    pub fn validate(&self, instances: &[&ResourceInstance]) -> Vec<Failure> {
        instances
            .iter()
            .filter(|r| !r.inputs.values().any(tpt_lang::value::Value::contains_unknown))
            .filter_map(|r| {
                let p = self.providers.get(&r.kind)?;
                let e = p.validate(&apply::desired(r)).err()?;
                Some(Failure {
                    address: r.address.clone(),
                    message: e.message,
                })
            })
            .collect()
    }
}

/// A stored value back as a value, without its type: enough to find an
/// object by name. Secrets stay hidden (as an empty secret).
fn from_stored(j: &serde_json::Value) -> tpt_lang::value::Value {
    use serde_json::Value as J;
    use tpt_lang::value::Value;
    match j {
        J::Array(xs) => Value::list(xs.iter().map(from_stored).collect()),
        J::Object(m) => {
            if let Some(J::String(a)) = m.get("$resource") {
                return Value::Resource(a.as_str().into());
            }
            if m.contains_key("$sensitive") {
                return Value::secret(Value::Null);
            }
            Value::record(m.iter().map(|(k, v)| (k.clone(), from_stored(v))).collect())
        }
        scalar => Value::from_json(scalar),
    }
}

/// How long an intent whose object cannot be found is kept (seconds).
const INTENT_GRACE_SECS: u64 = 15 * 60;

/// Seconds from `when` (as [`now_rfc3339`] writes it) until now.
fn seconds_since(when: &str) -> Option<u64> {
    let then = parse_rfc3339(when)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(now.saturating_sub(then))
}

/// `YYYY-MM-DDTHH:MM:SSZ` to seconds since 1970.
fn parse_rfc3339(s: &str) -> Option<u64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// Now, as `2026-11-25T08:00:00Z`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{now_rfc3339, parse_rfc3339, seconds_since};

    #[test]
    fn rfc3339_times_read_back() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-12-01T12:00:00Z"), Some(1_796_126_400));
        assert_eq!(parse_rfc3339("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert!(seconds_since(&now_rfc3339()).is_some_and(|s| s < 5));
    }

    /// A replace's intent is for an address that is recorded: reconciling
    /// leaves both alone (no call is made), for the walk's create to adopt.
    #[test]
    fn reconciling_never_overwrites_a_record() {
        let engine = super::Engine::new().expect("an engine");
        let mut state = tpt_planner::state::State::new("default", "lineage".to_string());
        let old = tpt_planner::state::ResourceState {
            schema: "aws.HostedZone".into(),
            kind: String::new(),
            provider_id: "Z-OLD".into(),
            inputs: Default::default(),
            outputs: Default::default(),
            depends_on: Vec::new(),
            unfinished: false,
        };
        state.resources.insert("zone".into(), old.clone());
        state.intents.insert(
            "zone".into(),
            tpt_planner::state::Intent {
                schema: "aws.HostedZone".into(),
                kind: String::new(),
                inputs: Default::default(),
                depends_on: Vec::new(),
                started: now_rfc3339(),
            },
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let backend = crate::backend::LocalBackend::new(dir.path());
        let (adopted, failures) = engine
            .reconcile(&mut state, &backend, b"key")
            .expect("not interrupted");
        assert!(
            adopted.is_empty() && failures.is_empty(),
            "{adopted:?} {failures:?}"
        );
        assert_eq!(state.resources.get("zone"), Some(&old));
        assert!(state.intents.contains_key("zone"));
    }
}
