//! `aws.EksCluster`: an EKS cluster, its network (`vpc.rs`) and its managed
//! node groups.
//!
//! A node group's name in EKS is its name in the configuration and a digest
//! of what EKS cannot change in place (instance type, disk size, capacity
//! type): changing one of those makes a group of a new name, created before
//! the old one is deleted, so the cluster keeps its nodes. Scaling and labels
//! are updated in place. `high_availability` keeps at least two nodes per
//! zone in every group.
//!
//! Identity: without `role_arn` / `node_role_arn`, tpt makes the roles
//! (`<name>-cluster`, `<name>-node`, with the AWS managed policies EKS
//! documents) and deletes them after the cluster; every cluster gets its
//! OIDC provider in IAM, which service accounts' roles trust (`iam.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Value as J};
use sha2::{Digest, Sha256};
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{aws_call, iam, s, split_id, user_tags, Aws, TagChange};
use crate::provider::{found, stored_str, string_map, Applied, Cx, Desired, Fields, Provider, ProviderError};

/// The schema this module applies.
pub const KIND: &str = "aws.EksCluster";

/// The tag that names a node group's group in the configuration.
const GROUP_TAG: &str = "tpt:node-group";

pub struct EksCluster(pub Arc<Aws>);

/// The EC2 instance type of a provider-neutral node size (`std.aws`'s
/// `node_instance_types`; the conformance test holds the two equal).
pub fn instance_type_of(size: &str) -> Option<&'static str> {
    Some(match size {
        "Small" => "t3.medium",
        "Medium" => "m6i.large",
        "Large" => "m6i.xlarge",
        "XLarge" => "m6i.2xlarge",
        "2XLarge" => "m6i.4xlarge",
        "4XLarge" => "m6i.8xlarge",
        _ => return None,
    })
}

/// The nodes of a group when neither `instance_type` nor `size` is given.
const DEFAULT_SIZE: &str = "Medium";

/// A cluster's inputs, read once.
struct Spec {
    name: String,
    region: String,
    version: String,
    zone_count: usize,
    public_endpoint: bool,
    vpc_cidr: String,
    tags: BTreeMap<String, String>,
    role_arn: Option<String>,
    node_role_arn: Option<String>,
    groups: Vec<GroupSpec>,
}

/// One node group, as applied (`high_availability` taken into account).
#[derive(Debug, Clone, PartialEq)]
struct GroupSpec {
    /// The name in the configuration.
    name: String,
    instance_type: String,
    min: i32,
    max: i32,
    /// The nodes to start with (`desired`, else `min`).
    desired: i32,
    /// `desired` as written (`None`: not given).
    desired_written: Option<i64>,
    disk_gb: i32,
    spot: bool,
    labels: BTreeMap<String, String>,
}

impl GroupSpec {
    /// Its name in EKS: the name and a digest of what cannot change in place.
    fn eks_name(&self) -> String {
        let digest = Sha256::digest(format!("{}\0{}\0{}", self.instance_type, self.disk_gb, self.spot));
        let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let base: String = self.name.chars().take(54).collect();
        format!("{base}-{hex}")
    }
}

/// The fewest nodes a group keeps: with `high_availability`, two per zone.
fn floor(min: i64, ha: bool, zones: usize) -> i64 {
    if ha {
        min.max(2 * zones as i64)
    } else {
        min
    }
}

