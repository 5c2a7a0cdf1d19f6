//! The symbol index of one analysed configuration: every name written in its
//! files (an *occurrence*), resolved to what it names (a [`Target`]). Go to
//! definition, find references, rename and hover are lookups in it.
//!
//! A declaration is identified by the span of its name, so that the same
//! thing seen from two files (a field inherited by an extending schema, a
//! resource overlaid in `envs/prod.tpt`) is one target. Names are resolved as
//! the checker resolves them: locals (`for`, `let … in`, function parameters,
//! comprehensions) first, then the module's `let`s, params, resources,
//! functions and imports; a field name by the type of what it is read from,
//! or by the type a record literal is expected to have.

use std::collections::HashMap;
use std::sync::Arc;

use tpt_lang::program::{ModuleId, SchemaId, TypeDef};
use tpt_lang::source::{FileId, Span};
use tpt_lang::syntax::ast::{
    self, Comprehension, Expr, ExprKind, ItemKind, OverlayField, OverlayValue, QualifiedName, StrPart,
    TypeExpr, TypeExprKind,
};
use tpt_lang::types::Ty;
use tpt_lang::{Program, Types};

/// What a name names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A declaration, by the span of its name.
    Decl(Span),
    /// A builtin function.
    Builtin(&'static str),
}

/// What kind of declaration a [`Target::Decl`] is.
#[derive(Debug, Clone)]
pub enum DeclKind {
    Resource(ModuleId, String),
    Param(ModuleId, String),
    Let(ModuleId, String),
    Fn(ModuleId, String),
    Schema(SchemaId),
    /// A field of a schema (the schema that declares it).
    Field(SchemaId, String),
    Alias(ModuleId, String),
    Environment(String),
    /// `output NAME` of the root or a component's body.
    Output(ModuleId, String),
    /// `import … as NAME` in the first module; the second is the imported one.
    Import(ModuleId, ModuleId),
    /// A local variable with its type.
    Local(String, Ty),
}

/// One written name.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub span: Span,
    pub target: Target,
    /// The name of a declaration (not a use of it).
    pub is_decl: bool,
}

#[derive(Default)]
pub struct Index {
    /// Per file, sorted by start.
    occurrences: HashMap<FileId, Vec<Occurrence>>,
    pub decls: HashMap<Span, DeclKind>,
    /// Import sources (`"./net.tpt"`, `std.aws`) and the module they load.
    pub links: HashMap<FileId, Vec<(Span, ModuleId)>>,
}

impl Index {
    pub fn build(program: &Program, trees: &HashMap<FileId, Arc<ast::File>>) -> Index {
        let mut w = Walker {
            p: program,
            types: Types::new(program),
            index: Index::default(),
            scope: Vec::new(),
        };
        w.declare_all();
        for (id, module) in program.modules.iter().enumerate() {
            let m = ModuleId(u32::try_from(id).unwrap_or(u32::MAX));
            if module.component.is_some() {
                // A component's body is walked where its file declares it.
                continue;
            }
            for file in &module.files {
                if let Some(tree) = trees.get(file) {
                    for item in &tree.items {
                        w.item(m, *file, item);
                    }
                }
            }
        }
        let mut index = w.index;
        for occs in index.occurrences.values_mut() {
            occs.sort_by_key(|o| (o.span.start, o.span.end));
            occs.dedup_by_key(|o| o.span);
        }
        index
    }

