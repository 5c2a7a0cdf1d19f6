//! AWS: EKS clusters and node groups (aws-sdk-eks), RDS PostgreSQL and MySQL
//! instances (aws-sdk-rds), Route53 hosted zones and record sets
//! (aws-sdk-route53).
//!
//! Credentials and region come from the standard chain (environment, profile,
//! SSO, instance role); `AWS_ENDPOINT_URL` points every client elsewhere (the
//! tests' moto server). The SDK's own retries are off: [`Cx::call`] retries
//! with backoff and reports each retry.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_eks::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use indexmap::IndexMap;
use serde_json::Value as J;
use tokio::sync::OnceCell;
use tpt_lang::value::Value;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{stored_str, Applied, Cx, DataSource, Desired, ErrorKind, Provider, ProviderError};

/// Error codes AWS uses for throttling and passing trouble.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ServerException",
];

/// A create met an object of the same name (possibly made by a run that
/// died before recording it).
const EXISTS_CODES: &[&str] = &[
    "DBInstanceAlreadyExists",
    "DBInstanceAlreadyExistsFault",
    "HostedZoneAlreadyExists",
    "ResourceInUseException",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBSubnetGroupNotFoundFault",
    "NoSuchHostedZone",
];

/// One AWS API call through `Cx::call` (retries, timeouts), its error named
/// `what` and classified by `sdk_err`. `send` makes the request afresh for
/// each attempt: `|| client.describe_x().name(n).send()`.
pub(crate) async fn aws_call<T, E, F, Fut>(cx: &Cx, what: &str, mut send: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    cx.call(what, || {
        let sent = send();
        async move { sent.await.map_err(|e| sdk_err(what, e)) }
    })
    .await
}

/// An SDK error, classified.
pub(crate) fn sdk_err<E>(what: &str, e: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ProviderError::transient(format!("{what}: {}", describe(&e)))
        }
        _ => {
            let code = e.code().unwrap_or_default().to_string();
            let message = e.message().unwrap_or_default().to_string();
            let text = match (code.is_empty(), message.is_empty()) {
                (false, false) => format!("{what}: {code}: {message}"),
                (false, true) => format!("{what}: {code}"),
                _ => format!("{what}: {}", describe(&e)),
            };
            let kind =
                if TRANSIENT_CODES.contains(&code.as_str()) || status.is_some_and(|s| s == 429 || s >= 500) {
                    ErrorKind::Transient
                } else if NOT_FOUND_CODES.contains(&code.as_str()) || status == Some(404) {
                    ErrorKind::NotFound
                } else if EXISTS_CODES.contains(&code.as_str()) {
                    ErrorKind::AlreadyExists
                } else {
                    ErrorKind::Permanent
                };
            ProviderError { kind, message: text }
        }
    }
}

/// The error and its sources in one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The clients, made once per region on first use.
#[derive(Default)]
pub struct Aws {
    config: OnceCell<aws_config::SdkConfig>,
    account: OnceCell<String>,
}

impl Aws {
    async fn config(&self) -> &aws_config::SdkConfig {
        self.config
            .get_or_init(|| async {
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .retry_config(aws_config::retry::RetryConfig::disabled())
                    .load()
                    .await
            })
            .await
    }

    /// The credentials of the standard chain (for signing an EKS token).
    pub(crate) async fn credentials(&self) -> Result<aws_credential_types::Credentials, String> {
        use aws_credential_types::provider::ProvideCredentials;
        let Some(provider) = self.config().await.credentials_provider() else {
            return Err("no AWS credentials are configured".to_string());
        };
        provider
            .provide_credentials()
            .await
            .map_err(|e| format!("cannot load AWS credentials: {}", describe(&e)))
    }

    async fn eks(&self, region: Option<&str>) -> aws_sdk_eks::Client {
        let mut b = aws_sdk_eks::config::Builder::from(self.config().await);
        if let Some(r) = region {
            b = b.region(aws_sdk_eks::config::Region::new(r.to_string()));
        }
        aws_sdk_eks::Client::from_conf(b.build())
    }

    async fn ec2(&self, region: Option<&str>) -> aws_sdk_ec2::Client {
        let mut b = aws_sdk_ec2::config::Builder::from(self.config().await);
        if let Some(r) = region {
            b = b.region(aws_sdk_ec2::config::Region::new(r.to_string()));
        }
        aws_sdk_ec2::Client::from_conf(b.build())
    }

    async fn rds(&self, region: Option<&str>) -> aws_sdk_rds::Client {
        let mut b = aws_sdk_rds::config::Builder::from(self.config().await);
        if let Some(r) = region {
            b = b.region(aws_sdk_rds::config::Region::new(r.to_string()));
        }
        aws_sdk_rds::Client::from_conf(b.build())
    }

    async fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(self.config().await)
    }

    /// The account ID (for the default IAM role ARNs).
    async fn account(&self, cx: &Cx) -> Result<String, ProviderError> {
        self.account
            .get_or_try_init(|| async {
                let sts = aws_sdk_sts::Client::new(self.config().await);
                let out = aws_call(cx, "sts:GetCallerIdentity", || sts.get_caller_identity().send()).await?;
                Ok(out.account().unwrap_or_default().to_string())
            })
            .await
            .cloned()
    }

    /// The region of a regional resource: its `region`, else that of the
    /// cluster whose network it is placed in, else the default.
    fn region_of(d: &Desired, cx: &Cx) -> Option<String> {
        if let Some(r) = d.str("region") {
            return Some(r.to_string());
        }
        cx.refs
            .values()
            .filter(|r| r.schema == "aws.EksCluster")
            .find_map(|r| stored_str(&r.inputs, "region").map(str::to_string))
    }
}

