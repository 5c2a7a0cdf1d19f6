//! Inputs kept from fuzzing (`lang/fuzz`) and hand-made hostile inputs: each
//! file under `lang/tests/fuzz/` goes through the whole front end — parse,
//! format, load, check, evaluate every environment — which must not panic.

use std::path::Path;

use tpt_lang::eval::NoInputs;
use tpt_lang::source::FileId;
use tpt_lang::{check, evaluate, Program};

fn front_end(src: &str) {
    let _ = tpt_lang::fmt::format_source(FileId(0), src);
    let program = Program::from_text("main.tpt", src);
    let diags = check(&program);
    // `tpt check` evaluates beside the type check and stops the evaluation
    // of an ill-typed program when the check ends: ill-typed programs are
    // evaluated too, on a small budget standing in for that stop.
    let ill_typed = Budgeted(tpt_lang::eval::Budget {
        steps: 100_000,
        bytes: 16 << 20,
    });
    let inputs: &dyn tpt_lang::Inputs = if diags.iter().any(|d| d.is_error()) {
        &ill_typed
    } else {
        &NoInputs
    };
    let envs: Vec<String> = program
        .module(program.root())
        .environments
        .keys()
        .cloned()
        .collect();
    if envs.is_empty() {
        let _ = evaluate(&program, None, inputs);
    }
    for env in envs {
        let _ = evaluate(&program, Some(&env), inputs);
    }
}

#[test]
fn kept_inputs_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        front_end(&String::from_utf8_lossy(&bytes));
        n += 1;
    }
    assert!(n > 0, "no inputs in {}", dir.display());
}

#[test]
fn hostile_inputs_do_not_panic() {
    // Too deep or too long is a syntax error, not a stack overflow.
    let (_, d) = tpt_lang::syntax::parse(
        FileId(0),
        &format!("let x = {}1{}", "(".repeat(65), ")".repeat(65)),
    );
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("nesting too deep"));
    let deep_list = format!("let x = {}1{}", "[".repeat(200), "]".repeat(200));
    let deep_parens = format!("let x = {}1{}", "(".repeat(200), ")".repeat(200));
    let long_chain = format!("let x = {}1", "1 + ".repeat(300));
    let deeper = format!("let x = {}1{}", "[".repeat(70), "]".repeat(70));
    let many = "resource schema S { a: int = 1 }\n".to_string() + &"resource r: S {}\n".repeat(3);
    for src in [
        deep_list.as_str(),
        deep_parens.as_str(),
        many.as_str(),
        long_chain.as_str(),
        deeper.as_str(),
        "let a = 9223372036854775807 + 1",
        "let a = -9223372036854775807 - 2",
        "let a = 1 / 0",
        "let a = 1.0 / 0",
        "let a = range(-5)",
        "let a = [for x in range(1000) : range(1000)]",
        "let s = \"${\"${\"${1}\"}\"}\"",
        "type T = string(/(?P<x>/)",
        "type A = B\ntype B = A\nparam p: A = 1",
        "schema A extends B {}\nschema B extends A {}",
        "fn f(x: int): int = g(x)\nfn g(x: int): int = f(x)\nlet y = f(1)",
        "environment a extends a { }",
        "param n: int = 1\nenvironment c extends a { n = 3 }\nenvironment a extends b { n = 2 }\nenvironment b extends a { }",
        "resource schema S { @output o: string }\nresource r: S { }\nlet x = r.o.p.q[1]",
        "import \"./main.tpt\" as me",
        "import std.nothing",
        "let m = {for k, v in {a = 1, b = 2} : \"k\" => v}",
        "\u{feff}let x = 1",
        "let x = \"\u{0}\"",
        // Ill-typed, evaluated anyway (see `front_end`).
        "component C {\n  resource c: C {}\n}\nresource x: C {}",
        "component C {\n  param n: int\n  resource c: C { n = n + 1 }\n}\nresource x: C { n = 1 }",
        "let a = b\nlet b = a\noutput o: int = a",
        "let a = 1 + \"x\"\noutput o: string = a",
        "resource schema S { a: int }\nresource r: S { a = r.a }",
        "let xs = [for x in 5 : x]\nlet m = {for k in [1] : k => 1}",
        "fn f(x: int): int = f(x)\noutput o: int = f(1)",
        "let r = {a = 1}\nlet x = r.b.c\nlet y = r[0]\nlet z = [1][\"k\"]",
    ] {
        front_end(src);
    }
}

/// Parse and check `src` on a thread with a small stack (smaller than the
/// 2 MiB of test and language-server threads), then evaluate it when it
/// checked; returns the messages of the errors.
fn on_small_stack(src: String) -> Vec<String> {
    let run = move || {
        let program = Program::from_text("main.tpt", &src);
        let diags = check(&program);
        let mut out: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        if out.is_empty() {
            if let Err(d) = evaluate(&program, None, &NoInputs) {
                out.extend(d.iter().filter(|d| d.is_error()).map(|d| d.message.clone()));
            }
        }
        let _ = tpt_lang::fmt::format_source(FileId(0), &src);
        out
    };
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(run)
        .expect("a thread can be started")
        .join()
        .expect("the front end does not panic")
}

