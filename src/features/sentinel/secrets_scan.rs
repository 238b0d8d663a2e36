//! Secrets in a pull request's diff: each added line of each file's patch (never the
//! whole file) is matched against the shapes of AWS keys, private keys, and Slack and
//! GitHub tokens. A finding names the file, the line in the new file and the kind,
//! never the secret itself, so the report does not leak what it found.

use regex::Regex;
use std::sync::OnceLock;

/// One secret found on an added line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    /// The line in the new version of the file (1-based).
    pub line: u32,
    pub kind: &'static str,
}

fn patterns() -> &'static [(&'static str, Regex)] {
    static P: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();
    P.get_or_init(|| {
        [
            ("AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
            (
                "AWS secret access key",
                r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}\b"#,
            ),
            (
                "private key",
                r"-----BEGIN (?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----",
            ),
            ("Slack token", r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
            (
                "Slack webhook URL",
                r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+",
            ),
            ("GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b"),
            ("GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
        ]
        .into_iter()
        .map(|(kind, re)| (kind, Regex::new(re).expect("the secret patterns compile")))
        .collect()
    })
}

/// The kinds of secret on one line.
pub fn kinds_in(line: &str) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = patterns()
        .iter()
        .filter(|(_, re)| re.is_match(line))
        .map(|(k, _)| *k)
        .collect();
    kinds.dedup();
    kinds
}

/// The secrets on the lines a unified-diff `patch` of `path` adds.
pub fn scan_patch(path: &str, patch: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut new_line: Option<u32> = None;
    for line in patch.lines() {
        if line.starts_with("@@") {
            new_line = hunk_start(line);
            continue;
        }
        let Some(at) = new_line.as_mut() else {
            continue;
        };
        match line.as_bytes().first() {
            Some(b'+') => {
                for kind in kinds_in(&line[1..]) {
                    out.push(Finding {
                        path: path.to_owned(),
                        line: *at,
                        kind,
                    });
                }
                *at += 1;
            }
            Some(b'-') | Some(b'\\') => {}
            _ => *at += 1,
        }
    }
    out
}

/// The first new-file line of a hunk header `@@ -a,b +c,d @@`.
fn hunk_start(header: &str) -> Option<u32> {
    let plus = header.split_whitespace().find(|w| w.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Assembled at run time so that no scanner flags this file itself.
    fn aws_key() -> String {
        format!("AKIA{}", "IOSFODNN7EXAMPLE")
    }

    #[test]
    fn added_lines_are_scanned_with_their_new_line_numbers() {
        let patch = format!(
            "@@ -1,3 +1,4 @@\n context\n-removed {}\n+added {}\n context\n@@ -10,2 +11,3 @@\n ctx\n+{}\n+fine\n",
            aws_key(),
            aws_key(),
            concat!("-----BEGIN RSA PRIVATE", " KEY-----")
        );
        let found = scan_patch("app/config.py", &patch);
        assert_eq!(
            found,
            vec![
                Finding {
                    path: "app/config.py".into(),
                    line: 2,
                    kind: "AWS access key id"
                },
                Finding {
                    path: "app/config.py".into(),
                    line: 12,
                    kind: "private key"
                },
            ]
        );
    }

    #[test]
    fn each_kind_is_recognised_and_ordinary_text_is_not() {
        let slack = format!("token = \"xoxb-{}\"", "1234567890-abcdefghij");
        let github = format!("GH={}{}", "ghp_", "a".repeat(36));
        let pat = format!("{}{}", "github_pat_", "A1".repeat(20));
        let secret = format!("aws_secret_access_key = {}", "w".repeat(40));
        assert_eq!(kinds_in(&slack), vec!["Slack token"]);
        assert_eq!(kinds_in(&github), vec!["GitHub token"]);
        assert_eq!(kinds_in(&pat), vec!["GitHub token"]);
        assert_eq!(kinds_in(&secret), vec!["AWS secret access key"]);
        assert!(kinds_in("let key = config.aws_access_key_id;").is_empty());
        assert!(kinds_in("AKIA is how AWS keys begin").is_empty());
        assert!(scan_patch("a", &format!("no hunk header\n+{}", aws_key())).is_empty());
    }
}
