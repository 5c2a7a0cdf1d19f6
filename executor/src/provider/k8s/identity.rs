//! IAM roles for the service accounts of support services on EKS. A service
//! that calls AWS (external-dns, external-secrets, cert-manager with dns01)
//! says what it may do ([`ChartKind::aws_policy`](super::helm::ChartKind));
//! on an EKS cluster its chart provider makes a role for it that only its
//! service account, through the cluster's OIDC provider, can assume, with
//! that policy inline, and annotates the service account with the role
//! (`eks.amazonaws.com/role-arn`). On other clusters nothing is made: give
//! credentials through the chart's values.
//!
//! The role is part of the resource: recorded as its rendered input
//! `aws_role` (name, service account, policy), so a plan shows a change of the
//! policy and refresh shows one made by hand; made before the chart, deleted
//! after it.

use serde_json::{json, Value as J};
use tpt_lang::value::Value;
use tpt_planner::state::ResourceState;

use super::cluster_of;
use crate::provider::aws::vpc::CLUSTER_TAG;
use crate::provider::aws::{eks, iam, Aws};
use crate::provider::{stored_str, Cx, Desired, ProviderError};

/// The rendered input that records a service's role.
pub const FIELD: &str = "aws_role";

/// The EKS cluster a release runs on, as its roles and policies need it.
#[derive(Debug, Clone)]
pub struct Eks {
    pub name: String,
    pub region: String,
    pub partition: String,
    pub account: String,
    pub issuer: String,
    pub provider_arn: String,
}

impl Eks {
    /// The cluster of `d`, when it is an EKS cluster tpt has made (its
    /// account and issuer recorded).
    pub fn of(cx: &Cx, d: &Desired) -> Option<Eks> {
        let r = cx.refs.get(cluster_of(d)?)?;
        if r.kind != eks::KIND {
            return None;
        }
        let (partition, account) = iam::account_of(stored_str(&r.outputs, "arn")?)?;
        let issuer = stored_str(&r.outputs, "oidc_issuer").filter(|i| !i.is_empty())?;
        Some(Eks {
            name: stored_str(&r.inputs, "name").map_or_else(
                || crate::provider::default_name(cluster_of(d).unwrap_or_default()),
                str::to_string,
            ),
            region: stored_str(&r.inputs, "region")?.to_string(),
            partition: partition.to_string(),
            account: account.to_string(),
            issuer: issuer.to_string(),
            provider_arn: iam::oidc_provider_arn(partition, account, issuer),
        })
    }

    /// The ARN of `resource` of a regional `service` in `region`, in the
    /// cluster's account.
    pub fn arn(&self, service: &str, region: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{region}:{}:{resource}",
            self.partition, self.account
        )
    }

    /// The ARN of `resource` of a global `service` (`route53`): no region, no account.
    pub fn global_arn(&self, service: &str, resource: &str) -> String {
        format!("arn:{}:{service}:::{resource}", self.partition)
    }
}

/// A policy document of `statements`.
pub fn policy(statements: Vec<J>) -> J {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The role of a release's service account.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub name: String,
    pub arn: String,
    pub namespace: String,
    pub service_account: String,
    pub trust: J,
    pub policy: J,
    pub cluster: String,
    pub provider_arn: String,
    pub issuer: String,
}

impl Identity {
    /// The role for service account `namespace/service_account` of release
    /// `release` on `eks`, allowed `policy`.
    pub fn new(eks: &Eks, release: &str, namespace: &str, service_account: &str, policy: J) -> Identity {
        // Role names are the account's, clusters' names only their region's.
        let name = iam::role_name(&format!("{}-{}-{release}", eks.name, eks.region), "");
        Identity {
            arn: iam::role_arn(&eks.partition, &eks.account, &name),
            trust: iam::service_account_trust(&eks.provider_arn, &eks.issuer, namespace, service_account),
            name,
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
            policy,
            cluster: eks.name.clone(),
            provider_arn: eks.provider_arn.clone(),
            issuer: eks.issuer.clone(),
        }
    }

    /// The chart values that give the service account its name and the role.
    pub fn values(&self) -> J {
        json!({"serviceAccount": {
            "name": self.service_account,
            "annotations": {"eks.amazonaws.com/role-arn": self.arn},
        }})
    }

    /// What state records of it (the rendered input [`FIELD`]).
    pub fn stored(&self) -> J {
        json!({
            "name": self.name,
            "cluster": self.cluster,
            "service_account": format!("{}/{}", self.namespace, self.service_account),
            "policy": self.policy,
        })
    }

    pub fn value(this: Option<&Identity>) -> Value {
        this.map_or(Value::Null, |i| Value::from_json(&i.stored()))
    }

    /// Makes the role, or brings it to what is asked.
    pub async fn ensure(&self, cx: &Cx, aws: &Aws) -> Result<(), ProviderError> {
        let client = aws.iam().await;
        let role = iam::Role {
            name: &self.name,
            description: &format!(
                "made by tpt for service account {}/{} of EKS cluster {}",
                self.namespace, self.service_account, self.cluster
            ),
            trust: self.trust.clone(),
            managed: Vec::new(),
            inline: Some(self.policy.clone()),
            owner: (CLUSTER_TAG, &self.cluster),
        };
        // The provider the role trusts must exist (a cluster recorded before
        // tpt made providers has none yet).
        let owner = (CLUSTER_TAG, self.cluster.as_str());
        iam::ensure_oidc_provider(cx, &client, &self.provider_arn, &self.issuer, owner).await?;
        iam::ensure_role(cx, &client, &role).await.map(|_| ())
    }
}

/// The name of the role `prior` recorded, if any.
pub fn recorded(prior: &ResourceState) -> Option<&str> {
    prior.inputs.get(FIELD)?.get("name")?.as_str()
}

/// Deletes the role `prior` recorded unless it is `keep` (only if it is tpt's).
pub async fn remove(
    cx: &Cx,
    aws: &Aws,
    prior: &ResourceState,
    keep: Option<&str>,
) -> Result<(), ProviderError> {
    let cluster = prior
        .inputs
        .get(FIELD)
        .and_then(|r| r.get("cluster"))
        .and_then(J::as_str)
        .unwrap_or_default();
    match recorded(prior) {
        Some(name) if Some(name) != keep => {
            iam::remove_role(cx, &aws.iam().await, name, (CLUSTER_TAG, cluster)).await
        }
        _ => Ok(()),
    }
}

/// The role `prior` recorded as it is now (its policy read back); null when
/// none was recorded or it is gone.
pub async fn read(cx: &Cx, aws: &Aws, prior: &ResourceState) -> Result<J, ProviderError> {
    let Some(recorded) = prior.inputs.get(FIELD).filter(|r| r.is_object()) else {
        return Ok(J::Null);
    };
    let name = recorded["name"].as_str().unwrap_or_default();
    Ok(match iam::inline_policy(cx, &aws.iam().await, name).await? {
        Some(p) => {
            let mut live = recorded.clone();
            live["policy"] = p;
            live
        }
        None => J::Null,
    })
}
