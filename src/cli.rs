//! The command line as clap sees it: every command, flag and its help text.
//! Parsing only; the commands themselves live in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ROOT_HELP: &str = "\
A configuration is a directory with `main.tpt` and, optionally, one file per
environment in `envs/*.tpt`; together they form the root module. A single
`.tpt` file is a configuration too.

Examples:
  tpt check examples/shop              # type-check, then evaluate every environment
  tpt eval examples/shop --env prod    # the resources of one environment, as JSON
  tpt fmt                              # format every .tpt file below the current directory
  tpt fmt --check                      # list files that are not formatted (for CI)

Exit status: 0 success, 1 the input has errors, 2 the command line is wrong.";

/// tpt: typed declarative delivery of applications with everything they depend on.
#[derive(Debug, Parser)]
#[command(name = "tpt", version, about, after_help = ROOT_HELP)]
pub struct Cli {
    /// When to color diagnostics: `auto` colors only on a terminal and when
    /// `NO_COLOR` is not set; `always` and `never` override both.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Write the log here (appending) instead of to stderr; logs at `debug`
    /// unless `TPT_LOG` says otherwise. The log shows every API call (service,
    /// operation, resource, duration, attempt, outcome), every poll of a wait,
    /// each phase and each operation; never a secret value.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<std::path::PathBuf>,

    /// Also allow `import`s of files under DIR (repeatable). Without it, a
    /// configuration imports only files inside its own directory and the
    /// standard library, so that checking or planning a configuration (from a
    /// pull request, say) never reads other files of the machine.
    #[arg(long, global = true, value_name = "DIR")]
    pub allow_imports_from: Vec<std::path::PathBuf>,

    /// The most expression steps one evaluation of an environment may take
    /// (default 50,000,000: fifty times what 100,000 generated resources take).
    /// Past it, evaluation stops with E0505 naming what it was building.
    #[arg(long, global = true, value_name = "N")]
    pub max_eval_steps: Option<u64>,

    /// The most bytes of values one evaluation may build (default 1GiB; units
    /// B, KiB, MiB, GiB). Past it, evaluation stops with E0505.
    #[arg(long, global = true, value_name = "SIZE", value_parser = tpt_executor::host::parse_size)]
    pub max_eval_bytes: Option<u64>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Color on a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always color, even into a pipe or file, and even when `NO_COLOR` is set.
    Always,
    /// Never color: a plain, deterministic rendering.
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Type-check a configuration, then evaluate its environments to find evaluation errors.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Evaluate one environment and print its resources with their inputs.
    #[command(after_help = EVAL_HELP)]
    Eval(EvalArgs),
    /// Format .tpt files in place, or check that they are formatted.
    #[command(after_help = FMT_HELP)]
    Fmt(FmtArgs),
    /// Print the dependency graph of one environment (DOT, JSON or text).
    #[command(after_help = GRAPH_HELP)]
    Graph(GraphArgs),
    /// Work with environments: compare two of them.
    #[command(subcommand)]
    Envs(EnvsCommand),
    /// Copy the value of a `@promote` param from one environment to another, in place.
    #[command(after_help = PROMOTE_HELP)]
    Promote(PromoteArgs),
    /// Show what applying an environment would change, against its recorded state.
    #[command(after_help = PLAN_HELP)]
    Plan(PlanArgs),
    /// Record an existing object as a resource of the configuration, without changing it.
    #[command(after_help = IMPORT_HELP)]
    Import(ImportArgs),
    /// Print the outputs an environment's last apply recorded.
    #[command(after_help = OUTPUT_HELP)]
    Output(OutputArgs),
    /// Inspect and edit the recorded state of an environment.
    #[command(subcommand)]
    State(StateCommand),
    /// Render a plan saved with `tpt plan --out FILE`.
    #[command(after_help = SHOW_HELP)]
    Show(ShowArgs),
    /// Make the real objects match an environment: plan, ask, then apply in parallel.
    #[command(after_help = APPLY_HELP)]
    Apply(ApplyArgs),
    /// Delete every object recorded in an environment's state.
    #[command(after_help = DESTROY_HELP)]
    Destroy(ApplyArgs),
    /// Run the language server (LSP over stdin/stdout) for editors.
    #[command(after_help = LSP_HELP)]
    Lsp(LspArgs),
}

