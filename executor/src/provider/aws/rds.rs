//! `aws.Postgres` and `aws.MySql`: RDS database instances. Placed in a
//! cluster's network through a subnet group made for them; the master
//! password is derived from the state key (never stored); everything RDS can
//! modify is modified in place, at once (`ApplyImmediately`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value as J};
use tpt_lang::value::Value;
use tpt_lang::IndexMap;
use tpt_planner::refresh::Live;
use tpt_planner::state::ResourceState;

use super::{aws_call, s, split_id, user_tags, Aws, TagChange};
use crate::provider::{found, stored_str, Applied, Cx, Desired, Fields, Provider, ProviderError};

/// The RDS instance class of a provider-neutral database size (`std.aws`'s
/// `database_instance_classes`; the conformance test holds the two equal).
pub fn instance_class_of(size: &str) -> Option<&'static str> {
    Some(match size {
        "Small" => "db.t4g.small",
        "Medium" => "db.t4g.medium",
        "Large" => "db.r6g.large",
        "XLarge" => "db.r6g.xlarge",
        "2XLarge" => "db.r6g.2xlarge",
        "4XLarge" => "db.r6g.4xlarge",
        _ => return None,
    })
}

/// One RDS engine.
#[derive(Clone, Copy)]
struct Engine {
    /// RDS's name of the engine.
    name: &'static str,
    /// The scheme of the connection URL.
    scheme: &'static str,
}

/// `aws.Postgres` or `aws.MySql`.
pub struct Database {
    aws: Arc<Aws>,
    engine: Engine,
}

impl Database {
    pub fn postgres(aws: Arc<Aws>) -> Database {
        Database {
            aws,
            engine: Engine {
                name: "postgres",
                scheme: "postgres",
            },
        }
    }

    pub fn mysql(aws: Arc<Aws>) -> Database {
        Database {
            aws,
            engine: Engine {
                name: "mysql",
                scheme: "mysql",
            },
        }
    }
}

/// A database's inputs, read once.
struct Spec {
    identifier: String,
    region: Option<String>,
    /// The network's subnets and node security group (none: the default VPC).
    subnet_ids: Vec<String>,
    security_group: Option<String>,
    version: String,
    database: String,
    port: i32,
    storage_gb: i32,
    storage_type: String,
    instance_class: String,
    backup_days: i32,
    multi_az: bool,
    deletion_protection: bool,
    username: String,
    tags: BTreeMap<String, String>,
}

/// The instance class of `instance`, else of `size`.
fn class_of(instance: Option<&str>, size: &str) -> Result<String, ProviderError> {
    match instance {
        Some(i) => Ok(i.to_string()),
        None => instance_class_of(size)
            .map(str::to_string)
            .ok_or_else(|| ProviderError::permanent(format!("`{size}` is not a database size"))),
    }
}

fn spec(d: &Desired) -> Result<Spec, ProviderError> {
    // Honoured when the database is deleted, from the state (see `delete`).
    d.bool("final_snapshot")?;
    let network = d.json("network")?;
    let subnet_ids = network["subnet_ids"]
        .as_array()
        .map(|xs| xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let security_group = network["security_group_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(Spec {
        identifier: d.name_or_default("identifier")?,
        region: d.opt_str("region")?.map(str::to_string),
        subnet_ids,
        security_group,
        version: d.str("version")?.to_string(),
        database: d.str("database")?.to_string(),
        port: d.i32("port")?,
        storage_gb: d.i32("storage_gb")?,
        storage_type: d.str("storage_type")?.to_string(),
        instance_class: class_of(d.opt_str("instance")?, d.str("size")?)?,
        backup_days: d.i32("backup_days")?,
        multi_az: d.bool("multi_az")?,
        deletion_protection: d.bool("deletion_protection")?,
        username: d.str("username")?.to_string(),
        tags: d.string_map("tags")?,
    })
}

/// The outputs of a database: the secret ones derived, not read.
struct Endpoint<'a> {
    host: &'a str,
    port: i64,
    arn: &'a str,
    user: &'a str,
    database: &'a str,
}

