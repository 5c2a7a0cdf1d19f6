//! The recorded state of one environment: what was applied, as data. Pure:
//! reading and writing the bytes is a backend's job (in the executor); this
//! module turns bytes into a [`State`] (with clear errors for corrupt or newer
//! files) and a [`State`] into deterministic, sorted JSON.
//!
//! Secrets are never stored in plain text: a sensitive value is stored as a
//! keyed fingerprint (`{"$sensitive": "hmac-sha256:…"}`), enough to tell whether
//! it changed; the configuration supplies the value itself at every run. See
//! `docs/notes/state.md`.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use tpt_lang::value::{format_duration, Value};

/// The state format this version of tpt reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The state of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The format version of the file.
    pub version: u32,
    /// A UUID made when the state is first created; never changes. A saved plan
    /// or a backup from another lineage is refused.
    pub lineage: String,
    /// Bumped by one on every write that changes the content.
    pub serial: u64,
    /// The environment this state belongs to.
    pub environment: String,
    /// Per resource address, sorted.
    pub resources: BTreeMap<String, ResourceState>,
    /// Creates started but not confirmed: recorded before the provider is
    /// called, removed once the result is recorded. One left over means a run
    /// died mid-create; the next run looks the object up instead of creating
    /// it twice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub intents: BTreeMap<String, Intent>,
    /// The root outputs after the last apply, in stored form (secrets as
    /// fingerprints): what `tpt output` shows and other configurations read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, serde_json::Value>,
}

/// A create in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    #[serde(rename = "type")]
    pub schema: String,
    /// The kind it is applied as, when the schema extends another; see
    /// [`ResourceState::kind`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The inputs it is created with, in stored form (enough to find it by name).
    pub inputs: BTreeMap<String, serde_json::Value>,
    pub depends_on: Vec<String>,
    /// When the create started (RFC 3339).
    pub started: String,
}

/// What was applied for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// The schema, e.g. `aws.Postgres`.
    #[serde(rename = "type")]
    pub schema: String,
    /// The kind it is applied as, when the schema extends another (`k8s.App`
    /// for `resource schema Web extends k8s.App`); empty when it is the schema.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The provider's ID of the object (ARN, `namespace/name`, zone ID).
    pub provider_id: String,
    /// The inputs it was applied with, in stored form (see [`store`]).
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// The outputs the provider reported, in stored form.
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// Addresses it depended on when applied (for ordering its deletion).
    pub depends_on: Vec<String>,
    /// Found after an interrupted create, not yet ready (outputs unknown):
    /// the next apply finishes it (an update); a destroy deletes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
}

/// A recorded `kind`, or the schema when none is recorded (it is the schema).
fn kind_or_schema<'a>(kind: &'a str, schema: &'a str) -> &'a str {
    if kind.is_empty() {
        schema
    } else {
        kind
    }
}

impl ResourceState {
    /// The kind the resource is applied as (which kind deletes and reads it).
    pub fn kind(&self) -> &str {
        kind_or_schema(&self.kind, &self.schema)
    }
}

impl Intent {
    /// The kind the resource is applied as (see [`ResourceState::kind`]).
    pub fn kind(&self) -> &str {
        kind_or_schema(&self.kind, &self.schema)
    }
}

/// `kind` as recorded: empty when it is the schema itself.
pub fn recorded_kind(r: &tpt_lang::ResourceInstance) -> String {
    if r.kind == r.schema_name {
        String::new()
    } else {
        r.kind.clone()
    }
}