const APPLY_HELP: &str = "\
Plans as `tpt plan` does (refreshing the live objects first), shows the plan and
asks for `yes` on a terminal; without a terminal it refuses unless
`--auto-approve` is given. A plan saved with `tpt plan --out FILE` is applied as
it is with `tpt apply FILE`: it is refused when the state or the configuration
changed since.

Operations run in parallel (`--parallelism`), each as soon as what it depends on
is done. A failed operation fails only what depends on it; the rest goes on. The
state is saved after every operation, and a create is recorded as intended
before it starts, so that a run that dies is followed by one that looks the object
up instead of making it twice. Ctrl-C starts nothing new, lets running operations
finish, saves, and exits with 130; a second Ctrl-C stops the running ones too.

Waits (cluster ACTIVE, database available, rollout) show progress; a resource's
`wait_timeout` bounds its own, `--wait-timeout` every one, and an app's
`wait = false` skips its rollout wait.

Providers: AWS through the standard credential chain and region
(`AWS_ENDPOINT_URL` points elsewhere, e.g. a local emulator); Kubernetes
through the kubeconfig of a `k8s.KubeconfigCluster`, or on an `aws.EksCluster`
at its endpoint with a token signed by the AWS credentials (`TPT_EKS_KUBECONFIG`,
context `TPT_EKS_CONTEXT`, names a kubeconfig to use instead).

Exit status: 0 applied (or nothing to do), 1 errors or failed operations,
130 interrupted.

Examples:
  tpt apply examples/shop --env dev
  tpt apply examples/shop --env prod --auto-approve --parallelism 4
  tpt plan examples/shop --env prod --out prod.plan && tpt apply prod.plan";

const DESTROY_HELP: &str = "\
Plans the deletion of every object recorded in the environment's state,
dependents first, shows it and asks as `tpt apply` does.

Examples:
  tpt destroy examples/shop --env dev
  tpt destroy examples/shop --env dev --auto-approve";

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A .tpt file, a directory holding `main.tpt` (and `envs/*.tpt`), or a plan saved by `tpt plan --out`.
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,

    /// The environment; required when the configuration declares environments.
    #[arg(long, short, value_name = "ENV")]
    pub env: Option<String>,

    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,

    /// How many operations may run at once (at least 1).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub parallelism: usize,

    /// How long to wait for another run's lock on the environment's state (`0s`: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,

    /// Apply only this address and what it depends on (repeatable); with `destroy`, delete it
    /// and everything recorded as depending on it.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,

    /// Read the live objects first; `--refresh=false` trusts the recorded state.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,

    /// Only accept what changed outside tpt into the state (drift): no object is changed.
    #[arg(long, conflicts_with_all = ["target", "refresh"])]
    pub refresh_only: bool,

    /// Bound every wait (cluster ACTIVE, database available, rollout), e.g. `2m`; default: the resource's `wait_timeout`, else the schema's `@timeout`.
    #[arg(long, value_name = "DURATION")]
    pub wait_timeout: Option<String>,

    /// Set a `@var` param (repeatable): `--var image_tag=1.4.3`; wins over `TPT_VAR_NAME` and the environment.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

/// `tpt lsp` takes no options; `--stdio` is accepted because clients pass it.
#[derive(Debug, Args)]
pub struct LspArgs {
    /// Speak LSP over stdin/stdout (the only transport, and the default).
    #[arg(long)]
    pub stdio: bool,
}

const LSP_HELP: &str = "\
Editors start this command; it is not meant to be run by hand. It answers on
stdout and logs to stderr. See editors/README.md for VS Code and Neovim.

