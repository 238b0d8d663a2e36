//! A runbook in the real binary, killed with `kill -9` in its second step and started
//! again on the same database: the finished step is not repeated, the step cut off
//! is not run again blindly, the runbook goes on with the next step, and the incident
//! message says what happened to each.

use crate::cli::{opsmate, wait_ready};
use crate::hunter_crash::post_signed;
use crate::support::eventually;
use crate::support::fake_service::{FakeService, Mode};
use crate::support::fake_slack::{FakeSlack, message_ts};
use crate::support::slack::{CHANNEL, SIGNING_SECRET, all_text, button};
use crate::support::slack_requests::{Click, click_payload, interactivity_body};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const USER: &str = "UALICE";

/// A script that appends a line to `log` and, for the second step, stays running.
fn script(dir: &Path, name: &str, stays: bool) -> String {
    let path = dir.join(format!("{name}.sh"));
    let log = dir.join(format!("{name}.log"));
    let wait = if stays { "sleep 20\n" } else { "" };
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho ran >> '{}'\necho '{name} done'\n{wait}",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn runs(dir: &Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("{name}.log")))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn config(dir: &Path, slack: &str, service: &str) -> String {
    let (one, two, three) = (
        script(dir, "one", false),
        script(dir, "two", true),
        script(dir, "three", false),
    );
    format!(
        r#"[slack]
mode = "http"
api_url = "{slack}"
alert_channel = "{CHANNEL}"

[observatory]
group_wait = "1s"

[observatory.self_checks]
enabled = false

[[observatory.checks]]
name = "api"
kind = "http"
url = "{service}"
interval = "1s"
timeout = "1s"
failure_threshold = 1
success_threshold = 1
remediations = ["recover-api"]

[incidents]
verify_after = "1s"

[[incidents.remediations]]
name = "step-one"
kind = "command"
argv = ["{one}"]

[[incidents.remediations]]
name = "step-two"
kind = "command"
argv = ["{two}"]
timeout = "30s"

[[incidents.remediations]]
name = "step-three"
kind = "command"
argv = ["{three}"]

[[incidents.runbooks]]
name = "recover-api"
steps = ["step-one", "step-two", "step-three"]

[approvals.remediate]
slack_users = ["{USER}"]
"#
    )
}

fn launch(dir: &Path, port: u16) -> Child {
    let mut cmd = opsmate(dir);
    cmd.env("OPSMATE_CONFIG", dir.join("opsmate.toml"))
        .env("OPSMATE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("OPSMATE_OUTBOX__INITIAL_BACKOFF", "20ms")
        .env("SLACK_BOT_TOKEN", "xoxb-crash-test")
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    assert!(wait_ready(port, Duration::from_secs(20)), "not ready");
    child
}

/// The newest text of the incident message (the first post).
fn incident_text(fake: &FakeSlack) -> String {
    fake.calls()
        .into_iter()
        .rfind(|c| c.succeeded && c.method == "chat.update" && c.body["ts"] == message_ts(1))
        .map(|c| all_text(&c.body))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_mid_runbook_it_resumes_at_the_next_step_and_repeats_nothing() {
    let service = FakeService::start().await;
    service.set(Mode::Failing);
    let fake = FakeSlack::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake.api_url(), &service.url);
    std::fs::write(dir.path().join("opsmate.toml"), cfg).unwrap();
    let port = crate::cli::free_port();
    let d = dir.path().to_owned();
    let mut child = tokio::task::spawn_blocking(move || launch(&d, port))
        .await
        .unwrap();

    let posted = eventually(Duration::from_secs(30), || async {
        !fake.calls_to("chat.postMessage").is_empty()
    })
    .await;
    assert!(posted, "no incident was posted: {:?}", fake.calls());
    let post = fake.calls_to("chat.postMessage")[0].body.clone();
    assert!(
        all_text(&post).contains("Incident #1: api is critical"),
        "{post:#}"
    );
    let action_id = button(&post, "📒 recover-api").to_owned();
    let value = action_id.splitn(3, ':').nth(2).unwrap().to_owned();
    let body = interactivity_body(&click_payload(&Click {
        user: USER,
        channel: CHANNEL,
        action_id: &action_id,
        value: &value,
        ts: &message_ts(1),
        ephemeral: false,
        response_url: &fake.response_url("run"),
    }));
    assert_eq!(post_signed(port, "/slack/interactivity", body).await, 200);
    let second = eventually(Duration::from_secs(30), || async {
        runs(dir.path(), "two") == 1
    })
    .await;
    assert!(second, "step two never started: {}", incident_text(&fake));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(runs(dir.path(), "one"), 1);
    assert_eq!(
        runs(dir.path(), "three"),
        0,
        "step three ran before the kill"
    );

    let d = dir.path().to_owned();
    let mut child = tokio::task::spawn_blocking(move || launch(&d, port))
        .await
        .unwrap();
    let finished = eventually(Duration::from_secs(60), || async {
        incident_text(&fake).contains("recover-api, approved by <@UALICE>: failed")
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = incident_text(&fake);
    assert!(finished, "the runbook never ended: {text}");
    assert_eq!(runs(dir.path(), "one"), 1, "step one was repeated");
    assert_eq!(runs(dir.path(), "two"), 1, "step two was run again blindly");
    assert_eq!(runs(dir.path(), "three"), 1, "step three did not run once");
    assert!(text.contains("step 1 step-one: ran: exit 0"), "{text}");
    assert!(
        text.contains("step 2 step-two: OpsMate restarted while it ran"),
        "{text}"
    );
    assert!(text.contains("step 3 step-three: ran: exit 0"), "{text}");
    assert!(
        text.contains("api is still critical"),
        "the check ran again: {text}"
    );
    let audit = opsmate(dir.path())
        .args(["audit", "export", "--format", "jsonl"])
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert_eq!(
        rows.matches("\"incident.remediation_ran\"").count(),
        2,
        "{rows}"
    );
    assert_eq!(rows.matches("\"action.resumed\"").count(), 1, "{rows}");
}
