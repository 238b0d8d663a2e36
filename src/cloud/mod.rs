//! AWS access. One shared SDK configuration (default credential chain, optional
//! endpoint override for moto or LocalStack); per-region clients are cheap to build.
//!
//! Every client retries throttling and transient errors with the SDK's standard
//! exponential backoff, and counts the HTTP attempts it makes, so a scan can report
//! how many calls it cost.

/// Follows every page of a paged list call (the request already asks for the
/// largest page) and collects what `$items` takes from each page. A page that still
/// fails after the SDK's retries fails the whole listing, named after `$operation`:
/// a throttled call must never look like resources that are gone.
macro_rules! every_page {
    ($request:expr, $operation:literal, |$page:ident| $items:expr $(,)?) => {{
        let mut pages = $request.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let $page = page.map_err(|e| {
                anyhow::anyhow!("{}: {}", $operation, $crate::cloud::describe_error(&e))
            })?;
            out.extend($items);
        }
        out
    }};
}

pub mod ec2;
pub mod iam;
pub mod ids;
pub mod instances;

use crate::config::AwsConfig;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The region IAM requests are signed for.
const IAM_REGION: &str = "us-east-1";

/// Longest wait between two attempts of a call. Throttling backs off exponentially
/// up to this (`aws.max_attempts` attempts), so a throttled call waits rather than fails.
pub const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Counts HTTP attempts (retries included) of the clients it is attached to.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<AtomicU64>);

impl CallCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A short, user-facing description of an AWS error: its code and message when the
/// service sent them, else the whole error chain. Works for every SDK client.
pub fn describe_error<E, R>(err: &aws_sdk_ec2::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ec2::error::ProvideErrorMetadata as _;
    match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_sdk_ec2::error::DisplayErrorContext(err).to_string(),
    }
}

/// Handle to AWS. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Aws {
    sdk: SdkConfig,
    regions: Vec<String>,
}

impl Aws {
    /// Uses the SDK's default credential chain (environment, profile, SSO, IMDS …).
    /// Credentials are resolved on the first call, not here, so start-up stays fast.
    pub async fn load(config: &AwsConfig) -> Self {
        Self::build(config, None).await
    }

    /// Uses fixed credentials (e.g. against moto in tests).
    pub async fn with_static_credentials(
        config: &AwsConfig,
        access_key: &str,
        secret_key: &str,
    ) -> Self {
        let creds = Credentials::new(access_key, secret_key, None, None, "opsmate-static");
        Self::build(config, Some(creds)).await
    }

    async fn build(config: &AwsConfig, creds: Option<Credentials>) -> Self {
        let home = config
            .regions
            .first()
            .cloned()
            .unwrap_or_else(|| "us-east-1".into());
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(home))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(config.max_attempts)
                    .with_max_backoff(MAX_BACKOFF),
            );
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(creds) = creds {
            loader = loader.credentials_provider(creds);
        }
        Self {
            sdk: loader.load().await,
            regions: config.regions.clone(),
        }
    }

    /// Configured regions, in order.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// An EC2 client for one region.
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        self.ec2_counted(region, &CallCounter::default())
    }

    /// An EC2 client for one region whose HTTP attempts add to `counter`.
    pub fn ec2_counted(&self, region: &str, counter: &CallCounter) -> aws_sdk_ec2::Client {
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .interceptor(counter.clone())
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }

    /// An IAM client. IAM is global: its endpoint lives in us-east-1 whatever the
    /// configured regions.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        self.iam_counted(&CallCounter::default())
    }

    /// An IAM client whose HTTP attempts add to `counter`.
    pub fn iam_counted(&self, counter: &CallCounter) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::config::Builder::from(&self.sdk)
            .region(Region::new(IAM_REGION))
            .interceptor(counter.clone())
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    /// The same endpoint and regions, with credentials from assuming `role_arn`
    /// through STS (refreshed by the SDK before they expire).
    pub async fn assume_role(&self, role_arn: &str) -> Self {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("opsmate")
            .configure(&self.sdk)
            .build()
            .await;
        let sdk = self
            .sdk
            .to_builder()
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build();
        Self {
            sdk,
            regions: self.regions.clone(),
        }
    }
}
