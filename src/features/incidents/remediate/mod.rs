//! Running a remediation once the gate approved it.
//!
//! 1. Just before, the check runs once more: if it passes now, nothing runs and the
//!    incident says so (the gate's re-check).
//! 2. The remediation runs (a program, an HTTP request, `systemctl restart`, an EC2
//!    reboot). Its whole output goes to the audit row; the end of it to chat.
//! 3. `verify_after` later the check runs again, and the incident says whether it
//!    recovered. The wait is a stored step, so no worker is held and a restart
//!    carries on with the check.
//!
//! A run cut off by a crash is never repeated blindly: the step recorded before it
//! started says it may have run, and the report says so.

pub mod command;
pub mod http;

use super::Incidents;
use super::config::{Remediation, RemediationKind};
use super::open::incident_subject;
use crate::approvals::{
    ActionHandler, ActionReport, ActionRun, BoxFuture, Done, Precheck, Progress, Proposal,
};
use crate::audit::{self, Audit};
use crate::clock::SharedClock;
use crate::cloud::Aws;
use crate::cloud::ids::InstanceId;
use crate::config::KindPolicy;
use crate::features::observatory::probes::Probes;
use crate::features::observatory::status::{Outcome as CheckOutcome, Status};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How much of a run's output chat shows.
pub const CHAT_TAIL: usize = 4096;

/// What a `remediate` proposal carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediateParams {
    pub incident: i64,
    pub check: String,
    /// The remediation or runbook pressed.
    pub remediation: String,
    /// The remediations it runs, in order (one, unless it is a runbook).
    #[serde(default)]
    pub steps: Vec<String>,
    /// The remediation's own approvers, when it names them (read by the gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<KindPolicy>,
}

impl RemediateParams {
    fn steps(&self) -> Vec<String> {
        if self.steps.is_empty() {
            vec![self.remediation.clone()]
        } else {
            self.steps.clone()
        }
    }
}

/// The proposal's target: one remediation of one incident, so a second press while
/// one is open finds the same proposal.
pub fn target(incident: i64, remediation: &str) -> String {
    format!("{}:{remediation}", incident_subject(incident))
}

/// How one remediation went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ran {
    pub ok: bool,
    /// "exit 0", "HTTP 202", "rebooted i-1, i-2", "killed after 30s (its time limit)".
    pub result: String,
    /// The end of its output.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
    pub took_ms: u64,
}

/// One step of the plan as it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub remediation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran: Option<Ran>,
    /// Cut off by a restart while running: it may or may not have finished, and is
    /// not run again.
    #[serde(default)]
    pub interrupted: bool,
    /// Dry run: what it would have done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would: Option<String>,
}

/// The check after the remediation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    pub recovered: bool,
    pub status: String,
    pub message: String,
    pub after_ms: u64,
}

/// A remediation's (or runbook's) report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediationReport {
    pub remediation: String,
    pub check: String,
    pub steps: Vec<StepReport>,
    /// Steps never reached because one before failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Verified>,
}

impl StepReport {
    fn lines(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(would) = &self.would {
            out.push(format!("{prefix}dry run: would {would}"));
        }
        if self.interrupted {
            out.push(format!(
                "{prefix}OpsMate restarted while it ran: it may or may not have finished, and was not run again"
            ));
        }
        if let Some(ran) = &self.ran {
            out.push(format!(
                "{prefix}{} {} ({} ms)",
                if ran.ok { "ran:" } else { "failed:" },
                ran.result,
                ran.took_ms
            ));
            if !ran.output.trim().is_empty() {
                out.push(format!("{prefix}output: {}", ran.output.trim_end()));
            }
        }
        out
    }
}

impl ActionReport for RemediationReport {
    fn summary(&self) -> Vec<String> {
        let runbook = self.steps.len() > 1 || !self.not_run.is_empty();
        let mut out = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let prefix = if runbook {
                format!("step {} {}: ", i + 1, step.remediation)
            } else {
                String::new()
            };
            out.extend(step.lines(&prefix));
        }
        if !self.not_run.is_empty() {
            out.push(format!("not run: {}", self.not_run.join(", ")));
        }
        if let Some(v) = &self.verified {
            out.push(if v.recovered {
                format!("{} recovered: {}", self.check, v.message)
            } else {
                format!("{} is still {}: {}", self.check, v.status, v.message)
            });
        }
        out
    }

    fn failed(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.interrupted || s.ran.as_ref().is_some_and(|r| !r.ok))
            .count()
    }
}

