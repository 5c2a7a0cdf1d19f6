//! The server's view of the files: open documents (the editor's text, which
//! wins over the disk), the configuration each file belongs to, a cache of
//! parse trees keyed by file text, and the analysis of each configuration.
//!
//! Incremental by construction: loading a configuration asks [`ParseCache`]
//! for every file's tree, and only a file whose text changed is parsed again;
//! the standard library is parsed once per server.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use tpt_lang::program::{ModuleId, ParseFile};
use tpt_lang::source::FileId;
use tpt_lang::syntax::ast;
use tpt_lang::{Diagnostic, FileSystem, Program};

use crate::index::Index;
use crate::stdlib_files::StdlibFiles;

/// An open document.
pub struct Document {
    pub text: String,
    pub version: i32,
}

/// The files of one configuration's root module.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Root {
    /// A directory with `main.tpt` (and `envs/*.tpt`).
    Dir(PathBuf),
    /// A file on its own.
    File(PathBuf),
    /// The standard library, for its files opened in the editor (from a definition).
    Std,
}

/// The root file of [`Root::Std`]: it imports every module of the standard library.
const STD_ROOT: &str = "<std>";

impl Root {
    /// The configuration at `path`, as `tpt check PATH` takes it: a directory
    /// holding `main.tpt`, or a file on its own.
    pub fn of_config(path: PathBuf) -> Root {
        if path.is_dir() {
            Root::Dir(path)
        } else {
            Root::File(path)
        }
    }

    /// The main file (where file-less diagnostics are shown).
    pub fn main_file(&self) -> PathBuf {
        match self {
            Root::Dir(dir) => dir.join("main.tpt"),
            Root::File(f) => f.clone(),
            Root::Std => PathBuf::from(STD_ROOT),
        }
    }
}

/// One parsed file, kept while its text stays the same.
struct CachedParse {
    text: Arc<str>,
    file: FileId,
    ast: Arc<ast::File>,
    diagnostics: Vec<Diagnostic>,
}

/// Trees of files by name; a file is parsed again only when its text (or its
/// id in the program) changed.
#[derive(Default)]
pub struct ParseCache {
    entries: RefCell<HashMap<String, CachedParse>>,
    /// The trees handed out during the current load, by file id.
    handed: RefCell<HashMap<FileId, Arc<ast::File>>>,
    /// How many files were parsed (tests and the benchmark read it).
    parses: Cell<usize>,
}

impl ParseFile for ParseCache {
    fn parse(&self, file: FileId, name: &str, text: &Arc<str>) -> (ast::File, Vec<Diagnostic>) {
        let mut entries = self.entries.borrow_mut();
        let hit = entries
            .get(name)
            .filter(|c| c.file == file && (Arc::ptr_eq(&c.text, text) || *c.text == **text));
        let (tree, diagnostics) = match hit {
            Some(c) => (c.ast.clone(), c.diagnostics.clone()),
            None => {
                self.parses.set(self.parses.get() + 1);
                let (tree, diagnostics) = tpt_lang::syntax::parse(file, text);
                let tree = Arc::new(tree);
                entries.insert(
                    name.to_string(),
                    CachedParse {
                        text: text.clone(),
                        file,
                        ast: tree.clone(),
                        diagnostics: diagnostics.clone(),
                    },
                );
                (tree, diagnostics)
            }
        };
        self.handed.borrow_mut().insert(file, tree.clone());
        ((*tree).clone(), diagnostics)
    }
}

impl ParseCache {
    pub fn parse_count(&self) -> usize {
        self.parses.get()
    }
}

/// A configuration loaded and checked, with what the editor features need.
///
/// Loading and the type check are done when it is made (on the request loop:
/// every request needs them, and they are linear in the files); evaluating
/// every environment, the heavy part of `tpt check`, is done apart (the
/// server runs it on a thread of its own, cancelled when an edit makes the
/// analysis stale) and added with [`Analysis::set_evaluated`].
pub struct Analysis {
    pub root: Root,
    /// Which analysis of its root this is (a finished evaluation is matched to it).
    pub id: u64,
    pub program: Arc<Program>,
    /// Loading and checking diagnostics.
    pub checked: Vec<Diagnostic>,
    /// The diagnostics of evaluating every environment and of its graph, once
    /// evaluated (nothing to evaluate when the check found errors).
    evaluated: std::cell::OnceCell<Vec<Diagnostic>>,
    /// The tree of every file of the program.
    pub trees: HashMap<FileId, Arc<ast::File>>,
    /// Built on the first request that needs it.
    index: std::cell::OnceCell<Index>,
    /// Evaluated on the first request that needs it (inlay hints).
    evaluations: std::cell::OnceCell<Vec<tpt_lang::Evaluated>>,
}

