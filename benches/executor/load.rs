//! The load: commands and clicks while the deletion waits for its snapshots.

use super::rig::{Report, Rig};
use super::server::{Ack, SlackClient};
use super::{ANSWER_DEADLINE, CHANNEL, CLICKS, HELPS, IN_FLIGHT, USER};
use crate::fake_slack::{Call, FakeSlack};
use crate::slack_requests::Click;
use opsmate::chat::slack::intake::BUSY_TEXT;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// What a request of the load is.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Help,
    Click,
}

/// One request of the load and what became of it.
struct Request {
    kind: Kind,
    /// Its `response_url` is `/response/<name>`.
    name: String,
    sent: Instant,
    ack: Result<Ack, String>,
}

/// What a request got, and how long it took.
pub enum Outcome {
    /// The answer reached the fake Slack through the request's `response_url`.
    Answered(Duration),
    /// Answered "busy" at once in the HTTP response.
    Busy(Duration),
    /// No acknowledgement, or not a 200.
    Failed(String),
    /// Acknowledged, but no answer within [`ANSWER_DEADLINE`].
    Unanswered,
}

impl Outcome {
    pub fn latency(&self) -> Option<Duration> {
        match self {
            Outcome::Answered(d) | Outcome::Busy(d) => Some(*d),
            Outcome::Failed(_) | Outcome::Unanswered => None,
        }
    }
}

/// One request's kind and what became of it.
pub struct Measured {
    pub kind: Kind,
    pub outcome: Outcome,
    /// From sending it to OpsMate's HTTP answer, if there was one.
    pub acked: Option<Duration>,
}

/// The load's results.
pub struct Load {
    /// In sending order.
    pub requests: Vec<Measured>,
    /// From the first request sent to the last answer.
    pub span: Duration,
}

/// Sends the load: `HELPS` `/opsmate help` and `CLICKS` Reject clicks spread evenly
/// among them, `IN_FLIGHT` at a time; the clicks go round `targets`.
async fn send_load(client: &SlackClient, slack: &FakeSlack, targets: &[String]) -> Vec<Request> {
    let total = HELPS + CLICKS;
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut running = JoinSet::new();
    let mut clicks = 0;
    for i in 0..total {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        // The i-th request is a click when it crosses the next multiple of total/CLICKS.
        let is_click = (i + 1) * CLICKS / total > i * CLICKS / total;
        let client = client.clone();
        let (name, target) = if is_click {
            clicks += 1;
            let target = targets[(clicks - 1) % targets.len()].clone();
            (format!("click-{clicks}"), Some(target))
        } else {
            (format!("help-{}", i + 1 - clicks), None)
        };
        let response_url = slack.response_url(&name);
        running.spawn(async move {
            let sent = Instant::now();
            let ack = match &target {
                None => client.command("help", &response_url).await,
                Some(approval) => {
                    let action_id = format!("reject:{approval}");
                    let ts = format!("1700009999.{:06}", i + 1);
                    let click = Click {
                        user: USER,
                        channel: CHANNEL,
                        action_id: &action_id,
                        value: approval,
                        ts: &ts,
                        ephemeral: true,
                        response_url: &response_url,
                    };
                    client.click(&click).await
                }
            };
            drop(permit);
            Request {
                kind: if target.is_some() {
                    Kind::Click
                } else {
                    Kind::Help
                },
                name,
                sent,
                ack: ack.map_err(|e| format!("{e:#}")),
            }
        });
    }
    let mut requests = Vec::with_capacity(total);
    while let Some(done) = running.join_next().await {
        if let Ok(request) = done {
            requests.push(request);
        }
    }
    requests.sort_by_key(|r| r.sent);
    requests
}

/// The first time each `response_url` was posted to.
fn answers(calls: &[Call]) -> HashMap<&str, Instant> {
    let mut first: HashMap<&str, Instant> = HashMap::new();
    for call in calls {
        if let Some(name) = call.method.strip_prefix("response_url:") {
            first
                .entry(name)
                .and_modify(|at| *at = (*at).min(call.at))
                .or_insert(call.at);
        }
    }
    first
}

/// Sends the load and waits for its answers.
pub fn run_load(rig: &Rig, rt: &Runtime, report: &Report) -> Load {
    let mut targets: Vec<String> = rig
        .seeded
        .addresses
        .iter()
        .map(|(allocation, _)| allocation)
        .chain(&rig.seeded.snapshots)
        .filter_map(|id| report.items.get(id))
        .map(|b| b.approval.clone())
        .collect();
    targets.push(report.bulk.approval.clone());
    let requests = rt.block_on(send_load(&rig.slack_client, &rig.slack, &targets));
    let first_sent = requests.first().map_or_else(Instant::now, |r| r.sent);

    let waiting = |r: &Request| matches!(&r.ack, Ok(ack) if ack.status == 200 && !ack.body.contains(BUSY_TEXT));
    let deadline = Instant::now() + ANSWER_DEADLINE;
    let calls = loop {
        let calls = rig.slack.calls();
        let all = {
            let answered = answers(&calls);
            requests
                .iter()
                .filter(|r| waiting(r))
                .all(|r| answered.contains_key(r.name.as_str()))
        };
        if all || Instant::now() > deadline {
            break calls;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let answered = answers(&calls);
    let mut last = first_sent;
    let outcomes = requests
        .iter()
        .map(|r| {
            let outcome = match &r.ack {
                Err(e) => Outcome::Failed(e.clone()),
                Ok(ack) if ack.status != 200 => {
                    Outcome::Failed(format!("HTTP {}: {}", ack.status, ack.body))
                }
                Ok(ack) if ack.body.contains(BUSY_TEXT) => {
                    Outcome::Busy(ack.at.saturating_duration_since(r.sent))
                }
                Ok(_) => match answered.get(r.name.as_str()) {
                    Some(at) => {
                        last = last.max(*at);
                        Outcome::Answered(at.saturating_duration_since(r.sent))
                    }
                    None => Outcome::Unanswered,
                },
            };
            Measured {
                kind: r.kind,
                outcome,
                acked: r
                    .ack
                    .as_ref()
                    .ok()
                    .map(|a| a.at.saturating_duration_since(r.sent)),
            }
        })
        .collect();
    Load {
        requests: outcomes,
        span: last.saturating_duration_since(first_sent),
    }
}
