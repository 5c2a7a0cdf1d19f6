//! Providers: the one trait every kind of real object is created, changed,
//! read and deleted through, and the pieces they share (inputs as typed
//! values, errors classified for retrying, the operation context).
//!
//! A provider never prints: progress and retries go to the operation's
//! [`Events`]; the CLI decides how to show them.

pub mod aws;
pub mod eks;
pub mod k8s;
pub mod vpc;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value as J;
use tpt_lang::value::Value;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use crate::events::{Event, Events};

/// What a provider is asked to make real: one resource instance with every
/// input known (secrets in the clear: providers need them).
#[derive(Debug, Clone)]
pub struct Desired {
    pub address: String,
    /// The schema, e.g. `aws.Postgres`.
    pub schema: String,
    /// The object's name at the provider when the configuration gives none:
    /// the address made DNS-safe (`shop_dns` → `shop-dns`).
    pub default_name: String,
    pub inputs: IndexMap<String, Value>,
}

impl Desired {
    /// The input `field` as text, if it is set to a string.
    pub fn str(&self, field: &str) -> Option<&str> {
        match self.inputs.get(field).map(|v| v.unwrap_secret().0) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, field: &str) -> Option<i64> {
        match self.inputs.get(field).map(|v| v.unwrap_secret().0) {
            Some(Value::Int(i)) => Some(*i),
            Some(Value::Duration(ms)) => Some(ms / 1000),
            _ => None,
        }
    }

    pub fn duration(&self, field: &str) -> Option<Duration> {
        match self.inputs.get(field).map(|v| v.unwrap_secret().0) {
            Some(Value::Duration(ms)) => Some(Duration::from_millis(ms.max(&0).unsigned_abs())),
            _ => None,
        }
    }

    pub fn bool(&self, field: &str) -> Option<bool> {
        match self.inputs.get(field).map(|v| v.unwrap_secret().0) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The input as plain JSON, secrets revealed (for building API requests).
    pub fn json(&self, field: &str) -> J {
        self.inputs.get(field).map(reveal).unwrap_or(J::Null)
    }

    /// The name given by `field`, else the default name.
    pub fn name_or_default(&self, field: &str) -> String {
        self.str(field)
            .map_or_else(|| self.default_name.clone(), str::to_string)
    }

    /// The address of the resource `field` refers to (`cluster = main`).
    pub fn reference(&self, field: &str) -> Option<&str> {
        match self.inputs.get(field) {
            Some(Value::Resource(a)) => Some(a),
            _ => None,
        }
    }
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

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A recorded or just-applied resource another one refers to (the cluster of
/// an app): its schema, inputs and outputs in stored form (no secret).
#[derive(Debug, Clone)]
pub struct Referenced {
    pub schema: String,
    pub inputs: BTreeMap<String, J>,
    pub outputs: BTreeMap<String, J>,
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
}

impl Cx {
    pub fn event(&self, e: Event) {
        self.events.send(&self.address, e);
    }

    /// Calls `f` until it succeeds, fails for good, or the retries run out;
    /// transient failures wait with exponential backoff and are reported.
    pub async fn call<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Err(e) if e.kind == ErrorKind::Transient && attempt < self.retry.attempts => {
                    let delay = self.retry.delay(attempt);
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
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
    {
        let start = std::time::Instant::now();
        let mut interval = Duration::from_millis(200);
        let mut announced = false;
        loop {
            if let Some(v) = self.call(what, &mut check).await? {
                if announced {
                    self.event(Event::Waited {
                        what: what.to_string(),
                        elapsed: start.elapsed(),
                    });
                }
                return Ok(v);
            }
            if let Some(limit) = self.wait_limit {
                if start.elapsed() >= limit {
                    return Err(ProviderError::permanent(format!(
                        "gave up waiting for {what} after {}",
                        crate::events::human_duration(start.elapsed())
                    )));
                }
            }
            if !announced {
                announced = true;
            }
            self.event(Event::Waiting {
                what: what.to_string(),
                elapsed: start.elapsed(),
            });
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_secs(10));
        }
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

    /// Finds the object an interrupted create may have made (by its name), so
    /// it is adopted instead of made twice.
    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError>;

    /// Secret outputs of a recorded object, derived without calling anything
    /// (they are not stored): so that what depends on them plans without change.
    fn secret_outputs(&self, _cx: &Cx, _prior: &ResourceState) -> IndexMap<String, Value> {
        IndexMap::new()
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

/// Which provider applies which schema.
pub struct Providers {
    aws: Arc<aws::Aws>,
    k8s: Arc<k8s::Kube>,
    /// Providers registered for more schemas (embedders, the walker's tests).
    more: HashMap<String, Arc<dyn Provider>>,
}

impl Default for Providers {
    fn default() -> Self {
        let aws = Arc::new(aws::Aws::default());
        Providers {
            k8s: Arc::new(k8s::Kube::new(aws.clone())),
            aws,
            more: HashMap::new(),
        }
    }
}

/// The schemas the Kubernetes provider applies.
pub const K8S_SCHEMAS: &[&str] = &[
    "k8s.App",
    "k8s.Manifest",
    "k8s.Namespace",
    "k8s.IngressController",
    "k8s.CertManager",
    "k8s.KubeconfigCluster",
];

impl Providers {
    /// The provider of a resource schema, if there is one yet.
    pub fn get(&self, schema: &str) -> Option<Arc<dyn Provider>> {
        if let Some(p) = self.more.get(schema) {
            return Some(p.clone());
        }
        let aws = self.aws.clone();
        Some(match schema {
            "aws.EksCluster" => Arc::new(aws::Eks(aws)),
            "aws.Postgres" | "aws.MySql" => Arc::new(aws::Rds(aws)),
            "aws.HostedZone" => Arc::new(aws::Zone(aws)),
            "aws.DnsRecord" => Arc::new(aws::Record(aws)),
            s if K8S_SCHEMAS.contains(&s) => self.k8s.clone(),
            _ => return None,
        })
    }

    /// Applies the resource schema `schema` (e.g. `Thing` of the root module)
    /// with `provider`, before the built-in ones.
    pub fn register(&mut self, schema: &str, provider: Arc<dyn Provider>) {
        self.more.insert(schema.to_string(), provider);
    }

    /// The reader of a data lookup schema.
    pub fn data(&self, schema: &str) -> Option<Arc<dyn DataSource>> {
        match schema {
            "aws.ExistingHostedZone" => Some(Arc::new(aws::ExistingZone(self.aws.clone()))),
            _ => None,
        }
    }
}
