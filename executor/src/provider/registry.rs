//! The table of resource kinds: which module applies which schema. A kind is
//! found by the schema at the root of a resource's `extends` chain
//! (`ResourceInstance::kind`), so `resource schema Web extends k8s.App` is
//! applied by `k8s.App`'s row.
//!
//! Adding a kind: its module, one row here, its schema in `stdlib/` (and its
//! tests and docs). See ARCHITECTURE.md, "Adding a resource kind".

use std::collections::HashMap;
use std::sync::Arc;

use super::{aws, k8s, DataSource, Provider};

/// What the kinds share: the AWS clients and the Kubernetes clients.
pub struct Clients {
    pub aws: Arc<aws::Aws>,
    pub kube: Arc<k8s::Kube>,
}

/// One row: a standard schema and how to make its kind.
pub struct Kind {
    pub schema: &'static str,
    pub make: fn(&Clients) -> Arc<dyn Provider>,
}

/// Every resource kind tpt applies.
pub const KINDS: &[Kind] = &[
    Kind {
        schema: "aws.EksCluster",
        make: |c| Arc::new(aws::eks::EksCluster(c.aws.clone())),
    },
    Kind {
        schema: "aws.Postgres",
        make: |c| Arc::new(aws::rds::Database::postgres(c.aws.clone())),
    },
    Kind {
        schema: "aws.MySql",
        make: |c| Arc::new(aws::rds::Database::mysql(c.aws.clone())),
    },
    Kind {
        schema: "aws.HostedZone",
        make: |c| Arc::new(aws::route53::HostedZone(c.aws.clone())),
    },
    Kind {
        schema: "aws.DnsRecord",
        make: |c| Arc::new(aws::route53::DnsRecord(c.aws.clone())),
    },
    Kind {
        schema: "aws.Secret",
        make: |c| Arc::new(aws::secrets::Secret(c.aws.clone())),
    },
    Kind {
        schema: "aws.Bucket",
        make: |c| Arc::new(aws::s3::Bucket(c.aws.clone())),
    },
    Kind {
        schema: "k8s.KubeconfigCluster",
        make: |_| Arc::new(k8s::cluster::KubeconfigCluster),
    },
    Kind {
        schema: "k8s.Namespace",
        make: |c| Arc::new(k8s::namespace::Namespace(c.kube.clone())),
    },
    Kind {
        schema: "k8s.App",
        make: |c| Arc::new(k8s::app::App(c.kube.clone())),
    },
    Kind {
        schema: "k8s.Manifest",
        make: |c| Arc::new(k8s::manifest::Manifest(c.kube.clone())),
    },
    Kind {
        schema: "k8s.Gateway",
        make: |c| Arc::new(k8s::gateway::Gateway(c.kube.clone())),
    },
    Kind {
        schema: "k8s.HelmRelease",
        make: |c| Arc::new(k8s::helm::Charted(c.kube.clone(), k8s::helm::HelmRelease)),
    },
    Kind {
        schema: "k8s.IngressController",
        make: |c| {
            Arc::new(k8s::helm::Charted(
                c.kube.clone(),
                k8s::services::IngressController,
            ))
        },
    },
    Kind {
        schema: "k8s.CertManager",
        make: |c| Arc::new(k8s::helm::Charted(c.kube.clone(), k8s::services::CertManager)),
    },
    Kind {
        schema: "k8s.ExternalDns",
        make: |c| Arc::new(k8s::helm::Charted(c.kube.clone(), k8s::services::ExternalDns)),
    },
    Kind {
        schema: "k8s.ExternalSecrets",
        make: |c| Arc::new(k8s::helm::Charted(c.kube.clone(), k8s::services::ExternalSecrets)),
    },
    Kind {
        schema: "k8s.Observability",
        make: |c| Arc::new(k8s::helm::Charted(c.kube.clone(), k8s::services::Observability)),
    },
];

/// One row of data lookups (`@data` schemas): read at every plan, never managed.
pub struct DataKind {
    pub schema: &'static str,
    pub make: fn(&Clients) -> Arc<dyn DataSource>,
}

pub const DATA_KINDS: &[DataKind] = &[
    DataKind {
        schema: "aws.ExistingHostedZone",
        make: |c| Arc::new(aws::route53::ExistingHostedZone(c.aws.clone())),
    },
    DataKind {
        schema: "state.Outputs",
        make: |_| Arc::new(super::outputs::RemoteOutputs),
    },
];

/// The kinds, made once, by schema.
pub struct Providers {
    kinds: HashMap<String, Arc<dyn Provider>>,
    data: HashMap<String, Arc<dyn DataSource>>,
}

impl Default for Providers {
    fn default() -> Self {
        let aws = Arc::new(aws::Aws::default());
        let clients = Clients {
            kube: Arc::new(k8s::Kube::new(aws.clone())),
            aws,
        };
        Providers {
            kinds: KINDS
                .iter()
                .map(|k| (k.schema.to_string(), (k.make)(&clients)))
                .collect(),
            data: DATA_KINDS
                .iter()
                .map(|k| (k.schema.to_string(), (k.make)(&clients)))
                .collect(),
        }
    }
}

