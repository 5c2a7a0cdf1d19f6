//! Loading and collecting: from an entry (files of the root module) to a
//! [`Program`] — every module parsed, imports resolved, names collected into
//! per-module tables, and every written type resolved to a [`Ty`].
//!
//! The checker and the evaluator both work on a `Program`. Loading reads files
//! only through the [`FileSystem`] trait, so this crate stays free of IO.

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use crate::IndexMap;

use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{self, Annotation, Item, ItemKind, TypeExpr, TypeExprKind};
use crate::syntax::parse;
use crate::types::{FieldTy, RecordTy, Refinement, Ty};

/// Where source files come from. The CLI reads the disk; tests and the LSP
/// supply text from memory.
pub trait FileSystem {
    /// The text of a file, or a message saying why it cannot be read.
    fn read(&self, path: &str) -> Result<String, String>;

    /// Whether a configuration whose root files are in `config_dir` may import
    /// the file `path` (both as the loader names them). By default: only from
    /// inside that directory's tree, so that a configuration (say, one a pull
    /// request changes) never reads what lies elsewhere on the machine.
    fn may_import(&self, path: &str, config_dir: &str) -> bool {
        inside(config_dir, path)
    }
}

/// Parses one file for the loader. [`Program::load`] parses every file each
/// time; the LSP supplies one that keeps the trees of files that did not change.
pub trait ParseFile {
    /// The tree and syntax diagnostics of `text`, the file `name` with id `file`.
    fn parse(&self, file: FileId, name: &str, text: &Arc<str>) -> (ast::File, Vec<Diagnostic>);
}

/// Parses with [`parse`], every time.
pub struct AlwaysParse;

impl ParseFile for AlwaysParse {
    fn parse(&self, file: FileId, _name: &str, text: &Arc<str>) -> (ast::File, Vec<Diagnostic>) {
        parse(file, text)
    }
}

