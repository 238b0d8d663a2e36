//! What the `OpsMate Sentinel` check run says: one line per rule, the waiver when
//! there is one, and an annotation on each line of the diff holding a secret.

use super::github::CheckReport;
use super::rules::{RuleResult, rule_name};
use octocrab::params::checks::{
    CheckRunConclusion, CheckRunOutputAnnotation, CheckRunOutputAnnotationLevel,
};

/// A waiver as the check run shows it.
pub struct Waiver<'a> {
    pub by: &'a str,
    pub note: &'a str,
}

/// The check run for these results (and waiver).
pub fn report(results: &[RuleResult], waiver: Option<Waiver<'_>>) -> CheckReport {
    let failing = results.iter().filter(|r| !r.passed).count();
    let lines: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "- {} **{}**: {}",
                if r.passed { "✅" } else { "❌" },
                rule_name(&r.rule),
                r.text
            )
        })
        .collect();
    let (conclusion, title) = match (&waiver, failing) {
        (_, 0) => (
            CheckRunConclusion::Success,
            format!("All {} rules pass", results.len()),
        ),
        (Some(w), n) => (
            CheckRunConclusion::Success,
            format!("{n} rule(s) waived by {}: {}", w.by, w.note),
        ),
        (None, n) => (
            CheckRunConclusion::Failure,
            format!("{n} of {} rules broken", results.len()),
        ),
    };
    let mut summary = lines.join("\n");
    if let Some(w) = &waiver {
        summary.push_str(&format!(
            "\n\n**Waived by {}**: {}\n\nThe waiver was approved in OpsMate and is in its audit log.",
            w.by, w.note
        ));
    }
    let annotations = results
        .iter()
        .flat_map(|r| r.lines.iter())
        .map(|(path, line, kind)| CheckRunOutputAnnotation {
            path: path.clone(),
            start_line: *line,
            end_line: *line,
            start_column: None,
            end_column: None,
            annotation_level: CheckRunOutputAnnotationLevel::Failure,
            message: format!(
                "This added line holds what looks like a {kind}. Remove it from the change and rotate it: it is in the branch's history."
            ),
            title: Some(format!("Secret in the diff: {kind}")),
            raw_details: None,
        })
        .collect();
    CheckReport {
        conclusion,
        title: truncate(&title, 250),
        summary: truncate(&summary, 60_000),
        text: None,
        annotations,
    }
}

/// GitHub refuses outputs over its limits (65,535 characters of summary).
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rule: &str, passed: bool) -> RuleResult {
        RuleResult {
            rule: rule.into(),
            passed,
            text: format!("{rule} said so"),
            lines: if rule == "secrets" {
                vec![("a.py".into(), 3, "Slack token".into())]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn the_report_lists_every_rule_and_annotates_secrets() {
        let results = vec![result("size", true), result("secrets", false)];
        let r = report(&results, None);
        assert!(matches!(r.conclusion, CheckRunConclusion::Failure));
        assert_eq!(r.title, "1 of 2 rules broken");
        assert!(r.summary.contains("✅ **Size**"));
        assert!(r.summary.contains("❌ **No secrets**"));
        assert_eq!(r.annotations.len(), 1);
        assert_eq!(r.annotations[0].start_line, 3);

        let waived = report(
            &results,
            Some(Waiver {
                by: "@alice",
                note: "rotated already",
            }),
        );
        assert!(matches!(waived.conclusion, CheckRunConclusion::Success));
        assert_eq!(waived.title, "1 rule(s) waived by @alice: rotated already");
    }
}
