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

use std::collections::HashMap;

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
}

impl<'p> Checker<'p> {
    fn new(p: &'p Program) -> Self {
        Checker {
            p,
            diags: Vec::new(),
            locals: Vec::new(),
            lets: HashMap::new(),
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
