//! Resource kinds: the one trait ([`Provider`]) every kind of real object is
//! created, changed, read and deleted through, the table of kinds
//! ([`registry`]), and the pieces they share (inputs as typed values, errors
//! classified for retrying, the operation context).
//!
//! A kind is one module (`aws/eks.rs`, `k8s/app.rs`, …) and one row of
//! [`registry::KINDS`]. Its inputs arrive resolved by the evaluator (every
//! field of the schema, defaults filled): a kind never writes a default of its
//! own, and reading a field its schema does not have is an error
//! ([`Desired`]). What it does with each field is declared in [`Fields`] and
//! held against the schema by the conformance test (`executor/tests/conformance.rs`).
//!
//! A provider never prints: progress and retries go to the operation's
//! [`Events`]; the CLI decides how to show them.

pub mod aws;
pub mod k8s;
pub mod outputs;
pub mod registry;

pub use aws::eks_token as eks;
pub use registry::Providers;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as J;
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use crate::events::{Event, Events};

/// What a provider is asked to make real: one resource instance with every
/// input known (secrets in the clear: providers need them). Every read of an
/// input is noted, so that the conformance test can tell which fields a kind
/// uses.
#[derive(Debug, Clone)]
pub struct Desired {
    pub address: String,
    /// The kind, e.g. `aws.Postgres` (the base schema of `Web extends k8s.App`).
    pub schema: String,
    /// The object's name at the provider when the configuration gives none:
    /// the address made DNS-safe (`shop_dns` → `shop-dns`).
    pub default_name: String,
    pub inputs: IndexMap<String, Value>,
    read: Arc<Mutex<BTreeSet<String>>>,
}

/// A field the schema does not have, or a value of another type than the
/// schema's: the kind and its schema disagree (a bug the conformance test catches).
fn schema_mismatch(schema: &str, field: &str, want: &str) -> ProviderError {
    ProviderError::permanent(format!(
        "`{schema}` has no {want} input `{field}` (the kind and its schema disagree: a bug of tpt)"
    ))
}

impl Desired {
    pub fn new(address: &str, kind: &str, inputs: IndexMap<String, Value>) -> Desired {
        Desired {
            address: address.to_string(),
            schema: kind.to_string(),
            default_name: default_name(address),
            inputs,
            read: Arc::default(),
        }
    }

