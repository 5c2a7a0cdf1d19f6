//! The network an `aws.EksCluster` brings along: a VPC of its `vpc_cidr`, one
//! public subnet per availability zone (`zone_count`, nodes get public
//! addresses), an internet gateway and a route table to it. Every piece carries
//! the tag `tpt:cluster` = the cluster's name, by which it is found again: a
//! create that was interrupted goes on where it stopped instead of starting a
//! second VPC, and a delete finds everything to remove.

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType, RouteTable, Subnet, Tag, TagSpecification,
};
use aws_sdk_ec2::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::{aws_call, sdk_err};
use crate::provider::{Cx, ErrorKind, ProviderError};

/// The tag that marks what belongs to a cluster's network.
pub const CLUSTER_TAG: &str = "tpt:cluster";

/// The pieces a cluster is created in.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterNetwork {
    pub vpc_id: String,
    /// In the order of the availability zones.
    pub subnet_ids: Vec<String>,
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tagged(kind: ResourceType, cluster: &str, name: &str, extra: &[(&str, &str)]) -> TagSpecification {
    let mut b = TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key(CLUSTER_TAG).value(cluster).build())
        .tags(Tag::builder().key("Name").value(name).build());
    for (k, v) in extra {
        b = b.tags(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
}

/// The CIDR blocks of `n` subnets that split `cidr` evenly (16 parts of it,
/// so that zones can be added later), e.g. `10.0.0.0/16` → `10.0.0.0/20`,
/// `10.0.16.0/20`, ….
pub fn subnet_cidrs(cidr: &str, n: usize) -> Result<Vec<String>, String> {
    let bad = || format!("`{cidr}` is not an IPv4 CIDR block such as 10.0.0.0/16");
    let (addr, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    let octets: Vec<u32> = addr
        .split('.')
        .map(|o| o.parse::<u8>().map(u32::from))
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [a, b, c, d] = octets[..] else {
        return Err(bad());
    };
    if prefix > 24 {
        return Err(format!(
            "`{cidr}` is too small for a cluster's subnets: use a /24 or larger block"
        ));
    }
    if n > 16 {
        return Err(format!("{n} zones are more than a VPC is split into (16)"));
    }
    let base = (a << 24) | (b << 16) | (c << 8) | d;
    let sub = prefix + 4;
    let size = 1u32 << (32 - sub);
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    let base = base & mask;
    Ok((0..n as u32)
        .map(|i| {
            let x = base + i * size;
            format!(
                "{}.{}.{}.{}/{sub}",
                x >> 24,
                (x >> 16) & 255,
                (x >> 8) & 255,
                x & 255
            )
        })
        .collect())
}

async fn find_vpc(cx: &Cx, ec2: &Client, cluster: &str) -> Result<Option<String>, ProviderError> {
    let out = aws_call(cx, "ec2:DescribeVpcs", || {
        ec2.describe_vpcs()
            .filters(filter(&format!("tag:{CLUSTER_TAG}"), cluster))
            .send()
    })
    .await?;
    Ok(out.vpcs().iter().find_map(|v| v.vpc_id().map(str::to_string)))
}

/// The subnets of the VPC.
async fn subnets_of(cx: &Cx, ec2: &Client, vpc_id: &str) -> Result<Vec<Subnet>, ProviderError> {
    let out = aws_call(cx, "ec2:DescribeSubnets", || {
        ec2.describe_subnets().filters(filter("vpc-id", vpc_id)).send()
    })
    .await?;
    Ok(out.subnets().to_vec())
}

/// The IDs of the internet gateways attached to the VPC.
async fn gateways_of(cx: &Cx, ec2: &Client, vpc_id: &str) -> Result<Vec<String>, ProviderError> {
    let out = aws_call(cx, "ec2:DescribeInternetGateways", || {
        ec2.describe_internet_gateways()
            .filters(filter("attachment.vpc-id", vpc_id))
            .send()
    })
    .await?;
    Ok(out
        .internet_gateways()
        .iter()
        .filter_map(|g| g.internet_gateway_id().map(str::to_string))
        .collect())
}

/// The route tables of the VPC (its main one included).
async fn route_tables_of(cx: &Cx, ec2: &Client, vpc_id: &str) -> Result<Vec<RouteTable>, ProviderError> {
    let out = aws_call(cx, "ec2:DescribeRouteTables", || {
        ec2.describe_route_tables()
            .filters(filter("vpc-id", vpc_id))
            .send()
    })
    .await?;
    Ok(out.route_tables().to_vec())
}

/// Makes (or completes) the network of `cluster`.
pub async fn ensure(
    cx: &Cx,
    ec2: &Client,
    cluster: &str,
    cidr: &str,
    zone_count: usize,
) -> Result<ClusterNetwork, ProviderError> {
    let cidrs = subnet_cidrs(cidr, zone_count).map_err(ProviderError::permanent)?;
    let vpc_id = match find_vpc(cx, ec2, cluster).await? {
        Some(id) => id,
        None => {
            let out = aws_call(cx, "ec2:CreateVpc", || {
                ec2.create_vpc()
                    .cidr_block(cidr)
                    .tag_specifications(tagged(ResourceType::Vpc, cluster, cluster, &[]))
                    .send()
            })
            .await?;
            out.vpc()
                .and_then(|v| v.vpc_id())
                .map(str::to_string)
                .ok_or_else(|| ProviderError::permanent("ec2:CreateVpc answered without a VPC ID"))?
        }
    };
    // Nodes register by their DNS names.
    for hostnames in [false, true] {
        aws_call(cx, "ec2:ModifyVpcAttribute", || {
            let on = AttributeBooleanValue::builder().value(true).build();
            let req = ec2.modify_vpc_attribute().vpc_id(&vpc_id);
            let req = if hostnames {
                req.enable_dns_hostnames(on)
            } else {
                req.enable_dns_support(on)
            };
            req.send()
        })
        .await?;
    }
    let zones = aws_call(cx, "ec2:DescribeAvailabilityZones", || {
        ec2.describe_availability_zones()
            .filters(filter("state", "available"))
            .send()
    })
    .await?;
    let mut zones: Vec<String> = zones
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    zones.sort();
    if zones.len() < zone_count {
        return Err(ProviderError::permanent(format!(
            "the region has {} availability zones, the cluster asks for {zone_count} (`zone_count`)",
            zones.len()
        )));
    }
    let existing = subnets_of(cx, ec2, &vpc_id).await?;
    let mut subnet_ids = Vec::new();
    for (block, zone) in cidrs.iter().zip(&zones) {
        let found = existing
            .iter()
            .find(|s| s.cidr_block() == Some(block.as_str()))
            .and_then(|s| s.subnet_id().map(str::to_string));
        let id = match found {
            Some(id) => id,
            None => {
                let name = format!("{cluster}-{zone}");
                let out = aws_call(cx, "ec2:CreateSubnet", || {
                    ec2.create_subnet()
                        .vpc_id(&vpc_id)
                        .cidr_block(block)
                        .availability_zone(zone)
                        .tag_specifications(tagged(
                            ResourceType::Subnet,
                            cluster,
                            &name,
                            &[("kubernetes.io/role/elb", "1")],
                        ))
                        .send()
                })
                .await?;
                out.subnet()
                    .and_then(|s| s.subnet_id())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ProviderError::permanent("ec2:CreateSubnet answered without a subnet ID")
                    })?
            }
        };
        aws_call(cx, "ec2:ModifySubnetAttribute", || {
            ec2.modify_subnet_attribute()
                .subnet_id(&id)
                .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                .send()
        })
        .await?;
        subnet_ids.push(id);
    }
    let gateway = ensure_gateway(cx, ec2, cluster, &vpc_id).await?;
    ensure_routes(cx, ec2, cluster, &vpc_id, &gateway, &subnet_ids).await?;
    Ok(ClusterNetwork { vpc_id, subnet_ids })
}

