//! The abstract syntax tree. Every node carries the [`Span`] of the source it came
//! from, so that every later phase can point at the text it complains about.

use crate::source::Span;

/// A name with the span it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed `.tpt` file.
#[derive(Debug, Clone, Default)]
pub struct File {
    pub items: Vec<Item>,
}

/// `@name` or `@name(args)` before an item or a field.
#[derive(Debug, Clone)]
pub struct Annotation {
    pub name: Ident,
    pub args: Vec<Expr>,
    pub span: Span,
}

/// A top-level declaration with its doc comment and annotations.
#[derive(Debug, Clone)]
pub struct Item {
    /// The `///` lines above the item, without the slashes, joined by newlines.
    pub docs: Option<String>,
    pub annotations: Vec<Annotation>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ItemKind {
    Import(Import),
    TypeAlias(TypeAlias),
    Schema(Schema),
    Param(Param),
    Let(LetItem),
    Fn(FnItem),
    Resource(Resource),
    For(ForItem),
    Environment(Environment),
    Moved(Moved),
    Component(Component),
    Output(Output),
    ImportBlock(ImportBlock),
}

/// `import { to = ADDRESS, id = "…" }`: the object `id` becomes the resource
/// at `to` at the next apply (a plan shows it as an import).
#[derive(Debug, Clone)]
pub struct ImportBlock {
    pub to: Expr,
    pub id: Expr,
}

/// `component Name { … }`: params (its inputs), `let`s, resources, `for`
/// blocks, `moved` blocks and outputs, instantiated as `resource x: Name { … }`.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: Ident,
    pub items: Vec<Item>,
}

/// `output name: type = expr`.
#[derive(Debug, Clone)]
pub struct Output {
    pub name: Ident,
    pub ty: TypeExpr,
    pub value: Expr,
}

/// `moved { from = old, to = new }`: a resource (or stamped instance) was
/// renamed; the recorded object now belongs to the new address.
#[derive(Debug, Clone)]
pub struct Moved {
    /// A resource address: `name`, `name["key"]`, or one inside a component
    /// instance: `team["a"].db`.
    pub from: Expr,
    pub to: Expr,
}

