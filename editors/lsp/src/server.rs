//! The main loop: messages in, responses and diagnostics out.
//!
//! One thread handles every message in order. Edits only mark the workspace
//! stale; analysis (loading and the type check) runs when no message has come
//! for [`QUIET`] (so a burst of keystrokes is analysed once) or when a request
//! needs it. Evaluating the environments runs on threads of its own (two at
//! once), cancelled when an edit makes it stale; its diagnostics are published
//! when it comes back, and requests that need them wait for it (`deferred`)
//! while the others are answered. Plans (`tpt.plan`) run on threads of their own.
//! Every handler runs under [`guarded`]: a panic becomes an error response
//! and a message to the user, and the server goes on.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::Notification as _;
use lsp_types::{
    notification as notif, CodeActionProviderCapability, CompletionOptions, HoverProviderCapability,
    MessageType, OneOf, Position, PublishDiagnosticsParams, Range, RenameOptions, ServerCapabilities,
    ServerInfo, ShowMessageParams, TextDocumentSyncCapability, TextDocumentSyncKind, Url,
};
use serde_json::Value;

use crate::convert::{self, Locator, Paths};
use crate::features;
use crate::features::lens::{CancelFlag, Planner};
use crate::line_index::apply_change;
use crate::workspace::{Analysis, Workspace};

/// An error answer to a request.
#[derive(Debug)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

pub type Answer = Result<Value, Failure>;

