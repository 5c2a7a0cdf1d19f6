//! AWS kinds and what they share: the clients (made once), one way to call
//! an API (`aws_call`: retried, its errors classified), tags. The kinds:
//! `eks` (EKS clusters with their node groups and network, `vpc`), `rds`
//! (PostgreSQL and MySQL), `route53` (hosted zones, record sets, zone lookups),
//! `s3` (buckets), `secrets` (Secrets Manager secrets), and `iam` (the roles
//! and OIDC provider those need, owned by the resource that needs them).
//!
//! Credentials and region come from the standard chain (environment, profile,
//! SSO, instance role); `AWS_ENDPOINT_URL` points every client elsewhere (the
//! tests' moto server). The SDK's own retries are off: [`Cx::call`] retries
//! with backoff and reports each retry.

pub mod eks;
pub mod eks_token;
pub mod iam;
pub mod rds;
pub mod route53;
pub mod s3;
pub mod secrets;
pub mod vpc;

use std::collections::BTreeMap;

use aws_sdk_eks::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use tokio::sync::OnceCell;
use tpt_lang::value::Value;

use super::{stored_str, Cx, ErrorKind, ProviderError};

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
    "ResourceExistsException",
    "BucketAlreadyOwnedByYou",
    "EntityAlreadyExists",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBSubnetGroupNotFoundFault",
    "NoSuchHostedZone",
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchTagSet",
    "NoSuchLifecycleConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
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
}

impl Aws {
    pub(crate) async fn config(&self) -> &aws_config::SdkConfig {
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

    async fn secretsmanager(&self, region: Option<&str>) -> aws_sdk_secretsmanager::Client {
        let mut b = aws_sdk_secretsmanager::config::Builder::from(self.config().await);
        if let Some(r) = region {
            b = b.region(aws_sdk_secretsmanager::config::Region::new(r.to_string()));
        }
        aws_sdk_secretsmanager::Client::from_conf(b.build())
    }

    /// S3 addresses buckets by host name (`bucket.s3.region…`); an endpoint
    /// of one's own (moto, MinIO) is addressed by path instead.
    async fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let config = self.config().await;
        let mut b = aws_sdk_s3::config::Builder::from(config);
        if let Some(r) = region {
            b = b.region(aws_sdk_s3::config::Region::new(r.to_string()));
        }
        if config.endpoint_url().is_some() {
            b = b.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    async fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(self.config().await)
    }

    /// The region a regional resource is made in: its own `region`, else that
    /// of the EKS cluster it refers to, else the configuration's.
    async fn region(&self, own: Option<&str>, cx: &Cx) -> String {
        match Self::region_of(own, cx) {
            Some(r) => r,
            None => self
                .config()
                .await
                .region()
                .map(|r| r.to_string())
                .unwrap_or_default(),
        }
    }

    /// The region of a regional resource: its own `region`, else that of the
    /// EKS cluster it refers to, else the default.
    fn region_of(own: Option<&str>, cx: &Cx) -> Option<String> {
        if let Some(r) = own {
            return Some(r.to_string());
        }
        cx.refs
            .values()
            .filter(|r| r.kind == eks::KIND)
            .find_map(|r| stored_str(&r.inputs, "region").map(str::to_string))
    }
}

/// `region/name`, the provider ID of regional objects.
pub(crate) fn split_id(id: &str) -> (Option<&str>, &str) {
    match id.split_once('/') {
        Some((r, n)) if !r.is_empty() => (Some(r), n),
        Some((_, n)) => (None, n),
        None => (None, id),
    }
}

/// Tags that belong to AWS (`aws:…`, not changeable) or to tpt's own
/// bookkeeping (`tpt:…`): never the configuration's to set or remove.
pub(crate) fn is_reserved_tag(key: &str) -> bool {
    key.starts_with("aws:") || key.starts_with("tpt:")
}

/// The tags of an object that the `tags` input describes.
pub(crate) fn user_tags<'a>(
    tags: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter(|(k, _)| !is_reserved_tag(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// How a set of tags changes: what to add or overwrite, which keys to remove.
/// The `tags` input owns every tag but the reserved ones: a tag added by hand
/// is drift, and removed.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct TagChange {
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

impl TagChange {
    pub fn between(current: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> TagChange {
        TagChange {
            set: wanted
                .iter()
                .filter(|(k, v)| current.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            remove: current
                .keys()
                .filter(|k| !wanted.contains_key(*k) && !is_reserved_tag(k))
                .cloned()
                .collect(),
        }
    }
}

pub(crate) fn s(v: impl Into<String>) -> Value {
    Value::str(v.into())
}
