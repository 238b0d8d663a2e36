//! Configuration: one TOML file, read once into typed structs.
//!
//! Every struct denies unknown fields, so a typo is an error that names the key and
//! its line, not a silently ignored setting. Secrets never live in the file; they come
//! from the environment (see [`secrets`]). Any key can also be set from the
//! environment as `OPSMATE_<SECTION>__<KEY>` (see [`load`]).

pub mod load;
pub mod secrets;
pub mod section;

pub use load::{ConfigError, ConfigSource, Loaded, load};
pub use secrets::{Secret, Secrets};
pub use section::{Section, SectionSpec, Sections};

use crate::domain::{ActionKind, SlackGroupId, SlackUserId, TelegramUserId};
use crate::events::JobKind;
use crate::scheduler::{CronError, CronSchedule};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration. Absent sections take their defaults.
///
/// Unknown keys are still refused: every top-level key that is not one of these
/// lands in `sections`, and [`Config::validate`] (and the loader, with the line)
/// refuses any that no feature owns.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Config {
    /// IANA time zone for schedules and day boundaries, e.g. `Europe/Berlin`.
    pub timezone: Tz,
    /// When true, every action says what it would do and changes nothing.
    pub dry_run: bool,
    pub storage: StorageConfig,
    pub http: HttpConfig,
    pub aws: AwsConfig,
    pub scheduler: SchedulerConfig,
    pub approvals: ApprovalsConfig,
    pub outbox: OutboxConfig,
    pub shutdown: ShutdownConfig,
    pub slack: SlackConfig,
    pub telegram: TelegramConfig,
    pub github: GithubConfig,
    pub linear: LinearConfig,
    pub api: ApiConfig,
    pub web: WebConfig,
    pub standby: StandbyConfig,
    /// The features' sections (`[hunter]`, `[watchman]`, …), each checked against
    /// its feature's type; an absent section means the feature is off.
    #[serde(flatten)]
    pub sections: Sections,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timezone: Tz::UTC,
            dry_run: false,
            storage: StorageConfig::default(),
            http: HttpConfig::default(),
            aws: AwsConfig::default(),
            scheduler: SchedulerConfig::default(),
            approvals: ApprovalsConfig::default(),
            outbox: OutboxConfig::default(),
            shutdown: ShutdownConfig::default(),
            slack: SlackConfig::default(),
            telegram: TelegramConfig::default(),
            github: GithubConfig::default(),
            linear: LinearConfig::default(),
            api: ApiConfig::default(),
            web: WebConfig::default(),
            standby: StandbyConfig::default(),
            sections: Sections::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// SQLite database file. Its folder is created if missing.
    pub path: PathBuf,
    /// How long a writer waits for a lock held by another connection.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data/opsmate.db"),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the HTTP server binds. Loopback by default; the Docker image uses `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// Longest a client may take to send a request's headers, counted from when the
    /// server starts waiting for them (so it also ends an idle kept-alive connection).
    /// 1 s to 120 s.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection that sends nothing for this long is closed, whatever it is in
    /// the middle of (a stalled body, say). 1 s to 600 s.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Longest a request may take from its headers to its answer, its body included;
    /// then it is answered 408. 1 s to 600 s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Connections open at once, at most; lowered at start-up to what the process's
    /// descriptor limit leaves. At the cap, a new connection closes the one that has
    /// waited longest without sending a request.
    pub max_connections: usize,
    /// Rejected requests (forged, stale, malformed, oversized) from one source for
    /// one reason are audited once when the first arrives and once, with their
    /// count, when this window closes. 1 s to 1 h.
    #[serde(with = "humantime_serde")]
    pub rejection_window: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            rejection_window: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Regions the jobs scan, concurrently.
    pub regions: Vec<String>,
    /// Endpoint override (moto, LocalStack, a VPC endpoint). Unset means AWS itself.
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call, first try included; throttling and transient errors
    /// are retried with exponential backoff.
    pub max_attempts: u32,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            regions: vec!["us-east-1".into()],
            endpoint_url: None,
            max_attempts: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// An occurrence missed while the bot was down runs once at start-up if it is
    /// younger than this; older ones are skipped.
    #[serde(with = "humantime_serde")]
    pub catch_up_window: Duration,
    pub expire_approvals: JobSettings,
    pub prune_job_runs: JobSettings,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            catch_up_window: Duration::from_secs(6 * 3600),
            expire_approvals: JobSettings::default(),
            prune_job_runs: JobSettings::default(),
        }
    }
}

