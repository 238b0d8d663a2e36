//! The real binary, killed with `kill -9` after it opened the rollback pull request
//! and before it labelled and merged it, then started again on the same database:
//! no second pull request, and the rollback goes on to the merge.

use crate::cli::{free_port, opsmate, output, wait_ready};
use crate::support::eventually;
use crate::support::fake_argocd::FakeArgo;
use crate::support::fake_github::FakeGithub;
use crate::support::rollback::{ARGO_TOKEN, REPO, VALUES, values};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

fn config(argo: &str, github: &str) -> String {
    format!(
        r#"[github]
api_url = "{github}"

[rollback]
argocd_url = "{argo}"
poll_interval = "1s"
min_uptime_polls = 3

[[rollback.apps]]
name = "web"
environment = "staging"
repo = "{REPO}"
path = "{VALUES}"
yaml_key = "image.tag"
"#
    )
}

fn launch(dir: &Path, port: u16) -> Child {
    let mut cmd = opsmate(dir);
    cmd.env("OPSMATE_CONFIG", dir.join("opsmate.toml"))
        .env("OPSMATE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("ARGOCD_TOKEN", ARGO_TOKEN)
        .env("GITHUB_TOKEN", "ghp_crash_test")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    assert!(wait_ready(port, Duration::from_secs(20)), "not ready");
    child
}

async fn start(dir: &Path, port: u16) -> Child {
    let d = dir.to_owned();
    tokio::task::spawn_blocking(move || launch(&d, port))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_between_the_pull_request_and_the_merge_there_is_one_pull_request_and_it_merges()
 {
    let argo = FakeArgo::start(ARGO_TOKEN).await;
    let github = FakeGithub::start().await;
    let good = github.git.seed(REPO, "main", &[(VALUES, &values("1.4.1"))]);
    let bad = github
        .git
        .commit(REPO, "main", &[(VALUES, &values("1.4.2"))], "web 1.4.2");
    argo.add_app("web");
    argo.deploy(
        "web",
        &good,
        chrono::Utc::now() - chrono::Duration::hours(2),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("opsmate.toml"),
        config(&argo.url, &github.url),
    )
    .unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port).await;
    // Enough healthy samples of 1.4.1 to make it a candidate.
    let sampled = eventually(Duration::from_secs(30), || async {
        argo.calls().len() >= 5
    })
    .await;
    assert!(sampled, "Argo CD was not polled: {:?}", argo.calls());

    let held = github.git.hold("/labels", "POST");
    argo.deploy("web", &bad, chrono::Utc::now());
    argo.set_health("web", "Degraded");
    argo.set_pods("web", 1, 3);
    tokio::time::timeout(Duration::from_secs(30), held.reached())
        .await
        .expect("the pull request was never labelled");
    child.kill().unwrap();
    child.wait().unwrap();
    held.release();
    let pulls = github.git.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    assert!(!pulls[0].merged);

    let mut child = start(dir.path(), port).await;
    // Merged on GitHub, and the merge recorded (the poller moves the state on after
    // the action ends; a stop in between would leave it for the next start).
    let db = dir.path().join("opsmate.db");
    let merged = eventually(Duration::from_secs(30), || async {
        github.git.pulls(REPO).first().is_some_and(|p| p.merged)
            && rusqlite::Connection::open(&db)
                .and_then(|c| {
                    c.query_row(
                        "SELECT state FROM rollback_apps WHERE app = 'web'",
                        [],
                        |r| r.get::<_, String>(0),
                    )
                })
                .is_ok_and(|s| s == "merged" || s == "verifying")
    })
    .await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let pulls = github.git.pulls(REPO);
    assert!(merged, "{pulls:#?}");
    assert_eq!(pulls.len(), 1, "a second pull request: {pulls:#?}");
    assert!(
        pulls[0].labels.contains(&"rollback".to_owned()),
        "{pulls:#?}"
    );
    assert_eq!(
        github.git.file(REPO, "main", VALUES).unwrap(),
        values("1.4.1")
    );

    // `opsmate rollback status --json` reads where it stands from the database.
    let mut status = opsmate(dir.path());
    status
        .env("OPSMATE_CONFIG", dir.path().join("opsmate.toml"))
        .args(["rollback", "status", "--json"]);
    let out = output(status).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let apps: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(apps[0]["app"], "web");
    assert_eq!(apps[0]["environment"], "staging");
    assert!(
        ["merged", "verifying"].contains(&apps[0]["state"].as_str().unwrap()),
        "{apps:#}"
    );
    assert!(
        apps[0]["pull_request"]
            .as_str()
            .unwrap()
            .contains("/pull/1"),
        "{apps:#}"
    );

    let audit = opsmate(dir.path())
        .env("OPSMATE_CONFIG", dir.path().join("opsmate.toml"))
        .args(["audit", "export", "--format", "jsonl"])
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert_eq!(rows.matches("\"rollback.pr_open\"").count(), 1, "{rows}");
    assert_eq!(rows.matches("\"rollback.merged\"").count(), 1, "{rows}");
    assert_eq!(
        rows.matches("\"approval.approved_unattended\"").count(),
        1,
        "{rows}"
    );
}
