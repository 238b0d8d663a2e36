//! Who has left, decided from the directories (pure): what one scan finds about a
//! person, and how that moves their stored state and grace clock.

use super::identity::Identity;
use crate::features::guard::config::DepartureRule;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// A directory as one scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View<T> {
    /// Not connected: it matches nobody.
    Off,
    /// Connected but unreadable this time, with the error.
    Failed(String),
    Read(T),
}

/// The directories one scan read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directories {
    /// Slack members by normalised email: `true` when an account with that email is
    /// active, `false` when every such account is deactivated.
    pub slack: View<HashMap<String, bool>>,
    /// Normalised logins of the GitHub organisation's members.
    pub github: View<HashSet<String>>,
}

/// Directory labels used in `missing_from`.
pub const SLACK: &str = "slack";
pub const SLACK_DEACTIVATED: &str = "slack (deactivated)";
pub const GITHUB: &str = "github";

/// What one scan found about the person behind an IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Nothing identifies them (no email, no login), or no connected directory can
    /// match what does. Listed, never proposed.
    Unmapped(String),
    Present,
    /// Gone by the configured rule (or deactivated in Slack), with where from.
    Gone {
        missing_from: Vec<String>,
    },
    /// A directory that would decide could not be read; nothing changes.
    Unverified(Vec<String>),
}

/// One directory's answer about one person.
enum Evidence {
    NotApplicable,
    Unreadable(String),
    Present,
    Missing(&'static str),
}

fn slack_evidence(id: &Identity, view: &View<HashMap<String, bool>>) -> Evidence {
    let Some(email) = &id.email else {
        return Evidence::NotApplicable;
    };
    match view {
        View::Off => Evidence::NotApplicable,
        View::Failed(e) => Evidence::Unreadable(format!("slack: {e}")),
        View::Read(members) => match members.get(email) {
            Some(true) => Evidence::Present,
            Some(false) => Evidence::Missing(SLACK_DEACTIVATED),
            None => Evidence::Missing(SLACK),
        },
    }
}

fn github_evidence(id: &Identity, view: &View<HashSet<String>>) -> Evidence {
    let Some(login) = &id.login else {
        return Evidence::NotApplicable;
    };
    match view {
        View::Off => Evidence::NotApplicable,
        View::Failed(e) => Evidence::Unreadable(format!("github: {e}")),
        View::Read(members) if members.contains(login) => Evidence::Present,
        View::Read(_) => Evidence::Missing(GITHUB),
    }
}

/// Decides about one person. A Slack deactivation alone means gone; otherwise
/// `rule` combines the directories that can match them.
pub fn assess(id: &Identity, dirs: &Directories, rule: DepartureRule) -> Finding {
    if id.email.is_none() && id.login.is_none() {
        return Finding::Unmapped(
            "no email (tag or an address as the user name) and no GitHub login (tag or guard.login_map)"
                .into(),
        );
    }
    let evidence = [
        slack_evidence(id, &dirs.slack),
        github_evidence(id, &dirs.github),
    ];
    let applicable: Vec<&Evidence> = evidence
        .iter()
        .filter(|e| !matches!(e, Evidence::NotApplicable))
        .collect();
    if applicable.is_empty() {
        let what = match (&id.email, &id.login) {
            (Some(e), None) => format!("has email {e}, but Slack is not connected"),
            (None, Some(l)) => format!("has GitHub login {l}, but guard.github_org is not set"),
            _ => "neither Slack nor GitHub is connected".into(),
        };
        return Finding::Unmapped(what);
    }
    let missing: Vec<String> = applicable
        .iter()
        .filter_map(|e| match e {
            Evidence::Missing(label) => Some((*label).to_owned()),
            _ => None,
        })
        .collect();
    let unreadable: Vec<String> = applicable
        .iter()
        .filter_map(|e| match e {
            Evidence::Unreadable(why) => Some(why.clone()),
            _ => None,
        })
        .collect();
    let present = applicable.iter().any(|e| matches!(e, Evidence::Present));
    let deactivated = missing.iter().any(|m| m == SLACK_DEACTIVATED);
    let gone = Finding::Gone {
        missing_from: missing.clone(),
    };
    if deactivated {
        return gone;
    }
    match rule {
        DepartureRule::Any if !missing.is_empty() => gone,
        DepartureRule::All if present => Finding::Present,
        _ if !unreadable.is_empty() => Finding::Unverified(unreadable),
        DepartureRule::Any => Finding::Present,
        DepartureRule::All => gone,
    }
}

/// What is stored about a person between scans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Person {
    pub user: String,
    /// When a scan first found them gone, for the current absence.
    pub missing_since: Option<DateTime<Utc>>,
    pub missing_from: Vec<String>,
    /// Keep access: not asked again before this.
    pub kept_until: Option<DateTime<Utc>>,
    pub kept_by: Option<String>,
    pub kept_reason: Option<String>,
    /// Their access was revoked (during the current absence).
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where a person stands, as `access` and `opsmate access scan` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Present,
    MissingInGrace,
    Departed,
    Kept,
    Unmapped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::MissingInGrace => "missing_in_grace",
            Status::Departed => "departed",
            Status::Kept => "kept",
            Status::Unmapped => "unmapped",
        }
    }
}