Examples:
  nvim: vim.lsp.start({ name = 'tpt', cmd = { 'tpt', 'lsp' } })";

/// Which environment's state, of which configuration.
#[derive(Debug, Args)]
pub struct StateTarget {
    /// The environment whose state to use; required when the configuration declares environments.
    #[arg(long, short, value_name = "ENV")]
    pub env: Option<String>,

    /// A .tpt file, or a directory holding `main.tpt`; the state is in `.tpt/` beside it.
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,

    /// How long to wait for another run's lock (`0s`: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the addresses recorded in the state.
    List {
        #[command(flatten)]
        target: StateTarget,
    },
    /// Show what is recorded for one address (secrets as fingerprints only).
    Show {
        /// The resource address, e.g. `shop` or `cluster["eu-west-1"]`.
        address: String,
        #[command(flatten)]
        target: StateTarget,
    },
    /// Forget an address: the object stays at the provider, tpt no longer manages it.
    Rm {
        /// The resource address to forget.
        address: String,
        #[command(flatten)]
        target: StateTarget,
    },
    /// Record an object under another address (after a rename), without touching it.
    Mv {
        /// The recorded address.
        from: String,
        /// The new address.
        to: String,
        #[command(flatten)]
        target: StateTarget,
    },
    /// Release a lock left by a run that died, by the ID its error named.
    Unlock {
        /// The lock ID.
        id: String,
        #[command(flatten)]
        target: StateTarget,
    },
}

const PLAN_HELP: &str = "\
The environment is evaluated and compared with its recorded state
(`.tpt/state/ENV.json` beside the configuration; none yet means everything is
created). Each resource gets one action: create, update in place, replace (with
the field that forces it), delete, or none. Values known only after apply show as
(known after apply), secrets as (sensitive).

Secrets are recorded as keyed fingerprints, never in plain text; the key comes
from `TPT_STATE_KEY` or `.tpt/state.key`.

Exit status: 0 success; 1 errors; with --detailed-exitcode, 0 no changes, 2 changes.

Examples:
  tpt plan examples/shop --env prod
  tpt plan examples/shop --env prod --format markdown > plan.md
  tpt plan examples/shop --env prod --format json --detailed-exitcode";

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A .tpt file, or a directory holding `main.tpt` (and `envs/*.tpt`).
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,

    /// The environment; required when the configuration declares environments.
    #[arg(long, short, value_name = "ENV")]
    pub env: Option<String>,

    /// The output format.
    #[arg(long, short, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,

    /// Short for `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Exit 0 when there are no changes, 2 when there are (1 stays errors).
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// How long to wait for another run's lock on the environment's state (`0s`: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,

    /// Also save the plan to FILE (for `tpt show`, and `tpt apply FILE`); it holds no secret.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Plan only this address and what it depends on (repeatable), e.g. `--target 'cluster["eu-west-1"]'`.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,

    /// Read the live objects first and show drift; `--refresh=false` plans against the recorded state as it is.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,

    /// Show only what changed outside tpt (drift), which `tpt apply --refresh-only` would record in the state.
    #[arg(long, conflicts_with_all = ["target", "refresh"])]
    pub refresh_only: bool,

    /// Set a `@var` param (repeatable): `--var image_tag=1.4.3`; wins over `TPT_VAR_NAME` and the environment.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

const IMPORT_HELP: &str = "\
Adopts an object tpt did not make: the resource ADDR that the configuration
declares is recorded in the environment's state with the object ID names, as
its kind reads the object back. Nothing is changed; `tpt plan` then shows what
differs from the configuration (nothing, when they match).

The form of ID is the kind's: a hosted zone's ID (`Z0123…`), `REGION/NAME` for
a bucket, a secret or a database, `ZONE_ID/NAME/TYPE` for a record. Kinds whose
objects tpt records with an inventory (Kubernetes objects, charts) or owns by
tag (EKS clusters) cannot import, and say so.

