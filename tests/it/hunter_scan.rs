//! Zombie Hunter's scan against moto: exactly the right findings and prices, the idle
//! clock kept in SQLite, pagination, throttling, and a region that fails.

use crate::support::hunter::*;
use aws_sdk_ec2::types::VolumeType;
use chrono::Duration;
use opsmate::clock::Clock;
use opsmate::features::hunter::{Finding, ZombieKind, findings};
use std::collections::BTreeMap;

fn by_id(found: &[Finding]) -> BTreeMap<String, (ZombieKind, f64)> {
    found
        .iter()
        .map(|f| (f.id.clone(), (f.kind, f.monthly_cost_usd)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_and_prices_match_what_moto_holds() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let gp3 = volume(
        &ec2,
        100,
        VolumeType::Gp3,
        &[("Name", "old-db"), ("Owner", "ana")],
    )
    .await;
    let gp2 = volume(&ec2, 50, VolumeType::Gp2, &[]).await;
    let io1 = io1_volume(&ec2, 20, 1000).await;
    volume(&ec2, 10, VolumeType::Gp3, &[("opsmate:keep", "true")]).await;
    let in_use = volume(&ec2, 10, VolumeType::Gp3, &[]).await;
    let instance_id = instance(&ec2).await;
    attach(&ec2, &in_use, &instance_id).await;

    let source = volume(&ec2, 40, VolumeType::Gp2, &[]).await;
    let old = snapshot(&ec2, &source, &[]).await;
    snapshot(
        &ec2,
        &source,
        &[(
            "aws:backup:source-resource",
            "arn:aws:ec2:us-east-1:123456789012:volume/vol-1",
        )],
    )
    .await;
    snapshot(&ec2, &source, &[("opsmate:keep", "true")]).await;
    ami(&ec2).await;
    ec2.delete_volume().volume_id(&source).send().await.unwrap();

    let free_ip = address(&ec2).await;
    let used_ip = address(&ec2).await;
    ec2.associate_address()
        .allocation_id(&used_ip)
        .instance_id(&instance_id)
        .send()
        .await
        .unwrap();

    // Today every snapshot is new: only volumes and the free address qualify.
    let now = h.hunt().await;
    let expected_now: BTreeMap<String, (ZombieKind, f64)> = [
        (gp3.clone(), (ZombieKind::Volume, 8.00)),
        (gp2.clone(), (ZombieKind::Volume, 5.00)),
        (io1.clone(), (ZombieKind::Volume, 2.50 + 65.00)),
        (free_ip.clone(), (ZombieKind::ElasticIp, 3.65)),
    ]
    .into();
    assert_eq!(by_id(&now.findings), expected_now);
    assert_eq!(now.skipped.excluded, 1, "the kept volume");

    // A month later the plain snapshot is old; the backup, kept and AMI ones are not
    // proposed (two AMIs: the one seeded and the one the instance was started from).
    h.clock.advance(Duration::days(31));
    let later = h.hunt().await;
    let mut expected = expected_now.clone();
    expected.insert(old.clone(), (ZombieKind::Snapshot, 2.00));
    assert_eq!(by_id(&later.findings), expected);
    assert_eq!(
        (
            later.skipped.excluded,
            later.skipped.aws_backup,
            later.skipped.used_by_ami
        ),
        (2, 1, 2)
    );
    let snap = later.findings.iter().find(|f| f.id == old).unwrap();
    assert!(snap.cost_is_upper_bound);
    let named = later.findings.iter().find(|f| f.id == gp3).unwrap();
    assert_eq!(
        (named.name.as_deref(), named.owner.as_deref()),
        (Some("old-db"), Some("ana"))
    );
    assert_eq!(later.total_usd(), 8.00 + 5.00 + 67.50 + 3.65 + 2.00);
    // Most expensive first.
    assert_eq!(later.findings[0].id, io1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_wait_for_the_idle_days_and_gone_ones_are_resolved() {
    let h = HunterHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::hunter::config::HunterConfig| {
                section.volume_min_idle_days = 7
            },
        )
    })
    .await;
    let ec2 = h.ec2(REGION).await;
    let a = volume(&ec2, 8, VolumeType::Gp3, &[]).await;
    let b = volume(&ec2, 8, VolumeType::Gp3, &[]).await;
    let seen = h.clock.now();

    let first = h.hunt().await;
    assert!(first.findings.is_empty());
    assert_eq!(first.watching, 2);

    h.clock.advance(Duration::days(6));
    assert_eq!(h.hunt().await.watching, 2, "six days are not seven");

    h.clock.advance(Duration::days(2));
    let due = h.hunt().await;
    assert_eq!(due.findings.len(), 2);
    assert!(
        due.findings
            .iter()
            .all(|f| (f.first_seen - seen).num_seconds().abs() < 1)
    );

    ec2.delete_volume().volume_id(&b).send().await.unwrap();
    let after = h.hunt().await;
    assert_eq!(
        after
            .findings
            .iter()
            .map(|f| f.id.as_str())
            .collect::<Vec<_>>(),
        vec![a.as_str()]
    );
    assert_eq!(after.resolved, 1);
    let resolved = h
        .ctx()
        .store
        .with_conn(|c| findings::resolved_at(c, None, REGION, "volume", &b))
        .unwrap();
    assert!(resolved.is_some(), "the deleted volume is marked resolved");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_a_thousand_volumes_are_read_page_by_page() {
    let h = HunterHarness::start(|_| {}).await;
    let ec2 = h.ec2(REGION).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let ec2 = ec2.clone();
        tasks.spawn(async move {
            for _ in 0..110 {
                volume(&ec2, 1, VolumeType::Gp2, &[]).await;
            }
        });
    }
    tasks.join_all().await;

    let result = h.hunt().await;
    assert_eq!(result.findings.len(), 1100);
    let pages = h.proxy.calls_to("DescribeVolumes");
    assert_eq!(pages.len(), 2, "1,100 volumes are two pages of 1,000");
    assert!(pages.iter().all(|p| p.param("MaxResults") == Some("1000")));
    assert_eq!(pages[0].param("NextToken"), None);
    assert!(pages[1].param("NextToken").is_some());
    assert_eq!(h.proxy.calls_to("DescribeSnapshots").len(), 1);
    assert_eq!(h.proxy.calls_to("DescribeImages").len(), 1);
    assert_eq!(h.proxy.calls_to("DescribeAddresses").len(), 1);
    assert_eq!(result.api_calls(), 5, "the scan counts its own calls");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_region_is_reported_and_throttling_is_waited_out() {
    let h = HunterHarness::start(|c| c.aws.regions = vec![REGION.into(), "eu-west-1".into()]).await;
    let east = volume(&h.ec2(REGION).await, 8, VolumeType::Gp3, &[]).await;
    let west = volume(&h.ec2("eu-west-1").await, 8, VolumeType::Gp3, &[]).await;
    let both = h.hunt().await;
    assert_eq!(both.findings.len(), 2);

    h.proxy.fail_region("eu-west-1");
    h.proxy.throttle_next("DescribeSnapshots", 2);
    let result = h.hunt().await;
    assert_eq!(
        result
            .findings
            .iter()
            .map(|f| f.id.as_str())
            .collect::<Vec<_>>(),
        vec![east.as_str()]
    );
    let failed: Vec<&str> = result.failed_regions().map(|r| r.label.as_str()).collect();
    assert_eq!(failed, vec!["eu-west-1"]);
    assert!(
        result
            .failed_regions()
            .next()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("Unavailable")
    );
    assert_eq!(result.resolved, 0, "a region that failed resolves nothing");
    let still_open = h
        .ctx()
        .store
        .with_conn(|c| findings::resolved_at(c, None, "eu-west-1", "volume", &west))
        .unwrap();
    assert_eq!(still_open, None);
    let throttled: Vec<u16> = h
        .proxy
        .calls_to("DescribeSnapshots")
        .iter()
        .filter(|c| c.region == REGION)
        .map(|c| c.status)
        .collect();
    assert!(throttled.ends_with(&[503, 503, 200]), "{throttled:?}");

    // The posted report says which region is missing.
    let body = h.scheduled_report().await;
    let text = crate::support::slack::all_text(&body);
    assert!(text.contains("Could not scan eu-west-1"), "{text}");
    assert!(text.contains(&east), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_accounts_are_scanned_through_assumed_roles() {
    const ROLE: &str = "arn:aws:iam::111122223333:role/opsmate-hunter";
    let h = HunterHarness::start(|c| {
        c.edit_section(
            |section: &mut opsmate::features::hunter::config::HunterConfig| {
                section.assume_roles = vec![ROLE.into()]
            },
        )
    })
    .await;
    let own = volume(&h.ec2(REGION).await, 8, VolumeType::Gp3, &[]).await;
    let assumed = h.ctx().aws.assume_role(ROLE).await;
    let other_ec2 = assumed.ec2(REGION);
    let other = volume(&other_ec2, 8, VolumeType::Gp3, &[]).await;

    let result = h.hunt().await;
    let targets: BTreeMap<String, Option<String>> = result
        .findings
        .iter()
        .map(|f| (f.resource().target(), f.account.clone()))
        .collect();
    let expected: BTreeMap<String, Option<String>> = [
        (format!("{REGION}/{own}"), None),
        (
            format!("111122223333/{REGION}/{other}"),
            Some("111122223333".to_owned()),
        ),
    ]
    .into();
    assert_eq!(targets, expected);
    assert_eq!(result.regions.len(), 2, "one scan per (account, region)");
    assert!(
        !h.proxy.calls_to("AssumeRole").is_empty(),
        "credentials came from STS"
    );
    h.stop().await;
}