impl SchedulerConfig {
    /// Settings of a core job; feature jobs are scheduled in their own section.
    pub fn settings(&self, job: JobKind) -> Option<&JobSettings> {
        match job {
            JobKind::EXPIRE_APPROVALS => Some(&self.expire_approvals),
            JobKind::PRUNE_JOB_RUNS => Some(&self.prune_job_runs),
            _ => None,
        }
    }
}

/// When one job runs. Both keys are optional: the job's own default cron, and the
/// top-level `timezone`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Five-field cron expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// IANA time zone overriding the top-level one for this job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Tz>,
}

impl JobSettings {
    /// The effective schedule: these settings over the given defaults.
    pub fn resolve(&self, default_cron: &str, default_tz: Tz) -> Result<CronSchedule, CronError> {
        CronSchedule::parse(
            self.schedule.as_deref().unwrap_or(default_cron),
            self.timezone.unwrap_or(default_tz),
        )
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(try_from = "ApprovalsSection")]
pub struct ApprovalsConfig {
    /// How long a proposal waits for a decision before it expires.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Refuse a decision by the person (or job) who made the proposal.
    pub forbid_self_approval: bool,
    /// Approved actions doing work at once (1 to 64). An action waiting for AWS (a
    /// final snapshot) does not count.
    pub workers: usize,
    /// Who may approve each kind: `[approvals.<kind>]`. A kind without one can be
    /// proposed but not approved.
    #[serde(flatten)]
    pub kinds: BTreeMap<ActionKind, KindPolicy>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            forbid_self_approval: true,
            workers: crate::executor::DEFAULT_WORKERS,
            kinds: BTreeMap::new(),
        }
    }
}

/// `[approvals]` as written: its settings, and one table per action kind. The kinds
/// are the features' own, so they are recognised here rather than by field name.
#[derive(Deserialize)]
#[serde(default)]
struct ApprovalsSection {
    #[serde(with = "humantime_serde")]
    ttl: Duration,
    forbid_self_approval: bool,
    workers: usize,
    #[serde(flatten)]
    kinds: BTreeMap<String, toml::Value>,
}

impl Default for ApprovalsSection {
    fn default() -> Self {
        let d = ApprovalsConfig::default();
        Self {
            ttl: d.ttl,
            forbid_self_approval: d.forbid_self_approval,
            workers: d.workers,
            kinds: BTreeMap::new(),
        }
    }
}

impl TryFrom<ApprovalsSection> for ApprovalsConfig {
    type Error = String;
    fn try_from(s: ApprovalsSection) -> Result<Self, String> {
        let mut kinds = BTreeMap::new();
        for (name, table) in s.kinds {
            let kind = crate::approvals::kinds::spec_named(&name)
                .filter(|spec| spec.set_of.is_none())
                .map(|spec| spec.kind)
                .ok_or_else(|| {
                    let known: Vec<_> = crate::approvals::kinds::all()
                        .filter(|k| k.set_of.is_none())
                        .map(|k| k.kind.as_str())
                        .collect();
                    format!(
                        "unknown key `{name}`: expected ttl, forbid_self_approval, workers or an action kind ({})",
                        known.join(", ")
                    )
                })?;
            let policy = serde_path_to_error::deserialize::<_, KindPolicy>(table).map_err(|e| {
                let inner = e.path().to_string();
                let message = e.inner().message().replace("unknown field", "unknown key");
                match inner.as_str() {
                    "" | "." => format!("[approvals.{name}]: {message}"),
                    key => format!("[approvals.{name}] key `{key}`: {message}"),
                }
            })?;
            kinds.insert(kind, policy);
        }
        Ok(Self {
            ttl: s.ttl,
            forbid_self_approval: s.forbid_self_approval,
            workers: s.workers,
            kinds,
        })
    }
}

