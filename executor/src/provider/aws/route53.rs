//! Route53: `aws.HostedZone` (zones, with their VPC associations when
//! private), `aws.DnsRecord` (record sets, names always in the trailing-dot
//! form), and the data lookup `aws.ExistingHostedZone`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value as J;
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{aws_call, s, Aws};
use crate::provider::{found, Applied, Cx, DataSource, Desired, Fields, Provider, ProviderError};

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

/// A zone as Route53 has it: the zone, its outputs, the VPCs it is visible in.
type ZoneNow = (
    aws_sdk_route53::types::HostedZone,
    IndexMap<String, Value>,
    Vec<String>,
);

async fn zone_outputs(
    cx: &Cx,
    client: &aws_sdk_route53::Client,
    id: &str,
) -> Result<Option<ZoneNow>, ProviderError> {
    let r = aws_call(cx, "route53:GetHostedZone", || {
        client.get_hosted_zone().id(id).send()
    })
    .await;
    let Some(out) = found(r)? else {
        return Ok(None);
    };
    let Some(zone) = out.hosted_zone().cloned() else {
        return Ok(None);
    };
    let ns = out
        .delegation_set()
        .map(|d| d.name_servers().iter().map(|n| s(n.as_str())).collect())
        .unwrap_or_default();
    let mut outputs = IndexMap::default();
    outputs.insert("zone_id".to_string(), s(zone_id(zone.id())));
    outputs.insert("name_servers".to_string(), Value::list(ns));
    let vpcs = out
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_string))
        .collect();
    Ok(Some((zone, outputs, vpcs)))
}

pub struct HostedZone(pub Arc<Aws>);

/// A zone's inputs, read once.
struct ZoneSpec {
    name: String,
    private: bool,
    vpc_ids: Vec<String>,
    comment: String,
}

fn zone_spec(d: &Desired) -> Result<ZoneSpec, ProviderError> {
    let spec = ZoneSpec {
        name: d.str("name")?.to_string(),
        private: d.bool("private")?,
        vpc_ids: d.strings("vpc_ids")?,
        comment: d.str("comment")?.to_string(),
    };
    if spec.private && spec.vpc_ids.is_empty() {
        return Err(ProviderError::permanent(
            "a private zone needs at least one VPC in `vpc_ids` (e.g. `[main.network.vpc_id]`)",
        ));
    }
    if !spec.private && !spec.vpc_ids.is_empty() {
        return Err(ProviderError::permanent(
            "`vpc_ids` is only for private zones: set `private = true` or remove `vpc_ids`",
        ));
    }
    Ok(spec)
}

impl HostedZone {
    /// A VPC in the region of the clients (where the zone's clusters run).
    fn vpc(&self, id: &str) -> aws_sdk_route53::types::Vpc {
        use aws_sdk_route53::types::{Vpc, VpcRegion};
        let region = self
            .0
            .config
            .get()
            .and_then(|c| c.region())
            .map(|r| r.to_string());
        Vpc::builder()
            .vpc_id(id)
            .set_vpc_region(region.map(|r| VpcRegion::from(r.as_str())))
            .build()
    }

