//! `tpt promote NAME --from A --to B`: copy the value of a `@promote` param
//! from one environment to another by editing the target's file in place —
//! exactly the bytes of the old value are replaced — then show what changes.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use tpt_lang::diagnostic::did_you_mean;
use tpt_lang::{Code, Diagnostic};
use tpt_planner::envdiff;

use super::{exit, load_and_check, select_environments, FAILED, OK};
use crate::cli::PromoteArgs;
use crate::render::{status, Renderer};
use tpt_executor::host::EnvInputs;

pub fn run(args: &PromoteArgs, renderer: &Renderer) -> ExitCode {
    let checked = load_and_check(&args.path);
    let fail = |diags: &[Diagnostic]| super::failed(renderer, diags, &checked.program.sources);
    if checked.has_errors() {
        return fail(&checked.diagnostics);
    }
    let program = &checked.program;
    let root = program.module(program.root());
    for env in [&args.from, &args.to] {
        if let Err(d) = select_environments(&checked.environments(), Some(env), true) {
            return fail(&[d]);
        }
    }
    // The param: known and marked @promote.
    let Some(param) = root.params.get(&args.name) else {
        let mut d = Diagnostic::error(Code::UnknownParam, format!("there is no param `{}`", args.name));
        d = match did_you_mean(&args.name, root.params.keys().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
            None => d.help("promote a param declared with `@promote param NAME: TYPE`"),
        };
        return fail(&[d]);
    };
    if !param.has_annotation("promote") {
        let promotable: Vec<String> = root
            .params
            .iter()
            .filter(|(_, p)| p.has_annotation("promote"))
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        let d = Diagnostic::error(
            Code::NotPromotable,
            format!("param `{}` is not marked `@promote`", args.name),
        )
        .label(param.node.name.span, "declared without `@promote`")
        .help(if promotable.is_empty() {
            format!("mark it promotable: `@promote param {} …`", args.name)
        } else {
            format!(
                "mark it promotable with `@promote`; promotable params are: {}",
                promotable.join(", ")
            )
        });
        return fail(&[d]);
    }
    // The target must set the param in its own block: that is the text to edit.
    let Some(target) = root.environments.get(&args.to) else {
        return exit(FAILED);
    };
    let Some(set) = target.node.sets.iter().find(|s| s.name.name == args.name) else {
        let d = Diagnostic::error(
            Code::PromoteTargetUnset,
            format!("environment `{}` does not set `{}` itself", args.to, args.name),
        )
        .label(
            target.node.name.span,
            format!("no `{} = …` in this block", args.name),
        )
        .help(format!(
            "add `{} = …` to environment `{}` first; promotion replaces a value written there",
            args.name, args.to
        ));
        return fail(&[d]);
    };
    // The value in the source environment.
    let from = match tpt_lang::evaluate(program, Some(&args.from), &EnvInputs::without_vars()) {
        Ok(e) => e,
        Err(diags) => return fail(&diags),
    };
    let before = match tpt_lang::evaluate(program, Some(&args.to), &EnvInputs::without_vars()) {
        Ok(e) => e,
        Err(diags) => return fail(&diags),
    };
    let value = from
        .params
        .get(&args.name)
        .cloned()
        .unwrap_or(tpt_lang::value::Value::Null);
    let Some(literal) = value.to_source() else {
        let d = Diagnostic::error(
            Code::SecretLeak,
            format!("the value of `{}` cannot be written into a file", args.name),
        )
        .label(set.value.span, "would be replaced")
        .help("secrets and values known only after apply are never written out; promote a plain value");
        return fail(&[d]);
    };
    let old_value = before
        .params
        .get(&args.name)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let Some(file) = program.sources.get(set.value.span.file) else {
        return exit(FAILED);
    };
    let location = program.sources.location(set.value.span);
    if file.slice(set.value.span) == literal {
        status(&format!(
            "`{}` is already {literal} in `{}` ({location})",
            args.name, args.to
        ));
        return exit(OK);
    }
    let range = set.value.span.range();
    let mut text = file.text.to_string();
    text.replace_range(range, &literal);
    let verb = if args.dry_run { "would promote" } else { "promoted" };
    status(&format!(
        "{verb} `{}` from `{}` to `{}`: {old_value} → {value} ({location})",
        args.name, args.from, args.to
    ));
    // What the new value changes in the target environment.
    let after = match evaluate_edited(&args.path, &file.name, &text, &args.to) {
        Ok(e) => e,
        Err(()) => {
            status("error: the edited configuration does not evaluate; nothing was written");
            return exit(FAILED);
        }
    };
    let diff = envdiff::diff(&before, &after);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "changes in `{}`:", args.to);
    let _ = out.write_all(envdiff::to_text(&diff, &args.to, &format!("{} (promoted)", args.to)).as_bytes());
    if args.dry_run {
        return exit(OK);
    }
    if let Err(e) = super::fmt::write_atomically(Path::new(&file.name), &text) {
        status(&format!("error: cannot write `{}`: {e}", file.name));
        return exit(FAILED);
    }
    exit(OK)
}

/// Evaluates `env` of the configuration at `path` with one file's text replaced.
fn evaluate_edited(
    path: &Path,
    edited_name: &str,
    edited_text: &str,
    env: &str,
) -> Result<tpt_lang::Evaluated, ()> {
    struct Overlay<'a> {
        name: &'a str,
        text: &'a str,
    }
    impl tpt_lang::FileSystem for Overlay<'_> {
        fn read(&self, path: &str) -> Result<String, String> {
            if path == self.name {
                Ok(self.text.to_string())
            } else {
                tpt_executor::host::DiskFs.read(path)
            }
        }
    }
    let files = tpt_executor::host::root_files(path).map_err(|_| ())?;
    let program = tpt_lang::Program::load(
        &Overlay {
            name: edited_name,
            text: edited_text,
        },
        &files,
    );
    if tpt_lang::check(&program).iter().any(Diagnostic::is_error) {
        return Err(());
    }
    tpt_lang::evaluate(&program, Some(env), &EnvInputs::without_vars()).map_err(|_| ())
}
