//! EC2 calls, each taking typed input and following every page at the largest size.

use anyhow::Context;

/// Largest page `DescribeVolumes` accepts.
pub const DESCRIBE_VOLUMES_PAGE: i32 = 500;

/// The facts about a volume that OpsMate reasons about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSummary {
    pub id: String,
    pub state: String,
    pub size_gib: i32,
    pub volume_type: String,
    pub attached_to: Vec<String>,
}

/// Every volume in the client's region, all pages.
pub async fn list_volumes(client: &aws_sdk_ec2::Client) -> anyhow::Result<Vec<VolumeSummary>> {
    let mut pages = client
        .describe_volumes()
        .max_results(DESCRIBE_VOLUMES_PAGE)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.context("DescribeVolumes")?;
        for v in page.volumes() {
            out.push(VolumeSummary {
                id: v.volume_id().unwrap_or_default().to_owned(),
                state: v.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                size_gib: v.size().unwrap_or_default(),
                volume_type: v
                    .volume_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                attached_to: v
                    .attachments()
                    .iter()
                    .filter_map(|a| a.instance_id().map(str::to_owned))
                    .collect(),
            });
        }
    }
    Ok(out)
}
