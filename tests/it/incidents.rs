//! Incidents end to end: an alert becomes an incident message with Ack, Mute and its
//! remediations; presses go through the gate; a real script runs; the check is run
//! again; recovery rewrites the message; a down dependency holds its dependents'
//! alerts. The check timers are off: tests run checks, flushes and the announcer by
//! hand on a manual clock.

use crate::support::eventually;
use crate::support::fake_service::Mode;
use crate::support::incidents::{command, labels, start};
use crate::support::observatory::http_check;
use crate::support::slack::all_text;
use opsmate::features::incidents::config::IncidentsConfig;
use opsmate::features::observatory::config::ObservatoryConfig;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_is_an_incident_with_its_buttons_and_recovery_rewrites_it_with_who_acked() {
    let t = start(|_, _| {}).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    let posts = t.h.slack.wait_calls("chat.postMessage", 1).await;
    let text = all_text(&posts[0].body);
    assert!(text.contains("Incident #1: api is critical"), "{text}");
    assert!(text.contains("500"), "{text}");
    assert_eq!(
        labels(&posts[0].body),
        vec!["👋 Ack", "🔕 Mute 1h", "🔧 restart-api"]
    );
    // The alert is the incident's message, not also a line in the grouped one.
    t.h.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(t.h.flush().await, 0);

    assert_eq!(t.press("UCAROL", 1, "👋 Ack", "ack").await, 200);
    let acked = t.update_saying("acked").await;
    assert!(acked.contains("<@UCAROL>, acked"), "{acked}");
    assert!(!acked.contains("👋 Ack"), "the Ack button is gone: {acked}");
    assert_eq!(t.audit("incident.acked").len(), 1);
    // A second Ack is told who owns it.
    assert_eq!(t.press("UDAVE", 1, "👋 Ack", "ack2").await, 200);
    let answer = t.h.slack.wait_calls("response_url:ack2", 1).await;
    assert!(
        all_text(&answer[0].body).contains("already owned by"),
        "{:?}",
        answer[0].body
    );

    assert_eq!(t.press("UCAROL", 1, "🔕 Mute 1h", "mute").await, 200);
    let muted = t.update_saying("muted until").await;
    assert!(muted.contains("by <@UCAROL>"), "{muted}");
    assert_eq!(t.audit("incident.muted").len(), 1);

    t.h.service.set(Mode::Healthy);
    t.h.check_after(60, "api").await;
    assert_eq!(
        t.h.round(60, "api").await,
        1,
        "the recovery is posted as before"
    );
    let recovered = t.update_saying("recovered after").await;
    assert!(
        recovered.contains("Incident #1: api recovered after 2 min"),
        "{recovered}"
    );
    assert!(recovered.contains("<@UCAROL>, acked"), "{recovered}");
    assert!(
        labels_of_text_free(&recovered),
        "no buttons after recovery: {recovered}"
    );
    t.h.slack.wait_calls("chat.postMessage", 2).await;
    let posted = t.h.posted();
    assert!(
        posted
            .iter()
            .any(|p| p.starts_with("✅ Health: 1 change") && p.contains("api recovered after")),
        "{posted:#?}"
    );
    assert_eq!(t.audit("incident.resolved").len(), 1);
    t.h.stop().await;
}

