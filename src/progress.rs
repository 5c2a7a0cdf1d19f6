//! Shows an apply's events: a spinner per running operation on a terminal
//! (indicatif), one log line per event otherwise (CI logs).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;
use tpt_executor::events::{human_duration, Event};

/// Prints events until the executor drops its sender.
pub fn spawn(rx: UnboundedReceiver<(String, Event)>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if std::io::stdout().is_terminal() {
            bars(rx)
        } else {
            lines(rx)
        }
    })
}

fn ing(action: &str) -> &'static str {
    match action {
        "create" => "creating",
        "update" => "updating",
        "replace" => "replacing",
        "delete" => "deleting",
        "read" => "reading",
        _ => "working",
    }
}

fn ed(action: &str) -> &'static str {
    match action {
        "create" => "created",
        "update" => "updated",
        "replace" => "replaced",
        "delete" => "deleted",
        "read" => "read",
        _ => "done",
    }
}

/// The line of an event, if it gets one.
fn line(address: &str, e: &Event) -> Option<String> {
    Some(match e {
        Event::Started { action } => format!("{address}: {}…", ing(action)),
        Event::Retry {
            what,
            attempt,
            error,
            delay,
        } => format!(
            "{address}: {what} failed ({error}); retrying in {} (attempt {})",
            human_duration(*delay),
            attempt + 1
        ),
        Event::Waiting { what, elapsed } if elapsed.as_secs() >= 1 => {
            format!(
                "{address}: still waiting for {what} ({})",
                human_duration(*elapsed)
            )
        }
        Event::Waiting { .. } => return None,
        Event::Waited { what, elapsed } => {
            format!("{address}: waited {} for {what}", human_duration(*elapsed))
        }
        Event::Mismatch { field, planned, got } => {
            format!("{address}: warning: after apply `{field}` is {got}, the plan said {planned}")
        }
        Event::Adopted { provider_id } => format!("{address}: adopted {provider_id}"),
        Event::Done {
            action,
            elapsed,
            error: None,
        } => format!("{address}: {} ({})", ed(action), human_duration(*elapsed)),
        Event::Done {
            action,
            error: Some(m),
            ..
        } => format!("{address}: {action} failed: {m}"),
        Event::Skipped { because } => format!("{address}: skipped (it depends on `{because}`, which failed)"),
        Event::Interrupted { running: 0, .. } => "Interrupted: starting nothing new.".to_string(),
        Event::Interrupted { running, hard: false } => format!(
            "Interrupted: starting nothing new; waiting for {running} running operation(s) to finish (Ctrl-C again stops them)."
        ),
        Event::Interrupted { running, hard: true } => format!(
            "Interrupted again: stopping {running} running operation(s); creates stopped this way are looked up by the next run."
        ),
    })
}

fn lines(mut rx: UnboundedReceiver<(String, Event)>) {
    while let Some((address, e)) = rx.blocking_recv() {
        if let Some(l) = line(&address, &e) {
            let _ = writeln!(std::io::stdout().lock(), "{l}");
        }
    }
}

fn bars(mut rx: UnboundedReceiver<(String, Event)>) {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut running: HashMap<String, ProgressBar> = HashMap::new();
    while let Some((address, e)) = rx.blocking_recv() {
        match &e {
            Event::Started { action } => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message(format!("{address}: {}…", ing(action)));
                running.insert(address, bar);
            }
            Event::Waiting { what, .. } => {
                if let Some(bar) = running.get(&address) {
                    bar.set_message(format!("{address}: waiting for {what}"));
                }
            }
            Event::Done { .. } => {
                if let Some(bar) = running.remove(&address) {
                    bar.finish_and_clear();
                }
                if let Some(l) = line(&address, &e) {
                    let _ = multi.println(l);
                }
            }
            _ => {
                if let Some(l) = line(&address, &e) {
                    let _ = multi.println(l);
                }
            }
        }
    }
    for bar in running.into_values() {
        bar.finish_and_clear();
    }
}
