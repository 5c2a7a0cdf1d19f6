//! `aws.Bucket`: an S3 bucket and the configuration tpt owns on it —
//! versioning, default encryption, the public access block, lifecycle rules,
//! tags. Each is its own S3 subresource with its own call; `configure` reads
//! them all and sends only those that differ, so an update never touches
//! what did not change (versioning, once on, can only be suspended).
//!
//! Names are global across AWS: a name taken by another account is a
//! permanent error that says so; one this account already owns is adopted
//! only when an earlier, interrupted run of tpt made it.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, Transition,
    TransitionStorageClass, VersioningConfiguration,
};
use serde_json::{json, Value as J};
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{aws_call, s, split_id, user_tags, Aws};
use crate::provider::{found, Applied, Cx, Desired, ErrorKind, Fields, Provider, ProviderError};

pub struct Bucket(pub Arc<Aws>);

/// One lifecycle rule, in the stored form of a `std.aws.LifecycleRule` record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Rule {
    id: String,
    prefix: String,
    enabled: bool,
    expire_days: Option<i32>,
    transition_days: Option<i32>,
    transition_class: String,
    noncurrent_expire_days: Option<i32>,
    abort_multipart_days: Option<i32>,
}

/// What tpt owns on a bucket, as the inputs describe it or as read back.
#[derive(Debug, Clone, PartialEq)]
struct Config {
    versioning: bool,
    encryption: String,
    kms_key_id: Option<String>,
    block_public_access: bool,
    rules: Vec<Rule>,
    tags: BTreeMap<String, String>,
    /// tpt's own `tpt:` tags on the bucket, kept when the tags are replaced
    /// (S3 replaces a bucket's tag set as a whole).
    own_tags: BTreeMap<String, String>,
}

fn spec(d: &Desired) -> Result<(String, Config), ProviderError> {
    let name = d.name_or_default("name")?;
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len()) || !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err(ProviderError::permanent(format!(
            "the bucket name `{name}` (the resource's name) is not one S3 takes (3 to 63 characters, starting and ending with a letter or digit): give a `name`"
        )));
    }
    let rules: Vec<Rule> = match d.json("lifecycle_rules")? {
        J::Null => Vec::new(),
        j => serde_json::from_value(j)
            .map_err(|e| ProviderError::permanent(format!("`lifecycle_rules`: {e}")))?,
    };
    let mut ids = std::collections::BTreeSet::new();
    for r in &rules {
        if !ids.insert(r.id.as_str()) {
            return Err(ProviderError::permanent(format!(
                "two lifecycle rules have the ID `{}`",
                r.id
            )));
        }
        if r.expire_days.is_none()
            && r.transition_days.is_none()
            && r.noncurrent_expire_days.is_none()
            && r.abort_multipart_days.is_none()
        {
            return Err(ProviderError::permanent(format!(
                "lifecycle rule `{}` does nothing: give it `expire_days`, `transition_days`, `noncurrent_expire_days` or `abort_multipart_days`",
                r.id
            )));
        }
        if let (Some(t), true) = (
            r.transition_days,
            ["STANDARD_IA", "ONEZONE_IA"].contains(&r.transition_class.as_str()),
        ) {
            if t < 30 {
                return Err(ProviderError::permanent(format!(
                    "lifecycle rule `{}` moves objects to {} after {t} days: S3 takes at least 30",
                    r.id, r.transition_class
                )));
            }
        }
        if let (Some(t), Some(e)) = (r.transition_days, r.expire_days) {
            if t >= e {
                return Err(ProviderError::permanent(format!(
                    "lifecycle rule `{}` moves objects after {t} days but deletes them after {e}: the move would never happen",
                    r.id
                )));
            }
        }
    }
    let kms_key_id = d.opt_str("kms_key_id")?.map(str::to_string);
    let encryption = if kms_key_id.is_some() { "aws:kms" } else { "AES256" }.to_string();
    Ok((
        name,
        Config {
            versioning: d.bool("versioning")?,
            encryption,
            kms_key_id,
            block_public_access: d.bool("block_public_access")?,
            rules,
            tags: d.string_map("tags")?,
            own_tags: BTreeMap::new(),
        },
    ))
}