impl ApprovalsConfig {
    /// The policy for one kind; `None` means nobody may approve it. A set of
    /// actions (`delete_zombies`) has no policy of its own: see
    /// [`crate::approvals::kinds::policy_kinds`].
    pub fn policy(&self, kind: ActionKind) -> Option<&KindPolicy> {
        self.kinds.get(&kind)
    }

    /// Sets who may approve one kind.
    pub fn set_policy(&mut self, kind: ActionKind, policy: KindPolicy) {
        self.kinds.insert(kind, policy);
    }

    /// Time-to-live of a proposal of this kind.
    pub fn ttl_for(&self, kind: ActionKind) -> Duration {
        self.policy(kind).and_then(|p| p.ttl).unwrap_or(self.ttl)
    }
}

/// Who may approve one kind of action.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KindPolicy {
    pub slack_users: Vec<SlackUserId>,
    pub slack_groups: Vec<SlackGroupId>,
    pub telegram_users: Vec<TelegramUserId>,
    /// Distinct approvers needed; 2 enforces a four-eyes rule. Unset means 1.
    pub required_approvals: Option<u8>,
    /// Overrides `approvals.ttl` for this kind.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
}

impl KindPolicy {
    pub fn required(&self) -> u8 {
        self.required_approvals.unwrap_or(1).max(1)
    }

    /// True when at least one person could ever approve.
    pub fn has_approvers(&self) -> bool {
        !(self.slack_users.is_empty()
            && self.slack_groups.is_empty()
            && self.telegram_users.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Longest wait between two delivery attempts of one message.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// First retry delay; doubles on each failure up to `max_backoff`.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest a Slack call waits for an answer once sent (100 ms to 120 s); then it
    /// fails and is retried later, and only its own channel's queue waited.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// How long delivered messages are kept (at least 1h); the daily pruning
    /// deletes older ones. Failed ones are kept.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_backoff: Duration::from_secs(300),
            initial_backoff: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(15),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long a stop lets queued and running events finish (0 to 300 s). Commands
    /// and clicks still waiting when it ends are kept in the database and handled
    /// after the next start. Keep it below the platform's kill timeout.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain: Duration::from_secs(20),
        }
    }
}

/// A second machine that takes over (LiteFS replicates the database and holds the
/// primary lease). Off while `primary_file` is unset: one machine, always primary.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StandbyConfig {
    /// LiteFS's `.primary` file in its mount (e.g. `/litefs/.primary`). While it
    /// exists this machine is a replica, and the file names the primary; while it is
    /// absent this machine holds the lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_file: Option<PathBuf>,
    /// How often the file is looked at: a promotion starts the primary's work, and
    /// a demotion stops it, within one look.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for StandbyConfig {
    fn default() -> Self {
        Self {
            primary_file: None,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// How Slack reaches OpsMate.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SlackMode {
    /// Slack calls `/slack/events`, `/slack/commands` and `/slack/interactivity`
    /// (needs a public URL and `SLACK_SIGNING_SECRET`).
    #[default]
    Http,
    /// OpsMate connects out over WebSocket (needs `SLACK_APP_TOKEN`; no public URL).
    Socket,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    pub mode: SlackMode,
    /// Web API base URL; change it for GovSlack or a local fake.
    pub api_url: String,
    /// Channel id for alerts (and actions interrupted by a stop).
    pub alert_channel: Option<String>,
    /// Channel id for Access Guard's revocation requests.
    pub security_channel: Option<String>,
    /// Channel id for the daily digest.
    pub digest_channel: Option<String>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            mode: SlackMode::Http,
            api_url: "https://slack.com/api".into(),
            alert_channel: None,
            security_channel: None,
            digest_channel: None,
        }
    }
}