/// A group of the input `node_groups` (a record of `std.aws.NodeGroup`).
fn group_spec(g: &J, ha: bool, zones: usize) -> Result<GroupSpec, ProviderError> {
    let bad = |what: &str| ProviderError::permanent(format!("a node group has no valid `{what}`"));
    let int = |k: &str| g[k].as_i64().ok_or_else(|| bad(k));
    let name = g["name"].as_str().ok_or_else(|| bad("name"))?.to_string();
    let size = g["size"].as_str();
    let instance_type = match (g["instance_type"].as_str(), size) {
        (Some(t), _) => t.to_string(),
        (None, s) => instance_type_of(s.unwrap_or(DEFAULT_SIZE))
            .ok_or_else(|| bad("size"))?
            .to_string(),
    };
    let (min, max) = (floor(int("min")?, ha, zones), int("max")?);
    let desired = g["desired"].as_i64().unwrap_or(min).max(min);
    if min > max {
        return Err(ProviderError::permanent(if ha {
            format!(
                "node group `{name}`: `high_availability` keeps at least two nodes per zone ({min} for {zones} zones), but `max` is {max}; raise `max` to at least {min}"
            )
        } else {
            format!("node group `{name}`: `min` ({min}) is more than `max` ({max})")
        }));
    }
    if desired > max {
        return Err(ProviderError::permanent(format!(
            "node group `{name}`: `desired` ({desired}) is more than `max` ({max})"
        )));
    }
    let i32_of = |v: i64, k: &str| i32::try_from(v).map_err(|_| bad(k));
    Ok(GroupSpec {
        name,
        instance_type,
        min: i32_of(min, "min")?,
        max: i32_of(max, "max")?,
        desired: i32_of(desired, "desired")?,
        desired_written: g["desired"].as_i64(),
        disk_gb: i32_of(int("disk_gb")?, "disk_gb")?,
        spot: g["spot"].as_bool().ok_or_else(|| bad("spot"))?,
        labels: string_map(&g["labels"]),
    })
}

