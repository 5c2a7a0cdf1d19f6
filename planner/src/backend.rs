//! Where state lives: one trait, implemented in the executor (a local file
//! backend now; a Kubernetes backend — state in a Secret, lock as a Lease —
//! for teams). The planner only names the operations; it does no IO.

use serde::{Deserialize, Serialize};

use crate::state::{State, StateError};

/// Who holds a lock, for the error the next one gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Unique per lock; `tpt state unlock ID` names it.
    pub id: String,
    /// `user@host`
    pub who: String,
    /// When it was taken (RFC 3339, UTC).
    pub when: String,
    /// `plan`, `apply`, `state rm`, …
    pub operation: String,
}

#[derive(Debug)]
pub enum BackendError {
    /// The state cannot be read as state.
    State(StateError),
    /// Someone else holds the lock.
    Locked(LockInfo),
    /// `unlock` of a lock that is not held, or held under another ID.
    NotLocked { held: Option<LockInfo> },
    /// The storage failed (message for people).
    Io(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::State(e) => write!(f, "{e}"),
            BackendError::Locked(l) => write!(
                f,
                "the state is locked by {} since {} (operation: {}, lock ID {})",
                l.who, l.when, l.operation, l.id
            ),
            BackendError::NotLocked { held: None } => write!(f, "the state is not locked"),
            BackendError::NotLocked { held: Some(l) } => {
                write!(f, "the state is locked under another ID ({})", l.id)
            }
            BackendError::Io(m) => f.write_str(m),
        }
    }
}

/// State storage for the environments of one configuration.
pub trait StateBackend: Send + Sync {
    /// The recorded state of `env`, or `None` when there is none yet.
    fn read(&self, env: &str) -> Result<Option<State>, BackendError>;

    /// Replaces the state of `env` atomically, keeping the previous version as a
    /// backup. The caller holds the lock.
    fn write(&self, env: &str, state: &State) -> Result<(), BackendError>;

    /// Takes the lock of `env`, or fails at once naming the holder.
    fn lock(&self, env: &str, info: &LockInfo) -> Result<(), BackendError>;

    /// Releases the lock of `env` if it is held under `id`.
    fn unlock(&self, env: &str, id: &str) -> Result<(), BackendError>;

    /// Who holds the lock of `env`, if anyone.
    /// Whether the run holding a lock is known to be gone (a process of this
    /// host that no longer exists), so that its lock may be taken over. Only a
    /// backend whose locks are made on this host can tell; others say no.
    fn holder_is_gone(&self, _holder: &LockInfo) -> bool {
        false
    }

    fn lock_holder(&self, env: &str) -> Result<Option<LockInfo>, BackendError>;

    /// The key that fingerprints the secrets in state and from which the
    /// passwords tpt generates are derived: read, or made at random on first
    /// use. Everyone using the backend must get the same key; one that cannot
    /// be read is an error, never replaced by a new one.
    fn key(&self) -> Result<Vec<u8>, BackendError>;
}
