//! The revocation steps. Each lists what is there right now and removes it, so
//! running a step again removes only what is left. Every removal is audited the
//! moment it happens, so even a step cut off half-way leaves an exact trail.

use crate::audit::Audit;
use crate::cloud::iam::{self, DENY_ALL_POLICY};
use crate::cloud::ids::IamUserName;
use crate::features::guard::config::RevokeStep;
use aws_sdk_iam::Client;
use serde_json::json;
use std::sync::Mutex;

/// Audits and collects what one step removes (or, in a dry run, would remove).
pub struct Recorder<'a> {
    pub audit: &'a Audit,
    pub user: &'a IamUserName,
    pub approval: &'a str,
    /// The step's name in the audit log (`access_keys` …, `delete_user`).
    pub step: &'static str,
    pub dry_run: bool,
    items: Mutex<Vec<String>>,
}

impl<'a> Recorder<'a> {
    pub fn new(
        audit: &'a Audit,
        user: &'a IamUserName,
        approval: &'a str,
        step: &'static str,
        dry_run: bool,
    ) -> Self {
        Self {
            audit,
            user,
            approval,
            step,
            dry_run,
            items: Mutex::new(Vec::new()),
        }
    }

    /// Notes one removal; a dry run only collects it.
    async fn removed(&self, item: String) -> anyhow::Result<()> {
        if !self.dry_run {
            self.audit
                .record(
                    "system",
                    crate::audit::events::GUARD_REMOVED,
                    self.user,
                    json!({"step": self.step, "item": item, "approval": self.approval}),
                )
                .await?;
        }
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(item);
        Ok(())
    }

    pub fn items(&self) -> Vec<String> {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs one step for `rec.user`. In a dry run only the listings are made.
pub async fn run(client: &Client, step: RevokeStep, rec: &Recorder<'_>) -> anyhow::Result<()> {
    let user = rec.user;
    let act = !rec.dry_run;
    match step {
        RevokeStep::AccessKeys => {
            for id in iam::access_key_ids(client, user).await? {
                if act {
                    iam::deactivate_access_key(client, user, &id).await?;
                    iam::delete_access_key(client, user, &id).await?;
                }
                rec.removed(format!("access key {id}")).await?;
            }
        }
        RevokeStep::LoginProfile => {
            let there = if act {
                iam::delete_login_profile(client, user).await?
            } else {
                iam::has_login_profile(client, user).await?
            };
            if there {
                rec.removed("console password".into()).await?;
            }
        }
        RevokeStep::Groups => {
            for group in iam::groups_of(client, user).await? {
                if act {
                    iam::remove_from_group(client, user, &group).await?;
                }
                rec.removed(format!("group {group}")).await?;
            }
        }
        RevokeStep::Policies => {
            for (name, arn) in iam::attached_policies(client, user).await? {
                if act {
                    iam::detach_policy(client, user, &arn).await?;
                }
                rec.removed(format!("managed policy {name}")).await?;
            }
            for name in iam::inline_policies(client, user).await? {
                if name == DENY_ALL_POLICY {
                    continue;
                }
                if act {
                    iam::delete_inline_policy(client, user, &name).await?;
                }
                rec.removed(format!("inline policy {name}")).await?;
            }
        }
        RevokeStep::Mfa => {
            for serial in iam::mfa_devices(client, user).await? {
                let is_virtual = iam::is_virtual_mfa(&serial);
                if act {
                    iam::deactivate_mfa(client, user, &serial).await?;
                    if is_virtual {
                        iam::delete_virtual_mfa(client, &serial).await?;
                    }
                }
                let what = if is_virtual {
                    "virtual MFA device"
                } else {
                    "MFA device (deactivated)"
                };
                rec.removed(format!("{what} {serial}")).await?;
            }
        }
        RevokeStep::OtherCredentials => {
            for id in iam::ssh_keys(client, user).await? {
                if act {
                    iam::delete_ssh_key(client, user, &id).await?;
                }
                rec.removed(format!("SSH public key {id}")).await?;
            }
            for id in iam::signing_certificates(client, user).await? {
                if act {
                    iam::delete_signing_certificate(client, user, &id).await?;
                }
                rec.removed(format!("signing certificate {id}")).await?;
            }
            for id in iam::service_credentials(client, user).await? {
                if act {
                    iam::delete_service_credential(client, user, &id).await?;
                }
                rec.removed(format!("service-specific credential {id}"))
                    .await?;
            }
        }
        RevokeStep::DenyAll => {
            if act {
                iam::put_deny_all(client, user).await?;
            }
            rec.removed(format!("attached deny-all inline policy {DENY_ALL_POLICY}"))
                .await?;
        }
    }
    Ok(())
}

/// After every step: removes the deny-all policy and deletes the user
/// (`guard.delete_user`). A deleted user's credentials, temporary ones included, stop
/// working with it.
pub async fn delete_user(client: &Client, rec: &Recorder<'_>) -> anyhow::Result<()> {
    if !rec.dry_run {
        iam::delete_inline_policy(client, rec.user, DENY_ALL_POLICY).await?;
        iam::delete_user(client, rec.user).await?;
    }
    rec.removed(format!("IAM user {}", rec.user)).await
}
