//! Generated configurations, for benchmarks and tests of size (the root's
//! `benches/check_eval.rs`, `lang/benches/parse.rs`).

use std::fmt::Write as _;

/// A service catalogue of `n` resources of one user `resource schema`: a
/// regex-refined name, a range-refined port, an enum, two references to
/// earlier resources and a function call building a URL per resource.
pub fn catalogue(n: usize) -> String {
    services(n, |i| i - 1)
}

/// The catalogue with a hub: every resource's `upstream` is the first one, as
/// every application of a cluster depends on the cluster.
pub fn hub(n: usize) -> String {
    services(n, |_| 0)
}

/// `n` services, the `upstream` of service `i` (> 0) being `upstream(i)`.
fn services(n: usize, upstream: impl Fn(usize) -> usize) -> String {
    let mut s = String::with_capacity(n * 220 + 600);
    s.push_str(
        r#"// Generated: a service catalogue (tpt_lang::generate::catalogue).
type Name = string(/^[a-z][a-z0-9-]{1,40}$/)
type Port = int(1..65535)
type Tier = "web" | "worker" | "batch"

fn url(host: string, port: int): string = "https://${host}:${port}/"

resource schema Service {
  name: Name
  port: Port = 8080
  tier: Tier = "web"
  upstream: string = ""
  database: string = ""
  endpoint: string = ""
  @output id: string
}
"#,
    );
    for i in 0..n {
        let port = 8000 + i % 1000;
        let tier = ["web", "worker", "batch"][i % 3];
        let upstream = if i > 0 {
            format!("svc{}.name", upstream(i))
        } else {
            "\"\"".to_string()
        };
        let database = if i > 1 {
            format!("svc{}.name", i - 2)
        } else {
            "\"\"".to_string()
        };
        let _ = write!(
            s,
            "\nresource svc{i}: Service {{\n  name = \"svc-{i}\"\n  port = {port}\n  tier = \"{tier}\"\n  upstream = {upstream}\n  database = {database}\n  endpoint = url(\"svc-{i}.internal\", {port})\n}}\n"
        );
    }
    s
}

/// A chain of `n` environments (`n` ≥ 1), each extending the one before and
/// setting the param `replicas` to one of `values` values in turn (`values` =
/// `n`: every environment its own), over the catalogue of 10 resources.
pub fn environment_chain(n: usize, values: usize) -> String {
    let values = values.max(1);
    let mut s = catalogue(10);
    s.push_str("\nparam replicas: int = 1\n\nenvironment e0 { replicas = 1 }\n");
    for i in 1..n {
        let _ = writeln!(
            s,
            "environment e{i} extends e{} {{ replicas = {} }}",
            i - 1,
            i % values + 1
        );
    }
    s
}
