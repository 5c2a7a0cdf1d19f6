//! IAM, as the kinds that need it use it: the roles an EKS cluster and its
//! nodes act as (made by tpt when none is given), the cluster's OIDC
//! provider, and the role of each support service that calls AWS, which its
//! Kubernetes service account assumes (IAM roles for service accounts). Not a
//! kind of its own: each role belongs to the resource that needs it, is made
//! and changed by that resource's apply, and deleted after it.
//!
//! A role tpt makes is owned whole: its trust policy, its attached managed
//! policies and its one inline policy (`tpt`) are set to what is asked, and
//! anything else attached by hand is detached.

use aws_sdk_iam::types::Tag;
use serde_json::{json, Value as J};
use sha2::{Digest, Sha256};

use super::{aws_call, Aws};
use crate::provider::{found, Cx, ProviderError};

/// The name of the inline policy tpt writes on a role it owns.
pub(crate) const INLINE_POLICY: &str = "tpt";

/// The audience EKS service account tokens are issued for.
const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// An IAM name (at most 64 characters) for `base` and `suffix`: as is when
/// it fits, else `base` cut short with a hash of the whole, so two long
/// names stay apart.
pub(crate) fn role_name(base: &str, suffix: &str) -> String {
    let whole = format!("{base}{suffix}");
    if whole.len() <= 64 {
        return whole;
    }
    let hash = Sha256::digest(whole.as_bytes());
    let tag: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let keep = 64 - suffix.len() - tag.len() - 1;
    let cut: String = base.chars().take(keep).collect();
    format!("{cut}-{tag}{suffix}")
}

/// The account and partition of an ARN (`arn:aws:eks:eu-west-1:123…:cluster/x`).
pub(crate) fn account_of(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    let (_, partition, _, _, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (!account.is_empty()).then_some((partition, account))
}

/// The ARN of role `name` in `account`.
pub(crate) fn role_arn(partition: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{name}")
}

/// A trust policy letting AWS service `service` (`eks.amazonaws.com`) act as the role.
pub(crate) fn service_trust(service: &str) -> J {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
        }],
    })
}

/// The ARN of the OIDC provider of a cluster whose issuer is `issuer`.
pub(crate) fn oidc_provider_arn(partition: &str, account: &str, issuer: &str) -> String {
    format!(
        "arn:{partition}:iam::{account}:oidc-provider/{}",
        issuer.trim_start_matches("https://")
    )
}

/// A trust policy letting the Kubernetes service account `namespace/name` of
/// the cluster with OIDC `issuer` (and provider `provider_arn`) act as the role.
pub(crate) fn service_account_trust(provider_arn: &str, issuer: &str, namespace: &str, name: &str) -> J {
    let host = issuer.trim_start_matches("https://");
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{host}:sub"): format!("system:serviceaccount:{namespace}:{name}"),
                format!("{host}:aud"): STS_AUDIENCE,
            }},
        }],
    })
}

/// A policy document as IAM returns it (URL-encoded JSON), parsed.
fn document(text: &str) -> Option<J> {
    serde_json::from_str(text).ok().or_else(|| {
        let decoded = percent_encoding::percent_decode_str(text).decode_utf8().ok()?;
        serde_json::from_str(&decoded).ok()
    })
}

/// A role as tpt wants it.
pub(crate) struct Role<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub trust: J,
    /// ARNs of managed policies attached to it.
    pub managed: Vec<String>,
    /// Its inline policy (`tpt`), if any.
    pub inline: Option<J>,
    /// The tag that says whose it is (`tpt:cluster` = the cluster's name): a
    /// role of that name without it is someone else's, never changed.
    pub owner: (&'a str, &'a str),
}

/// The tag that says whose an IAM object is.
fn owner_tag((key, value): (&str, &str)) -> Result<Tag, ProviderError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| ProviderError::permanent(format!("an IAM tag: {e}")))
}

/// Whether `role` carries the tag `owner`.
fn owned(role: &aws_sdk_iam::types::Role, owner: (&str, &str)) -> bool {
    role.tags()
        .iter()
        .any(|t| t.key() == owner.0 && t.value() == owner.1)
}

