//! EC2 instance calls for Night Watchman and Incidents: listing by tags and state
//! (largest pages, every page), stopping, starting and rebooting, and the tag that
//! marks what OpsMate stopped.

use super::ec2::{MAX_PAGE, Tags, describe_error};
use super::ids::InstanceId;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Tag};
use std::collections::BTreeMap;

/// The facts about an instance Night Watchman reasons about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSummary {
    pub id: InstanceId,
    pub instance_type: String,
    /// `running`, `stopped`, …
    pub state: String,
    pub tags: Tags,
}

impl InstanceSummary {
    pub fn name(&self) -> Option<&str> {
        self.tags.get("Name").map(String::as_str)
    }

    /// The Auto Scaling group that owns it, if any: stopping such an instance only
    /// makes the group replace it.
    pub fn auto_scaling_group(&self) -> Option<&str> {
        self.tags
            .get("aws:autoscaling:groupName")
            .map(String::as_str)
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn summaries(
    out: &aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput,
) -> Vec<InstanceSummary> {
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            // EC2 always names its instances; one it did not could not be acted on.
            let id = InstanceId::parse(i.instance_id().unwrap_or_default()).ok()?;
            Some((id, i))
        })
        .map(|(id, i)| InstanceSummary {
            id,
            instance_type: i
                .instance_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            state: i
                .state()
                .and_then(|s| s.name())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            tags: i
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
        })
        .collect()
}

/// Instances in `state` matching `filters`, all pages at the largest size.
async fn in_state(
    client: &Client,
    state: &str,
    filters: Vec<Filter>,
) -> anyhow::Result<Vec<InstanceSummary>> {
    Ok(every_page!(
        client
            .describe_instances()
            .set_filters(Some(
                std::iter::once(filter("instance-state-name", state))
                    .chain(filters)
                    .collect(),
            ))
            .max_results(MAX_PAGE),
        "DescribeInstances",
        |page| summaries(&page)
    ))
}

/// Instances in `state` carrying every tag in `tags` (EC2 filters on its side).
pub async fn with_tags(
    client: &Client,
    tags: &BTreeMap<String, String>,
    state: &str,
) -> anyhow::Result<Vec<InstanceSummary>> {
    let filters = tags
        .iter()
        .map(|(k, v)| filter(&format!("tag:{k}"), v))
        .collect();
    in_state(client, state, filters).await
}

/// Instances in `state` carrying the tag key `key`, whatever its value.
pub async fn with_tag_key(
    client: &Client,
    key: &str,
    state: &str,
) -> anyhow::Result<Vec<InstanceSummary>> {
    in_state(client, state, vec![filter("tag-key", key)]).await
}

/// The listed instances as they are now (missing ones are left out).
pub async fn now(client: &Client, ids: &[InstanceId]) -> anyhow::Result<Vec<InstanceSummary>> {
    let mut out = Vec::new();
    // DescribeInstances fails the whole call for one unknown id; ask one by one then.
    match client
        .describe_instances()
        .set_instance_ids(Some(strings(ids)))
        .send()
        .await
    {
        Ok(page) => out.extend(summaries(&page)),
        Err(e) if super::ec2::is_not_found(&e) => {
            for id in ids {
                match client
                    .describe_instances()
                    .instance_ids(id.as_str())
                    .send()
                    .await
                {
                    Ok(page) => out.extend(summaries(&page)),
                    Err(e) if super::ec2::is_not_found(&e) => {}
                    Err(e) => anyhow::bail!("DescribeInstances {id}: {}", describe_error(&e)),
                }
            }
        }
        Err(e) => anyhow::bail!("DescribeInstances: {}", describe_error(&e)),
    }
    Ok(out)
}

fn strings(ids: &[InstanceId]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

/// Each instance id with the state EC2 says it is moving to.
fn changes(list: &[aws_sdk_ec2::types::InstanceStateChange]) -> Vec<(String, String)> {
    list.iter()
        .map(|c| {
            (
                c.instance_id().unwrap_or_default().to_owned(),
                c.current_state()
                    .and_then(|s| s.name())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Stops instances; returns each id with the state EC2 reports it moving to.
pub async fn stop(client: &Client, ids: &[InstanceId]) -> anyhow::Result<Vec<(String, String)>> {
    let out = client
        .stop_instances()
        .set_instance_ids(Some(strings(ids)))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("StopInstances: {}", describe_error(&e)))?;
    Ok(changes(out.stopping_instances()))
}

/// Starts instances; returns each id with the state EC2 reports it moving to.
pub async fn start(client: &Client, ids: &[InstanceId]) -> anyhow::Result<Vec<(String, String)>> {
    let out = client
        .start_instances()
        .set_instance_ids(Some(strings(ids)))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("StartInstances: {}", describe_error(&e)))?;
    Ok(changes(out.starting_instances()))
}

/// Reboots instances (EC2 answers at once; the reboot happens after).
pub async fn reboot(client: &Client, ids: &[InstanceId]) -> anyhow::Result<()> {
    client
        .reboot_instances()
        .set_instance_ids(Some(strings(ids)))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("RebootInstances: {}", describe_error(&e)))?;
    Ok(())
}

/// Sets one tag on instances.
pub async fn tag(
    client: &Client,
    ids: &[InstanceId],
    key: &str,
    value: &str,
) -> anyhow::Result<()> {
    client
        .create_tags()
        .set_resources(Some(strings(ids)))
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateTags: {}", describe_error(&e)))?;
    Ok(())
}

/// Removes one tag from instances.
pub async fn untag(client: &Client, ids: &[InstanceId], key: &str) -> anyhow::Result<()> {
    client
        .delete_tags()
        .set_resources(Some(strings(ids)))
        .tags(Tag::builder().key(key).build())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DeleteTags: {}", describe_error(&e)))?;
    Ok(())
}