/// `region/name`, the provider ID of regional objects.
fn split_id(id: &str) -> (Option<&str>, &str) {
    match id.split_once('/') {
        Some((r, n)) if !r.is_empty() => (Some(r), n),
        Some((_, n)) => (None, n),
        None => (None, id),
    }
}

fn tags(d: &Desired) -> HashMap<String, String> {
    match d.json("tags") {
        J::Object(m) => m
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
            .collect(),
        _ => HashMap::new(),
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::str(v.into())
}

// ------------------------------------------------------------------ EKS

/// The EC2 instance type of a provider-neutral node size (as `std.aws`).
fn instance_type_of(size: &str) -> &'static str {
    match size {
        "Small" => "t3.medium",
        "Large" => "m6i.xlarge",
        "XLarge" => "m6i.2xlarge",
        "2XLarge" => "m6i.4xlarge",
        "4XLarge" => "m6i.8xlarge",
        _ => "m6i.large",
    }
}

pub struct Eks(pub std::sync::Arc<Aws>);

struct NodeGroupSpec {
    name: String,
    instance_type: String,
    min: i32,
    max: i32,
    desired: i32,
    disk_gb: i32,
    spot: bool,
    labels: HashMap<String, String>,
}

fn node_groups(d: &Desired) -> Vec<NodeGroupSpec> {
    let J::Array(groups) = d.json("node_groups") else {
        return Vec::new();
    };
    groups
        .iter()
        .map(|g| {
            let int = |k: &str, dflt: i64| g[k].as_i64().unwrap_or(dflt) as i32;
            let min = int("min", 1);
            NodeGroupSpec {
                name: g["name"].as_str().unwrap_or("default").to_string(),
                instance_type: g["instance_type"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| instance_type_of(g["size"].as_str().unwrap_or("Medium")).to_string()),
                min,
                max: int("max", 3),
                desired: g["desired"].as_i64().map_or(min, |x| x as i32),
                disk_gb: int("disk_gb", 50),
                spot: g["spot"].as_bool().unwrap_or(false),
                labels: match &g["labels"] {
                    J::Object(m) => m
                        .iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect(),
                    _ => HashMap::new(),
                },
            }
        })
        .collect()
}

fn cluster_outputs(c: &aws_sdk_eks::types::Cluster) -> IndexMap<String, Value> {
    let vpc = c.resources_vpc_config();
    let mut network = IndexMap::new();
    network.insert(
        "vpc_id".to_string(),
        s(vpc.and_then(|v| v.vpc_id()).unwrap_or_default()),
    );
    network.insert(
        "subnet_ids".to_string(),
        Value::list(
            vpc.map(|v| v.subnet_ids())
                .unwrap_or_default()
                .iter()
                .map(|x| s(x.as_str()))
                .collect(),
        ),
    );
    network.insert(
        "security_group_id".to_string(),
        s(vpc
            .and_then(|v| v.cluster_security_group_id())
            .unwrap_or_default()),
    );
    let mut out = IndexMap::new();
    out.insert("endpoint".into(), s(c.endpoint().unwrap_or_default()));
    out.insert(
        "certificate_authority".into(),
        s(c.certificate_authority()
            .and_then(|a| a.data())
            .unwrap_or_default()),
    );
    out.insert("arn".into(), s(c.arn().unwrap_or_default()));
    out.insert(
        "oidc_issuer".into(),
        s(c.identity()
            .and_then(|i| i.oidc())
            .and_then(|o| o.issuer())
            .unwrap_or_default()),
    );
    out.insert("network".into(), Value::record(network));
    out
}