impl Aws {
    pub(crate) async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(self.config().await)
    }
}

/// Makes role `want` or brings it to what is asked; its ARN.
pub(crate) async fn ensure_role(
    cx: &Cx,
    iam: &aws_sdk_iam::Client,
    want: &Role<'_>,
) -> Result<String, ProviderError> {
    let trust = want.trust.to_string();
    let got = found(aws_call(cx, "iam:GetRole", || iam.get_role().role_name(want.name).send()).await)?;
    let arn = match got.as_ref().and_then(|g| g.role()) {
        Some(role) if !owned(role, want.owner) => {
            return Err(ProviderError::permanent(format!(
                "an IAM role `{}` exists that tpt did not make for this (it has no tag `{}` = `{}`): tpt changes only roles it made; delete or rename that role, or give the role to use",
                want.name, want.owner.0, want.owner.1
            )));
        }
        Some(role) => {
            let live = role.assume_role_policy_document().and_then(document);
            if live.as_ref() != Some(&want.trust) {
                aws_call(cx, "iam:UpdateAssumeRolePolicy", || {
                    iam.update_assume_role_policy()
                        .role_name(want.name)
                        .policy_document(&trust)
                        .send()
                })
                .await?;
            }
            role.arn().to_string()
        }
        None => {
            let tag = owner_tag(want.owner)?;
            let out = aws_call(cx, "iam:CreateRole", || {
                iam.create_role()
                    .role_name(want.name)
                    .description(want.description)
                    .assume_role_policy_document(&trust)
                    .tags(tag.clone())
                    .send()
            })
            .await?;
            out.role().map(|r| r.arn().to_string()).unwrap_or_default()
        }
    };
    let attached = aws_call(cx, "iam:ListAttachedRolePolicies", || {
        iam.list_attached_role_policies().role_name(want.name).send()
    })
    .await?;
    let attached: Vec<String> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    for arn in want.managed.iter().filter(|a| !attached.contains(a)) {
        aws_call(cx, "iam:AttachRolePolicy", || {
            iam.attach_role_policy()
                .role_name(want.name)
                .policy_arn(arn)
                .send()
        })
        .await?;
    }
    for arn in attached.iter().filter(|a| !want.managed.contains(a)) {
        aws_call(cx, "iam:DetachRolePolicy", || {
            iam.detach_role_policy()
                .role_name(want.name)
                .policy_arn(arn)
                .send()
        })
        .await?;
    }
    let live = inline_policy(cx, iam, want.name).await?;
    match &want.inline {
        Some(p) if live.as_ref() != Some(p) => {
            let text = p.to_string();
            aws_call(cx, "iam:PutRolePolicy", || {
                iam.put_role_policy()
                    .role_name(want.name)
                    .policy_name(INLINE_POLICY)
                    .policy_document(&text)
                    .send()
            })
            .await?;
        }
        None if live.is_some() => {
            aws_call(cx, "iam:DeleteRolePolicy", || {
                iam.delete_role_policy()
                    .role_name(want.name)
                    .policy_name(INLINE_POLICY)
                    .send()
            })
            .await?;
        }
        _ => {}
    }
    Ok(arn)
}

/// The inline policy tpt wrote on role `name`; `None` when it (or the role) is gone.
pub(crate) async fn inline_policy(
    cx: &Cx,
    iam: &aws_sdk_iam::Client,
    name: &str,
) -> Result<Option<J>, ProviderError> {
    let r = aws_call(cx, "iam:GetRolePolicy", || {
        iam.get_role_policy()
            .role_name(name)
            .policy_name(INLINE_POLICY)
            .send()
    })
    .await;
    Ok(found(r)?.and_then(|p| document(p.policy_document())))
}

