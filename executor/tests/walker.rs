//! The walker with a provider of the test's own (the real providers are tested
//! against real servers in `tests/e2e.rs`): what runs when, what a failure
//! skips, the parallelism bound, Ctrl-C, per-resource wait limits, and that
//! state is written after every operation with an intent before each create.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tpt_executor::apply::{apply, with_writer, Cancel, Job, Outcome, Report};
use tpt_executor::events::{Event, Events};
use tpt_executor::provider::{Applied, Cx, Desired, ErrorKind, Fields, Provider, ProviderError, Providers};
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_lang::{KnownOutputs, Program, ResourceInstance};
use tpt_planner::backend::{BackendError, LockInfo, StateBackend};
use tpt_planner::refresh::Live;
use tpt_planner::state::{ResourceState, Sealer, State};

const SCHEMA: &str = r#"
resource schema Thing {
  fail: bool = false
  hold: bool = false
  delay_ms: int = 0
  never_ready: bool = false
  misreport: bool = false
  exists: bool = false
  @replace kind: string = "a"
  @setting wait_timeout: duration?
  @output id: string
}
"#;

/// Counts what runs at once, and holds `hold = true` creates until released.
struct Fake {
    running: AtomicUsize,
    max_running: AtomicUsize,
    created: Mutex<Vec<String>>,
    gate: Semaphore,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
            created: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
        }
    }
}

/// Decrements the running count however the operation ends (also when aborted).
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A flag of the test's schema (every one has a default).
fn flag(d: &Desired, field: &str) -> bool {
    d.bool(field).unwrap_or(false)
}

#[async_trait::async_trait]
impl Provider for Fake {
    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            in_place: &["fail", "hold", "delay_ms", "never_ready", "misreport", "exists"],
            reads: &["delay_ms"],
            outputs: &["id"],
        }
    }

    fn validate(&self, _d: &Desired) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(&self.running);
        self.max_running.fetch_max(now, Ordering::SeqCst);
        if let Some(ms) = d.int("delay_ms").ok().filter(|&ms| ms > 0) {
            tokio::time::sleep(Duration::from_millis(ms.unsigned_abs())).await;
        }
        if flag(d, "hold") {
            let permit = self.gate.acquire().await;
            drop(permit);
        }
        if flag(d, "never_ready") {
            cx.wait_for("the thing to be ready", || async { Ok(None::<()>) })
                .await?;
        }
        if flag(d, "fail") {
            return Err(ProviderError::permanent("the test provider refuses"));
        }
        if flag(d, "exists") {
            return Err(ProviderError {
                kind: ErrorKind::AlreadyExists,
                message: "an object of that name exists".into(),
            });
        }
        if let Ok(mut c) = self.created.lock() {
            c.push(d.address.clone());
        }
        let mut outputs = IndexMap::default();
        outputs.insert("id".to_string(), Value::Str(format!("id-{}", d.address).into()));
        Ok(Applied {
            rendered: Default::default(),
            provider_id: format!("id-{}", d.address),
            outputs,
        })
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        // An object that exists keeps its ID when it changes.
        if flag(d, "exists") {
            let id = Value::Str(prior.provider_id.clone().into());
            return Ok(Applied {
                rendered: Default::default(),
                provider_id: prior.provider_id.clone(),
                outputs: IndexMap::from_iter([("id".to_string(), id)]),
            });
        }
        self.create(cx, d).await
    }

    async fn delete(&self, _cx: &Cx, _prior: &ResourceState) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Reads back what was planned, except that `misreport = true` objects
    /// report another `delay_ms` (as a provider that changed a value would).
    async fn read(&self, _cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let mut inputs = prior.inputs.clone();
        if prior.inputs.get("misreport") == Some(&serde_json::Value::Bool(true)) {
            inputs.insert("delay_ms".into(), serde_json::json!(999));
        }
        Ok(Live::Present {
            inputs,
            outputs: Default::default(),
        })
    }

    /// Finds the objects that `exists = true` says are there.
    async fn lookup(&self, _cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        Ok((flag(d, "exists")).then(|| Applied {
            rendered: Default::default(),
            provider_id: format!("found-{}", d.address),
            outputs: IndexMap::from_iter([(
                "id".to_string(),
                Value::Str(format!("found-{}", d.address).into()),
            )]),
        }))
    }
}