/// The hostile shapes of issue 14: each is a diagnostic or checks cleanly,
/// never a stack overflow (which would abort this test binary).
#[test]
fn hostile_shapes_are_diagnostics_not_crashes() {
    const N: usize = 10_000;
    let nesting = "nesting too deep";
    let expr_deep = "expression too deep";
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        (
            "else-if chain",
            format!("let x = {}0\n", "if true then 1 else ".repeat(N)),
            Some(nesting),
        ),
        (
            "then-if chain",
            format!("let x = {}0{}\n", "if true then ".repeat(N), " else 1".repeat(N)),
            Some(nesting),
        ),
        (
            "let-in chain",
            format!(
                "let x = {}0\n",
                (0..N).map(|i| format!("let a{i} = 1 in ")).collect::<String>()
            ),
            Some(nesting),
        ),
        (
            "nested block comments",
            format!("{}{}\nlet x = 1\n", "/*".repeat(N), "*/".repeat(N)),
            Some(nesting),
        ),
        (
            "field chain",
            format!("let r = {{ a = 1 }}\nlet x = r{}\n", ".a".repeat(N)),
            Some(expr_deep),
        ),
        (
            "index chain",
            format!("let r = [1]\nlet x = r{}\n", "[0]".repeat(N)),
            Some(expr_deep),
        ),
        (
            "call chain",
            format!("let x = f{}\n", "()".repeat(N)),
            Some(expr_deep),
        ),
        (
            "negations",
            format!("let x = {}true\n", "!".repeat(N)),
            Some(expr_deep),
        ),
        (
            "let chain",
            format!(
                "let a0 = 0\n{}output last: int = a{}\n",
                (1..N)
                    .map(|i| format!("let a{i} = a{} + 1\n", i - 1))
                    .collect::<String>(),
                N - 1
            ),
            None,
        ),
        (
            "function chain",
            format!(
                "fn f0(x: int): int = x\n{}output last: int = f{}(1)\n",
                (1..N)
                    .map(|i| format!("fn f{i}(x: int): int = f{}(x)\n", i - 1))
                    .collect::<String>(),
                N - 1
            ),
            Some("function calls nest too deeply"),
        ),
        (
            "alias chain",
            format!(
                "type T0 = string\n{}output last: T{} = \"a\"\n",
                (1..N)
                    .map(|i| format!("type T{i} = T{}\n", i - 1))
                    .collect::<String>(),
                N - 1
            ),
            None,
        ),
        (
            "schema chain",
            format!(
                "schema S0 {{ a: string }}\n{}",
                (1..N)
                    .map(|i| format!("schema S{i} extends S{} {{ }}\n", i - 1))
                    .collect::<String>()
            ),
            None,
        ),
        (
            "values nested by a let chain",
            format!(
                "let a0 = []\n{}output last: int = length(a{})\n",
                (1..N)
                    .map(|i| format!("let a{i} = [a{}]\n", i - 1))
                    .collect::<String>(),
                N - 1
            ),
            Some("nests more than 100 levels deep"),
        ),
    ];
    for (name, src, expected) in cases {
        let errors = on_small_stack(src);
        match expected {
            None => assert!(errors.is_empty(), "{name}: {errors:?}"),
            Some(e) => assert!(
                errors.iter().any(|m| m.contains(e)),
                "{name}: expected an error containing {e:?}, got {errors:?}"
            ),
        }
    }
}

/// Inputs with a small evaluation budget.
struct Budgeted(tpt_lang::eval::Budget);

impl tpt_lang::Inputs for Budgeted {
    fn env_var(&self, _: &str) -> Option<String> {
        None
    }

    fn budget(&self) -> tpt_lang::eval::Budget {
        self.0
    }
}

/// Each collection is bounded on its own; the budget bounds the whole
/// evaluation, in steps and in bytes, and names what was being built.
#[test]
fn the_evaluation_budget_stops_nested_comprehensions() {
    let budget = tpt_lang::eval::Budget {
        steps: 1_000_000,
        bytes: 64 << 20,
    };
    for (src, limit) in [
        ("let grid = [for x in range(1000000): [for y in range(1000000): x * y]]\noutput n: int = len(grid)\n", "steps"),
        ("let rows = [for x in range(1000): range(1000000)]\noutput n: int = len(rows)\n", "bytes"),
    ] {
        let program = Program::from_text("main.tpt", src);
        assert!(check(&program).is_empty());
        let Err(diags) = tpt_lang::evaluate(&program, None, &Budgeted(budget)) else {
            panic!("the budget stops `{src}`");
        };
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].code, tpt_lang::Code::LimitExceeded);
        assert!(
            diags[0].message.contains("budget exceeded while building `let ") && diags[0].message.contains(limit),
            "{}",
            diags[0].message
        );
    }
}

/// What the nesting scan must not mistake for nesting: many `let` items in a
/// component body, long lists of `if`s, multi-line `let … in` chains within
/// the limit, regexes with brackets.
#[test]
fn flat_shapes_are_not_nesting() {
    let component_lets = format!(
        "component C {{\n  param p: int\n{}  output last: int = l99\n}}\n",
        (0..100)
            .map(|i| format!("  let l{i} = {i} + p\n"))
            .collect::<String>()
    );
    let ifs = format!(
        "let xs = [{}]\n",
        (0..200)
            .map(|i| format!("if {i} > 5 then 1 else 0"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let record_ifs = format!(
        "let r = {{\n{}}}\n",
        (0..200)
            .map(|i| format!("  f{i} = if {i} > 5 then 1 else 0\n"))
            .collect::<String>()
    );
    let let_in = format!(
        "let v =\n{}  0\n",
        (0..30)
            .map(|i| format!("  let a{i} = {i} in\n"))
            .collect::<String>()
    );
    let regex = "type T = string(/^[(][{]+$/)\nlet x: T = \"({{\"\n".to_string();
    for src in [component_lets, ifs, record_ifs, let_in, regex] {
        let (_, d) = tpt_lang::syntax::parse(FileId(0), &src);
        assert!(d.is_empty(), "{d:?}\n{src}");
    }
}