impl State {
    /// A new, empty state with a fresh lineage.
    pub fn new(environment: &str, lineage: String) -> State {
        State {
            version: FORMAT_VERSION,
            lineage,
            serial: 0,
            environment: environment.to_string(),
            resources: BTreeMap::new(),
            intents: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Deterministic JSON: keys sorted, two-space indented, a final newline.
    pub fn to_json(&self) -> String {
        // Sorted by construction (BTreeMaps); serde_json keeps that order.
        serde_json::to_string_pretty(self)
            .map(|s| s + "\n")
            .unwrap_or_default()
    }

    /// Reads a state file's bytes. Corrupt, foreign and newer files are errors
    /// (never silently replaced).
    pub fn parse(bytes: &[u8]) -> Result<State, StateError> {
        let raw: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt(e.to_string()))?;
        let version = raw
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| StateError::Corrupt("no `version` field: this is not a tpt state file".into()))?;
        if version > u64::from(FORMAT_VERSION) {
            return Err(StateError::Newer {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_value(raw).map_err(|e| StateError::Corrupt(e.to_string()))
    }
}

/// Why a state file cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum StateError {
    /// Not valid state JSON (the message says where).
    Corrupt(String),
    /// Written by a newer tpt.
    Newer { found: u64, supported: u32 },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Corrupt(m) => write!(f, "the state file is corrupt: {m}"),
            StateError::Newer { found, supported } => write!(
                f,
                "the state file has format version {found}, newer than this tpt understands ({supported})"
            ),
        }
    }
}

/// Fingerprints sensitive values with a secret key, so that state holds no
/// secret and cannot be used to guess one without the key.
pub struct Sealer {
    key: Vec<u8>,
}

impl Sealer {
    pub fn new(key: &[u8]) -> Sealer {
        Sealer { key: key.to_vec() }
    }

    /// `hmac-sha256:<hex>` of the text.
    pub fn fingerprint(&self, text: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            // HMAC accepts keys of any length; this branch cannot be taken.
            return "hmac-sha256:".to_string();
        };
        mac.update(text.as_bytes());
        let bytes = mac.finalize().into_bytes();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("hmac-sha256:{hex}")
    }
}

/// The stored form of a value: plain JSON, with secrets as
/// `{"$sensitive": fingerprint}`, unknowns as `{"$unknown": origin}`, resource
/// references as `{"$resource": address}` and durations as text (`"5m"`).
pub fn store(v: &Value, sealer: &Sealer) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Secret(inner) => {
            let plain = serde_json::to_string(&plain_json(inner)).unwrap_or_default();
            let mut m = serde_json::Map::new();
            m.insert("$sensitive".into(), J::String(sealer.fingerprint(&plain)));
            J::Object(m)
        }
        Value::List(xs) => J::Array(xs.iter().map(|x| store(x, sealer)).collect()),
        Value::Record(m) => J::Object(m.iter().map(|(k, x)| (k.clone(), store(x, sealer))).collect()),
        other => other.to_json(),
    }
}

/// JSON of a value with secrets in the clear — only ever fingerprinted, never
/// kept; shown only when a person asks for one secret (`tpt output NAME --show-secret`).
pub fn plain_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Secret(inner) => plain_json(inner),
        Value::List(xs) => serde_json::Value::Array(xs.iter().map(plain_json).collect()),
        Value::Record(m) => {
            serde_json::Value::Object(m.iter().map(|(k, x)| (k.clone(), plain_json(x))).collect())
        }
        Value::Duration(ms) => serde_json::Value::String(format_duration(*ms)),
        other => other.to_json(),
    }
}

/// What an apply records for an instance: its inputs (and the outputs the
/// provider returned) in stored form, and its dependencies.
pub fn record(
    r: &tpt_lang::ResourceInstance,
    provider_id: &str,
    outputs: Option<&tpt_lang::IndexMap<String, Value>>,
    sealer: &Sealer,
) -> ResourceState {
    ResourceState {
        schema: r.schema_name.clone(),
        kind: recorded_kind(r),
        provider_id: provider_id.to_string(),
        inputs: r
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), store(v, sealer)))
            .collect(),
        outputs: outputs
            .map(|o| o.iter().map(|(k, v)| (k.clone(), store(v, sealer))).collect())
            .unwrap_or_default(),
        depends_on: r.depends_on.iter().cloned().collect(),
        unfinished: false,
    }
}

