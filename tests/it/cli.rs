//! The `opsmate` binary, run as a user would.

use crate::support::fake_slack::{FakeSlack, Reply};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_opsmate");
const SECRETS: [(&str, &str); 6] = [
    ("SLACK_BOT_TOKEN", "xoxb-SECRET-bot-9f8e7d"),
    ("SLACK_SIGNING_SECRET", "SECRET-signing-1a2b3c"),
    ("SLACK_APP_TOKEN", "xapp-SECRET-app-4d5e6f"),
    ("TELEGRAM_BOT_TOKEN", "123456:SECRET-telegram-7g8h"),
    ("GITHUB_TOKEN", "ghp_SECRETgithub0011"),
    ("LINEAR_API_KEY", "lin_api_SECRETlinear2233"),
];

/// A command with a clean environment: no stray OPSMATE_* or secrets from the host.
pub(crate) fn opsmate(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("OPSMATE_STORAGE__PATH", dir.join("opsmate.db"));
    cmd
}

/// Points the command at an AWS endpoint (moto, or the proxy in front of it) with
/// moto's static credentials, and gives up on a failing call after two attempts.
pub(crate) fn against_aws<'a>(cmd: &'a mut Command, endpoint: &str) -> &'a mut Command {
    cmd.env("OPSMATE_AWS__ENDPOINT_URL", endpoint)
        .env("OPSMATE_AWS__MAX_ATTEMPTS", "2")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// Runs the command off the async runtime and returns what it printed.
pub(crate) async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("running opsmate"))
        .await
        .unwrap()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("running opsmate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn unknown_config_key_exits_2_naming_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "timezone = \"Europe/Berlin\"\n[http]\nlisten = \"127.0.0.1:3000\"\nlisten_port = 3\n",
    )
    .unwrap();
    let out = run(opsmate(dir.path())
        .arg("--config")
        .arg(&file)
        .args(["config", "check"]));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:4:"), "{err}");
    assert!(err.contains("http.listen_port"), "{err}");
}