impl Database {
    fn outputs(&self, cx: &Cx, address: &str, e: &Endpoint<'_>) -> IndexMap<String, Value> {
        let password = cx.secrets.password(address, "master");
        let Endpoint {
            host,
            port,
            arn,
            user,
            database,
        } = *e;
        let mut connection = IndexMap::default();
        connection.insert("host".to_string(), s(host));
        connection.insert("port".to_string(), Value::Int(port));
        connection.insert("name".to_string(), s(database));
        connection.insert("user".to_string(), s(user));
        connection.insert("password".to_string(), Value::secret(s(password.as_str())));
        let mut out = IndexMap::default();
        out.insert("address".to_string(), s(host));
        out.insert("endpoint".to_string(), s(format!("{host}:{port}")));
        out.insert("password".to_string(), Value::secret(s(password.as_str())));
        out.insert(
            "url".to_string(),
            Value::secret(s(format!(
                "{}://{user}:{password}@{host}:{port}/{database}",
                self.engine.scheme
            ))),
        );
        out.insert("connection".to_string(), Value::record(connection));
        out.insert("arn".to_string(), s(arn));
        out
    }

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
        Ok(found(r)?.and_then(|out| out.db_instances().first().cloned()))
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

    fn applied(&self, cx: &Cx, address: &str, region: &str, db: &aws_sdk_rds::types::DbInstance) -> Applied {
        let id = db.db_instance_identifier().unwrap_or_default();
        Applied {
            rendered: Default::default(),
            provider_id: format!("{region}/{id}"),
            outputs: self.outputs(
                cx,
                address,
                &Endpoint {
                    host: db.endpoint().and_then(|e| e.address()).unwrap_or_default(),
                    port: i64::from(db.endpoint().and_then(|e| e.port()).unwrap_or_default()),
                    arn: db.db_instance_arn().unwrap_or_default(),
                    user: db.master_username().unwrap_or_default(),
                    database: db.db_name().unwrap_or_default(),
                },
            ),
        }
    }

    /// The subnet group for a database placed in a network; `None` without one.
    async fn subnet_group(
        &self,
        cx: &Cx,
        client: &aws_sdk_rds::Client,
        spec: &Spec,
    ) -> Result<Option<String>, ProviderError> {
        if spec.subnet_ids.is_empty() {
            return Ok(None);
        }
        let name = format!("{}-subnets", spec.identifier);
        let r = aws_call(cx, "rds:CreateDBSubnetGroup", || {
            client
                .create_db_subnet_group()
                .db_subnet_group_name(&name)
                .db_subnet_group_description("managed by tpt")
                .set_subnet_ids(Some(spec.subnet_ids.clone()))
                .send()
        })
        .await;
        match r {
            Ok(_) => Ok(Some(name)),
            Err(e) if e.message.contains("AlreadyExists") => Ok(Some(name)),
            Err(e) => Err(e),
        }
    }