    /// Associates the zone with the VPCs wanted and no others.
    async fn associate(
        &self,
        cx: &Cx,
        client: &aws_sdk_route53::Client,
        id: &str,
        current: &[String],
        wanted: &[String],
    ) -> Result<(), ProviderError> {
        for v in wanted.iter().filter(|v| !current.contains(v)) {
            let vpc = self.vpc(v);
            aws_call(cx, "route53:AssociateVPCWithHostedZone", || {
                client
                    .associate_vpc_with_hosted_zone()
                    .hosted_zone_id(id)
                    .vpc(vpc.clone())
                    .send()
            })
            .await?;
        }
        for v in current.iter().filter(|v| !wanted.contains(v)) {
            let vpc = self.vpc(v);
            aws_call(cx, "route53:DisassociateVPCFromHostedZone", || {
                client
                    .disassociate_vpc_from_hosted_zone()
                    .hosted_zone_id(id)
                    .vpc(vpc.clone())
                    .send()
            })
            .await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Provider for HostedZone {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Ok("the zone ID, e.g. `Z0123456789ABCDEFGHIJ`")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            in_place: &["vpc_ids", "comment"],
            reads: &["name", "private", "vpc_ids", "comment"],
            outputs: &["zone_id", "name_servers"],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        zone_spec(d).map(|_| ())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        use aws_sdk_route53::types::HostedZoneConfig;
        let spec = zone_spec(d)?;
        let client = self.0.route53().await;
        // A private zone is made with its first VPC; the others are associated after.
        let first = spec.vpc_ids.first().map(|v| self.vpc(v));
        // Unique per attempt: Route53 refuses a reused caller reference.
        let reference = format!("tpt-{}-{}", d.default_name, uuid::Uuid::new_v4());
        let out = aws_call(cx, "route53:CreateHostedZone", || {
            client
                .create_hosted_zone()
                .name(fqdn(&spec.name))
                .caller_reference(&reference)
                .hosted_zone_config(
                    HostedZoneConfig::builder()
                        .comment(&spec.comment)
                        .private_zone(spec.private)
                        .build(),
                )
                .set_vpc(first.clone())
                .send()
        })
        .await?;
        let id = out.hosted_zone().map(|z| zone_id(z.id())).unwrap_or_default();
        let current: Vec<String> = spec.vpc_ids.iter().take(1).cloned().collect();
        self.associate(cx, &client, &id, &current, &spec.vpc_ids).await?;
        let Some((_, outputs, _)) = zone_outputs(cx, &client, &id).await? else {
            return Err(ProviderError::permanent(format!(
                "hosted zone `{id}` vanished after creation"
            )));
        };
        Ok(Applied {
            rendered: Default::default(),
            provider_id: id,
            outputs,
        })
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        let spec = zone_spec(d)?;
        let client = self.0.route53().await;
        let id = prior.provider_id.clone();
        let Some((zone, _, vpcs)) = zone_outputs(cx, &client, &id).await? else {
            return Err(ProviderError::not_found(format!(
                "hosted zone `{id}` no longer exists"
            )));
        };
        if zone.config().and_then(|c| c.comment()).unwrap_or_default() != spec.comment {
            aws_call(cx, "route53:UpdateHostedZoneComment", || {
                client
                    .update_hosted_zone_comment()
                    .id(&id)
                    .comment(&spec.comment)
                    .send()
            })
            .await?;
        }
        self.associate(cx, &client, &id, &vpcs, &spec.vpc_ids).await?;
        let Some((_, outputs, _)) = zone_outputs(cx, &client, &id).await? else {
            return Err(ProviderError::not_found(format!(
                "hosted zone `{id}` no longer exists"
            )));
        };
        Ok(Applied {
            rendered: Default::default(),
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
        found(r).map(|_| ())
    }

    async fn read(&self, cx: &Cx, prior: &ResourceState) -> Result<Live, ProviderError> {
        let client = self.0.route53().await;
        let Some((zone, outputs, vpcs)) = zone_outputs(cx, &client, &prior.provider_id).await? else {
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
        // The name as written (with or without the trailing dot) when it is the same.
        let recorded = prior.inputs.get("name").and_then(J::as_str).unwrap_or_default();
        let name = if fqdn(recorded) == fqdn(zone.name()) {
            recorded.to_string()
        } else {
            zone.name().to_string()
        };
        inputs.insert("name".to_string(), J::String(name));
        // In the order written; the set is what matters.
        let written: Vec<String> = prior
            .inputs
            .get("vpc_ids")
            .and_then(J::as_array)
            .map(|xs| xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let live: BTreeSet<&String> = vpcs.iter().collect();
        let mut shown: Vec<J> = written
            .iter()
            .filter(|v| live.contains(v))
            .map(|v| J::String(v.clone()))
            .collect();
        shown.extend(
            vpcs.iter()
                .filter(|v| !written.contains(v))
                .map(|v| J::String(v.clone())),
        );
        inputs.insert("vpc_ids".to_string(), J::Array(shown));
        let outputs = outputs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        Ok(Live::Present { inputs, outputs })
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        let client = self.0.route53().await;
        let Some(z) = find_zone(cx, &client, d.str("name")?, Some(d.bool("private")?)).await? else {
            return Ok(None);
        };
        let id = zone_id(z.id());
        Ok(zone_outputs(cx, &client, &id)
            .await?
            .map(|(_, outputs, _)| Applied {
                rendered: Default::default(),
                provider_id: id,
                outputs,
            }))
    }
}

/// `aws.ExistingHostedZone`: a zone looked up by name.
pub struct ExistingHostedZone(pub Arc<Aws>);

#[async_trait::async_trait]
impl DataSource for ExistingHostedZone {
    async fn read_data(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let client = self.0.route53().await;
        let name = d.str("name")?;
        let Some(z) = find_zone(cx, &client, name, Some(d.bool("private")?)).await? else {
            return Err(ProviderError::not_found(format!(
                "there is no hosted zone named `{name}`"
            )));
        };
        let id = zone_id(z.id());
        let Some((_, outputs, _)) = zone_outputs(cx, &client, &id).await? else {
            return Err(ProviderError::not_found(format!(
                "there is no hosted zone named `{name}`"
            )));
        };
        Ok(Applied {
            rendered: Default::default(),
            provider_id: id,
            outputs,
        })
    }
}

pub struct DnsRecord(pub Arc<Aws>);

/// A record's inputs, read once.
struct RecordSpec {
    zone: String,
    /// With the trailing dot.
    name: String,
    ty: String,
    ttl: i64,
    /// As Route53 wants them: TXT values quoted.
    values: Vec<String>,
}

fn record_spec(d: &Desired) -> Result<RecordSpec, ProviderError> {
    let ty = d.str("type")?.to_string();
    let values = d
        .strings("values")?
        .into_iter()
        .map(|v| {
            if ty == "TXT" && !v.starts_with('"') {
                format!("\"{}\"", v.replace('"', "\\\""))
            } else {
                v
            }
        })
        .collect();
    Ok(RecordSpec {
        zone: d.str("zone")?.to_string(),
        name: fqdn(d.str("name")?),
        ttl: d.int("ttl")?,
        values,
        ty,
    })
}

impl DnsRecord {
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
        let Some(out) = found(r)? else {
            return Ok(None);
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
        let spec = record_spec(d)?;
        let client = self.0.route53().await;
        let zone = self.zone(cx, &client, &spec.zone).await?;
        let bad = |e: aws_sdk_route53::error::BuildError| ProviderError::permanent(e.to_string());
        let mut records = Vec::new();
        for v in &spec.values {
            records.push(ResourceRecord::builder().value(v).build().map_err(bad)?);
        }
        let set = ResourceRecordSet::builder()
            .name(&spec.name)
            .r#type(RrType::from(spec.ty.as_str()))
            .ttl(spec.ttl)
            .set_resource_records(Some(records))
            .build()
            .map_err(bad)?;
        self.change(cx, &client, &zone, ChangeAction::Upsert, set).await?;
        let mut outputs = IndexMap::default();
        outputs.insert("fqdn".to_string(), s(spec.name.as_str()));
        Ok(Applied {
            rendered: Default::default(),
            provider_id: format!("{zone}/{}/{}", spec.name, spec.ty),
            outputs,
        })
    }
}

fn record_id(id: &str) -> Option<(&str, &str, &str)> {
    let mut parts = id.splitn(3, '/');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

#[async_trait::async_trait]
impl Provider for DnsRecord {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Ok("`ZONE_ID/NAME/TYPE`, e.g. `Z0123456789ABCDEFGHIJ/www.acme.io./CNAME` (the hosted zone's ID, the record's name with its trailing dot)")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            in_place: &["ttl", "values"],
            reads: &["ttl", "values"],
            outputs: &["fqdn"],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        record_spec(d).map(|_| ())
    }

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
