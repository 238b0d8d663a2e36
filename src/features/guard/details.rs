//! What a revocation request shows about the IAM user: groups and policies (from the
//! scan), access keys with their last use, console password and MFA (read now).

use crate::cloud::iam::{self, IamUser};
use crate::cloud::ids::IamUserName;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An access key as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLine {
    pub id: String,
    pub active: bool,
    pub last_used: Option<DateTime<Utc>>,
}

/// Everything that gives the user access.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Details {
    pub groups: Vec<String>,
    pub managed_policies: Vec<String>,
    pub inline_policies: Vec<String>,
    pub access_keys: Vec<KeyLine>,
    pub console_password: bool,
    pub mfa_devices: Vec<String>,
}

/// Reads the keys, password and MFA devices concurrently.
pub async fn gather(client: &aws_sdk_iam::Client, user: &IamUser) -> anyhow::Result<Details> {
    let (keys, password, mfa) = tokio::try_join!(
        iam::access_keys(client, &user.name),
        iam::has_login_profile(client, &user.name),
        iam::mfa_devices(client, &user.name),
    )?;
    Ok(Details {
        groups: user.groups.clone(),
        managed_policies: user.managed_policies.clone(),
        inline_policies: user.inline_policies.clone(),
        access_keys: keys
            .into_iter()
            .map(|k| KeyLine {
                id: k.id,
                active: k.active,
                last_used: k.last_used,
            })
            .collect(),
        console_password: password,
        mfa_devices: mfa,
    })
}

/// The same, listing groups and policies too (for a resumed revocation, when no scan
/// just read them).
pub async fn gather_now(
    client: &aws_sdk_iam::Client,
    user: &IamUserName,
) -> anyhow::Result<Details> {
    let (groups, attached, inline) = tokio::try_join!(
        iam::groups_of(client, user),
        iam::attached_policies(client, user),
        iam::inline_policies(client, user),
    )?;
    let listed = IamUser {
        name: user.clone(),
        arn: String::new(),
        created: None,
        tags: Default::default(),
        groups,
        managed_policies: attached.into_iter().map(|(name, _)| name).collect(),
        inline_policies: inline,
    };
    gather(client, &listed).await
}
