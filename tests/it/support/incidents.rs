//! Incidents on top of the health harness: a check `api` offering a real script as
//! its remediation, presses on the incident message, and the announcer, escalation
//! and deliveries run by hand on the manual clock.

use super::fake_slack::message_ts;
use super::observatory::HealthHarness;
use super::slack::{CHANNEL, all_text, button};
use super::{audit_rows_in, eventually, slack_requests};
use opsmate::config::Config;
use opsmate::domain::ActionKind;
use opsmate::features::incidents::config::{IncidentsConfig, Remediation, RemediationKind};
use opsmate::features::observatory::config::ObservatoryConfig;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A `command` remediation running `script` with `args`.
pub fn command(name: &str, argv: Vec<String>) -> Remediation {
    Remediation {
        name: name.into(),
        kind: RemediationKind::Command,
        label: None,
        timeout: Some(Duration::from_secs(10)),
        verify_after: None,
        approvers: None,
        auto: false,
        auto_after: None,
        max_auto_per_hour: None,
        argv,
        working_dir: None,
        env: vec![],
        method: None,
        url: None,
        headers: Default::default(),
        secret_headers: Default::default(),
        body: None,
        expect_status: None,
        unit: None,
        instance_ids: vec![],
        tags: Default::default(),
        region: None,
    }
}

/// A script that writes `marker` (the service heals when it exists) and says so.
fn restart_script(dir: &Path, marker: &Path) -> Vec<String> {
    let script = dir.join("restart-api.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho restarted > '{}'\necho 'api restarted'\necho 'a warning' >&2\n",
            marker.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    vec![script.display().to_string()]
}

pub struct Incidents {
    pub h: HealthHarness,
    /// Written by the remediation script.
    pub marker: std::path::PathBuf,
    _scripts: tempfile::TempDir,
}

/// Observatory with `api` (offering `restart-api`), Incidents on, UALICE and UBOB
/// may run remediations; `tweak` adjusts the rest.
pub async fn start(
    tweak: impl FnOnce(&mut Config, &super::fake_service::FakeService),
) -> Incidents {
    let scripts = tempfile::tempdir().unwrap();
    let marker = scripts.path().join("restarted");
    let argv = restart_script(scripts.path(), &marker);
    let h = HealthHarness::start(|c, s| {
        c.edit_section(|o: &mut ObservatoryConfig| {
            o.checks[0].remediations = vec!["restart-api".into()];
        });
        c.sections.set(&IncidentsConfig {
            // The manual clock stands still: the check runs again on the next call.
            verify_after: Duration::ZERO,
            remediations: vec![command("restart-api", argv)],
            ..IncidentsConfig::default()
        });
        c.approvals
            .set_policy(ActionKind::REMEDIATE, super::slack::policy());
        tweak(c, s);
    })
    .await;
    h.service.heal_when_exists(&marker);
    Incidents {
        h,
        marker,
        _scripts: scripts,
    }
}

impl Incidents {
    pub fn running(&self) -> std::sync::Arc<opsmate::features::incidents::Incidents> {
        self.h
            .ctx()
            .features
            .get::<opsmate::features::incidents::plug::IncidentsFeature>()
            .expect("incidents are on")
            .0
            .clone()
    }

    pub async fn announce(&self) -> usize {
        self.running().announce_once(self.h.ctx()).await.unwrap()
    }

    /// `check` fails twice (an alert), then the announcer runs.
    pub async fn alert(&self, check: &str) {
        self.h.check_after(60, check).await;
        self.h.check_after(60, check).await;
        self.announce().await;
    }

    /// Presses the button labelled `label` on the `n`-th posted message.
    pub async fn press(&self, user: &str, n: usize, label: &str, reply: &str) -> u16 {
        let posts = self.h.slack.wait_calls("chat.postMessage", n).await;
        let action_id = button(&posts[n - 1].body, label).to_owned();
        let value = action_id.splitn(3, ':').nth(2).unwrap().to_owned();
        let payload = slack_requests::click_payload(&slack_requests::Click {
            user,
            channel: CHANNEL,
            action_id: &action_id,
            value: &value,
            ts: &message_ts(n as u64),
            ephemeral: false,
            response_url: &self.h.slack.fake.response_url(reply),
        });
        let body = slack_requests::interactivity_body(&payload);
        self.h
            .slack
            .post_signed(
                "/slack/interactivity",
                "application/x-www-form-urlencoded",
                &body,
                0,
            )
            .await
            .status()
            .as_u16()
    }

    /// Waits for a `chat.update` whose text has `needle`; returns its text.
    pub async fn update_saying(&self, needle: &str) -> String {
        self.update_where(needle, |t| t.contains(needle)).await
    }

    /// Waits for a `chat.update` whose text passes `check` (described by `what`),
    /// running the announcer meanwhile; returns the newest such text.
    pub async fn update_where(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let fake = &self.h.slack.fake;
        let found = eventually(Duration::from_secs(20), || async {
            self.announce().await;
            fake.calls_to("chat.update")
                .iter()
                .any(|c| check(&all_text(&c.body)))
        })
        .await;
        let updates: Vec<String> = fake
            .calls_to("chat.update")
            .iter()
            .map(|c| all_text(&c.body))
            .collect();
        assert!(found, "no chat.update says {what:?}: {updates:#?}");
        updates
            .into_iter()
            .rev()
            .find(|t| check(t))
            .unwrap_or_default()
    }

    pub fn audit(&self, event: &str) -> Vec<opsmate::audit::AuditRecord> {
        audit_rows_in(&self.h.ctx().store, event)
    }
}

pub fn labels(body: &Value) -> Vec<String> {
    body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .map(|e| e["text"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}
