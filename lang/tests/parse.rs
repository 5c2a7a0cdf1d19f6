//! Parser behaviour that the ui snapshots do not show: recovery keeps what
//! parsed, spans point at the source, literals and text blocks decode, and
//! operator precedence.

use tpt_lang::source::FileId;
use tpt_lang::syntax::ast::{BinOp, ExprKind, ItemKind, StrPart};
use tpt_lang::syntax::parse;

fn items(src: &str) -> Vec<ItemKind> {
    let (file, diags) = parse(FileId(0), src);
    assert!(diags.is_empty(), "unexpected errors: {diags:#?}");
    file.items.into_iter().map(|i| i.kind).collect()
}

fn let_value(src: &str) -> ExprKind {
    match items(src).into_iter().next() {
        Some(ItemKind::Let(l)) => l.value.kind,
        other => panic!("expected a let, got {other:?}"),
    }
}

#[test]
fn every_error_is_reported_and_the_rest_is_kept() {
    let src = "param a: int = \nparam b: string = \"ok\"\nresource x: S { y = }\nlet c = 1 +\nlet d = 2\n";
    let (file, diags) = parse(FileId(0), src);
    assert_eq!(diags.len(), 3, "{diags:#?}");
    let names: Vec<String> = file
        .items
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::Param(p) => Some(p.name.name.clone()),
            ItemKind::Let(l) => Some(l.name.name.clone()),
            _ => None,
        })
        .collect();
    // Each item keeps what parsed before its error.
    assert_eq!(names, ["a", "b", "c", "d"]);
    for d in &diags {
        assert_eq!(d.code.as_str(), "E0001");
        assert!(d.help.is_some());
        assert!(d.primary_span().is_some());
    }
}

#[test]
fn spans_point_at_the_source() {
    let src = "let greeting = \"hi\"\n";
    let (file, _) = parse(FileId(0), src);
    let Some(ItemKind::Let(l)) = file.items.first().map(|i| &i.kind) else {
        panic!("no let")
    };
    assert_eq!(&src[l.name.span.range()], "greeting");
    assert_eq!(&src[l.value.span.range()], "\"hi\"");
}

#[test]
fn precedence_and_associativity() {
    // 1 + 2 * 3 - 4  ==  (1 + (2 * 3)) - 4
    let ExprKind::Binary(BinOp::Sub, l, r) = let_value("let x = 1 + 2 * 3 - 4") else {
        panic!()
    };
    assert!(matches!(r.kind, ExprKind::Int(4)));
    let ExprKind::Binary(BinOp::Add, _, m) = l.kind else {
        panic!()
    };
    assert!(matches!(m.kind, ExprKind::Binary(BinOp::Mul, _, _)));
    // a || b && c  ==  a || (b && c)
    let ExprKind::Binary(BinOp::Or, _, r) = let_value("let x = a || b && c") else {
        panic!()
    };
    assert!(matches!(r.kind, ExprKind::Binary(BinOp::And, _, _)));
    // -x.y  ==  -(x.y)
    let ExprKind::Unary(_, inner) = let_value("let x = -a.b") else {
        panic!()
    };
    assert!(matches!(inner.kind, ExprKind::Field(_, _)));
}

#[test]
fn literals_decode() {
    assert!(matches!(
        let_value("let x = 1h30m"),
        ExprKind::Duration(5_400_000)
    ));
    assert!(matches!(let_value("let x = 250ms"), ExprKind::Duration(250)));
    assert!(matches!(let_value("let x = 1_000"), ExprKind::Int(1000)));
    assert!(matches!(
        let_value("let x = -9223372036854775807"),
        ExprKind::Int(-9223372036854775807)
    ));
    let ExprKind::Str(parts) = let_value(r#"let x = "a\tb\u{e9}\${c}""#) else {
        panic!()
    };
    assert!(matches!(parts.as_slice(), [StrPart::Text(t)] if t == "a\tbé${c}"));
}

#[test]
fn bad_literals_are_diagnostics() {
    let (_, diags) = parse(
        FileId(0),
        "let x = 99999999999999999999\nlet y = \"\\u{110000}\"\n",
    );
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0002", "E0002"]);
}

#[test]
fn text_blocks_are_dedented() {
    let src = "let m = \"\"\"\n    kind: ConfigMap\n    data:\n      a: ${x}\n  \"\"\"\n";
    let ExprKind::Str(parts) = let_value(src) else {
        panic!()
    };
    let text: String = parts
        .iter()
        .map(|p| match p {
            StrPart::Text(t) => t.clone(),
            StrPart::Interp(_) => "<x>".into(),
        })
        .collect();
    assert_eq!(text, "kind: ConfigMap\ndata:\n  a: <x>\n");
}

#[test]
fn garbage_never_panics() {
    for src in [
        "",
        "}",
        "{{{{",
        "resource",
        "@",
        "\"",
        "\"\"\"",
        "/* unterminated",
        "let x = [for",
        "é",
        "\u{0}",
    ] {
        let _ = parse(FileId(0), src);
    }
}

#[test]
fn large_files_parse_in_chunks_with_the_same_result() {
    // Big enough for the parallel path; a text block holds lines that look like
    // item starts, so some split may fall inside it and must fall back.
    let mut src = String::new();
    for i in 0..4000 {
        src.push_str(&format!(
            "resource r{i}: S {{\n  name = \"r{i}\"\n  n = {i}\n}}\n\n"
        ));
        if i % 1000 == 500 {
            src.push_str("let manifest = \"\"\"\nresource fake: S {\n\"\"\"\n\n");
        }
    }
    let (file, diags) = parse(FileId(0), &src);
    assert!(diags.is_empty());
    assert_eq!(file.items.len(), 4004);
    let ItemKind::Resource(last) = &file.items[4003].kind else {
        panic!("not a resource")
    };
    assert_eq!(&src[last.name.span.range()], "r3999");
}

#[test]
fn a_doc_comment_after_a_value_is_not_a_division() {
    let src = "schema S {\n  a: int = 1\n  /// the b\n  b: int = 2\n}\n";
    let (file, diags) = parse(FileId(0), src);
    assert!(diags.is_empty(), "{diags:#?}");
    let Some(ItemKind::Schema(s)) = file.items.first().map(|i| &i.kind) else {
        panic!()
    };
    assert_eq!(s.fields.len(), 2);
    assert_eq!(s.fields[1].docs.as_deref(), Some("the b"));
    assert!(matches!(
        let_value("let x = 6 / 2"),
        ExprKind::Binary(BinOp::Div, _, _)
    ));
}
