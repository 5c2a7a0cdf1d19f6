//! The tpt language server (`tpt lsp`): diagnostics as you type (the same as
//! `tpt check`, for every configuration of the workspace), hover, completion,
//! go to definition, find references, document highlight, document links,
//! rename, document and workspace symbols, folding and selection ranges,
//! semantic tokens, signature help, inlay hints (each field's value per
//! environment, the defaults filled in), pull diagnostics, code lenses and
//! commands (check; plan an environment or a resource, with the binary's
//! planner), formatting and
//! range formatting (`tpt fmt`, as minimal edits) and quick fixes (did you mean,
//! by type; the missing fields; unquote a number; add the import; declare the
//! param), over the Language Server Protocol on stdio.
//!
//! Code map: `transport` (stdio frames, bad ones answered), `server` (the
//! loop, dispatch, panics caught per message, the lifecycle),
//! `workspace` (open documents over the disk, configurations, the parse
//! cache, analyses), `index` (every name and what it resolves to),
//! `features/*` (one module per request), `convert` and `line_index`
//! (protocol positions and diagnostics), `stdlib_files` (the embedded
//! standard library written out so that definitions in it can be opened).
//!
//! Architecture invariant: no input makes the server stop. Frames that are no
//! messages are answered with JSON-RPC errors (`transport`). Requests and
//! notifications run under `catch_unwind`; a panic is answered with an error
//! and shown to the user, and the next message is handled as usual.

pub mod convert;
pub mod features;
pub mod index;
pub mod line_index;
pub mod server;
pub mod stdlib_files;
pub mod transport;
pub mod workspace;

pub use features::lens::{PlanRequest, Planner};
pub use server::{guarded, serve, serve_with};

/// Runs the server on stdin/stdout until the client exits; `planner` makes
/// the plans of the `tpt.plan` command (none: the command is not offered).
pub fn run_stdio(planner: Option<std::sync::Arc<dyn Planner>>) -> Result<(), String> {
    let (connection, io_threads) = transport::stdio();
    let served = serve_with(&connection, planner);
    drop(connection);
    io_threads.join()?;
    served
}