async fn ensure_gateway(cx: &Cx, ec2: &Client, cluster: &str, vpc_id: &str) -> Result<String, ProviderError> {
    if let Some(id) = gateways_of(cx, ec2, vpc_id).await?.into_iter().next() {
        return Ok(id);
    }
    let out = aws_call(cx, "ec2:CreateInternetGateway", || {
        ec2.create_internet_gateway()
            .tag_specifications(tagged(ResourceType::InternetGateway, cluster, cluster, &[]))
            .send()
    })
    .await?;
    let id = out
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .map(str::to_string)
        .ok_or_else(|| ProviderError::permanent("ec2:CreateInternetGateway answered without an ID"))?;
    aws_call(cx, "ec2:AttachInternetGateway", || {
        ec2.attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(vpc_id)
            .send()
    })
    .await?;
    Ok(id)
}

async fn ensure_routes(
    cx: &Cx,
    ec2: &Client,
    cluster: &str,
    vpc_id: &str,
    gateway: &str,
    subnet_ids: &[String],
) -> Result<(), ProviderError> {
    let tables = route_tables_of(cx, ec2, vpc_id).await?;
    let ours = tables.iter().find(|t| {
        t.tags()
            .iter()
            .any(|tag| tag.key() == Some(CLUSTER_TAG) && tag.value() == Some(cluster))
    });
    let (table, associated): (String, Vec<String>) = match ours {
        Some(t) => (
            t.route_table_id().unwrap_or_default().to_string(),
            t.associations()
                .iter()
                .filter_map(|a| a.subnet_id().map(str::to_string))
                .collect(),
        ),
        None => {
            let out = aws_call(cx, "ec2:CreateRouteTable", || {
                ec2.create_route_table()
                    .vpc_id(vpc_id)
                    .tag_specifications(tagged(ResourceType::RouteTable, cluster, cluster, &[]))
                    .send()
            })
            .await?;
            let id = out
                .route_table()
                .and_then(|t| t.route_table_id())
                .map(str::to_string)
                .ok_or_else(|| ProviderError::permanent("ec2:CreateRouteTable answered without an ID"))?;
            aws_call(cx, "ec2:CreateRoute", || {
                ec2.create_route()
                    .route_table_id(&id)
                    .destination_cidr_block("0.0.0.0/0")
                    .gateway_id(gateway)
                    .send()
            })
            .await?;
            (id, Vec::new())
        }
    };
    for subnet in subnet_ids.iter().filter(|s| !associated.contains(s)) {
        aws_call(cx, "ec2:AssociateRouteTable", || {
            ec2.associate_route_table()
                .route_table_id(&table)
                .subnet_id(subnet)
                .send()
        })
        .await?;
    }
    Ok(())
}

