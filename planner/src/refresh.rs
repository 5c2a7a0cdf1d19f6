//! Refresh: what the kinds report about recorded objects, as data. The
//! executor's kinds read live objects (`Provider::read`); the planner stays pure
//! and only receives the answers ([`Live`]), compares them with the recorded
//! state, and shows the difference as drift — changes made outside tpt.

use std::collections::BTreeMap;

use serde_json::Value as J;

use crate::plan::FieldChange;
use crate::state::State;

/// A provider's answer about one recorded object.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// The object no longer exists.
    Gone,
    /// The object exists with these inputs and outputs (stored form).
    Present {
        inputs: BTreeMap<String, J>,
        outputs: BTreeMap<String, J>,
    },
}

/// One object that changed outside tpt.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    pub address: String,
    pub schema: String,
    /// `None`: deleted outside tpt; else the inputs that differ (recorded → live).
    pub changed: Option<Vec<FieldChange>>,
}

/// The state as the providers see it, and the drift from what was recorded.
/// Fields a provider does not report keep their recorded value (it cannot
/// see them, e.g. a write-only password).
pub fn apply_live(state: &State, live: &BTreeMap<String, Live>) -> (State, Vec<Drift>) {
    let mut refreshed = state.clone();
    let mut drift = Vec::new();
    for (address, answer) in live {
        let Some(recorded) = state.resources.get(address) else {
            continue;
        };
        match answer {
            Live::Gone => {
                refreshed.resources.remove(address);
                drift.push(Drift {
                    address: address.clone(),
                    schema: recorded.schema.clone(),
                    changed: None,
                });
            }
            Live::Present { inputs, outputs } => {
                let mut changes = Vec::new();
                let entry = refreshed.resources.get_mut(address);
                let Some(entry) = entry else { continue };
                for (field, value) in inputs {
                    if recorded.inputs.get(field) != Some(value) {
                        changes.push(FieldChange {
                            field: field.clone(),
                            before: recorded.inputs.get(field).cloned(),
                            after: Some(value.clone()),
                            forces_replacement: false,
                        });
                        entry.inputs.insert(field.clone(), value.clone());
                    }
                }
                // An unfinished object's outputs stay unknown until an apply finishes it.
                if !recorded.unfinished {
                    for (field, value) in outputs {
                        entry.outputs.insert(field.clone(), value.clone());
                    }
                }
                if !changes.is_empty() {
                    drift.push(Drift {
                        address: address.clone(),
                        schema: recorded.schema.clone(),
                        changed: Some(changes),
                    });
                }
            }
        }
    }
    (refreshed, drift)
}

/// Drift for people.
/// `2 objects changed and 1 deleted outside tpt`, for a summary line.
pub fn describe_drift(drift: &[Drift]) -> String {
    let deleted = drift.iter().filter(|d| d.changed.is_none()).count();
    let changed = drift.len() - deleted;
    let n = |k: usize, what: &str| {
        if k == 1 {
            format!("1 object {what}")
        } else {
            format!("{k} objects {what}")
        }
    };
    match (changed, deleted) {
        (0, 0) => "nothing".to_string(),
        (c, 0) => format!("{} outside tpt", n(c, "changed")),
        (0, d) => format!("{} outside tpt", n(d, "deleted")),
        (c, d) => format!("{} and {d} deleted outside tpt", n(c, "changed")),
    }
}

pub fn drift_text(drift: &[Drift]) -> String {
    if drift.is_empty() {
        return String::new();
    }
    let mut out = String::from("Objects changed outside tpt since the last apply:\n\n");
    for d in drift {
        match &d.changed {
            None => out.push_str(&format!(
                "  ! {} ({}) was deleted outside tpt\n",
                d.address, d.schema
            )),
            Some(fields) => {
                out.push_str(&format!(
                    "  ! {} ({}) was changed outside tpt\n",
                    d.address, d.schema
                ));
                for f in fields {
                    let nested = |v: &Option<J>| v.as_ref().is_some_and(crate::plan::is_nested);
                    let empty = |v: &Option<J>| {
                        v.as_ref()
                            .is_none_or(|j| j.as_object().is_some_and(|m| m.is_empty()))
                    };
                    if (nested(&f.before) || nested(&f.after))
                        && (nested(&f.before) || empty(&f.before))
                        && (nested(&f.after) || empty(&f.after))
                    {
                        out.push_str(&format!("      ~ {}:\n", f.field));
                        crate::plan::nested_lines(
                            f.before.as_ref(),
                            f.after.as_ref(),
                            "          ",
                            &mut out,
                        );
                        continue;
                    }
                    let before = f
                        .before
                        .as_ref()
                        .map(crate::plan::show)
                        .unwrap_or_else(|| "(absent)".into());
                    let after = f
                        .after
                        .as_ref()
                        .map(crate::plan::show)
                        .unwrap_or_else(|| "(absent)".into());
                    out.push_str(&format!("      ~ {}: {before} → {after}\n", f.field));
                }
            }
        }
    }
    out.push('\n');
    out
}
