//! AWS access. One shared SDK configuration (default credential chain, optional
//! endpoint override for moto or LocalStack); per-region clients are cheap to build.

pub mod ec2;

use crate::config::AwsConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;

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
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(home));
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
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }
}
