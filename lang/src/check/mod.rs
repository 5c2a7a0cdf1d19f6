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
    /// Set while a fix is being worked out: the types it asks for (of
    /// resources stamped over a list) may meet the same unknown name again,
    /// which must not ask again.
    fixing: bool,
    /// Resources whose `for` lists are being typed; met again, a list reads
    /// the instances it stamps: kept apart and reported at the end (the
    /// inference that meets it may be quiet; `check` drops the repeats).
    stamping: Vec<(ModuleId, String)>,
    stamp_cycles: Vec<Diagnostic>,
}

impl<'p> Checker<'p> {
    fn new(p: &'p Program) -> Self {
        Checker {
            p,
            diags: Vec::new(),
            locals: Vec::new(),
            lets: HashMap::new(),
            nest: 0,
            fixing: false,
            stamping: Vec::new(),
            stamp_cycles: Vec::new(),
        }
    }

    fn run(&mut self) {
        let ids: Vec<ModuleId> = (0..self.p.modules.len()).map(|i| ModuleId(i as u32)).collect();
        for m in ids {
            self.check_module(m);
        }
        self.check_recursion();
        envs::check_environments(self);
        let cycles = std::mem::take(&mut self.stamp_cycles);
        self.diags.extend(cycles);
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

#[cfg(test)]
mod fix_tests {
    //! Quick fixes: each applied to the source mends its diagnostic.

    use super::check;
    use crate::diagnostic::{Code, Diagnostic};
    use crate::Program;

    fn diagnostics(src: &str) -> Vec<Diagnostic> {
        check(&Program::from_text("main.tpt", src))
    }

    /// `src` with the edits of the first fix of the first diagnostic with `code`.
    fn fixed(src: &str, code: Code) -> (String, String, bool) {
        let d = diagnostics(src)
            .into_iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("no {code:?} in {src}"));
        let fix = d.fixes.first().unwrap_or_else(|| panic!("no fix for {d:#?}"));
        let mut out = src.to_string();
        let mut edits = fix.edits.clone();
        edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
        for (span, text) in edits {
            out.replace_range(span.start as usize..span.end as usize, &text);
        }
        (out, fix.title.clone(), fix.preferred)
    }

    const SCHEMAS: &str = "resource schema Cluster {\n  name: string\n}\n\nresource schema Db {\n  cluster: Cluster\n  port: int(1150..65535)\n  engine: \"pg\" | \"mysql\"\n  ha: bool\n  backup: duration\n  note: string = \"\"\n}\n\n";

    #[test]
    fn missing_fields_are_added_with_values_of_their_types() {
        let src =
            format!("{SCHEMAS}resource main: Cluster {{\n  name = \"m\"\n}}\n\nresource db: Db {{\n}}\n");
        let (out, title, preferred) = fixed(&src, Code::MissingField);
        assert_eq!(
            title,
            "Add the missing fields `cluster`, `port`, `engine`, `ha`, `backup`"
        );
        assert!(preferred);
        assert!(
            out.ends_with("resource db: Db {\n  cluster = main\n  port = 1150\n  engine = \"pg\"\n  ha = false\n  backup = 0s\n}\n"),
            "{out}"
        );
        assert_eq!(diagnostics(&out), vec![]);
    }

    #[test]
    fn a_quoted_value_is_unquoted_and_a_number_quoted() {
        let cases = [
            ("port = \"5432\"", "port = 5432"),
            ("ha = \"true\"", "ha = true"),
            ("backup = \"30s\"", "backup = 30s"),
            ("note = 5", "note = \"5\""),
        ];
        for (wrong, right) in cases {
            let body = "  cluster = main\n  port = 5432\n  engine = \"pg\"\n  ha = false\n  backup = 1h\n";
            let key = wrong.split(' ').next().unwrap_or_default();
            let body: String = body
                .lines()
                .filter(|l| !l.trim_start().starts_with(key))
                .map(|l| format!("{l}\n"))
                .collect();
            let src = format!("{SCHEMAS}resource main: Cluster {{\n  name = \"m\"\n}}\n\nresource db: Db {{\n{body}  {wrong}\n}}\n");
            let (out, _, preferred) = fixed(&src, Code::TypeMismatch);
            assert!(preferred);
            assert!(out.contains(right), "{wrong}: {out}");
            assert_eq!(diagnostics(&out), vec![], "{wrong}: {out}");
        }
        // A string that is no number is not unquoted.
        let src = format!("{SCHEMAS}resource main: Cluster {{\n  name = \"m\"\n}}\n\nresource db: Db {{\n  cluster = main\n  port = \"54x\"\n  engine = \"pg\"\n  ha = false\n  backup = 1h\n}}\n");
        let d = diagnostics(&src);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(d[0].fixes.is_empty(), "{d:#?}");
    }

    #[test]
    fn did_you_mean_prefers_a_name_of_the_expected_type() {
        // `porr` is closer to `port` (an int), but a string is expected.
        let src = "param port: int = 1\nparam post: string = \"x\"\n\nresource schema S {\n  name: string\n}\n\nresource s: S {\n  name = porr\n}\n";
        let (out, title, preferred) = fixed(src, Code::UnknownName);
        assert_eq!(title, "Replace with `post`");
        assert!(preferred);
        assert_eq!(diagnostics(&out), vec![]);
    }

    #[test]
    fn an_unknown_name_of_no_fitting_spelling_is_declared_as_a_param() {
        // `main` is spelled alike but is a cluster where a string is expected.
        let src = format!("{SCHEMAS}resource main: Cluster {{\n  name = domain\n}}\n");
        let all = diagnostics(&src);
        let d = all.iter().find(|d| d.code == Code::UnknownName);
        let titles: Vec<(&str, bool)> = d
            .map(|d| d.fixes.iter().map(|f| (f.title.as_str(), f.preferred)).collect())
            .unwrap_or_default();
        assert_eq!(
            titles,
            vec![
                ("Declare `param domain: string`", true),
                ("Replace with `main`", false)
            ]
        );
        let (out, _, _) = fixed(&src, Code::UnknownName);
        assert!(
            out.starts_with("param domain: string\n\nresource schema Cluster"),
            "{out}"
        );
        // The declared param has no default: the configuration now asks for it.
        assert!(
            diagnostics(&out).iter().all(|d| d.code != Code::UnknownName),
            "{out}"
        );
    }

    #[test]
    fn a_standard_module_used_without_its_import_is_imported() {
        for src in [
            "import std.k8s\n\nresource z: aws.HostedZone {\n  name = \"acme.io\"\n}\n",
            "let r = aws.region_of(\"Europe:Ireland\")\n",
        ] {
            let (out, title, preferred) = fixed(src, Code::UnknownName);
            assert_eq!(title, "Add `import std.aws`");
            assert!(preferred);
            assert!(out.contains("import std.aws\n"), "{out}");
            assert_eq!(diagnostics(&out), vec![], "{out}");
        }
    }
}
