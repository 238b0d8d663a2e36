//! IAM calls for Access Guard: the user directory in as few calls as IAM allows, the
//! details a revocation request shows, and each removal. Removals treat
//! `NoSuchEntity` as already done, so every step can run again safely.

use super::describe_error;
use super::ids::IamUserName;
use aws_sdk_iam::Client;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::{EntityType, StatusType};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Largest page IAM's list operations accept (`MaxItems`).
pub const MAX_ITEMS: i32 = 1000;

/// Name of the inline policy that denies everything to a revoked user. Revocation
/// never deletes it; only `delete_user` does, with the user.
pub const DENY_ALL_POLICY: &str = "OpsMateDenyAll";

/// The deny-all policy document: every action on every resource. Temporary
/// credentials issued to the user before the revocation are evaluated against the
/// user's policies, so they stop working too.
pub const DENY_ALL_DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"OpsMateRevoked","Effect":"Deny","Action":"*","Resource":"*"}]}"#;

/// An IAM user with what `GetAccountAuthorizationDetails` says about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamUser {
    pub name: IamUserName,
    pub arn: String,
    pub created: Option<DateTime<Utc>>,
    pub tags: BTreeMap<String, String>,
    pub groups: Vec<String>,
    /// Attached managed policies, by name.
    pub managed_policies: Vec<String>,
    /// Inline policies, by name.
    pub inline_policies: Vec<String>,
}

/// An access key and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub active: bool,
    pub created: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
}

fn time(t: Option<&aws_sdk_iam::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// `NoSuchEntity`: the thing is not there (already removed).
pub fn is_no_such_entity<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("NoSuchEntity")
}

/// An error as `Operation: Code: message`.
fn failed<E, R>(operation: &str, err: SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    anyhow::anyhow!("{operation}: {}", describe_error(&err))
}

/// Every IAM user with tags, groups and policies: `GetAccountAuthorizationDetails`
/// filtered to users, 1,000 per page (two calls for 2,000 users, where `ListUsers`
/// plus `ListUserTags` would cost one call per user).
pub async fn users(client: &Client) -> anyhow::Result<Vec<IamUser>> {
    let mut pages = client
        .get_account_authorization_details()
        .filter(EntityType::User)
        .max_items(MAX_ITEMS)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed("GetAccountAuthorizationDetails", e))?;
        for u in page.user_detail_list() {
            // IAM's names always fit its rule; one that did not could not be acted on.
            let Some(name) = u.user_name().and_then(|n| IamUserName::parse(n).ok()) else {
                continue;
            };
            out.push(IamUser {
                name,
                arn: u.arn().unwrap_or_default().to_owned(),
                created: time(u.create_date()),
                tags: u
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
                groups: u.group_list().to_vec(),
                managed_policies: u
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_name().map(str::to_owned))
                    .collect(),
                inline_policies: u
                    .user_policy_list()
                    .iter()
                    .filter_map(|p| p.policy_name().map(str::to_owned))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// Whether the user still exists.
pub async fn user_exists(client: &Client, user: &IamUserName) -> anyhow::Result<bool> {
    match client.get_user().user_name(user.as_str()).send().await {
        Ok(_) => Ok(true),
        Err(e) if is_no_such_entity(&e) => Ok(false),
        Err(e) => Err(failed("GetUser", e)),
    }
}

/// The user's access keys, each with its last use.
pub async fn access_keys(client: &Client, user: &IamUserName) -> anyhow::Result<Vec<AccessKey>> {
    let mut pages = client
        .list_access_keys()
        .user_name(user.as_str())
        .max_items(MAX_ITEMS)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed("ListAccessKeys", e))?;
        for k in page.access_key_metadata() {
            let Some(id) = k.access_key_id() else {
                continue;
            };
            let last_used = client
                .get_access_key_last_used()
                .access_key_id(id)
                .send()
                .await
                .map_err(|e| failed("GetAccessKeyLastUsed", e))?;
            out.push(AccessKey {
                id: id.to_owned(),
                active: k.status() == Some(&StatusType::Active),
                created: time(k.create_date()),
                last_used: time(
                    last_used
                        .access_key_last_used()
                        .and_then(|u| u.last_used_date()),
                ),
            });
        }
    }
    Ok(out)
}

/// The ids of the user's access keys (without the last-use lookups).
pub async fn access_key_ids(client: &Client, user: &IamUserName) -> anyhow::Result<Vec<String>> {
    Ok(every_page!(
        client
            .list_access_keys()
            .user_name(user.as_str())
            .max_items(MAX_ITEMS),
        "ListAccessKeys",
        |page| page
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id().map(str::to_owned)),
    ))
}

