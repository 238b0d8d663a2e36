//! A standby machine follows LiteFS's `.primary` file: a replica sends nothing, runs
//! no job and sends writes to the primary; a promotion starts the primary's work;
//! a demotion stops it.

use crate::support::fake_slack::FakeSlack;
use crate::support::slack::{CHANNEL, secrets};
use crate::support::{TestApp, config_in, eventually, loaded};
use opsmate::app::AppOptions;
use opsmate::chat::message::ChatMessage;
use opsmate::clock::SystemClock;
use opsmate::config::Config;
use opsmate::outbox::Outbox;
use opsmate::store::Store;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_millis(100);
const LIMIT: Duration = Duration::from_secs(15);

/// One machine: `opsmate serve` with `standby.primary_file` set.
struct Machine {
    addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Machine {
    async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let loaded = loaded(config, secrets());
        let handle = tokio::spawn(async move {
            opsmate::standby::serve::serve(&loaded, AppOptions::default, listener, stop).await
        });
        Self {
            addr,
            shutdown,
            handle,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `/readyz`'s body once it answers 200, else `None`.
    async fn ready(&self) -> Option<Value> {
        let r = reqwest::get(self.url("/readyz")).await.ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json().await.ok()
    }

    /// Waits until `/readyz` reports `role`.
    async fn wait_role(&self, role: &str) {
        let reached = eventually(LIMIT, || async {
            self.ready().await.is_some_and(|b| b["role"] == role)
        })
        .await;
        assert!(
            reached,
            "the machine never became {role}: {:?}",
            self.ready().await
        );
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("the machine stops")
            .unwrap()
            .expect("serve returns Ok");
    }
}

/// A database that a primary has run on once, with a message waiting in the outbox
/// and a job whose last occurrence was missed (so a primary runs it at once).
async fn prime(dir: &Path, fake: &FakeSlack) -> Config {
    let mut config = config_in(dir);
    config.slack.api_url = fake.api_url();
    let app = TestApp::start(config.clone(), secrets(), AppOptions::default()).await;
    app.stop().await;
    let store = Store::open(&config.storage.path, Duration::from_secs(5)).unwrap();
    let earlier = chrono::Utc::now() - chrono::Duration::minutes(10);
    store
        .with_conn(|c| {
            c.execute(
                "INSERT INTO job_runs (job, scheduled_for, started_at, finished_at, outcome)
                 VALUES ('expire_approvals', ?1, ?1, ?1, 'ok')",
                [earlier.timestamp_millis()],
            )?;
            // The old primary died while this action ran.
            c.execute(
                "INSERT INTO proposals (id, kind, target, reason, proposed_by, state,
                                        created_at, expires_at, decided_by, decided_at)
                 VALUES ('standby234', 'delete_volume', 'vol-0failover', 'idle', 'scheduler',
                         'executing', ?1, ?1 + 86400000, 'slack:UALICE', ?1)",
                [earlier.timestamp_millis()],
            )?;
            Ok(())
        })
        .unwrap();
    config.slack.alert_channel = Some(CHANNEL.to_owned());
    let outbox = Outbox::new(store, Arc::new(SystemClock));
    let msg = ChatMessage::text("Waiting", "queued before the failover");
    opsmate::chat::slack::send::post(&outbox, CHANNEL, &msg, None)
        .await
        .unwrap();
    std::fs::create_dir_all(primary_file(dir).parent().unwrap()).unwrap();
    config.standby.primary_file = Some(primary_file(dir));
    config.standby.poll_interval = TICK;
    config
}

/// An unsigned POST: a replica replays it without reading it.
async fn post(machine: &Machine, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(machine.url(path))
        .body("{}")
        .send()
        .await
        .unwrap()
}

fn primary_file(dir: &Path) -> PathBuf {
    dir.join("litefs/.primary")
}

fn job_runs(db: &Path) -> i64 {
    count(db, "SELECT count(*) FROM job_runs")
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn posted(fake: &FakeSlack, text: &str) -> usize {
    fake.calls_to("chat.postMessage")
        .iter()
        .filter(|c| c.body.to_string().contains(text))
        .count()
}

#[tokio::test]
async fn a_replica_sends_nothing_runs_nothing_and_replays_writes_until_it_is_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeSlack::start(vec![]).await;
    let config = prime(dir.path(), &fake).await;
    let db = config.storage.path.clone();
    let file = primary_file(dir.path());
    std::fs::write(&file, "e2865013b47d86\n").unwrap();
    let (runs_before, audit_before) = (job_runs(&db), count(&db, "SELECT count(*) FROM audit_log"));

    let machine = Machine::start(config).await;
    machine.wait_role("replica").await;
    let ready = machine.ready().await.unwrap();
    assert_eq!(ready["primary"], "e2865013b47d86");
    assert!(ready["audit_head"].is_string(), "{ready}");

    // Slack's webhook is a write: Fly's proxy is told to replay it on the primary,
    // before the body is even read.
    let r = post(&machine, "/slack/events").await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["fly-replay"], "instance=e2865013b47d86");
    // Reads are served here.
    assert_eq!(
        reqwest::get(machine.url("/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );

    // Several looks at the file later: nothing sent, no job run, nothing written.
    tokio::time::sleep(TICK * 10).await;
    assert_eq!(posted(&fake, "queued before the failover"), 0);
    assert_eq!(job_runs(&db), runs_before);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log"), audit_before);

    // LiteFS promotes this machine: the file goes away.
    std::fs::remove_file(&file).unwrap();
    machine.wait_role("primary").await;
    assert!(
        eventually(LIMIT, || async {
            posted(&fake, "queued before the failover") == 1
        })
        .await,
        "the queued message was not sent after the promotion"
    );
    assert!(
        eventually(LIMIT, || async { job_runs(&db) > runs_before }).await,
        "the missed job did not run after the promotion"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_log WHERE event = 'opsmate.started'"
        ),
        2,
        "the promotion starts the primary like any start"
    );
    // The action the old primary was running is interrupted, as after any crash,
    // and said so; it is not run again.
    let interrupted =
        "SELECT count(*) FROM proposals WHERE id = 'standby234' AND state = 'interrupted'";
    assert_eq!(count(&db, interrupted), 1);
    assert!(
        eventually(LIMIT, || async { posted(&fake, "Interrupted") == 1 }).await,
        "the interruption was not posted"
    );
    assert!(posted(&fake, "vol-0failover") >= 1);
    // The Slack endpoints are the primary's now: an unsigned POST is refused by the
    // door itself, not replayed.
    let r = post(&machine, "/slack/events").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("fly-replay").is_none());
    machine.stop().await;
    assert_eq!(posted(&fake, "queued before the failover"), 1, "sent once");
}

#[tokio::test]
async fn a_demoted_primary_stops_its_work_within_one_look_and_writes_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeSlack::start(vec![]).await;
    let config = prime(dir.path(), &fake).await;
    let db = config.storage.path.clone();
    let file = primary_file(dir.path());