/// Step keys: each remediation's start and result, and when the check is due again.
fn started_key(i: usize) -> String {
    format!("step:{i:02}:started")
}
fn ran_key(i: usize) -> String {
    format!("step:{i:02}:ran")
}
const VERIFY_DUE: &str = "verify_due";

/// The `remediate` handler.
pub struct Remediator {
    pub incidents: Arc<Incidents>,
    pub probes: Probes,
    pub aws: Aws,
    pub audit: Audit,
    pub clock: SharedClock,
    pub http: reqwest::Client,
    pub secrets: crate::config::Secrets,
}

impl Remediator {
    fn remediation(&self, name: &str) -> anyhow::Result<&Remediation> {
        self.incidents
            .settings
            .remediation(name)
            .ok_or_else(|| anyhow::anyhow!("no remediation named {name} is configured any more"))
    }

    /// Runs the check once, outside its timer (nothing is recorded).
    async fn probe(&self, check: &str) -> anyhow::Result<CheckOutcome> {
        let config = self
            .incidents
            .check(check)
            .ok_or_else(|| anyhow::anyhow!("no check named {check} is configured any more"))?;
        Ok(self.probes.run(config).await)
    }

    /// Runs the remediation itself. Returns how it went and its whole output.
    async fn run(&self, r: &Remediation) -> anyhow::Result<(Ran, String)> {
        match r.kind {
            RemediationKind::Command => {
                self.run_program(r, &r.argv, r.working_dir.as_deref(), &r.env)
                    .await
            }
            RemediationKind::SystemdRestart => {
                let unit = r.unit.clone().unwrap_or_default();
                let argv = vec![
                    self.incidents.settings.systemctl.display().to_string(),
                    "restart".into(),
                    unit,
                ];
                self.run_program(r, &argv, None, &["PATH".to_owned()]).await
            }
            RemediationKind::Http => {
                let run = http::run(&self.http, r, &self.secrets).await?;
                let body = run.body.clone();
                Ok((
                    Ran {
                        ok: run.ok,
                        result: format!("HTTP {}", run.status),
                        output: command::tail(&run.body, CHAT_TAIL).to_owned(),
                        took_ms: run.took.as_millis() as u64,
                    },
                    body,
                ))
            }
            RemediationKind::Ec2Reboot => self.reboot(r).await,
        }
    }

    async fn run_program(
        &self,
        r: &Remediation,
        argv: &[String],
        dir: Option<&std::path::Path>,
        env: &[String],
    ) -> anyhow::Result<(Ran, String)> {
        let run = command::run(argv, dir, env, r.timeout()).await?;
        let mut all = run.stdout.clone();
        if !run.stderr.is_empty() {
            all.push_str("\n[stderr]\n");
            all.push_str(&run.stderr);
        }
        Ok((
            Ran {
                ok: run.ok(),
                result: run.describe(r.timeout()),
                output: command::tail(&all, CHAT_TAIL).to_owned(),
                took_ms: run.took.as_millis() as u64,
            },
            all,
        ))
    }

    async fn reboot(&self, r: &Remediation) -> anyhow::Result<(Ran, String)> {
        let region = r
            .region
            .clone()
            .or_else(|| self.aws.regions().first().cloned())
            .ok_or_else(|| anyhow::anyhow!("no AWS region is configured"))?;
        let client = self.aws.ec2(&region);
        let started = std::time::Instant::now();
        let ids: Vec<InstanceId> = if r.tags.is_empty() {
            r.instance_ids
                .iter()
                .map(|id| InstanceId::parse(id))
                .collect::<Result<_, _>>()?
        } else {
            crate::cloud::instances::with_tags(&client, &r.tags, "running")
                .await?
                .into_iter()
                .map(|i| i.id)
                .collect()
        };
        if ids.is_empty() {
            return Ok((
                Ran {
                    ok: false,
                    result: format!("no running instance matches in {region}"),
                    output: String::new(),
                    took_ms: started.elapsed().as_millis() as u64,
                },
                String::new(),
            ));
        }
        crate::cloud::instances::reboot(&client, &ids).await?;
        let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
        Ok((
            Ran {
                ok: true,
                result: format!("rebooted {} in {region}", list.join(", ")),
                output: String::new(),
                took_ms: started.elapsed().as_millis() as u64,
            },
            String::new(),
        ))
    }