/// What the server offers; `pull`: diagnostics are pulled by the client
/// (it said it can), not pushed.
pub fn capabilities(pull: bool, plans: bool) -> ServerCapabilities {
    let mut commands = vec![features::lens::CHECK.to_string()];
    if plans {
        commands.push(features::lens::PLAN.to_string());
    }
    ServerCapabilities {
        code_lens_provider: Some(lsp_types::CodeLensOptions {
            resolve_provider: Some(false),
        }),
        execute_command_provider: Some(lsp_types::ExecuteCommandOptions {
            commands,
            work_done_progress_options: Default::default(),
        }),
        diagnostic_provider: pull.then(|| {
            lsp_types::DiagnosticServerCapabilities::Options(lsp_types::DiagnosticOptions {
                identifier: Some("tpt".into()),
                inter_file_dependencies: true,
                workspace_diagnostics: true,
                work_done_progress_options: Default::default(),
            })
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "\"".into(), "@".into()]),
            ..Default::default()
        }),
        inlay_hint_provider: Some(OneOf::Left(true)),
        signature_help_provider: Some(lsp_types::SignatureHelpOptions {
            trigger_characters: Some(vec!["(".into(), ",".into()]),
            retrigger_characters: None,
            work_done_progress_options: Default::default(),
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_range_formatting_provider: Some(OneOf::Left(true)),
        document_highlight_provider: Some(OneOf::Left(true)),
        document_link_provider: Some(lsp_types::DocumentLinkOptions {
            resolve_provider: Some(false),
            work_done_progress_options: Default::default(),
        }),
        folding_range_provider: Some(lsp_types::FoldingRangeProviderCapability::Simple(true)),
        selection_range_provider: Some(lsp_types::SelectionRangeProviderCapability::Simple(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        semantic_tokens_provider: Some(
            lsp_types::SemanticTokensOptions {
                legend: features::tokens::legend(),
                range: Some(true),
                full: Some(lsp_types::SemanticTokensFullOptions::Bool(true)),
                work_done_progress_options: Default::default(),
            }
            .into(),
        ),
        ..Default::default()
    }
}

/// How long the server waits for another message before analysing what
/// changed: messages that come closer together are handled first.
const QUIET: std::time::Duration = std::time::Duration::from_millis(2);

/// How many configurations are evaluated at once.
const EVALUATIONS_AT_ONCE: usize = 2;

/// The stack of an evaluation thread (as `tpt check` gives its own).
const EVAL_STACK: usize = 8 * 1024 * 1024;

/// How long the loop sleeps with nothing to do before looking again.
const IDLE: std::time::Duration = std::time::Duration::from_secs(3600);

/// What an evaluation thread sends back: the analysis it evaluated (its
/// root and id) and the diagnostics, or `None` when it was cancelled.
type Evaluated = (crate::workspace::Root, u64, Option<Vec<tpt_lang::Diagnostic>>);

/// Runs the server on a connection until the client says `exit` (or goes away);
/// an error when it says `exit` without `shutdown` first.
pub fn serve(connection: &Connection) -> Result<(), String> {
    serve_with(connection, None)
}

/// [`serve`], with a [`Planner`] for the `tpt.plan` command.
pub fn serve_with(connection: &Connection, planner: Option<Arc<dyn Planner>>) -> Result<(), String> {
    let (id, params) = connection.initialize_start().map_err(|e| e.to_string())?;
    let client = Client::of(&params);
    let init = serde_json::json!({
        "capabilities": capabilities(client.pull, planner.is_some()),
        "serverInfo": ServerInfo { name: "tpt".into(), version: Some(env!("CARGO_PKG_VERSION").into()) },
    });
    connection
        .initialize_finish(id, init)
        .map_err(|e| e.to_string())?;
    let mut server = Server::new(connection);
    server.client = client;
    server.planner = planner;
    server.ws.stdlib.virtual_documents = params["initializationOptions"]["stdlibDocuments"] == true;
    server.ws.folders = workspace_folders(params);
    // (`initialize_finish` took the client's `initialized`.) Files changed
    // outside the editor — another program, a branch switch, a new
    // configuration — are reported by a client that can watch them.
    if server.client.watch {
        server.watch_files();
    }
    let mut shut_down = false;
    let evaluated = server.evaluations.1.clone();
    loop {
        // A burst of edits (a paste, a multi-cursor change, a client replaying
        // its changes) is analysed once, after a short quiet; evaluations
        // finished on their threads are taken in between messages.
        let quiet = if server.stale { QUIET } else { IDLE };
        let message = crossbeam_channel::select! {
            recv(connection.receiver) -> m => match m {
                Ok(m) => m,
                Err(_) => return Ok(()),
            },
            recv(evaluated) -> done => {
                if let Ok(done) = done {
                    server.evaluated(done);
                }
                continue;
            },
            default(quiet) => {
                if server.stale {
                    server.publish();
                }
                continue;
            },
        };
        match message {
            // After `shutdown` only `exit` is expected: a request is refused,
            // and the server goes on waiting for `exit`.
            Message::Request(req) if shut_down => server.send(
                Response::new_err(
                    req.id,
                    ErrorCode::InvalidRequest as i32,
                    "the server is shutting down: only `exit` is expected".into(),
                )
                .into(),
            ),
            Message::Request(req) if req.method == "shutdown" => {
                shut_down = true;
                // Plans still running stop as Ctrl-C stops them; requests
                // waiting for evaluations are answered now.
                for flag in server.running.values() {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                for waiting in std::mem::take(&mut server.deferred) {
                    server.send(
                        Response::new_err(
                            waiting.id,
                            ErrorCode::RequestCanceled as i32,
                            "the server is shutting down".into(),
                        )
                        .into(),
                    );
                }
                server.send(Response::new_ok(req.id, Value::Null).into());
            }
            Message::Request(req) => server.request(req),
            // The specification: exit code 0 after `shutdown`, 1 without.
            Message::Notification(n) if n.method == notif::Exit::METHOD => {
                return if shut_down {
                    Ok(())
                } else {
                    Err("the client said `exit` without `shutdown`".into())
                };
            }
            Message::Notification(_) if shut_down => {}
            Message::Notification(n) => server.notification(n),
            Message::Response(_) => {}
        }
    }
}

/// What the client can do, from its `initialize` request.
#[derive(Default)]
struct Client {
    /// It pulls diagnostics (`textDocument/diagnostic`).
    pull: bool,
    /// It re-pulls when asked (`workspace/diagnostic/refresh`).
    refresh: bool,
    /// It watches files for the server when asked (`client/registerCapability`
    /// of `workspace/didChangeWatchedFiles`).
    watch: bool,
}

impl Client {
    fn of(params: &Value) -> Client {
        let caps = &params["capabilities"];
        Client {
            pull: caps["textDocument"]["diagnostic"].is_object(),
            refresh: caps["workspace"]["diagnostics"]["refreshSupport"] == true,
            watch: caps["workspace"]["didChangeWatchedFiles"]["dynamicRegistration"] == true,
        }
    }
}

/// The workspace folders the client names (or its root), as paths.
fn workspace_folders(params: Value) -> Vec<PathBuf> {
    let Ok(p) = serde_json::from_value::<lsp_types::InitializeParams>(params) else {
        return Vec::new();
    };
    #[allow(deprecated)] // `root_uri` is deprecated in favour of folders; older clients send only it.
    let root = p.root_uri;
    let uris: Vec<Url> = match p.workspace_folders {
        Some(folders) if !folders.is_empty() => folders.into_iter().map(|f| f.uri).collect(),
        _ => root.into_iter().collect(),
    };
    uris.iter().filter_map(|u| u.to_file_path().ok()).collect()
}

/// Runs `f`; a panic in it becomes an internal-error answer with the panic's message.
pub fn guarded(method: &str, f: impl FnOnce() -> Answer) -> Answer {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(answer) => answer,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Failure::new(
                ErrorCode::InternalError,
                format!("internal error in tpt while answering {method}: {what} (this is a bug of tpt; please report it)"),
            ))
        }
    }
}

