//! `aws.Secret`: a secret in AWS Secrets Manager holding a tpt `secret`. Its
//! value goes to AWS and nowhere else: state keeps the keyed fingerprint the
//! planner stores for every secret, and reading it back fingerprints the live
//! value the same way, so a value changed by hand is drift that never shows.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value as J};
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{aws_call, s, split_id, user_tags, Aws, TagChange};
use crate::provider::{found, Applied, Cx, Desired, Fields, Provider, ProviderError};

pub struct Secret(pub Arc<Aws>);

/// A secret as the inputs describe it.
struct Spec {
    name: String,
    value: String,
    description: String,
    tags: BTreeMap<String, String>,
}

fn spec(d: &Desired) -> Result<Spec, ProviderError> {
    // A plain string fits a `secret` field, and would be stored in the clear.
    if !d.is_secret("value") {
        return Err(ProviderError::permanent(
            "`value` is a plain string, which state and plans would keep in the clear: give a secret (`secret_env(\"NAME\")`, `sensitive(\"…\")` or a secret output)",
        ));
    }
    let value = match d.json("value")? {
        J::String(v) => v,
        other => other.to_string(),
    };
    let days = d.int("recovery_days")?;
    if (1..7).contains(&days) {
        return Err(ProviderError::permanent(format!(
            "`recovery_days` is {days}: AWS keeps a deleted secret 7 to 30 days, or deletes it at once with 0"
        )));
    }
    Ok(Spec {
        name: d.name_or_default("name")?,
        value,
        description: d.str("description")?.to_string(),
        tags: d.string_map("tags")?,
    })
}

