//! Rendering diagnostics for people. On a terminal: miette's graphical handler
//! with colors. Otherwise (a pipe, `NO_COLOR`, `--color never`): the same layout
//! without colors and at a fixed width, so that the output is deterministic and
//! can be compared with snapshots.

use std::io::{IsTerminal, Write};

use miette::{GraphicalReportHandler, GraphicalTheme};
use tpt_lang::diagnostic::{Rendered, Severity};
use tpt_lang::{Diagnostic, SourceMap};

use crate::cli::ColorChoice;

/// The width of the plain rendering.
pub const PLAIN_WIDTH: usize = 100;

pub struct Renderer {
    handler: GraphicalReportHandler,
    /// Whether what goes to stdout (plans) is colored.
    color_stdout: bool,
}

impl Renderer {
    pub fn new(choice: ColorChoice) -> Renderer {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
            }
        };
        let handler = if color {
            let width = terminal_size::terminal_size_of(std::io::stderr())
                .map_or(PLAIN_WIDTH, |(w, _)| usize::from(w.0));
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode()).with_width(width)
        } else {
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(PLAIN_WIDTH)
        };
        let color_stdout = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
            }
        };
        Renderer {
            handler: handler.with_links(false).with_urls(false),
            color_stdout,
        }
    }

    /// One diagnostic as text (code, message, `file:line:col`, the source line
    /// underlined, help).
    pub fn render(&self, diag: &Diagnostic, sources: &SourceMap) -> String {
        let rendered = Rendered::new(diag, sources);
        let mut out = String::new();
        if self.handler.render_report(&mut out, &rendered).is_err() {
            // The handler only fails when writing to the String fails; show the essentials.
            out = format!("{} [{}]: {}\n", severity_word(diag), diag.code, diag.message);
        }
        out
    }

    /// A human plan, colored by action when stdout is a terminal: `+` green,
    /// `-` red, `~` yellow, `-/+` magenta, drift `!` red, the summary bold.
    pub fn paint_plan(&self, text: &str) -> String {
        if !self.color_stdout {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len() + text.len() / 8);
        for line in text.split_inclusive('\n') {
            let t = line.trim_start();
            let code = if t.starts_with("-/+ ") {
                "35"
            } else if t.starts_with("+ ") {
                "32"
            } else if t.starts_with("- ") {
                "31"
            } else if t.starts_with("~ ") {
                "33"
            } else if t.starts_with("! ") {
                "1;31"
            } else if t.starts_with("Plan:") {
                "1"
            } else {
                ""
            };
            if code.is_empty() {
                out.push_str(line);
            } else {
                let body = line.trim_end_matches('\n');
                out.push_str(&format!("\x1b[{code}m{body}\x1b[0m"));
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Writes every diagnostic to stderr.
    pub fn emit(&self, diags: &[Diagnostic], sources: &SourceMap) {
        let mut err = std::io::stderr().lock();
        for d in diags {
            // Nothing sensible is left to do when stderr is closed.
            let _ = writeln!(err, "{}", self.render(d, sources));
        }
    }
}

fn severity_word(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Counts of a list of diagnostics, for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub errors: usize,
    pub warnings: usize,
}

impl Tally {
    pub fn of(diags: &[Diagnostic]) -> Tally {
        let errors = diags.iter().filter(|d| d.is_error()).count();
        Tally {
            errors,
            warnings: diags.len() - errors,
        }
    }

    /// `2 errors, 1 warning`
    pub fn describe(self) -> String {
        let mut parts = Vec::new();
        if self.errors > 0 {
            parts.push(plural(self.errors, "error"));
        }
        if self.warnings > 0 {
            parts.push(plural(self.warnings, "warning"));
        }
        parts.join(", ")
    }
}

/// `1 file`, `3 files`.
pub use tpt_lang::diagnostic::plural;

/// Writes one line to stderr (ignoring a closed stderr).
pub fn status(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
