//! The log (`tracing`): off unless `TPT_LOG` or `--log-file` asks for it, so
//! that the default output stays as it is. What is logged never holds a secret
//! value: the executor logs names, addresses, durations and outcomes.

use std::path::Path;

use tpt_lang::{Code, Diagnostic};
use tracing_subscriber::EnvFilter;

/// The crates of tpt, whose events a plain level (`TPT_LOG=debug`) turns on.
const OURS: &[&str] = &["tpt", "tpt_executor", "tpt_planner", "tpt_lang", "tpt_lsp"];

/// The filter `TPT_LOG` names: a level (`error`, `warn`, `info`, `debug`,
/// `trace`) for tpt's own events, or `tracing` directives
/// (`tpt_executor=trace,aws_smithy_runtime=debug`) as they are.
pub fn filter(spec: &str) -> Result<EnvFilter, String> {
    let spec = spec.trim();
    let levels = ["error", "warn", "info", "debug", "trace"];
    let directives = if levels.contains(&spec.to_ascii_lowercase().as_str()) {
        OURS.iter()
            .map(|c| format!("{c}={}", spec.to_ascii_lowercase()))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        spec.to_string()
    };
    EnvFilter::try_new(&directives).map_err(|e| e.to_string())
}

/// Starts the log: to `file` (appended) or stderr, at `spec` (`TPT_LOG`;
/// `debug` when only a file is given). Neither: no log.
pub fn init(spec: Option<&str>, file: Option<&Path>) -> Result<(), Diagnostic> {
    let spec = match (spec.filter(|s| !s.trim().is_empty()), file) {
        (None, None) => return Ok(()),
        (Some(s), _) => s,
        (None, Some(_)) => "debug",
    };
    let filter = filter(spec).map_err(|e| {
        Diagnostic::error(Code::Io, format!("`TPT_LOG={spec}` is not a log filter: {e}")).help(
            "write a level (`info`, `debug`, `trace`) or `tracing` directives such as `tpt_executor=debug`",
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    Diagnostic::error(
                        Code::Io,
                        format!(
                            "cannot open the log file `{}`: {}",
                            path.display(),
                            tpt_executor::host::io_message(&e)
                        ),
                    )
                    .help("check that the directory exists and is writable")
                })?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init();
        }
        None => {
            use std::io::IsTerminal;
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .init()
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn a_level_is_for_tpt_and_directives_pass_through() {
        assert!(filter("debug").is_ok_and(|f| f.to_string().contains("tpt_executor=debug")));
        assert!(filter("tpt_executor=trace").is_ok());
        assert!(filter("tpt_executor=loud").is_err());
    }
}