/// How Telegram reaches OpsMate.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TelegramMode {
    /// Telegram POSTs updates to `/telegram/webhook` (needs `public_url` and
    /// `TELEGRAM_WEBHOOK_SECRET`).
    Webhook,
    /// OpsMate long-polls `getUpdates` (no public URL needed).
    Polling,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Unset: `webhook` when `public_url` is set, else `polling`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<TelegramMode>,
    /// Bot API base URL; change it for a local Bot API server.
    pub api_url: String,
    /// This server's public base URL (e.g. `https://opsmate.example.com`); the
    /// webhook is registered at `<public_url>/telegram/webhook`.
    pub public_url: Option<String>,
    /// Chats OpsMate answers in; updates from any other chat are ignored.
    pub allowed_chat_ids: Vec<i64>,
    /// Chat for alerts.
    pub alert_chat_id: Option<i64>,
    /// Chat for the daily digest.
    pub digest_chat_id: Option<i64>,
    /// Telegram users who may press decision buttons at all. Each kind's
    /// `[approvals.<kind>] telegram_users` still decides who may approve that kind.
    pub approver_user_ids: Vec<TelegramUserId>,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            mode: None,
            api_url: "https://api.telegram.org".into(),
            public_url: None,
            allowed_chat_ids: Vec::new(),
            alert_chat_id: None,
            digest_chat_id: None,
            approver_user_ids: Vec::new(),
        }
    }
}

impl TelegramConfig {
    pub fn effective_mode(&self) -> TelegramMode {
        self.mode.unwrap_or(if self.public_url.is_some() {
            TelegramMode::Webhook
        } else {
            TelegramMode::Polling
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// REST API base URL; change it for GitHub Enterprise Server.
    pub api_url: String,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            api_url: "https://api.github.com".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LinearConfig {
    /// GraphQL endpoint.
    pub api_url: String,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self {
            api_url: "https://api.linear.app/graphql".into(),
        }
    }
}

/// The REST API under `/api/v1/` (reached with tokens from `opsmate token create`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Requests one token may make per minute (with bursts up to that many); more are
    /// answered 429 with `Retry-After`. 1 to 100000.
    pub requests_per_minute: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 120,
        }
    }
}

/// The web console: who may sign in with Slack, and where it is reached.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Slack members who may look. With `allowed_groups`: when both are empty, every
    /// approver named under `[approvals]` may look.
    pub allowed_users: Vec<SlackUserId>,
    /// Slack user groups whose members may look.
    pub allowed_groups: Vec<SlackGroupId>,
    /// Without Slack sign-in (no `SLACK_CLIENT_ID`/`SLACK_CLIENT_SECRET`), serve the
    /// console read-only to anyone, for trying it out. Refused unless `http.listen`
    /// is a loopback address.
    pub local_admin: bool,
    /// The address people open, for Slack's redirect back
    /// (`https://opsmate.example.com`). Default: `http://` + `http.listen`. Over
    /// https the session cookie is `Secure`.
    pub public_url: Option<String>,
    /// How long a sign-in lasts. 5 min to 30 days.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Slack's OpenID Connect authorization page. Default: the one beside
    /// `slack.api_url` (`https://slack.com/openid/connect/authorize`).
    pub authorize_url: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            allowed_users: Vec::new(),
            allowed_groups: Vec::new(),
            local_admin: false,
            public_url: None,
            session_ttl: Duration::from_secs(12 * 3600),
            authorize_url: None,
        }
    }
}

impl WebConfig {
    /// Slack's authorization page: `authorize_url`, else the one beside `api_url`.
    pub fn authorize_url(&self, api_url: &str) -> String {
        self.authorize_url.clone().unwrap_or_else(|| {
            let base = api_url.trim_end_matches('/');
            let base = base.strip_suffix("/api").unwrap_or(base);
            format!("{base}/openid/connect/authorize")
        })
    }

    /// Where the console is reached, without a trailing slash.
    pub fn base_url(&self, listen: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{listen}"),
        }
    }
}