/// The embedded standard library modules, `std.NAME` → (display name, text).
pub fn stdlib_source(name: &str) -> Option<(&'static str, &'static str)> {
    crate::stdlib::module(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(pub u32);

/// A loaded configuration: all modules, all schemas, and the diagnostics of
/// loading and collecting.
#[derive(Debug, Default)]
pub struct Program {
    pub sources: SourceMap,
    pub modules: Vec<Module>,
    pub schemas: Vec<SchemaDef>,
    pub diagnostics: Vec<Diagnostic>,
    /// Files read by `file("…")` and `templatefile("…", …)`, by their path
    /// (joined to the reading file's directory): read when loading, so that
    /// evaluation stays free of IO. `Err` says why one could not be read.
    pub data: HashMap<String, Result<Arc<str>, String>>,
}

/// What an environment's chain (itself and the ones it extends) gives an
/// evaluation. Each environment's is its parent's plus its own, shared with the
/// parent where it adds nothing, so that a chain of N environments costs time
/// linear in N to resolve, not quadratic.
#[derive(Debug, Clone, Default)]
pub struct EnvChain {
    /// The environments of the chain that have overlays (indexes), base first.
    pub overlaying: Arc<Vec<usize>>,
    /// Each param set along the chain: the innermost environment setting it
    /// (its index) and the index of that setting in its `sets`.
    pub sets: Arc<HashMap<String, (usize, usize)>>,
}

impl EnvChain {
    /// `parent`'s chain extended by the environment at `index`.
    fn extend(parent: &EnvChain, index: usize, env: &ast::Environment) -> EnvChain {
        let overlaying = if env.overlays.is_empty() {
            parent.overlaying.clone()
        } else {
            let mut o = Vec::with_capacity(parent.overlaying.len() + 1);
            o.extend(parent.overlaying.iter().copied());
            o.push(index);
            Arc::new(o)
        };
        let sets = if env.sets.is_empty() {
            parent.sets.clone()
        } else {
            let mut s = HashMap::with_capacity(parent.sets.len() + env.sets.len());
            s.extend(parent.sets.iter().map(|(k, v)| (k.clone(), *v)));
            for (i, set) in env.sets.iter().enumerate() {
                s.insert(set.name.name.clone(), (index, i));
            }
            Arc::new(s)
        };
        EnvChain { overlaying, sets }
    }

    /// The chain of every environment of a module, from `parents` (see
    /// [`Module::env_parents`]). An environment whose chain runs into a cycle
    /// (an error the checker reports) has its chain as far as the first repeat.
    fn all(envs: &IndexMap<String, Decl<ast::Environment>>, parents: &[Option<usize>]) -> Vec<EnvChain> {
        let n = envs.len();
        let mut done: Vec<Option<EnvChain>> = vec![None; n];
        // Walked without recursion (chains may be long): up to a resolved
        // environment or the base, then back down.
        let mut path: Vec<usize> = Vec::new();
        let mut on_path = vec![false; n];
        for start in 0..n {
            let mut cur = Some(start);
            while let Some(i) = cur {
                if done[i].is_some() {
                    break;
                }
                if on_path[i] {
                    // A cycle: each environment on the path gets the chain of
                    // its own walk, as far as its first repeat.
                    for &j in &path {
                        on_path[j] = false;
                        done[j] = Some(Self::walked(envs, parents, j));
                    }
                    path.clear();
                    break;
                }
                on_path[i] = true;
                path.push(i);
                cur = parents.get(i).copied().flatten();
            }
            while let Some(i) = path.pop() {
                on_path[i] = false;
                let parent = parents
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|p| done.get(p).cloned().flatten());
                if let Some((_, env)) = envs.get_index(i) {
                    done[i] = Some(Self::extend(&parent.unwrap_or_default(), i, &env.node));
                }
            }
        }
        done.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// The chain of `start` walked one environment at a time, as far as the
    /// first repeat (for chains that run into a cycle).
    fn walked(
        envs: &IndexMap<String, Decl<ast::Environment>>,
        parents: &[Option<usize>],
        start: usize,
    ) -> EnvChain {
        let mut order = Vec::new();
        let mut seen = vec![false; envs.len()];
        let mut cur = Some(start);
        while let Some(i) = cur {
            if seen.get(i).copied().unwrap_or(true) {
                break;
            }
            seen[i] = true;
            order.push(i);
            cur = parents.get(i).copied().flatten();
        }
        let mut chain = EnvChain::default();
        for &i in order.iter().rev() {
            if let Some((_, env)) = envs.get_index(i) {
                chain = Self::extend(&chain, i, &env.node);
            }
        }
        chain
    }
}

/// The builtins that read a file named by their first argument, a string literal.
pub const FILE_READERS: &[&str] = &["file", "templatefile"];

/// One module: the root configuration (one or more files), a `std.*` module, or
/// an imported file.
#[derive(Debug, Default)]
pub struct Module {
    /// `std.aws`, `./net.tpt`, or `main` for the root.
    pub name: String,
    pub files: Vec<FileId>,
    pub is_root: bool,
    /// `import … as name` bindings.
    pub imports: IndexMap<String, ImportDef>,
    pub types: IndexMap<String, TypeDef>,
    pub lets: IndexMap<String, Decl<ast::LetItem>>,
    pub fns: IndexMap<String, Decl<ast::FnItem>>,
    pub params: IndexMap<String, Decl<ast::Param>>,
    pub resources: IndexMap<String, ResourceDecl>,
    pub environments: IndexMap<String, Decl<ast::Environment>>,
    /// For each environment (by index in `environments`), the index of the one
    /// it extends (`None` without `extends`, or for an unknown name): chains are
    /// walked by index, so resolving every environment's chain costs no hashing.
    pub env_parents: Vec<Option<usize>>,
    /// For each environment (by index), what its chain of `extends` gives an
    /// evaluation, worked out once for all of them (see [`EnvChain`]).
    pub env_chains: Vec<EnvChain>,
    /// `moved` blocks: recorded addresses that now belong to other addresses.
    pub moves: Vec<MoveDecl>,
    /// `output` declarations (the root's, or a component's).
    pub outputs: IndexMap<String, Decl<ast::Output>>,
    /// `import { to = …, id = … }` blocks of the root.
    pub import_blocks: Vec<ImportDecl>,
    /// Set when this module is the body of a `component` block.
    pub component: Option<ComponentInfo>,
}

/// What makes a module a component's body: the file module it is declared in
/// (whose imports, types, functions and `let`s it sees) and its schema (its
/// params as inputs, its outputs as outputs).
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    pub parent: ModuleId,
    pub schema: SchemaId,
    /// The `let`s and functions seen from the parent: evaluated and checked there.
    pub inherited: foldhash::HashSet<String>,
}

impl Module {
    /// Whether `name` (a `let` or function) is the parent file's, seen from a component.
    pub fn inherits(&self, name: &str) -> bool {
        self.component
            .as_ref()
            .is_some_and(|c| c.inherited.contains(name))
    }

    /// The module a `let` or function of this module is evaluated in.
    pub fn owner_of(&self, me: ModuleId, name: &str) -> ModuleId {
        match &self.component {
            Some(c) if c.inherited.contains(name) => c.parent,
            _ => me,
        }
    }
}

/// `moved { from = old, to = new }`, with both addresses in their canonical form.
#[derive(Debug, Clone)]
pub struct MoveDecl {
    pub from: String,
    pub to: String,
    /// The resource name `to` belongs to.
    pub to_name: ast::Ident,
    /// The names along `to` (`team`, `db` of `team["a"].db`).
    pub to_path: Vec<ast::Ident>,
    pub span: Span,
}

/// `import { to = ADDRESS, id = … }`, with the address in its canonical form.
#[derive(Debug, Clone)]
pub struct ImportDecl {
    pub to: String,
    /// The names along `to`.
    pub to_path: Vec<ast::Ident>,
    /// The object's ID, evaluated per environment.
    pub id: ast::Expr,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct ImportDef {
    pub module: ModuleId,
    pub span: Span,
}

/// A declaration with its doc comment and annotations.
#[derive(Debug, Clone)]
pub struct Decl<T> {
    pub node: T,
    pub docs: Option<String>,
    pub annotations: Vec<Annotation>,
    pub span: Span,
    /// The resolved declared type (params, typed lets, fn return types).
    pub ty: Ty,
    /// For functions: the resolved types of the parameters, in order.
    pub param_tys: Vec<Ty>,
}

impl Decl<ast::FnItem> {
    /// The function's parameters with their resolved types, in order.
    pub fn typed_params(&self) -> Vec<(String, Ty)> {
        self.node
            .params
            .iter()
            .zip(self.param_tys.iter())
            .map(|((n, _), t)| (n.name.clone(), t.clone()))
            .collect()
    }
}

impl<T> Decl<T> {
    pub fn has_annotation(&self, name: &str) -> bool {
        self.annotations.iter().any(|a| a.name.name == name)
    }
}

/// A resource declaration, possibly inside `for` loops (outermost first).
#[derive(Debug, Clone)]
pub struct ResourceDecl {
    pub node: ast::Resource,
    pub docs: Option<String>,
    pub annotations: Vec<Annotation>,
    pub span: Span,
    pub loops: Vec<ast::ForItem>,
    pub schema: Option<SchemaId>,
}

#[derive(Debug, Clone)]
pub enum TypeDef {
    Alias {
        ty: Ty,
        docs: Option<String>,
        span: Span,
    },
    Schema(SchemaId),
}

/// A schema: a record type with documented fields, or a resource kind.
#[derive(Debug, Clone)]
pub struct SchemaDef {
    /// Qualified name as users write it: `aws.EksCluster`, or `Service` in the root.
    pub name: String,
    pub module: ModuleId,
    pub is_resource: bool,
    pub docs: Option<String>,
    pub annotations: Vec<Annotation>,
    pub span: Span,
    pub name_span: Span,
    pub fields: IndexMap<String, SchemaField>,
    pub extends: Option<SchemaId>,
    /// A component's schema: the module of its body. Its instances are not
    /// applied by a kind; the resources of its body are.
    pub component: Option<ModuleId>,
}

#[derive(Debug, Clone)]
pub struct SchemaField {
    pub ty: Ty,
    pub default: Option<ast::Expr>,
    /// The module the default is written in (its names resolve there).
    pub default_module: ModuleId,
    pub docs: Option<String>,
    /// `@replace`: a change forces replacement.
    pub replace: bool,
    /// `@output`: known only after apply.
    pub output: bool,
    /// `@setting`: how tpt applies the resource (waits), not a property of the
    /// object; a change of it alone changes nothing in a plan.
    pub setting: bool,
    pub span: Span,
    pub name_span: Span,
}

impl SchemaDef {
    /// `@data resource schema`: a lookup of something tpt does not manage; its
    /// instances are read at every plan, never created, changed or deleted.
    pub fn is_data(&self) -> bool {
        self.annotations.iter().any(|a| a.name.name == "data")
    }
}

impl SchemaField {
    /// May be omitted by users: has a default, is optional, or is an output.
    pub fn is_optional(&self) -> bool {
        self.default.is_some() || self.ty.is_optional() || self.output
    }
}

/// Annotations the language knows, and where each may stand.
pub const ITEM_ANNOTATIONS: &[(&str, &str)] = &[
    ("promote", "param"),
    ("var", "param"),
    ("timeout", "resource schema"),
    ("create_before_destroy", "resource schema, resource"),
    ("data", "resource schema"),
    ("prevent_destroy", "resource"),
    ("ignore_changes", "resource"),
];
pub const FIELD_ANNOTATIONS: &[&str] = &["replace", "output", "setting"];

impl Program {
    /// Loads the root module from `root_files` (paths as the file system knows
    /// them), then every module they import, and collects all declarations.
    pub fn load(fs: &dyn FileSystem, root_files: &[String]) -> Program {
        Program::load_with(fs, root_files, &AlwaysParse)
    }

    /// [`Program::load`] with files parsed by `parser` (which may reuse earlier trees).
    pub fn load_with(fs: &dyn FileSystem, root_files: &[String], parser: &dyn ParseFile) -> Program {
        let root_dir = root_files
            .first()
            .map(|f| f.rfind('/').map_or(String::new(), |i| f[..i].to_string()))
            .unwrap_or_default();
        let mut loader = Loader {
            fs,
            parser,
            program: Program::default(),
            by_key: HashMap::new(),
            loading: Vec::new(),
            pending: HashMap::new(),
            root_dir,
        };
        let root = loader.new_module("main".into(), true);
        let mut parsed = Vec::new();
        for path in root_files {
            match fs.read(path) {
                Ok(text) => {
                    let file = loader.program.sources.add(path.clone(), text);
                    parsed.push((file, loader.parse_file(file)));
                }
                Err(e) => loader.program.diagnostics.push(
                    Diagnostic::error(Code::Io, format!("cannot read `{path}`: {e}"))
                        .help("check that the path exists and is readable"),
                ),
            }
        }
        loader.loading.push(("main".to_string(), root));
        loader.fill_module(root, parsed);
        loader.loading.pop();
        let mut program = loader.program;
        Collector::run(&mut program, loader.pending);
        for module in &mut program.modules {
            let envs = &module.environments;
            module.env_parents = envs
                .values()
                .map(|e| e.node.extends.as_ref().and_then(|p| envs.get_index_of(&p.name)))
                .collect();
            module.env_chains = EnvChain::all(&module.environments, &module.env_parents);
        }
        program
    }

    /// Loads a single in-memory text as the root module (tests, LSP, benchmarks).
    pub fn from_text(name: &str, text: &str) -> Program {
        struct One<'a>(&'a str, &'a str);
        impl FileSystem for One<'_> {
            fn read(&self, path: &str) -> Result<String, String> {
                if path == self.0 {
                    Ok(self.1.to_string())
                } else {
                    Err("not found".into())
                }
            }
        }
        Program::load(&One(name, text), &[name.to_string()])
    }

    pub fn root(&self) -> ModuleId {
        ModuleId(0)
    }

    pub fn module(&self, id: ModuleId) -> &Module {
        // Module ids are only made by the loader, as indexes into `modules`.
        &self.modules[id.0 as usize]
    }

    pub fn schema(&self, id: SchemaId) -> &SchemaDef {
        // Schema ids are only made by the collector, as indexes into `schemas`.
        &self.schemas[id.0 as usize]
    }

    /// The kind a resource schema is applied as: the schema at the root of its
    /// `extends` chain (`Web extends k8s.App` is applied as `k8s.App`).
    pub fn kind_of(&self, id: SchemaId) -> SchemaId {
        let mut cur = id;
        // `extends` chains are acyclic (the collector refuses cycles); the bound
        // is a second guard.
        for _ in 0..self.schemas.len() {
            match self.schemas.get(cur.0 as usize).and_then(|s| s.extends) {
                Some(base) => cur = base,
                None => break,
            }
        }
        cur
    }

    pub fn schema_name(&self, id: SchemaId) -> String {
        self.schemas
            .get(id.0 as usize)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// A type as a declaration in module `m` writes it: a schema or alias of
    /// another module through the name `m` imports that module as, an alias
    /// `m` cannot name written out.
    pub fn written_in(&self, m: ModuleId, ty: &Ty) -> String {
        let module = self.module(m);
        // Module `owner` as `m` names it: "" for itself, "alias." for an import.
        let prefix = |owner: ModuleId| -> Option<String> {
            if owner == m {
                return Some(String::new());
            }
            module
                .imports
                .iter()
                .find(|(_, i)| i.module == owner)
                .map(|(a, _)| format!("{a}."))
        };
        let schemas = |id: SchemaId| {
            let s = self.schema(id);
            let short = s.name.rsplit('.').next().unwrap_or(&s.name);
            match prefix(s.module) {
                Some(p) => format!("{p}{short}"),
                None => s.name.clone(),
            }
        };
        let holds = |owner: ModuleId, name: &str, target: &Ty| {
            matches!(
                self.module(owner).types.get(name),
                Some(TypeDef::Alias { ty, .. }) if ty.resolved() == target.resolved()
            )
        };
        let aliases = |name: &str, target: &Ty| {
            if holds(m, name, target) {
                return Some(name.to_string());
            }
            module
                .imports
                .iter()
                .find(|(_, i)| holds(i.module, name, target))
                .map(|(a, _)| format!("{a}.{name}"))
        };
        ty.display_with(&schemas, &aliases).to_string()
    }

    /// Shows a type as users write it.
    pub fn show(&self, ty: &Ty) -> String {
        let names = |id: SchemaId| self.schema_name(id);
        ty.display(&names).to_string()
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Finds a type by qualified name from a module's scope.
    pub fn lookup_type(&self, module: ModuleId, name: &ast::QualifiedName) -> Option<Ty> {
        let m = self.module(module);
        match &name.module {
            Some(q) => {
                let imported = m.imports.get(&q.name)?;
                type_of_def(self.module(imported.module).types.get(&name.name.name)?)
            }
            None => builtin_type(&name.name.name).or_else(|| type_of_def(m.types.get(&name.name.name)?)),
        }
    }

    /// The record type of a schema's fields (for anonymous records, overlays).
    pub fn schema_record(&self, id: SchemaId) -> RecordTy {
        let s = self.schema(id);
        RecordTy {
            fields: s
                .fields
                .iter()
                .map(|(n, f)| {
                    (
                        n.clone(),
                        FieldTy {
                            ty: f.ty.clone(),
                            has_default: f.is_optional(),
                            docs: f.docs.clone(),
                            span: Some(Span {
                                start: f.name_span.start,
                                ..f.span
                            }),
                        },
                    )
                })
                .collect(),
        }
    }
}

fn type_of_def(def: &TypeDef) -> Option<Ty> {
    Some(match def {
        TypeDef::Alias { ty, .. } => ty.clone(),
        TypeDef::Schema(id) => Ty::Schema(*id),
    })
}

/// The built-in type names.
pub fn builtin_type(name: &str) -> Option<Ty> {
    Some(match name {
        "string" => Ty::String,
        "int" => Ty::Int,
        "float" => Ty::Float,
        "bool" => Ty::Bool,
        "duration" => Ty::Duration,
        "secret" => Ty::Secret,
        _ => return None,
    })
}

pub const BUILTIN_TYPES: &[&str] = &["string", "int", "float", "bool", "duration", "secret"];

struct Loader<'a> {
    fs: &'a dyn FileSystem,
    parser: &'a dyn ParseFile,
    program: Program,
    /// `std.aws` or a normalised path → module.
    by_key: HashMap<String, ModuleId>,
    /// Modules being loaded (for import cycles).
    loading: Vec<(String, ModuleId)>,
    /// Items parsed, waiting for the collector.
    pending: HashMap<ModuleId, Vec<Item>>,
    /// The directory of the root module's first file (`""`: the working directory).
    root_dir: String,
}

/// Items of one module, before collection.
type Parsed = Vec<(FileId, ast::File)>;

impl Loader<'_> {
    fn new_module(&mut self, name: String, is_root: bool) -> ModuleId {
        let id = ModuleId(u32::try_from(self.program.modules.len()).unwrap_or(u32::MAX));
        self.program.modules.push(Module {
            name,
            is_root,
            ..Module::default()
        });
        id
    }

    fn parse_file(&mut self, file: FileId) -> ast::File {
        let (name, text) = self
            .program
            .sources
            .get(file)
            .map(|f| (f.name.clone(), f.text.clone()))
            .unwrap_or_default();
        let (ast, diags) = self.parser.parse(file, &name, &text);
        self.program.diagnostics.extend(diags);
        ast
    }

    /// Resolves the imports of the parsed files (loading those modules first),
    /// then stores the items in the module.
    fn fill_module(&mut self, id: ModuleId, parsed: Parsed) {
        // The items stay where the parser put them (the first file's vector,
        // grown once): they are large, and every copy is fresh memory.
        let total: usize = parsed.iter().map(|(_, ast)| ast.items.len()).sum();
        let mut items: Vec<Item> = Vec::new();
        for (file, ast) in parsed {
            if let Some(m) = self.program.modules.get_mut(id.0 as usize) {
                m.files.push(file);
            }
            for item in &ast.items {
                if let ItemKind::Import(import) = &item.kind {
                    self.import(id, file, import, item.span);
                }
                self.read_data(file, item);
            }
            if items.is_empty() {
                items = ast.items;
                items.reserve_exact(total - items.len());
            } else {
                items.extend(ast.items);
            }
        }
        self.pending.insert(id, items);
    }

    /// Reads the files `file("…")` and `templatefile("…", …)` calls of `item` name,
    /// if they lie inside the configuration's directory (or the reading file's).
    fn read_data(&mut self, file: FileId, item: &Item) {
        let mut wanted: Vec<(String, Span, &'static str)> = Vec::new();
        item.visit_exprs(&mut |e| {
            // Every expression of every item passes here: only calls look further.
            if !matches!(e.kind, ast::ExprKind::Call(..)) {
                return;
            }
            for name in FILE_READERS {
                if let Some(lit) = e.call_of(name).and_then(|args| args.first()) {
                    if let Some(path) = lit.plain_string() {
                        wanted.push((path, lit.span, name));
                    }
                }
            }
        });
        if wanted.is_empty() {
            return;
        }
        let base = self.file_name(file);
        for (path, span, name) in wanted {
            let joined = join_relative(&base, &path);
            if self.program.data.contains_key(&joined) {
                continue;
            }
            let own_dir = base.rfind('/').map_or("", |i| &base[..i]);
            if !inside(&self.root_dir, &joined) && !inside(own_dir, &joined) {
                self.program.diagnostics.push(
                    Diagnostic::error(
                        Code::Io,
                        format!("`{name}` reads only files inside the configuration's directory: `{path}` is outside"),
                    )
                    .label(span, "outside the configuration")
                    .help("keep the files a configuration reads beside it (paths are relative to the file that reads them)"),
                );
                self.program
                    .data
                    .insert(joined, Err("outside the configuration".into()));
                continue;
            }
            let read = self.fs.read(&joined).map(Arc::<str>::from);
            if let Err(e) = &read {
                self.program.diagnostics.push(
                    Diagnostic::error(Code::Io, format!("cannot read `{path}`: {e}"))
                        .label(span, format!("looked for `{joined}`"))
                        .help("paths are relative to the file that reads them; check the path"),
                );
            }
            self.program.data.insert(joined, read);
        }
    }

    /// The name of a loaded file (the base that relative paths in it join to).
    fn file_name(&self, file: FileId) -> String {
        self.program
            .sources
            .get(file)
            .map(|f| f.name.clone())
            .unwrap_or_default()
    }

    fn import(&mut self, into: ModuleId, file: FileId, import: &ast::Import, span: Span) {
        let (key, display) = match &import.source {
            ast::ImportSource::Std(name) => (format!("std.{}", name.name), format!("std.{}", name.name)),
            ast::ImportSource::Path { path, .. } => {
                (join_relative(&self.file_name(file), path), path.clone())
            }
        };
        let Some(binding) = import.binding().cloned() else {
            self.program.diagnostics.push(
                Diagnostic::error(
                    Code::ImportNotFound,
                    format!("import of `{display}` needs a name"),
                )
                .label(span, "no name to refer to this module by")
                .help(format!("write `import \"{display}\" as NAME`")),
            );
            return;
        };
        if let Some((_, _)) = self.loading.iter().find(|(k, _)| *k == key) {
            let chain: Vec<&str> = self.loading.iter().map(|(k, _)| k.as_str()).collect();
            self.program.diagnostics.push(
                Diagnostic::error(
                    Code::ImportCycle,
                    format!("import cycle: {} → {key}", chain.join(" → ")),
                )
                .label(span, "this import closes the cycle")
                .help("move the shared declarations into a module that both can import"),
            );
            return;
        }
        let module = match self.by_key.get(&key) {
            Some(m) => *m,
            None => match self.load_module(&key, import) {
                Some(m) => m,
                None => return,
            },
        };
        let m = &mut self.program.modules[into.0 as usize];
        if let Some(prev) = m.imports.get(&binding.name) {
            if prev.module != module {
                let prev_span = prev.span;
                self.program.diagnostics.push(
                    Diagnostic::error(Code::Duplicate, format!("`{}` is imported twice", binding.name))
                        .label(binding.span, "second import with this name")
                        .label(prev_span, "first imported here")
                        .help("give one of the imports another name with `as`"),
                );
            }
            return;
        }
        m.imports.insert(
            binding.name.clone(),
            ImportDef {
                module,
                span: binding.span,
            },
        );
    }

    fn load_module(&mut self, key: &str, import: &ast::Import) -> Option<ModuleId> {
        let (name, text) = match &import.source {
            ast::ImportSource::Std(n) => match stdlib_source(&n.name) {
                Some((file, text)) => (file.to_string(), text.to_string()),
                None => {
                    let known: Vec<&str> = crate::stdlib::MODULES.iter().map(|(n, _, _)| *n).collect();
                    let mut d = Diagnostic::error(
                        Code::ImportNotFound,
                        format!("no standard library module `std.{}`", n.name),
                    )
                    .label(n.span, "not a module of the standard library");
                    d = match did_you_mean(&n.name, known.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `std.{s}`?")).suggest(s),
                        None => d.help(format!(
                            "the standard library has: {}",
                            known
                                .iter()
                                .map(|k| format!("std.{k}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    };
                    self.program.diagnostics.push(d);
                    return None;
                }
            },
            // Only `.tpt` files are read: anything else would be shown, line by
            // line, in the syntax errors of a file that is not tpt.
            ast::ImportSource::Path { path, span: pspan } if !key.ends_with(".tpt") => {
                self.program.diagnostics.push(
                    Diagnostic::error(Code::ImportNotFound, format!("cannot import `{path}`: not a `.tpt` file"))
                        .label(*pspan, "an import names a `.tpt` file")
                        .help("import a tpt module (`import \"./lib/net.tpt\" as net`); read other files with `file(…)` or `yaml_decode(file(…))`"),
                );
                return None;
            }
            ast::ImportSource::Path { path, span: pspan } if !self.fs.may_import(key, &self.root_dir) => {
                let dir = if self.root_dir.is_empty() {
                    "."
                } else {
                    &self.root_dir
                };
                self.program.diagnostics.push(
                    Diagnostic::error(
                        Code::ImportNotFound,
                        format!("cannot import `{path}`: it is outside the configuration's directory `{dir}`"),
                    )
                    .label(*pspan, "outside the configuration")
                    .help("imports are confined to the configuration's directory and the standard library; allow another directory with `--allow-imports-from DIR`"),
                );
                return None;
            }
            ast::ImportSource::Path { path, span: pspan } => match self.fs.read(key) {
                Ok(text) => (key.to_string(), text),
                Err(e) => {
                    self.program.diagnostics.push(
                        Diagnostic::error(Code::ImportNotFound, format!("cannot import `{path}`: {e}"))
                            .label(*pspan, format!("looked for `{key}`"))
                            .help("import paths are relative to the importing file; check the path"),
                    );
                    return None;
                }
            },
        };
        let id = self.new_module(key.to_string(), false);
        self.by_key.insert(key.to_string(), id);
        let file = self.program.sources.add(name, text);
        let ast = self.parse_file(file);
        self.loading.push((key.to_string(), id));
        self.fill_module(id, vec![(file, ast)]);
        self.loading.pop();
        Some(id)
    }
}

/// Whether the normalised `path` lies in directory `dir` (`""`: the working directory).
pub fn inside(dir: &str, path: &str) -> bool {
    if dir.is_empty() {
        !path.starts_with('/') && path != ".." && !path.starts_with("../")
    } else {
        path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
    }
}

/// `dir/of/base.tpt` + `./net.tpt` → `dir/of/net.tpt` (pure string work).
pub fn join_relative(base: &str, rel: &str) -> String {
    let dir = match base.rfind('/') {
        Some(i) => &base[..i],
        None => "",
    };
    let mut parts: Vec<&str> = if rel.starts_with('/') || dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    let absolute = rel.starts_with('/') || (dir.starts_with('/') && !rel.starts_with('/'));
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != ".." && !p.is_empty()) {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let parts: Vec<&str> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Fills the per-module tables and resolves types.
struct Collector<'p> {
    p: &'p mut Program,
    /// Aliases being resolved (for alias cycles).
    resolving: Vec<(ModuleId, String)>,
    /// Raw declarations of types, per module, before resolution.
    raw_types: HashMap<(ModuleId, String), RawType>,
    /// Component bodies declared in step 1, collected after their files.
    components: Vec<(ModuleId, Vec<Item>)>,
}

#[derive(Clone)]
enum RawType {
    Alias(ast::TypeAlias, Option<String>),
    Schema(SchemaId, ast::Schema),
}

impl Collector<'_> {
    fn run(p: &mut Program, mut pending: HashMap<ModuleId, Vec<Item>>) {
        let mut c = Collector {
            p,
            resolving: Vec::new(),
            raw_types: HashMap::new(),
            components: Vec::new(),
        };
        let ids: Vec<ModuleId> = (0..c.p.modules.len()).map(|i| ModuleId(i as u32)).collect();
        let mut module_items: Vec<(ModuleId, Vec<Item>)> = ids
            .iter()
            .map(|id| (*id, pending.remove(id).unwrap_or_default()))
            .collect();
        // 1. Declare names (types first, so that every type can be resolved).
        for (id, items) in &module_items {
            for item in items {
                c.declare(*id, item);
            }
        }
        // 2. Resolve types of aliases and schemas.
        let keys: Vec<(ModuleId, String)> = c.raw_types.keys().cloned().collect();
        let mut keys = keys;
        keys.sort();
        for (m, name) in keys {
            c.resolve_named(m, &name);
        }
        let schema_keys: Vec<(ModuleId, String, SchemaId, ast::Schema)> = {
            let mut v: Vec<_> = c
                .raw_types
                .iter()
                .filter_map(|((m, n), r)| match r {
                    RawType::Schema(id, s) => Some((*m, n.clone(), *id, s.clone())),
                    RawType::Alias(..) => None,
                })
                .collect();
            v.sort_by_key(|x| x.2);
            v
        };
        for (m, _, id, s) in &schema_keys {
            c.fill_schema(*m, *id, s, &mut Vec::new());
        }
        // 3. Everything else, whose types can now be resolved.
        for (id, items) in module_items.iter_mut() {
            // Grown once: a resource declaration is large, and a map that
            // doubles copies them all into fresh memory each time.
            let resources = items
                .iter()
                .filter(|i| matches!(i.kind, ItemKind::Resource(_)))
                .count();
            c.module(*id).resources.reserve(resources);
            for item in std::mem::take(items) {
                c.collect(*id, item, &mut Vec::new());
            }
        }
        // 4. Component bodies: they see their file's names, collected by now.
        for (id, items) in std::mem::take(&mut c.components) {
            c.collect_component(id, items);
        }
        c.check_component_cycles();
    }

    /// A component's body: the names of its file, then its own items; then its
    /// schema's fields (params as inputs, outputs as outputs).
    fn collect_component(&mut self, id: ModuleId, items: Vec<Item>) {
        let Some(info) = self.p.module(id).component.clone() else {
            return;
        };
        let parent = self.p.module(info.parent);
        let (imports, types) = (parent.imports.clone(), parent.types.clone());
        let (lets, fns) = (parent.lets.clone(), parent.fns.clone());
        let inherited = lets.keys().chain(fns.keys()).cloned().collect();
        let files = parent.files.clone();
        let module = self.module(id);
        module.files = files;
        module.imports = imports;
        module.types = types;
        module.lets = lets;
        module.fns = fns;
        if let Some(c) = module.component.as_mut() {
            c.inherited = inherited;
        }
        for item in items {
            self.collect(id, item, &mut Vec::new());
        }
        let mut fields: IndexMap<String, SchemaField> = IndexMap::default();
        let module = self.p.module(id);
        for (name, p) in &module.params {
            fields.insert(
                name.clone(),
                SchemaField {
                    ty: p.ty.clone(),
                    default: p.node.default.clone(),
                    default_module: id,
                    docs: p.docs.clone(),
                    replace: false,
                    output: false,
                    setting: false,
                    span: p.span,
                    name_span: p.node.name.span,
                },
            );
        }
        let mut clashes = Vec::new();
        for (name, o) in &module.outputs {
            if let Some(param) = fields.get(name) {
                clashes.push((o.node.name.clone(), param.name_span));
                continue;
            }
            fields.insert(
                name.clone(),
                SchemaField {
                    ty: o.ty.clone(),
                    default: None,
                    default_module: id,
                    docs: o.docs.clone(),
                    replace: false,
                    output: true,
                    setting: false,
                    span: o.span,
                    name_span: o.node.name.span,
                },
            );
        }
        for (name, prev) in clashes {
            self.diag(
                Diagnostic::error(Code::Duplicate, format!("`{}` is both a param and an output", name.name))
                    .label(name.span, "output of this name")
                    .label(prev, "param of this name")
                    .help("a component's params and outputs are the fields of its instances; give them different names"),
            );
        }
        self.p.schemas[info.schema.0 as usize].fields = fields;
    }

    /// A component may use other components, but not itself, directly or not.
    fn check_component_cycles(&mut self) {
        let uses = |p: &Program, m: ModuleId| -> Vec<(ModuleId, Span)> {
            p.module(m)
                .resources
                .values()
                .filter_map(|r| {
                    let body = p.schema(r.schema?).component?;
                    Some((body, r.node.schema.span))
                })
                .collect()
        };
        let components: Vec<ModuleId> = (0..self.p.modules.len())
            .map(|i| ModuleId(i as u32))
            .filter(|m| self.p.module(*m).component.is_some())
            .collect();
        for start in components {
            // Depth-first from `start`; a path back to it is a cycle, reported at `start`.
            let mut stack: Vec<(ModuleId, Vec<ModuleId>)> = vec![(start, vec![start])];
            let mut seen: foldhash::HashSet<ModuleId> = foldhash::HashSet::default();
            let mut found: Option<(Vec<ModuleId>, Span)> = None;
            while let Some((m, path)) = stack.pop() {
                for (next, span) in uses(self.p, m) {
                    if next == start {
                        if found.is_none() {
                            let first_span = if path.len() == 1 { span } else { Span::default() };
                            found = Some((path.clone(), first_span));
                        }
                    } else if seen.insert(next) {
                        let mut p2 = path.clone();
                        p2.push(next);
                        stack.push((next, p2));
                    }
                }
            }
            // Each cycle once: from its first component.
            if let Some((path, _)) = found.filter(|(path, _)| path.iter().all(|m| *m >= start)) {
                let names: Vec<String> = path
                    .iter()
                    .chain(std::iter::once(&start))
                    .filter_map(|m| self.p.module(*m).component.as_ref())
                    .map(|c| self.p.schema_name(c.schema))
                    .collect();
                let Some(info) = self.p.module(start).component.as_ref() else {
                    continue;
                };
                let span = self.p.schema(info.schema).name_span;
                self.diag(
                    Diagnostic::error(
                        Code::Recursion,
                        format!("component `{}` contains itself: {}", names[0], names.join(" → ")),
                    )
                    .label(span, "its instances would never end")
                    .help("a component may use other components, but not itself, directly or through others"),
                );
            }
        }
    }

    fn diag(&mut self, d: Diagnostic) {
        self.p.diagnostics.push(d);
    }

    fn module(&mut self, id: ModuleId) -> &mut Module {
        &mut self.p.modules[id.0 as usize]
    }

    fn check_duplicate(&mut self, m: ModuleId, name: &ast::Ident, what: &str) -> bool {
        let module = self.p.module(m);
        let prev = module
            .types
            .get(&name.name)
            .map(|t| match t {
                TypeDef::Alias { span, .. } => *span,
                TypeDef::Schema(id) => self.p.schema(*id).name_span,
            })
            .or_else(|| module.lets.get(&name.name).map(|d| d.node.name.span))
            .or_else(|| module.fns.get(&name.name).map(|d| d.node.name.span))
            .or_else(|| module.params.get(&name.name).map(|d| d.node.name.span))
            .or_else(|| module.resources.get(&name.name).map(|d| d.node.name.span))
            .or_else(|| module.imports.get(&name.name).map(|d| d.span));
        if let Some(prev) = prev {
            self.diag(
                Diagnostic::error(Code::Duplicate, format!("`{}` is defined twice", name.name))
                    .label(name.span, format!("second definition of this {what}"))
                    .label(prev, "first defined here")
                    .help("rename one of them; names of a module share one namespace"),
            );
            return true;
        }
        false
    }

    fn check_annotations(&mut self, annotations: &[Annotation], allowed: &[&str], place: &str) {
        for a in annotations {
            if !allowed.contains(&a.name.name.as_str()) {
                let all: Vec<&str> = ITEM_ANNOTATIONS
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(FIELD_ANNOTATIONS.iter().copied())
                    .collect();
                let mut d = Diagnostic::error(
                    Code::BadAnnotation,
                    format!("`@{}` is not allowed on {place}", a.name.name),
                )
                .label(a.span, "annotation not allowed here");
                if !all.contains(&a.name.name.as_str()) {
                    d.message = format!("unknown annotation `@{}`", a.name.name);
                    if let Some(s) = did_you_mean(&a.name.name, all.iter().copied()) {
                        d = d
                            .help(format!("did you mean `@{s}`?"))
                            .replace(a.name.span, s, true);
                    } else {
                        d = d.help(format!(
                            "annotations are: {}",
                            all.iter().map(|a| format!("@{a}")).collect::<Vec<_>>().join(", ")
                        ));
                    }
                } else if allowed.is_empty() {
                    d = d.help(format!("{place} take no annotations; remove it"));
                } else {
                    d = d.help(format!(
                        "on {place}, the annotations are: {}",
                        allowed
                            .iter()
                            .map(|a| format!("@{a}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                self.diag(d);
            }
        }
    }

    /// Whether a type's name cannot be declared: a built-in type's, or one the
    /// module has (each reported).
    fn name_taken(&mut self, m: ModuleId, name: &ast::Ident, what: &str) -> bool {
        if builtin_type(&name.name).is_some() {
            self.diag(
                Diagnostic::error(Code::Duplicate, format!("`{}` is a built-in type", name.name))
                    .label(name.span, "cannot be redefined")
                    .help("choose another name"),
            );
            return true;
        }
        self.check_duplicate(m, name, what)
    }

    fn declare(&mut self, m: ModuleId, item: &Item) {
        match &item.kind {
            ItemKind::Component(comp) => {
                self.check_annotations(&item.annotations, &[], "components");
                if self.name_taken(m, &comp.name, "component") {
                    return;
                }
                let module = self.p.module(m);
                let qualified = if module.is_root {
                    comp.name.name.clone()
                } else {
                    format!("{}.{}", module_short_name(&module.name), comp.name.name)
                };
                let body_name = format!("{}#{}", module.name, comp.name.name);
                let id = SchemaId(u32::try_from(self.p.schemas.len()).unwrap_or(u32::MAX));
                let body = ModuleId(u32::try_from(self.p.modules.len()).unwrap_or(u32::MAX));
                self.p.modules.push(Module {
                    name: body_name,
                    component: Some(ComponentInfo {
                        parent: m,
                        schema: id,
                        inherited: Default::default(),
                    }),
                    ..Module::default()
                });
                self.p.schemas.push(SchemaDef {
                    name: qualified,
                    module: m,
                    is_resource: true,
                    docs: item.docs.clone(),
                    annotations: Vec::new(),
                    span: item.span,
                    name_span: comp.name.span,
                    fields: IndexMap::default(),
                    extends: None,
                    component: Some(body),
                });
                self.module(m)
                    .types
                    .insert(comp.name.name.clone(), TypeDef::Schema(id));
                self.components.push((body, comp.items.clone()));
            }
            ItemKind::TypeAlias(alias) => {
                self.check_annotations(&item.annotations, &[], "type aliases");
                if self.name_taken(m, &alias.name, "type") {
                    return;
                }
                self.raw_types.insert(
                    (m, alias.name.name.clone()),
                    RawType::Alias(alias.clone(), item.docs.clone()),
                );
                self.module(m).types.insert(
                    alias.name.name.clone(),
                    TypeDef::Alias {
                        ty: Ty::Error,
                        docs: item.docs.clone(),
                        span: alias.name.span,
                    },
                );
            }
            ItemKind::Schema(schema) => {
                let allowed: &[&str] = if schema.is_resource {
                    &["timeout", "create_before_destroy", "data"]
                } else {
                    &[]
                };
                self.check_annotations(
                    &item.annotations,
                    allowed,
                    if schema.is_resource {
                        "resource schemas"
                    } else {
                        "schemas"
                    },
                );
                if self.name_taken(m, &schema.name, "schema") {
                    return;
                }
                let module = self.p.module(m);
                let qualified = if module.is_root {
                    schema.name.name.clone()
                } else {
                    format!("{}.{}", module_short_name(&module.name), schema.name.name)
                };
                let id = SchemaId(u32::try_from(self.p.schemas.len()).unwrap_or(u32::MAX));
                self.p.schemas.push(SchemaDef {
                    name: qualified,
                    module: m,
                    is_resource: schema.is_resource,
                    docs: item.docs.clone(),
                    annotations: item.annotations.clone(),
                    span: item.span,
                    name_span: schema.name.span,
                    fields: IndexMap::default(),
                    extends: None,
                    component: None,
                });
                self.raw_types
                    .insert((m, schema.name.name.clone()), RawType::Schema(id, schema.clone()));
                self.module(m)
                    .types
                    .insert(schema.name.name.clone(), TypeDef::Schema(id));
            }
            _ => {}
        }
    }

    /// Resolves an alias (recursively, detecting cycles).
    fn resolve_named(&mut self, m: ModuleId, name: &str) -> Option<Ty> {
        match self.p.module(m).types.get(name)? {
            TypeDef::Schema(id) => return Some(Ty::Schema(*id)),
            TypeDef::Alias { ty, .. } if *ty != Ty::Error => return Some(ty.clone()),
            TypeDef::Alias { .. } => {}
        }
        let Some(RawType::Alias(alias, docs)) = self.raw_types.get(&(m, name.to_string())).cloned() else {
            return Some(Ty::Error);
        };
        if self.resolving.iter().any(|(rm, rn)| *rm == m && rn == name) {
            self.diag(
                Diagnostic::error(Code::UnknownType, format!("type alias `{name}` refers to itself"))
                    .label(alias.name.span, "this alias is defined in terms of itself")
                    .help("an alias must name a type; use a schema for recursive records"),
            );
            return Some(Ty::Error);
        }
        self.resolving.push((m, name.to_string()));
        let resolved = self.resolve_type(m, &alias.ty);
        self.resolving.pop();
        // An alias of an alias names the first one's target: chains of aliases
        // stay one level deep.
        let target = match resolved {
            Ty::Alias(_, inner) => *inner,
            other => other,
        };
        let ty = Ty::Alias(Arc::from(name), Box::new(target));
        self.module(m).types.insert(
            name.to_string(),
            TypeDef::Alias {
                ty: ty.clone(),
                docs,
                span: alias.name.span,
            },
        );
        Some(ty)
    }

    /// Resolves a written type in a module's scope, reporting unknown names.
    fn resolve_type(&mut self, m: ModuleId, t: &TypeExpr) -> Ty {
        crate::stack::guard(|| self.resolve_type_node(m, t))
    }

    fn resolve_type_node(&mut self, m: ModuleId, t: &TypeExpr) -> Ty {
        match &t.kind {
            TypeExprKind::Named(q) => self.resolve_qualified(m, q),
            TypeExprKind::List(inner) => Ty::List(Box::new(self.resolve_type(m, inner))),
            TypeExprKind::Map(inner) => Ty::Map(Box::new(self.resolve_type(m, inner))),
            TypeExprKind::Record(fields) => {
                let mut rec = RecordTy::default();
                for f in fields {
                    self.check_annotations(&f.annotations, &[], "record type fields");
                    let ty = self.resolve_type(m, &f.ty);
                    if f.default.is_some() {
                        self.diag(
                            Diagnostic::error(Code::MisplacedItem, "defaults are not allowed in inline record types")
                                .label(f.span, "default here")
                                .help("declare a named `schema` to give fields defaults, or mark the field optional with `?`"),
                        );
                    }
                    let has_default = ty.is_optional();
                    rec.fields.insert(
                        f.name.name.clone(),
                        FieldTy {
                            ty,
                            has_default,
                            docs: f.docs.clone(),
                            span: Some(f.name.span),
                        },
                    );
                }
                Ty::Record(Arc::new(rec))
            }
            TypeExprKind::Literal(s) => Ty::Literal(Arc::from(s.as_str())),
            TypeExprKind::Optional(inner) => Ty::Optional(Box::new(self.resolve_type(m, inner))),
            TypeExprKind::Union(parts) => {
                let tys: Vec<Ty> = parts.iter().map(|p| self.resolve_type(m, p)).collect();
                Ty::Union(tys)
            }
            TypeExprKind::Range { base, min, max } => {
                let base_ty = builtin_type(&base.name);
                let to_f = |n: &Option<ast::Number>| {
                    n.map(|n| match n {
                        ast::Number::Int(i) => i as f64,
                        ast::Number::Float(f) => f,
                    })
                };
                let fmt_n = |n: &Option<ast::Number>| match n {
                    Some(ast::Number::Int(i)) => i.to_string(),
                    Some(ast::Number::Float(f)) => format!("{f:?}"),
                    None => String::new(),
                };
                let text = format!("{}..{}", fmt_n(min), fmt_n(max));
                match base_ty {
                    Some(b @ (Ty::Int | Ty::Float | Ty::String)) => {
                        if let (Some(lo), Some(hi)) = (to_f(min), to_f(max)) {
                            if lo > hi {
                                self.diag(
                                    Diagnostic::error(Code::InvalidLiteral, format!("empty range `{text}`"))
                                        .label(t.span, "the minimum is greater than the maximum")
                                        .help("write the range as `min..max` with min ≤ max"),
                                );
                            }
                        }
                        if b == Ty::Int
                            && (matches!(min, Some(ast::Number::Float(_)))
                                || matches!(max, Some(ast::Number::Float(_))))
                        {
                            self.diag(
                                Diagnostic::error(
                                    Code::TypeMismatch,
                                    "an `int` range needs whole-number bounds",
                                )
                                .label(t.span, "a bound here is a float")
                                .help("use `float(…)` for fractional bounds, or whole numbers"),
                            );
                        }
                        Ty::Refined(
                            Box::new(b),
                            Arc::new(Refinement::Range {
                                min: to_f(min),
                                max: to_f(max),
                                text,
                            }),
                        )
                    }
                    _ => {
                        self.diag(
                            Diagnostic::error(
                                Code::TypeMismatch,
                                format!("`{}` cannot be refined by a range", base.name),
                            )
                            .label(
                                base.span,
                                "ranges refine `int`, `float` (value) and `string` (length)",
                            )
                            .help("write e.g. `int(1..65535)` or `string(1..63)`"),
                        );
                        Ty::Error
                    }
                }
            }
            TypeExprKind::Pattern {
                base,
                regex,
                regex_span,
            } => {
                if !matches!(builtin_type(&base.name), Some(Ty::String)) {
                    self.diag(
                        Diagnostic::error(
                            Code::TypeMismatch,
                            format!("`{}` cannot be refined by a pattern", base.name),
                        )
                        .label(base.span, "only `string` takes a pattern")
                        .help("write e.g. `string(/^[a-z][a-z0-9-]*$/)`"),
                    );
                    return Ty::Error;
                }
                match regex::RegexBuilder::new(regex).size_limit(1 << 20).build() {
                    Ok(re) => Ty::Refined(
                        Box::new(Ty::String),
                        Arc::new(Refinement::Pattern {
                            regex: re,
                            text: format!("/{regex}/"),
                        }),
                    ),
                    Err(e) => {
                        let msg = e.to_string();
                        let last = msg
                            .lines()
                            .last()
                            .unwrap_or("invalid regular expression")
                            .trim()
                            .to_string();
                        self.diag(
                            Diagnostic::error(Code::InvalidLiteral, "invalid regular expression")
                                .label(*regex_span, last)
                                .help("patterns use Rust `regex` syntax (no look-around or back-references)"),
                        );
                        Ty::Error
                    }
                }
            }
        }
    }

    fn resolve_qualified(&mut self, m: ModuleId, q: &ast::QualifiedName) -> Ty {
        match &q.module {
            None => {
                if let Some(t) = builtin_type(&q.name.name) {
                    return t;
                }
                if let Some(t) = self.resolve_named(m, &q.name.name) {
                    return t;
                }
                let module = self.p.module(m);
                let candidates: Vec<&str> = module
                    .types
                    .keys()
                    .map(String::as_str)
                    .chain(BUILTIN_TYPES.iter().copied())
                    .collect();
                let mut d = Diagnostic::error(Code::UnknownType, format!("unknown type `{}`", q.name.name))
                    .label(q.name.span, "not a type in scope");
                d = match did_you_mean(&q.name.name, candidates) {
                    Some(s) => d.help(format!("did you mean `{s}`?")).suggest(s),
                    None => d.help("declare it with `type` or `schema`, or import the module that has it"),
                };
                self.diag(d);
                Ty::Error
            }
            Some(mq) => {
                let Some(imp) = self.p.module(m).imports.get(&mq.name).cloned() else {
                    let names: Vec<&str> = self.p.module(m).imports.keys().map(String::as_str).collect();
                    let mut d = Diagnostic::error(Code::UnknownName, format!("unknown module `{}`", mq.name))
                        .label(mq.span, "not imported");
                    let std = crate::stdlib::module(&mq.name).is_some();
                    d = match did_you_mean(&mq.name, names) {
                        Some(s) if !std => d.help(format!("did you mean `{s}`?")).suggest(s),
                        _ => d.help(format!(
                            "add `import std.{}` (or the file that defines it) at the top of the file",
                            mq.name
                        )),
                    };
                    if std {
                        let text = self.p.sources.get(mq.span.file).map_or("", |f| f.text.as_ref());
                        d = d.fix(crate::insert::std_import(mq.span.file, text, &mq.name));
                    }
                    self.diag(d);
                    return Ty::Error;
                };
                if let Some(t) = self.resolve_named(imp.module, &q.name.name) {
                    return t;
                }
                let target = self.p.module(imp.module);
                let candidates: Vec<&str> = target.types.keys().map(String::as_str).collect();
                let mut d = Diagnostic::error(
                    Code::UnknownType,
                    format!("module `{}` has no type `{}`", mq.name, q.name.name),
                )
                .label(q.name.span, "not defined there");
                d = match did_you_mean(&q.name.name, candidates) {
                    Some(s) => d.help(format!("did you mean `{}.{s}`?", mq.name)).suggest(s),
                    None => d.help(format!("see the types of `{}` in docs/language.md", target.name)),
                };
                self.diag(d);
                Ty::Error
            }
        }
    }

    /// Resolves a schema's fields, after those of the schema it extends.
    fn fill_schema(&mut self, m: ModuleId, id: SchemaId, s: &ast::Schema, visiting: &mut Vec<SchemaId>) {
        if !self.p.schema(id).fields.is_empty() || visiting.contains(&id) {
            return;
        }
        visiting.push(id);
        let mut fields: IndexMap<String, SchemaField> = IndexMap::default();
        if let Some(base) = &s.extends {
            match self.resolve_qualified(m, base) {
                Ty::Schema(base_id) => {
                    if visiting.contains(&base_id) {
                        self.diag(
                            Diagnostic::error(
                                Code::UnknownType,
                                format!("schema `{}` extends itself", s.name.name),
                            )
                            .label(base.span, "this makes a cycle of `extends`")
                            .help("remove one `extends` of the cycle"),
                        );
                    } else {
                        let base_def = self.p.schema(base_id).clone();
                        if let Some(RawType::Schema(_, base_ast)) = self
                            .raw_types
                            .get(&(base_def.module, base_ast_name(&base_def)))
                            .cloned()
                        {
                            self.fill_schema(base_def.module, base_id, &base_ast, visiting);
                        }
                        let base_def = self.p.schema(base_id).clone();
                        if base_def.is_resource != s.is_resource {
                            self.diag(
                                Diagnostic::error(Code::TypeMismatch, "a schema and the schema it extends must both be resource schemas, or neither")
                                    .label(base.span, if base_def.is_resource { "this is a resource schema" } else { "this is a record schema" })
                                    .help(if base_def.is_resource { "write `resource schema` to extend a resource schema" } else { "remove `resource`, or extend a resource schema" }),
                            );
                        }
                        fields.extend(base_def.fields.clone());
                        self.p.schemas[id.0 as usize].extends = Some(base_id);
                        if base_def.is_resource {
                            // A derived resource schema keeps the provider kind of its base.
                            let mut ann = base_def.annotations.clone();
                            ann.extend(self.p.schema(id).annotations.clone());
                            self.p.schemas[id.0 as usize].annotations = ann;
                        }
                    }
                }
                Ty::Error => {}
                _ => self.diag(
                    Diagnostic::error(Code::TypeMismatch, format!("`{base}` is not a schema"))
                        .label(base.span, "only schemas can be extended")
                        .help("extend a `schema` or `resource schema`"),
                ),
            }
        }
        let mut seen: HashMap<String, Span> = HashMap::new();
        for f in &s.fields {
            let allowed: &[&str] = if s.is_resource { FIELD_ANNOTATIONS } else { &[] };
            self.check_annotations(
                &f.annotations,
                allowed,
                if s.is_resource {
                    "resource schema fields"
                } else {
                    "record schema fields"
                },
            );
            if let Some(prev) = seen.get(&f.name.name) {
                self.diag(
                    Diagnostic::error(
                        Code::Duplicate,
                        format!("field `{}` is declared twice", f.name.name),
                    )
                    .label(f.name.span, "second declaration")
                    .label(*prev, "first declared here")
                    .help("remove or rename one of them"),
                );
                continue;
            }
            seen.insert(f.name.name.clone(), f.name.span);
            if matches!(f.name.name.as_str(), "depends_on") && s.is_resource {
                self.diag(
                    Diagnostic::error(Code::Duplicate, "`depends_on` is reserved on resources")
                        .label(f.name.span, "every resource already has `depends_on`")
                        .help("choose another field name"),
                );
                continue;
            }
            let ty = self.resolve_type(m, &f.ty);
            let output = f.has_annotation("output");
            if output && f.default.is_some() {
                self.diag(
                    Diagnostic::error(
                        Code::OutputAssigned,
                        format!("output `{}` cannot have a default", f.name.name),
                    )
                    .label(f.span, "outputs are known only after apply")
                    .help("remove the default, or remove `@output` to make it an input"),
                );
            }
            let setting = f.has_annotation("setting");
            // A field redeclared from the base (to give a default, narrow its type,
            // document it) keeps how the base's kind treats it: a kind cannot update
            // in place what its schema says forces replacement.
            let inherited = fields.get(&f.name.name).cloned();
            if inherited.is_none() && self.p.schema(id).extends.is_some() && s.is_resource {
                let base = self
                    .p
                    .schema(id)
                    .extends
                    .map(|b| self.p.schema_name(b))
                    .unwrap_or_default();
                self.diag(
                    Diagnostic::error(
                        Code::ExtendsAddsField,
                        format!("`{}` adds the field `{}` to `{base}`", s.name.name, f.name.name),
                    )
                    .label(f.name.span, format!("`{base}` has no field `{}`", f.name.name))
                    .help(format!(
                        "a resource schema that extends another is applied by the same kind, which would never send this field; redeclare only fields of `{base}` (to give a default or narrow a type), or keep the value in a `let`"
                    )),
                );
            }
            let (replace, output, setting) = match &inherited {
                Some(b) => (
                    b.replace || f.has_annotation("replace"),
                    b.output || output,
                    b.setting || setting,
                ),
                None => (f.has_annotation("replace"), output, setting),
            };
            if setting && (output || f.has_annotation("replace")) {
                let other = if output { "output" } else { "replace" };
                self.diag(
                    Diagnostic::error(
                        Code::BadAnnotation,
                        format!("`@setting` and `@{other}` cannot both stand on `{}`", f.name.name),
                    )
                    .label(f.name.span, "a setting is not part of the object")
                    .help("a `@setting` only says how tpt applies the resource; remove one of the two annotations"),
                );
            }
            fields.insert(
                f.name.name.clone(),
                SchemaField {
                    ty,
                    default: f.default.clone(),
                    default_module: m,
                    docs: f.docs.clone(),
                    replace,
                    output,
                    setting,
                    span: f.span,
                    name_span: f.name.span,
                },
            );
        }
        self.p.schemas[id.0 as usize].fields = fields;
        visiting.pop();
    }

    fn collect(&mut self, m: ModuleId, item: Item, loops: &mut Vec<ast::ForItem>) {
        let in_component = self.p.module(m).component.is_some();
        // Params, resources, `for` and `moved` blocks and outputs stand in the root or in a component.
        let is_root = self.p.module(m).is_root || in_component;
        let root_only = |c: &mut Self, what: &str, span: Span| {
            c.diag(
                Diagnostic::error(Code::MisplacedItem, format!("{what} may only be declared in the root configuration or in a component"))
                    .label(span, format!("{what} in an imported module"))
                    .help("imported modules hold types, schemas, functions, `let`s and components; declare this in a `component` block, or in the configuration that imports the module"),
            );
        };
        let not_in_component = |c: &mut Self, what: &str, span: Span| {
            c.diag(
                Diagnostic::error(Code::MisplacedItem, format!("{what} cannot be declared inside a component"))
                    .label(span, format!("{what} in a component"))
                    .help("a component holds params, `let`s, resources, `for` blocks and outputs; declare this at the top level of the file, where the component sees it"),
            );
        };
        match item.kind {
            ItemKind::Import(i) if in_component => {
                let span = match &i.source {
                    ast::ImportSource::Std(n) => n.span,
                    ast::ImportSource::Path { span, .. } => *span,
                };
                not_in_component(self, "an import", span)
            }
            ItemKind::TypeAlias(t) if in_component => not_in_component(self, "a type", t.name.span),
            ItemKind::Schema(s) if in_component => not_in_component(self, "a schema", s.name.span),
            ItemKind::Fn(f) if in_component => not_in_component(self, "a function", f.name.span),
            ItemKind::Component(c) if in_component => not_in_component(self, "a component", c.name.span),
            ItemKind::Environment(e) if in_component => {
                not_in_component(self, "an environment", e.name.span)
            }
            ItemKind::ImportBlock(_) if in_component => self.diag(
                Diagnostic::error(Code::MisplacedItem, "an `import` block cannot stand inside a component")
                    .label(item.span, "`import` block in a component")
                    .help("declare it in the root configuration with the instance's address: `import { to = web.db, id = \"…\" }`"),
            ),
            ItemKind::ImportBlock(b) => {
                self.check_annotations(&item.annotations, &[], "import blocks");
                if !self.p.module(m).is_root {
                    return root_only(self, "an `import` block", item.span);
                }
                let Some(to) = ast::Moved::address(&b.to) else {
                    return self.diag(
                        Diagnostic::error(Code::BadMove, "an `import` block's `to` is a resource address")
                            .label(b.to.span, "not an address")
                            .help("write a resource name, `name[\"key\"]`, or `instance.name`"),
                    );
                };
                if let Some(prev) = self.p.module(m).import_blocks.iter().find(|d| d.to == to) {
                    let prev = prev.span;
                    return self.diag(
                        Diagnostic::error(Code::Duplicate, format!("`{to}` is imported twice"))
                            .label(item.span, "second import")
                            .label(prev, "first import")
                            .help("an address takes one object; remove one of the blocks"),
                    );
                }
                let to_path = ast::Moved::path(&b.to).into_iter().cloned().collect();
                self.module(m).import_blocks.push(ImportDecl {
                    to,
                    to_path,
                    id: b.id,
                    span: item.span,
                });
            }
            ItemKind::Moved(_) if in_component => self.diag(
                Diagnostic::error(Code::MisplacedItem, "a `moved` block cannot stand inside a component")
                    .label(item.span, "`moved` in a component")
                    .help("declare it in the root configuration with the instances' addresses: `moved { from = web.db, to = web.database }`"),
            ),
            ItemKind::Import(_) => {
                self.check_annotations(&item.annotations, &[], "imports");
            }
            ItemKind::TypeAlias(_) | ItemKind::Schema(_) | ItemKind::Component(_) => {}
            ItemKind::Output(o) => {
                self.check_annotations(&item.annotations, &[], "outputs");
                if !is_root {
                    return root_only(self, "an output", o.name.span);
                }
                if let Some(prev) = self.p.module(m).outputs.get(&o.name.name) {
                    let prev = prev.node.name.span;
                    self.diag(
                        Diagnostic::error(Code::Duplicate, format!("output `{}` is defined twice", o.name.name))
                            .label(o.name.span, "second definition")
                            .label(prev, "first defined here")
                            .help("rename one of them"),
                    );
                    return;
                }
                let ty = self.resolve_type(m, &o.ty);
                self.module(m).outputs.insert(
                    o.name.name.clone(),
                    Decl {
                        node: o,
                        docs: item.docs,
                        annotations: item.annotations,
                        span: item.span,
                        ty,
                        param_tys: Vec::new(),
                    },
                );
            }
            ItemKind::Param(param) => {
                if in_component {
                    self.check_annotations(&item.annotations, &[], "a component's params");
                } else {
                    self.check_annotations(&item.annotations, &["promote", "var"], "params");
                }
                if !is_root {
                    return root_only(self, "a param", param.name.span);
                }
                if self.check_duplicate(m, &param.name, "param") {
                    return;
                }
                let ty = self.resolve_type(m, &param.ty);
                self.module(m).params.insert(
                    param.name.name.clone(),
                    Decl {
                        node: param,
                        docs: item.docs,
                        annotations: item.annotations,
                        span: item.span,
                        ty,
                        param_tys: Vec::new(),
                    },
                );
            }
            ItemKind::Let(l) => {
                self.check_annotations(&item.annotations, &[], "lets");
                if self.check_duplicate(m, &l.name, "let") {
                    return;
                }
                let ty = l.ty.as_ref().map_or(Ty::Error, |t| self.resolve_type(m, t));
                self.module(m).lets.insert(
                    l.name.name.clone(),
                    Decl {
                        node: l,
                        docs: item.docs,
                        annotations: item.annotations,
                        span: item.span,
                        ty,
                        param_tys: Vec::new(),
                    },
                );
            }
            ItemKind::Fn(f) => {
                self.check_annotations(&item.annotations, &[], "functions");
                if self.check_duplicate(m, &f.name, "function") {
                    return;
                }
                let ty = self.resolve_type(m, &f.ret);
                let param_tys = f.params.iter().map(|(_, t)| self.resolve_type(m, t)).collect();
                let mut seen: HashMap<&str, Span> = HashMap::new();
                for (n, _) in &f.params {
                    if let Some(prev) = seen.insert(&n.name, n.span) {
                        self.diag(
                            Diagnostic::error(
                                Code::Duplicate,
                                format!("parameter `{}` is declared twice", n.name),
                            )
                            .label(n.span, "second declaration")
                            .label(prev, "first declared here")
                            .help("give each parameter its own name"),
                        );
                    }
                }
                self.module(m).fns.insert(
                    f.name.name.clone(),
                    Decl {
                        node: f,
                        docs: item.docs,
                        annotations: item.annotations,
                        span: item.span,
                        ty,
                        param_tys,
                    },
                );
            }
            ItemKind::Resource(r) => {
                self.check_annotations(
                    &item.annotations,
                    &["prevent_destroy", "create_before_destroy", "ignore_changes"],
                    "resources",
                );
                if !is_root {
                    return root_only(self, "a resource", r.name.span);
                }
                if self.check_duplicate(m, &r.name, "resource") {
                    return;
                }
                let schema = match self.resolve_qualified(m, &r.schema) {
                    Ty::Schema(id) if self.p.schema(id).is_resource => Some(id),
                    Ty::Error => None,
                    other => {
                        let shown = self.p.show(&other);
                        self.diag(
                            Diagnostic::error(
                                Code::TypeMismatch,
                                format!("`{}` is not a resource schema", r.schema),
                            )
                            .label(r.schema.span, format!("this is `{shown}`"))
                            .help(
                                "a resource needs a `resource schema`, such as `aws.EksCluster` or `k8s.App`",
                            ),
                        );
                        None
                    }
                };
                self.module(m).resources.insert(
                    r.name.name.clone(),
                    ResourceDecl {
                        node: r,
                        docs: item.docs,
                        annotations: item.annotations,
                        span: item.span,
                        loops: loops.clone(),
                        schema,
                    },
                );
            }
            ItemKind::For(f) => {
                self.check_annotations(&item.annotations, &[], "for blocks");
                if !is_root {
                    return root_only(self, "a for block", item.span);
                }
                let members = f.members.clone();
                loops.push(ast::ForItem {
                    members: Vec::new(),
                    ..f
                });
                for member in members {
                    self.collect(m, member, loops);
                }
                loops.pop();
            }
            ItemKind::Moved(mv) => {
                self.check_annotations(&item.annotations, &[], "moved blocks");
                if !is_root {
                    return root_only(self, "a moved block", item.span);
                }
                let (from, to, to_name) = (
                    ast::Moved::address(&mv.from),
                    ast::Moved::address(&mv.to),
                    ast::Moved::name(&mv.to),
                );
                for (addr, e) in [(&from, &mv.from), (&to, &mv.to)] {
                    if addr.is_none() {
                        self.diag(
                            Diagnostic::error(Code::BadMove, "a `moved` block takes resource addresses")
                                .label(e.span, "not an address")
                                .help("write a resource name, or a stamped instance: `name[\"key\"]` or `name[0]`"),
                        );
                    }
                }
                if let (Some(from), Some(to), Some(to_name)) = (from, to, to_name) {
                    if from == to {
                        self.diag(
                            Diagnostic::error(Code::BadMove, format!("`moved` from `{from}` to itself"))
                                .label(item.span, "from and to are the same address")
                                .help("remove this block"),
                        );
                        return;
                    }
                    if let Some(prev) = self.p.module(m).moves.iter().find(|d| d.from == from) {
                        let prev_span = prev.span;
                        self.diag(
                            Diagnostic::error(Code::BadMove, format!("`{from}` is moved twice"))
                                .label(item.span, "second move")
                                .label(prev_span, "first move")
                                .help("an address can move to one place; remove one of the blocks"),
                        );
                        return;
                    }
                    let to_name = to_name.clone();
                    let to_path = ast::Moved::path(&mv.to).into_iter().cloned().collect();
                    self.module(m).moves.push(MoveDecl {
                        from,
                        to,
                        to_name,
                        to_path,
                        span: item.span,
                    });
                }
            }
            ItemKind::Environment(e) => {
                self.check_annotations(&item.annotations, &[], "environments");
                if !self.p.module(m).is_root {
                    return self.diag(
                        Diagnostic::error(Code::MisplacedItem, "an environment may only be declared in the root configuration")
                            .label(e.name.span, "an environment in an imported module")
                            .help("environments set the params of the configuration being applied; declare this in the configuration that imports the module"),
                    );
                }
                if let Some(prev) = self.p.module(m).environments.get(&e.name.name) {
                    let prev = prev.node.name.span;
                    self.diag(
                        Diagnostic::error(
                            Code::Duplicate,
                            format!("environment `{}` is defined twice", e.name.name),
                        )
                        .label(e.name.span, "second definition")
                        .label(prev, "first defined here")
                        .help("merge the two blocks, or rename one"),
                    );
                    return;
                }
                self.module(m).environments.insert(
                    e.name.name.clone(),
                    Decl {
                        node: e,
                        docs: item.docs,
                        annotations: item.annotations,
                        span: item.span,
                        ty: Ty::Error,
                        param_tys: Vec::new(),
                    },
                );
            }
        }
    }
}

fn base_ast_name(def: &SchemaDef) -> String {
    def.name.rsplit('.').next().unwrap_or(&def.name).to_string()
}

/// `std.aws` → `aws`; `./lib/net.tpt` → `net`.
pub fn module_short_name(name: &str) -> String {
    let last = name
        .rsplit(['.', '/'])
        .find(|s| !s.is_empty() && *s != "tpt")
        .unwrap_or(name);
    last.to_string()
}
