//! "Delete all" in the real binary, killed with `kill -9` half-way and started again
//! on the same database: the report says what happened to each line.

use crate::cli::{against_aws, opsmate, wait_ready};
use crate::support::aws_proxy::AwsProxy;
use crate::support::eventually;
use crate::support::fake_slack::{FakeSlack, message_ts};
use crate::support::hunter::{REGION, slack_button, volume, volume_exists};
use crate::support::moto::Moto;
use crate::support::slack::{CHANNEL, SIGNING_SECRET, all_text};
use crate::support::slack_requests::{Click, click_payload, command_body, interactivity_body};
use aws_sdk_ec2::types::VolumeType;
use opsmate::chat::slack::verify::SlackVerifier;
use opsmate::config::Secret;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const USER: &str = "UALICE";
const VOLUMES: usize = 4;

fn config(slack: &str) -> String {
    format!(
        r#"[aws]
regions = ["{REGION}"]

[hunter]
volume_min_idle_days = 0
snapshot_before_delete = false
schedule = "0 0 1 1 *"
slack_channel = "{CHANNEL}"

[approvals.delete_volume]
slack_users = ["{USER}"]

[slack]
mode = "http"
api_url = "{slack}"
"#
    )
}

fn launch(dir: &Path, aws: &str, port: u16) -> Child {
    let mut cmd = opsmate(dir);
    against_aws(&mut cmd, aws)
        .env("OPSMATE_CONFIG", dir.join("opsmate.toml"))
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

/// POSTs a form body to the binary at `port`, signed as Slack signs it now.
pub(crate) async fn post_signed(port: u16, path: &str, body: String) -> u16 {
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = SlackVerifier::new(Secret::new(SIGNING_SECRET)).sign(&ts, body.as_bytes());
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The latest version of the message with `ts`: its last `chat.update`, else its post.
fn latest(fake: &FakeSlack, ts: &str) -> serde_json::Value {
    fake.calls()
        .into_iter()
        .rfind(|c| c.succeeded && c.method == "chat.update" && c.body["ts"] == ts)
        .map(|c| c.body)
        .unwrap_or_else(|| fake.calls_to("chat.postMessage")[0].body.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_mid_delete_all_each_line_shows_what_happened_to_it() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let proxy = AwsProxy::start(&moto.endpoint).await;
    let fake = FakeSlack::start(vec![]).await;
    let ec2 = moto.aws(REGION).await.ec2(REGION);
    let mut volumes = Vec::new();
    for _ in 0..VOLUMES {
        volumes.push(volume(&ec2, 10, VolumeType::Gp3, &[]).await);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("opsmate.toml"), config(&fake.api_url())).unwrap();
    let port = crate::cli::free_port();
    let (d, endpoint) = (dir.path().to_owned(), proxy.endpoint.clone());
    let mut child = tokio::task::spawn_blocking(move || launch(&d, &endpoint, port))
        .await
        .unwrap();

    let zombies = command_body(USER, CHANNEL, "zombies", &fake.response_url("zombies"));
    assert_eq!(post_signed(port, "/slack/commands", zombies).await, 200);
    let posted = eventually(Duration::from_secs(30), || async {
        !fake.calls_to("chat.postMessage").is_empty()
    })
    .await;
    assert!(posted, "no report was posted: {:?}", fake.calls());
    let report = fake.calls_to("chat.postMessage")[0].body.clone();
    let ts = message_ts(1);
    let delete_all = slack_button(&report, "", "Delete all");

    // The third deletion never reaches AWS: the process dies while it is on its way.
    proxy.hold_nth("DeleteVolume", 2);
    let click = Click {
        user: USER,
        channel: CHANNEL,
        action_id: &delete_all,
        value: delete_all.trim_start_matches("approve:"),
        ts: &ts,
        ephemeral: false,
        response_url: &fake.response_url("delete-all"),
    };
    let body = interactivity_body(&click_payload(&click));
    assert_eq!(post_signed(port, "/slack/interactivity", body).await, 200);
    let third = eventually(Duration::from_secs(30), || async {
        proxy.arrived("DeleteVolume") == 3
    })
    .await;
    assert!(third, "the third DeleteVolume never came");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut gone = 0;
    for v in &volumes {
        gone += usize::from(!volume_exists(&ec2, v).await);
    }
    assert_eq!(gone, 2, "two volumes were deleted before the kill");

    let (d, endpoint) = (dir.path().to_owned(), proxy.endpoint.clone());
    let mut child = tokio::task::spawn_blocking(move || launch(&d, &endpoint, port))
        .await
        .unwrap();
    let finished = eventually(Duration::from_secs(60), || async {
        all_text(&latest(&fake, &ts)).contains("done for")
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = all_text(&latest(&fake, &ts));
    assert!(finished, "the report never finished: {text}");
    for v in &volumes {
        assert!(!volume_exists(&ec2, v).await, "{v} is still there");
    }
    assert!(
        text.contains(&format!(
            "Delete all (approved by <@{USER}>): done for {VOLUMES} line(s)"
        )),
        "{text}"
    );
    assert_eq!(
        text.matches(&format!("✅ Deleted, approved by <@{USER}>"))
            .count(),
        VOLUMES,
        "{text}"
    );
    assert!(!text.contains("nterrupted"), "{text}");
    // No button is left: every line was decided, and so was Delete all.
    let last = latest(&fake, &ts);
    assert!(!last.to_string().contains("approve:"), "{last:#}");
    // Each volume was deleted once: the two before the kill were not tried again.
    assert_eq!(proxy.arrived("DeleteVolume"), VOLUMES + 1);
    let audit = opsmate(dir.path())
        .args(["audit", "export", "--format", "jsonl"])
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert_eq!(
        rows.matches("\"hunter.deleted\"").count(),
        VOLUMES,
        "{rows}"
    );
    assert_eq!(rows.matches("\"action.resumed\"").count(), 1, "{rows}");
}