impl Config {
    /// The core's jobs, with their default cron.
    pub const CORE_JOBS: [(JobKind, &'static str); 2] = [
        (JobKind::EXPIRE_APPROVALS, "* * * * *"),
        (JobKind::PRUNE_JOB_RUNS, "17 3 * * *"),
    ];

    /// The effective schedule of one of the core's jobs (`scheduler.<job>`).
    pub fn core_job_schedule(&self, job: JobKind) -> Result<CronSchedule, CronError> {
        let default = Self::CORE_JOBS
            .iter()
            .find(|(kind, _)| *kind == job)
            .map_or("* * * * *", |(_, cron)| cron);
        self.scheduler
            .settings(job)
            .cloned()
            .unwrap_or_default()
            .resolve(default, self.timezone)
    }

    /// A feature's section, typed; `None` when it is absent (the feature is off).
    pub fn section<T: Section>(&self) -> anyhow::Result<Option<T>> {
        self.sections.get::<T>()
    }

    /// Changes a feature's section in place (adding it with its defaults if absent).
    pub fn edit_section<T: Section + Default>(&mut self, change: impl FnOnce(&mut T)) {
        let mut section = self.section::<T>().ok().flatten().unwrap_or_default();
        change(&mut section);
        self.sections.set(&section);
    }

    /// This configuration with a feature's section set.
    pub fn with_section<T: Section>(mut self, section: &T) -> Self {
        self.sections.set(section);
        self
    }

    /// Checks that types alone cannot express. Returns `(key, problem)` on failure.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.aws.regions.is_empty() {
            return Err(("aws.regions".into(), "must list at least one region".into()));
        }
        if let Some(url) = &self.aws.endpoint_url {
            check_url("aws.endpoint_url", url)?;
        }
        if !(1..=64).contains(&self.approvals.workers) {
            return Err((
                "approvals.workers".into(),
                "must be between 1 and 64".into(),
            ));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(120))
            .contains(&self.outbox.delivery_timeout)
        {
            return Err((
                "outbox.delivery_timeout".into(),
                "must be between 100ms and 120s".into(),
            ));
        }
        if self.outbox.retention < Duration::from_secs(3600) {
            return Err(("outbox.retention".into(), "must be at least 1h".into()));
        }
        if !(Duration::from_millis(50)..=Duration::from_secs(30))
            .contains(&self.standby.poll_interval)
        {
            return Err((
                "standby.poll_interval".into(),
                "must be between 50ms and 30s".into(),
            ));
        }
        let secs = Duration::from_secs;
        for (key, value, range) in [
            (
                "http.header_read_timeout",
                self.http.header_read_timeout,
                secs(1)..=secs(120),
            ),
            (
                "http.idle_timeout",
                self.http.idle_timeout,
                secs(1)..=secs(600),
            ),
            (
                "http.request_timeout",
                self.http.request_timeout,
                secs(1)..=secs(600),
            ),
            (
                "http.rejection_window",
                self.http.rejection_window,
                secs(1)..=secs(3600),
            ),
        ] {
            if !range.contains(&value) {
                return Err((
                    key.into(),
                    format!(
                        "must be between {} and {}",
                        humantime::format_duration(*range.start()),
                        humantime::format_duration(*range.end())
                    ),
                ));
            }
        }
        if !(1..=100_000).contains(&self.http.max_connections) {
            return Err((
                "http.max_connections".into(),
                "must be between 1 and 100000".into(),
            ));
        }
        if self.shutdown.drain > Duration::from_secs(300) {
            return Err(("shutdown.drain".into(), "must be at most 300s".into()));
        }
        if !(1..=20).contains(&self.aws.max_attempts) {
            return Err(("aws.max_attempts".into(), "must be between 1 and 20".into()));
        }
        check_url("slack.api_url", &self.slack.api_url)?;
        check_url("telegram.api_url", &self.telegram.api_url)?;
        if let Some(url) = &self.telegram.public_url {
            check_url("telegram.public_url", url)?;
        }
        if self.telegram.mode == Some(TelegramMode::Webhook) && self.telegram.public_url.is_none() {
            return Err((
                "telegram.public_url".into(),
                "webhook mode needs the public base URL Telegram should call".into(),
            ));
        }
        check_url("github.api_url", &self.github.api_url)?;
        check_url("linear.api_url", &self.linear.api_url)?;
        if !(Duration::from_secs(300)..=Duration::from_secs(30 * 86_400))
            .contains(&self.web.session_ttl)
        {
            return Err((
                "web.session_ttl".into(),
                "must be between 5m and 30d".into(),
            ));
        }
        if self.web.local_admin && !self.http.listen.ip().is_loopback() {
            return Err((
                "web.local_admin".into(),
                format!(
                    "only works on a loopback address, and http.listen is {}",
                    self.http.listen
                ),
            ));
        }
        if let Some(url) = &self.web.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err((
                "web.public_url".into(),
                "must start with https:// or http://".into(),
            ));
        }
        if !(1..=100_000).contains(&self.api.requests_per_minute) {
            return Err((
                "api.requests_per_minute".into(),
                "must be between 1 and 100000".into(),
            ));
        }
        for (job, _) in Self::CORE_JOBS {
            self.core_job_schedule(job).map_err(|e| {
                (
                    format!("scheduler.{}.schedule", job.as_str()),
                    e.to_string(),
                )
            })?;
        }
        for name in self.sections.names() {
            let spec =
                section_spec(name).ok_or_else(|| (name.to_owned(), unknown_section(name)))?;
            if let Some(value) = self.sections.raw(name) {
                (spec.check_value)(value)?;
            }
        }
        for (kind, policy) in &self.approvals.kinds {
            if let Some(n) = policy.required_approvals
                && !(1..=5).contains(&n)
            {
                return Err((
                    format!("approvals.{kind}.required_approvals"),
                    "must be between 1 and 5".into(),
                ));
            }
        }
        Ok(())
    }
}