impl Eks {
    async fn describe(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        name: &str,
    ) -> Result<Option<aws_sdk_eks::types::Cluster>, ProviderError> {
        let r = aws_call(cx, "eks:DescribeCluster", || {
            client.describe_cluster().name(name).send()
        })
        .await;
        match r {
            Ok(out) => Ok(out.cluster().cloned()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn wait_active(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        name: &str,
    ) -> Result<aws_sdk_eks::types::Cluster, ProviderError> {
        use aws_sdk_eks::types::ClusterStatus;
        cx.wait_for(&format!("cluster `{name}` to become ACTIVE"), || async {
            let Some(c) = self.describe(cx, client, name).await? else {
                return Err(ProviderError::permanent(format!("cluster `{name}` disappeared")));
            };
            match c.status() {
                Some(ClusterStatus::Active) => Ok(Some(c)),
                Some(ClusterStatus::Failed) => Err(ProviderError::permanent(format!(
                    "cluster `{name}` failed to become ACTIVE"
                ))),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn create_node_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &aws_sdk_eks::types::Cluster,
        node_role: &str,
        g: &NodeGroupSpec,
    ) -> Result<(), ProviderError> {
        use aws_sdk_eks::types::{CapacityTypes, NodegroupScalingConfig};
        let name = cluster.name().unwrap_or_default();
        let subnets: Vec<String> = cluster
            .resources_vpc_config()
            .map(|v| v.subnet_ids().to_vec())
            .unwrap_or_default();
        let what = format!("eks:CreateNodegroup {}", g.name);
        aws_call(cx, &what, || {
            client
                .create_nodegroup()
                .cluster_name(name)
                .nodegroup_name(&g.name)
                .node_role(node_role)
                .set_subnets(Some(subnets.clone()))
                .instance_types(&g.instance_type)
                .disk_size(g.disk_gb)
                .capacity_type(if g.spot {
                    CapacityTypes::Spot
                } else {
                    CapacityTypes::OnDemand
                })
                .scaling_config(
                    NodegroupScalingConfig::builder()
                        .min_size(g.min)
                        .max_size(g.max)
                        .desired_size(g.desired)
                        .build(),
                )
                .set_labels(Some(g.labels.clone()))
                .send()
        })
        .await?;
        self.wait_node_group(cx, client, name, &g.name).await
    }

    async fn wait_node_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &str,
        group: &str,
    ) -> Result<(), ProviderError> {
        use aws_sdk_eks::types::NodegroupStatus;
        cx.wait_for(&format!("node group `{group}` to become ACTIVE"), || async {
            let out = client
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(group)
                .send()
                .await
                .map_err(|e| sdk_err("eks:DescribeNodegroup", e))?;
            match out.nodegroup().and_then(|n| n.status()) {
                Some(NodegroupStatus::Active) => Ok(Some(())),
                Some(NodegroupStatus::CreateFailed) | Some(NodegroupStatus::Degraded) => Err(
                    ProviderError::permanent(format!("node group `{group}` failed to become ACTIVE")),
                ),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn list_node_groups(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let out = aws_call(cx, "eks:ListNodegroups", || {
            client.list_nodegroups().cluster_name(cluster).send()
        })
        .await?;
        Ok(out.nodegroups().to_vec())
    }

    async fn delete_node_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &str,
        group: &str,
    ) -> Result<(), ProviderError> {
        let r = aws_call(cx, "eks:DeleteNodegroup", || {
            client
                .delete_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(group)
                .send()
        })
        .await;
        match r {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        cx.wait_for(&format!("node group `{group}` to be deleted"), || async {
            let r = client
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(group)
                .send()
                .await
                .map_err(|e| sdk_err("eks:DescribeNodegroup", e));
            match r {
                Err(e) if e.kind == ErrorKind::NotFound => Ok(Some(())),
                Err(e) => Err(e),
                Ok(_) => Ok(None),
            }
        })
        .await
    }

    async fn roles(&self, cx: &Cx, d: &Desired) -> Result<(String, String), ProviderError> {
        let role = d.str("role_arn").map(str::to_string);
        let node_role = d.str("node_role_arn").map(str::to_string);
        if let (Some(r), Some(n)) = (&role, &node_role) {
            return Ok((r.clone(), n.clone()));
        }
        let account = self.0.account(cx).await?;
        Ok((
            role.unwrap_or_else(|| format!("arn:aws:iam::{account}:role/tpt-eks-cluster")),
            node_role.unwrap_or_else(|| format!("arn:aws:iam::{account}:role/tpt-eks-node")),
        ))
    }

    async fn finish(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        region: &str,
        name: &str,
    ) -> Result<Applied, ProviderError> {
        let c = self.wait_active(cx, client, name).await?;
        Ok(Applied {
            provider_id: format!("{region}/{name}"),
            outputs: cluster_outputs(&c),
        })
    }
}

#[async_trait::async_trait]
impl Provider for Eks {
    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        use aws_sdk_eks::types::VpcConfigRequest;
        let name = d.name_or_default("name");
        let region = d.str("region").unwrap_or_default().to_string();
        let client = self.0.eks(Some(&region)).await;
        let (role, node_role) = self.roles(cx, d).await?;
        // The same token on a retry: EKS answers with the cluster already begun.
        let token = cx.secrets.password(&d.address, "eks-create");
        let public = d.bool("public_endpoint").unwrap_or(true);
        // Its own network first (found again by its tag after an interruption).
        let ec2 = self.0.ec2(Some(&region)).await;
        let network = super::vpc::ensure(
            cx,
            &ec2,
            &name,
            d.str("vpc_cidr").unwrap_or("10.0.0.0/16"),
            usize::try_from(d.int("zone_count").unwrap_or(3)).unwrap_or(3),
        )
        .await?;
        aws_call(cx, "eks:CreateCluster", || {
            client
                .create_cluster()
                .name(&name)
                .version(d.str("version").unwrap_or("1.30"))
                .role_arn(&role)
                .resources_vpc_config(
                    VpcConfigRequest::builder()
                        .set_subnet_ids(Some(network.subnet_ids.clone()))
                        .endpoint_public_access(public)
                        .endpoint_private_access(true)
                        .build(),
                )
                .set_tags(Some(tags(d)))
                .client_request_token(&token)
                .send()
        })
        .await?;
        let cluster = self.wait_active(cx, &client, &name).await?;
        for g in node_groups(d) {
            self.create_node_group(cx, &client, &cluster, &node_role, &g)
                .await?;
        }
        self.finish(cx, &client, &region, &name).await
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
        let (region, name) = split_id(&prior.provider_id);
        let region = region.unwrap_or_default().to_string();
        let client = self.0.eks(Some(&region)).await;
        let Some(cluster) = self.describe(cx, &client, name).await? else {
            return Err(ProviderError::not_found(format!(
                "cluster `{name}` no longer exists"
            )));
        };
        let version = d.str("version").unwrap_or("1.30");
        if cluster.version() != Some(version) {
            aws_call(cx, "eks:UpdateClusterVersion", || {
                client.update_cluster_version().name(name).version(version).send()
            })
            .await?;
            self.wait_active(cx, &client, name).await?;
        }
        let public = d.bool("public_endpoint").unwrap_or(true);
        if cluster.resources_vpc_config().map(|v| v.endpoint_public_access()) != Some(public) {
            aws_call(cx, "eks:UpdateClusterConfig", || {
                client
                    .update_cluster_config()
                    .name(name)
                    .resources_vpc_config(VpcConfigRequest::builder().endpoint_public_access(public).build())
                    .send()
            })
            .await?;
            self.wait_active(cx, &client, name).await?;
        }
        let wanted = tags(d);
        if let Some(arn) = cluster.arn() {
            if !wanted.is_empty() && cluster.tags() != Some(&wanted) {
                aws_call(cx, "eks:TagResource", || {
                    client
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(wanted.clone()))
                        .send()
                })
                .await?;
            }
        }
        // Node groups: new ones created, gone ones deleted, the rest rescaled.
        let (_, node_role) = self.roles(cx, d).await?;
        let existing = self.list_node_groups(cx, &client, name).await?;
        let groups = node_groups(d);
        for g in &groups {
            if existing.contains(&g.name) {
                let what = format!("eks:UpdateNodegroupConfig {}", g.name);
                aws_call(cx, &what, || {
                    client
                        .update_nodegroup_config()
                        .cluster_name(name)
                        .nodegroup_name(&g.name)
                        .scaling_config(
                            NodegroupScalingConfig::builder()
                                .min_size(g.min)
                                .max_size(g.max)
                                .desired_size(g.desired)
                                .build(),
                        )
                        .send()
                })
                .await?;
            } else {
                self.create_node_group(cx, &client, &cluster, &node_role, g)
                    .await?;
            }
        }
        for old in existing.iter().filter(|n| !groups.iter().any(|g| &g.name == *n)) {
            self.delete_node_group(cx, &client, name, old).await?;
        }
        self.finish(cx, &client, &region, name).await
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let (region, name) = split_id(&prior.provider_id);
        let client = self.0.eks(region).await;
        let ec2 = self.0.ec2(region).await;
        if self.describe(cx, &client, name).await?.is_none() {
            return super::vpc::remove(cx, &ec2, name).await;
        }
        for g in self.list_node_groups(cx, &client, name).await? {
            self.delete_node_group(cx, &client, name, &g).await?;
        }
        let r = aws_call(cx, "eks:DeleteCluster", || {
            client.delete_cluster().name(name).send()
        })
        .await;
        match r {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        cx.wait_for(&format!("cluster `{name}` to be deleted"), || async {
            Ok(self.describe(cx, &client, name).await?.is_none().then_some(()))
        })
        .await?;
        super::vpc::remove(cx, &ec2, name).await
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let (region, name) = split_id(&prior.provider_id);
        let client = self.0.eks(region).await;
        let Some(c) = self.describe(cx, &client, name).await? else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::new();
        if let Some(v) = c.version() {
            inputs.insert("version".to_string(), J::String(v.to_string()));
        }
        if let Some(v) = c.resources_vpc_config() {
            inputs.insert("public_endpoint".to_string(), J::Bool(v.endpoint_public_access()));
        }
        let outputs = cluster_outputs(&c)
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        Ok(Live::Present { inputs, outputs })
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        let name = d.name_or_default("name");
        let region = d.str("region").unwrap_or_default().to_string();
        let client = self.0.eks(Some(&region)).await;
        if self.describe(cx, &client, &name).await?.is_none() {
            return Ok(None);
        }
        // Finish what the interrupted create began: the cluster, then its groups.
        let cluster = self.wait_active(cx, &client, &name).await?;
        let (_, node_role) = self.roles(cx, d).await?;
        let existing = self.list_node_groups(cx, &client, &name).await?;
        for g in node_groups(d) {
            if existing.contains(&g.name) {
                self.wait_node_group(cx, &client, &name, &g.name).await?;
            } else {
                self.create_node_group(cx, &client, &cluster, &node_role, &g)
                    .await?;
            }
        }
        self.finish(cx, &client, &region, &name).await.map(Some)
    }
}

// ------------------------------------------------------------------ RDS

/// The RDS instance class of a provider-neutral database size (as `std.aws`).
fn instance_class_of(size: &str) -> &'static str {
    match size {
        "Medium" => "db.t4g.medium",
        "Large" => "db.r6g.large",
        "XLarge" => "db.r6g.xlarge",
        "2XLarge" => "db.r6g.2xlarge",
        "4XLarge" => "db.r6g.4xlarge",
        _ => "db.t4g.small",
    }
}

/// `aws.Postgres` and `aws.MySql`.
pub struct Rds(pub std::sync::Arc<Aws>);

fn engine(schema: &str) -> (&'static str, &'static str) {
    if schema == "aws.MySql" {
        ("mysql", "mysql")
    } else {
        ("postgres", "postgres")
    }
}

fn instance_class(d: &Desired) -> String {
    d.str("instance")
        .map(str::to_string)
        .unwrap_or_else(|| instance_class_of(d.str("size").unwrap_or("Small")).to_string())
}

/// The outputs of a database: the secret ones derived, not read.
#[allow(clippy::too_many_arguments)] // the fields of one endpoint, named at each call
fn db_outputs(
    cx: &Cx,
    schema: &str,
    address: &str,
    host: &str,
    port: i64,
    arn: &str,
    user: &str,
    database: &str,
) -> IndexMap<String, Value> {
    let password = cx.secrets.password(address, "master");
    let (_, scheme) = engine(schema);
    let mut connection = IndexMap::new();
    connection.insert("host".to_string(), s(host));
    connection.insert("port".to_string(), Value::Int(port));
    connection.insert("name".to_string(), s(database));
    connection.insert("user".to_string(), s(user));
    connection.insert("password".to_string(), Value::secret(s(password.as_str())));
    let mut out = IndexMap::new();
    out.insert("address".to_string(), s(host));
    out.insert("endpoint".to_string(), s(format!("{host}:{port}")));
    out.insert("password".to_string(), Value::secret(s(password.as_str())));
    out.insert(
        "url".to_string(),
        Value::secret(s(format!(
            "{scheme}://{user}:{password}@{host}:{port}/{database}"
        ))),
    );
    out.insert("connection".to_string(), Value::record(connection));
    out.insert("arn".to_string(), s(arn));
    out
}

impl Rds {
    async fn describe(
        &self,
        cx: &Cx,
        client: &aws_sdk_rds::Client,
        id: &str,
    ) -> Result<Option<aws_sdk_rds::types::DbInstance>, ProviderError> {
        let r = aws_call(cx, "rds:DescribeDBInstances", || {
            client.describe_db_instances().db_instance_identifier(id).send()
        })
        .await;
        match r {
            Ok(out) => Ok(out.db_instances().first().cloned()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn wait_available(
        &self,
        cx: &Cx,
        client: &aws_sdk_rds::Client,
        id: &str,
    ) -> Result<aws_sdk_rds::types::DbInstance, ProviderError> {
        cx.wait_for(&format!("database `{id}` to become available"), || async {
            let Some(db) = self.describe(cx, client, id).await? else {
                return Err(ProviderError::permanent(format!("database `{id}` disappeared")));
            };
            match db.db_instance_status() {
                Some("available") => Ok(Some(db)),
                Some(
                    s @ ("failed" | "incompatible-parameters" | "incompatible-restore" | "storage-full"),
                ) => Err(ProviderError::permanent(format!("database `{id}` is `{s}`"))),
                _ => Ok(None),
            }
        })
        .await
    }

    fn applied(
        &self,
        cx: &Cx,
        d_schema: &str,
        address: &str,
        region: &str,
        db: &aws_sdk_rds::types::DbInstance,
    ) -> Applied {
        let id = db.db_instance_identifier().unwrap_or_default();
        let host = db.endpoint().and_then(|e| e.address()).unwrap_or_default();
        let port = db.endpoint().and_then(|e| e.port()).unwrap_or_default();
        Applied {
            provider_id: format!("{region}/{id}"),
            outputs: db_outputs(
                cx,
                d_schema,
                address,
                host,
                i64::from(port),
                db.db_instance_arn().unwrap_or_default(),
                db.master_username().unwrap_or_default(),
                db.db_name().unwrap_or_default(),
            ),
        }
    }

    /// The subnet group for a database placed in a network; `None` without one.
    async fn subnet_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_rds::Client,
        id: &str,
        d: &Desired,
    ) -> Result<Option<String>, ProviderError> {
        let network = d.json("network");
        let subnets: Vec<String> = network["subnet_ids"]
            .as_array()
            .map(|xs| xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if subnets.is_empty() {
            return Ok(None);
        }
        let name = format!("{id}-subnets");
        let r = aws_call(cx, "rds:CreateDBSubnetGroup", || {
            client
                .create_db_subnet_group()
                .db_subnet_group_name(&name)
                .db_subnet_group_description("managed by tpt")
                .set_subnet_ids(Some(subnets.clone()))
                .send()
        })
        .await;
        match r {
            Ok(_) => Ok(Some(name)),
            Err(e) if e.message.contains("AlreadyExists") => Ok(Some(name)),
            Err(e) => Err(e),
        }
    }
}

#[async_trait::async_trait]
impl Provider for Rds {
    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let id = d.name_or_default("identifier");
        let region = Aws::region_of(d, cx);
        let client = self.0.rds(region.as_deref()).await;
        let (engine, _) = engine(&d.schema);
        let subnet_group = self.subnet_group(cx, &client, &id, d).await?;
        let security_group = d.json("network")["security_group_id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| vec![s.to_string()]);
        let password = cx.secrets.password(&d.address, "master");
        let tag_list: Vec<aws_sdk_rds::types::Tag> = tags(d)
            .into_iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
            .collect();
        let r = aws_call(cx, "rds:CreateDBInstance", || {
            client
                .create_db_instance()
                .db_instance_identifier(&id)
                .engine(engine)
                .engine_version(d.str("version").unwrap_or_default())
                .db_instance_class(instance_class(d))
                .db_name(d.str("database").unwrap_or("app"))
                .port(d.int("port").unwrap_or(5432) as i32)
                .allocated_storage(d.int("storage_gb").unwrap_or(20) as i32)
                .storage_type(d.str("storage_type").unwrap_or("gp3"))
                .backup_retention_period(d.int("backup_days").unwrap_or(7) as i32)
                .multi_az(d.bool("multi_az").unwrap_or(false))
                .deletion_protection(d.bool("deletion_protection").unwrap_or(false))
                .master_username(d.str("username").unwrap_or("app"))
                .master_user_password(&password)
                .set_db_subnet_group_name(subnet_group.clone())
                .set_vpc_security_group_ids(security_group.clone())
                .set_tags(Some(tag_list.clone()))
                .send()
        })
        .await;
        r?;
        let db = self.wait_available(cx, &client, &id).await?;
        Ok(self.applied(
            cx,
            &d.schema,
            &d.address,
            region.as_deref().unwrap_or_default(),
            &db,
        ))
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        let (region, id) = split_id(&prior.provider_id);
        let client = self.0.rds(region).await;
        let Some(current) = self.describe(cx, &client, id).await? else {
            return Err(ProviderError::not_found(format!(
                "database `{id}` no longer exists"
            )));
        };
        let version = d.str("version").unwrap_or_default();
        let version_changes = current
            .engine_version()
            .is_some_and(|v| v != version && !v.starts_with(&format!("{version}.")));
        aws_call(cx, "rds:ModifyDBInstance", || {
            client
                .modify_db_instance()
                .db_instance_identifier(id)
                .set_engine_version(version_changes.then(|| version.to_string()))
                .allow_major_version_upgrade(version_changes)
                .db_instance_class(instance_class(d))
                .allocated_storage(d.int("storage_gb").unwrap_or(20) as i32)
                .storage_type(d.str("storage_type").unwrap_or("gp3"))
                .backup_retention_period(d.int("backup_days").unwrap_or(7) as i32)
                .multi_az(d.bool("multi_az").unwrap_or(false))
                .deletion_protection(d.bool("deletion_protection").unwrap_or(false))
                .db_port_number(d.int("port").unwrap_or(5432) as i32)
                .apply_immediately(true)
                .send()
        })
        .await?;
        let db = self.wait_available(cx, &client, id).await?;
        Ok(self.applied(cx, &d.schema, &d.address, region.unwrap_or_default(), &db))
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let (region, id) = split_id(&prior.provider_id);
        let client = self.0.rds(region).await;
        let final_snapshot = prior
            .inputs
            .get("final_snapshot")
            .and_then(J::as_bool)
            .unwrap_or(true);
        // Unique even when the same database is deleted twice in a second.
        let stamp: String = crate::now_rfc3339()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let snapshot = format!("{id}-final-{stamp}-{:04x}", rand::random::<u16>());
        let r = aws_call(cx, "rds:DeleteDBInstance", || {
            client
                .delete_db_instance()
                .db_instance_identifier(id)
                .skip_final_snapshot(!final_snapshot)
                .set_final_db_snapshot_identifier(final_snapshot.then(|| snapshot.clone()))
                .send()
        })
        .await;
        match r {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        cx.wait_for(&format!("database `{id}` to be deleted"), || async {
            Ok(self.describe(cx, &client, id).await?.is_none().then_some(()))
        })
        .await?;
        // The subnet group made for it, if any.
        let group = format!("{id}-subnets");
        let _ = client
            .delete_db_subnet_group()
            .db_subnet_group_name(group)
            .send()
            .await;
        Ok(())
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let (region, id) = split_id(&prior.provider_id);
        let client = self.0.rds(region).await;
        let Some(db) = self.describe(cx, &client, id).await? else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::new();
        if let Some(v) = db.allocated_storage() {
            inputs.insert("storage_gb".to_string(), J::from(v));
        }
        if let Some(v) = db.backup_retention_period() {
            inputs.insert("backup_days".to_string(), J::from(v));
        }
        if let Some(v) = db.multi_az() {
            inputs.insert("multi_az".to_string(), J::Bool(v));
        }
        if let Some(v) = db.deletion_protection() {
            inputs.insert("deletion_protection".to_string(), J::Bool(v));
        }
        if let Some(v) = db.storage_type() {
            inputs.insert("storage_type".to_string(), J::String(v.to_string()));
        }
        if let Some(v) = db.engine_version() {
            // `16` was asked for and `16.4` runs: the same.
            let recorded = stored_str(&prior.inputs, "version").unwrap_or_default();
            let same = v == recorded || v.starts_with(&format!("{recorded}."));
            inputs.insert(
                "version".to_string(),
                J::String(if same { recorded.to_string() } else { v.to_string() }),
            );
        }
        let applied = self.applied(cx, &prior.schema, &cx.address, region.unwrap_or_default(), &db);
        let outputs = applied
            .outputs
            .iter()
            .filter(|(_, v)| !v.contains_secret())
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        Ok(Live::Present { inputs, outputs })
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        let id = d.name_or_default("identifier");
        let region = Aws::region_of(d, cx);
        let client = self.0.rds(region.as_deref()).await;
        if self.describe(cx, &client, &id).await?.is_none() {
            return Ok(None);
        }
        let db = self.wait_available(cx, &client, &id).await?;
        Ok(Some(self.applied(
            cx,
            &d.schema,
            &d.address,
            region.as_deref().unwrap_or_default(),
            &db,
        )))
    }

    fn secret_outputs(&self, cx: &Cx, prior: &ResourceState) -> IndexMap<String, Value> {
        let host = stored_str(&prior.outputs, "address").unwrap_or_default();
        let port = prior
            .outputs
            .get("connection")
            .and_then(|c| c.get("port"))
            .and_then(J::as_i64)
            .unwrap_or_default();
        let mut out = db_outputs(
            cx,
            &prior.schema,
            &cx.address,
            host,
            port,
            stored_str(&prior.outputs, "arn").unwrap_or_default(),
            stored_str(&prior.inputs, "username").unwrap_or("app"),
            stored_str(&prior.inputs, "database").unwrap_or("app"),
        );
        out.retain(|_, v| v.contains_secret());
        out
    }
}

// ------------------------------------------------------------------ Route53

/// A DNS name in Route53's form: lower case with the trailing dot.
pub fn fqdn(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with('.') {
        n
    } else {
        format!("{n}.")
    }
}

fn zone_id(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

async fn find_zone(
    cx: &Cx,
    client: &aws_sdk_route53::Client,
    name: &str,
    private: Option<bool>,
) -> Result<Option<aws_sdk_route53::types::HostedZone>, ProviderError> {
    let name = fqdn(name);
    let out = aws_call(cx, "route53:ListHostedZonesByName", || {
        client.list_hosted_zones_by_name().dns_name(&name).send()
    })
    .await?;
    Ok(out
        .hosted_zones()
        .iter()
        .find(|z| {
            fqdn(z.name()) == name
                && private.is_none_or(|p| z.config().map(|c| c.private_zone()).unwrap_or(false) == p)
        })
        .cloned())
}

async fn zone_outputs(
    cx: &Cx,
    client: &aws_sdk_route53::Client,
    id: &str,
) -> Result<Option<(aws_sdk_route53::types::HostedZone, IndexMap<String, Value>)>, ProviderError> {
    let r = aws_call(cx, "route53:GetHostedZone", || {
        client.get_hosted_zone().id(id).send()
    })
    .await;
    let out = match r {
        Ok(o) => o,
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(zone) = out.hosted_zone().cloned() else {
        return Ok(None);
    };
    let ns = out
        .delegation_set()
        .map(|d| d.name_servers().iter().map(|n| s(n.as_str())).collect())
        .unwrap_or_default();
    let mut outputs = IndexMap::new();
    outputs.insert("zone_id".to_string(), s(zone_id(zone.id())));
    outputs.insert("name_servers".to_string(), Value::list(ns));
    Ok(Some((zone, outputs)))
}

pub struct Zone(pub std::sync::Arc<Aws>);

#[async_trait::async_trait]
impl Provider for Zone {
    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        use aws_sdk_route53::types::{HostedZoneConfig, Vpc, VpcRegion};
        let client = self.0.route53().await;
        let private = d.bool("private").unwrap_or(false);
        let vpcs: Vec<String> = d
            .json("vpc_ids")
            .as_array()
            .map(|xs| xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let vpc = vpcs.first().map(|v| {
            let region = self
                .0
                .config
                .get()
                .and_then(|c| c.region())
                .map(|r| r.to_string());
            Vpc::builder()
                .vpc_id(v)
                .set_vpc_region(region.map(|r| VpcRegion::from(r.as_str())))
                .build()
        });
        // Unique per attempt: Route53 refuses a reused caller reference.
        let reference = format!("tpt-{}-{}", d.default_name, uuid::Uuid::new_v4());
        let out = aws_call(cx, "route53:CreateHostedZone", || {
            client
                .create_hosted_zone()
                .name(fqdn(d.str("name").unwrap_or_default()))
                .caller_reference(&reference)
                .hosted_zone_config(
                    HostedZoneConfig::builder()
                        .comment(d.str("comment").unwrap_or_default())
                        .private_zone(private)
                        .build(),
                )
                .set_vpc(vpc.clone())
                .send()
        })
        .await?;
        let id = out.hosted_zone().map(|z| zone_id(z.id())).unwrap_or_default();
        let Some((_, outputs)) = zone_outputs(cx, &client, &id).await? else {
            return Err(ProviderError::permanent(format!(
                "hosted zone `{id}` vanished after creation"
            )));
        };
        Ok(Applied {
            provider_id: id,
            outputs,
        })
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        let client = self.0.route53().await;
        let id = prior.provider_id.clone();
        let comment = d.str("comment").unwrap_or_default().to_string();
        aws_call(cx, "route53:UpdateHostedZoneComment", || {
            client
                .update_hosted_zone_comment()
                .id(&id)
                .comment(&comment)
                .send()
        })
        .await?;
        let Some((_, outputs)) = zone_outputs(cx, &client, &id).await? else {
            return Err(ProviderError::not_found(format!(
                "hosted zone `{id}` no longer exists"
            )));
        };
        Ok(Applied {
            provider_id: id,
            outputs,
        })
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let client = self.0.route53().await;
        let r = aws_call(cx, "route53:DeleteHostedZone", || {
            client.delete_hosted_zone().id(&prior.provider_id).send()
        })
        .await;
        match r {
            Err(e) if e.kind != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let client = self.0.route53().await;
        let Some((zone, outputs)) = zone_outputs(cx, &client, &prior.provider_id).await? else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::new();
        if let Some(c) = zone.config() {
            inputs.insert(
                "comment".to_string(),
                J::String(c.comment().unwrap_or_default().to_string()),
            );
            inputs.insert("private".to_string(), J::Bool(c.private_zone()));
        }
        let outputs = outputs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        Ok(Live::Present { inputs, outputs })
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        let client = self.0.route53().await;
        let Some(z) = find_zone(cx, &client, d.str("name").unwrap_or_default(), d.bool("private")).await?
        else {
            return Ok(None);
        };
        let id = zone_id(z.id());
        Ok(zone_outputs(cx, &client, &id).await?.map(|(_, outputs)| Applied {
            provider_id: id,
            outputs,
        }))
    }
}

/// `aws.ExistingHostedZone`: a zone looked up by name.
pub struct ExistingZone(pub std::sync::Arc<Aws>);

#[async_trait::async_trait]
impl DataSource for ExistingZone {
    async fn read_data(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let client = self.0.route53().await;
        let name = d.str("name").unwrap_or_default();
        let Some(z) = find_zone(cx, &client, name, d.bool("private")).await? else {
            return Err(ProviderError::not_found(format!(
                "there is no hosted zone named `{name}`"
            )));
        };
        let id = zone_id(z.id());
        let Some((_, outputs)) = zone_outputs(cx, &client, &id).await? else {
            return Err(ProviderError::not_found(format!(
                "there is no hosted zone named `{name}`"
            )));
        };
        Ok(Applied {
            provider_id: id,
            outputs,
        })
    }
}

pub struct Record(pub std::sync::Arc<Aws>);

/// A record's values as Route53 wants them: TXT values quoted.
fn record_values(d: &Desired, ty: &str) -> Vec<String> {
    let values: Vec<String> = d
        .json("values")
        .as_array()
        .map(|xs| xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if ty == "TXT" {
        values
            .into_iter()
            .map(|v| {
                if v.starts_with('"') {
                    v
                } else {
                    format!("\"{}\"", v.replace('"', "\\\""))
                }
            })
            .collect()
    } else {
        values
    }
}

impl Record {
    /// The zone ID of the domain `zone` and the record's ID parts.
    async fn zone(
        &self,
        cx: &Cx,
        client: &aws_sdk_route53::Client,
        zone: &str,
    ) -> Result<String, ProviderError> {
        match find_zone(cx, client, zone, None).await? {
            Some(z) => Ok(zone_id(z.id())),
            None => Err(ProviderError::permanent(format!(
                "there is no hosted zone `{zone}` for the record"
            ))),
        }
    }

    async fn current(
        &self,
        cx: &Cx,
        client: &aws_sdk_route53::Client,
        zone: &str,
        name: &str,
        ty: &str,
    ) -> Result<Option<aws_sdk_route53::types::ResourceRecordSet>, ProviderError> {
        use aws_sdk_route53::types::RrType;
        let r = aws_call(cx, "route53:ListResourceRecordSets", || {
            client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(name)
                .start_record_type(RrType::from(ty))
                .max_items(1)
                .send()
        })
        .await;
        let out = match r {
            Ok(o) => o,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|r| fqdn(r.name()) == fqdn(name) && r.r#type().as_str() == ty)
            .cloned())
    }

    async fn change(
        &self,
        cx: &Cx,
        client: &aws_sdk_route53::Client,
        zone: &str,
        action: aws_sdk_route53::types::ChangeAction,
        set: aws_sdk_route53::types::ResourceRecordSet,
    ) -> Result<(), ProviderError> {
        use aws_sdk_route53::types::{Change, ChangeBatch};
        let bad = |e: aws_sdk_route53::error::BuildError| ProviderError::permanent(e.to_string());
        let batch = ChangeBatch::builder()
            .changes(
                Change::builder()
                    .action(action)
                    .resource_record_set(set)
                    .build()
                    .map_err(bad)?,
            )
            .build()
            .map_err(bad)?;
        aws_call(cx, "route53:ChangeResourceRecordSets", || {
            client
                .change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(batch.clone())
                .send()
        })
        .await?;
        Ok(())
    }

    async fn upsert(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        use aws_sdk_route53::types::{ChangeAction, ResourceRecord, ResourceRecordSet, RrType};
        let client = self.0.route53().await;
        let zone = self.zone(cx, &client, d.str("zone").unwrap_or_default()).await?;
        let name = fqdn(d.str("name").unwrap_or_default());
        let ty = d.str("type").unwrap_or("A").to_string();
        let bad = |e: aws_sdk_route53::error::BuildError| ProviderError::permanent(e.to_string());
        let mut records = Vec::new();
        for v in record_values(d, &ty) {
            records.push(ResourceRecord::builder().value(v).build().map_err(bad)?);
        }
        let set = ResourceRecordSet::builder()
            .name(&name)
            .r#type(RrType::from(ty.as_str()))
            .ttl(d.int("ttl").unwrap_or(300))
            .set_resource_records(Some(records))
            .build()
            .map_err(bad)?;
        self.change(cx, &client, &zone, ChangeAction::Upsert, set).await?;
        let mut outputs = IndexMap::new();
        outputs.insert("fqdn".to_string(), s(name.as_str()));
        Ok(Applied {
            provider_id: format!("{zone}/{name}/{ty}"),
            outputs,
        })
    }
}

fn record_id(id: &str) -> Option<(&str, &str, &str)> {
    let mut parts = id.splitn(3, '/');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

#[async_trait::async_trait]
impl Provider for Record {
    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        self.upsert(cx, d).await
    }

    async fn update(&self, cx: &Cx, _prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        self.upsert(cx, d).await
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        use aws_sdk_route53::types::ChangeAction;
        let Some((zone, name, ty)) = record_id(&prior.provider_id) else {
            return Ok(());
        };
        let client = self.0.route53().await;
        // A DELETE must name the record exactly as it is now.
        let Some(set) = self.current(cx, &client, zone, name, ty).await? else {
            return Ok(());
        };
        self.change(cx, &client, zone, ChangeAction::Delete, set).await
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let Some((zone, name, ty)) = record_id(&prior.provider_id) else {
            return Ok(Live::Gone);
        };
        let client = self.0.route53().await;
        let Some(set) = self.current(cx, &client, zone, name, ty).await? else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::new();
        let values: Vec<J> = set
            .resource_records()
            .iter()
            .map(|r| {
                let v = r.value();
                let v = if ty == "TXT" {
                    v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(v)
                } else {
                    v
                };
                J::String(v.to_string())
            })
            .collect();
        inputs.insert("values".to_string(), J::Array(values));
        if let Some(ttl) = set.ttl() {
            // Recorded as written (`5m`); report it so when the seconds agree.
            let recorded = prior.inputs.get("ttl");
            let same = match recorded {
                Some(J::Number(n)) => n.as_i64() == Some(ttl),
                Some(J::String(d)) => {
                    tpt_lang::syntax::parser::parse_duration(d).map(|ms| ms / 1000) == Some(ttl)
                }
                _ => false,
            };
            let shown = match recorded {
                Some(r) if same => r.clone(),
                _ => J::from(ttl),
            };
            inputs.insert("ttl".to_string(), shown);
        }
        let mut outputs = BTreeMap::new();
        outputs.insert("fqdn".to_string(), J::String(fqdn(name)));
        Ok(Live::Present { inputs, outputs })
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        // An upsert is idempotent: finishing the interrupted one is safe.
        self.upsert(cx, d).await.map(Some)
    }
}
