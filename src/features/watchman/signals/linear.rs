//! Linear: open issues with Urgent priority in the configured teams keep staging up.
//! One GraphQL query over reqwest, authenticated with `LINEAR_API_KEY`.

use super::{Reading, Signal};
use crate::config::Secret;
use serde_json::{Value, json};

const NAME: &str = "Linear";

/// Priority 1 is Urgent in Linear; completed and canceled issues are not open.
const QUERY: &str = "query UrgentIssues($teams: [String!]) {
  issues(first: 10, filter: {
    priority: { eq: 1 },
    team: { key: { in: $teams } },
    state: { type: { nin: [\"completed\", \"canceled\"] } }
  }) { nodes { identifier title url } }
}";

/// Urgent open issues in `teams`.
pub async fn urgent_issues(
    http: &reqwest::Client,
    url: &str,
    key: Option<&Secret>,
    teams: &[String],
) -> Signal {
    let Some(key) = key else {
        return Signal::new(
            NAME,
            Reading::Unreadable("LINEAR_API_KEY is not set".into()),
        );
    };
    let sent = http
        .post(url)
        .header("authorization", key.expose())
        .json(&json!({"query": QUERY, "variables": {"teams": teams}}))
        .send()
        .await;
    let body: Value = match sent {
        Err(e) => return Signal::new(NAME, Reading::Unreadable(format!("request failed: {e}"))),
        Ok(r) if !r.status().is_success() => {
            return Signal::new(
                NAME,
                Reading::Unreadable(format!("Linear answered {}", r.status())),
            );
        }
        Ok(r) => match r.json().await {
            Ok(v) => v,
            Err(e) => {
                return Signal::new(NAME, Reading::Unreadable(format!("unreadable answer: {e}")));
            }
        },
    };
    if let Some(err) = body.pointer("/errors/0/message").and_then(Value::as_str) {
        return Signal::new(NAME, Reading::Unreadable(format!("Linear said: {err}")));
    }
    let Some(nodes) = body.pointer("/data/issues/nodes").and_then(Value::as_array) else {
        return Signal::new(
            NAME,
            Reading::Unreadable("the answer has no issues list".into()),
        );
    };
    let teams = teams.join(", ");
    if nodes.is_empty() {
        return Signal::new(
            NAME,
            Reading::Quiet(format!("no open urgent issues in {teams}")),
        );
    }
    let listed: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "{} {}",
                n["identifier"].as_str().unwrap_or("?"),
                n["title"].as_str().unwrap_or_default()
            )
        })
        .collect();
    Signal::new(
        NAME,
        Reading::Busy(format!(
            "urgent issue(s) open in {teams}: {}",
            listed.join("; ")
        )),
    )
}
