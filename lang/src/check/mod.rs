//! The static type checker. Runs before evaluation and collects every error of
//! the program: unknown names and fields (with "did you mean"), type mismatches,
//! refinement violations on literals, secrets flowing into plain fields, missing
//! fields, wrong overlays, recursion in functions and cycles of `let`s.
//!
//! Submodules: `expr` infers the type of expressions, `assign` decides
//! assignability and checks literals against refinements, `items` checks
//! declarations (resources, params, schemas), `envs` checks environments and
//! overlays, `cycles` finds recursion among functions.

mod assign;
mod cycles;
mod envs;
mod expr;
mod items;

use foldhash::{HashMap, HashMapExt};

pub(crate) use assign::describe as describe_refinement;

use crate::diagnostic::{sort_diagnostics, Diagnostic};
use crate::program::{ModuleId, Program};
use crate::types::Ty;

/// Checks a loaded program: returns the loading diagnostics plus every type
/// error, sorted by location. An empty list of errors means the program is
/// well-typed and may be evaluated.
pub fn check(program: &Program) -> Vec<Diagnostic> {
    let mut checker = Checker::new(program);
    checker.run();
    let mut diags = program.diagnostics.clone();
    diags.extend(checker.diags);
    sort_diagnostics(&mut diags);
    diags
}

/// State of inferring a top-level `let`'s type (for cycles and memoising).
#[derive(Clone)]
enum LetState {
    InProgress,
    Done(Ty),
}

pub(crate) struct Checker<'p> {
    p: &'p Program,
    diags: Vec<Diagnostic>,
    /// Local variables, innermost last.
    locals: Vec<(String, Ty)>,
    lets: HashMap<(ModuleId, String), LetState>,
    /// How many `infer`s are running inside one another (see `stack::due`).
    nest: usize,
}

impl<'p> Checker<'p> {
    fn new(p: &'p Program) -> Self {
        Checker {
            p,
            diags: Vec::new(),
            locals: Vec::new(),
            lets: HashMap::new(),
            nest: 0,
        }
    }

    fn run(&mut self) {
        let ids: Vec<ModuleId> = (0..self.p.modules.len()).map(|i| ModuleId(i as u32)).collect();
        for m in ids {
            self.check_module(m);
        }
        self.check_recursion();
        envs::check_environments(self);
    }

    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn show(&self, ty: &Ty) -> String {
        self.p.show(ty)
    }

    fn with_locals<T>(&mut self, vars: Vec<(String, Ty)>, f: impl FnOnce(&mut Self) -> T) -> T {
        let n = vars.len();
        self.locals.extend(vars);
        let out = f(self);
        let keep = self.locals.len().saturating_sub(n);
        self.locals.truncate(keep);
        out
    }

    fn local(&self, name: &str) -> Option<&Ty> {
        self.locals.iter().rev().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Types of expressions for editors (hover, completion, go to definition):
/// the checker's inference without its diagnostics. The types of `let`s are
/// inferred once and kept across calls.
pub struct Types<'p> {
    checker: Checker<'p>,
}

impl<'p> Types<'p> {
    pub fn new(program: &'p Program) -> Self {
        Types {
            checker: Checker::new(program),
        }
    }

    /// The type of `e` in module `m`, with `locals` (innermost last) in scope.
    pub fn type_of(&mut self, m: ModuleId, locals: &[(String, Ty)], e: &crate::syntax::ast::Expr) -> Ty {
        let saved = std::mem::replace(&mut self.checker.locals, locals.to_vec());
        let ty = self.checker.infer_quiet(m, e);
        self.checker.locals = saved;
        self.checker.diags.clear();
        ty
    }

    /// The type of the top-level `let NAME` of module `m`.
    pub fn let_type(&mut self, m: ModuleId, name: &str) -> Ty {
        let ty = self.checker.let_type(m, name);
        self.checker.diags.clear();
        ty
    }

    /// The variables `for VARS in …` binds over a value of type `iter`.
    pub fn loop_vars(vars: &crate::syntax::ast::ForVars, iter: &Ty) -> Vec<(String, Ty)> {
        expr::loop_bindings(vars, iter).0
    }
}