    let machine = Machine::start(config).await;
    machine.wait_role("primary").await;
    assert!(
        eventually(LIMIT, || async {
            posted(&fake, "queued before the failover") == 1
        })
        .await,
        "the primary sends what was queued"
    );
    let stopped_rows = "SELECT count(*) FROM audit_log WHERE event = 'opsmate.stopped'";
    let stops_before = count(&db, stopped_rows);

    // The lease moves to the other machine.
    let demoted_at = std::time::Instant::now();
    std::fs::write(&file, "148e453b7d6989\n").unwrap();
    machine.wait_role("replica").await;
    let took = demoted_at.elapsed();
    // A look every 100 ms, then the replica's read-only app is built; a stop that
    // took a grace period (seconds) would show here.
    assert!(took < Duration::from_secs(3), "the demotion took {took:?}");
    let audit_after = count(&db, "SELECT count(*) FROM audit_log");
    assert_eq!(
        count(&db, stopped_rows),
        stops_before,
        "a demoted primary audits nothing: the new primary owns the log"
    );

    // The new primary (another machine) queues a message; LiteFS replicates it here.
    // This machine must not send it.
    let store = Store::open(&db, Duration::from_secs(5)).unwrap();
    let outbox = Outbox::new(store, Arc::new(SystemClock));
    let msg = ChatMessage::text("Theirs", "queued by the new primary");
    opsmate::chat::slack::send::post(&outbox, CHANNEL, &msg, None)
        .await
        .unwrap();
    tokio::time::sleep(TICK * 10).await;
    assert_eq!(posted(&fake, "queued by the new primary"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log"), audit_after);
    let r = post(&machine, "/telegram/webhook").await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["fly-replay"], "instance=148e453b7d6989");
    machine.stop().await;
}
