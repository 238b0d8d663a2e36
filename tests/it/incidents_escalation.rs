//! Escalation end to end: an incident nobody acks goes to a fake PagerDuty Events API
//! and a signature-checking webhook at level 1 and to a real SMTP conversation at
//! level 2; a recovery resolves everywhere it went; an ack stops it; a pager outage
//! delays a page and loses nothing.

use crate::support::fake_pager::{
    FakePagerDuty, FakeWebhook, ROUTING_KEY, SMTP_PASSWORD, SMTP_PASSWORD_ENV, SMTP_USERNAME,
    SMTP_USERNAME_ENV, WEBHOOK_SECRET,
};
use crate::support::fake_service::Mode;
use crate::support::fake_smtp::FakeSmtp;
use crate::support::incidents::{Incidents, start};
use opsmate::features::incidents::config::{
    EmailConfig, EscalationLevel, IncidentsConfig, PagerDutyConfig, StartTls, WebhookConfig,
};
use std::time::Duration;

struct Paged {
    t: Incidents,
    pager: FakePagerDuty,
    hook: FakeWebhook,
    smtp: FakeSmtp,
    _ca: tempfile::TempDir,
}

async fn paged() -> Paged {
    let pager = FakePagerDuty::start().await;
    let hook = FakeWebhook::start(WEBHOOK_SECRET).await;
    let smtp = FakeSmtp::start_tls().await;
    smtp.require_auth(SMTP_USERNAME, SMTP_PASSWORD);
    let ca = tempfile::tempdir().unwrap();
    let ca_file = ca.path().join("smtp-ca.pem");
    std::fs::write(&ca_file, smtp.cert_pem().unwrap()).unwrap();
    let smtp_port = smtp.addr.port();
    let (pd_url, hook_url) = (pager.url.clone(), hook.url.clone());
    let t = start(move |c, _| {
        c.edit_section(|i: &mut IncidentsConfig| {
            i.pagerduty = Some(PagerDutyConfig {
                events_url: pd_url,
                ..PagerDutyConfig::default()
            });
            i.webhooks = vec![WebhookConfig {
                name: "ops".into(),
                url: hook_url,
                secret_env: crate::support::fake_pager::WEBHOOK_SECRET_ENV.into(),
            }];
            i.email = Some(EmailConfig {
                smtp_host: "localhost".into(),
                smtp_port,
                starttls: StartTls::Required,
                from: "OpsMate <opsmate@example.com>".into(),
                username_env: Some(SMTP_USERNAME_ENV.into()),
                password_env: Some(SMTP_PASSWORD_ENV.into()),
                ca_file: Some(ca_file),
            });
            i.escalation = vec![
                EscalationLevel {
                    after: Duration::from_secs(600),
                    pagerduty: true,
                    webhooks: vec!["ops".into()],
                    email: vec![],
                },
                EscalationLevel {
                    after: Duration::from_secs(1800),
                    pagerduty: false,
                    webhooks: vec!["ops".into()],
                    email: vec!["oncall@example.com".into()],
                },
            ];
        });
    })
    .await;
    Paged {
        t,
        pager,
        hook,
        smtp,
        _ca: ca,
    }
}

impl Paged {
    fn running(&self) -> std::sync::Arc<opsmate::features::incidents::Incidents> {
        self.t.running()
    }