/// How many environments inlay hints show the values of (the first ones).
pub const EVALUATED_ENVS: usize = 6;

impl Analysis {
    /// Whether its evaluation is still to come (the check found no errors).
    pub fn pending(&self) -> bool {
        self.evaluated.get().is_none()
    }

    /// The evaluation's diagnostics, once made.
    pub fn set_evaluated(&self, diagnostics: Vec<Diagnostic>) {
        // Set once: a second result for the same analysis says the same.
        let _ = self.evaluated.set(diagnostics);
    }

    /// What `tpt check` reports: loading and checking diagnostics, and when
    /// there are no errors, those of evaluating every environment and of its
    /// graph — evaluated here, now, if that is still to come.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let evaluated = self
            .evaluated
            .get_or_init(|| tpt_planner::check::evaluate_environments(&self.program, &EnvInputs));
        let mut all = self.checked.clone();
        all.extend(evaluated.iter().cloned());
        tpt_lang::diagnostic::sort_diagnostics(&mut all);
        all
    }

    pub fn index(&self) -> &Index {
        self.index
            .get_or_init(|| Index::build(&self.program, &self.trees))
    }

    /// The evaluation of each environment (the first [`EVALUATED_ENVS`]; the
    /// base alone in a configuration without environments), as `tpt check`
    /// evaluates them; none while the configuration has errors.
    pub fn evaluations(&self) -> &[tpt_lang::Evaluated] {
        self.evaluations.get_or_init(|| {
            if nothing_to_evaluate(&self.root, &self.checked) {
                return Vec::new();
            }
            let envs = tpt_planner::check::environments(&self.program);
            let envs: Vec<Option<&str>> = if envs.is_empty() {
                vec![None]
            } else {
                envs.iter()
                    .take(EVALUATED_ENVS)
                    .map(|e| Some(e.as_str()))
                    .collect()
            };
            envs.into_iter()
                .filter_map(|env| tpt_lang::evaluate(&self.program, env, &EnvInputs).ok())
                .collect()
        })
    }

    /// The module a file belongs to.
    /// The module names at `offset` of `file` resolve in: a component's body
    /// when the offset is inside its block, else the file's module.
    pub fn module_at(&self, file: FileId, offset: usize) -> ModuleId {
        let inside = self.program.modules.iter().enumerate().find(|(_, m)| {
            m.component.as_ref().is_some_and(|c| {
                let span = self.program.schema(c.schema).span;
                span.file == file && (span.start as usize) < offset && offset < span.end as usize
            })
        });
        match inside {
            Some((i, _)) => u32::try_from(i).map_or(self.program.root(), ModuleId),
            None => self.module_of(file),
        }
    }

    pub fn module_of(&self, file: FileId) -> ModuleId {
        self.program
            .modules
            .iter()
            .position(|m| m.files.contains(&file))
            .and_then(|i| u32::try_from(i).ok())
            .map_or(self.program.root(), ModuleId)
    }
}

/// Open documents, the parse cache, and analyses by configuration.
#[derive(Default)]
pub struct Workspace {
    pub docs: HashMap<PathBuf, Document>,
    pub parses: ParseCache,
    analyses: HashMap<Root, Rc<Analysis>>,
    pub stdlib: StdlibFiles,
    /// The workspace folders (for references and renames across configurations).
    pub folders: Vec<PathBuf>,
    /// [`Workspace::configurations`], kept until a `main.tpt` appears, goes or
    /// is opened or closed (every publication checks all of them).
    configs: Option<Vec<Root>>,
    /// How many analyses were made (each one's id).
    made: Cell<u64>,
}

/// How deep and how many directories [`Workspace::configurations`] looks through.
const SEARCH_DEPTH: usize = 8;
const SEARCH_DIRS: usize = 5_000;