/// Tags as Secrets Manager takes them.
fn sm_tags(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_secretsmanager::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

/// The fingerprint state keeps of the secret `value` (as the planner's `store`).
fn sealed(cx: &Cx, value: &str) -> J {
    let plain = serde_json::to_string(&J::String(value.to_string())).unwrap_or_default();
    json!({ "$sensitive": cx.secrets.fingerprint(&plain) })
}

impl Secret {
    async fn client(&self, region: Option<&str>, cx: &Cx) -> (aws_sdk_secretsmanager::Client, String) {
        let region = self.0.region(region, cx).await;
        // No region anywhere: the SDK says so at the first call.
        let client = self
            .0
            .secretsmanager((!region.is_empty()).then_some(region.as_str()))
            .await;
        (client, region)
    }

    async fn client_of(&self, prior: &ResourceState) -> (aws_sdk_secretsmanager::Client, String) {
        let (region, name) = split_id(&prior.provider_id);
        (self.0.secretsmanager(region).await, name.to_string())
    }

    /// The ARN, description and user tags of secret `name`; `None` when it is
    /// gone (or scheduled for deletion).
    async fn describe(
        &self,
        cx: &Cx,
        client: &aws_sdk_secretsmanager::Client,
        name: &str,
    ) -> Result<Option<(String, String, BTreeMap<String, String>)>, ProviderError> {
        let r = aws_call(cx, "secretsmanager:DescribeSecret", || {
            client.describe_secret().secret_id(name).send()
        })
        .await;
        let Some(out) = found(r)? else { return Ok(None) };
        if out.deleted_date().is_some() {
            return Ok(None);
        }
        let tags = out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect::<Vec<_>>();
        Ok(Some((
            out.arn().unwrap_or_default().to_string(),
            out.description().unwrap_or_default().to_string(),
            user_tags(tags.iter().map(|(k, v)| (k, v))),
        )))
    }

    fn applied(region: &str, name: &str, arn: String) -> Applied {
        let mut outputs = IndexMap::default();
        outputs.insert("arn".to_string(), s(arn));
        Applied {
            rendered: Default::default(),
            provider_id: format!("{region}/{name}"),
            outputs,
        }
    }
}

#[async_trait::async_trait]
impl Provider for Secret {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Ok("`REGION/NAME`, e.g. `eu-west-1/shop/api-key`")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            // `recovery_days` is tpt's to honour when it deletes the secret:
            // recording it is the whole update.
            in_place: &["value", "description", "tags", "recovery_days"],
            reads: &["value", "description", "tags"],
            outputs: &["arn"],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.opt_str("region")?;
        spec(d).map(|_| ())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let spec = spec(d)?;
        let (client, region) = self.client(d.opt_str("region")?, cx).await;
        let tags = sm_tags(&spec.tags);
        let out = aws_call(cx, "secretsmanager:CreateSecret", || {
            client
                .create_secret()
                .name(&spec.name)
                .secret_string(&spec.value)
                .description(&spec.description)
                .set_tags((!tags.is_empty()).then(|| tags.clone()))
                .send()
        })
        .await?;
        Ok(Self::applied(
            &region,
            &spec.name,
            out.arn().unwrap_or_default().to_string(),
        ))
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        let spec = spec(d)?;
        let (client, name) = self.client_of(prior).await;
        let (region, _) = split_id(&prior.provider_id);
        let Some((arn, description, tags)) = self.describe(cx, &client, &name).await? else {
            return Err(ProviderError::not_found(format!(
                "secret `{name}` no longer exists"
            )));
        };
        // A new version only when the value is another one.
        if prior.inputs.get("value") != Some(&sealed(cx, &spec.value)) {
            aws_call(cx, "secretsmanager:PutSecretValue", || {
                client
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(&spec.value)
                    .send()
            })
            .await?;
        }
        if description != spec.description {
            aws_call(cx, "secretsmanager:UpdateSecret", || {
                client
                    .update_secret()
                    .secret_id(&name)
                    .description(&spec.description)
                    .send()
            })
            .await?;
        }
        let change = TagChange::between(&tags, &spec.tags);
        if !change.set.is_empty() {
            let set = sm_tags(&change.set);
            aws_call(cx, "secretsmanager:TagResource", || {
                client
                    .tag_resource()
                    .secret_id(&name)
                    .set_tags(Some(set.clone()))
                    .send()
            })
            .await?;
        }
        if !change.remove.is_empty() {
            aws_call(cx, "secretsmanager:UntagResource", || {
                client
                    .untag_resource()
                    .secret_id(&name)
                    .set_tag_keys(Some(change.remove.clone()))
                    .send()
            })
            .await?;
        }
        Ok(Self::applied(region.unwrap_or_default(), &name, arn))
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let (client, name) = self.client_of(prior).await;
        let days = prior
            .inputs
            .get("recovery_days")
            .and_then(J::as_i64)
            .unwrap_or(30);
        let r = aws_call(cx, "secretsmanager:DeleteSecret", || {
            let req = client.delete_secret().secret_id(&name);
            if days > 0 {
                req.recovery_window_in_days(days).send()
            } else {
                req.force_delete_without_recovery(true).send()
            }
        })
        .await;
        found(r).map(|_| ())
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let (client, name) = self.client_of(prior).await;
        let Some((arn, description, tags)) = self.describe(cx, &client, &name).await? else {
            return Ok(Live::Gone);
        };
        let value = aws_call(cx, "secretsmanager:GetSecretValue", || {
            client.get_secret_value().secret_id(&name).send()
        })
        .await?;
        let mut inputs = BTreeMap::new();
        if let Some(v) = value.secret_string() {
            inputs.insert("value".to_string(), sealed(cx, v));
        }
        inputs.insert("description".to_string(), J::String(description));
        inputs.insert("tags".to_string(), json!(tags));
        let mut outputs = prior.outputs.clone();
        outputs.insert("arn".to_string(), J::String(arn));
        Ok(Live::Present { inputs, outputs })
    }

    /// Found by name alone: an interrupted create's stored inputs hold only
    /// the value's fingerprint.
    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        let name = d.name_or_default("name")?;
        let (client, region) = self.client(d.opt_str("region")?, cx).await;
        Ok(self
            .describe(cx, &client, &name)
            .await?
            .map(|(arn, _, _)| Self::applied(&region, &name, arn)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tpt_lang::value::Value;

    fn desired(value: Value, recovery_days: i64) -> Desired {
        let inputs = IndexMap::from_iter([
            ("name".to_string(), Value::Null),
            ("region".to_string(), Value::Null),
            ("value".to_string(), value),
            ("description".to_string(), Value::str("d".to_string())),
            ("tags".to_string(), Value::Record(Default::default())),
            ("recovery_days".to_string(), Value::Int(recovery_days)),
        ]);
        Desired::new("api_key", "aws.Secret", inputs)
    }

    #[test]
    fn a_plain_string_value_is_refused_and_a_secret_taken() {
        let plain = spec(&desired(Value::str("in the clear".to_string()), 30));
        assert!(plain.is_err_and(|e| e.message.contains("plain string")));
        let secret = Value::Secret(Box::new(Value::str("hidden".to_string())));
        let ok = spec(&desired(secret, 30)).expect("a secret value");
        assert_eq!((ok.name.as_str(), ok.value.as_str()), ("api-key", "hidden"));
    }

    #[test]
    fn a_recovery_window_aws_refuses_is_refused_before_anything_runs() {
        let secret = || Value::Secret(Box::new(Value::str("x".to_string())));
        assert!(spec(&desired(secret(), 3)).is_err());
        assert!(spec(&desired(secret(), 0)).is_ok());
        assert!(spec(&desired(secret(), 7)).is_ok());
    }
}