/// Whether the user has a console password.
pub async fn has_login_profile(client: &Client, user: &IamUserName) -> anyhow::Result<bool> {
    match client
        .get_login_profile()
        .user_name(user.as_str())
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_no_such_entity(&e) => Ok(false),
        Err(e) => Err(failed("GetLoginProfile", e)),
    }
}

/// Serial numbers of the user's MFA devices (ARNs for virtual ones).
pub async fn mfa_devices(client: &Client, user: &IamUserName) -> anyhow::Result<Vec<String>> {
    Ok(every_page!(
        client
            .list_mfa_devices()
            .user_name(user.as_str())
            .max_items(MAX_ITEMS),
        "ListMFADevices",
        |page| page
            .mfa_devices()
            .iter()
            .map(|d| d.serial_number().to_owned()),
    ))
}

/// A virtual MFA device's serial number is its ARN (`arn:aws:iam::…:mfa/name`);
/// hardware and FIDO devices have other serials and cannot be deleted through IAM.
pub fn is_virtual_mfa(serial: &str) -> bool {
    serial.starts_with("arn:") && serial.contains(":mfa/")
}

/// Groups the user is in.
pub async fn groups_of(client: &Client, user: &IamUserName) -> anyhow::Result<Vec<String>> {
    Ok(every_page!(
        client
            .list_groups_for_user()
            .user_name(user.as_str())
            .max_items(MAX_ITEMS),
        "ListGroupsForUser",
        |page| page.groups().iter().map(|g| g.group_name().to_owned())
    ))
}

/// Attached managed policies as `(name, arn)`.
pub async fn attached_policies(
    client: &Client,
    user: &IamUserName,
) -> anyhow::Result<Vec<(String, String)>> {
    Ok(every_page!(
        client
            .list_attached_user_policies()
            .user_name(user.as_str())
            .max_items(MAX_ITEMS),
        "ListAttachedUserPolicies",
        |page| page
            .attached_policies()
            .iter()
            .filter_map(|p| Some((p.policy_name()?.to_owned(), p.policy_arn()?.to_owned()))),
    ))
}

/// Names of the user's inline policies.
pub async fn inline_policies(client: &Client, user: &IamUserName) -> anyhow::Result<Vec<String>> {
    Ok(every_page!(
        client
            .list_user_policies()
            .user_name(user.as_str())
            .max_items(MAX_ITEMS),
        "ListUserPolicies",
        |page| page.policy_names().iter().cloned()
    ))
}

/// Ids of the user's SSH public keys.
pub async fn ssh_keys(client: &Client, user: &IamUserName) -> anyhow::Result<Vec<String>> {
    Ok(every_page!(
        client
            .list_ssh_public_keys()
            .user_name(user.as_str())
            .max_items(MAX_ITEMS),
        "ListSSHPublicKeys",
        |page| page
            .ssh_public_keys()
            .iter()
            .map(|k| k.ssh_public_key_id().to_owned()),
    ))
}

/// Ids of the user's signing certificates.
pub async fn signing_certificates(
    client: &Client,
    user: &IamUserName,
) -> anyhow::Result<Vec<String>> {
    Ok(every_page!(
        client
            .list_signing_certificates()
            .user_name(user.as_str())
            .max_items(MAX_ITEMS),
        "ListSigningCertificates",
        |page| page
            .certificates()
            .iter()
            .map(|c| c.certificate_id().to_owned()),
    ))
}

/// Ids of the user's service-specific credentials (CodeCommit, Keyspaces …). The
/// operation is not paged.
pub async fn service_credentials(
    client: &Client,
    user: &IamUserName,
) -> anyhow::Result<Vec<String>> {
    let out = client
        .list_service_specific_credentials()
        .user_name(user.as_str())
        .send()
        .await
        .map_err(|e| failed("ListServiceSpecificCredentials", e))?;
    Ok(out
        .service_specific_credentials()
        .iter()
        .map(|c| c.service_specific_credential_id().to_owned())
        .collect())
}

/// Turns an SDK result into "done" (`true`), "was not there" (`false`) or an error.
fn removed<T, E, R>(operation: &str, result: Result<T, SdkError<E, R>>) -> anyhow::Result<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_no_such_entity(&e) => Ok(false),
        Err(e) => Err(failed(operation, e)),
    }
}

pub async fn deactivate_access_key(
    client: &Client,
    user: &IamUserName,
    id: &str,
) -> anyhow::Result<bool> {
    let r = client
        .update_access_key()
        .user_name(user.as_str())
        .access_key_id(id)
        .status(StatusType::Inactive)
        .send()
        .await;
    removed("UpdateAccessKey", r)
}