fn spec(d: &Desired) -> Result<Spec, ProviderError> {
    let zone_count = usize::try_from(d.int("zone_count")?)
        .map_err(|_| ProviderError::permanent("`zone_count` must be positive"))?;
    // Applied through the groups' floors (`floor`).
    let high_availability = d.bool("high_availability")?;
    let groups = match d.json("node_groups")? {
        J::Array(gs) => gs
            .iter()
            .map(|g| group_spec(g, high_availability, zone_count))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for g in &groups {
        if !seen.insert(g.name.as_str()) {
            return Err(ProviderError::permanent(format!(
                "two node groups are named `{}`",
                g.name
            )));
        }
    }
    Ok(Spec {
        name: d.name_or_default("name")?,
        region: d.str("region")?.to_string(),
        version: d.str("version")?.to_string(),
        zone_count,
        public_endpoint: d.bool("public_endpoint")?,
        vpc_cidr: d.str("vpc_cidr")?.to_string(),
        tags: d.string_map("tags")?,
        role_arn: d.opt_str("role_arn")?.map(str::to_string),
        node_role_arn: d.opt_str("node_role_arn")?.map(str::to_string),
        groups,
    })
}

fn cluster_outputs(c: &aws_sdk_eks::types::Cluster) -> IndexMap<String, Value> {
    let vpc = c.resources_vpc_config();
    let mut network = IndexMap::default();
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
    let mut out = IndexMap::default();
    out.insert("endpoint".into(), s(c.endpoint().unwrap_or_default()));
    out.insert(
        "certificate_authority".into(),
        s(c.certificate_authority()
            .and_then(|a| a.data())
            .unwrap_or_default()),
    );
    out.insert("arn".into(), s(c.arn().unwrap_or_default()));
    out.insert("oidc_issuer".into(), s(oidc_issuer(c).unwrap_or_default()));
    out.insert(
        "oidc_provider_arn".into(),
        s(oidc_provider_arn(c).unwrap_or_default()),
    );
    out.insert("network".into(), Value::record(network));
    out
}

/// The cluster's OIDC issuer URL, once EKS has given it one.
fn oidc_issuer(c: &aws_sdk_eks::types::Cluster) -> Option<&str> {
    c.identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .filter(|i| !i.is_empty())
}

/// The ARN of the cluster's OIDC provider in IAM.
fn oidc_provider_arn(c: &aws_sdk_eks::types::Cluster) -> Option<String> {
    let (partition, account) = c.arn().and_then(iam::account_of)?;
    Some(iam::oidc_provider_arn(partition, account, oidc_issuer(c)?))
}

/// The name of a role tpt makes for cluster `name` in `region`: role names
/// are the account's, cluster names only their region's.
fn own_role(name: &str, region: &str, suffix: &str) -> String {
    iam::role_name(&format!("{name}-{region}"), suffix)
}

/// The roles tpt makes when none is given: the cluster's, then its nodes'
/// (name suffix, the AWS service acting as it, its AWS managed policies).
const OWN_ROLES: [(&str, &str, &[&str]); 2] = [
    ("-cluster", "eks.amazonaws.com", &["AmazonEKSClusterPolicy"]),
    (
        "-node",
        "ec2.amazonaws.com",
        &[
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
            "AmazonEC2ContainerRegistryReadOnly",
        ],
    ),
];

fn hash_map(m: &BTreeMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn btree(m: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// A node group as EKS reports it, in the terms of the configuration.
#[derive(Debug, Clone, PartialEq)]
struct LiveGroup {
    eks_name: String,
    /// Its name in the configuration (from its tag).
    name: String,
    arn: String,
    instance_type: String,
    min: i32,
    max: i32,
    desired: i32,
    disk_gb: i32,
    spot: bool,
    labels: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

fn live_group(n: &aws_sdk_eks::types::Nodegroup) -> LiveGroup {
    let eks_name = n.nodegroup_name().unwrap_or_default().to_string();
    let tags = btree(n.tags());
    let scaling = n.scaling_config();
    LiveGroup {
        name: tags.get(GROUP_TAG).cloned().unwrap_or_else(|| eks_name.clone()),
        eks_name,
        arn: n.nodegroup_arn().unwrap_or_default().to_string(),
        instance_type: n.instance_types().first().cloned().unwrap_or_default(),
        min: scaling.and_then(|s| s.min_size()).unwrap_or_default(),
        max: scaling.and_then(|s| s.max_size()).unwrap_or_default(),
        desired: scaling.and_then(|s| s.desired_size()).unwrap_or_default(),
        disk_gb: n.disk_size().unwrap_or_default(),
        spot: n.capacity_type() == Some(&aws_sdk_eks::types::CapacityTypes::Spot),
        labels: btree(n.labels()),
        tags,
    }
}

/// The live node groups in the stored form of the `node_groups` input, so
/// that what did not change compares equal: a group written with `size`
/// stays so while its instance type is the size's, a `min` (and `desired`)
/// raised by `high_availability` reads as written, and `desired` (moved by autoscalers)
/// is not drift while it stays within the bounds.
fn stored_groups(recorded: &BTreeMap<String, J>, live: &[LiveGroup]) -> J {
    let ha = recorded
        .get("high_availability")
        .and_then(J::as_bool)
        .unwrap_or(false);
    let zones = recorded
        .get("zone_count")
        .and_then(J::as_u64)
        .and_then(|z| usize::try_from(z).ok())
        .unwrap_or(0);
    let written: Vec<J> = recorded
        .get("node_groups")
        .and_then(J::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for g in live {
        let before = written.iter().find(|w| w["name"] == g.name.as_str());
        let mut w = before
            .cloned()
            .unwrap_or_else(|| json!({"name": g.name, "size": null, "desired": null}));
        let same_type = before
            .and_then(|b| group_spec(b, ha, zones).ok())
            .is_some_and(|b| b.instance_type == g.instance_type);
        if !same_type {
            w["instance_type"] = json!(g.instance_type);
            w["size"] = J::Null;
        }
        let written_min = w["min"].as_i64().unwrap_or_default();
        if floor(written_min, ha, zones) != i64::from(g.min) {
            w["min"] = json!(g.min);
        }
        w["max"] = json!(g.max);
        // A written `desired` below the floor is raised to it, like `min`.
        let in_bounds = |d: i64| d.max(i64::from(g.min)) <= i64::from(g.max);
        if !w["desired"].as_i64().is_none_or(in_bounds) {
            w["desired"] = json!(g.desired);
        }
        w["disk_gb"] = json!(g.disk_gb);
        w["spot"] = json!(g.spot);
        w["labels"] = json!(g.labels);
        out.push((before.is_none(), w));
    }
    // In the order written; groups made outside tpt last.
    out.sort_by_key(|(extra, w)| {
        (
            *extra,
            written
                .iter()
                .position(|x| x["name"] == w["name"])
                .unwrap_or(usize::MAX),
        )
    });
    J::Array(out.into_iter().map(|(_, w)| w).collect())
}

impl EksCluster {
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
        Ok(found(r)?.and_then(|out| out.cluster().cloned()))
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

    async fn describe_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &str,
        group: &str,
    ) -> Result<Option<aws_sdk_eks::types::Nodegroup>, ProviderError> {
        let r = aws_call(cx, "eks:DescribeNodegroup", || {
            client
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(group)
                .send()
        })
        .await;
        Ok(found(r)?.and_then(|out| out.nodegroup().cloned()))
    }

    /// The node groups of a cluster as they are now.
    async fn live_groups(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &str,
    ) -> Result<Vec<LiveGroup>, ProviderError> {
        let names = aws_call(cx, "eks:ListNodegroups", || {
            client.list_nodegroups().cluster_name(cluster).send()
        })
        .await?
        .nodegroups()
        .to_vec();
        let mut out = Vec::new();
        for n in names {
            if let Some(g) = self.describe_group(cx, client, cluster, &n).await? {
                out.push(live_group(&g));
            }
        }
        Ok(out)
    }

    async fn create_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &aws_sdk_eks::types::Cluster,
        node_role: &str,
        tags: &BTreeMap<String, String>,
        g: &GroupSpec,
    ) -> Result<(), ProviderError> {
        use aws_sdk_eks::types::{CapacityTypes, NodegroupScalingConfig};
        let name = cluster.name().unwrap_or_default();
        let subnets: Vec<String> = cluster
            .resources_vpc_config()
            .map(|v| v.subnet_ids().to_vec())
            .unwrap_or_default();
        let eks_name = g.eks_name();
        let mut all_tags = hash_map(tags);
        all_tags.insert(GROUP_TAG.to_string(), g.name.clone());
        let what = format!("eks:CreateNodegroup {eks_name}");
        aws_call(cx, &what, || {
            client
                .create_nodegroup()
                .cluster_name(name)
                .nodegroup_name(&eks_name)
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
                .set_labels(Some(hash_map(&g.labels)))
                .set_tags(Some(all_tags.clone()))
                .send()
        })
        .await?;
        self.wait_group(cx, client, name, &eks_name).await
    }

    async fn wait_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &str,
        group: &str,
    ) -> Result<(), ProviderError> {
        use aws_sdk_eks::types::NodegroupStatus;
        cx.wait_for(&format!("node group `{group}` to become ACTIVE"), || async {
            let Some(n) = self.describe_group(cx, client, cluster, group).await? else {
                return Err(ProviderError::permanent(format!(
                    "node group `{group}` disappeared"
                )));
            };
            match n.status() {
                Some(NodegroupStatus::Active) => Ok(Some(())),
                Some(NodegroupStatus::CreateFailed) | Some(NodegroupStatus::Degraded) => Err(
                    ProviderError::permanent(format!("node group `{group}` failed to become ACTIVE")),
                ),
                _ => Ok(None),
            }
        })
        .await
    }

    /// Scaling and labels of an existing group, in place; its tags.
    #[allow(clippy::too_many_arguments)] // one group's update, named at its one call
    async fn update_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &str,
        live: &LiveGroup,
        g: &GroupSpec,
        desired_changed: bool,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        use aws_sdk_eks::types::{NodegroupScalingConfig, UpdateLabelsPayload};
        // `desired` is where a group starts: an autoscaler moves it later. It is
        // sent when it was changed in the configuration, else the live count is
        // kept (within the bounds).
        let desired = if desired_changed {
            g.desired
        } else {
            live.desired.clamp(g.min, g.max)
        };
        let scaling = (live.min, live.max) != (g.min, g.max) || live.desired != desired;
        let add: HashMap<String, String> = g
            .labels
            .iter()
            .filter(|(k, v)| live.labels.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let remove: Vec<String> = live
            .labels
            .keys()
            .filter(|k| !g.labels.contains_key(*k))
            .cloned()
            .collect();
        if scaling || !add.is_empty() || !remove.is_empty() {
            let labels = (!add.is_empty() || !remove.is_empty()).then(|| {
                UpdateLabelsPayload::builder()
                    .set_add_or_update_labels((!add.is_empty()).then(|| add.clone()))
                    .set_remove_labels((!remove.is_empty()).then(|| remove.clone()))
                    .build()
            });
            let what = format!("eks:UpdateNodegroupConfig {}", live.eks_name);
            aws_call(cx, &what, || {
                client
                    .update_nodegroup_config()
                    .cluster_name(cluster)
                    .nodegroup_name(&live.eks_name)
                    .set_scaling_config(scaling.then(|| {
                        NodegroupScalingConfig::builder()
                            .min_size(g.min)
                            .max_size(g.max)
                            .desired_size(desired)
                            .build()
                    }))
                    .set_labels(labels.clone())
                    .send()
            })
            .await?;
            self.wait_group(cx, client, cluster, &live.eks_name).await?;
        }
        let mut wanted = tags.clone();
        wanted.insert(GROUP_TAG.to_string(), g.name.clone());
        self.retag(cx, client, &live.arn, &live.tags, &wanted).await
    }

    /// Brings the tags of the object `arn` from `current` to `wanted`.
    async fn retag(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        arn: &str,
        current: &BTreeMap<String, String>,
        wanted: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let change = TagChange::between(current, wanted);
        if !change.set.is_empty() {
            aws_call(cx, "eks:TagResource", || {
                client
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(hash_map(&change.set)))
                    .send()
            })
            .await?;
        }
        if !change.remove.is_empty() {
            aws_call(cx, "eks:UntagResource", || {
                client
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(change.remove.clone()))
                    .send()
            })
            .await?;
        }
        Ok(())
    }

    async fn delete_group(
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
        if found(r)?.is_none() {
            return Ok(());
        }
        cx.wait_for(&format!("node group `{group}` to be deleted"), || async {
            Ok(self
                .describe_group(cx, client, cluster, group)
                .await?
                .is_none()
                .then_some(()))
        })
        .await
    }

    /// The roles the cluster and its nodes act as: those given, else roles
    /// tpt makes (or brings back to what they must be) for this cluster.
    async fn roles(&self, cx: &Cx, spec: &Spec) -> Result<(String, String), ProviderError> {
        let iam = self.0.iam().await;
        let mut made = Vec::new();
        for (given, (suffix, service, policies)) in
            [&spec.role_arn, &spec.node_role_arn].into_iter().zip(OWN_ROLES)
        {
            if let Some(arn) = given {
                made.push(arn.clone());
                continue;
            }
            let name = own_role(&spec.name, &spec.region, suffix);
            let role = iam::Role {
                name: &name,
                description: &format!("made by tpt for EKS cluster {}", spec.name),
                trust: iam::service_trust(service),
                managed: policies
                    .iter()
                    .map(|p| format!("arn:aws:iam::aws:policy/{p}"))
                    .collect(),
                inline: None,
                owner: (super::vpc::CLUSTER_TAG, &spec.name),
            };
            made.push(iam::ensure_role(cx, &iam, &role).await?);
        }
        let node = made.pop().unwrap_or_default();
        let cluster = made.pop().unwrap_or_default();
        Ok((cluster, node))
    }

    /// Once the cluster is gone: its OIDC provider, and the roles tpt made
    /// for it (those it was not given).
    async fn remove_identity(&self, cx: &Cx, prior: &ResourceState, name: &str) -> Result<(), ProviderError> {
        let iam = self.0.iam().await;
        if let Some(arn) = stored_str(&prior.outputs, "oidc_provider_arn").filter(|a| !a.is_empty()) {
            iam::remove_oidc_provider(cx, &iam, arn).await?;
        }
        let region = stored_str(&prior.inputs, "region").unwrap_or_default();
        for (field, (suffix, _, _)) in ["role_arn", "node_role_arn"].into_iter().zip(OWN_ROLES) {
            if stored_str(&prior.inputs, field).is_none() {
                let role = own_role(name, region, suffix);
                iam::remove_role(cx, &iam, &role, (super::vpc::CLUSTER_TAG, name)).await?;
            }
        }
        Ok(())
    }

    /// Node groups to the spec: new ones (and replacements) created first,
    /// the rest updated in place, then those no longer wanted deleted.
    async fn converge_groups(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        cluster: &aws_sdk_eks::types::Cluster,
        spec: &Spec,
        prior: Option<&ResourceState>,
    ) -> Result<(), ProviderError> {
        let name = cluster.name().unwrap_or_default();
        let (_, node_role) = self.roles(cx, spec).await?;
        let live = self.live_groups(cx, client, name).await?;
        let written: Vec<J> = prior
            .and_then(|p| p.inputs.get("node_groups"))
            .and_then(J::as_array)
            .cloned()
            .unwrap_or_default();
        for g in &spec.groups {
            let desired_changed = written
                .iter()
                .find(|w| w["name"] == g.name.as_str())
                .is_none_or(|w| w["desired"].as_i64() != g.desired_written);
            match live.iter().find(|l| l.eks_name == g.eks_name()) {
                Some(l) => {
                    self.update_group(cx, client, name, l, g, desired_changed, &spec.tags)
                        .await?
                }
                None => {
                    self.create_group(cx, client, cluster, &node_role, &spec.tags, g)
                        .await?
                }
            }
        }
        let wanted: BTreeSet<String> = spec.groups.iter().map(GroupSpec::eks_name).collect();
        for old in live.iter().filter(|l| !wanted.contains(&l.eks_name)) {
            self.delete_group(cx, client, name, &old.eks_name).await?;
        }
        Ok(())
    }

    /// Waits for the cluster, makes sure its OIDC provider exists (service
    /// accounts assume IAM roles through it), and gives the outputs.
    async fn finish(
        &self,
        cx: &Cx,
        client: &aws_sdk_eks::Client,
        region: &str,
        name: &str,
    ) -> Result<Applied, ProviderError> {
        let c = self.wait_active(cx, client, name).await?;
        if let (Some(issuer), Some(arn)) = (oidc_issuer(&c), oidc_provider_arn(&c)) {
            let iam = self.0.iam().await;
            iam::ensure_oidc_provider(cx, &iam, &arn, issuer, (super::vpc::CLUSTER_TAG, name)).await?;
        }
        let outputs = cluster_outputs(&c);
        Ok(Applied {
            rendered: Default::default(),
            provider_id: format!("{region}/{name}"),
            outputs,
        })
    }
}

