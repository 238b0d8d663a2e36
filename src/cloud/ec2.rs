//! EC2 calls, each taking typed input, asking for the largest page the API allows and
//! following every page. A failed page fails the whole listing: a throttled or broken
//! call must never look like a resource that is gone.

use super::ids::{AddressId, SnapshotId, VolumeId};
use anyhow::Context;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};

/// Largest page `DescribeVolumes`, `DescribeSnapshots` and `DescribeImages` accept.
pub const MAX_PAGE: i32 = 1000;

/// Tags of a resource, by key.
pub type Tags = BTreeMap<String, String>;

/// The facts about a volume that OpsMate reasons about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSummary {
    pub id: String,
    pub state: String,
    pub size_gib: i32,
    pub volume_type: String,
    /// Provisioned IOPS (gp3, io1, io2).
    pub iops: Option<i32>,
    /// Provisioned throughput in MB/s (gp3).
    pub throughput: Option<i32>,
    pub created: Option<DateTime<Utc>>,
    pub attached_to: Vec<String>,
    pub tags: Tags,
}

/// An own EBS snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub id: String,
    pub volume_id: Option<String>,
    pub volume_size_gib: i32,
    /// Bytes the snapshot holds in full, when AWS reports it.
    pub full_size_bytes: Option<i64>,
    pub started: Option<DateTime<Utc>>,
    /// `standard` or `archive`.
    pub storage_tier: String,
    pub state: String,
    pub tags: Tags,
}

/// An Elastic IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSummary {
    pub public_ip: String,
    /// Set for VPC addresses (all current ones); releasing uses it.
    pub allocation_id: Option<String>,
    pub association_id: Option<String>,
    pub instance_id: Option<String>,
    pub network_interface_id: Option<String>,
    pub tags: Tags,
}

impl AddressSummary {
    /// Attached to nothing: no association, instance or network interface.
    pub fn is_idle(&self) -> bool {
        self.association_id.is_none()
            && self.instance_id.is_none()
            && self.network_interface_id.is_none()
    }

    /// The id to act on: the allocation id, else the public IP (EC2-Classic).
    pub fn id(&self) -> &str {
        self.allocation_id.as_deref().unwrap_or(&self.public_ip)
    }
}

/// True when the error says the resource does not exist (any `*.NotFound` code).
pub fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code().is_some_and(|c| c.ends_with(".NotFound"))
}

pub use super::describe_error;