    /// The input fields read so far.
    pub fn fields_read(&self) -> BTreeSet<String> {
        self.read.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The input `field` (secret mark removed); an error when the schema has no such field.
    pub fn value(&self, field: &str) -> Result<&Value, ProviderError> {
        if let Ok(mut r) = self.read.lock() {
            r.insert(field.to_string());
        }
        self.inputs
            .get(field)
            .map(|v| v.unwrap_secret().0)
            .ok_or_else(|| schema_mismatch(&self.schema, field, "such"))
    }

    /// Whether the input `field` is a secret (a plain string fits a `secret` field).
    pub fn is_secret(&self, field: &str) -> bool {
        matches!(self.inputs.get(field), Some(Value::Secret(_)))
    }

    /// A `@setting` the walker reads (how long to wait), without noting it:
    /// not every schema has one.
    pub fn setting_duration(&self, field: &str) -> Option<Duration> {
        match self.inputs.get(field).map(|v| v.unwrap_secret().0) {
            Some(Value::Duration(ms)) => Some(Duration::from_millis(ms.max(&0).unsigned_abs())),
            _ => None,
        }
    }

    pub fn opt_str(&self, field: &str) -> Result<Option<&str>, ProviderError> {
        match self.value(field)? {
            Value::Null => Ok(None),
            Value::Str(s) => Ok(Some(s)),
            _ => Err(schema_mismatch(&self.schema, field, "string")),
        }
    }

    pub fn str(&self, field: &str) -> Result<&str, ProviderError> {
        self.opt_str(field)?
            .ok_or_else(|| schema_mismatch(&self.schema, field, "required string"))
    }

    /// An int, or a duration as whole seconds (`ttl: duration | int`).
    pub fn opt_int(&self, field: &str) -> Result<Option<i64>, ProviderError> {
        match self.value(field)? {
            Value::Null => Ok(None),
            Value::Int(i) => Ok(Some(*i)),
            Value::Duration(ms) => Ok(Some(ms / 1000)),
            // A duration in stored form (`5m`: an interrupted create's inputs).
            Value::Str(text) => stored_duration(text)
                .map(|ms| Some(ms / 1000))
                .ok_or_else(|| schema_mismatch(&self.schema, field, "int")),
            _ => Err(schema_mismatch(&self.schema, field, "int")),
        }
    }

    pub fn int(&self, field: &str) -> Result<i64, ProviderError> {
        self.opt_int(field)?
            .ok_or_else(|| schema_mismatch(&self.schema, field, "required int"))
    }

    /// An int that the API takes as 32 bits (ports, sizes: their schema bounds them).
    pub fn i32(&self, field: &str) -> Result<i32, ProviderError> {
        i32::try_from(self.int(field)?).map_err(|_| schema_mismatch(&self.schema, field, "32-bit int"))
    }

    pub fn bool(&self, field: &str) -> Result<bool, ProviderError> {
        match self.value(field)? {
            Value::Bool(b) => Ok(*b),
            _ => Err(schema_mismatch(&self.schema, field, "bool")),
        }
    }

    pub fn opt_duration(&self, field: &str) -> Result<Option<Duration>, ProviderError> {
        let ms = match self.value(field)? {
            Value::Null => return Ok(None),
            Value::Duration(ms) => *ms,
            Value::Str(text) => {
                stored_duration(text).ok_or_else(|| schema_mismatch(&self.schema, field, "duration"))?
            }
            _ => return Err(schema_mismatch(&self.schema, field, "duration")),
        };
        Ok(Some(Duration::from_millis(ms.max(0).unsigned_abs())))
    }

    /// The input as plain JSON, secrets revealed (for building API requests).
    pub fn json(&self, field: &str) -> Result<J, ProviderError> {
        Ok(reveal(self.value(field)?))
    }

    /// A list of strings.
    pub fn strings(&self, field: &str) -> Result<Vec<String>, ProviderError> {
        match self.json(field)? {
            J::Array(xs) => Ok(xs
                .into_iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()),
            J::Null => Ok(Vec::new()),
            _ => Err(schema_mismatch(&self.schema, field, "list")),
        }
    }

    /// A map of strings (`tags`, `labels`).
    pub fn string_map(&self, field: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        match self.json(field)? {
            J::Object(m) => Ok(string_map(&J::Object(m))),
            J::Null => Ok(BTreeMap::new()),
            _ => Err(schema_mismatch(&self.schema, field, "map")),
        }
    }

    /// The name given by `field`, else the default name.
    pub fn name_or_default(&self, field: &str) -> Result<String, ProviderError> {
        Ok(self
            .opt_str(field)?
            .map_or_else(|| self.default_name.clone(), str::to_string))
    }

    /// The address of the resource `field` refers to (`cluster = main`).
    pub fn reference(&self, field: &str) -> Result<&str, ProviderError> {
        match self.value(field)? {
            Value::Resource(a) => Ok(a),
            _ => Err(schema_mismatch(&self.schema, field, "resource")),
        }
    }
}

/// A duration as state stores it (`5m`, `1h30m`), in milliseconds.
fn stored_duration(text: &str) -> Option<i64> {
    tpt_lang::syntax::parser::parse_duration(text)
}

/// The string entries of a JSON object (others left out).
pub fn string_map(j: &J) -> BTreeMap<String, String> {
    match j {
        J::Object(m) => m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// What a kind does with the fields of its schema. Every input field of the
/// schema is `@replace` (a change makes a new object), `@setting` (how to
/// apply, never part of the object), or listed in `in_place`; the
/// conformance test holds this against the schema.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Inputs the kind computes from the others before planning
    /// ([`Provider::render`]: a chart's rendered objects); not in the
    /// schema, recorded and compared like inputs.
    pub rendered: &'static [&'static str],
    /// Input fields whose change `update` sends to the object in place.
    pub in_place: &'static [&'static str],
    /// Input fields `read` reports from the live object (drift is shown for them).
    pub reads: &'static [&'static str],
    /// The outputs `create` and `update` produce (every `@output` of the schema).
    pub outputs: &'static [&'static str],
}

/// A value as JSON with secrets in the clear. Only providers call this, to
/// build requests; the result is never logged or stored.
pub fn reveal(v: &Value) -> J {
    match v {
        Value::Secret(inner) => reveal(inner),
        Value::List(xs) => J::Array(xs.iter().map(reveal).collect()),
        Value::Record(m) => J::Object(m.iter().map(|(k, x)| (k.clone(), reveal(x))).collect()),
        other => other.to_json(),
    }
}