/// A request part S3's model requires fields of, built from checked values.
fn built<T>(r: Result<T, aws_smithy_types::error::operation::BuildError>) -> Result<T, ProviderError> {
    r.map_err(|e| ProviderError::permanent(format!("an S3 request could not be built: {e}")))
}

fn sdk_rule(r: &Rule) -> Result<LifecycleRule, ProviderError> {
    let mut b = LifecycleRule::builder()
        .id(&r.id)
        .status(if r.enabled {
            ExpirationStatus::Enabled
        } else {
            ExpirationStatus::Disabled
        })
        .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build());
    if let Some(days) = r.expire_days {
        b = b.expiration(LifecycleExpiration::builder().days(days).build());
    }
    if let Some(days) = r.transition_days {
        b = b.transitions(
            Transition::builder()
                .days(days)
                .storage_class(TransitionStorageClass::from(r.transition_class.as_str()))
                .build(),
        );
    }
    if let Some(days) = r.noncurrent_expire_days {
        b = b.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(days)
                .build(),
        );
    }
    if let Some(days) = r.abort_multipart_days {
        b = b.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(days)
                .build(),
        );
    }
    built(b.build())
}

/// A live rule in the stored form. A rule without a move keeps the class
/// recorded for it (the default otherwise), so that it compares equal.
fn stored_rule(r: &LifecycleRule, recorded: &[Rule]) -> Rule {
    let id = r.id().unwrap_or_default().to_string();
    let transition = r.transitions().first();
    #[allow(deprecated)] // Rules written with the old top-level prefix read back too.
    let prefix = r
        .filter()
        .and_then(LifecycleRuleFilter::prefix)
        .or(r.prefix())
        .unwrap_or_default()
        .to_string();
    let class = match transition.and_then(|t| t.storage_class()) {
        Some(c) => c.as_str().to_string(),
        None => recorded
            .iter()
            .find(|w| w.id == id)
            .map_or_else(|| "STANDARD_IA".to_string(), |w| w.transition_class.clone()),
    };
    Rule {
        prefix,
        enabled: r.status() == &ExpirationStatus::Enabled,
        expire_days: r.expiration().and_then(LifecycleExpiration::days),
        transition_days: transition.and_then(Transition::days),
        transition_class: class,
        noncurrent_expire_days: r
            .noncurrent_version_expiration()
            .and_then(NoncurrentVersionExpiration::noncurrent_days),
        abort_multipart_days: r
            .abort_incomplete_multipart_upload()
            .and_then(AbortIncompleteMultipartUpload::days_after_initiation),
        id,
    }
}

impl Bucket {
    async fn client(&self, region: Option<&str>, cx: &Cx) -> (aws_sdk_s3::Client, String) {
        let region = self.0.region(region, cx).await;
        // No region anywhere: the SDK says so at the first call.
        let client = self.0.s3((!region.is_empty()).then_some(region.as_str())).await;
        (client, region)
    }

    async fn client_of(&self, prior: &ResourceState) -> (aws_sdk_s3::Client, String, String) {
        let (region, name) = split_id(&prior.provider_id);
        (
            self.0.s3(region).await,
            region.unwrap_or_default().to_string(),
            name.to_string(),
        )
    }