Examples:
  tpt import zone Z0123456789ABCDEFGHIJ --env prod
  tpt import 'media' eu-west-1/acme-media examples/platform --env prod";

const OUTPUT_HELP: &str = "\
Prints the root outputs (`output NAME: TYPE = …` in the configuration) as the
last `tpt apply` of the environment recorded them. Secrets are shown as
`(sensitive)`; one secret is shown when asked for by name with `--show-secret`
(its value is computed from the configuration and the recorded state, since the
state keeps only a fingerprint).

With NAME, only that output's value is printed: a string as it is (no quotes),
anything else as JSON — ready for `$(tpt output …)` in a script. With `--json`,
JSON: an object of every output, or NAME's value.

The first argument is NAME unless it holds `/` or `.` (then it is PATH): output
names are identifiers.

Examples:
  tpt output --env prod
  tpt output shop_url examples/platform --env prod
  tpt output --env prod --json
  tpt output db_password --env prod --show-secret";

const SHOW_HELP: &str = "\
Renders a plan saved with `tpt plan --out FILE`. When the environment's state has
changed since the plan was made, a warning says so: applying it would be refused.

Examples:
  tpt plan examples/shop --env prod --out prod.plan
  tpt show prod.plan
  tpt show prod.plan --format markdown";

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The resource's address in the configuration, e.g. `zone` or `team["a"].db`.
    #[arg(value_name = "ADDR")]
    pub address: String,

    /// The object's ID, in the form its kind names (see below).
    #[arg(value_name = "ID")]
    pub id: String,

    /// A .tpt file, or a directory holding `main.tpt`.
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,

    /// The environment; required when the configuration declares environments.
    #[arg(long, short, value_name = "ENV")]
    pub env: Option<String>,

    /// How long to wait for another run's lock on the environment's state (`0s`: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,

    /// Set a `@var` param (repeatable), as for `tpt plan`.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The output to print (all of them without it).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// A .tpt file, or a directory holding `main.tpt`.
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// The environment; required when the configuration declares environments.
    #[arg(long, short, value_name = "ENV")]
    pub env: Option<String>,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,

    /// Show the value of the secret output NAME.
    #[arg(long, requires = "name")]
    pub show_secret: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The configuration the plan was made for (default: as recorded in the plan).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// The output format.
    #[arg(long, short, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For people.
    Human,
    /// For tools: the versioned format of docs/plan-json.md.
    Json,
    /// For pull-request comments.
    Markdown,
}

const PROMOTE_HELP: &str = "\
The value the param has in the `--from` environment (after its `extends` chain)
replaces the value written in the `--to` environment's own block. Only that value
changes in the file: comments, order and formatting stay as they are. Then the
changes it causes in the `--to` environment are shown.

The param must be marked `@promote`, and the `--to` environment must set it itself
(an inherited value has no place to edit).

Examples:
  tpt promote image_tag --from staging --to prod examples/shop
  tpt promote image_tag --from dev --to staging --dry-run";

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The `@promote` param to copy.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// The environment to copy the value from.
    #[arg(long, value_name = "ENV")]
    pub from: String,

    /// The environment whose file is edited.
    #[arg(long, value_name = "ENV")]
    pub to: String,

    /// A .tpt file, or a directory holding `main.tpt` (and `envs/*.tpt`).
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,

    /// Show what would change without writing the file.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum EnvsCommand {
    /// Show which params and resource fields differ between two environments.
    #[command(after_help = ENVS_DIFF_HELP)]
    Diff(EnvsDiffArgs),
}

const ENVS_DIFF_HELP: &str = "\
Both environments are evaluated and compared on resolved values: params, resources
only in one of them, and every input field that differs (nested fields by path).
Secrets are compared but shown as (sensitive).

Examples:
  tpt envs diff staging prod examples/shop
  tpt envs diff staging prod examples/shop --format json";