pub struct Server<'c> {
    connection: &'c Connection,
    pub ws: Workspace,
    paths: Paths,
    /// Edits not yet analysed and published.
    stale: bool,
    /// The analysis each configuration's diagnostics were last published from,
    /// and the URIs they went to.
    published: HashMap<crate::workspace::Root, (Rc<Analysis>, HashSet<Url>)>,
    /// The last diagnostics of each URI (code actions read their fixes).
    pub diagnostics: HashMap<Url, Vec<lsp_types::Diagnostic>>,
    client: Client,
    /// The id of the next request the server sends.
    next_id: i32,
    /// Makes plans (`tpt.plan`), when the binary gave one.
    pub planner: Option<Arc<dyn Planner>>,
    /// The cancel flags of the plans running, by request.
    running: HashMap<lsp_server::RequestId, CancelFlag>,
    /// Evaluations running on their threads: the id of the analysis of each
    /// root being evaluated, and the flag that cancels it.
    evaluating: HashMap<crate::workspace::Root, (u64, CancelFlag)>,
    /// Requests waiting for evaluations (see `waits_for_evaluation`).
    deferred: Vec<Request>,
    /// Where evaluation threads send what they found, and where the loop reads it.
    evaluations: (
        crossbeam_channel::Sender<Evaluated>,
        crossbeam_channel::Receiver<Evaluated>,
    ),
}