    /// Whether bucket `name` exists; one of another account's is an error
    /// that says so.
    async fn exists(&self, cx: &Cx, client: &aws_sdk_s3::Client, name: &str) -> Result<bool, ProviderError> {
        let r = aws_call(cx, "s3:HeadBucket", || client.head_bucket().bucket(name).send()).await;
        match found(r) {
            Ok(got) => Ok(got.is_some()),
            Err(e) if e.message.contains("Forbidden") || e.message.contains("AccessDenied") => {
                Err(ProviderError::permanent(format!(
                    "{}: bucket `{name}` is not this account's to see: bucket names are shared by every AWS account, and another may have it; choose another `name`",
                    e.message
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// What tpt owns on bucket `name`, read back; `recorded` rules give the
    /// stored form of what S3 does not keep.
    async fn config(
        &self,
        cx: &Cx,
        client: &aws_sdk_s3::Client,
        name: &str,
        recorded: &[Rule],
    ) -> Result<Config, ProviderError> {
        let versioning = aws_call(cx, "s3:GetBucketVersioning", || {
            client.get_bucket_versioning().bucket(name).send()
        })
        .await?;
        let encryption = found(
            aws_call(cx, "s3:GetBucketEncryption", || {
                client.get_bucket_encryption().bucket(name).send()
            })
            .await,
        )?;
        let by_default = encryption
            .as_ref()
            .and_then(|e| e.server_side_encryption_configuration())
            .and_then(|c| c.rules().first())
            .and_then(ServerSideEncryptionRule::apply_server_side_encryption_by_default);
        let block = found(
            aws_call(cx, "s3:GetPublicAccessBlock", || {
                client.get_public_access_block().bucket(name).send()
            })
            .await,
        )?;
        let blocked = block
            .as_ref()
            .and_then(|b| b.public_access_block_configuration())
            .is_some_and(|c| {
                [
                    c.block_public_acls(),
                    c.ignore_public_acls(),
                    c.block_public_policy(),
                    c.restrict_public_buckets(),
                ]
                .iter()
                .all(|x| *x == Some(true))
            });
        let lifecycle = found(
            aws_call(cx, "s3:GetBucketLifecycleConfiguration", || {
                client.get_bucket_lifecycle_configuration().bucket(name).send()
            })
            .await,
        )?;
        let rules = lifecycle
            .as_ref()
            .map(|l| l.rules().iter().map(|r| stored_rule(r, recorded)).collect())
            .unwrap_or_default();
        let tagging = found(
            aws_call(cx, "s3:GetBucketTagging", || {
                client.get_bucket_tagging().bucket(name).send()
            })
            .await,
        )?;
        let all: BTreeMap<String, String> = tagging
            .as_ref()
            .map(|t| {
                t.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let tags = user_tags(&all);
        let own_tags = all.into_iter().filter(|(k, _)| k.starts_with("tpt:")).collect();
        Ok(Config {
            versioning: versioning.status() == Some(&BucketVersioningStatus::Enabled),
            // Empty when none is configured: tpt then configures it, though
            // S3 encrypts with its own keys (`AES256`) by default.
            encryption: by_default.map_or("", |b| b.sse_algorithm().as_str()).to_string(),
            kms_key_id: by_default.and_then(|b| b.kms_master_key_id()).map(str::to_string),
            block_public_access: blocked,
            rules,
            tags,
            own_tags,
        })
    }

    /// Sends each part of `want` that differs from what the bucket has.
    async fn configure(
        &self,
        cx: &Cx,
        client: &aws_sdk_s3::Client,
        name: &str,
        want: &Config,
    ) -> Result<(), ProviderError> {
        let have = self.config(cx, client, name, &want.rules).await?;
        if have.block_public_access != want.block_public_access {
            if want.block_public_access {
                let all = PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build();
                aws_call(cx, "s3:PutPublicAccessBlock", || {
                    client
                        .put_public_access_block()
                        .bucket(name)
                        .public_access_block_configuration(all.clone())
                        .send()
                })
                .await?;
            } else {
                aws_call(cx, "s3:DeletePublicAccessBlock", || {
                    client.delete_public_access_block().bucket(name).send()
                })
                .await?;
            }
        }
        if (&have.encryption, &have.kms_key_id) != (&want.encryption, &want.kms_key_id) {
            let by_default = built(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(want.encryption.as_str()))
                    .set_kms_master_key_id(want.kms_key_id.clone())
                    .build(),
            )?;
            let config = built(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(by_default)
                            .build(),
                    )
                    .build(),
            )?;
            aws_call(cx, "s3:PutBucketEncryption", || {
                client
                    .put_bucket_encryption()
                    .bucket(name)
                    .server_side_encryption_configuration(config.clone())
                    .send()
            })
            .await?;
        }
        if have.versioning != want.versioning {
            let status = if want.versioning {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            let config = VersioningConfiguration::builder().status(status).build();
            aws_call(cx, "s3:PutBucketVersioning", || {
                client
                    .put_bucket_versioning()
                    .bucket(name)
                    .versioning_configuration(config.clone())
                    .send()
            })
            .await?;
        }
        if have.rules != want.rules {
            if want.rules.is_empty() {
                aws_call(cx, "s3:DeleteBucketLifecycle", || {
                    client.delete_bucket_lifecycle().bucket(name).send()
                })
                .await?;
            } else {
                let rules = want.rules.iter().map(sdk_rule).collect::<Result<Vec<_>, _>>()?;
                let config = built(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build(),
                )?;
                aws_call(cx, "s3:PutBucketLifecycleConfiguration", || {
                    client
                        .put_bucket_lifecycle_configuration()
                        .bucket(name)
                        .lifecycle_configuration(config.clone())
                        .send()
                })
                .await?;
            }
        }
        if have.tags != want.tags {
            if want.tags.is_empty() && have.own_tags.is_empty() {
                aws_call(cx, "s3:DeleteBucketTagging", || {
                    client.delete_bucket_tagging().bucket(name).send()
                })
                .await?;
            } else {
                let set = want
                    .tags
                    .iter()
                    .chain(&have.own_tags)
                    .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
                    .collect::<Result<Vec<_>, _>>()?;
                let tagging = built(Tagging::builder().set_tag_set(Some(set)).build())?;
                aws_call(cx, "s3:PutBucketTagging", || {
                    client
                        .put_bucket_tagging()
                        .bucket(name)
                        .tagging(tagging.clone())
                        .send()
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Deletes every object version and delete marker of bucket `name`, a
    /// page (at most 1,000) at a time.
    async fn empty(&self, cx: &Cx, client: &aws_sdk_s3::Client, name: &str) -> Result<(), ProviderError> {
        loop {
            let page = aws_call(cx, "s3:ListObjectVersions", || {
                client.list_object_versions().bucket(name).send()
            })
            .await?;
            let versions = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())));
            let objects = versions
                .filter_map(|(key, version)| {
                    let key = key?;
                    Some(built(
                        ObjectIdentifier::builder()
                            .key(key)
                            .set_version_id(version.map(str::to_string))
                            .build(),
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if objects.is_empty() {
                return Ok(());
            }
            let batch = built(Delete::builder().set_objects(Some(objects)).quiet(true).build())?;
            let out = aws_call(cx, "s3:DeleteObjects", || {
                client.delete_objects().bucket(name).delete(batch.clone()).send()
            })
            .await?;
            if let Some(e) = out.errors().first() {
                return Err(ProviderError::permanent(format!(
                    "s3:DeleteObjects: `{}`: {}",
                    e.key().unwrap_or_default(),
                    e.message().or(e.code()).unwrap_or("not deleted")
                )));
            }
        }
    }

    fn applied(region: &str, name: &str) -> Applied {
        let mut outputs = IndexMap::default();
        outputs.insert("arn".to_string(), s(format!("arn:aws:s3:::{name}")));
        outputs.insert(
            "domain_name".to_string(),
            s(format!("{name}.s3.{region}.amazonaws.com")),
        );
        Applied {
            rendered: Default::default(),
            provider_id: format!("{region}/{name}"),
            outputs,
        }
    }
}

#[async_trait::async_trait]
impl Provider for Bucket {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Ok("`REGION/BUCKET`, e.g. `eu-west-1/acme-media` (or `BUCKET` in the default region)")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            // `force_destroy` is tpt's to honour when it deletes the bucket:
            // recording it is the whole update.
            in_place: &[
                "versioning",
                "kms_key_id",
                "block_public_access",
                "lifecycle_rules",
                "tags",
                "force_destroy",
            ],
            reads: &[
                "versioning",
                "kms_key_id",
                "block_public_access",
                "lifecycle_rules",
                "tags",
            ],
            outputs: &["arn", "domain_name"],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        d.opt_str("region")?;
        d.bool("force_destroy")?;
        spec(d).map(|_| ())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let (name, want) = spec(d)?;
        let (client, region) = self.client(d.opt_str("region")?, cx).await;
        // us-east-1 is the one region named by no constraint.
        let location = (region != "us-east-1" && !region.is_empty()).then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build()
        });
        // Asked first: in us-east-1, S3 answers a create of a bucket this
        // account already owns with success, which would take it over silently.
        let taken = || {
            ProviderError {
            kind: ErrorKind::AlreadyExists,
            message: format!(
                "bucket `{name}` already exists in this account, and tpt did not make it: delete it, or choose another `name`"
            ),
        }
        };
        if self.exists(cx, &client, &name).await? {
            return Err(taken());
        }
        let r = aws_call(cx, "s3:CreateBucket", || {
            client
                .create_bucket()
                .bucket(&name)
                .set_create_bucket_configuration(location.clone())
                .send()
        })
        .await;
        match r {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::AlreadyExists => return Err(taken()),
            Err(e) if e.message.contains("BucketAlreadyExists:") => {
                return Err(ProviderError::permanent(format!(
                    "{}: bucket names are shared by every AWS account, and another one has `{name}`: choose another `name`",
                    e.message
                )));
            }
            Err(e) => return Err(e),
        }
        self.configure(cx, &client, &name, &want).await?;
        Ok(Self::applied(&region, &name))
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        let (_, want) = spec(d)?;
        let (client, region, name) = self.client_of(prior).await;
        if !self.exists(cx, &client, &name).await? {
            return Err(ProviderError::not_found(format!(
                "bucket `{name}` no longer exists"
            )));
        }
        self.configure(cx, &client, &name, &want).await?;
        Ok(Self::applied(&region, &name))
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let (client, _, name) = self.client_of(prior).await;
        let force = prior
            .inputs
            .get("force_destroy")
            .and_then(J::as_bool)
            .unwrap_or(false);
        if force && self.exists(cx, &client, &name).await? {
            self.empty(cx, &client, &name).await?;
        }
        let r = aws_call(cx, "s3:DeleteBucket", || {
            client.delete_bucket().bucket(&name).send()
        })
        .await;
        match found(r) {
            Err(e) if e.message.contains("BucketNotEmpty") => Err(ProviderError::permanent(format!(
                "{}: bucket `{name}` still holds objects, and tpt deletes those only when told to: set `force_destroy = true` and apply, then destroy again (or empty it yourself)",
                e.message
            ))),
            other => other.map(|_| ()),
        }
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let (client, _, name) = self.client_of(prior).await;
        if !self.exists(cx, &client, &name).await? {
            return Ok(Live::Gone);
        }
        let recorded: Vec<Rule> = prior
            .inputs
            .get("lifecycle_rules")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or_default();
        let live = self.config(cx, &client, &name, &recorded).await?;
        let inputs = BTreeMap::from([
            ("versioning".to_string(), J::Bool(live.versioning)),
            // With `aws:kms` and no key named, S3 uses the account's S3 key.
            (
                "kms_key_id".to_string(),
                match (live.encryption.as_str(), live.kms_key_id) {
                    ("aws:kms", None) => json!("alias/aws/s3"),
                    (_, key) => json!(key),
                },
            ),
            (
                "block_public_access".to_string(),
                J::Bool(live.block_public_access),
            ),
            ("lifecycle_rules".to_string(), json!(live.rules)),
            ("tags".to_string(), json!(live.tags)),
        ]);
        Ok(Live::Present {
            inputs,
            outputs: prior.outputs.clone(),
        })
    }

    /// Found by name: an interrupted create's bucket, which this account owns.
    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        let name = d.name_or_default("name")?;
        let (client, region) = self.client(d.opt_str("region")?, cx).await;
        Ok(self
            .exists(cx, &client, &name)
            .await?
            .then(|| Self::applied(&region, &name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tpt_lang::value::Value;

    fn rule(fields: &[(&str, Value)]) -> Value {
        let mut r = IndexMap::from_iter([
            ("id".to_string(), Value::str("logs".to_string())),
            ("prefix".to_string(), Value::str("logs/".to_string())),
            ("enabled".to_string(), Value::Bool(true)),
            ("expire_days".to_string(), Value::Null),
            ("transition_days".to_string(), Value::Null),
            (
                "transition_class".to_string(),
                Value::str("STANDARD_IA".to_string()),
            ),
            ("noncurrent_expire_days".to_string(), Value::Null),
            ("abort_multipart_days".to_string(), Value::Null),
        ]);
        for (k, v) in fields {
            r.insert((*k).to_string(), v.clone());
        }
        Value::record(r)
    }

    fn desired(name: &str, rules: Vec<Value>, kms: Option<&str>) -> Desired {
        let inputs = IndexMap::from_iter([
            ("name".to_string(), Value::str(name.to_string())),
            ("region".to_string(), Value::Null),
            ("versioning".to_string(), Value::Bool(true)),
            (
                "kms_key_id".to_string(),
                kms.map_or(Value::Null, |k| Value::str(k.to_string())),
            ),
            ("block_public_access".to_string(), Value::Bool(true)),
            ("lifecycle_rules".to_string(), Value::List(rules.into())),
            ("tags".to_string(), Value::Record(Default::default())),
            ("force_destroy".to_string(), Value::Bool(false)),
        ]);
        Desired::new("media", "aws.Bucket", inputs)
    }

    #[test]
    fn rules_that_do_nothing_or_contradict_themselves_are_refused() {
        let err = |d: Desired| spec(&d).err().map(|e| e.message).unwrap_or_default();
        assert!(err(desired("media", vec![rule(&[])], None)).contains("does nothing"));
        let late = rule(&[
            ("expire_days", Value::Int(30)),
            ("transition_days", Value::Int(30)),
        ]);
        assert!(err(desired("media", vec![late], None)).contains("never happen"));
        let twice = rule(&[("expire_days", Value::Int(3))]);
        assert!(err(desired("media", vec![twice.clone(), twice], None)).contains("two lifecycle rules"));
        assert!(err(desired("ab", vec![], None)).contains("3 characters"));
        let kms = spec(&desired("media", vec![], Some("alias/aws/s3"))).expect("a KMS key");
        assert_eq!(kms.1.encryption, "aws:kms");
        let ok = spec(&desired(
            "media",
            vec![rule(&[("expire_days", Value::Int(3))])],
            None,
        ))
        .expect("a valid bucket");
        assert_eq!(ok.1.rules[0].expire_days, Some(3));
    }

    #[test]
    fn a_rule_reads_back_in_its_stored_form() {
        let (_, config) = spec(&desired(
            "media",
            vec![rule(&[
                ("expire_days", Value::Int(90)),
                ("transition_class", Value::str("GLACIER".to_string())),
                ("abort_multipart_days", Value::Int(2)),
            ])],
            None,
        ))
        .expect("a valid bucket");
        let sent = sdk_rule(&config.rules[0]).expect("a rule");
        assert_eq!(stored_rule(&sent, &config.rules), config.rules[0]);
        let moved = Rule {
            transition_days: Some(30),
            ..config.rules[0].clone()
        };
        let sent = sdk_rule(&moved).expect("a rule");
        assert_eq!(stored_rule(&sent, &[]), moved);
    }
}