    /// Brings the database's tags from what it has to `wanted`.
    async fn retag(
        &self,
        cx: &Cx,
        client: &aws_sdk_rds::Client,
        db: &aws_sdk_rds::types::DbInstance,
        wanted: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let arn = db.db_instance_arn().unwrap_or_default();
        let change = TagChange::between(&tags_of(db), wanted);
        if !change.set.is_empty() {
            let tags: Vec<aws_sdk_rds::types::Tag> = change
                .set
                .iter()
                .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
                .collect();
            aws_call(cx, "rds:AddTagsToResource", || {
                client
                    .add_tags_to_resource()
                    .resource_name(arn)
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await?;
        }
        if !change.remove.is_empty() {
            aws_call(cx, "rds:RemoveTagsFromResource", || {
                client
                    .remove_tags_from_resource()
                    .resource_name(arn)
                    .set_tag_keys(Some(change.remove.clone()))
                    .send()
            })
            .await?;
        }
        Ok(())
    }
}

fn tags_of(db: &aws_sdk_rds::types::DbInstance) -> BTreeMap<String, String> {
    db.tag_list()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// `16` was asked for and `16.4` runs: the same.
fn same_version(asked: &str, running: &str) -> bool {
    running == asked || running.starts_with(&format!("{asked}."))
}

#[async_trait::async_trait]
impl Provider for Database {
    fn import_id(&self) -> Result<&'static str, &'static str> {
        Ok("`REGION/IDENTIFIER`, e.g. `eu-west-1/orders` (or `IDENTIFIER` in the default region)")
    }

    fn fields(&self) -> Fields {
        Fields {
            rendered: &[],
            // `final_snapshot` is tpt's to honour when it deletes the database:
            // recording it is the whole update.
            in_place: &[
                "version",
                "port",
                "storage_gb",
                "storage_type",
                "size",
                "instance",
                "backup_days",
                "multi_az",
                "deletion_protection",
                "final_snapshot",
                "tags",
            ],
            reads: &[
                "version",
                "database",
                "port",
                "storage_gb",
                "storage_type",
                "instance",
                "backup_days",
                "multi_az",
                "deletion_protection",
                "username",
                "tags",
            ],
            outputs: &["address", "endpoint", "password", "url", "connection", "arn"],
        }
    }

    fn validate(&self, d: &Desired) -> Result<(), ProviderError> {
        spec(d).map(|_| ())
    }

    async fn create(&self, cx: &Cx, d: &Desired) -> Result<Applied, ProviderError> {
        let spec = spec(d)?;
        let region = Aws::region_of(spec.region.as_deref(), cx);
        let client = self.aws.rds(region.as_deref()).await;
        let subnet_group = self.subnet_group(cx, &client, &spec).await?;
        let password = cx.secrets.password(&d.address, "master");
        let tag_list: Vec<aws_sdk_rds::types::Tag> = spec
            .tags
            .iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
            .collect();
        aws_call(cx, "rds:CreateDBInstance", || {
            client
                .create_db_instance()
                .db_instance_identifier(&spec.identifier)
                .engine(self.engine.name)
                .engine_version(&spec.version)
                .db_instance_class(&spec.instance_class)
                .db_name(&spec.database)
                .port(spec.port)
                .allocated_storage(spec.storage_gb)
                .storage_type(&spec.storage_type)
                .backup_retention_period(spec.backup_days)
                .multi_az(spec.multi_az)
                .deletion_protection(spec.deletion_protection)
                .master_username(&spec.username)
                .master_user_password(&password)
                .set_db_subnet_group_name(subnet_group.clone())
                .set_vpc_security_group_ids(spec.security_group.clone().map(|g| vec![g]))
                .set_tags(Some(tag_list.clone()))
                .send()
        })
        .await?;
        let db = self.wait_available(cx, &client, &spec.identifier).await?;
        Ok(self.applied(cx, &d.address, region.as_deref().unwrap_or_default(), &db))
    }

    async fn update(&self, cx: &Cx, prior: &ResourceState, d: &Desired) -> Result<Applied, ProviderError> {
        let spec = spec(d)?;
        let (region, id) = split_id(&prior.provider_id);
        let client = self.aws.rds(region).await;
        let Some(current) = self.describe(cx, &client, id).await? else {
            return Err(ProviderError::not_found(format!(
                "database `{id}` no longer exists"
            )));
        };
        let version_changes = current
            .engine_version()
            .is_some_and(|v| !same_version(&spec.version, v));
        aws_call(cx, "rds:ModifyDBInstance", || {
            client
                .modify_db_instance()
                .db_instance_identifier(id)
                .set_engine_version(version_changes.then(|| spec.version.clone()))
                .allow_major_version_upgrade(version_changes)
                .db_instance_class(&spec.instance_class)
                .allocated_storage(spec.storage_gb)
                .storage_type(&spec.storage_type)
                .backup_retention_period(spec.backup_days)
                .multi_az(spec.multi_az)
                .deletion_protection(spec.deletion_protection)
                .db_port_number(spec.port)
                .apply_immediately(true)
                .send()
        })
        .await?;
        self.retag(cx, &client, &current, &spec.tags).await?;
        let db = self.wait_available(cx, &client, id).await?;
        Ok(self.applied(cx, &d.address, region.unwrap_or_default(), &db))
    }

    async fn delete(&self, cx: &Cx, prior: &ResourceState) -> Result<(), ProviderError> {
        let (region, id) = split_id(&prior.provider_id);
        let client = self.aws.rds(region).await;
        // As last applied (the state holds it; a change of it alone is an update).
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
        if found(r)?.is_none() {
            return Ok(());
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
        let client = self.aws.rds(region).await;
        let Some(db) = self.describe(cx, &client, id).await? else {
            return Ok(Live::Gone);
        };
        let mut inputs = BTreeMap::new();
        let mut put = |k: &str, v: J| {
            inputs.insert(k.to_string(), v);
        };
        if let Some(v) = db.allocated_storage() {
            put("storage_gb", J::from(v));
        }
        if let Some(v) = db.backup_retention_period() {
            put("backup_days", J::from(v));
        }
        if let Some(v) = db.multi_az() {
            put("multi_az", J::Bool(v));
        }
        if let Some(v) = db.deletion_protection() {
            put("deletion_protection", J::Bool(v));
        }
        if let Some(v) = db.storage_type() {
            put("storage_type", J::String(v.to_string()));
        }
        if let Some(v) = db.engine_version() {
            let recorded = stored_str(&prior.inputs, "version").unwrap_or_default();
            let shown = if same_version(recorded, v) { recorded } else { v };
            put("version", J::String(shown.to_string()));
        }
        if let Some(class) = db.db_instance_class() {
            // Written as a `size` that maps to the class it runs as: unchanged.
            let recorded_instance = prior.inputs.get("instance").cloned().unwrap_or(J::Null);
            let recorded = class_of(
                recorded_instance.as_str(),
                stored_str(&prior.inputs, "size").unwrap_or_default(),
            )
            .ok();
            let shown = if recorded.as_deref() == Some(class) {
                recorded_instance
            } else {
                J::String(class.to_string())
            };
            put("instance", shown);
        }
        if let Some(p) = db.endpoint().and_then(|e| e.port()) {
            put("port", J::from(p));
        }
        if let Some(v) = db.db_name() {
            put("database", J::String(v.to_string()));
        }
        if let Some(v) = db.master_username() {
            put("username", J::String(v.to_string()));
        }
        put("tags", json!(user_tags(&tags_of(&db))));
        let applied = self.applied(cx, &cx.address, region.unwrap_or_default(), &db);
        let outputs = applied
            .outputs
            .iter()
            .filter(|(_, v)| !v.contains_secret())
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        Ok(Live::Present { inputs, outputs })
    }

    async fn find(&self, cx: &Cx, d: &Desired) -> Result<Option<String>, ProviderError> {
        let id = d.name_or_default("identifier")?;
        let region = Aws::region_of(d.opt_str("region")?, cx);
        let client = self.aws.rds(region.as_deref()).await;
        let found = self.describe(cx, &client, &id).await?;
        // One being deleted is not the interrupted create's.
        let alive = found.filter(|db| db.db_instance_status() != Some("deleting"));
        Ok(alive.map(|_| format!("{}/{id}", region.as_deref().unwrap_or_default())))
    }

    async fn lookup(&self, cx: &Cx, d: &Desired) -> Result<Option<Applied>, ProviderError> {
        let id = d.name_or_default("identifier")?;
        let region = Aws::region_of(d.opt_str("region")?, cx);
        let client = self.aws.rds(region.as_deref()).await;
        if self.describe(cx, &client, &id).await?.is_none() {
            return Ok(None);
        }
        let db = self.wait_available(cx, &client, &id).await?;
        Ok(Some(self.applied(
            cx,
            &d.address,
            region.as_deref().unwrap_or_default(),
            &db,
        )))
    }

    fn secret_outputs(&self, cx: &Cx, prior: &ResourceState) -> IndexMap<String, Value> {
        let port = prior
            .outputs
            .get("connection")
            .and_then(|c| c.get("port"))
            .and_then(J::as_i64)
            .unwrap_or_default();
        let mut out = self.outputs(
            cx,
            &cx.address,
            &Endpoint {
                host: stored_str(&prior.outputs, "address").unwrap_or_default(),
                port,
                arn: stored_str(&prior.outputs, "arn").unwrap_or_default(),
                user: stored_str(&prior.inputs, "username").unwrap_or_default(),
                database: stored_str(&prior.inputs, "database").unwrap_or_default(),
            },
        );
        out.retain(|_, v| v.contains_secret());
        out
    }
}