    /// Runs step `i`, recording that it started first and how it went after, with
    /// its whole output in the audit row.
    async fn run_step(
        &self,
        proposal: &Proposal,
        p: &RemediateParams,
        i: usize,
        r: &Remediation,
        run: &ActionRun<'_>,
    ) -> anyhow::Result<Ran> {
        let now = self.clock.now();
        run.steps
            .put(&started_key(i), &crate::clock::to_millis(now), now)
            .await?;
        let (ran, output) = match self.run(r).await {
            Ok(done) => done,
            // The whole error goes to the audit row; chat gets its first 300 characters.
            Err(e) => (
                Ran {
                    ok: false,
                    result: format!("{e:#}").chars().take(300).collect(),
                    output: String::new(),
                    took_ms: 0,
                },
                format!("{e:#}"),
            ),
        };
        self.audit
            .record(
                "incidents",
                audit::events::INCIDENT_REMEDIATION_RAN,
                incident_subject(p.incident),
                json!({"proposal": proposal.id, "remediation": p.remediation, "step": i + 1,
                       "step_remediation": r.name, "kind": r.kind.as_str(),
                       "ok": ran.ok, "result": ran.result, "took_ms": ran.took_ms, "output": output}),
            )
            .await?;
        run.steps.put(&ran_key(i), &ran, self.clock.now()).await?;
        Ok(ran)
    }

    /// Runs the check again after the remediation, and audits what it found.
    async fn verify(&self, proposal: &Proposal, p: &RemediateParams) -> anyhow::Result<Verified> {
        let outcome = self.probe(&p.check).await?;
        let verified = Verified {
            recovered: outcome.status == Status::Ok,
            status: outcome.status.as_str().to_owned(),
            message: outcome.message.clone(),
            after_ms: self.verify_after(p).as_millis() as u64,
        };
        self.audit
            .record(
                "incidents",
                audit::events::INCIDENT_REMEDIATION_VERIFIED,
                incident_subject(p.incident),
                json!({"proposal": proposal.id, "remediation": p.remediation, "check": p.check,
                       "recovered": verified.recovered, "status": verified.status, "message": verified.message}),
            )
            .await?;
        Ok(verified)
    }

    fn verify_after(&self, p: &RemediateParams) -> Duration {
        self.incidents
            .settings
            .plan(&p.remediation)
            .map_or(self.incidents.settings.verify_after, |plan| {
                plan.verify_after
            })
    }
}

/// What a dry run says it would do.
fn would(r: &Remediation, systemctl: &std::path::Path) -> String {
    match r.kind {
        RemediationKind::Command => format!("run {:?}", r.argv),
        RemediationKind::SystemdRestart => format!(
            "run {} restart {}",
            systemctl.display(),
            r.unit.as_deref().unwrap_or_default()
        ),
        RemediationKind::Http => format!(
            "send {} {}",
            r.method.as_deref().unwrap_or("POST"),
            r.url.as_deref().unwrap_or_default()
        ),
        RemediationKind::Ec2Reboot if r.tags.is_empty() => {
            format!("reboot {}", r.instance_ids.join(", "))
        }
        RemediationKind::Ec2Reboot => format!("reboot the running instances tagged {:?}", r.tags),
    }
}

