//! The outside world as the language crate sees it: [`root_files`] finds the
//! files of a configuration, [`DiskFs`] reads them from disk (paths relative to
//! the working directory, as given), and [`EnvInputs`] reads named inputs from
//! the process environment and the values of `@var` params (`--var`, `TPT_VAR_`).

use std::io;
use std::path::Path;

use tpt_lang::eval::{Budget, Var, VarOrigin};
use tpt_lang::{Code, Diagnostic, FileSystem, Inputs};

/// Reads `.tpt` files with `std::fs`.
pub struct DiskFs;

impl FileSystem for DiskFs {
    fn read(&self, path: &str) -> Result<String, String> {
        read_text(Path::new(path)).map_err(|e| io_message(&e))
    }

    /// Inside the configuration's directory or one of [`allow_imports_from`]'s,
    /// compared as real paths: `..` and symbolic links resolved, so a link
    /// inside the tree to a file outside it is outside.
    fn may_import(&self, path: &str, config_dir: &str) -> bool {
        let dir = if config_dir.is_empty() { "." } else { config_dir };
        let (Ok(file), Ok(dir)) = (std::fs::canonicalize(path), std::fs::canonicalize(dir)) else {
            // A file that does not exist is not read; its import says so.
            return tpt_lang::program::inside(config_dir, path);
        };
        file.starts_with(&dir)
            || IMPORT_ROOTS
                .get()
                .is_some_and(|roots| roots.iter().any(|r| file.starts_with(r)))
    }
}

/// The evaluation budget of this process (`--max-eval-steps`, `--max-eval-bytes`).
static BUDGET: std::sync::OnceLock<Budget> = std::sync::OnceLock::new();

/// Sets the evaluation budget for the rest of the process: the default, with
/// the limits given replaced. Set once, at start.
pub fn set_budget(steps: Option<u64>, bytes: Option<u64>) {
    let d = Budget::default();
    let _ = BUDGET.set(Budget {
        steps: steps.unwrap_or(d.steps),
        bytes: bytes.unwrap_or(d.bytes),
    });
}

/// `4GiB`, `512MiB`, `100000` → bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. `4GiB`"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        "TiB" | "T" | "TB" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}` is not a size; write e.g. `4GiB`, `512MiB` or a number of bytes"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Directories beyond a configuration's own from which it may import (`--allow-imports-from`).
static IMPORT_ROOTS: std::sync::OnceLock<Vec<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Allows imports from `dirs` (and below) for the rest of the process; a
/// directory that does not exist is an E0600 diagnostic. Set once, at start.
pub fn allow_imports_from(dirs: &[std::path::PathBuf]) -> Result<(), Diagnostic> {
    let mut roots = Vec::new();
    for d in dirs {
        let real = std::fs::canonicalize(d).map_err(|e| {
            Diagnostic::error(
                Code::Io,
                format!("cannot allow imports from `{}`: {}", d.display(), io_message(&e)),
            )
            .help("`--allow-imports-from` takes an existing directory")
        })?;
        roots.push(real);
    }
    let _ = IMPORT_ROOTS.set(roots);
    Ok(())
}

/// The bytes of a regular file. A pipe, a device or a directory in its place
/// is refused before it is opened: opening a pipe waits for a writer, and a
/// device may never end. Every file tpt reads as input goes through here.
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(io::Error::from(io::ErrorKind::IsADirectory));
    }
    if !meta.is_file() {
        return Err(io::Error::other(
            "not a regular file (a pipe, a socket or a device)",
        ));
    }
    std::fs::read(path)
}

/// [`read_regular`], as UTF-8 text.
pub fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_regular(path)?).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Named inputs (`secret_env("NAME")`) from environment variables, and the
/// values of `@var` params: the `--var`s, then `TPT_VAR_NAME` variables.
#[derive(Debug, Clone, Default)]
pub struct EnvInputs {
    /// `--var NAME=VALUE`, in order.
    flags: Vec<(String, String)>,
    /// Whether `TPT_VAR_NAME` variables give values.
    var_env: bool,
    /// What [`Inputs::vars`] answers, made on its first call: every
    /// evaluation asks (each environment of `tpt check`), and reading the
    /// process environment each time was a sixteenth of checking 10,000
    /// environments.
    vars: std::sync::OnceLock<Vec<Var>>,
}

impl EnvInputs {
    /// Only `secret_env`: what the files say, for comparing environments
    /// (`tpt envs diff`, `tpt promote`).
    pub fn without_vars() -> EnvInputs {
        EnvInputs::default()
    }

    /// `secret_env` and `TPT_VAR_NAME` variables (no `--var`).
    pub fn from_env() -> EnvInputs {
        EnvInputs {
            flags: Vec::new(),
            var_env: true,
            vars: std::sync::OnceLock::new(),
        }
    }

