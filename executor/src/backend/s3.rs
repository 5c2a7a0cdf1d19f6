//! The S3 backend, for teams on AWS (as Terraform 1.10+ keeps state, with no
//! DynamoDB table): in bucket `TPT_STATE_BUCKET`, under `TPT_STATE_PREFIX`
//! (default `tpt/`), the state of an environment is `ENV/state.json`, its
//! previous version `ENV/state.json.backup`, its lock `ENV/state.lock`, and
//! the state key of every environment `state.key`.
//!
//! Every write is conditional, so that two runs never overwrite each other:
//! the lock and the key are made with `If-None-Match: *` (only one create
//! wins), and the state is replaced with `If-Match` on the ETag read before (a
//! concurrent writer gets 412 and fails). Every object is written with
//! server-side encryption: SSE-S3, or SSE-KMS with `TPT_STATE_KMS_KEY`.
//!
//! The `StateBackend` trait is synchronous; this backend runs the SDK on its
//! own single-threaded tokio runtime.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use tpt_planner::backend::{BackendError, LockInfo, StateBackend};
use tpt_planner::state::{State, StateError};

pub struct S3Backend {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    kms_key: Option<String>,
}

fn io(e: impl std::fmt::Display) -> BackendError {
    BackendError::Io(format!("S3 state backend: {e}"))
}

