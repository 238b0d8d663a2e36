//! `opsmate zombies`: the findings as a table or JSON with no chat, against moto.

use crate::cli::{against_aws, opsmate, output};
use crate::support::aws_proxy::AwsProxy;
use crate::support::hunter::{address, volume};
use crate::support::moto::Moto;
use aws_sdk_ec2::types::VolumeType;
use serde_json::Value;
use std::process::{Command, Output};

async fn client(moto: &Moto, region: &str) -> aws_sdk_ec2::Client {
    moto.aws(region).await.ec2(region)
}

/// `opsmate zombies …` over two regions through the proxy, volumes due at once.
fn zombies(dir: &std::path::Path, proxy: &AwsProxy, args: &[&str]) -> Command {
    let mut cmd = opsmate(dir);
    against_aws(&mut cmd, &proxy.endpoint)
        .arg("zombies")
        .args(args)
        .env("OPSMATE_AWS__REGIONS", r#"["us-east-1", "eu-west-1"]"#)
        .env("OPSMATE_HUNTER__VOLUME_MIN_IDLE_DAYS", "0");
    cmd
}

fn json(out: &Output) -> Vec<Value> {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombies_prints_json_with_the_documented_fields_and_a_table() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let proxy = AwsProxy::start(&moto.endpoint).await;
    let vol = volume(&client(&moto, "us-east-1").await, 10, VolumeType::Gp2, &[]).await;
    let ip = address(&client(&moto, "eu-west-1").await).await;
    let dir = tempfile::tempdir().unwrap();

    let out = output(zombies(dir.path(), &proxy, &["--json"])).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = json(&out);
    assert_eq!(found.len(), 2);
    let v = found
        .iter()
        .find(|f| f["id"] == vol.as_str())
        .expect("the volume");
    assert_eq!(v["kind"], "volume");
    assert_eq!(v["region"], "us-east-1");
    assert_eq!(v["monthly_cost_usd"], 1.0);
    assert!(v["first_seen"].as_str().unwrap().starts_with("20"), "{v}");
    let e = found
        .iter()
        .find(|f| f["id"] == ip.as_str())
        .expect("the address");
    assert_eq!(
        (e["kind"].as_str(), e["region"].as_str()),
        (Some("elastic_ip"), Some("eu-west-1"))
    );
    assert_eq!(e["monthly_cost_usd"], 3.65);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scanned us-east-1: "), "{err}");

    let only_west = json(
        &output(zombies(
            dir.path(),
            &proxy,
            &["--json", "--region", "eu-west-1"],
        ))
        .await,
    );
    assert_eq!(only_west.len(), 1);
    assert_eq!(only_west[0]["id"], ip.as_str());

    let table = output(zombies(dir.path(), &proxy, &[])).await;
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains(&vol) && table.contains(&ip), "{table}");
    assert!(table.contains("2 idle resource(s), $4.65/month"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombies_exits_1_and_names_a_region_it_could_not_scan() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let proxy = AwsProxy::start(&moto.endpoint).await;
    let vol = volume(&client(&moto, "us-east-1").await, 10, VolumeType::Gp2, &[]).await;
    proxy.fail_region("eu-west-1");
    let dir = tempfile::tempdir().unwrap();
    let out = output(zombies(dir.path(), &proxy, &["--json"])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not scan eu-west-1"), "{err}");
    let found = json(&out);
    assert_eq!(found.len(), 1, "the reachable region is still listed");
    assert_eq!(found[0]["id"], vol.as_str());
}

#[test]
fn hunter_settings_are_checked_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (body, key) in [
        (
            "[hunter]\nvolume_min_idle_dayz = 3\n",
            "hunter.volume_min_idle_dayz",
        ),
        (
            "[hunter]\nassume_roles = [\"arn:aws:iam::1:user/x\"]\n",
            "hunter.assume_roles[0]",
        ),
        ("[hunter]\nschedule = \"0 25 * * *\"\n", "hunter.schedule"),
    ] {
        let file = dir.path().join("opsmate.toml");
        std::fs::write(&file, body).unwrap();
        let out = opsmate(dir.path())
            .arg("--config")
            .arg(&file)
            .args(["config", "check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{body}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{body} → {err}");
    }
}