/// Whether a stored value is (or holds) a sensitive one.
pub fn is_sensitive(j: &serde_json::Value) -> bool {
    match j {
        serde_json::Value::Object(m) => m.contains_key("$sensitive") || m.values().any(is_sensitive),
        serde_json::Value::Array(xs) => xs.iter().any(is_sensitive),
        _ => false,
    }
}

/// Whether a stored value is (or holds) one known only after apply.
pub fn is_unknown(j: &serde_json::Value) -> bool {
    match j {
        serde_json::Value::Object(m) => m.contains_key("$unknown") || m.values().any(is_unknown),
        serde_json::Value::Array(xs) => xs.iter().any(is_unknown),
        _ => false,
    }
}

/// The outputs recorded in `state`, as values the evaluator can use, so that
/// a reference to an applied resource's output is known in the next plan.
/// Sensitive outputs stay unknown: the state holds only their fingerprints
/// (the executor reads them live when it needs them).
pub fn known_outputs(program: &tpt_lang::Program, state: &State) -> tpt_lang::KnownOutputs {
    let mut known = tpt_lang::KnownOutputs::default();
    // An unfinished object's outputs are not known until an apply finishes it.
    for (address, r) in state.resources.iter().filter(|(_, r)| !r.unfinished) {
        let Some(schema) = program.schemas.iter().find(|s| s.name == r.schema) else {
            continue;
        };
        let mut values = tpt_lang::IndexMap::default();
        for (field, stored) in &r.outputs {
            let Some(f) = schema.fields.get(field).filter(|f| f.output) else {
                continue;
            };
            if let Some(v) = recall(program, stored, &f.ty) {
                values.insert(field.clone(), v);
            }
        }
        if !values.is_empty() {
            known.outputs.insert(address.clone(), values);
        }
    }
    known
}

/// A stored record back as a record with these fields; absent ones are null.
fn recall_fields<'t>(
    program: &tpt_lang::Program,
    m: &serde_json::Map<String, serde_json::Value>,
    fields: impl Iterator<Item = (&'t String, &'t tpt_lang::types::Ty)>,
) -> Option<Value> {
    let mut out = tpt_lang::IndexMap::default();
    for (k, ty) in fields {
        let v = match m.get(k) {
            Some(x) => recall(program, x, ty)?,
            None => Value::Null,
        };
        out.insert(k.clone(), v);
    }
    Some(Value::record(out))
}

