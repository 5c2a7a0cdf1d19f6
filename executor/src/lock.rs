//! Taking the state lock of an environment for the length of a command, and
//! turning backend errors into diagnostics.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tpt_lang::{Code, Diagnostic};
use tpt_planner::backend::{BackendError, LockInfo, StateBackend};
use tpt_planner::state::StateError;

/// A held lock, released when dropped.
pub struct Held<'b> {
    backend: &'b dyn StateBackend,
    env: String,
    id: String,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = self.backend.unlock(&self.env, &self.id);
    }
}

/// Takes the lock of `env` for `operation`, waiting up to `timeout` for another
/// holder to release it.
pub fn acquire<'b>(
    backend: &'b dyn StateBackend,
    env: &str,
    operation: &str,
    timeout: Duration,
) -> Result<Held<'b>, Diagnostic> {
    // Never interrupted: this `None` cannot come.
    acquire_unless(backend, env, operation, timeout, &|| false, &|_| {}, &|holder| {
        tracing::warn!(who = %holder.who, id = %holder.id, "took over the lock of a run that is gone");
    })
    .map_err(|e| e.unwrap_or_else(|| Diagnostic::error(Code::StateLocked, "interrupted")))
}

/// [`acquire`], giving up while waiting when `interrupted` says so
/// (`Err(None)`); `waiting` hears once who holds the lock when it must wait.
pub fn acquire_unless<'b>(
    backend: &'b dyn StateBackend,
    env: &str,
    operation: &str,
    timeout: Duration,
    interrupted: &dyn Fn() -> bool,
    waiting: &dyn Fn(&LockInfo),
    took_over: &dyn Fn(&LockInfo),
) -> Result<Held<'b>, Option<Diagnostic>> {
    let info = LockInfo {
        id: new_id(),
        who: who(),
        when: crate::now_rfc3339(),
        operation: operation.to_string(),
    };
    let start = Instant::now();
    let mut told = false;
    loop {
        match backend.lock(env, &info) {
            Ok(()) => {
                return Ok(Held {
                    backend,
                    env: env.to_string(),
                    id: info.id,
                })
            }
            // A run killed on this host left its lock: take it over, once, and say so.
            Err(BackendError::Locked(holder)) if backend.holder_is_gone(&holder) => {
                backend
                    .unlock(env, &holder.id)
                    .map_err(|e| Some(backend_error(env, e)))?;
                took_over(&holder);
            }
            Err(BackendError::Locked(holder)) if start.elapsed() >= timeout => {
                return Err(Some(Diagnostic::error(
                    Code::StateLocked,
                    format!(
                        "the state of `{env}` is locked by {} since {} (operation: {})",
                        holder.who, holder.when, holder.operation
                    ),
                )
                .help(format!(
                    "wait for that run to finish, or retry with `--lock-timeout 5m`; if it died, release the lock with `tpt state unlock {} --env {env}`",
                    holder.id
                ))));
            }
            Err(BackendError::Locked(_)) if interrupted() => return Err(None),
            Err(BackendError::Locked(holder)) => {
                if !told {
                    told = true;
                    waiting(&holder);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(Some(backend_error(env, e))),
        }
    }
}

/// A backend error as a diagnostic.
pub fn backend_error(env: &str, e: BackendError) -> Diagnostic {
    match e {
        BackendError::State(StateError::Corrupt(_)) => Diagnostic::error(Code::StateCorrupt, format!("cannot read the state of `{env}`: {e}"))
            .help("the file is left as it is; restore it from its backup (`.json.backup` beside it) or from version control"),
        BackendError::State(StateError::Newer { .. }) => Diagnostic::error(Code::StateNewer, format!("cannot read the state of `{env}`: {e}"))
            .help("upgrade tpt to the version that wrote it; this tpt never overwrites it"),
        BackendError::Locked(ref l) => Diagnostic::error(Code::StateLocked, format!("{e}"))
            .help(format!("release a dead run's lock with `tpt state unlock {} --env {env}`", l.id)),
        BackendError::NotLocked { .. } => Diagnostic::error(Code::StateAddress, format!("cannot unlock the state of `{env}`: {e}"))
            .help("`tpt state unlock` takes the lock ID named in the error that reported the lock"),
        BackendError::Io(m) => Diagnostic::error(Code::Io, m).help("check that the state directory exists and is writable"),
    }
}

fn new_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{:x}", nanos, std::process::id())
}

fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "someone".into());
    format!("{user}@{}", host())
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether the run that took lock `holder` ran on this host as a process that
/// no longer exists. The lock ID ends in the process ID (`new_id`); `false`
/// whenever that cannot be known (another host, no `/proc`).
pub fn holder_is_gone(holder: &LockInfo) -> bool {
    let Some(pid) = holder
        .id
        .rsplit_once('-')
        .and_then(|(_, p)| u32::from_str_radix(p, 16).ok())
    else {
        return false;
    };
    let same_host = holder.who.rsplit_once('@').is_some_and(|(_, h)| h == host());
    same_host && pid != std::process::id() && process_is_gone(pid)
}

/// Whether process `pid` of this host no longer exists (`false` when that cannot be known).
pub(crate) fn process_is_gone(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

/// `30s`, `5m` → a duration (the language's duration syntax).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    tpt_lang::syntax::parser::parse_duration(text)
        .filter(|ms| *ms >= 0)
        .map(|ms| Duration::from_millis(ms.unsigned_abs()))
        .ok_or_else(|| format!("`{text}` is not a duration; write e.g. `30s` or `5m`"))
}

/// The state backend `choice` names, for a configuration whose `.tpt`
/// directory is `dir` (the local backend keeps its files there).
pub fn open_backend(
    choice: &crate::session::BackendChoice,
    dir: &std::path::Path,
) -> Result<Box<dyn StateBackend>, Diagnostic> {
    use crate::session::BackendChoice;
    match choice {
        BackendChoice::Local => Ok(Box::new(crate::backend::LocalBackend::new(dir))),
        BackendChoice::Kubernetes {
            kubeconfig,
            context,
            namespace,
        } => crate::backend::KubernetesBackend::connect(kubeconfig, context.as_deref(), namespace)
            .map(|b| Box::new(b) as Box<dyn StateBackend>)
            .map_err(|e| {
                Diagnostic::error(Code::Io, format!("cannot reach the Kubernetes state backend: {e}"))
                    .help("check TPT_STATE_KUBECONFIG / TPT_STATE_CONTEXT, and that the namespace TPT_STATE_NAMESPACE exists")
            }),
        BackendChoice::S3 { bucket, .. } if bucket.is_empty() => Err(Diagnostic::error(
            Code::Io,
            "the S3 state backend needs a bucket",
        )
        .help("set TPT_STATE_BUCKET to a bucket that exists (TPT_STATE_PREFIX names the folder, default `tpt/`)")),
        BackendChoice::S3 {
            bucket,
            prefix,
            kms_key,
        } => crate::backend::S3Backend::connect(bucket, prefix, kms_key.as_deref())
            .map(|b| Box::new(b) as Box<dyn StateBackend>)
            .map_err(|e| {
                Diagnostic::error(Code::Io, format!("cannot reach the S3 state backend: {e}"))
                    .help("check TPT_STATE_BUCKET, the AWS credentials and region (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL)")
            }),
        BackendChoice::Unknown(other) => Err(
            Diagnostic::error(Code::Io, format!("unknown state backend `{other}`"))
                .help("TPT_STATE_BACKEND is `local` (the default), `kubernetes` or `s3`"),
        ),
    }
}