/// A state backend in memory that keeps every version written.
#[derive(Default)]
struct Recorder {
    writes: Mutex<Vec<State>>,
}

impl StateBackend for Recorder {
    fn read(&self, _env: &str) -> Result<Option<State>, BackendError> {
        Ok(self.writes.lock().ok().and_then(|w| w.last().cloned()))
    }

    fn write(&self, _env: &str, state: &State) -> Result<(), BackendError> {
        if let Ok(mut w) = self.writes.lock() {
            w.push(state.clone());
        }
        Ok(())
    }

    fn lock(&self, _env: &str, _info: &LockInfo) -> Result<(), BackendError> {
        Ok(())
    }

    fn unlock(&self, _env: &str, _id: &str) -> Result<(), BackendError> {
        Ok(())
    }

    fn lock_holder(&self, _env: &str) -> Result<Option<LockInfo>, BackendError> {
        Ok(None)
    }

    fn key(&self) -> Result<Vec<u8>, BackendError> {
        Ok(b"test key".to_vec())
    }
}

struct Run {
    report: Report,
    state: State,
    events: Vec<(String, Event)>,
    writes: Vec<State>,
}

/// Plans `resources` (Thing declarations) against an empty state and applies
/// the plan; `during` runs on the side while the apply goes on.
fn apply_things(
    resources: &str,
    parallelism: usize,
    fake: &Arc<Fake>,
    wait_limit: Option<Duration>,
    during: impl FnOnce(Cancel) + Send + 'static,
) -> Run {
    let state = State::new("default", "lineage-1".to_string());
    apply_things_with(
        resources,
        parallelism,
        fake,
        wait_limit,
        HashMap::new(),
        state,
        during,
    )
}

/// The state an apply of `resources` would have recorded.
fn recorded(resources: &str) -> State {
    let program = Program::from_text("main.tpt", &format!("{SCHEMA}\n{resources}"));
    let evaluated = tpt_lang::evaluate(&program, None, &tpt_lang::eval::NoInputs).expect("evaluates");
    let mut state = State::new("default", "lineage-1".to_string());
    let sealer = Sealer::new(b"test key");
    for r in &evaluated.resources {
        let rec = tpt_planner::state::record(r, &format!("id-{}", r.address), None, &sealer);
        state.resources.insert(r.address.clone(), rec);
    }
    state
}

fn apply_things_with(
    resources: &str,
    parallelism: usize,
    fake: &Arc<Fake>,
    wait_limit: Option<Duration>,
    timeouts: HashMap<String, Duration>,
    state: State,
    during: impl FnOnce(Cancel) + Send + 'static,
) -> Run {
    let program = Program::from_text("main.tpt", &format!("{SCHEMA}\n{resources}"));
    let diags = tpt_lang::check(&program);
    assert!(diags.is_empty(), "{diags:?}");
    let evaluated = tpt_lang::evaluate(&program, None, &tpt_lang::eval::NoInputs).expect("evaluates");
    let graph = tpt_planner::graph::build(&evaluated.resources).expect("no cycle");
    let sealer = Sealer::new(b"test key");
    let plan = tpt_planner::plan::diff(&program, "default", &evaluated.resources, &graph, &state, &sealer);
    let reevaluate = |known: &KnownOutputs| -> Result<Vec<ResourceInstance>, String> {
        tpt_lang::evaluate_with(&program, None, &tpt_lang::eval::NoInputs, known)
            .map(|e| e.resources)
            .map_err(|d| format!("{d:?}"))
    };
    let job = Job {
        plan: &plan,
        desired: evaluated.resources.clone(),
        graph: &graph,
        known: KnownOutputs::default(),
        reevaluate: &reevaluate,
        sealer: &sealer,
        key: b"test key",
        timeouts,
        default_timeout: Duration::from_secs(60),
        parallelism,
        wait_limit,
        base_dir: std::sync::Arc::from(std::path::Path::new(".")),
    };
    let mut providers = Providers::default();
    providers.register("Thing", fake.clone());
    let backend = Recorder::default();
    let cancel = Cancel::default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let side = std::thread::spawn({
        let cancel = cancel.clone();
        move || during(cancel)
    });
    let (events, mut rx) = Events::channel();
    let (report, state) = with_writer(&backend, "default", |writer| {
        rt.block_on(apply(&job, &providers, state, writer, events, cancel))
    });
    side.join().expect("the side thread ends");
    let mut seen = Vec::new();
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    let writes = backend.writes.lock().map(|w| w.clone()).unwrap_or_default();
    Run {
        report,
        state,
        events: seen,
        writes,
    }
}

