//! Plans for the scenarios of the planner: fresh create, in-place update, a
//! change that forces replacement, removal, a changed secret, an unknown value,
//! a long text. The state is what an apply of the first configuration would
//! have recorded; the plan is made for the second. Expected plans are in
//! `planner/tests/plans/` (`BLESS=1` rewrites them).

use std::collections::HashMap;
use std::path::PathBuf;

use tpt_lang::{check, evaluate, Program};
use tpt_planner::graph;
use tpt_planner::plan::{self, Plan};
use tpt_planner::state::{record, Sealer, State};

const SCHEMAS: &str = r#"
resource schema Db {
  @replace engine: "postgres" | "mysql"
  size: string = "small"
  password: secret
  @output url: secret
}
resource schema App {
  image: string
  replicas: int = 1
  env: {string: secret} = {}
  manifest: string = ""
}
"#;

fn evaluated(src: &str, password: &str) -> (Program, Vec<tpt_lang::ResourceInstance>) {
    let program = Program::from_text("main.tpt", &format!("{SCHEMAS}\n{src}"));
    let diags = check(&program);
    assert!(diags.is_empty(), "{diags:#?}");
    let inputs: HashMap<String, String> = [("DB_PASSWORD".to_string(), password.to_string())]
        .into_iter()
        .collect();
    let ev = evaluate(&program, None, &inputs).unwrap_or_else(|d| panic!("{d:#?}"));
    (program, ev.resources)
}

/// The state an apply of `src` would record.
fn applied(src: &str, password: &str, sealer: &Sealer) -> State {
    let (_, resources) = evaluated(src, password);
    let mut state = State::new("prod", "11111111-2222-4333-8444-555555555555".into());
    state.serial = 7;
    for r in resources {
        let recorded = record(&r, &format!("id-{}", r.address), None, sealer);
        state.resources.insert(r.address.clone(), recorded);
    }
    state
}

fn plan_for(src: &str, password: &str, state: &State, sealer: &Sealer) -> Plan {
    let (program, resources) = evaluated(src, password);
    let g = graph::build(&resources).unwrap_or_else(|d| panic!("{d:#?}"));
    plan::diff(&program, "prod", &resources, &g, state, sealer)
}

