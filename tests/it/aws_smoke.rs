//! The AWS SDK reaches a real moto server through the endpoint override.

use crate::support::moto::Moto;
use opsmate::cloud::{Aws, ec2};
use opsmate::config::AwsConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_volumes_goes_through_the_endpoint_override() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let config = AwsConfig {
        regions: vec!["eu-west-1".into()],
        endpoint_url: Some(moto.endpoint.clone()),
        ..AwsConfig::default()
    };
    let aws = Aws::with_static_credentials(&config, "testing", "testing").await;
    let client = aws.ec2("eu-west-1");

    for size in [8, 16, 32] {
        client
            .create_volume()
            .availability_zone("eu-west-1a")
            .size(size)
            .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
            .send()
            .await
            .expect("CreateVolume against moto");
    }
    let mut volumes = ec2::list_volumes(&client)
        .await
        .expect("DescribeVolumes against moto");
    volumes.sort_by_key(|v| v.size_gib);
    assert_eq!(
        volumes.iter().map(|v| v.size_gib).collect::<Vec<_>>(),
        vec![8, 16, 32]
    );
    assert!(
        volumes
            .iter()
            .all(|v| v.state == "available" && v.volume_type == "gp3")
    );
    assert!(volumes.iter().all(|v| v.id.starts_with("vol-")));

    // The other region is empty: the region really is applied per client.
    let other = ec2::list_volumes(&aws.ec2("us-east-1")).await.unwrap();
    assert!(other.is_empty());
}