impl Moved {
    /// The address an expression of a `moved` block names, if it is one.
    pub fn address(e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Ident(id) => Some(id.name.clone()),
            ExprKind::Field(target, name) => Some(format!("{}.{}", Moved::address(target)?, name.name)),
            ExprKind::Index(target, key) => {
                let base = Moved::address(target)?;
                match &key.kind {
                    ExprKind::Int(i) => Some(format!("{base}[{i}]")),
                    ExprKind::Str(parts) => match parts.as_slice() {
                        [] => Some(format!("{base}[\"\"]")),
                        [StrPart::Text(t)] => Some(format!("{base}[{t:?}]")),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The resource name of an address expression (`db` of `db["eu"]`), the
    /// first of a path into components (`team` of `team["a"].db`).
    pub fn name(e: &Expr) -> Option<&Ident> {
        match &e.kind {
            ExprKind::Ident(id) => Some(id),
            ExprKind::Index(target, _) | ExprKind::Field(target, _) => Moved::name(target),
            _ => None,
        }
    }

    /// The names along an address expression: `team`, `db` of `team["a"].db`.
    pub fn path(e: &Expr) -> Vec<&Ident> {
        match &e.kind {
            ExprKind::Ident(id) => vec![id],
            ExprKind::Index(target, _) => Moved::path(target),
            ExprKind::Field(target, name) => {
                let mut p = Moved::path(target);
                p.push(name);
                p
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum ImportSource {
    /// `import std.aws`
    Std(Ident),
    /// `import "./net.tpt"` (the string as written, without quotes)
    Path { path: String, span: Span },
}

#[derive(Debug, Clone)]
pub struct Import {
    pub source: ImportSource,
    pub alias: Option<Ident>,
}

impl Import {
    /// The name the import binds: the alias, or the last segment of a `std.` import.
    pub fn binding(&self) -> Option<&Ident> {
        match (&self.alias, &self.source) {
            (Some(alias), _) => Some(alias),
            (None, ImportSource::Std(name)) => Some(name),
            (None, ImportSource::Path { .. }) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TypeAlias {
    pub name: Ident,
    pub ty: TypeExpr,
}

#[derive(Debug, Clone)]
pub struct Schema {
    /// `resource schema`: instances are resources managed by a provider.
    pub is_resource: bool,
    pub name: Ident,
    pub extends: Option<QualifiedName>,
    pub fields: Vec<FieldDecl>,
}

#[derive(Debug, Clone)]
pub struct FieldDecl {
    pub docs: Option<String>,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

impl FieldDecl {
    pub fn has_annotation(&self, name: &str) -> bool {
        self.annotations.iter().any(|a| a.name.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct LetItem {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub struct FnItem {
    pub name: Ident,
    pub params: Vec<(Ident, TypeExpr)>,
    pub ret: TypeExpr,
    pub body: Expr,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub name: Ident,
    pub schema: QualifiedName,
    pub body: Vec<Entry>,
    pub body_span: Span,
}

/// `name = expr` inside a resource body.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `for x in xs { resource … }` or `for k, v in m { … }`.
#[derive(Debug, Clone)]
pub struct ForItem {
    pub vars: ForVars,
    pub iter: Expr,
    pub members: Vec<Item>,
}

#[derive(Debug, Clone)]
pub struct ForVars {
    /// `for x in` binds only `first`; `for k, v in` binds both (key/index, value).
    pub first: Ident,
    pub second: Option<Ident>,
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: Ident,
    pub extends: Option<Ident>,
    pub sets: Vec<EnvSet>,
    pub overlays: Vec<Overlay>,
}

/// `param = expr` inside an environment.
#[derive(Debug, Clone)]
pub struct EnvSet {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `resource { field = expr, nested { … } }` inside an environment.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub target: Ident,
    /// `cluster["eu-west-1"] { … }` overlays one stamped instance.
    pub key: Option<Expr>,
    /// `team["a"].db { … }`: the resources inside component instances, after the first.
    pub inner: Vec<OverlaySegment>,
    pub fields: Vec<OverlayField>,
    pub span: Span,
}

/// `.db` or `.db["k"]` of an overlay's address.
#[derive(Debug, Clone)]
pub struct OverlaySegment {
    pub name: Ident,
    pub key: Option<Expr>,
}

impl Overlay {
    /// The address as written, keys shown as `[…]`: `team[…].db`.
    pub fn shown(&self) -> String {
        let mut out = self.target.name.clone();
        if self.key.is_some() {
            out.push_str("[…]");
        }
        for s in &self.inner {
            out.push('.');
            out.push_str(&s.name.name);
            if s.key.is_some() {
                out.push_str("[…]");
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct OverlayField {
    pub name: Ident,
    pub value: OverlayValue,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum OverlayValue {
    /// `field = expr` replaces the value.
    Set(Expr),
    /// `field { … }` merges into a record-valued field.
    Merge(Vec<OverlayField>),
}

/// `name` or `module.name`.
#[derive(Debug, Clone, PartialEq)]
pub struct QualifiedName {
    pub module: Option<Ident>,
    pub name: Ident,
    pub span: Span,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.module {
            Some(m) => write!(f, "{}.{}", m.name, self.name.name),
            None => f.write_str(&self.name.name),
        }
    }
}

// ------------------------------------------------------------------ types

#[derive(Debug, Clone)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum TypeExprKind {
    /// `string`, `Port`, `aws.Region`
    Named(QualifiedName),
    List(Box<TypeExpr>),
    Map(Box<TypeExpr>),
    Record(Vec<FieldDecl>),
    /// `"gp3"`: one string value.
    Literal(String),
    Optional(Box<TypeExpr>),
    Union(Vec<TypeExpr>),
    /// `int(1..65535)`, `float(0.0..)`, `string(1..63)` (length)
    Range {
        base: Ident,
        min: Option<Number>,
        max: Option<Number>,
    },
    /// `string(/^[a-z]+$/)`
    Pattern {
        base: Ident,
        regex: String,
        regex_span: Span,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

// ------------------------------------------------------------------ expressions

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    /// A duration in milliseconds.
    Duration(i64),
    Bool(bool),
    Null,
    Str(Vec<StrPart>),
    Ident(Ident),
    List(Vec<Expr>),
    Record(Vec<RecordEntry>),
    ListComp(Box<Comprehension>),
    MapComp(Box<Comprehension>),
    Field(Box<Expr>, Ident),
    Index(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Let(Ident, Box<Expr>, Box<Expr>),
    Paren(Box<Expr>),
}

#[derive(Debug, Clone)]
pub enum StrPart {
    Text(String),
    Interp(Expr),
}

#[derive(Debug, Clone)]
pub struct RecordEntry {
    pub key: Ident,
    /// Written as a string (`"app.kubernetes.io/name" = …`) rather than a name.
    pub quoted: bool,
    pub value: Expr,
    pub span: Span,
}

/// `[for x in xs : body if cond]` and `{for k, v in m : key => body if cond}`.
#[derive(Debug, Clone)]
pub struct Comprehension {
    pub vars: ForVars,
    pub iter: Expr,
    /// Only for map comprehensions.
    pub key: Option<Expr>,
    pub body: Expr,
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Coalesce,
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Coalesce => 1,
            BinOp::Or => 2,
            BinOp::And => 3,
            BinOp::Eq | BinOp::Ne => 4,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 5,
            BinOp::Add | BinOp::Sub => 6,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 7,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Coalesce => "??",
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

impl Expr {
    /// Calls `f` on this expression and every expression inside it, outer first.
    /// Iterative (an explicit stack), so deep nesting cannot overflow.
    pub fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        // Most values are leaves: no stack to allocate.
        let leaf = match &self.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Duration(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::Ident(_) => true,
            ExprKind::Str(parts) => parts.iter().all(|p| matches!(p, StrPart::Text(_))),
            _ => false,
        };
        if leaf {
            f(self);
            return;
        }
        let mut stack: Vec<&'a Expr> = vec![self];
        while let Some(e) = stack.pop() {
            f(e);
            match &e.kind {
                ExprKind::Int(_)
                | ExprKind::Float(_)
                | ExprKind::Duration(_)
                | ExprKind::Bool(_)
                | ExprKind::Null
                | ExprKind::Ident(_) => {}
                ExprKind::Str(parts) => stack.extend(parts.iter().rev().filter_map(|p| match p {
                    StrPart::Interp(x) => Some(x),
                    StrPart::Text(_) => None,
                })),
                ExprKind::List(xs) => stack.extend(xs.iter().rev()),
                ExprKind::Record(entries) => stack.extend(entries.iter().rev().map(|en| &en.value)),
                ExprKind::ListComp(c) | ExprKind::MapComp(c) => {
                    stack.extend(c.filter.iter());
                    stack.push(&c.body);
                    stack.extend(c.key.iter());
                    stack.push(&c.iter);
                }
                ExprKind::Field(t, _) | ExprKind::Unary(_, t) | ExprKind::Paren(t) => stack.push(t),
                ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) | ExprKind::Let(_, a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                ExprKind::Call(callee, args) => {
                    stack.extend(args.iter().rev());
                    stack.push(callee);
                }
                ExprKind::If(c, t, e2) => {
                    stack.push(e2);
                    stack.push(t);
                    stack.push(c);
                }
            }
        }
    }

    /// `NAME(args)` of a plain name: the name and the arguments.
    pub fn call_of(&self, name: &str) -> Option<&[Expr]> {
        match &self.kind {
            ExprKind::Call(callee, args) => match &callee.kind {
                ExprKind::Ident(id) if id.name == name => Some(args),
                _ => None,
            },
            _ => None,
        }
    }

    /// The text of a string literal without interpolations.
    pub fn plain_string(&self) -> Option<String> {
        match &self.kind {
            ExprKind::Str(parts) => parts
                .iter()
                .map(|p| match p {
                    StrPart::Text(t) => Some(t.as_str()),
                    StrPart::Interp(_) => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat()),
            _ => None,
        }
    }
}

impl Item {
    /// Calls `f` on every expression of the item (and of the items inside it).
    pub fn visit_exprs<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        for a in &self.annotations {
            a.args.iter().for_each(|e| e.visit(f));
        }
        match &self.kind {
            ItemKind::Import(_) | ItemKind::TypeAlias(_) => {}
            ItemKind::Schema(s) => s
                .fields
                .iter()
                .filter_map(|fd| fd.default.as_ref())
                .for_each(|e| e.visit(f)),
            ItemKind::Param(p) => p.default.iter().for_each(|e| e.visit(f)),
            ItemKind::Let(l) => l.value.visit(f),
            ItemKind::Fn(func) => func.body.visit(f),
            ItemKind::Resource(r) => r.body.iter().for_each(|en| en.value.visit(f)),
            ItemKind::For(fi) => {
                fi.iter.visit(f);
                fi.members.iter().for_each(|m| m.visit_exprs(f));
            }
            ItemKind::Environment(env) => {
                env.sets.iter().for_each(|s| s.value.visit(f));
                for o in &env.overlays {
                    o.key.iter().for_each(|e| e.visit(f));
                    o.inner
                        .iter()
                        .filter_map(|s| s.key.as_ref())
                        .for_each(|e| e.visit(f));
                    visit_overlay_fields(&o.fields, f);
                }
            }
            ItemKind::Moved(mv) => {
                mv.from.visit(f);
                mv.to.visit(f);
            }
            ItemKind::Component(c) => c.items.iter().for_each(|i| i.visit_exprs(f)),
            ItemKind::Output(o) => o.value.visit(f),
            ItemKind::ImportBlock(b) => {
                b.to.visit(f);
                b.id.visit(f);
            }
        }
    }
}

fn visit_overlay_fields<'a>(fields: &'a [OverlayField], f: &mut dyn FnMut(&'a Expr)) {
    for field in fields {
        match &field.value {
            OverlayValue::Set(e) => e.visit(f),
            OverlayValue::Merge(inner) => visit_overlay_fields(inner, f),
        }
    }
}