/// Reads open documents from memory and everything else from disk.
struct OverlayFs<'w> {
    docs: &'w HashMap<PathBuf, Document>,
    /// The workspace folders: imports may reach anywhere in them.
    folders: &'w [PathBuf],
}

impl FileSystem for OverlayFs<'_> {
    /// As `tpt` does: inside the configuration's directory; and also anywhere
    /// in the editor's workspace folders (a shared library beside the apps that
    /// import it, which `tpt` reaches with `--allow-imports-from`).
    fn may_import(&self, path: &str, config_dir: &str) -> bool {
        tpt_lang::program::inside(config_dir, path)
            || self.folders.iter().any(|f| Path::new(path).starts_with(f))
    }

    fn read(&self, path: &str) -> Result<String, String> {
        if path == STD_ROOT {
            return Ok(tpt_lang::stdlib::MODULES
                .iter()
                .map(|(name, _, _)| format!("import std.{name}\n"))
                .collect());
        }
        if let Some(doc) = self.docs.get(Path::new(path)) {
            return Ok(doc.text.clone());
        }
        // Only regular files: opening a pipe would wait for a writer forever.
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Err("it is a directory".to_string()),
            Ok(m) if !m.is_file() => {
                return Err("not a regular file (a pipe, a socket or a device)".to_string())
            }
            _ => {}
        }
        std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::InvalidData => "the file is not valid UTF-8".to_string(),
            _ => e.to_string(),
        })
    }
}

impl Workspace {
    pub fn open(&mut self, path: PathBuf, text: String, version: i32) {
        self.changed(&path);
        self.docs.insert(path, Document { text, version });
    }

    pub fn close(&mut self, path: &Path) {
        self.docs.remove(path);
        self.changed(path);
    }

    /// The text of `path` changed: the analyses that read it, or that it may now
    /// join (its configuration), are stale; those of other configurations are kept.
    pub fn changed(&mut self, path: &Path) {
        if path.file_name().is_some_and(|n| n == "main.tpt") || path.extension().is_none() {
            self.configs = None;
        }
        let root = self.root_of(path);
        let alone = Root::File(path.to_path_buf());
        let name = path.to_string_lossy();
        self.analyses
            .retain(|r, a| *r != root && *r != alone && a.program.sources.find(&name).is_none());
    }

    /// Something changed (an edit, a file on disk): every analysis is stale.
    pub fn invalidate(&mut self) {
        self.analyses.clear();
        self.configs = None;
    }

    /// The analyses of the open documents' configurations and of every
    /// configuration of the workspace folders, each once (the standard
    /// library's copies left out).
    pub fn every_analysis(&mut self) -> Vec<Rc<Analysis>> {
        let open: Vec<PathBuf> = self
            .docs
            .keys()
            .filter(|path| self.stdlib.name_of(path).is_none())
            .cloned()
            .collect();
        let mut found: Vec<Rc<Analysis>> = open.iter().map(|path| self.analysis_for(path)).collect();
        for root in self.all_configurations() {
            found.push(self.analysis(&root));
        }
        let mut analyses: Vec<Rc<Analysis>> = Vec::new();
        for a in found {
            if !analyses.iter().any(|b| Rc::ptr_eq(&a, b)) {
                analyses.push(a);
            }
        }
        analyses
    }

    /// Every configuration of the workspace folders ([`Workspace::configurations`]),
    /// looked for again only after a `main.tpt` (or a directory) changed.
    pub fn all_configurations(&mut self) -> Vec<Root> {
        if self.configs.is_none() {
            self.configs = Some(self.configurations());
        }
        self.configs.clone().unwrap_or_default()
    }

    fn exists(&self, path: &Path) -> bool {
        self.docs.contains_key(path) || path.is_file()
    }

    /// The configuration a file belongs to: the nearest directory above it
    /// that holds `main.tpt`; else the file alone.
    pub fn root_of(&self, path: &Path) -> Root {
        for dir in path.ancestors().skip(1).take(6) {
            if self.exists(&dir.join("main.tpt")) {
                return Root::Dir(dir.to_path_buf());
            }
        }
        Root::File(path.to_path_buf())
    }