fn snapshot(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/plans")
        .join(format!("{name}.txt"));
    if std::env::var_os("BLESS").is_some() {
        let _ = std::fs::write(&path, text);
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(text, expected, "{} (BLESS=1 rewrites it)", path.display());
}

const V1: &str = r#"
resource db: Db { engine = "postgres", password = secret_env("DB_PASSWORD") }
resource web: App {
  image = "shop:1.0"
  env = { DATABASE_URL = db.url, MODE = "prod" }
  manifest = """
    kind: ConfigMap
    data:
      a: "1"
      b: "2"
  """
}
resource old: App { image = "legacy:3" }
"#;

#[test]
fn scenarios() {
    let sealer = Sealer::new(b"test key");
    let empty = State::new("prod", String::new());

    // Fresh create: everything is new; outputs are known after apply.
    let fresh = plan_for(V1, "hunter2", &empty, &sealer);
    snapshot("fresh-create", &plan::to_text(&fresh));
    assert_eq!(
        (fresh.count(plan::Action::Create), fresh.has_changes()),
        (3, true)
    );

    // Nothing changed: no changes. (Fields computed from outputs are unknown until
    // evaluation receives the recorded outputs, so this configuration reads none.)
    let plain = "resource db: Db { engine = \"postgres\", password = secret_env(\"DB_PASSWORD\") }\nresource web: App { image = \"shop:1.0\" }\n";
    let plain_state = applied(plain, "hunter2", &sealer);
    let same = plan_for(plain, "hunter2", &plain_state, &sealer);
    assert!(!same.has_changes());
    snapshot("no-change", &plan::to_text(&same));

    let state = applied(V1, "hunter2", &sealer);

    // In-place update, replacement, removal, a changed secret, a changed manifest.
    let v2 = V1
        .replace("image = \"shop:1.0\"", "image = \"shop:1.1\", replicas = 3")
        .replace("engine = \"postgres\"", "engine = \"mysql\"")
        .replace("resource old: App { image = \"legacy:3\" }", "")
        .replace("b: \"2\"", "b: \"3\"");
    let changed = plan_for(&v2, "swordfish", &state, &sealer);
    let text = plan::to_text(&changed);
    snapshot("changes", &text);
    snapshot("changes-markdown", &plan::to_markdown(&changed));
    snapshot(
        "changes-json",
        &(serde_json::to_string_pretty(&plan::to_json(&changed)).unwrap_or_default() + "\n"),
    );
    assert!(text.contains("`engine` forces replacement"));
    // No secret, in no rendering.
    for rendering in [
        text,
        plan::to_markdown(&changed),
        plan::to_json(&changed).to_string(),
        state.to_json(),
    ] {
        assert!(
            !rendering.contains("hunter2") && !rendering.contains("swordfish"),
            "{rendering}"
        );
    }
    // A changed secret alone is a change, shown as sensitive.
    let secret_only = plan_for(V1, "swordfish", &state, &sealer);
    snapshot("secret-change", &plan::to_text(&secret_only));

    // A rename with a `moved` block keeps the object: no delete, no create.
    let before = "resource web: App { image = \"shop:1.0\" }\n";
    let after = "resource storefront: App { image = \"shop:1.0\" }\nmoved { from = web, to = storefront }\n";
    let renamed = plan_for(after, "x", &applied(before, "x", &sealer), &sealer);
    snapshot("moved", &plan::to_text(&renamed));
    assert_eq!(
        (
            renamed.count(plan::Action::Create),
            renamed.count(plan::Action::Delete)
        ),
        (0, 0)
    );
    assert_eq!(renamed.changes[0].moved_from.as_deref(), Some("web"));

    // Drift: changes made outside tpt show as such, and the plan brings them back.
    let live: std::collections::BTreeMap<String, tpt_planner::refresh::Live> = [
        ("db".to_string(), tpt_planner::refresh::Live::Gone),
        (
            "web".to_string(),
            tpt_planner::refresh::Live::Present {
                inputs: [("image".to_string(), serde_json::json!("shop:hotfix"))]
                    .into_iter()
                    .collect(),
                outputs: Default::default(),
            },
        ),
    ]
    .into_iter()
    .collect();
    let (program, resources) = evaluated(plain, "hunter2");
    let g = graph::build(&resources).unwrap_or_else(|d| panic!("{d:#?}"));
    let drifted = plan::diff_refreshed(&program, "prod", &resources, &g, &plain_state, &live, &sealer);
    snapshot("drift", &plan::to_text(&drifted));
    assert_eq!(drifted.drift.len(), 2);
    assert_eq!(
        (
            drifted.count(plan::Action::Create),
            drifted.count(plan::Action::Update)
        ),
        (1, 1)
    );

    // `--target web` plans web and what it depends on, nothing else.
    let (program, resources) = evaluated(V1, "hunter2");
    let g = graph::build(&resources).unwrap_or_else(|d| panic!("{d:#?}"));
    let mut targeted = plan::diff(&program, "prod", &resources, &g, &empty, &sealer);
    plan::restrict(&mut targeted, &["web".to_string()], &g, &empty);
    let addresses: Vec<&str> = targeted.changes.iter().map(|c| c.address.as_str()).collect();
    assert_eq!(addresses, ["db", "web"]);

    // Destroying `db` alone also destroys `web`, which depends on it, and says
    // why: nothing stays in state pointing at a deleted object.
    let v1_state = applied(V1, "hunter2", &sealer);
    let none = graph::build(&[]).unwrap_or_else(|d| panic!("{d:#?}"));
    let mut destroy_db = plan::diff(&program, "prod", &[], &none, &v1_state, &sealer);
    plan::restrict(&mut destroy_db, &["db".to_string()], &none, &v1_state);
    let deleted: Vec<(&str, Option<&str>)> = destroy_db
        .changes
        .iter()
        .map(|c| (c.address.as_str(), c.reason.as_deref()))
        .collect();
    assert_eq!(
        deleted,
        [
            ("web", Some("it depends on `db`, which is deleted")),
            ("db", None)
        ]
    );
    assert!(plan::to_text(&destroy_db)
        .contains("web (App) will be deleted: it depends on `db`, which is deleted"));

    // After an apply, recorded outputs are known: a reference to one is no longer
    // a change. (Sensitive outputs stay fingerprints and are not recalled.)
    let src = "resource db: Db { engine = \"postgres\", password = secret_env(\"DB_PASSWORD\") }\nresource web: App { image = \"shop:1.0\", env = { CONNECT = db.url, PLAIN = \"x\" } }\n";
    let (program, resources) = evaluated(src, "hunter2");
    let mut state = applied(src, "hunter2", &sealer);
    if let Some(db) = state.resources.get_mut("db") {
        db.outputs.insert(
            "url".into(),
            serde_json::json!({ "$sensitive": "hmac-sha256:00" }),
        );
    }
    let known = tpt_planner::state::known_outputs(&program, &state);
    assert!(known.outputs.is_empty(), "sensitive outputs are not recalled");
    let _ = resources;
}

#[test]
fn recorded_outputs_make_references_known() {
    let sealer = Sealer::new(b"test key");
    let src = r#"
resource schema Api {
  name: string
  @output endpoint: string
  @output port: int
}
resource api: Api { name = "api" }
resource web: App { image = "shop:${api.port}", env = { UPSTREAM = api.endpoint } }
"#;
    let program = Program::from_text("main.tpt", &format!("{SCHEMAS}\n{src}"));
    assert!(check(&program).is_empty());
    // What an apply records: inputs evaluated with the outputs the provider returned.
    let mut known = tpt_lang::KnownOutputs::default();
    known.outputs.insert(
        "api".into(),
        [
            (
                "endpoint".to_string(),
                tpt_lang::value::Value::str("https://api.internal"),
            ),
            ("port".to_string(), tpt_lang::value::Value::Int(8443)),
        ]
        .into_iter()
        .collect(),
    );
    let applied_run = tpt_lang::evaluate_with(&program, None, &HashMap::<String, String>::new(), &known)
        .unwrap_or_else(|d| panic!("{d:#?}"));
    let mut state = State::new("prod", "L".into());
    for r in &applied_run.resources {
        let recorded = record(r, &r.address, known.outputs.get(&r.address), &sealer);
        state.resources.insert(r.address.clone(), recorded);
    }
    // The next plan recalls them from the state and finds nothing to do.
    let recalled = tpt_planner::state::known_outputs(&program, &state);
    assert_eq!(recalled.outputs.get("api").map(|o| o.len()), Some(2));
    let again = tpt_lang::evaluate_with(&program, None, &HashMap::<String, String>::new(), &recalled)
        .unwrap_or_else(|d| panic!("{d:#?}"));
    let g = graph::build(&again.resources).unwrap_or_else(|d| panic!("{d:#?}"));
    let p = plan::diff(&program, "prod", &again.resources, &g, &state, &sealer);
    assert!(!p.has_changes(), "{}", plan::to_text(&p));
    // Without them, the references are unknown and show as changes.
    let blind = plan_for_program(&program, &state, &sealer);
    assert!(blind.has_changes());
}

fn plan_for_program(program: &Program, state: &State, sealer: &Sealer) -> Plan {
    let ev = evaluate(program, None, &HashMap::<String, String>::new()).unwrap_or_else(|d| panic!("{d:#?}"));
    let g = graph::build(&ev.resources).unwrap_or_else(|d| panic!("{d:#?}"));
    plan::diff(program, "prod", &ev.resources, &g, state, sealer)
}

#[test]
fn data_lookups_are_read_not_managed() {
    let sealer = Sealer::new(b"test key");
    let src = r#"
@data
resource schema Zone {
  name: string
  @output zone_id: string
}
resource zone: Zone { name = "acme.io" }
resource web: App { image = "shop:1.0", env = { ZONE = zone.zone_id } }
"#;
    let program = Program::from_text("main.tpt", &format!("{SCHEMAS}\n{src}"));
    assert!(check(&program).is_empty());
    let p = plan_for_program(&program, &State::new("prod", String::new()), &sealer);
    let actions: Vec<(&str, plan::Action)> =
        p.changes.iter().map(|c| (c.address.as_str(), c.action)).collect();
    assert_eq!(
        actions,
        [("zone", plan::Action::Read), ("web", plan::Action::Create)]
    );
    snapshot("data-read", &plan::to_text(&p));
    // Reads alone are not changes.
    let only = Program::from_text("main.tpt", &format!("{SCHEMAS}\n@data\nresource schema Zone {{ name: string }}\nresource zone: Zone {{ name = \"a\" }}\n"));
    assert!(!plan_for_program(&only, &State::new("prod", String::new()), &sealer).has_changes());
}

#[test]
fn a_change_of_a_setting_alone_is_no_change() {
    let sealer = Sealer::new(b"test key");
    let schema = "resource schema Svc {\n  image: string\n  @setting wait: bool = true\n  @setting wait_timeout: duration?\n}\n";
    let before = format!("{schema}resource s: Svc {{ image = \"a\" }}\n");
    let state = applied(&before, "pw", &sealer);
    let only_settings =
        format!("{schema}resource s: Svc {{ image = \"a\", wait = false, wait_timeout = 5m }}\n");
    let p = plan_for(&only_settings, "pw", &state, &sealer);
    assert!(!p.has_changes(), "{}", plan::to_text(&p));
    let with_image = format!("{schema}resource s: Svc {{ image = \"b\", wait = false }}\n");
    let p = plan_for(&with_image, "pw", &state, &sealer);
    let fields: Vec<&str> = p.changes[0].fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["image"], "settings are not listed among the changes");
}
