//! One set-up: moto with the seeded resources, the proxy in front of it, the fake
//! Slack and opsmate serve; and what the bench reads from them.

use super::server::{Server, SlackClient};
use super::{
    ADDRESSES, CHANNEL, DELETION_DEADLINE, REGION, REPORT_DEADLINE, SIGNING_SECRET, SNAPSHOT_TIME,
    SNAPSHOTS, USER, VOLUMES,
};
use crate::aws_proxy::AwsProxy;
use crate::common::moto::{ACCESS_KEY, Moto, SECRET_KEY, create_volume, ec2_client};
use crate::fake_slack::{self, Call, FakeSlack};
use crate::slack_requests::Click;
use anyhow::{Context, bail};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::DomainType;
use opsmate::cloud::ec2::describe_error;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// What the bench seeded in moto.
pub struct Seeded {
    pub volumes: Vec<String>,
    /// Allocation id and public IP of each Elastic IP.
    pub addresses: Vec<(String, String)>,
    pub snapshots: Vec<String>,
}

impl Seeded {
    /// Every listed resource by the ids its report line may show, to its main id.
    /// The public IPs come last: one may be a prefix of another.
    fn ids(&self) -> Vec<(&str, &str)> {
        let volumes = self.volumes.iter().map(|v| (v.as_str(), v.as_str()));
        let snapshots = self.snapshots.iter().map(|s| (s.as_str(), s.as_str()));
        let allocations = self.addresses.iter().map(|(a, _)| (a.as_str(), a.as_str()));
        let ips = self
            .addresses
            .iter()
            .map(|(a, ip)| (ip.as_str(), a.as_str()));
        volumes
            .chain(snapshots)
            .chain(allocations)
            .chain(ips)
            .collect()
    }

    fn listed(&self) -> usize {
        self.volumes.len() + self.addresses.len() + self.snapshots.len()
    }
}

/// A button of the report: the proposal it decides and the message it is on.
#[derive(Clone, Debug)]
pub struct Button {
    pub approval: String,
    pub ts: String,
}

/// The proposal ids of the posted report.
pub struct Report {
    pub bulk: Button,
    /// Main resource id → its own proposal.
    pub items: HashMap<String, Button>,
}

/// Everything one run needs, on its own moto, proxy, fake Slack and database.
pub struct Rig {
    // Declared first so it is dropped first: opsmate stops before moto does.
    pub server: Server,
    pub slack_client: SlackClient,
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    pub proxy: AwsProxy,
    pub slack: FakeSlack,
    /// Straight to moto, for checking.
    ec2: Client,
    pub seeded: Seeded,
    _moto: Moto,
}

impl Rig {
    /// moto with the seeded resources, the proxy keeping new snapshots pending, the
    /// fake Slack, and opsmate serve on a fresh database.
    pub fn start(binary: &Path, rt: &Runtime) -> anyhow::Result<Self> {
        let moto = Moto::start(binary)?;
        let (proxy, slack, ec2, seeded) = rt.block_on(async {
            let proxy = AwsProxy::start(&moto.endpoint).await;
            let slack = FakeSlack::start(vec![]).await;
            let ec2 = ec2_client(&moto.endpoint, REGION).await;
            let seeded = seed(&ec2).await?;
            anyhow::Ok((proxy, slack, ec2, seeded))
        })?;
        proxy.pend_new_snapshots(SNAPSHOT_TIME);
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let config = dir.path().join("opsmate.toml");
        std::fs::write(&config, config_toml(&proxy.endpoint, &slack.api_url()))
            .context("writing the configuration")?;
        let env = vec![
            ("OPSMATE_CONFIG", config.display().to_string()),
            ("SLACK_BOT_TOKEN", "xoxb-bench".to_owned()),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ];
        let server = Server::launch(dir.path(), &env)?;
        let slack_client = SlackClient::new(server.port)?;
        Ok(Self {
            server,
            slack_client,
            dir,
            env,
            proxy,
            slack,
            ec2,
            seeded,
            _moto: moto,
        })
    }