    /// The root module's files: `main.tpt`, then `envs/*.tpt` (on disk or open) by name.
    fn root_files(&self, root: &Root) -> Vec<String> {
        match root {
            Root::File(f) => vec![f.to_string_lossy().into_owned()],
            Root::Std => vec![STD_ROOT.to_string()],
            Root::Dir(dir) => {
                let envs = dir.join("envs");
                let mut names: Vec<PathBuf> = std::fs::read_dir(&envs)
                    .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
                    .unwrap_or_default();
                names.extend(
                    self.docs
                        .keys()
                        .filter(|p| p.parent() == Some(envs.as_path()))
                        .cloned(),
                );
                names.retain(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    name.ends_with(".tpt") && !name.starts_with('.')
                });
                names.sort();
                names.dedup();
                let mut files = vec![dir.join("main.tpt").to_string_lossy().into_owned()];
                files.extend(names.iter().map(|p| p.to_string_lossy().into_owned()));
                files
            }
        }
    }

    /// The analysis of the configuration `path` belongs to (computed when stale).
    /// A file that its directory's configuration does not load is analysed alone.
    pub fn analysis_for(&mut self, path: &Path) -> Rc<Analysis> {
        if self.stdlib.name_of(path).is_some() {
            return self.analysis(&Root::Std);
        }
        let root = self.root_of(path);
        let analysis = self.analysis(&root);
        let name = path.to_string_lossy();
        if analysis.program.sources.find(&name).is_some() || matches!(root, Root::File(_)) {
            return analysis;
        }
        self.analysis(&Root::File(path.to_path_buf()))
    }

    /// The analysis of a root made already, if it is still current.
    pub fn current_of(&self, root: &Root) -> Option<&Rc<Analysis>> {
        self.analyses.get(root)
    }

    pub fn analysis(&mut self, root: &Root) -> Rc<Analysis> {
        if let Some(a) = self.analyses.get(root) {
            return a.clone();
        }
        let a = Rc::new(self.analyse(root));
        self.analyses.insert(root.clone(), a.clone());
        a
    }

    /// The name a file has in its analysis: its path, or `std/aws.tpt` for the
    /// written copy of a standard library module.
    pub fn source_name(&self, path: &Path) -> String {
        self.stdlib
            .name_of(path)
            .unwrap_or_else(|| path.to_string_lossy().into_owned())
    }

    /// Every configuration in the workspace folders: the directories holding
    /// `main.tpt` (hidden directories, `target` and `node_modules` skipped).
    pub fn configurations(&self) -> Vec<Root> {
        let mut out = Vec::new();
        let mut queue: Vec<(PathBuf, usize)> = self.folders.iter().map(|f| (f.clone(), 0)).collect();
        let mut seen = 0;
        while let Some((dir, depth)) = queue.pop() {
            seen += 1;
            if seen > SEARCH_DIRS {
                break;
            }
            if self.exists(&dir.join("main.tpt")) {
                out.push(Root::Dir(dir.clone()));
            }
            if depth >= SEARCH_DEPTH {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name();
                let name = name.to_string_lossy();
                let skip = name.starts_with('.') || name == "target" || name == "node_modules";
                if !skip && e.file_type().is_ok_and(|t| t.is_dir()) {
                    queue.push((e.path(), depth + 1));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The analyses computed since the last change.
    pub fn current(&self) -> impl Iterator<Item = &Rc<Analysis>> {
        self.analyses.values()
    }

    fn analyse(&self, root: &Root) -> Analysis {
        let files = self.root_files(root);
        self.parses.handed.borrow_mut().clear();
        let fs = OverlayFs {
            docs: &self.docs,
            folders: &self.folders,
        };
        let program = Program::load_with(&fs, &files, &self.parses);
        let trees = std::mem::take(&mut *self.parses.handed.borrow_mut());
        let checked = tpt_lang::check(&program);
        let evaluated = std::cell::OnceCell::new();
        if nothing_to_evaluate(root, &checked) {
            let _ = evaluated.set(Vec::new());
        }
        self.made.set(self.made.get() + 1);
        Analysis {
            root: root.clone(),
            id: self.made.get(),
            program: Arc::new(program),
            checked,
            evaluated,
            trees,
            index: std::cell::OnceCell::new(),
            evaluations: std::cell::OnceCell::new(),
        }
    }
}

/// Whether an analysis has no environments to evaluate: `tpt check`
/// evaluates nothing of an ill-typed program, and the standard library alone
/// has no configuration to evaluate.
fn nothing_to_evaluate(root: &Root, checked: &[Diagnostic]) -> bool {
    matches!(root, Root::Std) || checked.iter().any(Diagnostic::is_error)
}

/// Named inputs from the server's environment, as `tpt check` reads them.
pub struct EnvInputs;

impl tpt_lang::Inputs for EnvInputs {
    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// [`EnvInputs`] for an evaluation that a newer edit may make useless.
pub struct Cancellable(pub Arc<std::sync::atomic::AtomicBool>);

impl tpt_lang::Inputs for Cancellable {
    fn env_var(&self, name: &str) -> Option<String> {
        tpt_lang::Inputs::env_var(&EnvInputs, name)
    }

    fn cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration of three files on disk, with `main.tpt` open in the editor.
    fn workspace() -> (tempfile::TempDir, PathBuf, Workspace) {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("envs")).expect("mkdir");
        std::fs::write(dir.join("lib.tpt"), "let team = \"shop\"\n").expect("write");
        std::fs::write(dir.join("envs/prod.tpt"), "environment prod { replicas = 3 }\n").expect("write");
        let main = "import \"./lib.tpt\" as lib\nparam replicas: int = 1\nlet owner = lib.team\n";
        std::fs::write(dir.join("main.tpt"), main).expect("write");
        let mut ws = Workspace::default();
        ws.open(dir.join("main.tpt"), main.to_string(), 1);
        (tmp, dir, ws)
    }

    #[test]
    fn only_changed_files_are_parsed_again() {
        let (_tmp, dir, mut ws) = workspace();
        let main = dir.join("main.tpt");
        let a = ws.analysis_for(&main);
        assert!(a.diagnostics().is_empty(), "{:?}", a.diagnostics());
        // main, envs/prod, lib, and no stdlib (not imported).
        assert_eq!(ws.parses.parse_count(), 3);
        if let Some(doc) = ws.docs.get_mut(&main) {
            doc.text.push_str("let more = owner\n");
        }
        ws.changed(&main);
        let a = ws.analysis_for(&main);
        assert!(a.diagnostics().is_empty(), "{:?}", a.diagnostics());
        assert_eq!(ws.parses.parse_count(), 4, "only main.tpt is parsed again");
        // Nothing changed: the analysis is reused, nothing is parsed.
        ws.analysis_for(&main);
        ws.invalidate();
        ws.analysis_for(&dir.join("lib.tpt"));
        assert_eq!(ws.parses.parse_count(), 4);
    }

    #[test]
    fn an_edit_keeps_the_analyses_of_other_configurations() {
        let (_tmp, dir, mut ws) = workspace();
        let other = dir.join("elsewhere/alone.tpt");
        ws.open(other.clone(), "let a = 1\n".into(), 1);
        let before = ws.analysis_for(&other);
        ws.changed(&dir.join("lib.tpt"));
        assert!(Rc::ptr_eq(&before, &ws.analysis_for(&other)));
        ws.changed(&other);
        assert!(!Rc::ptr_eq(&before, &ws.analysis_for(&other)));
    }

    #[test]
    fn files_belong_to_the_configuration_above_them() {
        let (_tmp, dir, ws) = workspace();
        assert_eq!(ws.root_of(&dir.join("envs/prod.tpt")), Root::Dir(dir.clone()));
        assert_eq!(ws.root_of(&dir.join("lib.tpt")), Root::Dir(dir.clone()));
        let alone = Path::new("/nonexistent/x.tpt");
        assert_eq!(ws.root_of(alone), Root::File(alone.to_path_buf()));
    }

    #[test]
    fn a_file_the_configuration_does_not_load_is_analysed_alone() {
        let (_tmp, dir, mut ws) = workspace();
        let stray = dir.join("stray.tpt");
        ws.open(stray.clone(), "let x = y\n".into(), 1);
        let a = ws.analysis_for(&stray);
        assert_eq!(a.root, Root::File(stray));
        assert_eq!(a.diagnostics().first().map(|d| d.code.as_str()), Some("E0100"));
    }
}