#[test]
fn config_check_prints_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("opsmate.toml"),
        "dry_run = true\n[aws]\nregions = [\"eu-central-1\"]\n",
    )
    .unwrap();
    let out = run(opsmate(dir.path())
        .envs(SECRETS)
        .env("OPSMATE_TIMEZONE", "America/New_York")
        .args(["config", "check"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("source: opsmate.toml"), "{stdout}");
    assert!(stdout.contains("dry_run = true"), "{stdout}");
    assert!(
        stdout.contains("timezone = \"America/New_York\""),
        "{stdout}"
    );
    assert!(stdout.contains("eu-central-1"), "{stdout}");
    assert!(
        stdout.contains("SLACK_BOT_TOKEN = set [redacted]"),
        "{stdout}"
    );
    for (_, value) in SECRETS {
        assert!(
            !stdout.contains(value) && !text(&out.stderr).contains(value),
            "secret {value} leaked"
        );
    }
}

#[test]
fn migrate_reports_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(opsmate(dir.path()).arg("migrate"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let latest = opsmate::store::migrations::latest_version();
    assert!(
        text(&out.stdout).contains(&format!("schema version 0 -> {latest}")),
        "{}",
        text(&out.stdout)
    );
    let again = run(opsmate(dir.path()).arg("migrate"));
    assert!(text(&again.stdout).contains(&format!("schema version {latest} -> {latest}")));
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn wait_ready(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Queues one Slack message straight into the database, as an earlier run would have.
fn seed_outbox_message(db: &Path, text: &str) {
    let store = opsmate::store::Store::open(db, Duration::from_secs(5)).unwrap();
    store
        .with_conn(|c| {
            let now = chrono::Utc::now().timestamp_millis();
            c.execute(
                "INSERT INTO outbox (platform, channel, payload, next_attempt_at, created_at)
                 VALUES ('slack', 'C0ALERTS', ?1, ?2, ?2)",
                rusqlite::params![serde_json::json!({ "text": text }).to_string(), now],
            )?;
            Ok(())
        })
        .unwrap();
}

/// Starts `serve` with every secret set and trace-level logging, lets the outbox use
/// the Slack token against a fake Web API (one 500, then success), stops it with
/// SIGTERM, and checks the logs: integrations are reported, shutdown is graceful, and
/// no secret value appears anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_reports_features_stops_on_sigterm_and_never_logs_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    for format in ["pretty", "json"] {
        let fake = FakeSlack::start(vec![Reply::Status(500)]).await;
        seed_outbox_message(
            &dir.path().join("opsmate.db"),
            &format!("hello from {format}"),
        );
        let child = opsmate(dir.path())
            .envs(SECRETS)
            .env("RUST_LOG", "trace")
            .env("OPSMATE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("OPSMATE_SLACK__API_URL", fake.api_url())
            // Telegram long-polls a closed local port: its token is used in every request.
            .env("OPSMATE_TELEGRAM__API_URL", "http://127.0.0.1:9")
            .env("OPSMATE_OUTBOX__INITIAL_BACKOFF", "10ms")
            .args(["--log-format", format, "serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let ready = tokio::task::spawn_blocking(move || wait_ready(port, Duration::from_secs(20)))
            .await
            .unwrap();
        let probe = run(opsmate(dir.path())
            .env("OPSMATE_HTTP__LISTEN", format!("0.0.0.0:{port}"))
            .arg("probe"));
        assert_eq!(probe.status.code(), Some(0), "{}", text(&probe.stdout));
        let delivered = crate::support::eventually(Duration::from_secs(10), || {
            let fake = fake.clone();
            async move { fake.calls().iter().any(|c| c.succeeded) }
        })
        .await;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        let logs = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(ready, "never ready:\n{logs}");
        assert!(delivered, "the queued message was not delivered:\n{logs}");
        let calls = fake.calls();
        assert_eq!(calls.len(), 2, "one 500, one success");
        assert_eq!(
            calls[1].authorization.as_deref(),
            Some("Bearer xoxb-SECRET-bot-9f8e7d")
        );
        assert_eq!(calls[1].body["text"], format!("hello from {format}"));
        assert_eq!(out.status.code(), Some(0), "{logs}");
        assert!(logs.contains("telegram: on (long polling"), "{logs}");
        assert!(logs.contains("slack: on"), "{logs}");
        assert!(logs.contains("stopped"), "{logs}");
        for (name, value) in SECRETS {
            assert!(
                !logs.contains(value),
                "{name} leaked into the {format} logs"
            );
        }
    }

    // With the server gone, the probe fails.
    let probe = run(opsmate(dir.path())
        .env("OPSMATE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .arg("probe"));
    assert_eq!(probe.status.code(), Some(1));

    // The audit log written by those runs verifies, tails and exports.
    let out = run(opsmate(dir.path()).args(["audit", "verify"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("audit log intact: 4 rows"),
        "{}",
        text(&out.stdout)
    );
    let out = run(opsmate(dir.path()).args(["audit", "tail", "-n", "1"]));
    assert!(
        text(&out.stdout).contains("opsmate.stopped"),
        "{}",
        text(&out.stdout)
    );
    let out = run(opsmate(dir.path()).args(["audit", "export", "--format", "jsonl"]));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["event"], "opsmate.started");
    let out = run(opsmate(dir.path()).args(["audit", "export", "--format", "csv"]));
    assert_eq!(text(&out.stdout).lines().count(), 5);
}

#[test]
fn audit_verify_names_a_tampered_row_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("opsmate.db");
    let store = opsmate::store::Store::open(&db, Duration::from_secs(5)).unwrap();
    store
        .with_conn(|c| {
            for i in 0..5 {
                opsmate::audit::append(c, chrono::Utc::now(), "system", "test", &format!("row{i}"), &serde_json::json!({"i": i}))?;
            }
            c.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 4;")?;
            Ok(())
        })
        .unwrap();
    drop(store);
    let out = run(opsmate(dir.path()).args(["audit", "verify"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("broken at row 4"),
        "{}",
        text(&out.stdout)
    );
}