impl ActionHandler for Remediator {
    fn recheck<'a>(&'a self, proposal: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async move {
            let p: RemediateParams = proposal.params_as()?;
            let now = self.probe(&p.check).await?;
            Ok(if now.status == Status::Ok {
                Precheck::NoLongerQualifies(format!(
                    "{} passes now ({}): {} was not run",
                    p.check, now.message, p.remediation
                ))
            } else {
                Precheck::Qualifies
            })
        })
    }

    fn execute<'a>(
        &'a self,
        proposal: &'a Proposal,
        run: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>> {
        Box::pin(async move {
            let p: RemediateParams = proposal.params_as()?;
            let names = p.steps();
            let mut report = RemediationReport {
                remediation: p.remediation.clone(),
                check: p.check.clone(),
                steps: Vec::new(),
                not_run: Vec::new(),
                verified: None,
            };
            let mut looked_again = run.rechecked;
            for (i, name) in names.iter().enumerate() {
                let mut step = StepReport {
                    remediation: name.clone(),
                    ran: None,
                    interrupted: false,
                    would: None,
                };
                if let Some(ran) = run.steps.get::<Ran>(&ran_key(i)).await? {
                    step.ran = Some(ran);
                } else if run.steps.get::<i64>(&started_key(i)).await?.is_some() {
                    // Cut off mid-run: never repeated blindly; the runbook goes on.
                    step.interrupted = true;
                } else {
                    let r = self.remediation(name)?;
                    if run.dry_run {
                        step.would = Some(would(r, &self.incidents.settings.systemctl));
                    } else {
                        if !looked_again {
                            // Resumed: look at the check again before the next step.
                            if let Precheck::NoLongerQualifies(why) = self.recheck(proposal).await?
                            {
                                return Ok(Progress::Skipped(why));
                            }
                            looked_again = true;
                        }
                        step.ran = Some(self.run_step(proposal, &p, i, r, run).await?);
                    }
                }
                let failed = step.ran.as_ref().is_some_and(|r| !r.ok);
                report.steps.push(step);
                if failed {
                    report.not_run = names[i + 1..].to_vec();
                    return Ok(Progress::Done(Done::of(&report)?));
                }
            }
            if run.dry_run {
                return Ok(Progress::Done(Done::of(&report)?));
            }
            let now = self.clock.now();
            let due = match run.steps.get::<i64>(VERIFY_DUE).await? {
                Some(due) => crate::clock::from_millis(due),
                None => {
                    let due = now + chrono::Duration::from_std(self.verify_after(&p))?;
                    run.steps
                        .put(VERIFY_DUE, &crate::clock::to_millis(due), now)
                        .await?;
                    return Ok(Progress::Wait {
                        after: self.verify_after(&p),
                        changed: true,
                    });
                }
            };
            if due > now {
                return Ok(Progress::Wait {
                    after: (due - now).to_std().unwrap_or_default(),
                    changed: false,
                });
            }
            report.verified = Some(self.verify(proposal, &p).await?);
            Ok(Progress::Done(Done::of(&report)?))
        })
    }

    fn resumable(&self) -> bool {
        true
    }

    /// One remediation per check at a time.
    fn locks(&self, proposal: &Proposal) -> Vec<String> {
        match proposal.params_as::<RemediateParams>() {
            Ok(p) => vec![format!("check:{}", p.check)],
            Err(_) => vec![proposal.target.clone()],
        }
    }
}

/// The remediations asked for on an incident, newest last, as the message shows them.
pub async fn fixes_of(
    ctx: &crate::dispatch::Context,
    incident: i64,
) -> anyhow::Result<Vec<super::message::Fix>> {
    let prefix = format!("{}:", incident_subject(incident));
    let mut proposals: Vec<Proposal> = ctx
        .gate
        .latest_by_target(crate::domain::ActionKind::REMEDIATE)
        .await?
        .into_values()
        .filter(|p| p.target.starts_with(&prefix))
        .collect();
    proposals.sort_by_key(|p| p.created_at);
    let mut out = Vec::new();
    for p in proposals {
        let name = p
            .params_as::<RemediateParams>()
            .map(|r| r.remediation)
            .unwrap_or_else(|_| p.target.clone());
        let mut lines = match &p.outcome {
            Some(o) => {
                let mut l = o.summary_lines();
                l.extend(o.skipped.clone());
                if let Some(e) = &o.error
                    && l.is_empty()
                {
                    l.push(e.clone());
                }
                l
            }
            None => Vec::new(),
        };
        if p.outcome.is_none() {
            lines.extend(progress_lines(ctx, &p).await?);
        }
        out.push(super::message::Fix {
            remediation: name,
            state: p.state,
            decided_by: p.decided_by.clone(),
            lines,
        });
    }
    Ok(out)
}

/// Where a running remediation is: the steps that ran so far.
async fn progress_lines(
    ctx: &crate::dispatch::Context,
    p: &Proposal,
) -> anyhow::Result<Vec<String>> {
    let Ok(params) = p.params_as::<RemediateParams>() else {
        return Ok(Vec::new());
    };
    let steps = crate::approvals::Steps::new(ctx.store.clone(), p.id.clone());
    let names = params.steps();
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let Some(ran) = steps.get::<Ran>(&ran_key(i)).await? else {
            continue;
        };
        let what = if names.len() > 1 {
            format!("step {} {name}: ", i + 1)
        } else {
            String::new()
        };
        out.push(format!(
            "{what}{} {}",
            if ran.ok { "ran:" } else { "failed:" },
            ran.result
        ));
    }
    if steps.get::<i64>(VERIFY_DUE).await?.is_some() {
        out.push(format!("checking {} again shortly", params.check));
    }
    Ok(out)
}
