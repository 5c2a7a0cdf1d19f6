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
    if diags.iter().any(|d| d.is_error()) {
        return;
    }
    let envs: Vec<String> = program
        .module(program.root())
        .environments
        .keys()
        .cloned()
        .collect();
    if envs.is_empty() {
        let _ = evaluate(&program, None, &NoInputs);
    }
    for env in envs {
        let _ = evaluate(&program, Some(&env), &NoInputs);
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
        "resource schema S { @output o: string }\nresource r: S { }\nlet x = r.o.p.q[1]",
        "import \"./main.tpt\" as me",
        "import std.nothing",
        "let m = {for k, v in {a = 1, b = 2} : \"k\" => v}",
        "\u{feff}let x = 1",
        "let x = \"\u{0}\"",
    ] {
        front_end(src);
    }
}
