//! What a finished proposal's `outcome` holds: the core's envelope (dry run, error,
//! why it was skipped, the summary chat shows) around the kind's own report. Each
//! kind's report is a typed struct of its feature, implementing [`ActionReport`];
//! the core never reads inside it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The outcome of a finished proposal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The action only said what it would do.
    #[serde(default)]
    pub dry_run: bool,
    /// Why it was a dry run when the configuration did not ask for one (the
    /// subscription lapsed): shown with the outcome wherever it is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_reason: Option<String>,
    /// The kind's own report, for the audit trail and its feature's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    /// What happened, a line per part, in words: what chat shows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<String>,
    /// What failed, in words (never an internal error chain: that is in the audit row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why nothing was done: the target no longer qualified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Outcome {
    pub fn skipped(why: impl Into<String>) -> Self {
        Self {
            skipped: Some(why.into()),
            ..Self::default()
        }
    }

    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::default()
        }
    }

    /// A finished action's outcome; failed parts make it say how many failed.
    pub fn done(dry_run: bool, done: Done) -> Self {
        Self {
            dry_run,
            error: (done.failed > 0).then(|| format!("{} of the actions failed", done.failed)),
            report: Some(done.report),
            summary: done.summary,
            skipped: None,
            dry_run_reason: None,
        }
    }

    /// Notes why a dry run was one, as the summary's first line too, so every report
    /// that shows the summary shows the notice.
    pub fn with_dry_run_reason(mut self, reason: Option<String>) -> Self {
        if let (true, Some(reason)) = (self.dry_run, reason) {
            self.summary.insert(0, dry_run_notice(&reason));
            self.dry_run_reason = Some(reason);
        }
        self
    }

    /// The kind's report as its feature's type.
    pub fn report_as<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.report.clone()?).ok()
    }

    /// The summary lines (outcomes written before the summary moved out of the
    /// report keep theirs inside it).
    pub fn summary_lines(&self) -> Vec<String> {
        if !self.summary.is_empty() {
            return self.summary.clone();
        }
        self.report
            .as_ref()
            .and_then(|r| r.get("summary"))
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_default()
    }
}

/// A kind's report of what its action did.
pub trait ActionReport: Serialize {
    /// What happened, a line per part, in words.
    fn summary(&self) -> Vec<String>;

    /// How many parts failed; above zero marks the proposal failed, keeping the report.
    fn failed(&self) -> usize {
        0
    }
}

/// A finished action, as the executor receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub report: Value,
    pub summary: Vec<String>,
    pub failed: usize,
}

impl Done {
    pub fn of<R: ActionReport>(report: &R) -> anyhow::Result<Self> {
        Ok(Self {
            report: serde_json::to_value(report)?,
            summary: report.summary(),
            failed: report.failed(),
        })
    }
}

/// The line every report of a dry run the switch forced carries.
pub fn dry_run_notice(reason: &str) -> String {
    format!("Dry run: {reason}; nothing was changed.")
}