fn outcome<'a>(r: &'a Report, address: &str) -> &'a Outcome {
    &r.outcomes
        .iter()
        .find(|(a, _, _)| a == address)
        .unwrap_or_else(|| panic!("`{address}` is in the report: {:?}", r.outcomes))
        .2
}

fn nothing(_: Cancel) {}

#[test]
fn a_failure_skips_only_its_dependents_once() {
    let fake = Arc::new(Fake::new());
    let run = apply_things(
        r#"
resource a: Thing { fail = true }
resource b: Thing { depends_on = [a] }
resource c: Thing { depends_on = [b] }
resource d: Thing { delay_ms = 50 }
resource e: Thing { depends_on = [d] }
"#,
        10,
        &fake,
        None,
        nothing,
    );
    let r = &run.report;
    assert!(matches!(outcome(r, "a"), Outcome::Failed(m) if m.contains("refuses")));
    assert_eq!(outcome(r, "b"), &Outcome::Skipped("a".into()));
    assert_eq!(
        outcome(r, "c"),
        &Outcome::Skipped("a".into()),
        "the root cause is named"
    );
    assert_eq!(outcome(r, "d"), &Outcome::Done, "an independent branch finishes");
    assert_eq!(outcome(r, "e"), &Outcome::Done);
    assert!(!r.ok());
    for skipped in ["b", "c"] {
        let n = run
            .events
            .iter()
            .filter(|(a, e)| a == skipped && matches!(e, Event::Skipped { .. }))
            .count();
        assert_eq!(n, 1, "`{skipped}` is reported as skipped once");
    }
    let recorded: Vec<&String> = run.state.resources.keys().collect();
    assert_eq!(recorded, ["d", "e"]);
    // The object of a failed create may exist (a wait that timed out): its
    // intent stays, and the next run looks it up before creating.
    assert_eq!(run.state.intents.keys().collect::<Vec<_>>(), ["a"]);
    let order = fake.created.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(
        order,
        ["d", "e"],
        "a dependency is created before what depends on it"
    );
}

#[test]
fn at_most_parallelism_operations_run_at_once() {
    let config: String = (0..24)
        .map(|i| format!("resource t{i}: Thing {{ delay_ms = 40 }}\n"))
        .collect();
    for parallelism in [1, 4, 10] {
        let fake = Arc::new(Fake::new());
        let run = apply_things(&config, parallelism, &fake, None, nothing);
        assert!(run.report.ok(), "{:?}", run.report.outcomes);
        assert_eq!(run.state.resources.len(), 24);
        assert_eq!(
            fake.max_running.load(Ordering::SeqCst),
            parallelism,
            "the limit is reached and never exceeded"
        );
    }
}

