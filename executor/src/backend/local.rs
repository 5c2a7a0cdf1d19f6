//! The local file backend, the default: `.tpt/state/ENV.json` beside the
//! configuration, the previous version in `ENV.json.backup`, the lock in
//! `ENV.lock`.
//!
//! Writes are atomic: the new state goes to a temporary file in the same
//! directory, is flushed to disk (fsync), and renamed over the old one; the old
//! one is first copied to the backup. Files are created readable by their owner
//! only (0600). The lock is a file created exclusively: whoever creates it
//! holds it; it names the holder. Files created exclusively (the lock, the
//! key) are written whole to a temporary file and then hard-linked into place,
//! which never replaces an existing file, so another run never reads one half
//! written.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use tpt_planner::backend::{BackendError, LockInfo, StateBackend};
use tpt_planner::state::State;

pub struct LocalBackend {
    /// The `.tpt` directory.
    dir: PathBuf,
}

impl LocalBackend {
    pub fn new(dir: impl Into<PathBuf>) -> LocalBackend {
        LocalBackend { dir: dir.into() }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn state_path(&self, env: &str) -> PathBuf {
        self.state_dir().join(format!("{env}.json"))
    }

    fn backup_path(&self, env: &str) -> PathBuf {
        self.state_dir().join(format!("{env}.json.backup"))
    }

    fn lock_path(&self, env: &str) -> PathBuf {
        self.state_dir().join(format!("{env}.lock"))
    }
}

fn io(what: &str, path: &Path, e: &std::io::Error) -> BackendError {
    BackendError::Io(format!("cannot {what} `{}`: {e}", path.display()))
}

/// A state error that names the file.
fn with_path(e: tpt_planner::state::StateError, path: &Path) -> BackendError {
    use tpt_planner::state::StateError;
    BackendError::State(match e {
        StateError::Corrupt(m) => StateError::Corrupt(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Options for files only their owner may read.
fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Creates the private file `p` (failing if it exists) holding `bytes`,
/// flushed to disk.
fn write_new(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = private_file().create_new(true).open(p)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes `bytes` to a new temporary file beside `path`, the first step of
/// both ways a file here appears whole. On error nothing is left behind.
fn write_beside(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}-{:016x}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id(),
        rand::random::<u64>()
    ));
    match write_new(&tmp, bytes) {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Makes a rename or link in the directory of `path` durable.
fn sync_dir_of(path: &Path) {
    if let Ok(d) = File::open(path.parent().unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BackendError> {
    let tmp = write_beside(path, bytes).map_err(|e| io("write", path, &e))?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io("write", path, &e));
    }
    sync_dir_of(path);
    Ok(())
}

/// Creates `path` holding `bytes`, or fails with `AlreadyExists` when it
/// exists. The file appears whole or not at all: it is written and flushed to
/// a temporary file first and then hard-linked into place (link(2) never
/// replaces a file). On a file system without hard links it is created with
/// `O_EXCL` and written, which a concurrent reader may see empty for a moment.
fn create_exclusively(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let linked = write_beside(path, bytes).and_then(|tmp| {
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        linked
    });
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(e),
        // No hard links here (or the temporary file could not be made):
        // create the file itself exclusively.
        Err(_) => write_new(path, bytes).inspect_err(|e| {
            if e.kind() != ErrorKind::AlreadyExists {
                let _ = fs::remove_file(path);
            }
        })?,
    }
    sync_dir_of(path);
    Ok(())
}

/// A new key: 32 random bytes, as hex.
pub(crate) fn fresh_key() -> String {
    (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

impl LocalBackend {
    /// Removes the temporary files (`.NAME.tmp-PID-…`, see `write_beside`) of
    /// runs that were killed mid-write: their process is gone. Called by the
    /// holder of a lock, so no live run of this host is writing them.
    fn remove_litter(&self) {
        let Ok(entries) = fs::read_dir(self.state_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let pid = name
                .strip_prefix('.')
                .and_then(|n| n.split_once(".tmp-"))
                .and_then(|(_, rest)| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok());
            if let Some(pid) = pid {
                if pid != std::process::id() && crate::lock::process_is_gone(pid) {
                    tracing::info!(file = %name, "removed the temporary file of a run that is gone");
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }
}

impl StateBackend for LocalBackend {
    fn holder_is_gone(&self, holder: &LockInfo) -> bool {
        crate::lock::holder_is_gone(holder)
    }

    /// `.tpt/state.key`, made (0600, exclusively) when missing.
    fn key(&self) -> Result<Vec<u8>, BackendError> {
        let path = self.dir.join("state.key");
        match fs::read(&path) {
            Ok(k) if !k.is_empty() => return Ok(k),
            Ok(_) => {
                return Err(BackendError::Io(format!(
                    "the state key `{}` is empty",
                    path.display()
                )))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", &path, &e)),
        }
        fs::create_dir_all(&self.dir).map_err(|e| io("create", &self.dir, &e))?;
        let key = fresh_key();
        match create_exclusively(&path, key.as_bytes()) {
            Ok(()) => Ok(key.into_bytes()),
            // Another run made it a moment ago: use that one.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                fs::read(&path).map_err(|e| io("read", &path, &e))
            }
            Err(e) => Err(io("create", &path, &e)),
        }
    }

    fn read(&self, env: &str) -> Result<Option<State>, BackendError> {
        let path = self.state_path(env);
        match fs::read(&path) {
            Ok(bytes) => State::parse(&bytes).map(Some).map_err(|e| with_path(e, &path)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path, &e)),
        }
    }

    fn write(&self, env: &str, state: &State) -> Result<(), BackendError> {
        let dir = self.state_dir();
        fs::create_dir_all(&dir).map_err(|e| io("create", &dir, &e))?;
        let path = self.state_path(env);
        // Never replace a file that is not valid state: it may be a newer format.
        if let Ok(bytes) = fs::read(&path) {
            State::parse(&bytes).map_err(|e| with_path(e, &path))?;
            write_atomically(&self.backup_path(env), &bytes)?;
        }
        write_atomically(&path, state.to_json().as_bytes())
    }

    fn lock(&self, env: &str, info: &LockInfo) -> Result<(), BackendError> {
        let dir = self.state_dir();
        fs::create_dir_all(&dir).map_err(|e| io("create", &dir, &e))?;
        let path = self.lock_path(env);
        let text = serde_json::to_string_pretty(info).unwrap_or_default();
        // A lock released between our attempt and reading its holder is free:
        // try again. Each round either takes it or names a holder unless
        // other runs keep taking and releasing it in between, so it ends.
        for _ in 0..100 {
            match create_exclusively(&path, text.as_bytes()) {
                Ok(()) => {
                    self.remove_litter();
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if let Some(holder) = self.lock_holder(env)? {
                        return Err(BackendError::Locked(holder));
                    }
                }
                Err(e) => return Err(io("create", &path, &e)),
            }
        }
        Err(BackendError::Io(format!(
            "the lock `{}` keeps changing hands; try again",
            path.display()
        )))
    }

    fn unlock(&self, env: &str, id: &str) -> Result<(), BackendError> {
        let path = self.lock_path(env);
        match self.lock_holder(env)? {
            Some(holder) if holder.id == id => fs::remove_file(&path).map_err(|e| io("remove", &path, &e)),
            held => Err(BackendError::NotLocked { held }),
        }
    }

    fn lock_holder(&self, env: &str) -> Result<Option<LockInfo>, BackendError> {
        let path = self.lock_path(env);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| BackendError::Io(format!("the lock `{}` is not readable: {e}", path.display()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> LockInfo {
        LockInfo {
            id: id.into(),
            who: "ana@ci".into(),
            when: "2026-11-25T08:00:00Z".into(),
            operation: "plan".into(),
        }
    }

    #[test]
    fn the_key_is_made_once_privately_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let b = LocalBackend::new(dir.path().join(".tpt"));
        let key = b.key().expect("a key is made");
        assert_eq!(key.len(), 64, "32 random bytes as hex");
        assert_eq!(b.key().ok(), Some(key.clone()), "and kept");
        assert_ne!(
            LocalBackend::new(dir.path().join("other")).key().ok(),
            Some(key),
            "keys are random"
        );
        let path = dir.path().join(".tpt/state.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        // A key that cannot be read is never replaced by a new one.
        fs::remove_file(&path).expect("removed");
        fs::create_dir(&path).expect("a directory in its place");
        let err = b.key().expect_err("an error");
        assert!(err.to_string().contains("state.key"), "{err}");
        assert!(path.is_dir(), "left as it was");
    }

    #[test]
    fn writes_atomically_with_a_backup_and_private_files() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let b = LocalBackend::new(dir.path());
        assert_eq!(b.read("prod").ok().flatten(), None);
        let mut s = State::new("prod", "lineage-1".into());
        b.write("prod", &s).expect("first write");
        s.serial = 1;
        b.write("prod", &s).expect("second write");
        assert_eq!(b.read("prod").ok().flatten(), Some(s));
        let backup = fs::read_to_string(b.backup_path("prod")).unwrap_or_default();
        assert!(backup.contains("\"serial\": 0"), "{backup}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(b.state_path("prod"))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(b.state_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn a_corrupt_state_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let b = LocalBackend::new(dir.path());
        fs::create_dir_all(b.state_dir()).expect("state dir");
        fs::write(b.state_path("prod"), b"{ half a file").expect("corrupt file");
        assert!(matches!(b.read("prod"), Err(BackendError::State(_))));
        assert!(matches!(
            b.write("prod", &State::new("prod", "l".into())),
            Err(BackendError::State(_))
        ));
        assert_eq!(
            fs::read(b.state_path("prod")).unwrap_or_default(),
            b"{ half a file"
        );
    }

    #[test]
    fn the_lock_is_exclusive_and_names_its_holder() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let b = LocalBackend::new(dir.path());
        b.lock("prod", &info("one")).expect("the first lock");
        match b.lock("prod", &info("two")) {
            Err(BackendError::Locked(holder)) => assert_eq!(holder.id, "one"),
            other => panic!("expected Locked, got {other:?}"),
        }
        // Other environments have their own locks.
        b.lock("staging", &info("three")).expect("another environment");
        assert!(matches!(
            b.unlock("prod", "two"),
            Err(BackendError::NotLocked { .. })
        ));
        b.unlock("prod", "one").expect("unlock by its ID");
        b.lock("prod", &info("four")).expect("free again");
    }

    /// Runs racing for one lock never read it half written: each attempt
    /// either holds it or is told who does.
    #[test]
    fn racing_runs_never_see_a_half_written_lock_or_key() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let b = LocalBackend::new(root);
                    let key = b.key().map_err(|e| format!("key: {e}"))?;
                    for i in 0..150 {
                        let id = format!("{t}-{i}");
                        match b.lock("prod", &info(&id)) {
                            Ok(()) => b.unlock("prod", &id).map_err(|e| format!("unlock: {e}"))?,
                            Err(BackendError::Locked(_)) => {}
                            Err(e) => return Err(format!("lock: {e}")),
                        }
                    }
                    Ok(key)
                })
            })
            .collect();
        let keys: Vec<Vec<u8>> = threads
            .into_iter()
            .map(|t| match t.join() {
                Ok(Ok(key)) => key,
                Ok(Err(e)) => panic!("{e}"),
                Err(_) => panic!("a thread panicked"),
            })
            .collect();
        assert!(keys.iter().all(|k| k == &keys[0]), "one key for all");
        let leftovers: Vec<String> = fs::read_dir(root.join("state"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(leftovers.is_empty(), "nothing left behind: {leftovers:?}");
    }
}