pub async fn delete_access_key(
    client: &Client,
    user: &IamUserName,
    id: &str,
) -> anyhow::Result<bool> {
    let r = client
        .delete_access_key()
        .user_name(user.as_str())
        .access_key_id(id)
        .send()
        .await;
    removed("DeleteAccessKey", r)
}

pub async fn delete_login_profile(client: &Client, user: &IamUserName) -> anyhow::Result<bool> {
    let r = client
        .delete_login_profile()
        .user_name(user.as_str())
        .send()
        .await;
    removed("DeleteLoginProfile", r)
}

pub async fn remove_from_group(
    client: &Client,
    user: &IamUserName,
    group: &str,
) -> anyhow::Result<bool> {
    let r = client
        .remove_user_from_group()
        .user_name(user.as_str())
        .group_name(group)
        .send()
        .await;
    removed("RemoveUserFromGroup", r)
}

pub async fn detach_policy(client: &Client, user: &IamUserName, arn: &str) -> anyhow::Result<bool> {
    let r = client
        .detach_user_policy()
        .user_name(user.as_str())
        .policy_arn(arn)
        .send()
        .await;
    removed("DetachUserPolicy", r)
}

pub async fn delete_inline_policy(
    client: &Client,
    user: &IamUserName,
    name: &str,
) -> anyhow::Result<bool> {
    let r = client
        .delete_user_policy()
        .user_name(user.as_str())
        .policy_name(name)
        .send()
        .await;
    removed("DeleteUserPolicy", r)
}

pub async fn deactivate_mfa(
    client: &Client,
    user: &IamUserName,
    serial: &str,
) -> anyhow::Result<bool> {
    let r = client
        .deactivate_mfa_device()
        .user_name(user.as_str())
        .serial_number(serial)
        .send()
        .await;
    removed("DeactivateMFADevice", r)
}

pub async fn delete_virtual_mfa(client: &Client, serial: &str) -> anyhow::Result<bool> {
    let r = client
        .delete_virtual_mfa_device()
        .serial_number(serial)
        .send()
        .await;
    removed("DeleteVirtualMFADevice", r)
}

pub async fn delete_ssh_key(client: &Client, user: &IamUserName, id: &str) -> anyhow::Result<bool> {
    let r = client
        .delete_ssh_public_key()
        .user_name(user.as_str())
        .ssh_public_key_id(id)
        .send()
        .await;
    removed("DeleteSSHPublicKey", r)
}

pub async fn delete_signing_certificate(
    client: &Client,
    user: &IamUserName,
    id: &str,
) -> anyhow::Result<bool> {
    let r = client
        .delete_signing_certificate()
        .user_name(user.as_str())
        .certificate_id(id)
        .send()
        .await;
    removed("DeleteSigningCertificate", r)
}

pub async fn delete_service_credential(
    client: &Client,
    user: &IamUserName,
    id: &str,
) -> anyhow::Result<bool> {
    let r = client
        .delete_service_specific_credential()
        .user_name(user.as_str())
        .service_specific_credential_id(id)
        .send()
        .await;
    removed("DeleteServiceSpecificCredential", r)
}

/// Puts [`DENY_ALL_POLICY`] on the user (replacing an older copy, so it is idempotent).
pub async fn put_deny_all(client: &Client, user: &IamUserName) -> anyhow::Result<()> {
    client
        .put_user_policy()
        .user_name(user.as_str())
        .policy_name(DENY_ALL_POLICY)
        .policy_document(DENY_ALL_DOCUMENT)
        .send()
        .await
        .map_err(|e| failed("PutUserPolicy", e))?;
    Ok(())
}

pub async fn delete_user(client: &Client, user: &IamUserName) -> anyhow::Result<bool> {
    let r = client.delete_user().user_name(user.as_str()).send().await;
    removed("DeleteUser", r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_arn_serials_are_virtual_devices() {
        assert!(is_virtual_mfa("arn:aws:iam::123456789012:mfa/alice"));
        assert!(!is_virtual_mfa("GAHT12345678"));
        assert!(!is_virtual_mfa(
            "arn:aws:iam::123456789012:u2f/user/alice/key"
        ));
    }

    #[test]
    fn the_deny_all_document_denies_everything() {
        let doc: serde_json::Value = serde_json::from_str(DENY_ALL_DOCUMENT).unwrap();
        let statement = &doc["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(statement["Action"], "*");
        assert_eq!(statement["Resource"], "*");
    }
}