#[test]
fn state_is_written_after_every_operation_with_an_intent_before_each_create() {
    let fake = Arc::new(Fake::new());
    let run = apply_things(
        "resource a: Thing {}\nresource b: Thing { depends_on = [a] }\n",
        10,
        &fake,
        None,
        nothing,
    );
    assert!(run.report.ok());
    let steps: Vec<(Vec<String>, Vec<String>)> = run
        .writes
        .iter()
        .map(|s| {
            (
                s.intents.keys().cloned().collect(),
                s.resources.keys().cloned().collect(),
            )
        })
        .collect();
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        steps,
        [
            (v(&["a"]), v(&[])),
            (v(&[]), v(&["a"])),
            (v(&["b"]), v(&["a"])),
            (v(&[]), v(&["a", "b"])),
        ]
    );
    assert_eq!(run.state.resources["a"].provider_id, "id-a");
}

#[test]
fn ctrl_c_starts_nothing_new_and_lets_running_operations_finish() {
    let fake = Arc::new(Fake::new());
    let side = fake.clone();
    let run = apply_things(
        "resource a: Thing { hold = true }\nresource b: Thing {}\nresource c: Thing { depends_on = [a] }\n",
        1,
        &fake,
        None,
        move |cancel| {
            // `a` runs (parallelism 1, declaration order); interrupt, then let it finish.
            while side.running.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            cancel.cancel();
            std::thread::sleep(Duration::from_millis(100));
            side.gate.add_permits(1);
        },
    );
    let r = &run.report;
    assert!(r.cancelled);
    assert_eq!(outcome(r, "a"), &Outcome::Done, "the running operation finished");
    assert_eq!(outcome(r, "b"), &Outcome::NotStarted);
    assert_eq!(outcome(r, "c"), &Outcome::NotStarted);
    assert!(run.state.resources.contains_key("a"), "and was recorded");
    assert_eq!(run.writes.last().map(|s| s.resources.len()), Some(1));
    assert!(run.events.iter().any(|(_, e)| matches!(
        e,
        Event::Interrupted {
            running: 1,
            hard: false
        }
    )));
}

#[test]
fn a_second_ctrl_c_stops_running_operations_and_keeps_their_intents() {
    let fake = Arc::new(Fake::new());
    let side = fake.clone();
    let run = apply_things(
        "resource a: Thing { hold = true }\nresource b: Thing { delay_ms = 10 }\n",
        10,
        &fake,
        None,
        move |cancel| {
            // Wait until `b` is done and `a` is held.
            loop {
                std::thread::sleep(Duration::from_millis(5));
                let done = side.created.lock().map(|c| c.len()).unwrap_or(0);
                if done == 1 && side.running.load(Ordering::SeqCst) == 1 {
                    break;
                }
            }
            cancel.cancel();
            std::thread::sleep(Duration::from_millis(50));
            cancel.cancel();
            // Were `a` not stopped, this lets it finish, and the test fails
            // rather than hangs.
            for _ in 0..100 {
                if side.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            side.gate.add_permits(1);
        },
    );
    let r = &run.report;
    assert!(r.cancelled && !r.ok());
    assert_eq!(outcome(r, "a"), &Outcome::Interrupted);
    assert_eq!(outcome(r, "b"), &Outcome::Done);
    assert_eq!(
        fake.running.load(Ordering::SeqCst),
        0,
        "the held create was dropped"
    );
    assert!(
        run.state.intents.contains_key("a"),
        "the stopped create keeps its intent, for the next run to look up"
    );
    assert!(run.state.resources.contains_key("b"));
    assert!(run
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Interrupted { hard: true, .. })));
}

