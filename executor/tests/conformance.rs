//! The conformance of kinds and schemas, without any server: every standard
//! resource schema is held against its kind (`registry::disagreements`) with
//! the sample instances of `tests/conformance/kinds.tpt`, and the test shows
//! that a schema field added without handling fails it.

use std::collections::BTreeSet;

use tpt_executor::apply::desired;
use tpt_executor::provider::registry::{disagreements, Providers, DATA_KINDS, KINDS};
use tpt_lang::Program;

/// Standard resource schemas no kind applies yet (`tpt apply` refuses them
/// with E0801). The list may only shrink: a kind registered for one of them
/// fails this test until it is removed here.
const NOT_APPLIED_YET: &[&str] = &[];

fn sample_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/conformance/kinds.tpt");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(text: &str) -> (Program, tpt_lang::Evaluated) {
    let program = Program::from_text("kinds.tpt", text);
    let diags = tpt_lang::check(&program);
    assert!(diags.is_empty(), "{diags:#?}");
    let evaluated =
        tpt_lang::evaluate(&program, None, &tpt_lang::eval::NoInputs).unwrap_or_else(|d| panic!("{d:#?}"));
    (program, evaluated)
}

#[test]
fn every_standard_resource_schema_agrees_with_its_kind() {
    let (program, evaluated) = load(&sample_text());
    let providers = Providers::default();
    let mut problems = Vec::new();
    let mut sampled = BTreeSet::new();
    for r in &evaluated.resources {
        let Some(kind) = providers.get(&r.kind) else {
            problems.push(format!("`{}` has no kind", r.kind));
            continue;
        };
        sampled.insert(r.kind.clone());
        problems.extend(disagreements(
            program.schema(r.schema),
            kind.as_ref(),
            &desired(r),
        ));
    }
    // Every standard resource schema: sampled (so held against its kind), or
    // honestly not applied yet.
    for s in program
        .schemas
        .iter()
        .filter(|s| s.is_resource && !s.is_data() && s.name.contains('.'))
    {
        let registered = KINDS.iter().any(|k| k.schema == s.name);
        let pending = NOT_APPLIED_YET.contains(&s.name.as_str());
        match (registered, pending) {
            (true, true) => problems.push(format!(
                "`{}` has a kind now: remove it from NOT_APPLIED_YET",
                s.name
            )),
            (false, false) => problems.push(format!(
                "`{}` has no kind and is not listed as not applied yet",
                s.name
            )),
            (true, false) if !sampled.contains(&s.name) => problems.push(format!(
                "`{}` has no instance in tests/conformance/kinds.tpt",
                s.name
            )),
            _ => {}
        }
    }
    assert!(
        problems.is_empty(),
        "kinds and schemas disagree:\n{}",
        problems.join("\n")
    );
}

/// A schema made for the test: `k8s.Namespace` as a copy with one field more
/// (`colour`), which its kind neither updates nor reads.
#[test]
fn a_field_added_without_handling_fails_the_conformance() {
    let text = r#"
import std.k8s

resource schema Namespace {
  @replace cluster: k8s.Cluster
  @replace name: k8s.Name
  labels: {string: string} = {}
  colour: string = "blue"
  @output created: string
}

resource dev: k8s.KubeconfigCluster { context = "dev" }
resource team: Namespace { cluster = dev, name = "team" }
"#;
    let (program, evaluated) = load(text);
    let providers = Providers::default();
    let kind = providers
        .get("k8s.Namespace")
        .unwrap_or_else(|| panic!("no Namespace kind"));
    let team = evaluated
        .resources
        .iter()
        .find(|r| r.address == "team")
        .unwrap_or_else(|| panic!("no `team`"));
    let problems = disagreements(program.schema(team.schema), kind.as_ref(), &desired(team));
    assert_eq!(
        problems,
        [
            "`Namespace.colour` is neither `@replace`, `@setting`, nor updated in place by its kind: a change of it would be recorded and never sent",
            "`Namespace.created` is an `@output` its kind does not produce",
            "`Namespace.colour` is never read by its kind: a value set there would be recorded and never sent",
        ]
    );
}

/// The kinds map Threeport's sizes as `std.aws` does: one table each, held equal.
#[test]
fn size_tables_agree_with_the_standard_library() {
    let sizes = ["Small", "Medium", "Large", "XLarge", "2XLarge", "4XLarge"];
    let params: String = sizes
        .iter()
        .map(|s| {
            format!(
                "param node_{0}: string = aws.instance_type_of(\"{s}\")\nparam db_{0}: string = aws.instance_class_of(\"{s}\")\n",
                s.to_lowercase()
            )
        })
        .collect();
    let (_, evaluated) = load(&format!("import std.aws\n{params}"));
    for s in sizes {
        let node = evaluated
            .params
            .get(&format!("node_{}", s.to_lowercase()))
            .map(|v| v.to_json());
        let db = evaluated
            .params
            .get(&format!("db_{}", s.to_lowercase()))
            .map(|v| v.to_json());
        assert_eq!(
            node.as_ref().and_then(|v| v.as_str()),
            tpt_executor::provider::aws::eks::instance_type_of(s),
            "node size {s}"
        );
        assert_eq!(
            db.as_ref().and_then(|v| v.as_str()),
            tpt_executor::provider::aws::rds::instance_class_of(s),
            "database size {s}"
        );
    }
}

/// Every `@data` schema of the standard library has a reader, and every reader
/// a `@data` schema.
#[test]
fn every_data_lookup_schema_has_a_reader() {
    let text = tpt_lang::stdlib::MODULES
        .iter()
        .map(|(name, _, _)| format!("import std.{name}\n"))
        .collect::<String>();
    let (program, _) = load(&text);
    let data: BTreeSet<&str> = program
        .schemas
        .iter()
        .filter(|s| s.is_data() && s.name.contains('.'))
        .map(|s| s.name.as_str())
        .collect();
    let readers: BTreeSet<&str> = DATA_KINDS.iter().map(|k| k.schema).collect();
    assert_eq!(data, readers);
    let providers = Providers::default();
    assert!(readers.iter().all(|r| providers.data(r).is_some()));
}