/// The section called `name`, if a feature owns one.
pub fn section_spec(name: &str) -> Option<SectionSpec> {
    crate::features::ALL
        .iter()
        .filter_map(|plug| plug.section)
        .find(|spec| spec.name == name)
}

/// The problem with a top-level key nobody owns.
pub(crate) fn unknown_section(name: &str) -> String {
    let known = crate::features::ALL
        .iter()
        .filter_map(|plug| plug.section.map(|s| s.name))
        .collect::<Vec<_>>();
    format!(
        "unknown key `{name}`: not a setting of the core nor a feature's section ({})",
        known.join(", ")
    )
}

/// Whether tags carry an exclusion tag written as `key=value` (value compared without
/// case) or `key` (any value). Returns the matching `key=value`.
pub fn excluded_by(
    spec: &str,
    tags: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let (key, want) = match spec.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (spec, None),
    };
    let v = tags.get(key)?;
    want.is_none_or(|w| v.eq_ignore_ascii_case(w))
        .then(|| format!("{key}={v}"))
}

/// An exclusion tag (`key=value` or `key`, see [`excluded_by`]) needs a key.
pub(crate) fn check_exclude_tag(key: &str, spec: &str) -> Result<(), (String, String)> {
    let tag_key = spec.split('=').next().unwrap_or_default().trim();
    if tag_key.is_empty() {
        return Err((
            key.into(),
            "needs a tag key, e.g. \"opsmate:keep=true\"".into(),
        ));
    }
    Ok(())
}

/// A five-field cron expression that parses (its time zone does not change that).
pub(crate) fn check_cron(key: &str, expr: &str) -> Result<(), (String, String)> {
    CronSchedule::parse(expr, Tz::UTC)
        .map(drop)
        .map_err(|e| (key.to_owned(), e.to_string()))
}

fn check_url(key: &str, url: &str) -> Result<(), (String, String)> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err((key.into(), format!("{url:?} is not an http(s) URL"))),
    }
}
