//! `tpt eval`: evaluate one environment and print its resources as JSON or
//! YAML. Secrets are redacted by `Value::to_json`; nothing else prints values.

use std::io::Write;
use std::process::ExitCode;

use serde_json::{json, Map, Value as Json};
use tpt_lang::Evaluated;

use super::{evaluate_env, exit, FAILED, OK};
use crate::cli::{EvalArgs, Format};
use crate::render::{status, Renderer};

pub fn run(args: &EvalArgs, renderer: &Renderer) -> ExitCode {
    let run = match evaluate_env(&args.path, args.env.as_deref(), &args.vars, renderer) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let evaluated = run.evaluated;
    let doc = to_json(&evaluated);
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&doc)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => Ok::<String, String>(tpt_lang::yaml::to_yaml(&doc)),
    };
    match text {
        Ok(text) => {
            // A closed pipe (`tpt eval … | head`) is not an error of the configuration.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            exit(OK)
        }
        Err(e) => {
            status(&format!("error: cannot serialize the result: {e}"));
            exit(FAILED)
        }
    }
}

/// `{"environment", "params", "resources": [{"address", "type", "inputs", "depends_on"}]}`
pub fn to_json(e: &Evaluated) -> Json {
    let params: Map<String, Json> = e.params.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
    let resources: Vec<Json> = e
        .resources
        .iter()
        .map(|r| {
            let inputs: Map<String, Json> = r.inputs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
            json!({
                "address": r.address,
                "type": r.schema_name,
                "inputs": inputs,
                "depends_on": r.depends_on.iter().collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "environment": e.environment,
        "params": params,
        "resources": resources,
    })
}