/// A DNS-safe default name for an address: lower case, `_` and other
/// characters as `-`, stamped keys joined (`app["eu-west-1"]` → `app-eu-west-1`).
pub fn default_name(address: &str) -> String {
    let mut out = String::new();
    for c in address.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out.truncate(63);
    out
}

/// What an operation made: the provider's ID of the object and its outputs.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub provider_id: String,
    pub outputs: IndexMap<String, Value>,
    /// The [`Fields::rendered`] inputs as applied: recorded with the inputs.
    pub rendered: IndexMap<String, Value>,
}

/// How an error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttling, a 5xx, a timeout, a dropped connection: retried with backoff.
    Transient,
    /// The object does not exist.
    NotFound,
    /// A create found an object of that name already there.
    AlreadyExists,
    /// The request is wrong or refused; retrying will not help.
    Permanent,
}

#[derive(Debug, Clone)]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ProviderError {
    pub fn permanent(message: impl Into<String>) -> Self {
        ProviderError {
            kind: ErrorKind::Permanent,
            message: message.into(),
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        ProviderError {
            kind: ErrorKind::Transient,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ProviderError {
            kind: ErrorKind::NotFound,
            message: message.into(),
        }
    }
}

/// The answer of a call about one object, `None` when the object does not
/// exist (a describe of something gone, a delete of something already
/// deleted); other errors stay errors.
pub fn found<T>(r: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A recorded or just-applied resource another one refers to (the cluster of
/// an app): its schema, inputs and outputs in stored form (no secret).
#[derive(Debug, Clone)]
pub struct Referenced {
    /// The kind it is applied as (`aws.EksCluster`).
    pub kind: String,
    pub inputs: BTreeMap<String, J>,
    pub outputs: BTreeMap<String, J>,
}

impl Referenced {
    /// The resources among `addresses` that `state` records, as an operation
    /// sees them.
    pub fn recorded(
        state: &tpt_planner::state::State,
        addresses: impl IntoIterator<Item = String>,
    ) -> BTreeMap<String, Referenced> {
        addresses
            .into_iter()
            .filter_map(|a| {
                let r = state.resources.get(&a)?;
                let referenced = Referenced {
                    kind: r.kind().to_string(),
                    inputs: r.inputs.clone(),
                    outputs: r.outputs.clone(),
                };
                Some((a, referenced))
            })
            .collect()
    }
}

/// Everything an operation may use besides its resource.
#[derive(Clone)]
pub struct Cx {
    /// The address operated on.
    pub address: String,
    /// Progress, waits and retries are reported here.
    pub events: Events,
    /// The resources the operated one refers to, by address.
    pub refs: Arc<BTreeMap<String, Referenced>>,
    /// The environment's secrets: generated passwords are derived from it.
    pub secrets: Arc<Secrets>,
    /// Retry policy for transient errors.
    pub retry: RetryPolicy,
    /// How long waits (cluster ACTIVE, database available, rollout) may last;
    /// `None`: the operation's own timeout bounds them.
    pub wait_limit: Option<Duration>,
    /// When the operation times out (its schema's `@timeout`): waits end a
    /// little before, saying what they waited for.
    pub deadline: Option<std::time::Instant>,
    /// The configuration's directory: paths in inputs (a local chart) are
    /// relative to it.
    pub base_dir: Arc<std::path::Path>,
}

impl Cx {
    /// A context for work that calls nothing (reading inputs into a request):
    /// no events, no references, secrets from an empty key.
    pub fn offline(address: &str) -> Cx {
        Cx {
            address: address.to_string(),
            events: Events::none(),
            refs: Arc::default(),
            secrets: Arc::new(Secrets::new(&[], "")),
            retry: RetryPolicy::default(),
            wait_limit: None,
            deadline: None,
            base_dir: Arc::from(std::path::Path::new(".")),
        }
    }

    pub fn event(&self, e: Event) {
        self.events.send(&self.address, e);
    }

    /// Calls `f` until it succeeds, fails for good, or the retries run out;
    /// transient failures wait with exponential backoff and are reported.
    pub async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        self.retrying(what, f, true).await
    }

    /// [`Cx::call`]; `log`: each attempt is an API call of its own (a wait's
    /// check is not: the calls it makes log themselves).
    async fn retrying<T, F, Fut>(&self, what: &str, mut f: F, log: bool) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 1;
        let (service, operation) = service_and_operation(what);
        loop {
            let started = std::time::Instant::now();
            let result = f().await;
            let ms = started.elapsed().as_millis();
            match &result {
                Ok(_) if log => {
                    tracing::debug!(resource = %self.address, service, operation, attempt, ms, "call ok")
                }
                Err(e) if log => tracing::debug!(
                    resource = %self.address, service, operation, attempt, ms,
                    error = ?e.kind, message = %e.message, "call failed"
                ),
                _ => {}
            }
            match result {
                Err(e) if e.kind == ErrorKind::Transient && attempt < self.retry.attempts => {
                    let delay = self.retry.delay(attempt);
                    tracing::info!(
                        resource = %self.address, service, operation, attempt,
                        delay_ms = delay.as_millis(), "retrying"
                    );
                    self.event(Event::Retry {
                        what: what.to_string(),
                        attempt,
                        error: e.message.clone(),
                        delay,
                    });
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) if e.kind == ErrorKind::Transient => {
                    return Err(ProviderError {
                        kind: e.kind,
                        message: format!("{what}: {} (gave up after {attempt} attempts)", e.message),
                    })
                }
                other => return other,
            }
        }
    }

    /// Polls `check` until it returns `Some`, reporting the wait; bounded by
    /// `wait_limit` (the operation's timeout bounds it anyway).
    pub async fn wait_for<T, F, Fut>(&self, what: &str, check: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
    {
        self.wait_until(what, None, check).await
    }

    /// [`Cx::wait_for`] of a wait that can be turned off as `off` says (said
    /// when it runs out). A wait ends by `wait_limit`, and a little before
    /// the operation's `deadline`, so that what it waited for is said.
    pub async fn wait_until<T, F, Fut>(
        &self,
        what: &str,
        off: Option<&str>,
        mut check: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
    {
        let start = std::time::Instant::now();
        let by_limit = self.wait_limit.map(|l| start + l);
        let by_deadline = self
            .deadline
            .map(|d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(start));
        let end = match (by_limit, by_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The operation's deadline, not a wait limit, ends the wait.
        let by_operation = by_deadline.is_some() && end == by_deadline;
        let mut interval = Duration::from_millis(200);
        let mut announced = false;
        loop {
            let done = self.retrying(what, &mut check, false).await?;
            tracing::debug!(
                resource = %self.address, wait = what, elapsed_ms = start.elapsed().as_millis(),
                done = done.is_some(), "poll"
            );
            if let Some(v) = done {
                if announced {
                    self.event(Event::Waited {
                        what: what.to_string(),
                        elapsed: start.elapsed(),
                    });
                }
                return Ok(v);
            }
            let now = std::time::Instant::now();
            if end.is_some_and(|e| now >= e) {
                let longer = if by_operation {
                    "the whole operation is bounded by its schema's `@timeout`"
                } else {
                    "allow it longer with `wait_timeout` or `--wait-timeout`"
                };
                let how = match off {
                    Some(off) => format!("{off}; {longer}"),
                    None => format!("this wait cannot be turned off; {longer}"),
                };
                return Err(ProviderError::permanent(format!(
                    "gave up waiting for {what} after {}: {how}",
                    crate::events::human_duration(start.elapsed())
                )));
            }
            announced = true;
            self.event(Event::Waiting {
                what: what.to_string(),
                elapsed: start.elapsed(),
            });
            let nap = end.map_or(interval, |e| interval.min(e.saturating_duration_since(now)));
            tokio::time::sleep(nap).await;
            interval = (interval * 2).min(Duration::from_secs(10));
        }
    }
}

/// How long before an operation's deadline its waits give up (and say why).
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// The service and operation of a call named `what`: `eks:DescribeCluster`
/// (an AWS call, named so by `aws_call`), else a Kubernetes call (`apply
/// Deployment `web``).
fn service_and_operation(what: &str) -> (&str, &str) {
    match what.split_once(':') {
        Some((service, op))
            if !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            (service, op)
        }
        _ => ("kubernetes", what),
    }
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            base: Duration::from_millis(200),
            max: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: base·2^(attempt-1), capped, with
    /// up to a quarter of random jitter so parallel operations spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let d = exp.min(self.max);
        let jitter = rand::random::<f64>() * 0.25;
        d.mul_f64(1.0 + jitter)
    }
}

/// Secrets of an environment, derived from the state key: a generated
/// password is the same at every run and never stored anywhere.
pub struct Secrets {
    key: Vec<u8>,
    lineage: String,
}

impl Secrets {
    pub fn new(key: &[u8], lineage: &str) -> Secrets {
        Secrets {
            key: key.to_vec(),
            lineage: lineage.to_string(),
        }
    }

    /// A 32-character alphanumeric password for `purpose` of `address`.
    pub fn password(&self, address: &str, purpose: &str) -> String {
        let digest = self.fingerprint(&format!("password\0{}\0{address}\0{purpose}", self.lineage));
        let hex = digest.trim_start_matches("hmac-sha256:");
        // Some letters upper case: password rules often ask for both cases.
        hex.chars()
            .take(32)
            .enumerate()
            .map(|(i, c)| if i % 3 == 0 { c.to_ascii_uppercase() } else { c })
            .collect()
    }

    /// A keyed fingerprint of `text` (reveals nothing about it without the key).
    pub fn fingerprint(&self, text: &str) -> String {
        tpt_planner::state::Sealer::new(&self.key).fingerprint(text)
    }
}

/// One kind of real object. Every method is one operation of the walker;
/// providers use [`Cx::call`] for each API call so that transient failures
/// are retried.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// What the kind does with each field of its schema.
    fn fields(&self) -> Fields;

    /// Reads the inputs into the kind's request, without calling anything:
    /// an error here is an input the kind cannot apply (checked before an
    /// apply starts). It reads every input the kind uses.
    fn validate(&self, d: &Desired) -> Result<(), ProviderError>;

    /// Creates the object. Called after an intent was recorded, so a crash
    /// leaves a trace [`Provider::lookup`] can follow.
    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError>;

    /// Changes the object in place to `d`.
    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError>;

    /// Deletes the object; one already gone is not an error.
    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError>;

    /// The live object of a recorded resource (refresh), inputs in stored form;
    /// inputs the provider cannot see are left out.
    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError>;

    /// `tpt import`: the form of the provider ID that names an existing object
    /// of this kind (`Ok`), which [`Provider::read`] then reads as if it were
    /// recorded; or why the kind cannot adopt an object it did not make (`Err`).
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Err("it does not adopt objects it did not make")
    }

    /// Finds the object an interrupted create may have made (by its name) and
    /// finishes it, waiting as a create does, so it is adopted instead of made
    /// twice (the walker, when a create meets the object, and when it applies
    /// an `unfinished` one).
    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError>;

    /// The provider ID of the object an interrupted create may have made,
    /// found by its name without waiting for it to be ready: reconciling never
    /// waits (the next apply finishes the object, a destroy deletes it). A kind
    /// whose `lookup` waits overrides this.
    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        Ok(self.lookup(cx, d).await?.map(|a| a.provider_id))
    }

    /// The [`Fields::rendered`] inputs of `d` (a chart's objects, rendered):
    /// computed at plan time when every input is known, so that the plan shows
    /// what changes inside; the kind computes them again when it applies and
    /// returns them in [`Applied::rendered`].
    async fn render(&self, _cx: &Cx, _d: &Desired) -> Result<IndexMap<String, Value>, ProviderError> {
        Ok(IndexMap::default())
    }

    /// Secret outputs of a recorded object, derived without calling anything
    /// (they are not stored): so that what depends on them plans without change.
    fn secret_outputs(&self, _cx: &Cx, _prior: &ResourceState) -> IndexMap<String, Value> {
        IndexMap::default()
    }
}

/// Reads a data lookup (`@data` schema).
#[async_trait::async_trait]
pub trait DataSource: Send + Sync {
    async fn read_data(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError>;
}

/// A stored input as text.
pub fn stored_str<'a>(m: &'a BTreeMap<String, J>, field: &str) -> Option<&'a str> {
    m.get(field).and_then(J::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An interrupted create is looked up from its stored inputs, where a
    /// duration is text (`5m`).
    #[test]
    fn stored_durations_read_as_durations() {
        let inputs = IndexMap::from_iter([
            ("ttl".to_string(), Value::str("5m")),
            ("wait".to_string(), Value::str("1h")),
            ("name".to_string(), Value::str("x")),
        ]);
        let d = Desired::new("r", "aws.DnsRecord", inputs);
        assert_eq!(d.int("ttl").ok(), Some(300));
        assert_eq!(
            d.opt_duration("wait").ok().flatten(),
            Some(Duration::from_secs(3600))
        );
        assert!(d.int("name").is_err());
        assert!(d.str("missing").is_err());
        assert_eq!(
            d.fields_read(),
            ["missing", "name", "ttl", "wait"]
                .map(String::from)
                .into_iter()
                .collect()
        );
    }
}