    /// The occurrence at a byte offset (the cursor may stand just after the name).
    pub fn at(&self, file: FileId, offset: usize) -> Option<&Occurrence> {
        let occs = self.occurrences.get(&file)?;
        let offset = u32::try_from(offset).ok()?;
        let i = occs.partition_point(|o| o.span.end < offset);
        occs.get(i..)?
            .iter()
            .take_while(|o| o.span.start <= offset)
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    /// The import source at an offset, and the module it loads.
    pub fn link_at(&self, file: FileId, offset: usize) -> Option<ModuleId> {
        let offset = u32::try_from(offset).ok()?;
        self.links
            .get(&file)?
            .iter()
            .find(|(s, _)| s.start <= offset && offset <= s.end)
            .map(|(_, m)| *m)
    }

    /// Every occurrence of a target, in file and position order.
    pub fn occurrences_of(&self, target: &Target) -> Vec<&Occurrence> {
        let mut out: Vec<&Occurrence> = self
            .occurrences
            .values()
            .flatten()
            .filter(|o| &o.target == target)
            .collect();
        out.sort_by_key(|o| o.span);
        out
    }

    /// Every occurrence of one file, in order.
    pub fn in_file(&self, file: FileId) -> &[Occurrence] {
        self.occurrences.get(&file).map_or(&[], Vec::as_slice)
    }
}

struct Walker<'p> {
    p: &'p Program,
    types: Types<'p>,
    index: Index,
    /// Locals in scope, innermost last: name, declaration span, type.
    scope: Vec<(String, Span, Ty)>,
}