impl Providers {
    /// The kind that applies `kind` (a resource's `kind`: the root of its
    /// schema's `extends` chain), if there is one yet.
    pub fn get(&self, kind: &str) -> Option<Arc<dyn Provider>> {
        self.kinds.get(kind).cloned()
    }

    /// Applies the resource schema `schema` (e.g. `Thing` of the root module)
    /// with `provider`, in place of any built-in kind (embedders, the walker's tests).
    pub fn register(&mut self, schema: &str, provider: Arc<dyn Provider>) {
        self.kinds.insert(schema.to_string(), provider);
    }

    /// The reader of a data lookup schema.
    pub fn data(&self, schema: &str) -> Option<Arc<dyn DataSource>> {
        self.data.get(schema).cloned()
    }

    /// The schemas with a kind, sorted (for messages).
    pub fn schemas(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.kinds.keys().map(String::as_str).collect();
        all.sort_unstable();
        all
    }
}

/// `@setting` fields the walker reads itself (how long to wait), not the kind.
pub const WALKER_SETTINGS: &[&str] = &["wait_timeout"];

/// `@setting` fields of a cluster that the kinds running on it read (through
/// their `cluster` reference), not the cluster's own kind: what waits can end there.
pub const CLUSTER_SETTINGS: &[&str] = &["load_balancers", "runs_pods"];

/// What a kind and its schema disagree on, for one sample instance `d` of the
/// schema (its `validate` must accept it): one line per problem, naming the
/// schema and the field. Empty when they agree:
///
/// - every input field is `@replace`, `@setting`, or updated in place by the
///   kind; what the kind updates in place or reads back is an input, and not
///   one that forces replacement;
/// - the kind produces exactly the schema's `@output`s;
/// - the kind reads every input but the walker's settings (a field nobody
///   reads is one whose change is recorded and never sent).
pub fn disagreements(
    schema: &tpt_lang::program::SchemaDef,
    kind: &dyn Provider,
    d: &super::Desired,
) -> Vec<String> {
    let name = &schema.name;
    let mut out = Vec::new();
    if let Err(e) = kind.validate(d) {
        out.push(format!("`{name}`: the kind refuses the sample: {e}"));
        return out;
    }
    let fields = kind.fields();
    let inputs: Vec<(&String, &tpt_lang::program::SchemaField)> =
        schema.fields.iter().filter(|(_, f)| !f.output).collect();
    let input = |f: &str| inputs.iter().find(|(n, _)| n.as_str() == f).map(|(_, x)| *x);
    for (field, f) in &inputs {
        if !f.replace && !f.setting && !fields.in_place.contains(&field.as_str()) {
            out.push(format!(
                "`{name}.{field}` is neither `@replace`, `@setting`, nor updated in place by its kind: a change of it would be recorded and never sent"
            ));
        }
    }
    for f in fields.in_place {
        match input(f) {
            None => out.push(format!(
                "`{name}`: its kind updates `{f}` in place, but the schema has no input `{f}`"
            )),
            Some(x) if x.replace || x.setting => out.push(format!(
                "`{name}.{f}` is `@{}`, but its kind says it updates it in place",
                if x.replace { "replace" } else { "setting" }
            )),
            Some(_) => {}
        }
    }
    for f in fields.reads {
        if input(f).is_none() && !fields.rendered.contains(f) {
            out.push(format!(
                "`{name}`: its kind reads `{f}` back, but the schema has no input `{f}`"
            ));
        }
    }
    let declared: std::collections::BTreeSet<&str> = schema
        .fields
        .iter()
        .filter(|(_, f)| f.output)
        .map(|(n, _)| n.as_str())
        .collect();
    let produced: std::collections::BTreeSet<&str> = fields.outputs.iter().copied().collect();
    for o in declared.difference(&produced) {
        out.push(format!("`{name}.{o}` is an `@output` its kind does not produce"));
    }
    for o in produced.difference(&declared) {
        out.push(format!(
            "`{name}`: its kind produces `{o}`, which the schema does not declare as `@output`"
        ));
    }
    for f in fields.rendered {
        if input(f).is_some() || schema.fields.contains_key(*f) {
            out.push(format!(
                "`{name}.{f}` is rendered by its kind, but the schema declares it (the two would disagree)"
            ));
        }
    }
    let read = d.fields_read();
    for (field, _) in &inputs {
        let others = WALKER_SETTINGS.contains(&field.as_str()) || CLUSTER_SETTINGS.contains(&field.as_str());
        if !read.contains(field.as_str()) && !others {
            out.push(format!(
                "`{name}.{field}` is never read by its kind: a value set there would be recorded and never sent"
            ));
        }
    }
    out
}