/// Deletes role `name` with what is attached to it, if it is tpt's (tagged
/// `owner`); gone already is fine, someone else's is left alone.
pub(crate) async fn remove_role(
    cx: &Cx,
    iam: &aws_sdk_iam::Client,
    name: &str,
    owner: (&str, &str),
) -> Result<(), ProviderError> {
    let got = found(aws_call(cx, "iam:GetRole", || iam.get_role().role_name(name).send()).await)?;
    if !got
        .as_ref()
        .and_then(|g| g.role())
        .is_some_and(|r| owned(r, owner))
    {
        return Ok(());
    }
    let Some(attached) = found(
        aws_call(cx, "iam:ListAttachedRolePolicies", || {
            iam.list_attached_role_policies().role_name(name).send()
        })
        .await,
    )?
    else {
        return Ok(());
    };
    for arn in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
        let r = aws_call(cx, "iam:DetachRolePolicy", || {
            iam.detach_role_policy().role_name(name).policy_arn(arn).send()
        })
        .await;
        found(r)?;
    }
    let inline = aws_call(cx, "iam:ListRolePolicies", || {
        iam.list_role_policies().role_name(name).send()
    })
    .await?;
    for policy in inline.policy_names() {
        let r = aws_call(cx, "iam:DeleteRolePolicy", || {
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
        })
        .await;
        found(r)?;
    }
    let r = aws_call(cx, "iam:DeleteRole", || iam.delete_role().role_name(name).send()).await;
    found(r).map(|_| ())
}

/// Makes the OIDC provider of the cluster whose issuer is `issuer` (its ARN
/// is `arn`), tagged `owner`, unless it exists.
pub(crate) async fn ensure_oidc_provider(
    cx: &Cx,
    iam: &aws_sdk_iam::Client,
    arn: &str,
    issuer: &str,
    owner: (&str, &str),
) -> Result<(), ProviderError> {
    let got = aws_call(cx, "iam:GetOpenIDConnectProvider", || {
        iam.get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
    })
    .await;
    if found(got)?.is_some() {
        return Ok(());
    }
    let tag = owner_tag(owner)?;
    // No thumbprint: IAM trusts the certificate authorities of EKS issuers itself.
    let r = aws_call(cx, "iam:CreateOpenIDConnectProvider", || {
        iam.create_open_id_connect_provider()
            .url(issuer)
            .client_id_list(STS_AUDIENCE)
            .tags(tag.clone())
            .send()
    })
    .await;
    match r {
        Err(e) if e.kind == crate::provider::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Deletes the OIDC provider `arn`; gone already is fine.
pub(crate) async fn remove_oidc_provider(
    cx: &Cx,
    iam: &aws_sdk_iam::Client,
    arn: &str,
) -> Result<(), ProviderError> {
    let r = aws_call(cx, "iam:DeleteOpenIDConnectProvider", || {
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
    })
    .await;
    found(r).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_role_names_are_cut_with_a_hash_and_stay_apart() {
        assert_eq!(role_name("shop", "-cluster"), "shop-cluster");
        let a = role_name(&"a".repeat(63), "-cluster");
        let b = role_name(&format!("{}b", "a".repeat(62)), "-cluster");
        assert_eq!(a.len(), 64);
        assert!(a.ends_with("-cluster"));
        assert_ne!(a, b);
    }

    #[test]
    fn documents_read_in_either_form_iam_returns() {
        let j = json!({"Version": "2012-10-17"});
        assert_eq!(document(&j.to_string()), Some(j.clone()));
        assert_eq!(document("%7B%22Version%22%3A%222012-10-17%22%7D"), Some(j));
    }

    #[test]
    fn a_service_account_trust_names_the_account_and_the_audience() {
        let t = service_account_trust(
            "arn:aws:iam::1:oidc-provider/oidc.eks.x/id/A",
            "https://oidc.eks.x/id/A",
            "external-dns",
            "external-dns",
        );
        let c = &t["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(
            c["oidc.eks.x/id/A:sub"],
            "system:serviceaccount:external-dns:external-dns"
        );
        assert_eq!(c["oidc.eks.x/id/A:aud"], "sts.amazonaws.com");
        assert_eq!(
            account_of("arn:aws:eks:eu-west-1:123:cluster/x"),
            Some(("aws", "123"))
        );
    }
}
