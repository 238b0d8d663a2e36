//! Linear: do the issues a pull request names exist, and are they still wanted?
//! One GraphQL query for all of them (an `or` of team key and number), over reqwest,
//! authenticated with `LINEAR_API_KEY`.

use crate::config::Secret;
use regex::Regex;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// At most this many identifiers are looked up per pull request.
const MAX_IDENTIFIERS: usize = 5;

const QUERY: &str = "query SentinelIssues($filter: IssueFilter!) {
  issues(first: 10, filter: $filter) { nodes { identifier title state { type name } } }
}";

/// An issue as Linear answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub identifier: String,
    pub title: String,
    /// Linear's workflow state type: backlog, unstarted, started, completed, canceled.
    pub state_type: String,
    pub state_name: String,
}

/// What the lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Neither the title nor the branch names an issue.
    Unnamed,
    /// The identifiers asked for, and the issues Linear knows of them.
    Answered {
        asked: Vec<String>,
        found: Vec<Issue>,
    },
    /// Linear could not be asked or did not answer; the text says why.
    Unreadable(String),
}

/// The issue identifiers (`OPS-123`) in the title, then the branch, upper-cased,
/// without repeats.
pub fn identifiers(title: &str, branch: &str) -> Vec<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?i)(?:^|[^A-Za-z0-9])([A-Za-z][A-Za-z0-9]{0,9}-[0-9]{1,7})(?:$|[^A-Za-z0-9])")
            .expect("the identifier pattern compiles")
    });
    let mut out: Vec<String> = Vec::new();
    for text in [title, branch] {
        // Overlapping matches: step one character at a time past each find.
        let mut at = 0;
        while let Some(c) = re.captures_at(text, at) {
            let m = c.get(1).expect("group 1 exists");
            let id = m.as_str().to_ascii_uppercase();
            if !out.contains(&id) {
                out.push(id);
            }
            at = m.end();
        }
    }
    out.truncate(MAX_IDENTIFIERS);
    out
}

/// Looks the identifiers up.
pub async fn look_up(
    http: &reqwest::Client,
    url: &str,
    key: Option<&Secret>,
    asked: Vec<String>,
) -> Lookup {
    if asked.is_empty() {
        return Lookup::Unnamed;
    }
    let Some(key) = key else {
        return Lookup::Unreadable("LINEAR_API_KEY is not set".into());
    };
    let or: Vec<Value> = asked
        .iter()
        .filter_map(|id| {
            let (team, number) = id.split_once('-')?;
            let number: u64 = number.parse().ok()?;
            Some(json!({"team": {"key": {"eq": team}}, "number": {"eq": number}}))
        })
        .collect();
    let sent = http
        .post(url)
        .header("authorization", key.expose())
        .json(&json!({"query": QUERY, "variables": {"filter": {"or": or}}}))
        .send()
        .await;
    let body: Value = match sent {
        Err(e) => return Lookup::Unreadable(format!("request to Linear failed: {e}")),
        Ok(r) if !r.status().is_success() => {
            return Lookup::Unreadable(format!("Linear answered {}", r.status()));
        }
        Ok(r) => match r.json().await {
            Ok(v) => v,
            Err(e) => return Lookup::Unreadable(format!("unreadable answer from Linear: {e}")),
        },
    };
    if let Some(err) = body.pointer("/errors/0/message").and_then(Value::as_str) {
        return Lookup::Unreadable(format!("Linear said: {err}"));
    }
    let Some(nodes) = body.pointer("/data/issues/nodes").and_then(Value::as_array) else {
        return Lookup::Unreadable("Linear's answer has no issues list".into());
    };
    let text = |n: &Value, p: &str| {
        n.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let found = nodes
        .iter()
        .map(|n| Issue {
            identifier: text(n, "/identifier"),
            title: text(n, "/title"),
            state_type: text(n, "/state/type"),
            state_name: text(n, "/state/name"),
        })
        .filter(|i| asked.contains(&i.identifier.to_ascii_uppercase()))
        .collect();
    Lookup::Answered { asked, found }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_come_from_the_title_and_the_branch() {
        assert_eq!(
            identifiers("OPS-12: fix login", "feature/ops-12-login"),
            vec!["OPS-12"]
        );
        assert_eq!(
            identifiers("Fix (ENG-7) and OPS-9", "ops-31/x"),
            vec!["ENG-7", "OPS-9", "OPS-31"]
        );
        assert!(identifiers("Fix the login page", "main-fix").is_empty());
        assert!(identifiers("", "").is_empty());
    }
}