#[test]
fn a_resource_wait_timeout_bounds_its_waits_within_the_global_one() {
    let fake = Arc::new(Fake::new());
    let started = std::time::Instant::now();
    let run = apply_things(
        r#"
resource slow: Thing { never_ready = true, wait_timeout = 300ms }
resource after: Thing { depends_on = [slow] }
resource other: Thing {}
"#,
        10,
        &fake,
        Some(Duration::from_secs(30)),
        nothing,
    );
    let r = &run.report;
    assert!(
        matches!(outcome(r, "slow"), Outcome::Failed(m) if m.contains("gave up waiting for the thing to be ready")),
        "{:?}",
        r.outcomes
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the resource's own limit applied"
    );
    assert_eq!(outcome(r, "after"), &Outcome::Skipped("slow".into()));
    assert_eq!(outcome(r, "other"), &Outcome::Done);
    assert!(run
        .events
        .iter()
        .any(|(a, e)| a == "slow" && matches!(e, Event::Waiting { .. })));

    // The global `--wait-timeout` wins when it is shorter.
    let fake = Arc::new(Fake::new());
    let run = apply_things(
        "resource slow: Thing { never_ready = true, wait_timeout = 1h }\n",
        10,
        &fake,
        Some(Duration::from_millis(300)),
        nothing,
    );
    assert!(matches!(outcome(&run.report, "slow"), Outcome::Failed(m) if m.contains("gave up waiting")));
}

#[test]
fn an_operation_longer_than_its_schema_timeout_fails() {
    let fake = Arc::new(Fake::new());
    let side = fake.clone();
    let timeouts = HashMap::from([("Thing".to_string(), Duration::from_millis(300))]);
    let run = apply_things_with(
        "resource slow: Thing { hold = true }\nresource quick: Thing {}\n",
        10,
        &fake,
        None,
        timeouts,
        State::new("default", "lineage-1".to_string()),
        move |_| {
            // Once `slow` is dropped by its timeout nothing runs; were the
            // timeout not applied, this lets it finish (and the test fail).
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(50));
                let quick_done = side.created.lock().is_ok_and(|c| c.len() == 1);
                if quick_done && side.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
            }
            side.gate.add_permits(1);
        },
    );
    assert!(
        matches!(outcome(&run.report, "slow"), Outcome::Failed(m) if m.contains("timed out after")),
        "{:?}",
        run.report.outcomes
    );
    assert_eq!(outcome(&run.report, "quick"), &Outcome::Done);
}

#[test]
fn a_result_that_differs_from_the_plan_is_reported() {
    let fake = Arc::new(Fake::new());
    let run = apply_things(
        "resource odd: Thing { misreport = true }\nresource fine: Thing {}\n",
        10,
        &fake,
        None,
        nothing,
    );
    assert!(run.report.ok(), "a mismatch is a warning, not a failure");
    assert_eq!(
        run.report.mismatches,
        [(
            "odd".to_string(),
            "delay_ms".to_string(),
            "0".to_string(),
            "999".to_string()
        )]
    );
    assert!(run
        .events
        .iter()
        .any(|(a, e)| a == "odd" && matches!(e, Event::Mismatch { field, .. } if field == "delay_ms")));
}

#[test]
fn a_replace_whose_create_fails_forgets_the_deleted_object() {
    let fake = Arc::new(Fake::new());
    let before = recorded("resource r: Thing {}\nresource other: Thing {}\n");
    let run = apply_things_with(
        "resource r: Thing { kind = \"b\", fail = true }\nresource other: Thing {}\n",
        10,
        &fake,
        None,
        HashMap::new(),
        before,
        nothing,
    );
    assert!(
        matches!(outcome(&run.report, "r"), Outcome::Failed(m) if m.contains("the old object was deleted")),
        "{:?}",
        run.report.outcomes
    );
    assert!(
        !run.state.resources.contains_key("r"),
        "the deleted object is no longer recorded"
    );
    assert!(run.state.intents.contains_key("r"), "the create's intent stays");
    assert!(run.state.resources.contains_key("other"));
    assert_eq!(
        run.writes.last().map(|s| s.resources.contains_key("r")),
        Some(false),
        "and that was saved"
    );
}

