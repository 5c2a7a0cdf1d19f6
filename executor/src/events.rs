//! What an apply reports while it runs. The executor never prints; it sends
//! [`Event`]s, and the CLI shows them (progress bars on a terminal, log lines
//! otherwise). No event carries a secret: messages come from provider errors
//! and resource addresses, never from input values.

use std::time::Duration;

use tokio::sync::mpsc;

#[derive(Debug, Clone)]
pub enum Event {
    /// An operation started (`create`, `update`, `replace`, `delete`, `read`).
    Started { action: &'static str },
    /// A transient failure; the call is retried after `delay`.
    Retry {
        what: String,
        attempt: u32,
        error: String,
        delay: Duration,
    },
    /// Still waiting for something (cluster ACTIVE, rollout).
    Waiting { what: String, elapsed: Duration },
    /// A wait ended.
    Waited { what: String, elapsed: Duration },
    /// A field the provider reports differs from what was planned.
    Mismatch {
        field: String,
        planned: String,
        got: String,
    },
    /// An unconfirmed create of an earlier run was found at the provider.
    Adopted { provider_id: String },
    /// The operation ended.
    Done {
        action: &'static str,
        elapsed: Duration,
        error: Option<String>,
    },
    /// Not started because a dependency failed.
    Skipped { because: String },
    /// Ctrl-C (sent with an empty address): nothing new starts and `running`
    /// operations finish; with `hard` (a second Ctrl-C) they are stopped.
    Interrupted { running: usize, hard: bool },
}

/// Where events go: a channel to the CLI, or nowhere.
#[derive(Clone, Default)]
pub struct Events {
    tx: Option<mpsc::UnboundedSender<(String, Event)>>,
}

impl Events {
    pub fn channel() -> (Events, mpsc::UnboundedReceiver<(String, Event)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Events { tx: Some(tx) }, rx)
    }

    pub fn none() -> Events {
        Events::default()
    }

    /// Sends `e` about `address`, and logs it (`tracing`, level info).
    pub fn send(&self, address: &str, e: Event) {
        tracing::info!(resource = address, event = ?e, "apply");
        if let Some(tx) = &self.tx {
            // A closed receiver means nobody is listening any more; that is fine.
            let _ = tx.send((address.to_string(), e));
        }
    }
}

/// `1.2s`, `3m04s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}
