//! The outside world as the language crate sees it: [`DiskFs`] reads source
//! files from disk (paths relative to the working directory, as given), and
//! [`EnvInputs`] reads named inputs from the process environment.

use std::io;

use tpt_lang::{FileSystem, Inputs};

/// Reads `.tpt` files with `std::fs`.
pub struct DiskFs;

impl FileSystem for DiskFs {
    fn read(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| io_message(&e))
    }
}

/// Named inputs (`secret_env("NAME")`) from environment variables.
pub struct EnvInputs;

impl Inputs for EnvInputs {
    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
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