/// What changed with this scan, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    /// First found gone: the grace clock starts.
    StartedMissing,
    /// Back in the directories: the clock is reset.
    Returned,
}

/// Applies one scan's finding to the stored person. The grace clock starts the first
/// time they are found gone and is reset when they reappear; an unverified scan
/// changes nothing.
pub fn advance(
    before: Option<&Person>,
    user: &str,
    finding: &Finding,
    now: DateTime<Utc>,
    grace: Duration,
) -> (Person, Status, Change) {
    let mut p = before.cloned().unwrap_or_else(|| Person {
        user: user.to_owned(),
        ..Person::default()
    });
    let was_missing = p.missing_since.is_some();
    let change = match finding {
        Finding::Unmapped(_) | Finding::Present => {
            p.missing_since = None;
            p.missing_from.clear();
            p.revoked_at = None;
            if was_missing && *finding == Finding::Present {
                Change::Returned
            } else {
                Change::None
            }
        }
        Finding::Gone { missing_from } => {
            p.missing_from = missing_from.clone();
            if was_missing {
                Change::None
            } else {
                p.missing_since = Some(now);
                Change::StartedMissing
            }
        }
        Finding::Unverified(_) => Change::None,
    };
    let status = match (finding, p.missing_since) {
        (Finding::Unmapped(_), _) => Status::Unmapped,
        (_, None) => Status::Present,
        (_, Some(_)) if p.kept_until.is_some_and(|t| t > now) => Status::Kept,
        (_, Some(since)) if now - since >= grace => Status::Departed,
        (_, Some(_)) => Status::MissingInGrace,
    };
    (p, status, change)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(email: Option<&str>, login: Option<&str>) -> Identity {
        Identity {
            email: email.map(str::to_owned),
            login: login.map(str::to_owned),
        }
    }

    fn dirs(slack: &[(&str, bool)], github: &[&str]) -> Directories {
        Directories {
            slack: View::Read(slack.iter().map(|(e, a)| ((*e).to_owned(), *a)).collect()),
            github: View::Read(github.iter().map(|l| (*l).to_owned()).collect()),
        }
    }

    fn gone(from: &[&str]) -> Finding {
        Finding::Gone {
            missing_from: from.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    const ALICE: Option<&str> = Some("alice@corp.com");
    const ALICE_GH: Option<&str> = Some("alice");

    #[test]
    fn a_slack_deactivation_alone_means_gone() {
        let d = dirs(&[("alice@corp.com", false)], &["alice"]);
        assert_eq!(
            assess(&id(ALICE, ALICE_GH), &d, DepartureRule::All),
            gone(&[SLACK_DEACTIVATED])
        );
    }

    #[test]
    fn absence_counts_by_the_rule() {
        let only_github = dirs(&[], &["alice"]);
        let person = id(ALICE, ALICE_GH);
        assert_eq!(
            assess(&person, &only_github, DepartureRule::All),
            Finding::Present
        );
        assert_eq!(
            assess(&person, &only_github, DepartureRule::Any),
            gone(&[SLACK])
        );
        let nowhere = dirs(&[], &[]);
        assert_eq!(
            assess(&person, &nowhere, DepartureRule::All),
            gone(&[SLACK, GITHUB])
        );
        let both = dirs(&[("alice@corp.com", true)], &["alice"]);
        assert_eq!(assess(&person, &both, DepartureRule::Any), Finding::Present);
    }

    #[test]
    fn only_directories_that_can_match_are_asked() {
        // No login: GitHub cannot say anything about them.
        let d = dirs(&[], &[]);
        assert_eq!(
            assess(&id(ALICE, None), &d, DepartureRule::All),
            gone(&[SLACK])
        );
        let off = Directories {
            slack: View::Off,
            github: View::Read(HashSet::new()),
        };
        assert!(matches!(
            assess(&id(ALICE, None), &off, DepartureRule::All),
            Finding::Unmapped(_)
        ));
    }

    #[test]
    fn people_without_email_or_login_are_unmapped() {
        assert!(matches!(
            assess(&id(None, None), &dirs(&[], &[]), DepartureRule::Any),
            Finding::Unmapped(_)
        ));
    }

    #[test]
    fn an_unreadable_directory_never_makes_anyone_gone() {
        let d = Directories {
            slack: View::Failed("ratelimited".into()),
            github: View::Read(HashSet::new()),
        };
        assert!(matches!(
            assess(&id(ALICE, ALICE_GH), &d, DepartureRule::All),
            Finding::Unverified(_)
        ));
        // With `any`, a readable absence is enough.
        assert_eq!(
            assess(&id(ALICE, ALICE_GH), &d, DepartureRule::Any),
            gone(&[GITHUB])
        );
    }

    #[test]
    fn grace_runs_from_the_first_absence_and_reappearing_resets_it() {
        let t0: DateTime<Utc> = "2026-11-01T09:00:00Z".parse().unwrap();
        let grace = Duration::days(7);
        let missing = gone(&[SLACK_DEACTIVATED]);
        let (p, status, change) = advance(None, "alice", &missing, t0, grace);
        assert_eq!(
            (status, change),
            (Status::MissingInGrace, Change::StartedMissing)
        );
        let day6 = t0 + Duration::days(6);
        let (p, status, change) = advance(Some(&p), "alice", &missing, day6, grace);
        assert_eq!((status, change), (Status::MissingInGrace, Change::None));
        assert_eq!(p.missing_since, Some(t0));
        let day7 = t0 + Duration::days(7);
        let (p, status, _) = advance(Some(&p), "alice", &missing, day7, grace);
        assert_eq!(status, Status::Departed);
        let (p, status, change) = advance(Some(&p), "alice", &Finding::Present, day7, grace);
        assert_eq!((status, change), (Status::Present, Change::Returned));
        assert_eq!(p.missing_since, None);
        let (p, status, _) = advance(Some(&p), "alice", &missing, day7, grace);
        assert_eq!(status, Status::MissingInGrace);
        assert_eq!(p.missing_since, Some(day7));
    }

    #[test]
    fn an_unverified_scan_leaves_the_clock_alone() {
        let t0: DateTime<Utc> = "2026-11-01T09:00:00Z".parse().unwrap();
        let grace = Duration::days(7);
        let (p, _, _) = advance(None, "alice", &gone(&[SLACK]), t0, grace);
        let later = t0 + Duration::days(8);
        let (p, status, change) = advance(
            Some(&p),
            "alice",
            &Finding::Unverified(vec!["slack: down".into()]),
            later,
            grace,
        );
        assert_eq!((status, change), (Status::Departed, Change::None));
        assert_eq!(p.missing_since, Some(t0));
    }

    #[test]
    fn keep_access_wins_until_it_lapses() {
        let t0: DateTime<Utc> = "2026-11-01T09:00:00Z".parse().unwrap();
        let before = Person {
            user: "alice".into(),
            missing_since: Some(t0 - Duration::days(30)),
            kept_until: Some(t0 + Duration::days(90)),
            ..Person::default()
        };
        let (_, status, _) = advance(
            Some(&before),
            "alice",
            &gone(&[SLACK]),
            t0,
            Duration::days(7),
        );
        assert_eq!(status, Status::Kept);
        let later = t0 + Duration::days(91);
        let (_, status, _) = advance(
            Some(&before),
            "alice",
            &gone(&[SLACK]),
            later,
            Duration::days(7),
        );
        assert_eq!(status, Status::Departed);
    }
}