/// A stored value back as a value of type `ty`; `None` when it cannot be (a
/// fingerprinted secret, an unknown, a shape that does not fit).
pub fn recall(program: &tpt_lang::Program, j: &serde_json::Value, ty: &tpt_lang::types::Ty) -> Option<Value> {
    use serde_json::Value as J;
    use tpt_lang::types::Ty;
    if let J::Object(m) = j {
        if m.contains_key("$sensitive") || m.contains_key("$unknown") {
            return None;
        }
    }
    Some(match (ty, j) {
        (Ty::Alias(_, t) | Ty::Refined(t, _), _) => return recall(program, j, t),
        (Ty::Optional(_), J::Null) => Value::Null,
        (Ty::Optional(t), _) => return recall(program, j, t),
        (Ty::Duration, J::String(s)) => Value::Duration(tpt_lang::syntax::parser::parse_duration(s)?),
        (Ty::Int, J::Number(n)) => Value::Int(n.as_i64()?),
        (Ty::Float, J::Number(n)) => Value::Float(n.as_f64()?),
        (Ty::Bool, J::Bool(b)) => Value::Bool(*b),
        (Ty::String | Ty::Literal(_), J::String(s)) => Value::str(s.as_str()),
        (Ty::List(t), J::Array(xs)) => Value::list(
            xs.iter()
                .map(|x| recall(program, x, t))
                .collect::<Option<Vec<_>>>()?,
        ),
        (Ty::Map(t), J::Object(m)) => Value::record(
            m.iter()
                .map(|(k, x)| Some((k.clone(), recall(program, x, t)?)))
                .collect::<Option<_>>()?,
        ),
        (Ty::Record(r), J::Object(m)) => recall_fields(program, m, r.fields.iter().map(|(k, f)| (k, &f.ty)))?,
        (Ty::Schema(id), J::Object(m)) if !program.schema(*id).is_resource => recall_fields(
            program,
            m,
            program
                .schema(*id)
                .fields
                .iter()
                .filter(|(_, f)| !f.output)
                .map(|(k, f)| (k, &f.ty)),
        )?,
        (Ty::Schema(_), J::Object(m)) => Value::Resource(m.get("$resource")?.as_str()?.into()),
        (Ty::Union(ts), _) => return ts.iter().find_map(|t| recall(program, j, t)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut s = State::new("prod", "0b7e5a5e-1111-4222-8333-944455556666".into());
        s.serial = 3;
        s.resources.insert(
            "orders".into(),
            ResourceState {
                schema: "aws.Postgres".into(),
                kind: String::new(),
                provider_id: "arn:aws:rds:eu-west-1:1:db:orders".into(),
                inputs: [("storage_gb".to_string(), serde_json::json!(20))]
                    .into_iter()
                    .collect(),
                outputs: BTreeMap::new(),
                depends_on: vec!["main".into()],
                unfinished: false,
            },
        );
        s
    }

    #[test]
    fn round_trips_deterministically() {
        let s = sample();
        let text = s.to_json();
        assert_eq!(State::parse(text.as_bytes()), Ok(s.clone()));
        assert_eq!(
            text,
            State::parse(text.as_bytes())
                .map(|s| s.to_json())
                .unwrap_or_default()
        );
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn corrupt_and_newer_files_are_errors() {
        assert!(matches!(State::parse(b"{not json"), Err(StateError::Corrupt(_))));
        assert!(matches!(State::parse(b"{}"), Err(StateError::Corrupt(_))));
        let newer = sample().to_json().replace("\"version\": 1", "\"version\": 9");
        assert_eq!(
            State::parse(newer.as_bytes()),
            Err(StateError::Newer {
                found: 9,
                supported: 1
            })
        );
    }

    #[test]
    fn secrets_are_stored_as_keyed_fingerprints() {
        let sealer = Sealer::new(b"key");
        let v = Value::record(
            [
                (
                    "url".to_string(),
                    Value::secret(Value::str("postgres://app:hunter2@db")),
                ),
                ("mode".to_string(), Value::str("prod")),
            ]
            .into_iter()
            .collect(),
        );
        let stored = store(&v, &sealer);
        let text = stored.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(is_sensitive(&stored));
        assert_eq!(stored["mode"], "prod");
        // Same value, same fingerprint; other value or other key, another.
        assert_eq!(store(&v, &sealer), stored);
        assert_ne!(store(&v, &Sealer::new(b"other key")), stored);
    }

    #[test]
    fn an_unfinished_object_has_no_known_outputs() {
        let program = tpt_lang::Program::from_text("main.tpt", "import std.aws\n");
        let mut state = State::new("prod", "lineage".into());
        let zone = ResourceState {
            schema: "aws.HostedZone".into(),
            kind: String::new(),
            provider_id: "Z1".into(),
            inputs: BTreeMap::new(),
            outputs: [("zone_id".to_string(), serde_json::json!("Z1"))]
                .into_iter()
                .collect(),
            depends_on: Vec::new(),
            unfinished: false,
        };
        state.resources.insert("zone".into(), zone.clone());
        state.resources.insert(
            "late".into(),
            ResourceState {
                unfinished: true,
                ..zone
            },
        );
        let known = known_outputs(&program, &state);
        assert!(known.outputs.contains_key("zone"));
        assert!(!known.outputs.contains_key("late"), "{:?}", known.outputs);
    }
}
