//! The evaluator: from a checked program and a chosen environment to the list of
//! resource instances with their input values. Total and deterministic; no IO but
//! the named inputs it is given.

use std::collections::BTreeSet;

use indexmap::IndexMap;

use crate::diagnostic::Diagnostic;
use crate::program::{Program, SchemaId};
use crate::source::Span;
use crate::value::Value;

/// Named inputs a configuration may read (`secret_env("NAME")`). The CLI passes
/// the process environment; tests pass a map.
pub trait Inputs {
    fn env_var(&self, name: &str) -> Option<String>;
}

/// No inputs at all.
pub struct NoInputs;

impl Inputs for NoInputs {
    fn env_var(&self, _name: &str) -> Option<String> {
        None
    }
}

/// The result of evaluating one environment.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub environment: Option<String>,
    /// Every param with its resolved value.
    pub params: IndexMap<String, Value>,
    /// Resource instances in declaration order (stamped ones in key order).
    pub resources: Vec<ResourceInstance>,
}

#[derive(Debug, Clone)]
pub struct ResourceInstance {
    /// `shop`, or `cluster["eu-west-1"]` for a stamped one.
    pub address: String,
    /// The declared name (`cluster`).
    pub name: String,
    pub schema: SchemaId,
    /// `aws.EksCluster`
    pub schema_name: String,
    /// Every input field of the schema (defaults filled, outputs left out).
    pub inputs: IndexMap<String, Value>,
    /// Addresses this instance depends on: references and `depends_on`.
    pub depends_on: BTreeSet<String>,
    /// The resource declaration.
    pub span: Span,
}

/// Evaluates the program for `environment` (`None`: the base configuration,
/// allowed only when the program declares no environments).
pub fn evaluate(
    program: &Program,
    environment: Option<&str>,
    inputs: &dyn Inputs,
) -> Result<Evaluated, Vec<Diagnostic>> {
    let _ = (program, inputs);
    Ok(Evaluated {
        environment: environment.map(str::to_string),
        params: IndexMap::new(),
        resources: Vec::new(),
    })
}