    /// `kill -9`, then a new process on the same database.
    pub fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        self.server.kill9();
        self.server = Server::launch(self.dir.path(), &self.env)?;
        self.slack_client = SlackClient::new(self.server.port)?;
        Ok(())
    }

    /// The end of opsmate's log, for an error message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("opsmate.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        if lines.is_empty() {
            return String::new();
        }
        let tail = &lines[lines.len().saturating_sub(30)..];
        format!("\nopsmate's log (last lines):\n    {}", tail.join("\n    "))
    }

    /// `/opsmate zombies`, then the proposal ids from the report's buttons.
    pub fn scan(&self, rt: &Runtime) -> anyhow::Result<Report> {
        let ack = rt.block_on(
            self.slack_client
                .command("zombies", &self.slack.response_url("zombies")),
        )?;
        if ack.status != 200 {
            bail!(
                "/opsmate zombies answered {}: {}{}",
                ack.status,
                ack.body,
                self.log_tail()
            );
        }
        let deadline = Instant::now() + REPORT_DEADLINE;
        loop {
            let (bulk, items) = read_report(&self.slack.calls_to("chat.postMessage"), &self.seeded);
            if let Some(bulk) = &bulk
                && items.len() == self.seeded.listed()
            {
                return Ok(Report {
                    bulk: bulk.clone(),
                    items,
                });
            }
            if Instant::now() > deadline {
                let answer = self
                    .slack
                    .calls_to("response_url:zombies")
                    .first()
                    .map(|c| c.body.to_string())
                    .unwrap_or_else(|| "none".into());
                bail!(
                    "within {} s the report listed {} of the {} seeded resources (Delete all: {}); \
                     the answer to /opsmate zombies: {answer}{}",
                    REPORT_DEADLINE.as_secs(),
                    items.len(),
                    self.seeded.listed(),
                    if bulk.is_some() { "yes" } else { "no" },
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks Delete all on the report; returns when the click was sent.
    pub fn delete_all(&self, rt: &Runtime, report: &Report) -> anyhow::Result<Instant> {
        let action_id = format!("approve:{}", report.bulk.approval);
        let response_url = self.slack.response_url("delete-all");
        let click = Click {
            user: USER,
            channel: CHANNEL,
            action_id: &action_id,
            value: &report.bulk.approval,
            ts: &report.bulk.ts,
            ephemeral: false,
            response_url: &response_url,
        };
        let clicked = Instant::now();
        let ack = rt.block_on(self.slack_client.click(&click))?;
        if ack.status != 200 {
            bail!("the Delete all click answered {}: {}", ack.status, ack.body);
        }
        Ok(clicked)
    }

    /// Waits until every seeded volume is gone in moto, at most until
    /// [`DELETION_DEADLINE`] after the click.
    pub fn wait_deleted(&self, rt: &Runtime, clicked: Instant) -> anyhow::Result<Deletion> {
        let deadline = clicked + DELETION_DEADLINE;
        loop {
            let left = rt.block_on(volumes_left(&self.ec2, &self.seeded.volumes))?;
            let now = Instant::now();
            if left == 0 || now > deadline {
                let done = (left == 0).then(|| self.last_delete().unwrap_or(now));
                return Ok(Deletion {
                    wall: done.map(|at| at.saturating_duration_since(clicked)),
                    left,
                    snapshots: self.proxy.snapshots_created(),
                    describe_snapshots: self.proxy.calls_to("DescribeSnapshots").len(),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// When the last seeded volume's DeleteVolume was answered, if every one was.
    fn last_delete(&self) -> Option<Instant> {
        let mut last: HashMap<String, Instant> = HashMap::new();
        for call in self.proxy.calls_to("DeleteVolume") {
            if call.status == 200
                && let Some(volume) = call.param("VolumeId")
                && self.seeded.volumes.iter().any(|v| v == volume)
            {
                last.insert(volume.to_owned(), call.finished);
            }
        }
        (last.len() == self.seeded.volumes.len())
            .then(|| last.into_values().max())
            .flatten()
    }

    /// Seeded volumes whose DeleteVolume succeeded so far.
    pub fn volumes_deleted(&self) -> usize {
        self.proxy
            .calls_to("DeleteVolume")
            .iter()
            .filter(|c| c.status == 200)
            .filter_map(|c| c.param("VolumeId"))
            .filter(|v| self.seeded.volumes.iter().any(|s| s == v))
            .collect::<HashSet<_>>()
            .len()
    }
}

/// The configuration file: everything but the database, the port and the secrets,
/// which come from the environment.
fn config_toml(aws_endpoint: &str, slack_api: &str) -> String {
    format!(
        r#"[aws]
regions = ["{REGION}"]
endpoint_url = "{aws_endpoint}"

[hunter]
# moto's volumes are new and never seen before; its snapshots are brand new.
volume_min_idle_days = 0
snapshot_min_age_days = 0
snapshot_before_delete = true
# Only the bench asks for reports (1 January, midnight).
schedule = "0 0 1 1 *"
slack_channel = "{CHANNEL}"

[approvals.delete_volume]
slack_users = ["{USER}"]

[approvals.delete_snapshot]
slack_users = ["{USER}"]

[approvals.release_address]
slack_users = ["{USER}"]

[slack]
mode = "http"
api_url = "{slack_api}"
"#
    )
}

/// The idle resources, straight into moto: volumes, Elastic IPs, and snapshots of a
/// volume deleted afterwards (so only the seeded volumes are idle).
async fn seed(ec2: &Client) -> anyhow::Result<Seeded> {
    let mut volumes = Vec::with_capacity(VOLUMES);
    for _ in 0..VOLUMES {
        volumes.push(create_volume(ec2, REGION).await?);
    }
    let mut addresses = Vec::with_capacity(ADDRESSES);
    for _ in 0..ADDRESSES {
        let out = ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("AllocateAddress: {}", describe_error(&e)))?;
        let allocation = out.allocation_id().context("no allocation id")?;
        let ip = out.public_ip().context("no public IP")?;
        addresses.push((allocation.to_owned(), ip.to_owned()));
    }
    let source = create_volume(ec2, REGION).await?;
    let mut snapshots = Vec::with_capacity(SNAPSHOTS);
    for _ in 0..SNAPSHOTS {
        let out = ec2
            .create_snapshot()
            .volume_id(&source)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("CreateSnapshot of {source}: {}", describe_error(&e)))?;
        snapshots.push(out.snapshot_id().context("no snapshot id")?.to_owned());
    }
    ec2.delete_volume()
        .volume_id(&source)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DeleteVolume {source}: {}", describe_error(&e)))?;
    Ok(Seeded {
        volumes,
        addresses,
        snapshots,
    })
}

/// The report's buttons in the messages posted so far: the Delete all, and each
/// resource's Delete by the resource named on the line above it. The fake gives
/// the `n`-th posted message the ts [`fake_slack::message_ts`]`(n)`.
fn read_report(posts: &[Call], seeded: &Seeded) -> (Option<Button>, HashMap<String, Button>) {
    let ids = seeded.ids();
    let mut bulk = None;
    let mut items = HashMap::new();
    for (n, post) in (1u64..).zip(posts) {
        let Some(blocks) = post.body["blocks"].as_array() else {
            continue;
        };
        for (i, block) in blocks.iter().enumerate() {
            if block["type"] != "actions" {
                continue;
            }
            let above = i
                .checked_sub(1)
                .and_then(|j| blocks[j]["text"]["text"].as_str())
                .unwrap_or_default();
            for element in block["elements"].as_array().into_iter().flatten() {
                let Some(approval) = element["action_id"]
                    .as_str()
                    .and_then(|a| a.strip_prefix("approve:"))
                else {
                    continue;
                };
                let button = Button {
                    approval: approval.to_owned(),
                    ts: fake_slack::message_ts(n),
                };
                let label = element["text"]["text"].as_str().unwrap_or_default();
                if label.starts_with("Delete all") {
                    bulk = Some(button);
                } else if let Some((_, id)) = ids.iter().find(|(shown, _)| above.contains(shown)) {
                    items.insert((*id).to_owned(), button);
                }
            }
        }
    }
    (bulk, items)
}

/// How many of `volumes` moto still has.
async fn volumes_left(ec2: &Client, volumes: &[String]) -> anyhow::Result<usize> {
    let out = ec2
        .describe_volumes()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeVolumes: {}", describe_error(&e)))?;
    let present: HashSet<&str> = out.volumes().iter().filter_map(|v| v.volume_id()).collect();
    Ok(volumes
        .iter()
        .filter(|v| present.contains(v.as_str()))
        .count())
}

/// How the deletion went.
pub struct Deletion {
    /// From the click until the last volume was deleted; `None` if not all were
    /// within [`DELETION_DEADLINE`].
    pub wall: Option<Duration>,
    /// Volumes still there at the end.
    pub left: usize,
    /// Every CreateSnapshot through the proxy: (volume, snapshot).
    pub snapshots: Vec<(String, String)>,
    /// DescribeSnapshots calls through the proxy, the scan's included.
    pub describe_snapshots: usize,
}