impl Walker<'_> {
    fn add(&mut self, span: Span, target: Target, is_decl: bool) {
        if span.is_empty() {
            return;
        }
        self.index
            .occurrences
            .entry(span.file)
            .or_default()
            .push(Occurrence {
                span,
                target,
                is_decl,
            });
    }

    fn declare(&mut self, span: Span, kind: DeclKind) {
        self.index.decls.insert(span, kind);
        self.add(span, Target::Decl(span), true);
    }

    /// Declarations of every module, from the program's tables.
    fn declare_all(&mut self) {
        let p = self.p;
        for (sid, schema) in p.schemas.iter().enumerate() {
            let sid = SchemaId(u32::try_from(sid).unwrap_or(u32::MAX));
            self.declare(schema.name_span, DeclKind::Schema(sid));
            for (name, field) in &schema.fields {
                // Inherited fields are declared by the schema they are written in.
                let own = schema.span.file == field.name_span.file
                    && schema.span.start <= field.name_span.start
                    && field.name_span.end <= schema.span.end;
                if own {
                    self.declare(field.name_span, DeclKind::Field(sid, name.clone()));
                }
            }
        }
        for (id, module) in p.modules.iter().enumerate() {
            let m = ModuleId(u32::try_from(id).unwrap_or(u32::MAX));
            // A component's body sees its file's imports, types, `let`s and
            // functions: they are declared by the file.
            let own = module.component.is_none();
            for imp in module.imports.values().filter(|_| own) {
                self.declare(imp.span, DeclKind::Import(m, imp.module));
            }
            for (name, t) in module.types.iter().filter(|_| own) {
                if let TypeDef::Alias { span, .. } = t {
                    self.declare(*span, DeclKind::Alias(m, name.clone()));
                }
            }
            for (name, d) in module.lets.iter().filter(|(n, _)| !module.inherits(n)) {
                self.declare(d.node.name.span, DeclKind::Let(m, name.clone()));
            }
            for (name, d) in module.fns.iter().filter(|(n, _)| !module.inherits(n)) {
                self.declare(d.node.name.span, DeclKind::Fn(m, name.clone()));
            }
            for (name, d) in &module.outputs {
                self.declare(d.node.name.span, DeclKind::Output(m, name.clone()));
            }
            for (name, d) in &module.params {
                self.declare(d.node.name.span, DeclKind::Param(m, name.clone()));
            }
            for (name, d) in &module.resources {
                self.declare(d.node.name.span, DeclKind::Resource(m, name.clone()));
            }
            for (name, d) in &module.environments {
                self.declare(d.node.name.span, DeclKind::Environment(name.clone()));
            }
        }
    }

    fn locals(&self) -> Vec<(String, Ty)> {
        self.scope
            .iter()
            .map(|(n, _, t)| (n.clone(), t.clone()))
            .collect()
    }

    fn type_of(&mut self, m: ModuleId, e: &Expr) -> Ty {
        let locals = self.locals();
        self.types.type_of(m, &locals, e)
    }

    fn bind(&mut self, name: &ast::Ident, ty: Ty) {
        self.declare(name.span, DeclKind::Local(name.name.clone(), ty.clone()));
        self.scope.push((name.name.clone(), name.span, ty));
    }

    fn bind_loop(&mut self, m: ModuleId, vars: &ast::ForVars, iter: &Expr) -> usize {
        let iter_ty = self.type_of(m, iter);
        let bound = Types::loop_vars(vars, &iter_ty);
        let names = std::iter::once(&vars.first).chain(vars.second.as_ref());
        let n = self.scope.len();
        for (ident, (_, ty)) in names.zip(bound) {
            self.bind(ident, ty);
        }
        n
    }

    fn item(&mut self, m: ModuleId, file: FileId, item: &ast::Item) {
        match &item.kind {
            ItemKind::Import(import) => {
                if let Some(def) = import
                    .binding()
                    .and_then(|b| self.p.module(m).imports.get(&b.name))
                {
                    let source = match &import.source {
                        ast::ImportSource::Std(n) => n.span,
                        ast::ImportSource::Path { span, .. } => *span,
                    };
                    self.index
                        .links
                        .entry(file)
                        .or_default()
                        .push((source, def.module));
                }
            }
            ItemKind::TypeAlias(alias) => self.type_expr(m, &alias.ty),
            ItemKind::Schema(schema) => {
                if let Some(base) = &schema.extends {
                    self.qualified(m, base);
                }
                let sid = match self.p.module(m).types.get(&schema.name.name) {
                    Some(TypeDef::Schema(id)) => Some(*id),
                    _ => None,
                };
                for f in &schema.fields {
                    self.type_expr(m, &f.ty);
                    if let Some(default) = &f.default {
                        let expected = sid
                            .and_then(|id| self.p.schema(id).fields.get(&f.name.name))
                            .map(|f| f.ty.clone());
                        self.expr(m, default, expected.as_ref());
                    }
                }
            }
            ItemKind::Param(param) => {
                self.type_expr(m, &param.ty);
                if let Some(default) = &param.default {
                    let ty = self
                        .p
                        .module(m)
                        .params
                        .get(&param.name.name)
                        .map(|d| d.ty.clone());
                    self.expr(m, default, ty.as_ref());
                }
            }
            ItemKind::Let(l) => {
                if let Some(t) = &l.ty {
                    self.type_expr(m, t);
                }
                let ty =
                    l.ty.as_ref()
                        .and_then(|_| self.p.module(m).lets.get(&l.name.name))
                        .map(|d| d.ty.clone());
                self.expr(m, &l.value, ty.as_ref());
            }
            ItemKind::Fn(f) => {
                let n = self.scope.len();
                let tys = self
                    .p
                    .module(m)
                    .fns
                    .get(&f.name.name)
                    .map(|d| d.param_tys.clone())
                    .unwrap_or_default();
                for (i, (name, t)) in f.params.iter().enumerate() {
                    self.type_expr(m, t);
                    self.bind(name, tys.get(i).cloned().unwrap_or(Ty::Error));
                }
                self.type_expr(m, &f.ret);
                self.expr(m, &f.body, None);
                self.scope.truncate(n);
            }
            ItemKind::Resource(r) => self.resource(m, r),
            ItemKind::For(f) => {
                self.expr(m, &f.iter, None);
                let n = self.bind_loop(m, &f.vars, &f.iter);
                for member in &f.members {
                    self.item(m, file, member);
                }
                self.scope.truncate(n);
            }
            ItemKind::Environment(env) => self.environment(m, env),
            ItemKind::ImportBlock(b) => {
                self.address_names(m, &b.to);
                self.address_keys(m, &b.to);
                self.expr(m, &b.id, Some(&Ty::String));
            }
            ItemKind::Moved(mv) => {
                for e in [&mv.from, &mv.to] {
                    self.address_names(m, e);
                    self.address_keys(m, e);
                }
            }
            ItemKind::Component(c) => {
                let body = match self.p.module(m).types.get(&c.name.name) {
                    Some(TypeDef::Schema(sid)) => self.p.schema(*sid).component,
                    _ => None,
                };
                if let Some(body) = body {
                    for member in &c.items {
                        self.item(body, file, member);
                    }
                }
            }
            ItemKind::Output(o) => {
                self.type_expr(m, &o.ty);
                let ty = self.p.module(m).outputs.get(&o.name.name).map(|d| d.ty.clone());
                self.expr(m, &o.value, ty.as_ref());
            }
        }
        for a in &item.annotations {
            for arg in &a.args {
                self.expr(m, arg, None);
            }
        }
    }

    fn resource(&mut self, m: ModuleId, r: &ast::Resource) {
        self.qualified(m, &r.schema);
        let schema = self
            .p
            .module(m)
            .resources
            .get(&r.name.name)
            .and_then(|d| d.schema);
        for entry in &r.body {
            let expected = match schema {
                Some(sid) => self.field(sid, &entry.name),
                None => None,
            };
            self.expr(m, &entry.value, expected.as_ref());
        }
    }

    /// A field name written against a schema: its occurrence and its type.
    fn field(&mut self, sid: SchemaId, name: &ast::Ident) -> Option<Ty> {
        let f = self.p.schema(sid).fields.get(&name.name)?;
        let (span, ty) = (f.name_span, f.ty.clone());
        self.add(name.span, Target::Decl(span), false);
        Some(ty)
    }

    fn environment(&mut self, m: ModuleId, env: &ast::Environment) {
        let module = self.p.module(m);
        if let Some(parent) = &env.extends {
            if let Some(d) = module.environments.get(&parent.name) {
                self.add(parent.span, Target::Decl(d.node.name.span), false);
            }
        }
        for set in &env.sets {
            let param = self.p.module(m).params.get(&set.name.name);
            let ty = param.map(|d| d.ty.clone());
            if let Some(d) = param {
                self.add(set.name.span, Target::Decl(d.node.name.span), false);
            }
            self.expr(m, &set.value, ty.as_ref());
        }
        for overlay in &env.overlays {
            let mut resource = self.p.module(m).resources.get(&overlay.target.name);
            if let Some(d) = resource {
                self.add(overlay.target.span, Target::Decl(d.node.name.span), false);
            }
            if let Some(key) = &overlay.key {
                self.expr(m, key, None);
            }
            // `team["a"].db`: each further name is a resource of the component before it.
            for seg in &overlay.inner {
                let body = resource
                    .and_then(|d| d.schema)
                    .and_then(|s| self.p.schema(s).component);
                resource = body.and_then(|b| self.p.module(b).resources.get(&seg.name.name));
                if let Some(d) = resource {
                    self.add(seg.name.span, Target::Decl(d.node.name.span), false);
                }
                if let Some(key) = &seg.key {
                    self.expr(m, key, None);
                }
            }
            let schema = resource.and_then(|d| d.schema);
            self.overlay_fields(m, schema.map(Ty::Schema), &overlay.fields);
        }
    }

    /// The names of an address (`team["a"].db`), each resolved in the component it stands in.
    fn address_names(&mut self, m: ModuleId, e: &Expr) {
        let mut scope = Some(m);
        for name in ast::Moved::path(e) {
            let Some(at) = scope else { break };
            let decl = self.p.module(at).resources.get(&name.name);
            if let Some(d) = decl {
                self.add(name.span, Target::Decl(d.node.name.span), false);
            }
            scope = decl
                .and_then(|d| d.schema)
                .and_then(|s| self.p.schema(s).component);
        }
    }

    /// The keys written in an address (`team["a"].db`), as expressions.
    fn address_keys(&mut self, m: ModuleId, e: &Expr) {
        match &e.kind {
            ExprKind::Index(target, key) => {
                self.address_keys(m, target);
                self.expr(m, key, None);
            }
            ExprKind::Field(target, _) => self.address_keys(m, target),
            _ => {}
        }
    }

    fn overlay_fields(&mut self, m: ModuleId, ty: Option<Ty>, fields: &[OverlayField]) {
        for f in fields {
            let field_ty = match ty.as_ref().map(|t| t.non_null()) {
                Some(Ty::Schema(sid)) => self.field(sid, &f.name),
                _ => None,
            };
            match &f.value {
                OverlayValue::Set(e) => self.expr(m, e, field_ty.as_ref()),
                OverlayValue::Merge(inner) => self.overlay_fields(m, field_ty, inner),
            }
        }
    }

    /// A name used as a value: a local, a `let`, param, resource, function or import.
    fn value_name(&mut self, m: ModuleId, id: &ast::Ident) {
        if let Some((_, span, _)) = self.scope.iter().rev().find(|(n, _, _)| *n == id.name) {
            let span = *span;
            self.add(id.span, Target::Decl(span), false);
            return;
        }
        let module = self.p.module(m);
        let decl = module
            .lets
            .get(&id.name)
            .map(|d| d.node.name.span)
            .or_else(|| module.params.get(&id.name).map(|d| d.node.name.span))
            .or_else(|| module.resources.get(&id.name).map(|d| d.node.name.span))
            .or_else(|| module.fns.get(&id.name).map(|d| d.node.name.span))
            .or_else(|| module.imports.get(&id.name).map(|d| d.span));
        match decl {
            Some(span) => self.add(id.span, Target::Decl(span), false),
            None => {
                if let Some(b) = tpt_lang::builtins::lookup(&id.name) {
                    self.add(id.span, Target::Builtin(b.name), false);
                }
            }
        }
    }

    fn is_import(&self, m: ModuleId, name: &str) -> Option<ModuleId> {
        if self.scope.iter().any(|(n, _, _)| n == name) {
            return None;
        }
        let module = self.p.module(m);
        if module.lets.contains_key(name)
            || module.params.contains_key(name)
            || module.resources.contains_key(name)
        {
            return None;
        }
        module.imports.get(name).map(|i| i.module)
    }

    /// The name span of the type `name` of module `m`.
    fn type_decl(&self, m: ModuleId, name: &str) -> Option<Span> {
        match self.p.module(m).types.get(name)? {
            TypeDef::Schema(id) => Some(self.p.schema(*id).name_span),
            TypeDef::Alias { span, .. } => Some(*span),
        }
    }

    /// `alias.member` of an imported module: a `let`, function or type there.
    fn member(&mut self, of: ModuleId, name: &ast::Ident) {
        let module = self.p.module(of);
        let decl = module
            .lets
            .get(&name.name)
            .map(|d| d.node.name.span)
            .or_else(|| module.fns.get(&name.name).map(|d| d.node.name.span))
            .or_else(|| self.type_decl(of, &name.name));
        if let Some(span) = decl {
            self.add(name.span, Target::Decl(span), false);
        }
    }

    fn expr(&mut self, m: ModuleId, e: &Expr, expected: Option<&Ty>) {
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Duration(_)
            | ExprKind::Bool(_)
            | ExprKind::Null => {}
            ExprKind::Str(parts) => {
                for part in parts {
                    if let StrPart::Interp(inner) = part {
                        self.expr(m, inner, None);
                    }
                }
            }
            ExprKind::Ident(id) => self.value_name(m, id),
            ExprKind::Paren(inner) => self.expr(m, inner, expected),
            ExprKind::List(items) => {
                let elem = expected.and_then(|t| match t.non_null().resolved() {
                    Ty::List(elem) => Some((**elem).clone()),
                    _ => None,
                });
                for item in items {
                    self.expr(m, item, elem.as_ref());
                }
            }
            ExprKind::Record(entries) => self.record(m, entries, expected),
            ExprKind::ListComp(c) | ExprKind::MapComp(c) => self.comprehension(m, c),
            ExprKind::Field(target, name) => {
                if let ExprKind::Ident(id) = &target.kind {
                    if let Some(module) = self.is_import(m, &id.name) {
                        self.value_name(m, id);
                        self.member(module, name);
                        return;
                    }
                }
                self.expr(m, target, None);
                let ty = self.type_of(m, target);
                self.field_of(&ty, name);
            }
            ExprKind::Index(target, index) => {
                self.expr(m, target, None);
                self.expr(m, index, None);
            }
            ExprKind::Call(callee, args) => {
                self.expr(m, callee, None);
                for a in args {
                    self.expr(m, a, None);
                }
            }
            ExprKind::Unary(_, operand) => self.expr(m, operand, None),
            ExprKind::Binary(_, l, r) => {
                self.expr(m, l, None);
                self.expr(m, r, None);
            }
            ExprKind::If(c, t, f) => {
                self.expr(m, c, None);
                self.expr(m, t, expected);
                self.expr(m, f, expected);
            }
            ExprKind::Let(name, value, body) => {
                self.expr(m, value, None);
                let ty = self.type_of(m, value);
                let n = self.scope.len();
                self.bind(name, ty);
                self.expr(m, body, expected);
                self.scope.truncate(n);
            }
        }
    }

    /// `.name` read from a value of type `ty`.
    fn field_of(&mut self, ty: &Ty, name: &ast::Ident) {
        match ty.non_null().resolved() {
            Ty::Schema(sid) => {
                self.field(*sid, name);
            }
            Ty::Union(members) => {
                // The field of the first member that has it (all have it, or the checker said so).
                for t in members {
                    if let Ty::Schema(sid) = t.resolved() {
                        if self.field(*sid, name).is_some() {
                            return;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn record(&mut self, m: ModuleId, entries: &[ast::RecordEntry], expected: Option<&Ty>) {
        let expected = expected.map(|t| t.non_null());
        for entry in entries {
            let field_ty = match expected.as_ref().map(Ty::resolved) {
                Some(Ty::Schema(sid)) if !entry.quoted => self.field(*sid, &entry.key),
                Some(Ty::Schema(sid)) => self
                    .p
                    .schema(*sid)
                    .fields
                    .get(&entry.key.name)
                    .map(|f| f.ty.clone()),
                Some(Ty::Record(r)) => r.fields.get(&entry.key.name).map(|f| f.ty.clone()),
                Some(Ty::Map(elem)) => Some((**elem).clone()),
                _ => None,
            };
            self.expr(m, &entry.value, field_ty.as_ref());
        }
    }

    fn comprehension(&mut self, m: ModuleId, c: &Comprehension) {
        self.expr(m, &c.iter, None);
        let n = self.bind_loop(m, &c.vars, &c.iter);
        if let Some(key) = &c.key {
            self.expr(m, key, None);
        }
        self.expr(m, &c.body, None);
        if let Some(filter) = &c.filter {
            self.expr(m, filter, None);
        }
        self.scope.truncate(n);
    }

    fn qualified(&mut self, m: ModuleId, q: &QualifiedName) {
        let module = self.p.module(m);
        let (types_of, name) = match &q.module {
            Some(alias) => match module.imports.get(&alias.name) {
                Some(imp) => {
                    let (span, of) = (imp.span, imp.module);
                    self.add(alias.span, Target::Decl(span), false);
                    (of, &q.name)
                }
                None => return,
            },
            None => (m, &q.name),
        };
        if let Some(span) = self.type_decl(types_of, &name.name) {
            self.add(name.span, Target::Decl(span), false);
        }
    }

    fn type_expr(&mut self, m: ModuleId, t: &TypeExpr) {
        match &t.kind {
            TypeExprKind::Named(q) => self.qualified(m, q),
            TypeExprKind::List(inner) | TypeExprKind::Map(inner) | TypeExprKind::Optional(inner) => {
                self.type_expr(m, inner);
            }
            TypeExprKind::Record(fields) => {
                for f in fields {
                    self.type_expr(m, &f.ty);
                    if let Some(d) = &f.default {
                        self.expr(m, d, None);
                    }
                }
            }
            TypeExprKind::Union(members) => {
                for member in members {
                    self.type_expr(m, member);
                }
            }
            TypeExprKind::Literal(_) | TypeExprKind::Range { .. } | TypeExprKind::Pattern { .. } => {}
        }
    }
}