    /// The `--var NAME=VALUE` arguments and `TPT_VAR_NAME` variables.
    pub fn with_vars(args: &[String]) -> Result<EnvInputs, Diagnostic> {
        let mut flags = Vec::new();
        for a in args {
            let Some((name, value)) = a.split_once('=') else {
                return Err(
                    Diagnostic::error(Code::UnknownParam, format!("`--var {a}` has no `=`"))
                        .help(format!("write `--var {a}=VALUE`")),
                );
            };
            let ident = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident {
                return Err(Diagnostic::error(
                    Code::UnknownParam,
                    format!("`--var {name}=…`: `{name}` is not a param name"),
                )
                .help("write `--var NAME=VALUE` with the name of a `@var` param"));
            }
            flags.push((name.to_string(), value.to_string()));
        }
        Ok(EnvInputs {
            flags,
            var_env: true,
            vars: std::sync::OnceLock::new(),
        })
    }
}

impl Inputs for EnvInputs {
    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn budget(&self) -> Budget {
        BUDGET.get().copied().unwrap_or_default()
    }

    fn vars(&self) -> Vec<Var> {
        self.vars.get_or_init(|| self.read_vars()).clone()
    }
}

impl EnvInputs {
    /// The `--var`s, then the `TPT_VAR_NAME` variables of the process.
    fn read_vars(&self) -> Vec<Var> {
        // The last `--var` of a name wins, as on most command lines.
        let mut out: Vec<Var> = Vec::new();
        for (name, text) in self.flags.iter().rev() {
            if !out.iter().any(|v| v.name == *name) {
                out.push(Var {
                    name: name.clone(),
                    text: text.clone(),
                    origin: VarOrigin::Flag,
                });
            }
        }
        if self.var_env {
            let mut env: Vec<(String, String)> = std::env::vars_os()
                .filter_map(|(k, v)| {
                    let name = k.to_str()?.strip_prefix("TPT_VAR_")?.to_string();
                    Some((name, v.into_string().ok()?))
                })
                .filter(|(name, _)| !name.is_empty())
                .collect();
            env.sort();
            out.extend(env.into_iter().map(|(name, text)| Var {
                name,
                text,
                origin: VarOrigin::Env,
            }));
        }
        out
    }
}

/// A short, platform-independent description of an IO error, for diagnostics
/// (no `(os error 2)` suffixes, so that snapshots are stable).
pub fn io_message(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "it is a directory".into(),
        io::ErrorKind::NotADirectory => "a part of the path is not a directory".into(),
        io::ErrorKind::InvalidData => "the file is not valid UTF-8".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// The paths (as the file system knows them) of the root module's files, or an
/// `E0600` diagnostic saying why there are none.
pub fn root_files(path: &Path) -> Result<Vec<String>, Diagnostic> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Diagnostic::error(Code::Io, format!("cannot read `{shown}`: {}", io_message(&e)))
            .help("pass a .tpt file, or a directory that holds `main.tpt`")
    })?;
    if !meta.is_dir() {
        return Ok(vec![shown]);
    }
    let main = join(&shown, "main.tpt");
    if !Path::new(&main).is_file() {
        return Err(
            Diagnostic::error(Code::Io, format!("no `main.tpt` in directory `{shown}`")).help(
                "a configuration directory holds `main.tpt` and, optionally, one file per \
                 environment in `envs/*.tpt`; create `main.tpt`, or pass a .tpt file",
            ),
        );
    }
    let mut files = vec![main];
    let envs = join(&shown, "envs");
    if Path::new(&envs).is_dir() {
        let entries = std::fs::read_dir(&envs).map_err(|e| {
            Diagnostic::error(Code::Io, format!("cannot read `{envs}`: {}", io_message(&e)))
                .help("check that the directory is readable")
        })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".tpt") && !n.starts_with('.'))
            .collect();
        names.sort();
        files.extend(names.iter().map(|n| join(&envs, n)));
    }
    Ok(files)
}

/// `dir` + `name` with `/`, without a leading `./` for the current directory.
fn join(dir: &str, name: &str) -> String {
    let trimmed = dir.trim_end_matches('/');
    if trimmed.is_empty() && dir.starts_with('/') {
        format!("/{name}")
    } else if trimmed == "." || trimmed.is_empty() {
        name.to_string()
    } else {
        format!("{trimmed}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn join_drops_current_directory() {
        assert_eq!(join(".", "main.tpt"), "main.tpt");
        assert_eq!(join("./", "main.tpt"), "main.tpt");
        assert_eq!(join("examples/shop/", "main.tpt"), "examples/shop/main.tpt");
        assert_eq!(join("/abs", "envs"), "/abs/envs");
        assert_eq!(join("/", "main.tpt"), "/main.tpt");
    }
}