    /// Advances the clock by `secs`, escalates and delivers once.
    async fn after(&self, secs: i64) -> (usize, usize) {
        self.t.h.clock.advance(chrono::Duration::seconds(secs));
        let ctx = self.t.h.ctx();
        let reached = self.running().escalate_once(ctx).await.unwrap();
        let arrived = self.running().deliver_once(ctx).await.unwrap();
        (reached, arrived)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_ack_pagerduty_is_triggered_at_level_one_and_everything_resolves_on_recovery() {
    let p = paged().await;
    p.t.h.service.set(Mode::Failing);
    p.t.alert("api").await;
    assert_eq!(p.after(300).await, (0, 0), "five minutes is before level 1");
    assert_eq!(
        p.after(301).await,
        (1, 2),
        "level 1: PagerDuty and the webhook"
    );
    let events = p.pager.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_action"], "trigger");
    assert_eq!(events[0]["dedup_key"], "opsmate-incident-1");
    assert_eq!(events[0]["routing_key"], ROUTING_KEY);
    assert_eq!(events[0]["payload"]["severity"], "critical");
    assert_eq!(events[0]["payload"]["source"], "opsmate");
    assert!(
        events[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("api is critical")
    );
    let hooks = p.hook.verified();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["event"], "incident.escalated");
    assert_eq!(hooks[0]["level"], 1);
    assert_eq!(p.hook.forged(), 0);
    p.t.update_where("PagerDuty's page delivered", |t| {
        pd_line(t).ends_with(": delivered")
    })
    .await;

    assert_eq!(
        p.after(1200).await,
        (1, 2),
        "level 2 at 30 min: the webhook again, and email"
    );
    let mail = p.smtp.wait_for(1).await;
    assert!(mail[0].tls, "mail went over STARTTLS");
    assert_eq!(mail[0].user.as_deref(), Some(SMTP_USERNAME));
    assert_eq!(mail[0].to, vec!["oncall@example.com".to_owned()]);
    assert!(
        mail[0]
            .data
            .contains("Incident #1: api is critical (escalation level 2)"),
        "{}",
        mail[0].data
    );
    assert_eq!(p.t.audit("incident.escalated").len(), 2);
    // Nothing more once every level is reached.
    assert_eq!(p.after(3600).await, (0, 0));

    p.t.h.service.set(Mode::Healthy);
    p.t.h.check_after(60, "api").await;
    p.t.h.check_after(60, "api").await;
    assert_eq!(
        p.after(0).await.1,
        3,
        "PagerDuty's resolve, one webhook call and the resolved mail"
    );
    let mail = p.smtp.wait_for(2).await;
    assert!(
        mail[1]
            .data
            .contains("Resolved: incident #1 (api recovered)"),
        "{}",
        mail[1].data
    );
    assert_eq!(
        p.pager.actions(),
        vec![
            ("trigger".to_owned(), "opsmate-incident-1".to_owned()),
            ("resolve".to_owned(), "opsmate-incident-1".to_owned()),
        ]
    );
    let last = p.hook.verified().pop().unwrap();
    assert_eq!(last["event"], "incident.resolved");
    assert!(last["incident"]["resolved_at"].is_string(), "{last}");
    let resolved = p.t.update_saying("Resolved at PagerDuty").await;
    assert!(resolved.contains("recovered after"), "{resolved}");
    p.t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_stops_escalation_and_is_passed_on() {
    let p = paged().await;
    p.t.h.service.set(Mode::Failing);
    p.t.alert("api").await;
    assert_eq!(p.after(601).await, (1, 2));
    assert_eq!(p.t.press("UCAROL", 1, "👋 Ack", "ack").await, 200);
    p.t.update_saying("acked").await;
    assert_eq!(
        p.after(0).await,
        (0, 2),
        "the ack goes to PagerDuty and the webhook"
    );
    assert_eq!(p.pager.actions()[1].0, "acknowledge");
    assert_eq!(p.hook.verified()[1]["event"], "incident.acked");
    assert_eq!(p.after(3600).await, (0, 0), "no level 2 after an ack");
    assert_eq!(p.t.audit("incident.escalated").len(), 1);
    p.t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_before_the_first_level_means_nobody_is_paged() {
    let p = paged().await;
    p.t.h.service.set(Mode::Failing);
    p.t.alert("api").await;
    assert_eq!(p.t.press("UCAROL", 1, "👋 Ack", "ack").await, 200);
    p.t.update_saying("acked").await;
    assert_eq!(p.after(7200).await, (0, 0));
    assert!(p.pager.events().is_empty());
    assert!(p.hook.verified().is_empty());
    p.t.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pager_outage_delays_the_page_and_loses_nothing() {
    let p = paged().await;
    p.pager.fail_next(2);
    p.t.h.service.set(Mode::Failing);
    p.t.alert("api").await;
    assert_eq!(
        p.after(601).await,
        (1, 1),
        "the webhook arrives, PagerDuty does not"
    );
    let waiting = p.t.update_saying("not delivered yet, retrying").await;
    assert!(waiting.contains("500"), "the reason is shown: {waiting}");
    assert_eq!(p.after(1).await.1, 0, "the second attempt fails too");
    assert_eq!(p.after(1).await.1, 0, "backing off: not due yet");
    assert_eq!(p.after(1).await.1, 1, "the third attempt arrives");
    assert_eq!(p.pager.refused(), 2);
    assert_eq!(p.pager.actions().len(), 1, "delivered once");
    p.t.update_where("PagerDuty's page delivered", |t| {
        pd_line(t).ends_with(": delivered")
    })
    .await;
    p.t.h.stop().await;
}

/// The message's line about the level 1 page.
fn pd_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.contains("Escalated (level 1) to PagerDuty"))
        .unwrap_or_default()
}