impl<'c> Server<'c> {
    fn new(connection: &'c Connection) -> Server<'c> {
        Server {
            connection,
            ws: Workspace::default(),
            paths: Paths::default(),
            stale: false,
            published: HashMap::new(),
            diagnostics: HashMap::new(),
            client: Client::default(),
            next_id: 0,
            planner: None,
            running: HashMap::new(),
            evaluating: HashMap::new(),
            deferred: Vec::new(),
            evaluations: crossbeam_channel::unbounded(),
        }
    }

    fn send(&self, message: Message) {
        // The client has gone away when this fails; the loop ends at the next receive.
        let _ = self.connection.sender.send(message);
    }

    fn show_error(&self, message: String) {
        self.show_message(MessageType::ERROR, message);
    }

    pub fn show_message(&self, typ: MessageType, message: String) {
        let params = ShowMessageParams { typ, message };
        self.send(Message::Notification(Notification::new(
            notif::ShowMessage::METHOD.to_string(),
            params,
        )));
    }

    fn request(&mut self, req: Request) {
        if req.method == <lsp_types::request::ExecuteCommand as lsp_types::request::Request>::METHOD
            && req.params["command"] == features::lens::PLAN
        {
            return self.start_plan(req);
        }
        if self.waits_for_evaluation(&req) {
            // Answered when the evaluations it needs come back; the loop goes on.
            self.deferred.push(req);
            return;
        }
        let Request { id, method, params } = req;
        let answer = guarded(&method, || self.dispatch(&method, params));
        let response = match answer {
            Ok(value) => Response::new_ok(id, value),
            Err(f) => {
                if matches!(f.code, ErrorCode::InternalError) {
                    self.show_error(f.message.clone());
                    // The panic may have left an analysis half-built.
                    self.ws.invalidate();
                    self.stale = true;
                }
                Response::new_err(id, f.code as i32, f.message)
            }
        };
        self.send(Message::Response(response));
    }

    /// Whether a request needs the diagnostics of an analysis whose
    /// evaluation is still to come (pull diagnostics, `tpt.check`); those
    /// evaluations are started if they are not running.
    fn waits_for_evaluation(&mut self, req: &Request) -> bool {
        use lsp_types::request::{
            DocumentDiagnosticRequest, ExecuteCommand, Request as _, WorkspaceDiagnosticRequest,
        };
        let needed: Vec<Rc<Analysis>> = match req.method.as_str() {
            DocumentDiagnosticRequest::METHOD => {
                let uri = req.params["textDocument"]["uri"]
                    .as_str()
                    .and_then(|u| Url::parse(u).ok());
                uri.and_then(|u| self.file(&u))
                    .map(|(a, _)| a)
                    .into_iter()
                    .collect()
            }
            WorkspaceDiagnosticRequest::METHOD => self.ws.every_analysis(),
            ExecuteCommand::METHOD if req.params["command"] == features::lens::CHECK => {
                let config = req.params["arguments"][0].as_str().map(PathBuf::from);
                config
                    .map(|c| self.ws.analysis(&crate::workspace::Root::of_config(c)))
                    .into_iter()
                    .collect()
            }
            _ => return false,
        };
        let mut waits = false;
        for a in needed.iter().filter(|a| a.pending()) {
            self.evaluate(a);
            waits = true;
        }
        waits
    }

    /// The deferred requests whose evaluations are all back, answered in order.
    fn answer_deferred(&mut self) {
        let deferred = std::mem::take(&mut self.deferred);
        for req in deferred {
            if self.waits_for_evaluation(&req) {
                self.deferred.push(req);
            } else {
                self.request(req);
            }
        }
    }

    /// `tpt.plan`: runs the planner on a thread of its own, which answers the
    /// request when the plan is made; the loop goes on meanwhile.
    fn start_plan(&mut self, req: Request) {
        let request = serde_json::from_value::<lsp_types::ExecuteCommandParams>(req.params)
            .map_err(|e| Failure::new(ErrorCode::InvalidParams, format!("invalid parameters: {e}")))
            .and_then(|p| features::lens::plan_request(&p));
        let (planner, request) = match (self.planner.clone(), request) {
            (Some(planner), Ok(request)) => (planner, request),
            (_, Err(f)) => {
                return self.send(Response::new_err(req.id, f.code as i32, f.message).into());
            }
            (None, Ok(_)) => {
                let message = "this server makes no plans: run `tpt lsp` (the binary) to get them";
                return self.send(
                    Response::new_err(req.id, ErrorCode::MethodNotFound as i32, message.into()).into(),
                );
            }
        };
        // Flags of plans that ended (their thread dropped its copy) are let go.
        self.running.retain(|_, flag| Arc::strong_count(flag) > 1);
        let flag = CancelFlag::default();
        self.running.insert(req.id.clone(), flag.clone());
        let sender = self.connection.sender.clone();
        let id = req.id;
        let spawned = std::thread::Builder::new()
            .name("tpt-plan".into())
            .spawn(move || {
                let say = |method: &str, typ: MessageType, message: &str| {
                    let params = serde_json::json!({ "type": typ, "message": message });
                    // A client gone: the loop ends at its next receive.
                    let _ = sender.send(Message::Notification(Notification::new(
                        method.to_string(),
                        params,
                    )));
                };
                let log = |note: &str| say(notif::LogMessage::METHOD, MessageType::INFO, note);
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    planner.plan(&request, &|| features::lens::cancelled(&flag), &log)
                }));
                // The plan in the client's log (VS Code's output panel, Neovim's
                // `:LspLog`), its summary (or the error's first line) shown.
                let (typ, text) = match &outcome {
                    Ok(Ok(text)) => (MessageType::INFO, text.as_str()),
                    Ok(Err(text)) => (MessageType::ERROR, text.as_str()),
                    Err(_) => (MessageType::ERROR, ""),
                };
                if !text.is_empty() {
                    say(notif::LogMessage::METHOD, typ, text);
                    let headline = features::lens::headline(&request, text);
                    say(notif::ShowMessage::METHOD, typ, &headline);
                }
                let response = match outcome {
                    Ok(Ok(text)) => Response::new_ok(id, serde_json::json!({ "plan": text })),
                    Ok(Err(message)) => Response::new_err(id, ErrorCode::RequestFailed as i32, message),
                    Err(_) => Response::new_err(
                        id,
                        ErrorCode::InternalError as i32,
                        "internal error in tpt while planning (this is a bug of tpt; please report it)"
                            .into(),
                    ),
                };
                let _ = sender.send(Message::Response(response));
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a thread for a plan: {e}");
        }
    }

    fn dispatch(&mut self, method: &str, params: Value) -> Answer {
        use lsp_types::request::*;
        match method {
            HoverRequest::METHOD => features::hover::hover(self, parse(params)?),
            Completion::METHOD => features::completion::completion(self, parse(params)?),
            InlayHintRequest::METHOD => features::inlay::inlay_hints(self, parse(params)?),
            SignatureHelpRequest::METHOD => features::signature::signature_help(self, parse(params)?),
            GotoDefinition::METHOD => features::navigate::definition(self, parse(params)?),
            References::METHOD => features::navigate::references(self, parse(params)?),
            DocumentHighlightRequest::METHOD => features::navigate::highlight(self, parse(params)?),
            DocumentLinkRequest::METHOD => features::navigate::links(self, parse(params)?),
            PrepareRenameRequest::METHOD => features::navigate::prepare_rename(self, parse(params)?),
            Rename::METHOD => features::navigate::rename(self, parse(params)?),
            DocumentSymbolRequest::METHOD => features::symbols::document_symbols(self, parse(params)?),
            FoldingRangeRequest::METHOD => features::symbols::folding_ranges(self, parse(params)?),
            SelectionRangeRequest::METHOD => features::symbols::selection_ranges(self, parse(params)?),
            WorkspaceSymbolRequest::METHOD => features::symbols::workspace_symbols(self, parse(params)?),
            Formatting::METHOD => features::edits::formatting(self, parse(params)?),
            RangeFormatting::METHOD => features::edits::range_formatting(self, parse(params)?),
            CodeLensRequest::METHOD => features::lens::code_lenses(self, parse(params)?),
            ExecuteCommand::METHOD => {
                let p: lsp_types::ExecuteCommandParams = parse(params)?;
                match p.command.as_str() {
                    features::lens::CHECK => features::lens::check(self, &p),
                    other => Err(Failure::new(
                        ErrorCode::InvalidParams,
                        format!("tpt lsp has no command `{other}`"),
                    )),
                }
            }
            DocumentDiagnosticRequest::METHOD => features::pull::document(self, parse(params)?),
            WorkspaceDiagnosticRequest::METHOD => features::pull::workspace(self, parse(params)?),
            CodeActionRequest::METHOD => features::edits::code_actions(self, parse(params)?),
            SemanticTokensFullRequest::METHOD => features::tokens::full(self, parse(params)?),
            SemanticTokensRangeRequest::METHOD => features::tokens::range(self, parse(params)?),
            // The text of a virtual document of the standard library.
            "tpt/stdlibDocument" => {
                let uri: Url = serde_json::from_value(params["uri"].clone()).map_err(|e| {
                    Failure::new(ErrorCode::InvalidParams, format!("invalid parameters: {e}"))
                })?;
                match crate::stdlib_files::virtual_text(&uri) {
                    Some(text) => Ok(serde_json::json!({ "text": text })),
                    None => Err(Failure::new(
                        ErrorCode::InvalidParams,
                        format!("`{uri}` is no document of the standard library"),
                    )),
                }
            }
            _ => Err(Failure::new(
                ErrorCode::MethodNotFound,
                format!("tpt lsp does not answer `{method}`"),
            )),
        }
    }

    fn notification(&mut self, n: Notification) {
        let method = n.method.clone();
        let outcome = guarded(&method, || {
            self.on_notification(n);
            Ok(Value::Null)
        });
        if let Err(f) = outcome {
            self.show_error(f.message);
            self.ws.invalidate();
        }
        self.stale = true;
        self.cancel_stale_evaluations();
    }

    fn on_notification(&mut self, n: Notification) {
        match n.method.as_str() {
            notif::DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params) {
                    let path = self.paths.path(&p.text_document.uri);
                    self.ws.open(path, p.text_document.text, p.text_document.version);
                }
            }
            notif::DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params) {
                    let path = self.paths.path(&p.text_document.uri);
                    if let Some(doc) = self.ws.docs.get_mut(&path) {
                        for change in p.content_changes {
                            apply_change(&mut doc.text, change.range, &change.text);
                        }
                        doc.version = p.text_document.version;
                    }
                    self.ws.changed(&path);
                }
            }
            notif::DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params) {
                    let path = self.paths.path(&p.text_document.uri);
                    self.ws.close(&path);
                }
            }
            notif::DidSaveTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidSaveTextDocumentParams>(n.params) {
                    let path = self.paths.path(&p.text_document.uri);
                    self.ws.changed(&path);
                }
            }
            // Files changed on disk (another program, a branch switch).
            notif::DidChangeWatchedFiles::METHOD => {
                match serde_json::from_value::<lsp_types::DidChangeWatchedFilesParams>(n.params) {
                    Ok(p) => {
                        for change in p.changes {
                            let path = self.paths.path(&change.uri);
                            self.ws.changed(&path);
                        }
                    }
                    Err(_) => self.ws.invalidate(),
                }
            }
            // A plan running for the request stops; other requests are answered in order.
            notif::Cancel::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::CancelParams>(n.params) {
                    let id = match p.id {
                        lsp_types::NumberOrString::Number(n) => lsp_server::RequestId::from(n),
                        lsp_types::NumberOrString::String(s) => lsp_server::RequestId::from(s),
                    };
                    if let Some(flag) = self.running.get(&id) {
                        flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Some(i) = self.deferred.iter().position(|r| r.id == id) {
                        let req = self.deferred.remove(i);
                        self.send(
                            Response::new_err(req.id, ErrorCode::RequestCanceled as i32, "cancelled".into())
                                .into(),
                        );
                    }
                }
            }
            // `initialized`, `$/setTrace`, settings: nothing to do.
            _ => {}
        }
    }

    /// Analyses the configuration of every open document and publishes the
    /// diagnostics of those whose analysis is new.
    fn publish(&mut self) {
        self.stale = false;
        let outcome = guarded("publishing diagnostics", || {
            self.publish_all();
            Ok(Value::Null)
        });
        if let Err(f) = outcome {
            self.show_error(f.message);
            self.ws.invalidate();
        }
    }

    /// Evaluations of analyses an edit made stale stop (a newer one follows).
    fn cancel_stale_evaluations(&mut self) {
        let ws = &self.ws;
        self.evaluating.retain(|root, (id, flag)| {
            let current = ws.current_of(root).is_some_and(|a| a.id == *id);
            if !current {
                tracing::debug!("evaluation of {root:?} cancelled: an edit made it stale");
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            current
        });
    }

    /// Evaluates every environment of an analysis on a thread of its own (the
    /// loop goes on answering); the result comes back through `evaluations`.
    fn evaluate(&mut self, a: &Analysis) {
        if self.evaluating.get(&a.root).is_some_and(|(id, _)| *id == a.id) {
            return;
        }
        // A few at once (each evaluates its environments on every core): the
        // others start as these finish (publishing and the deferred requests
        // ask again), the open documents' configurations first.
        if self.evaluating.len() >= EVALUATIONS_AT_ONCE {
            return;
        }
        let flag = CancelFlag::default();
        if let Some((_, old)) = self.evaluating.insert(a.root.clone(), (a.id, flag.clone())) {
            old.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let (program, root, id) = (a.program.clone(), a.root.clone(), a.id);
        let sender = self.evaluations.0.clone();
        let spawned = std::thread::Builder::new()
            .name("tpt-evaluate".into())
            .stack_size(EVAL_STACK)
            .spawn(move || {
                let inputs = crate::workspace::Cancellable(flag.clone());
                let found = catch_unwind(AssertUnwindSafe(|| {
                    tpt_planner::check::evaluate_environments(&program, &inputs)
                }));
                let cancelled = flag.load(std::sync::atomic::Ordering::Relaxed);
                let result = match found {
                    Ok(d) if !cancelled => Some(d),
                    Ok(_) => None,
                    // A bug of the evaluator: said, as a panic on the loop is.
                    Err(_) => Some(vec![tpt_lang::Diagnostic::error(
                        tpt_lang::Code::Io,
                        "internal error in tpt while evaluating the environments (this is a bug of tpt; please report it)",
                    )]),
                };
                // The loop is gone when this fails: nothing to tell.
                let _ = sender.send((root, id, result));
            });
        if let Err(e) = spawned {
            // No thread: evaluated here, as `tpt check` would.
            tracing::warn!("cannot start a thread to evaluate: {e}");
            a.diagnostics();
        }
    }

    /// An evaluation came back: its diagnostics join those of its analysis
    /// (if it is still the current one), to be published.
    fn evaluated(&mut self, (root, id, found): Evaluated) {
        if self.evaluating.get(&root).is_some_and(|(i, _)| *i == id) {
            self.evaluating.remove(&root);
        }
        let Some(found) = found else { return };
        if let Some(a) = self.ws.current_of(&root).filter(|a| a.id == id) {
            a.set_evaluated(found);
            self.stale = true;
        }
        self.answer_deferred();
    }

    fn publish_all(&mut self) {
        self.cancel_stale_evaluations();
        // Every configuration of the workspace folders too, open or not: an edit
        // of a shared library shows what it breaks where it is imported.
        let analyses = self.ws.every_analysis();
        let mut changed = false;
        for a in analyses {
            if self
                .published
                .get(&a.root)
                .is_some_and(|(b, _)| Rc::ptr_eq(&a, b))
            {
                continue;
            }
            if a.pending() {
                // Published when its evaluation is done: a version's
                // diagnostics are published whole, once.
                self.evaluate(&a);
                continue;
            }
            changed = true;
            let by_uri = self.diagnostics_of(&a);
            if self.client.pull {
                // Kept for code actions; the client pulls them.
                for (uri, diags) in by_uri {
                    self.diagnostics.insert(uri, diags);
                }
                self.published.insert(a.root.clone(), (a, HashSet::new()));
                continue;
            }
            let previous = self
                .published
                .remove(&a.root)
                .map(|(_, uris)| uris)
                .unwrap_or_default();
            let mut uris = HashSet::new();
            for (uri, diags) in by_uri {
                uris.insert(uri.clone());
                self.publish_to(uri, diags);
            }
            for gone in previous.difference(&uris) {
                self.publish_to(gone.clone(), Vec::new());
            }
            self.published.insert(a.root.clone(), (a, uris));
        }
        // Requests waiting for analyses an edit replaced wait for the new ones.
        self.answer_deferred();
        if changed && self.client.pull && self.client.refresh {
            self.send_request("workspace/diagnostic/refresh", Value::Null);
        }
    }

    /// Sends the client a request (its answer is not awaited: the loop drops it).
    fn send_request(&mut self, method: &str, params: impl serde::Serialize) {
        self.next_id += 1;
        self.send(Message::Request(Request::new(
            lsp_server::RequestId::from(self.next_id),
            method.to_string(),
            params,
        )));
    }

    /// Asks the client to report every change of a `.tpt` file of the workspace.
    fn watch_files(&mut self) {
        let options = lsp_types::DidChangeWatchedFilesRegistrationOptions {
            watchers: vec![lsp_types::FileSystemWatcher {
                glob_pattern: lsp_types::GlobPattern::String("**/*.tpt".into()),
                kind: None,
            }],
        };
        let params = lsp_types::RegistrationParams {
            registrations: vec![lsp_types::Registration {
                id: "tpt-watched-files".into(),
                method: notif::DidChangeWatchedFiles::METHOD.into(),
                register_options: serde_json::to_value(options).ok(),
            }],
        };
        self.send_request("client/registerCapability", params);
    }

    /// The version of an open document (`None` for a file only on disk).
    pub fn version_of(&mut self, uri: &Url) -> Option<i32> {
        let path = self.paths.path(uri);
        self.ws.docs.get(&path).map(|d| d.version)
    }

    fn publish_to(&mut self, uri: Url, diagnostics: Vec<lsp_types::Diagnostic>) {
        let path = self.paths.path(&uri);
        let version = self.ws.docs.get(&path).map(|d| d.version);
        self.diagnostics.insert(uri.clone(), diagnostics.clone());
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        self.send(Message::Notification(Notification::new(
            notif::PublishDiagnostics::METHOD.to_string(),
            params,
        )));
    }

    /// The diagnostics of an analysis per URI: every file of the configuration
    /// (the standard library's aside) has an entry, empty when clean.
    pub fn diagnostics_of(&mut self, a: &Analysis) -> Vec<(Url, Vec<lsp_types::Diagnostic>)> {
        let mut loc = Locator {
            sources: &a.program.sources,
            paths: &self.paths,
            stdlib: &mut self.ws.stdlib,
        };
        let mut by_file: Vec<(tpt_lang::source::FileId, Url, Vec<lsp_types::Diagnostic>)> = Vec::new();
        for (id, file) in a.program.sources.iter() {
            if crate::stdlib_files::is_stdlib_name(&file.name) {
                continue;
            }
            if let Some(uri) = loc.paths.uri(std::path::Path::new(&file.name)) {
                by_file.push((id, uri, Vec::new()));
            }
        }
        let main_uri = self.paths.uri(&a.root.main_file());
        let start = Range::new(Position::new(0, 0), Position::new(0, 0));
        for d in &a.diagnostics() {
            let file = d.primary_span().map(|s| s.file);
            let converted = convert::diagnostic(d, &mut loc, start);
            match file.and_then(|f| by_file.iter_mut().find(|(id, _, _)| *id == f)) {
                Some((_, _, list)) => list.push(converted),
                // File-less (a root that cannot be read) or in the standard library: shown on the main file.
                None => match by_file.first_mut() {
                    Some((_, _, list)) => list.push(lsp_types::Diagnostic {
                        range: start,
                        ..converted
                    }),
                    None => {
                        if let Some(uri) = &main_uri {
                            by_file.push((
                                Default::default(),
                                uri.clone(),
                                vec![lsp_types::Diagnostic {
                                    range: start,
                                    ..converted
                                }],
                            ));
                        }
                    }
                },
            }
        }
        by_file.into_iter().map(|(_, uri, list)| (uri, list)).collect()
    }

    /// The analysis and file id of a document, or `None` for a file no configuration loads.
    pub fn file(&mut self, uri: &Url) -> Option<(Rc<Analysis>, tpt_lang::source::FileId)> {
        let path = self.paths.path(uri);
        let a = self.ws.analysis_for(&path);
        let id = a.program.sources.find(&self.ws.source_name(&path))?;
        Some((a, id))
    }

    pub fn locator<'a>(&'a mut self, a: &'a Analysis) -> Locator<'a> {
        Locator {
            sources: &a.program.sources,
            paths: &self.paths,
            stdlib: &mut self.ws.stdlib,
        }
    }

    /// The source path of a URI (for the documents map).
    pub fn path(&mut self, uri: &Url) -> PathBuf {
        self.paths.path(uri)
    }
}

fn parse<P: serde::de::DeserializeOwned>(params: Value) -> Result<P, Failure> {
    serde_json::from_value(params)
        .map_err(|e| Failure::new(ErrorCode::InvalidParams, format!("invalid parameters: {e}")))
}