#[async_trait::async_trait]
impl Provider for EksCluster {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Err("a cluster's network, roles and node groups are tpt's own, found by its tags; a cluster made elsewhere cannot be adopted")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            in_place: &[
                "version",
                "node_groups",
                "high_availability",
                "public_endpoint",
                "tags",
            ],
            reads: &["version", "node_groups", "public_endpoint", "tags"],
            outputs: &[
                "endpoint",
                "certificate_authority",
                "arn",
                "oidc_issuer",
                "oidc_provider_arn",
                "network",
            ],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        spec(d).map(|_| ())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        use aws_sdk_eks::types::VpcConfigRequest;
        let spec = spec(d)?;
        let client = self.0.eks(Some(&spec.region)).await;
        let (role, _) = self.roles(cx, &spec).await?;
        // The same token on a retry: EKS answers with the cluster already begun.
        let token = cx.secrets.password(&d.address, "eks-create");
        // Its own network first (found again by its tag after an interruption).
        let ec2 = self.0.ec2(Some(&spec.region)).await;
        let network = super::vpc::ensure(cx, &ec2, &spec.name, &spec.vpc_cidr, spec.zone_count).await?;
        aws_call(cx, "eks:CreateCluster", || {
            client
                .create_cluster()
                .name(&spec.name)
                .version(&spec.version)
                .role_arn(&role)
                .resources_vpc_config(
                    VpcConfigRequest::builder()
                        .set_subnet_ids(Some(network.subnet_ids.clone()))
                        .endpoint_public_access(spec.public_endpoint)
                        .endpoint_private_access(true)
                        .build(),
                )
                .set_tags(Some(hash_map(&spec.tags)))
                .client_request_token(&token)
                .send()
        })
        .await?;
        let cluster = self.wait_active(cx, &client, &spec.name).await?;
        self.converge_groups(cx, &client, &cluster, &spec, None).await?;
        self.finish(cx, &client, &spec.region, &spec.name).await
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        use aws_sdk_eks::types::VpcConfigRequest;
        let spec = spec(d)?;
        let (region, name) = split_id(&prior.provider_id);
        let region = region.unwrap_or_default().to_string();
        let client = self.0.eks(Some(&region)).await;
        let Some(cluster) = self.describe(cx, &client, name).await? else {
            return Err(ProviderError::not_found(format!(
                "cluster `{name}` no longer exists"
            )));
        };
        if cluster.version() != Some(spec.version.as_str()) {
            aws_call(cx, "eks:UpdateClusterVersion", || {
                client
                    .update_cluster_version()
                    .name(name)
                    .version(&spec.version)
                    .send()
            })
            .await?;
            self.wait_active(cx, &client, name).await?;
        }
        if cluster.resources_vpc_config().map(|v| v.endpoint_public_access()) != Some(spec.public_endpoint) {
            aws_call(cx, "eks:UpdateClusterConfig", || {
                client
                    .update_cluster_config()
                    .name(name)
                    .resources_vpc_config(
                        VpcConfigRequest::builder()
                            .endpoint_public_access(spec.public_endpoint)
                            .build(),
                    )
                    .send()
            })
            .await?;
            self.wait_active(cx, &client, name).await?;
        }
        if let Some(arn) = cluster.arn() {
            self.retag(cx, &client, arn, &btree(cluster.tags()), &spec.tags)
                .await?;
        }
        self.converge_groups(cx, &client, &cluster, &spec, Some(prior))
            .await?;
        self.finish(cx, &client, &region, name).await
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let (region, name) = split_id(&prior.provider_id);
        let client = self.0.eks(region).await;
        let ec2 = self.0.ec2(region).await;
        if self.describe(cx, &client, name).await?.is_none() {
            super::vpc::remove(cx, &ec2, name).await?;
            return self.remove_identity(cx, prior, name).await;
        }
        for g in self.live_groups(cx, &client, name).await? {
            self.delete_group(cx, &client, name, &g.eks_name).await?;
        }
        let r = aws_call(cx, "eks:DeleteCluster", || {
            client.delete_cluster().name(name).send()
        })
        .await;
        // Already gone or going: wait until it is.
        found(r)?;
        cx.wait_for(&format!("cluster `{name}` to be deleted"), || async {
            Ok(self.describe(cx, &client, name).await?.is_none().then_some(()))
        })
        .await?;
        super::vpc::remove(cx, &ec2, name).await?;
        self.remove_identity(cx, prior, name).await
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
        inputs.insert("tags".to_string(), json!(user_tags(&btree(c.tags()))));
        let groups = self.live_groups(cx, &client, name).await?;
        inputs.insert("node_groups".to_string(), stored_groups(&prior.inputs, &groups));
        let outputs = cluster_outputs(&c)
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        Ok(Live::Present { inputs, outputs })
    }

    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        let spec = spec(d)?;
        let client = self.0.eks(Some(&spec.region)).await;
        let found = self.describe(cx, &client, &spec.name).await?;
        // One being deleted is not the interrupted create's.
        let alive = found.filter(|c| c.status() != Some(&aws_sdk_eks::types::ClusterStatus::Deleting));
        Ok(alive.map(|_| format!("{}/{}", spec.region, spec.name)))
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        let spec = spec(d)?;
        let client = self.0.eks(Some(&spec.region)).await;
        if self.describe(cx, &client, &spec.name).await?.is_none() {
            return Ok(None);
        }
        // Finish what the interrupted create began: the cluster, then its groups.
        let cluster = self.wait_active(cx, &client, &spec.name).await?;
        let live = self.live_groups(cx, &client, &spec.name).await?;
        for l in &live {
            self.wait_group(cx, &client, &spec.name, &l.eks_name).await?;
        }
        self.converge_groups(cx, &client, &cluster, &spec, None).await?;
        self.finish(cx, &client, &spec.region, &spec.name).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, size: Option<&str>, min: i64) -> J {
        json!({"name": name, "instance_type": null, "size": size, "min": min, "max": 8,
               "desired": null, "disk_gb": 50, "spot": false, "labels": {}})
    }

    #[test]
    fn a_group_is_renamed_by_what_cannot_change_in_place() {
        let g = group_spec(&group("default", None, 1), false, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.instance_type, "m6i.large");
        let mut bigger = g.clone();
        bigger.instance_type = "m6i.xlarge".into();
        let mut scaled = g.clone();
        scaled.max = 9;
        scaled.labels.insert("team".into(), "a".into());
        assert_ne!(g.eks_name(), bigger.eks_name());
        assert_eq!(g.eks_name(), scaled.eks_name());
        assert!(g.eks_name().starts_with("default-"));
    }

    #[test]
    fn high_availability_keeps_two_nodes_per_zone() {
        let g = group_spec(&group("default", None, 1), true, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((g.min, g.desired), (6, 6));
        let mut small = group("default", None, 1);
        small["max"] = json!(3);
        let err = group_spec(&small, true, 3)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(err.contains("raise `max` to at least 6"), "{err}");
    }

    #[test]
    fn live_groups_read_as_written_when_nothing_changed() {
        let written = group("default", Some("Large"), 1);
        let recorded: BTreeMap<String, J> = [
            ("node_groups".to_string(), json!([written.clone()])),
            ("high_availability".to_string(), json!(true)),
            ("zone_count".to_string(), json!(2)),
        ]
        .into_iter()
        .collect();
        let live = LiveGroup {
            eks_name: "default-0".into(),
            name: "default".into(),
            arn: String::new(),
            instance_type: "m6i.xlarge".into(),
            min: 4,
            max: 8,
            desired: 5,
            disk_gb: 50,
            spot: false,
            labels: BTreeMap::new(),
            tags: BTreeMap::new(),
        };
        assert_eq!(
            stored_groups(&recorded, std::slice::from_ref(&live)),
            json!([written])
        );
        let mut changed = live.clone();
        changed.instance_type = "m6i.large".into();
        changed.labels.insert("team".into(), "b".into());
        let got = stored_groups(&recorded, &[changed]);
        assert_eq!(got[0]["instance_type"], "m6i.large");
        assert_eq!(got[0]["size"], J::Null);
        assert_eq!(got[0]["labels"], json!({"team": "b"}));
    }
}