/// Deletes what `send` asks AWS to delete (`api` names the call in errors),
/// waiting while AWS still holds it in use (`DependencyViolation`: the
/// cluster's network interfaces take minutes to go after the cluster); gone
/// already is fine.
async fn delete_when_free<T, E, F, Fut>(cx: &Cx, what: &str, api: &str, send: F) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    cx.wait_for(&format!("{what} to be released"), || async {
        match send().await.map_err(|e| sdk_err(api, e)) {
            Ok(_) => Ok(Some(())),
            Err(e) if e.kind == ErrorKind::NotFound || e.message.contains("NotFound") => Ok(Some(())),
            Err(e) if e.message.contains("DependencyViolation") => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

/// Deletes the network of `cluster` (after the cluster itself).
pub async fn remove(cx: &Cx, ec2: &Client, cluster: &str) -> Result<(), ProviderError> {
    let Some(vpc_id) = find_vpc(cx, ec2, cluster).await? else {
        return Ok(());
    };
    for id in gateways_of(cx, ec2, &vpc_id).await? {
        let id = id.as_str();
        delete_when_free(
            cx,
            &format!("internet gateway `{id}`"),
            "ec2:DetachInternetGateway",
            || {
                ec2.detach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(&vpc_id)
                    .send()
            },
        )
        .await?;
        delete_when_free(
            cx,
            &format!("internet gateway `{id}`"),
            "ec2:DeleteInternetGateway",
            || ec2.delete_internet_gateway().internet_gateway_id(id).send(),
        )
        .await?;
    }
    for t in &route_tables_of(cx, ec2, &vpc_id).await? {
        if t.associations().iter().any(|a| a.main() == Some(true)) {
            continue; // the VPC's main table goes with the VPC
        }
        for a in t
            .associations()
            .iter()
            .filter_map(|a| a.route_table_association_id())
        {
            delete_when_free(
                cx,
                &format!("route table association `{a}`"),
                "ec2:DisassociateRouteTable",
                || ec2.disassociate_route_table().association_id(a).send(),
            )
            .await?;
        }
        if let Some(id) = t.route_table_id() {
            delete_when_free(cx, &format!("route table `{id}`"), "ec2:DeleteRouteTable", || {
                ec2.delete_route_table().route_table_id(id).send()
            })
            .await?;
        }
    }
    for id in subnets_of(cx, ec2, &vpc_id)
        .await?
        .iter()
        .filter_map(|s| s.subnet_id())
    {
        delete_when_free(cx, &format!("subnet `{id}`"), "ec2:DeleteSubnet", || {
            ec2.delete_subnet().subnet_id(id).send()
        })
        .await?;
    }
    let groups = aws_call(cx, "ec2:DescribeSecurityGroups", || {
        ec2.describe_security_groups()
            .filters(filter("vpc-id", &vpc_id))
            .send()
    })
    .await?;
    for g in groups
        .security_groups()
        .iter()
        .filter(|g| g.group_name() != Some("default"))
    {
        let Some(id) = g.group_id() else { continue };
        delete_when_free(
            cx,
            &format!("security group `{id}`"),
            "ec2:DeleteSecurityGroup",
            || ec2.delete_security_group().group_id(id).send(),
        )
        .await?;
    }
    delete_when_free(cx, &format!("VPC `{vpc_id}`"), "ec2:DeleteVpc", || {
        ec2.delete_vpc().vpc_id(&vpc_id).send()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::subnet_cidrs;

    #[test]
    fn subnets_split_the_vpc_in_sixteen() {
        assert_eq!(
            subnet_cidrs("10.0.0.0/16", 3),
            Ok(vec![
                "10.0.0.0/20".to_string(),
                "10.0.16.0/20".to_string(),
                "10.0.32.0/20".to_string()
            ])
        );
        assert_eq!(
            subnet_cidrs("172.31.128.0/17", 2),
            Ok(vec!["172.31.128.0/21".to_string(), "172.31.136.0/21".to_string()])
        );
        assert_eq!(
            subnet_cidrs("10.1.2.3/24", 2),
            Ok(vec!["10.1.2.0/28".to_string(), "10.1.2.16/28".to_string()]),
            "host bits are cleared"
        );
        assert!(subnet_cidrs("10.0.0.0/26", 2).is_err());
        assert!(subnet_cidrs("10.0.0/16", 2).is_err());
        assert!(subnet_cidrs("10.0.0.300/16", 2).is_err());
    }
}