fn time(t: Option<&aws_sdk_ec2::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn tags(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn volume(v: &aws_sdk_ec2::types::Volume) -> VolumeSummary {
    VolumeSummary {
        id: v.volume_id().unwrap_or_default().to_owned(),
        state: v.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        size_gib: v.size().unwrap_or_default(),
        volume_type: v
            .volume_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        iops: v.iops(),
        throughput: v.throughput(),
        created: time(v.create_time()),
        attached_to: v
            .attachments()
            .iter()
            .filter_map(|a| a.instance_id().map(str::to_owned))
            .collect(),
        tags: tags(v.tags()),
    }
}

fn snapshot(s: &aws_sdk_ec2::types::Snapshot) -> SnapshotSummary {
    SnapshotSummary {
        id: s.snapshot_id().unwrap_or_default().to_owned(),
        volume_id: s.volume_id().map(str::to_owned),
        volume_size_gib: s.volume_size().unwrap_or_default(),
        full_size_bytes: s.full_snapshot_size_in_bytes(),
        started: time(s.start_time()),
        storage_tier: s
            .storage_tier()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_else(|| "standard".into()),
        state: s.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        tags: tags(s.tags()),
    }
}

/// Some endpoints send an empty element for "none"; both mean absent.
fn present(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

fn address(a: &aws_sdk_ec2::types::Address) -> AddressSummary {
    AddressSummary {
        public_ip: a.public_ip().unwrap_or_default().to_owned(),
        allocation_id: present(a.allocation_id()),
        association_id: present(a.association_id()),
        instance_id: present(a.instance_id()),
        network_interface_id: present(a.network_interface_id()),
        tags: tags(a.tags()),
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Every volume in the client's region, all pages.
pub async fn list_volumes(client: &Client) -> anyhow::Result<Vec<VolumeSummary>> {
    Ok(every_page!(
        client.describe_volumes().max_results(MAX_PAGE),
        "DescribeVolumes",
        |page| page.volumes().iter().map(volume)
    ))
}

/// Unattached (`available`) volumes, filtered by EC2 so only they are transferred.
pub async fn available_volumes(client: &Client) -> anyhow::Result<Vec<VolumeSummary>> {
    Ok(every_page!(
        client
            .describe_volumes()
            .filters(filter("status", "available"))
            .max_results(MAX_PAGE),
        "DescribeVolumes",
        |page| page.volumes().iter().map(volume)
    ))
}

/// Snapshots this account owns.
pub async fn own_snapshots(client: &Client) -> anyhow::Result<Vec<SnapshotSummary>> {
    Ok(every_page!(
        client
            .describe_snapshots()
            .owner_ids("self")
            .max_results(MAX_PAGE),
        "DescribeSnapshots",
        |page| page.snapshots().iter().map(snapshot)
    ))
}

/// Snapshot ids used by any own AMI, disabled and deprecated ones included.
pub async fn ami_snapshot_ids(client: &Client) -> anyhow::Result<HashSet<String>> {
    let ids = every_page!(
        client
            .describe_images()
            .owners("self")
            .include_deprecated(true)
            .include_disabled(true)
            .max_results(MAX_PAGE),
        "DescribeImages",
        |page| page.images().iter().flat_map(|image| {
            image
                .block_device_mappings()
                .iter()
                .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_owned))
        })
    );
    Ok(ids.into_iter().collect())
}

/// Every Elastic IP in the region (the API returns them all in one answer).
pub async fn addresses(client: &Client) -> anyhow::Result<Vec<AddressSummary>> {
    let out = client
        .describe_addresses()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeAddresses: {}", describe_error(&e)))?;
    Ok(out.addresses().iter().map(address).collect())
}

/// One volume as it is now; `None` if it no longer exists.
pub async fn volume_now(client: &Client, id: &VolumeId) -> anyhow::Result<Option<VolumeSummary>> {
    match client
        .describe_volumes()
        .volume_ids(id.as_str())
        .send()
        .await
    {
        Ok(out) => Ok(out.volumes().first().map(volume)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => anyhow::bail!("DescribeVolumes {id}: {}", describe_error(&e)),
    }
}

/// One own snapshot as it is now; `None` if it no longer exists.
pub async fn snapshot_now(
    client: &Client,
    id: &SnapshotId,
) -> anyhow::Result<Option<SnapshotSummary>> {
    match client
        .describe_snapshots()
        .snapshot_ids(id.as_str())
        .send()
        .await
    {
        Ok(out) => Ok(out.snapshots().first().map(snapshot)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => anyhow::bail!("DescribeSnapshots {id}: {}", describe_error(&e)),
    }
}

/// The own AMI (disabled and deprecated included) that uses a snapshot, if any.
pub async fn ami_using_snapshot(
    client: &Client,
    snapshot_id: &SnapshotId,
) -> anyhow::Result<Option<String>> {
    let snapshot_id = snapshot_id.as_str();
    let out = client
        .describe_images()
        .owners("self")
        .include_deprecated(true)
        .include_disabled(true)
        .filters(filter("block-device-mapping.snapshot-id", snapshot_id))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeImages: {}", describe_error(&e)))?;
    // Checked again here: a filter the endpoint ignored must not hide a use.
    Ok(out
        .images()
        .iter()
        .find(|i| {
            i.block_device_mappings()
                .iter()
                .any(|m| m.ebs().and_then(|e| e.snapshot_id()) == Some(snapshot_id))
        })
        .map(|i| i.image_id().unwrap_or("an AMI").to_owned()))
}

/// One Elastic IP by allocation id (or public IP); `None` if it is released.
pub async fn address_now(
    client: &Client,
    id: &AddressId,
) -> anyhow::Result<Option<AddressSummary>> {
    let request = match id {
        AddressId::Allocation(a) => client.describe_addresses().allocation_ids(a.as_str()),
        AddressId::PublicIp(ip) => client.describe_addresses().public_ips(ip.to_string()),
    };
    match request.send().await {
        Ok(out) => Ok(out.addresses().first().map(address)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => anyhow::bail!("DescribeAddresses {id}: {}", describe_error(&e)),
    }
}

/// What a delete call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Now,
    /// The resource was already gone (`*.NotFound`).
    AlreadyGone,
}

fn deleted<E, R>(result: Result<impl Sized, SdkError<E, R>>, what: &str) -> anyhow::Result<Deleted>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(Deleted::Now),
        Err(e) if is_not_found(&e) => Ok(Deleted::AlreadyGone),
        Err(e) => anyhow::bail!("{what}: {}", describe_error(&e)),
    }
}

pub async fn delete_volume(client: &Client, id: &VolumeId) -> anyhow::Result<Deleted> {
    deleted(
        client.delete_volume().volume_id(id.as_str()).send().await,
        &format!("DeleteVolume {id}"),
    )
}

pub async fn delete_snapshot(client: &Client, id: &SnapshotId) -> anyhow::Result<Deleted> {
    deleted(
        client
            .delete_snapshot()
            .snapshot_id(id.as_str())
            .send()
            .await,
        &format!("DeleteSnapshot {id}"),
    )
}

/// Releases an Elastic IP by allocation id (or, for EC2-Classic, public IP).
pub async fn release_address(client: &Client, id: &AddressId) -> anyhow::Result<Deleted> {
    let request = match id {
        AddressId::Allocation(a) => client.release_address().allocation_id(a.as_str()),
        AddressId::PublicIp(ip) => client.release_address().public_ip(ip.to_string()),
    };
    deleted(request.send().await, &format!("ReleaseAddress {id}"))
}

/// Asks for a snapshot of a volume, with `tags` set atomically by the same call, and
/// returns its id at once (it completes later: see [`snapshot_states`]). `None` if
/// the volume is already gone.
pub async fn request_snapshot(
    client: &Client,
    volume_id: &VolumeId,
    description: &str,
    tags: &Tags,
) -> anyhow::Result<Option<SnapshotId>> {
    let spec = TagSpecification::builder()
        .resource_type(ResourceType::Snapshot)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build();
    let created = match client
        .create_snapshot()
        .volume_id(volume_id.as_str())
        .description(description)
        .tag_specifications(spec)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => anyhow::bail!("CreateSnapshot of {volume_id}: {}", describe_error(&e)),
    };
    let id = created
        .snapshot_id()
        .context("CreateSnapshot returned no snapshot id")?;
    Ok(Some(SnapshotId::parse(id)?))
}

/// The own snapshot carrying every one of `tags` (e.g. the final snapshot an
/// approval already asked for), if any, leaving out failed ones. Lets a resumed
/// deletion find the snapshot it requested before a restart instead of taking a
/// second one.
pub async fn tagged_snapshot(
    client: &Client,
    tags: &[(&str, &str)],
) -> anyhow::Result<Option<SnapshotId>> {
    let mut request = client.describe_snapshots().owner_ids("self");
    for (k, v) in tags {
        request = request.filters(filter(&format!("tag:{k}"), v));
    }
    let out = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeSnapshots: {}", describe_error(&e)))?;
    Ok(out
        .snapshots()
        .iter()
        .filter(|s| s.state().map(|st| st.as_str()) != Some("error"))
        // Checked again here: a filter the endpoint ignored must not pick a stranger.
        .find(|s| {
            tags.iter().all(|(k, v)| {
                s.tags()
                    .iter()
                    .any(|t| t.key() == Some(*k) && t.value() == Some(*v))
            })
        })
        .and_then(|s| s.snapshot_id())
        .map(SnapshotId::parse)
        .transpose()?)
}

/// Where a snapshot is: `pending`, `completed`, `error` (AWS's words), with the
/// progress AWS reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotProgress {
    pub state: String,
    pub progress: Option<String>,
}

/// The state of each snapshot in `ids`, in one call; a snapshot that no longer exists
/// is absent from the answer.
pub async fn snapshot_states(
    client: &Client,
    ids: &[SnapshotId],
) -> anyhow::Result<std::collections::HashMap<SnapshotId, SnapshotProgress>> {
    let mut out = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let progress = |s: &aws_sdk_ec2::types::Snapshot| SnapshotProgress {
        state: s
            .state()
            .map(|st| st.as_str().to_owned())
            .unwrap_or_default(),
        progress: s.progress().map(str::to_owned),
    };
    match client
        .describe_snapshots()
        .set_snapshot_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
        .send()
        .await
    {
        Ok(answer) => {
            for s in answer.snapshots() {
                if let Some(id) = s.snapshot_id().and_then(|id| SnapshotId::parse(id).ok()) {
                    out.insert(id, progress(s));
                }
            }
        }
        // One missing id fails the whole call: ask one by one to find which.
        Err(e) if is_not_found(&e) => {
            for id in ids {
                if let Some(s) = snapshot_now(client, id).await? {
                    out.insert(
                        id.clone(),
                        SnapshotProgress {
                            state: s.state,
                            progress: None,
                        },
                    );
                }
            }
        }
        Err(e) => anyhow::bail!("DescribeSnapshots: {}", describe_error(&e)),
    }
    Ok(out)
}
