//! Test harness: temp databases, the real app on a loopback port, a fake Slack Web API,
//! a real moto server, and a scriptable action handler.

pub mod actions;
pub mod aws_proxy;
pub mod billing;
pub mod browser;
pub mod fake_argocd;
pub mod fake_github;
pub mod fake_github_checks;
pub mod fake_github_git;
pub mod fake_lemonsqueezy;
pub mod fake_linear;
pub mod fake_pager;
pub mod fake_service;
pub mod fake_slack;
pub mod fake_smtp;
pub mod fake_telegram;
pub mod guard;
pub mod hunter;
pub mod incidents;
pub mod moto;
pub mod observatory;
pub mod rollback;
pub mod sentinel;
pub mod slack;
pub mod slack_requests;
pub mod slack_view_requests;
pub mod telegram_updates;
pub mod watchman;
pub mod web_user;

use opsmate::app::{App, AppOptions};
use opsmate::config::{Config, ConfigSource, Loaded, Secrets};
use opsmate::dispatch::Context;
use opsmate::events::EventQueue;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A config whose database lives in `dir` and whose server binds a free loopback port.
pub fn config_in(dir: &Path) -> Config {
    let mut c = Config::default();
    c.storage.path = dir.join("opsmate.db");
    c.http.listen = "127.0.0.1:0".parse().unwrap();
    c.outbox.initial_backoff = Duration::from_millis(20);
    c.outbox.max_backoff = Duration::from_millis(200);
    c
}

pub fn loaded(config: Config, secrets: Secrets) -> Loaded {
    Loaded {
        config,
        secrets,
        source: ConfigSource::Defaults,
        env_overrides: Vec::new(),
    }
}

/// A queued outbox row: platform, channel, operation, attempts, last error.
type Undelivered = (String, String, String, i64, Option<String>);

/// The real app, serving on a loopback port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub ctx: Context,
    pub queue: EventQueue,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn start(config: Config, secrets: Secrets, options: AppOptions) -> Self {
        let app = App::build(&loaded(config, secrets), options)
            .await
            .expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ctx = app.ctx.clone();
        let queue = app.queue();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.serve(listener, shutdown.clone()));
        Self {
            addr,
            ctx,
            queue,
            shutdown,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The process dies: actions stop where they are (a pass doing work is left
    /// hanging, a wait is cut off), then everything else stops. What the database
    /// holds is what a restart finds.
    pub async fn crash(self) {
        self.ctx.executor.shutdown(Duration::ZERO).await;
        self.stop().await;
    }

    /// Waits until the app has nothing left to do: no event waiting or being
    /// handled, no action running or waiting, nothing in the outbox. Fails the test
    /// when that does not come within 20 s.
    pub async fn settle(&self) {
        let limit = Duration::from_secs(20);
        let quiet = || async {
            // The dispatcher's and the executor's own signals; the outbox is looked at.
            self.ctx.dispatch.idle().await;
            self.ctx.executor.idle().await;
            self.queue.is_empty()
                && self.webhooks_waiting() == 0
                && self.ctx.dispatch.in_flight() == 0
                && self.ctx.executor.active() == 0
                && self.undelivered().is_empty()
        };
        let settled = tokio::time::timeout(limit, eventually(limit, quiet))
            .await
            .is_ok_and(|quiet| quiet);
        if !settled {
            let undelivered = self.undelivered();
            panic!(
                "the app did not settle: {} queued, {} events in flight, {} actions active, undelivered {undelivered:?}",
                self.queue.len(),
                self.ctx.dispatch.in_flight(),
                self.ctx.executor.active(),
            );
        }
    }

    /// Queued outbox rows (platform, channel, operation, attempts, last error), but
    /// those Telegram's per-chat rate limit holds back: they wait their turn, as in
    /// production.
    fn undelivered(&self) -> Vec<Undelivered> {
        self.ctx
            .store
            .with_conn(|c| {
                let mut stmt = c.prepare(
                    "SELECT platform, channel, operation, attempts, last_error FROM outbox
                     WHERE state = 'queued' ORDER BY id",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
                Ok(rows.collect::<Result<Vec<Undelivered>, _>>()?)
            })
            .unwrap()
            .into_iter()
            .filter(|(platform, channel, ..)| !self.rate_limited(platform, channel))
            .collect()
    }

    /// Webhook deliveries taken and not yet handled.
    fn webhooks_waiting(&self) -> i64 {
        self.ctx
            .store
            .with_conn(opsmate::http::webhooks::sql::counts)
            .unwrap()
            .0
    }

    /// True when the queue of (platform, channel) waits on a rate limit.
    fn rate_limited(&self, platform: &str, channel: &str) -> bool {
        self.ctx
            .store
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM outbox WHERE state = 'queued' AND platform = ?1
                     AND channel = ?2 AND last_error LIKE '%flood limit%'",
                    [platform, channel],
                    |r| r.get::<_, i64>(0),
                )? > 0)
            })
            .unwrap()
    }

    /// Ends a test: the app settles, no event handler or action bookkeeping returned
    /// an error, no outgoing message failed for good, and the app stops cleanly.
    pub async fn finish(self) {
        self.settle().await;
        assert_eq!(
            self.ctx.dispatch.errors(),
            0,
            "an event handler returned an error"
        );
        assert_eq!(
            self.ctx.executor.errors(),
            0,
            "the executor's bookkeeping failed"
        );
        let failed = self.ctx.outbox.failed_count().await.unwrap();
        assert_eq!(failed, 0, "messages failed for good");
        let (_, failed_hooks) = self
            .ctx
            .store
            .with_conn(opsmate::http::webhooks::sql::counts)
            .unwrap();
        assert_eq!(failed_hooks, 0, "a webhook delivery's handling failed");
        self.stop().await;
    }

    /// Graceful shutdown; fails the test if serving returned an error.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("app stops within 30 s")
            .expect("serve task joins")
            .expect("serve returns Ok");
    }
}

/// The app with no secrets and default options, on a fresh database.
pub async fn plain_app() -> (tempfile::TempDir, TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(
        config_in(dir.path()),
        Secrets::default(),
        AppOptions::default(),
    )
    .await;
    (dir, app)
}

/// Audit rows of one event, oldest first.
pub fn audit_rows(app: &TestApp, event: &str) -> Vec<opsmate::audit::AuditRecord> {
    audit_rows_in(&app.ctx.store, event)
}

/// Audit rows of one event in a store (e.g. of an app that has stopped), oldest first.
pub fn audit_rows_in(
    store: &opsmate::store::Store,
    event: &str,
) -> Vec<opsmate::audit::AuditRecord> {
    store
        .with_conn(|c| opsmate::audit::tail(c, 10_000))
        .unwrap()
        .into_iter()
        .filter(|r| r.event == event)
        .collect()
}

/// The delivered message tagged with `prefix` on `platform` ("slack", "telegram"),
/// waiting up to five seconds for the outbox to deliver it.
pub async fn delivered_copy(
    app: &TestApp,
    prefix: &str,
    platform: &str,
) -> opsmate::outbox::TaggedMessage {
    let find = || async {
        app.ctx
            .outbox
            .tagged(prefix)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.platform == platform)
    };
    let ok = eventually(Duration::from_secs(5), || async { find().await.is_some() }).await;
    assert!(ok, "no {prefix} message was delivered to {platform}");
    find().await.unwrap()
}

/// Polls `check` every 10 ms until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
