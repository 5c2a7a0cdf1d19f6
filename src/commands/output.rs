//! `tpt output [NAME]`: the root outputs the environment's last apply recorded
//! (secrets masked; one shown by name with `--show-secret`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use tpt_lang::{Code, Diagnostic};
use tpt_planner::plan::show;

use super::plan::open_session;
use super::{checked, exit, failed, OK};
use crate::cli::OutputArgs;
use crate::render::Renderer;

pub fn run(args: &OutputArgs, renderer: &Renderer) -> ExitCode {
    // An output name is an identifier: a first argument with `/` or `.` is the path.
    let (name, path) = match (&args.name, &args.path) {
        (Some(n), None) if n.contains(['/', '.']) => (None, PathBuf::from(n)),
        (n, p) => (n.clone(), p.clone().unwrap_or_else(|| PathBuf::from("."))),
    };
    let checked = match checked(&path, &[], renderer) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let fail = |diags: &[Diagnostic]| failed(renderer, diags, &checked.program.sources);
    let session = match open_session(&checked, &path, args.env.as_deref(), "0s", None) {
        Ok(s) => s,
        Err(diags) => return fail(&diags),
    };
    let state = match session.recorded() {
        Ok(s) => s,
        Err(d) => return fail(&[d]),
    };
    let env = session.env_name.clone();
    let env_flag = session
        .env
        .as_ref()
        .map(|e| format!(" --env {e}"))
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let Some(name) = name else {
        // Every output, secrets masked.
        if args.json {
            let doc: serde_json::Map<String, serde_json::Value> = state
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), display(v)))
                .collect();
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        } else {
            for (k, v) in &state.outputs {
                let _ = writeln!(out, "{k} = {}", show(v));
            }
        }
        return exit(OK);
    };
    let Some(stored) = state.outputs.get(&name) else {
        let recorded: Vec<&str> = state.outputs.keys().map(String::as_str).collect();
        let d = Diagnostic::error(
            Code::UnknownTarget,
            format!("no output `{name}` is recorded in `{env}`"),
        );
        let d = match tpt_lang::diagnostic::did_you_mean(&name, recorded.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
            None if recorded.is_empty() => d.help(
                "outputs are recorded by `tpt apply`; declare them with `output NAME: TYPE = …` in the root configuration",
            ),
            None => d.help(format!("the recorded outputs are: {}", recorded.join(", "))),
        };
        return fail(&[d]);
    };
    let value = if tpt_planner::state::is_sensitive(stored) {
        if !args.show_secret {
            let d = Diagnostic::error(Code::SecretLeak, format!("output `{name}` is a secret")).help(
                format!("add `--show-secret` to print it: `tpt output {name}{env_flag} --show-secret`"),
            );
            return fail(&[d]);
        }
        let outputs = match session.current_outputs() {
            Ok(o) => o,
            Err(diags) => return fail(&diags),
        };
        match outputs.get(&name) {
            Some(v) if !v.contains_unknown() => tpt_planner::state::plain_json(v),
            _ => {
                return fail(&[Diagnostic::error(
                    Code::UnknownTarget,
                    format!(
                        "output `{name}` cannot be computed from the configuration and the state of `{env}`"
                    ),
                )
                .help("the configuration changed since the last apply: run `tpt apply` first")])
            }
        }
    } else {
        stored.clone()
    };
    if args.json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        match &value {
            serde_json::Value::String(s) => {
                let _ = writeln!(out, "{s}");
            }
            other => {
                let _ = writeln!(out, "{other}");
            }
        }
    }
    exit(OK)
}

/// A stored output for `--json`: secrets as `"(sensitive)"`.
fn display(v: &serde_json::Value) -> serde_json::Value {
    if tpt_planner::state::is_sensitive(v) {
        serde_json::Value::String(show(v))
    } else {
        v.clone()
    }
}