#[derive(Debug, Args)]
pub struct EnvsDiffArgs {
    /// The environment on the left (old) side.
    #[arg(value_name = "LEFT")]
    pub left: String,

    /// The environment on the right (new) side.
    #[arg(value_name = "RIGHT")]
    pub right: String,

    /// A .tpt file, or a directory holding `main.tpt` (and `envs/*.tpt`).
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,

    /// The output format.
    #[arg(long, short, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people.
    Text,
    /// For tools.
    Json,
}

const GRAPH_HELP: &str = "\
Nodes are resource instances (`shop`, `cluster[\"eu-west-1\"]`); an edge goes from a
dependency to the resource that needs it, so creation follows the arrows. Edges
come from references (`orders.url`, `cluster = main`) and `depends_on`. A cycle is
an error naming every resource on it.

Examples:
  tpt graph examples/shop --env prod                  # DOT, for Graphviz
  tpt graph examples/shop --env prod | dot -Tsvg > shop.svg
  tpt graph examples/shop --env prod --format text    # creation order with dependencies
  tpt graph examples/shop --env prod --format json";

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// A .tpt file, or a directory holding `main.tpt` (and `envs/*.tpt`).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// The environment; required when the configuration declares environments.
    #[arg(long, short, value_name = "ENV")]
    pub env: Option<String>,

    /// The output format.
    #[arg(long, short, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,

    /// Set a `@var` param (repeatable): `--var image_tag=1.4.3`; wins over `TPT_VAR_NAME` and the environment.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`dot -Tsvg` renders it).
    Dot,
    /// `{"nodes": [...], "edges": [...]}`.
    Json,
    /// One line per resource, in creation order.
    Text,
}

const CHECK_HELP: &str = "\
Every error of the configuration is reported, each with its code, where it is
(file:line:col with the source line) and what to do. When the configuration
type-checks, every environment (or only `--env`) is evaluated as well.

Examples:
  tpt check                            # the configuration in the current directory
  tpt check examples/shop              # a directory: main.tpt + envs/*.tpt
  tpt check examples/shop --env prod   # evaluate only `prod`
  tpt check net.tpt                    # a single file";

const EVAL_HELP: &str = "\
Secret values print as \"(sensitive)\", values known only after apply as
{\"$unknown\": \"orders.url\"}, and references to whole resources as
{\"$resource\": \"main\"}.

Examples:
  tpt eval examples/shop --env prod
  tpt eval examples/shop --env staging --format yaml
  tpt eval single.tpt                  # a configuration without environments";

const FMT_HELP: &str = "\
Directories are searched recursively for *.tpt files, skipping `target/` and
hidden directories. Files with syntax errors are reported and left unchanged.
Files are replaced atomically.

Examples:
  tpt fmt                              # everything below the current directory
  tpt fmt examples/shop main.tpt       # these directories and files
  tpt fmt --check                      # exit 1 and list the files that would change";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A .tpt file, or a directory holding `main.tpt` (and `envs/*.tpt`).
    #[arg(default_value = ".", value_name = "PATH")]
    pub path: PathBuf,

    /// Evaluate only this environment (default: every environment).
    #[arg(long, short, value_name = "ENV")]
    pub env: Option<String>,

    /// Set a `@var` param (repeatable): `--var image_tag=1.4.3`; wins over `TPT_VAR_NAME` and the environment.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A .tpt file, or a directory holding `main.tpt` (and `envs/*.tpt`).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// The environment to evaluate; required when the configuration declares environments.
    #[arg(long, short, value_name = "ENV")]
    pub env: Option<String>,

    /// The output format.
    #[arg(long, short, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Set a `@var` param (repeatable): `--var image_tag=1.4.3`; wins over `TPT_VAR_NAME` and the environment.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Pretty-printed JSON.
    Json,
    /// YAML.
    Yaml,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Do not write; list the files that would change and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,

    /// Files and directories to format (default: the current directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}
