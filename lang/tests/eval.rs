//! Evaluation semantics: environments and overlays, stamping, references and
//! dependencies, unknowns, secrets, defaults.

use std::collections::HashMap;

use tpt_lang::{check, evaluate, evaluate_alike, Alike, Evaluated, Evaluation, Program};

const SCHEMAS: &str = r#"
schema Probe { path: string = "/healthz", period: duration = 10s }
resource schema Svc {
  name: string
  replicas: int(0..100) = 1
  weight: float = 1
  probe: Probe = {}
  env: {string: secret} = {}
  tags: {string: string} = {}
  upstream: Svc?
  @output url: string
}
"#;

fn eval_env(src: &str, env: Option<&str>) -> Evaluated {
    let text = format!("{SCHEMAS}\n{src}");
    let program = Program::from_text("main.tpt", &text);
    let diags = check(&program);
    assert!(diags.is_empty(), "{diags:#?}");
    let inputs: HashMap<String, String> = [("DB_PASSWORD".to_string(), "hunter2".to_string())]
        .into_iter()
        .collect();
    evaluate(&program, env, &inputs).unwrap_or_else(|d| panic!("{d:#?}"))
}

fn input(ev: &Evaluated, address: &str, field: &str) -> serde_json::Value {
    let r = ev
        .resources
        .iter()
        .find(|r| r.address == address)
        .unwrap_or_else(|| panic!("no {address}"));
    r.inputs
        .get(field)
        .map(|v| v.to_json())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn environments_chain_and_overlay() {
    let src = r#"
param replicas: int = 1
param region: string = "base"
resource web: Svc { name = "web-${region}", replicas = replicas }
environment staging { region = "us"; web { tags = { tier = "staging" } } }
environment prod extends staging {
  replicas = 5
  web { probe { period = 5s } }
}
"#;
    let prod = eval_env(src, Some("prod"));
    assert_eq!(input(&prod, "web", "name"), "web-us");
    assert_eq!(input(&prod, "web", "replicas"), 5);
    assert_eq!(
        input(&prod, "web", "tags"),
        serde_json::json!({ "tier": "staging" })
    );
    // A merge keeps the other fields of the record, defaults included.
    assert_eq!(
        input(&prod, "web", "probe"),
        serde_json::json!({ "path": "/healthz", "period": "5s" })
    );
    let staging = eval_env(src, Some("staging"));
    assert_eq!(input(&staging, "web", "replicas"), 1);
    assert_eq!(
        prod.params.get("region").map(|v| v.to_json()),
        Some(serde_json::json!("us"))
    );
}

/// Each environment's chain is worked out once, from its parent's: children
/// declared before their parents, a link that adds nothing, and overlays
/// applied base first (the innermost wins) must come out as a walk would give.
#[test]
fn environment_chains_resolve_in_any_order() {
    let src = r#"
param replicas: int = 1
param region: string = "base"
resource web: Svc { name = "web-${region}", replicas = replicas }
environment prod extends middle {
  replicas = 5
  web { tags = { tier = "prod" } }
}
environment middle extends base { }
environment base { region = "eu"; replicas = 2; web { tags = { tier = "base" } } }
environment other { }
"#;
    let prod = eval_env(src, Some("prod"));
    assert_eq!(input(&prod, "web", "name"), "web-eu");
    assert_eq!(input(&prod, "web", "replicas"), 5);
    assert_eq!(input(&prod, "web", "tags"), serde_json::json!({ "tier": "prod" }));
    let middle = eval_env(src, Some("middle"));
    assert_eq!(input(&middle, "web", "replicas"), 2);
    assert_eq!(
        input(&middle, "web", "tags"),
        serde_json::json!({ "tier": "base" })
    );
    let other = eval_env(src, Some("other"));
    assert_eq!(input(&other, "web", "name"), "web-base");
    assert_eq!(input(&other, "web", "replicas"), 1);
}

#[test]
fn environments_alike_are_evaluated_once() {
    // `a`, `b` (extending it) and `c` (setting the same value itself) are
    // alike; `d` sets another value; `e` is `a` with an overlay; `f` sets
    // `-0.0`, which `==` takes for `0.0` but `1 / w` does not.
    let src = r#"
param n: int = 1
param w: float = 0.0
let half: int(2..10) = n / 2
resource web: Svc { name = "web", weight = w }
environment a { n = 2 }
environment b extends a { }
environment c { n = 2 }
environment d { n = 8 }
environment e extends a { web { replicas = 3 } }
environment f { n = 2; w = -0.0 }
"#;
    let text = format!("{SCHEMAS}\n{src}");
    let program = Program::from_text("main.tpt", &text);
    assert!(check(&program).is_empty(), "{:#?}", check(&program));
    let inputs: HashMap<String, String> = HashMap::new();
    let mut alike = Alike::default();
    let mut outcomes = Vec::new();
    for env in ["a", "b", "c", "d", "e", "f"] {
        let (shared, errors) = match evaluate_alike(&program, Some(env), &inputs, &mut alike) {
            Evaluation::New(result) => (false, result.err().unwrap_or_default()),
            Evaluation::Alike(errors) => (true, errors),
        };
        // Each environment's errors name it, shared or not.
        let messages: Vec<_> = errors.iter().map(|d| d.message.clone()).collect();
        assert!(
            messages
                .iter()
                .all(|m| m.starts_with(&format!("in environment `{env}`: "))),
            "{env}: {messages:?}"
        );
        outcomes.push((env, shared, errors.len()));
    }
    assert_eq!(
        outcomes,
        vec![
            ("a", false, 1),
            ("b", true, 1),
            ("c", true, 1),
            ("d", false, 0),
            ("e", false, 1),
            ("f", false, 1),
        ]
    );
}

#[test]
fn for_stamps_addressed_instances_and_overlays_select_one() {
    let src = r#"
param regions: [string] = ["eu", "us"]
for r in regions {
  resource db: Svc { name = "db-${r}" }
}
resource app: Svc { name = "app", tags = {for k, d in db : k => d.name} }
environment prod { db["us"] { replicas = 3 } }
"#;
    let ev = eval_env(src, Some("prod"));
    let addresses: Vec<&str> = ev.resources.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addresses, [r#"db["eu"]"#, r#"db["us"]"#, "app"]);
    assert_eq!(input(&ev, r#"db["us"]"#, "replicas"), 3);
    assert_eq!(input(&ev, r#"db["eu"]"#, "replicas"), 1);
    assert_eq!(
        input(&ev, "app", "tags"),
        serde_json::json!({ "eu": "db-eu", "us": "db-us" })
    );
    let app = ev
        .resources
        .iter()
        .find(|r| r.address == "app")
        .map(|r| r.depends_on.clone())
        .unwrap_or_default();
    assert_eq!(
        app.into_iter().collect::<Vec<_>>(),
        [r#"db["eu"]"#, r#"db["us"]"#]
    );
}

#[test]
fn outputs_are_unknown_and_carry_their_dependency() {
    let src = r#"
let via_let = api.url
fn wrap(u: string): string = "<${u}>"
resource api: Svc { name = "api" }
resource web: Svc { name = "web", tags = { up = wrap(via_let) }, upstream = api }
resource reader: Svc { name = "copy-of-${late.name}" }
resource late: Svc { name = "late" }
"#;
    let ev = eval_env(src, None);
    assert_eq!(
        input(&ev, "web", "tags"),
        serde_json::json!({ "up": { "$unknown": "api.url" } })
    );
    assert_eq!(
        input(&ev, "web", "upstream"),
        serde_json::json!({ "$resource": "api" })
    );
    let deps = |a: &str| {
        ev.resources
            .iter()
            .find(|r| r.address == a)
            .map(|r| r.depends_on.iter().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(deps("web"), ["api"]);
    // Inputs of a resource declared later are read lazily, in any order.
    assert_eq!(input(&ev, "reader", "name"), "copy-of-late");
    assert_eq!(deps("reader"), ["late"]);
}

#[test]
fn secrets_taint_and_are_never_rendered() {
    let src = r#"
let password = secret_env("DB_PASSWORD")
resource db: Svc {
  name = "db"
  env = { URL = "postgres://app:${password}@db:5432/app", MODE = "prod", LEN = to_string(len(password)) }
}
"#;
    let ev = eval_env(src, None);
    let env = input(&ev, "db", "env");
    assert_eq!(
        env,
        serde_json::json!({ "URL": "(sensitive)", "MODE": "prod", "LEN": "(sensitive)" })
    );
    let everything = format!(
        "{:?} {}",
        ev.params,
        serde_json::to_string(
            &ev.resources
                .iter()
                .map(|r| r
                    .inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
        )
        .unwrap_or_default()
    );
    assert!(!everything.contains("hunter2"));
}

#[test]
fn defaults_fill_nested_records_and_ints_widen_to_floats() {
    let src = r#"resource web: Svc { name = "web", probe = { path = "/up" }, weight = 2 }"#;
    let ev = eval_env(src, None);
    assert_eq!(
        input(&ev, "web", "probe"),
        serde_json::json!({ "path": "/up", "period": "10s" })
    );
    assert_eq!(input(&ev, "web", "weight"), serde_json::json!(2.0));
    assert_eq!(input(&ev, "web", "upstream"), serde_json::Value::Null);
}

#[test]
fn evaluation_is_deterministic() {
    let src = r#"
param names: [string] = ["c", "a", "b"]
for n in names {
  resource s: Svc { name = n, tags = { x = n } }
}
"#;
    let render = || {
        let ev = eval_env(src, None);
        let rows: Vec<(String, Vec<(String, serde_json::Value)>)> = ev
            .resources
            .iter()
            .map(|r| {
                (
                    r.address.clone(),
                    r.inputs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
                )
            })
            .collect();
        format!("{rows:?}")
    };
    let (a, b) = (render(), render());
    assert_eq!(a, b);
}

// ---------------------------------------------------------------- components

const COMPONENT: &str = r#"
let suffix = "svc"
fn full(team: string): string = "${team}-${suffix}"

/// One team's pair of services.
component Team {
  param team: string
  param replicas: int(1..10) = 2
  param label: string = "team-${team}"
  param zones: [string] = []

  let name = full(team)

  resource api: Svc { name = name, replicas = replicas, tags = { label = label } }
  resource worker: Svc { name = "${name}-worker", upstream = api }
  for z in zones {
    resource edge: Svc { name = "${name}-${z}", upstream = api }
  }

  output url: string = api.url
  output name: string = name
}
"#;

fn eval_component(src: &str, env: Option<&str>) -> Evaluated {
    eval_env(&format!("{COMPONENT}\n{src}"), env)
}

#[test]
fn component_instances_have_addresses_and_their_own_inputs() {
    let ev = eval_component(
        r#"
resource web: Team { team = "web", zones = ["a", "b"] }
for t in ["billing", "search"] {
  resource teams: Team { team = t, replicas = 3 }
}
"#,
        None,
    );
    let addresses: Vec<&str> = ev.resources.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        addresses,
        [
            "web.api",
            "web.worker",
            "web.edge[\"a\"]",
            "web.edge[\"b\"]",
            "teams[\"billing\"].api",
            "teams[\"billing\"].worker",
            "teams[\"search\"].api",
            "teams[\"search\"].worker",
        ]
    );
    assert_eq!(input(&ev, "web.api", "name"), "web-svc");
    assert_eq!(input(&ev, "web.api", "replicas"), 2);
    assert_eq!(
        input(&ev, "web.api", "tags"),
        serde_json::json!({"label": "team-web"})
    );
    assert_eq!(input(&ev, "teams[\"search\"].api", "replicas"), 3);
    assert_eq!(
        input(&ev, "teams[\"search\"].worker", "name"),
        "search-svc-worker"
    );
    assert_eq!(input(&ev, "web.edge[\"b\"]", "name"), "web-svc-b");
    // References inside an instance stay inside it.
    assert_eq!(
        input(&ev, "web.worker", "upstream"),
        serde_json::json!({"$resource": "web.api"})
    );
    let worker = ev
        .resources
        .iter()
        .find(|r| r.address == "teams[\"billing\"].worker")
        .expect("the worker");
    assert_eq!(
        worker.depends_on.iter().collect::<Vec<_>>(),
        ["teams[\"billing\"].api"]
    );
    assert_eq!(worker.name, "teams[\"billing\"].worker");
}

#[test]
fn overlays_reach_inside_component_instances() {
    let src = r#"
param size: int = 1
for t in ["a", "b"] {
  resource teams: Team { team = t, replicas = size }
}
environment dev {}
environment prod {
  size = 4
  teams["a"] { label = "gold" }
  teams["b"].api { replicas = 9 }
  teams.worker { tags = { tier = "prod" } }
}
"#;
    let dev = eval_component(src, Some("dev"));
    let prod = eval_component(src, Some("prod"));
    assert_eq!(input(&dev, "teams[\"a\"].api", "replicas"), 1);
    assert_eq!(input(&prod, "teams[\"a\"].api", "replicas"), 4);
    assert_eq!(input(&prod, "teams[\"b\"].api", "replicas"), 9);
    assert_eq!(
        input(&prod, "teams[\"a\"].api", "tags"),
        serde_json::json!({"label": "gold"})
    );
    assert_eq!(
        input(&prod, "teams[\"b\"].api", "tags"),
        serde_json::json!({"label": "team-b"})
    );
    assert_eq!(
        input(&prod, "teams[\"a\"].worker", "tags"),
        serde_json::json!({"tier": "prod"})
    );
    assert_eq!(
        input(&prod, "teams[\"b\"].worker", "tags"),
        serde_json::json!({"tier": "prod"})
    );
}

#[test]
fn outputs_of_instances_and_of_the_root() {
    let ev = eval_component(
        r#"
resource web: Team { team = "web" }
resource gateway: Svc { name = web.name, upstream = null, tags = { url = web.url } }
resource after: Svc { name = "after", depends_on = [web] }
output web_name: string = web.name
output web_url: string = web.url
output replicas: int = web.replicas
"#,
        None,
    );
    assert_eq!(input(&ev, "gateway", "name"), "web-svc");
    // An output known only after apply is unknown, and a dependency on what it reads.
    assert_eq!(
        input(&ev, "gateway", "tags"),
        serde_json::json!({"url": {"$unknown": "web.api.url"}})
    );
    let gw = ev
        .resources
        .iter()
        .find(|r| r.address == "gateway")
        .expect("the gateway");
    assert_eq!(gw.depends_on.iter().collect::<Vec<_>>(), ["web.api"]);
    // `depends_on` an instance: on every resource inside it.
    let after = ev.resources.iter().find(|r| r.address == "after").expect("after");
    assert_eq!(
        after.depends_on.iter().collect::<Vec<_>>(),
        ["web.api", "web.worker"]
    );
    assert_eq!(ev.outputs["web_name"].to_json(), "web-svc");
    assert_eq!(ev.outputs["replicas"].to_json(), 2);
    assert_eq!(
        ev.outputs["web_url"].to_json(),
        serde_json::json!({"$unknown": "web.api.url"})
    );
}

#[test]
fn components_use_components() {
    let ev = eval_component(
        r#"
component Platform {
  param teams: [string]
  for t in teams {
    resource team: Team { team = t }
  }
  resource shared: Svc { name = "shared" }
  output first: string = team[teams[0]].name
}
resource platform: Platform { teams = ["x", "y"] }
output first: string = platform.first
"#,
        None,
    );
    let addresses: Vec<&str> = ev.resources.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        addresses,
        [
            "platform.team[\"x\"].api",
            "platform.team[\"x\"].worker",
            "platform.team[\"y\"].api",
            "platform.team[\"y\"].worker",
            "platform.shared",
        ]
    );
    assert_eq!(
        input(&ev, "platform.team[\"y\"].worker", "upstream"),
        serde_json::json!({"$resource": "platform.team[\"y\"].api"})
    );
    assert_eq!(ev.outputs["first"].to_json(), "x-svc");
}

// ---------------------------------------------------------------- `@var` params

struct Given(Vec<tpt_lang::eval::Var>);

impl tpt_lang::Inputs for Given {
    fn env_var(&self, _name: &str) -> Option<String> {
        None
    }
    fn vars(&self) -> Vec<tpt_lang::eval::Var> {
        self.0.clone()
    }
}

fn var(name: &str, text: &str, flag: bool) -> tpt_lang::eval::Var {
    tpt_lang::eval::Var {
        name: name.into(),
        text: text.into(),
        origin: if flag {
            tpt_lang::eval::VarOrigin::Flag
        } else {
            tpt_lang::eval::VarOrigin::Env
        },
    }
}

#[test]
fn var_params_take_the_callers_value_before_the_environments() {
    let src = format!(
        "{SCHEMAS}\n{}",
        r#"
@var param tag: string = "default"
@var param replicas: int(1..10) = 1
@var param zones: [string] = []
@var param token: secret = ""
resource web: Svc {
  name = "web-${tag}"
  replicas = replicas
  tags = { zones = join(",", zones) }
  env = { TOKEN = token }
}
environment prod { tag = "from-env"; replicas = 2 }
"#
    );
    let program = Program::from_text("main.tpt", &src);
    assert!(check(&program).is_empty(), "{:#?}", check(&program));
    let run = |vars: Vec<tpt_lang::eval::Var>| {
        evaluate(&program, Some("prod"), &Given(vars)).unwrap_or_else(|d| panic!("{d:#?}"))
    };
    // Without a value from the caller: the environment's, else the default.
    let plain = run(vec![]);
    assert_eq!(input(&plain, "web", "name"), "web-from-env");
    // `--var` first, then `TPT_VAR_`, then the environment.
    let given = run(vec![
        var("tag", "1.4.3", true),
        var("tag", "9.9.9", false),
        var("replicas", "7", false),
        var("zones", r#"["a", "b"]"#, true),
        var("token", "s3cr3t", false),
    ]);
    assert_eq!(input(&given, "web", "name"), "web-1.4.3");
    assert_eq!(input(&given, "web", "replicas"), 7);
    assert_eq!(input(&given, "web", "tags"), serde_json::json!({"zones": "a,b"}));
    // A secret from the caller stays secret.
    assert_eq!(
        input(&given, "web", "env"),
        serde_json::json!({"TOKEN": "(sensitive)"})
    );
    assert_eq!(given.params["token"].to_json(), "(sensitive)");
    // Out of bounds, not a literal, not a param: errors naming the origin.
    for (v, code, text) in [
        (var("replicas", "11", true), "E0500", "in `--var replicas=…`"),
        (
            var("replicas", "two", true),
            "E0200",
            "expected a literal of type `int(1..10)`",
        ),
        (var("replicas", "tag", true), "E0200", "expected a literal"),
        (
            var("nope", "1", true),
            "E0305",
            "`--var nope=…` sets `nope`, which is not a param",
        ),
    ] {
        let errors = evaluate(&program, Some("prod"), &Given(vec![v])).expect_err("an error");
        assert!(
            errors
                .iter()
                .any(|d| d.code.as_str() == code && d.message.contains(text)),
            "{code} {text}: {errors:#?}"
        );
    }
    // A `TPT_VAR_` naming no param is someone else's.
    assert!(evaluate(&program, Some("prod"), &Given(vec![var("nope", "1", false)])).is_ok());
}

#[test]
fn lifecycle_annotations_reach_the_instances_and_the_resources_of_components() {
    let ev = eval_component(
        r#"
@prevent_destroy
@create_before_destroy
resource web: Team { team = "web" }

@ignore_changes(replicas, tags)
resource solo: Svc { name = "solo" }

for n in ["a", "b"] {
  @prevent_destroy
  resource many: Svc { name = n }
}
"#,
        None,
    );
    let l = |a: &str| {
        ev.resources
            .iter()
            .find(|r| r.address == a)
            .expect(a)
            .lifecycle
            .clone()
    };
    assert!(l("web.api").prevent_destroy.is_some() && l("web.api").create_before_destroy);
    assert!(l("web.worker").prevent_destroy.is_some());
    assert_eq!(l("solo").ignore_changes, ["replicas", "tags"]);
    assert!(l("solo").prevent_destroy.is_none() && !l("solo").create_before_destroy);
    assert!(l("many[\"b\"]").prevent_destroy.is_some());
}

// ---------------------------------------------------------------- reading files

#[test]
fn files_are_read_when_loading_and_decoded_into_declared_types() {
    struct Files;
    impl tpt_lang::FileSystem for Files {
        fn read(&self, path: &str) -> Result<String, String> {
            match path {
                "conf/main.tpt" => Ok(r#"
schema Team {
  name: string
  replicas: int = 1
  timeout: duration = 1m
}
let teams: [Team] = yaml_decode(file("teams.yaml"))
let limits: {string: float} = json_decode(file("./data/limits.json"))
let motd = templatefile("data/motd.txt", { who = "ops", n = len(teams) })
let raw = file("teams.yaml")
"#
                .into()),
                "conf/teams.yaml" => Ok("- name: a\n  timeout: 5m\n- name: b\n  replicas: 3\n".into()),
                "conf/data/limits.json" => Ok(r#"{"cpu": 1, "memory": 0.5}"#.into()),
                "conf/data/motd.txt" => Ok("hello ${who}: ${n} teams, ${upper(who)} $${kept}".into()),
                _ => Err("no such file or directory".into()),
            }
        }
    }
    let program = Program::load(&Files, &["conf/main.tpt".to_string()]);
    assert!(check(&program).is_empty(), "{:#?}", check(&program));
    assert_eq!(program.data.len(), 3, "each file read once");
    // A resource reads the values (the same files, one more resource).
    struct WithOut;
    impl tpt_lang::FileSystem for WithOut {
        fn read(&self, path: &str) -> Result<String, String> {
            let base = Files.read(path)?;
            Ok(if path == "conf/main.tpt" {
                format!(
                    "{base}\n{}",
                    r#"
resource schema Out { v: string }
resource out: Out { v = "${json_encode(teams)} ${json_encode(limits)} ${motd}" }
"#
                )
            } else {
                base
            })
        }
    }
    let program = Program::load(&WithOut, &["conf/main.tpt".to_string()]);
    assert!(check(&program).is_empty(), "{:#?}", check(&program));
    let ev = evaluate(&program, None, &tpt_lang::eval::NoInputs).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(
        input(&ev, "out", "v"),
        r#"[{"name":"a","replicas":1,"timeout":"5m"},{"name":"b","replicas":3,"timeout":"1m"}] {"cpu":1.0,"memory":0.5} hello ops: 2 teams, OPS ${kept}"#
    );
}