/// The HTTP status of a failed call, if it got one.
fn status<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn describe<E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> String {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => {
            let meta = s.err().meta();
            match (meta.code(), meta.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("HTTP {}", s.raw().status().as_u16()),
            }
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

impl S3Backend {
    /// A client of the standard AWS chain (credentials, region,
    /// `AWS_ENDPOINT_URL`) for `bucket`, which must exist.
    pub fn connect(bucket: &str, prefix: &str, kms_key: Option<&str>) -> Result<Self, BackendError> {
        crate::install_crypto();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io)?;
        let config = runtime.block_on(aws_config::defaults(aws_config::BehaviorVersion::latest()).load());
        Self::with_config(runtime, &config, bucket, prefix, kms_key)
    }

    /// [`S3Backend::connect`] with an SDK configuration of one's own (tests).
    pub fn with_config(
        runtime: tokio::runtime::Runtime,
        config: &aws_config::SdkConfig,
        bucket: &str,
        prefix: &str,
        kms_key: Option<&str>,
    ) -> Result<Self, BackendError> {
        let mut b = aws_sdk_s3::config::Builder::from(config);
        // An endpoint of one's own (moto, MinIO) is addressed by path.
        if config.endpoint_url().is_some() {
            b = b.force_path_style(true);
        }
        let client = aws_sdk_s3::Client::from_conf(b.build());
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let backend = S3Backend {
            runtime,
            client,
            bucket: bucket.to_string(),
            prefix,
            kms_key: kms_key.map(str::to_string),
        };
        backend
            .runtime
            .block_on(backend.client.head_bucket().bucket(bucket).send())
            .map_err(|e| {
                io(format!(
                    "the bucket `{bucket}` cannot be reached: {}",
                    describe(&e)
                ))
            })?;
        Ok(backend)
    }

    fn key_of(&self, env: &str, name: &str) -> String {
        format!("{}{env}/{name}", self.prefix)
    }

    /// The object's bytes and ETag, or `None` when there is none.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, BackendError> {
        let got = self
            .runtime
            .block_on(self.client.get_object().bucket(&self.bucket).key(key).send());
        match got {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let bytes = self
                    .runtime
                    .block_on(out.body.collect())
                    .map_err(|e| io(format!("reading `{key}`: {e}")))?
                    .into_bytes()
                    .to_vec();
                Ok(Some((bytes, etag)))
            }
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(io(format!("reading `{key}`: {}", describe(&e)))),
        }
    }

    /// Writes `bytes` at `key`, encrypted: `None` only if the object does
    /// not exist yet, `Some(etag)` only if it is still that version. `Ok(false)`
    /// when the condition failed (someone else wrote first).
    fn put(&self, key: &str, bytes: Vec<u8>, condition: Option<&str>) -> Result<bool, BackendError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        req = match &self.kms_key {
            Some(k) => req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(k),
            None => req.server_side_encryption(ServerSideEncryption::Aes256),
        };
        req = match condition {
            None => req.if_none_match("*"),
            Some(etag) => req.if_match(etag),
        };
        match self.runtime.block_on(req.send()) {
            Ok(_) => Ok(true),
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(false),
            Err(e) => Err(io(format!("writing `{key}`: {}", describe(&e)))),
        }
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.runtime
            .block_on(self.client.delete_object().bucket(&self.bucket).key(key).send())
            .map(|_| ())
            .map_err(|e| io(format!("deleting `{key}`: {}", describe(&e))))
    }

    fn where_(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

fn with_name(e: StateError, what: &str) -> BackendError {
    BackendError::State(match e {
        StateError::Corrupt(m) => StateError::Corrupt(format!("{what}: {m}")),
        other => other,
    })
}

impl StateBackend for S3Backend {
    /// `state.key` under the prefix, made by whoever needs it first.
    fn key(&self) -> Result<Vec<u8>, BackendError> {
        let key = format!("{}state.key", self.prefix);
        for _ in 0..2 {
            match self.get(&key)? {
                Some((k, _)) if !k.is_empty() => return Ok(k),
                Some(_) => return Err(io(format!("`{}` is empty", self.where_(&key)))),
                None => {
                    if self.put(&key, super::local::fresh_key().into_bytes(), None)? {
                        continue;
                    }
                }
            }
        }
        Err(io(format!("`{}` could not be made", self.where_(&key))))
    }

    fn read(&self, env: &str) -> Result<Option<State>, BackendError> {
        let key = self.key_of(env, "state.json");
        match self.get(&key)? {
            None => Ok(None),
            Some((bytes, _)) => State::parse(&bytes)
                .map(Some)
                .map_err(|e| with_name(e, &self.where_(&key))),
        }
    }

    fn write(&self, env: &str, state: &State) -> Result<(), BackendError> {
        let key = self.key_of(env, "state.json");
        let existing = self.get(&key)?;
        if let Some((old, _)) = &existing {
            // Never replace what is not valid state; keep it as the backup otherwise.
            State::parse(old).map_err(|e| with_name(e, &self.where_(&key)))?;
            let backup = self.key_of(env, "state.json.backup");
            let previous = self.get(&backup)?.map(|(_, etag)| etag);
            // The backup is ours to overwrite (we hold the lock): its own version, if any.
            if !self.put(&backup, old.clone(), previous.as_deref())? {
                return Err(io(format!(
                    "`{}` changed while it was written; run again",
                    self.where_(&backup)
                )));
            }
        }
        let written = self.put(
            &key,
            state.to_json().into_bytes(),
            existing.as_ref().map(|(_, etag)| etag.as_str()),
        )?;
        if written {
            Ok(())
        } else {
            Err(BackendError::Io(format!(
                "the state `{}` changed while it was written; run again",
                self.where_(&key)
            )))
        }
    }

    fn lock(&self, env: &str, info: &LockInfo) -> Result<(), BackendError> {
        let key = self.key_of(env, "state.lock");
        let body = serde_json::to_vec(info).map_err(io)?;
        if self.put(&key, body, None)? {
            return Ok(());
        }
        match self.lock_holder(env)? {
            Some(holder) => Err(BackendError::Locked(holder)),
            None => Err(BackendError::Io(format!(
                "the lock `{}` changed hands; try again",
                self.where_(&key)
            ))),
        }
    }

    fn unlock(&self, env: &str, id: &str) -> Result<(), BackendError> {
        match self.lock_holder(env)? {
            Some(holder) if holder.id == id => self.delete(&self.key_of(env, "state.lock")),
            held => Err(BackendError::NotLocked { held }),
        }
    }

    fn lock_holder(&self, env: &str) -> Result<Option<LockInfo>, BackendError> {
        let key = self.key_of(env, "state.lock");
        match self.get(&key)? {
            None => Ok(None),
            Some((bytes, _)) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                BackendError::Io(format!("the lock `{}` is not readable: {e}", self.where_(&key)))
            }),
        }
    }
}
