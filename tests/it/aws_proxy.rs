//! The AWS proxy in front of a real moto server: AWS-style paging and injected faults,
//! as the SDK sees them.

use crate::support::aws_proxy::AwsProxy;
use crate::support::eventually;
use crate::support::moto::Moto;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Snapshot, SnapshotState};
use opsmate::cloud::Aws;
use opsmate::config::AwsConfig;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// moto, the proxy in front of it, and an SDK handle pointed at the proxy.
async fn proxied_aws() -> (Moto, AwsProxy, Aws) {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let proxy = AwsProxy::start(&moto.endpoint).await;
    let config = AwsConfig {
        regions: vec!["eu-west-1".into()],
        endpoint_url: Some(proxy.endpoint.clone()),
        ..AwsConfig::default()
    };
    let aws = Aws::with_static_credentials(&config, "testing", "testing").await;
    (moto, proxy, aws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_volumes_is_paged_like_aws() {
    let (_moto, proxy, aws) = proxied_aws().await;
    let client = aws.ec2("eu-west-1");
    for _ in 0..12 {
        client
            .create_volume()
            .availability_zone("eu-west-1a")
            .size(8)
            .send()
            .await
            .expect("CreateVolume through the proxy");
    }
    proxy.clear_calls();

    let mut pages = client
        .describe_volumes()
        .max_results(5)
        .into_paginator()
        .send();
    let mut page_sizes = Vec::new();
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        let volumes = page.expect("a page of DescribeVolumes").volumes;
        let volumes = volumes.unwrap_or_default();
        page_sizes.push(volumes.len());
        ids.extend(volumes.into_iter().filter_map(|v| v.volume_id));
    }

    assert_eq!(page_sizes, vec![5, 5, 2]);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 12);
    let calls = proxy.calls_to("DescribeVolumes");
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|c| c.status == 200 && c.region == "eu-west-1")
    );
    let tokens: Vec<_> = calls.iter().map(|c| c.param("NextToken")).collect();
    assert_eq!(tokens, vec![None, Some("p-5"), Some("p-10")]);

    // Above AWS's cap the request is rejected, as AWS would.
    let err = client
        .describe_volumes()
        .max_results(1001)
        .send()
        .await
        .expect_err("MaxResults above 1000");
    assert_eq!(err.code(), Some("InvalidParameterValue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_a_failed_region_errors() {
    let (_moto, proxy, aws) = proxied_aws().await;
    let client = aws.ec2("eu-west-1");

    proxy.throttle_next("DescribeVolumes", 2);
    client
        .describe_volumes()
        .send()
        .await
        .expect("the SDK retries past two throttled attempts");
    let statuses: Vec<u16> = proxy
        .calls_to("DescribeVolumes")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![503, 503, 200]);

    proxy.clear_calls();
    proxy.fail_region("eu-west-1");
    let err = client
        .describe_volumes()
        .send()
        .await
        .expect_err("a failed region errors");
    assert_eq!(err.code(), Some("Unavailable"));
    let calls = proxy.calls_to("DescribeVolumes");
    assert!(calls.len() > 1, "the SDK retries a 503: {calls:?}");
    assert!(calls.iter().all(|c| c.status == 503));

    // Only that region is down.
    aws.ec2("us-east-1")
        .describe_volumes()
        .send()
        .await
        .expect("another region still answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_snapshots_stay_pending_for_the_set_time() {
    let (_moto, proxy, aws) = proxied_aws().await;
    let client = aws.ec2("eu-west-1");
    let volume = client
        .create_volume()
        .availability_zone("eu-west-1a")
        .size(8)
        .send()
        .await
        .expect("CreateVolume through the proxy")
        .volume_id()
        .expect("a volume id")
        .to_owned();

    proxy.pend_new_snapshots(Duration::from_secs(2));
    let asked = Instant::now();
    let snapshot = client
        .create_snapshot()
        .volume_id(&volume)
        .send()
        .await
        .expect("CreateSnapshot through the proxy")
        .snapshot_id()
        .expect("a snapshot id")
        .to_owned();
    let described = || async {
        let out = client
            .describe_snapshots()
            .snapshot_ids(&snapshot)
            .send()
            .await
            .expect("DescribeSnapshots through the proxy");
        let snapshots: Vec<Snapshot> = out.snapshots().to_vec();
        assert_eq!(snapshots.len(), 1, "{snapshots:?}");
        snapshots.into_iter().next().unwrap()
    };

    let first = described().await;
    assert_eq!(first.state(), Some(&SnapshotState::Pending), "{first:?}");
    let progress = first.progress().expect("a progress while pending");
    assert!(progress.ends_with('%') && progress != "100%", "{progress}");

    let completed = eventually(Duration::from_secs(10), || async {
        described().await.state() == Some(&SnapshotState::Completed)
    })
    .await;
    assert!(completed, "the snapshot never completed");
    assert!(
        asked.elapsed() >= Duration::from_secs(2),
        "completed after {:?}, before its 2 s were up",
        asked.elapsed()
    );
    assert_eq!(described().await.progress(), Some("100%"));
    assert_eq!(proxy.snapshots_created(), vec![(volume, snapshot)]);
}