#[test]
fn a_create_that_meets_what_an_interrupted_run_made_adopts_it() {
    let config = "resource late: Thing { exists = true }\nresource taken: Thing { exists = true }\n";
    // An earlier run recorded an intent for `late` and died; nothing was found
    // then, but the object appeared since. `taken` has no such history.
    let mut before = State::new("default", "lineage-1".to_string());
    before.intents.insert(
        "late".to_string(),
        tpt_planner::state::Intent {
            schema: "Thing".to_string(),
            kind: String::new(),
            inputs: Default::default(),
            depends_on: Vec::new(),
            started: "2026-12-01T12:00:00Z".to_string(),
        },
    );
    let fake = Arc::new(Fake::new());
    let run = apply_things_with(config, 10, &fake, None, HashMap::new(), before, nothing);
    assert_eq!(outcome(&run.report, "late"), &Outcome::Done);
    assert_eq!(run.state.resources["late"].provider_id, "found-late");
    assert!(run
        .events
        .iter()
        .any(|(a, e)| a == "late" && matches!(e, Event::Adopted { .. })));
    assert!(
        matches!(outcome(&run.report, "taken"), Outcome::Failed(m) if m.contains("exists")),
        "an object tpt never tried to make is not taken over: {:?}",
        run.report.outcomes
    );
}

#[test]
fn an_unfinished_object_is_finished_then_brought_to_the_configuration() {
    // Reconciling found `late` after an interrupted create and recorded it
    // without waiting: no outputs yet.
    let config = "resource late: Thing { exists = true }\n";
    let mut before = recorded(config);
    if let Some(r) = before.resources.get_mut("late") {
        r.provider_id = "found-late".to_string();
        r.unfinished = true;
    }
    let fake = Arc::new(Fake::new());
    let run = apply_things_with(config, 10, &fake, None, HashMap::new(), before, nothing);
    assert_eq!(outcome(&run.report, "late"), &Outcome::Done);
    let late = &run.state.resources["late"];
    assert!(!late.unfinished, "finished: {late:?}");
    assert_eq!(late.provider_id, "found-late");
    assert_eq!(late.outputs.get("id"), Some(&serde_json::json!("found-late")));
}

#[test]
fn an_unfinished_object_is_planned_as_an_update_that_says_why() {
    let config = "resource late: Thing {}\n";
    let mut state = recorded(config);
    if let Some(r) = state.resources.get_mut("late") {
        r.unfinished = true;
    }
    let program = Program::from_text("main.tpt", &format!("{SCHEMA}\n{config}"));
    let evaluated = tpt_lang::evaluate(&program, None, &tpt_lang::eval::NoInputs).expect("evaluates");
    let graph = tpt_planner::graph::build(&evaluated.resources).expect("no cycle");
    let sealer = Sealer::new(b"test key");
    let plan = tpt_planner::plan::diff(&program, "default", &evaluated.resources, &graph, &state, &sealer);
    let text = tpt_planner::plan::to_text(&plan);
    assert!(
        text.contains("late (Thing) will be updated in place: an interrupted apply left it unfinished"),
        "{text}"
    );
}

#[test]
fn a_wait_cut_by_the_schema_timeout_says_what_it_waited_for() {
    let fake = Arc::new(Fake::new());
    // 2.5 s: the wait gives up 2 s before the operation's deadline.
    let timeouts = HashMap::from([("Thing".to_string(), Duration::from_millis(2500))]);
    let run = apply_things_with(
        "resource slow: Thing { never_ready = true }\n",
        10,
        &fake,
        None,
        timeouts,
        State::new("default", "lineage-1".to_string()),
        nothing,
    );
    assert!(
        matches!(outcome(&run.report, "slow"), Outcome::Failed(m)
            if m.contains("gave up waiting for the thing to be ready")
            && m.contains("this wait cannot be turned off")
            && m.contains("its schema's `@timeout`")),
        "{:?}",
        run.report.outcomes
    );
}