/// The rewritten text carries no button labels.
fn labels_of_text_free(text: &str) -> bool {
    !text.contains("👋 Ack") && !text.contains("🔕 Mute") && !text.contains("🔧 restart-api\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_approvers_remediation_press_is_refused_and_nothing_runs() {
    let t = start(|_, _| {}).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    assert_eq!(t.press("UEVE", 1, "🔧 restart-api", "eve").await, 200);
    let answer = t.h.slack.wait_calls("response_url:eve", 1).await;
    let text = all_text(&answer[0].body);
    assert!(text.contains("not allowed"), "{text}");
    t.h.slack.app.settle().await;
    assert!(!t.marker.exists(), "the script ran");
    let refused = t.audit("approval.refused");
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].details.to_string().contains("not_an_approver"),
        "{}",
        refused[0].details
    );
    assert!(t.audit("incident.remediation_ran").is_empty());
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remediation_is_skipped_when_the_check_passes_again() {
    let t = start(|_, _| {}).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    t.h.service.set(Mode::Healthy);
    assert_eq!(t.press("UALICE", 1, "🔧 restart-api", "alice").await, 200);
    let skipped = t.update_saying("skipped").await;
    assert!(
        skipped.contains("restart-api, approved by <@UALICE>: skipped"),
        "{skipped}"
    );
    assert!(skipped.contains("api passes now"), "{skipped}");
    assert!(skipped.contains("restart-api was not run"), "{skipped}");
    assert!(!t.marker.exists(), "the script ran");
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remediation_runs_the_check_recovers_and_the_alert_message_says_so() {
    let t = start(|_, _| {}).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    assert_eq!(t.press("UALICE", 1, "🔧 restart-api", "alice").await, 200);
    let done = t
        .update_saying("restart-api, approved by <@UALICE>: done")
        .await;
    assert!(t.marker.exists(), "the script did not run");
    assert!(done.contains("ran: exit 0"), "{done}");
    assert!(
        done.contains("api restarted"),
        "its output is shown: {done}"
    );
    assert!(done.contains("api recovered"), "the verification: {done}");
    let ran = t.audit("incident.remediation_ran");
    assert_eq!(ran.len(), 1);
    assert!(
        ran[0].details.to_string().contains("a warning"),
        "stderr is in the audit row: {}",
        ran[0].details
    );
    let verified = t.audit("incident.remediation_verified");
    assert!(
        verified[0]
            .details
            .to_string()
            .contains("\"recovered\":true"),
        "{}",
        verified[0].details
    );

    // The check's own results then close the incident.
    t.h.check_after(60, "api").await;
    t.h.check_after(60, "api").await;
    let recovered = t.update_saying("recovered after").await;
    assert!(
        recovered.contains("restart-api, approved by <@UALICE>: done"),
        "history stays: {recovered}"
    );
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_dependency_holds_its_dependents_alerts_in_its_own_incident() {
    let t = start(|c, s| {
        c.edit_section(|o: &mut ObservatoryConfig| {
            let mut api = o.checks[0].clone();
            api.depends_on = vec!["db".into()];
            o.checks = vec![http_check("db", &s.url), api];
        });
    })
    .await;
    t.h.service.set(Mode::Failing);
    // db goes down first, then api (which needs db) fails too.
    t.alert("db").await;
    t.alert("api").await;
    t.h.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(t.h.flush().await, 0, "no alert of its own for api");
    let posts = t.h.slack.wait_calls("chat.postMessage", 1).await;
    assert_eq!(posts.len(), 1, "{:#?}", t.h.posted());
    assert!(all_text(&posts[0].body).contains("Incident #1: db is critical"));
    let joined = t.update_saying("Failing while db is down").await;
    assert!(joined.contains("api is critical"), "{joined}");
    assert_eq!(t.audit("incident.joined").len(), 1);
    assert_eq!(t.audit("incident.opened").len(), 1);
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_lists_the_open_ones_with_their_buttons() {
    let t = start(|_, _| {}).await;
    let resp = t.h.slack.command("UCAROL", "incidents", "none").await;
    assert_eq!(resp.status(), 200);
    let answer = t.h.slack.wait_calls("response_url:none", 1).await;
    assert!(all_text(&answer[0].body).contains("No open incidents"));
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    t.h.slack.command("UCAROL", "incidents", "list").await;
    let answer = t.h.slack.wait_calls("response_url:list", 1).await;
    assert!(all_text(&answer[0].body).contains("Incident #1: api is critical"));
    assert_eq!(
        labels(&answer[0].body),
        vec!["👋 Ack", "🔕 Mute 1h", "🔧 restart-api"]
    );
    t.h.stop().await;
}

/// A script that counts its runs in `log` and exits with `code`.
fn counting_script(dir: &std::path::Path, code: i32) -> (Vec<String>, std::path::PathBuf) {
    let log = dir.join("runs.log");
    let script = dir.join("bounce.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho run >> '{}'\nexit {code}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (vec![script.display().to_string()], log)
}

fn runs(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

async fn with_auto_bounce(
    code: i32,
) -> (
    crate::support::incidents::Incidents,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let (argv, log) = counting_script(dir.path(), code);
    let t = start(move |c, _| {
        c.edit_section(|i: &mut IncidentsConfig| {
            let mut r = command("bounce-api", argv);
            r.auto = true;
            r.auto_after = Some(Duration::from_secs(120));
            r.max_auto_per_hour = Some(2);
            i.remediations.push(r);
        });
        c.edit_section(|o: &mut ObservatoryConfig| {
            o.checks[0].remediations.push("bounce-api".into());
        });
    })
    .await;
    (t, log, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_remediation_waits_for_auto_after_and_stops_at_its_hourly_cap() {
    let (t, log, _dir) = with_auto_bounce(0).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    let auto = || async { t.running().auto_once(t.h.ctx()).await.unwrap() };
    assert_eq!(auto().await, 0, "the incident is younger than auto_after");
    t.h.clock.advance(chrono::Duration::seconds(121));
    assert_eq!(auto().await, 1);
    t.h.slack.app.settle().await;
    assert_eq!(runs(&log), 1);
    assert_eq!(auto().await, 1, "the second of two an hour");
    t.h.slack.app.settle().await;
    assert_eq!(runs(&log), 2);
    assert_eq!(auto().await, 0, "the hourly cap is reached");
    t.h.clock.advance(chrono::Duration::minutes(30));
    assert_eq!(auto().await, 0, "still within the hour");
    assert_eq!(runs(&log), 2);
    let rule = t.audit("approval.approved_unattended");
    assert_eq!(rule.len(), 2);
    assert_eq!(rule[0].actor, "rule:auto-remediate:bounce-api");
    assert!(
        rule[0]
            .details
            .to_string()
            .contains("fewer than 2 auto run(s)"),
        "{}",
        rule[0].details
    );
    let shown = t
        .update_saying("bounce-api, approved by rule:auto-remediate:bounce-api: done")
        .await;
    assert!(shown.contains("ran: exit 0"), "{shown}");
    t.h.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(auto().await, 1, "a new hour");
    t.h.slack.app.settle().await;
    assert_eq!(runs(&log), 3);
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_remediation_stops_after_a_run_that_failed() {
    let (t, log, _dir) = with_auto_bounce(3).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    t.h.clock.advance(chrono::Duration::seconds(121));
    assert_eq!(t.running().auto_once(t.h.ctx()).await.unwrap(), 1);
    t.h.slack.app.settle().await;
    assert_eq!(runs(&log), 1);
    t.h.clock.advance(chrono::Duration::hours(2));
    assert_eq!(t.running().auto_once(t.h.ctx()).await.unwrap(), 0);
    let failed = t
        .update_saying("bounce-api, approved by rule:auto-remediate:bounce-api: failed")
        .await;
    assert!(failed.contains("exit 3"), "{failed}");
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_telegram_the_alert_has_its_keyboard_ack_rewrites_it_and_incidents_lists_it() {
    use crate::support::telegram_updates::{TG_ALICE, TG_CHAT, TG_SECRET, command_update};
    let t = start(|_, _| {}).await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    let message_id: i64 = crate::support::delivered_copy(&t.h.slack.app, "incident:1:", "telegram")
        .await
        .message_id
        .parse()
        .unwrap();
    let sent = t.h.telegram.delivered("sendMessage");
    let alert = sent.last().unwrap();
    assert!(
        alert.body["text"]
            .as_str()
            .unwrap()
            .contains("Incident #1: api is critical")
    );
    let keys: Vec<(String, String)> = alert.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().clone())
        .map(|b| {
            (
                b["text"].as_str().unwrap().to_owned(),
                b["callback_data"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys[0],
        ("👋 Ack".to_owned(), "p:incidents.ack:1".to_owned())
    );
    assert_eq!(keys[2].1, "p:incidents.fix:1:restart-api");
    assert_eq!(
        t.h.slack
            .press_telegram(TG_ALICE, &keys[0].1, message_id)
            .await,
        200
    );
    let edited = eventually(Duration::from_secs(20), || async {
        // Telegram's per-chat pace runs on the app's (manual) clock.
        t.h.clock.advance(chrono::Duration::milliseconds(100));
        t.announce().await;
        t.h.telegram.delivered("editMessageText").iter().any(|c| {
            c.body["text"]
                .as_str()
                .unwrap_or_default()
                .contains("telegram:42, acked")
        })
    })
    .await;
    assert!(edited, "{:#?}", t.h.telegram.delivered("editMessageText"));

    let status = reqwest::Client::new()
        .post(t.h.slack.app.url("/telegram/webhook"))
        .header("x-telegram-bot-api-secret-token", TG_SECRET)
        .json(&command_update(TG_CHAT, TG_ALICE, "/incidents"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let listed = eventually(Duration::from_secs(20), || async {
        t.h.clock.advance(chrono::Duration::milliseconds(100));
        t.h.telegram.delivered("sendMessage").len() >= 2
    })
    .await;
    let sent = t.h.telegram.delivered("sendMessage");
    assert!(listed, "{sent:#?}");
    let list = sent.last().unwrap();
    assert!(
        list.body["text"].as_str().unwrap().contains("Incident #1"),
        "{:?}",
        list.body
    );
    assert!(
        list.body["reply_markup"]
            .to_string()
            .contains("p:incidents.mute:1")
    );
    t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ec2_reboot_remediation_reboots_the_tagged_instances_in_moto() {
    use crate::support::aws_proxy::AwsProxy;
    use crate::support::moto::Moto;
    use crate::support::watchman::{REGION, instance};
    use opsmate::features::incidents::config::RemediationKind;
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let proxy = AwsProxy::start(&moto.endpoint).await;
    let ec2 = moto.aws(REGION).await.ec2(REGION);
    let api_a = instance(&ec2, &[("Role", "api")]).await;
    let api_b = instance(&ec2, &[("Role", "api")]).await;
    let db = instance(&ec2, &[("Role", "db")]).await;
    let endpoint = proxy.endpoint.clone();
    let t = start(move |c, _| {
        c.aws = opsmate::config::AwsConfig {
            regions: vec![REGION.into()],
            endpoint_url: Some(endpoint),
            max_attempts: 3,
        };
        c.edit_section(|i: &mut IncidentsConfig| {
            let mut r = command("reboot-api", vec![]);
            r.kind = RemediationKind::Ec2Reboot;
            r.timeout = None;
            r.tags = [("Role".to_owned(), "api".to_owned())].into();
            i.remediations.push(r);
        });
        c.edit_section(|o: &mut ObservatoryConfig| {
            o.checks[0].remediations = vec!["reboot-api".into()];
        });
    })
    .await;
    t.h.service.set(Mode::Failing);
    t.alert("api").await;
    assert_eq!(t.press("UALICE", 1, "🔧 reboot-api", "alice").await, 200);
    let done = t
        .update_saying("reboot-api, approved by <@UALICE>: done")
        .await;
    let calls = proxy.calls_to("RebootInstances");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let mut rebooted: Vec<String> = calls[0]
        .params
        .iter()
        .filter(|(k, _)| k.starts_with("InstanceId"))
        .map(|(_, v)| v.clone())
        .collect();
    rebooted.sort();
    let mut want = vec![api_a.clone(), api_b.clone()];
    want.sort();
    assert_eq!(rebooted, want, "only the instances tagged Role=api");
    assert!(!rebooted.contains(&db));
    assert!(done.contains(&format!("in {REGION}")), "{done}");
    assert!(
        done.contains("api is still critical"),
        "a reboot does not heal the fake: {done}"
    );
    t.h.stop().await;
}
