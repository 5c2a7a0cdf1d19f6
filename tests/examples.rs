//! Every example checks and evaluates cleanly in each of its environments, and
//! its output holds no secret; the commands of its README run as written, and
//! the output its README shows is the output the command prints.

mod support;

use support::{repo_root, tpt_in};

/// `(example directory, environments)`.
const EXAMPLES: &[(&str, &[&str])] = &[
    ("examples/shop", &["dev", "staging", "prod"]),
    ("examples/multi-region", &["staging", "prod"]),
    ("examples/platform", &["staging", "prod"]),
];

#[test]
fn examples_check_cleanly() {
    for (dir, _) in EXAMPLES {
        let out = tpt_in(&repo_root(), &["check", dir]);
        assert_eq!(out.code, 0, "tpt check {dir}:\n{}", out.stderr);
        assert!(out.stderr.contains(": ok"), "{}", out.stderr);
    }
}

#[test]
fn examples_evaluate_in_every_environment() {
    for (dir, envs) in EXAMPLES {
        for env in *envs {
            let out = tpt_in(&repo_root(), &["eval", dir, "--env", env]);
            assert_eq!(out.code, 0, "tpt eval {dir} --env {env}:\n{}", out.stderr);
            let json: serde_json::Value =
                serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
            let resources = json["resources"].as_array().map(Vec::len).unwrap_or(0);
            assert!(resources > 0, "{dir} --env {env} has no resources");
            assert_eq!(json["environment"], *env);
        }
    }
}

#[test]
fn examples_are_formatted() {
    for (dir, _) in EXAMPLES {
        let out = tpt_in(&repo_root(), &["fmt", "--check", dir]);
        assert_eq!(
            out.code, 0,
            "tpt fmt --check {dir}: run `tpt fmt {dir}`\n{}{}",
            out.stdout, out.stderr
        );
    }
}

/// The commands of an example's README: every `tpt …` line of its `sh` blocks
/// (a trailing `# comment` dropped).
fn readme_commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = t == "```sh";
            continue;
        }
        if in_sh && t.starts_with("tpt ") {
            let command = t.split("  #").next().unwrap_or(t).trim();
            out.push(command.to_string());
        }
    }
    out
}

/// The outputs an example's README shows: a line `<!-- output of: tpt … -->`
/// and the `text` block after it.
fn readme_outputs(readme: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(command) = line
            .trim()
            .strip_prefix("<!-- output of: ")
            .and_then(|c| c.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert_eq!(fence.trim(), "```text", "a `text` block follows `{line}`");
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        out.push((command.to_string(), block.join("\n")));
    }
    out
}

/// Runs a README command (`tpt ARGS`, arguments without quotes) in `root`.
fn run_readme_command(root: &std::path::Path, command: &str) -> support::Output {
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    tpt_in(root, &args)
}

#[test]
fn example_readmes_run_as_written_and_show_real_output() {
    for (dir, _) in EXAMPLES {
        let readme = std::fs::read_to_string(repo_root().join(dir).join("README.md"))
            .unwrap_or_else(|e| panic!("{dir}/README.md: {e}"));
        // A copy, so that nothing a command writes lands in the repository.
        let root = tempfile::tempdir().expect("a temporary directory");
        support::copy_dir(&repo_root().join(dir), &root.path().join(dir));
        let commands = readme_commands(&readme);
        assert!(!commands.is_empty(), "{dir}/README.md shows no command");
        for command in commands {
            let out = run_readme_command(root.path(), &command);
            assert_eq!(
                out.code, 0,
                "`{command}` ({dir}/README.md):\n{}{}",
                out.stdout, out.stderr
            );
        }
        let outputs = readme_outputs(&readme);
        assert!(
            outputs.iter().any(|(c, _)| c.starts_with("tpt plan ")),
            "{dir}/README.md shows no plan"
        );
        for (command, shown) in outputs {
            let out = run_readme_command(root.path(), &command);
            assert_eq!(
                out.stdout.trim_end(),
                shown.trim_end(),
                "{dir}/README.md shows another output of `{command}` than it prints: paste the new one"
            );
        }
    }
}
