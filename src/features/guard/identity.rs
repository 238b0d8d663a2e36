//! Who an IAM user is: their email and GitHub login, normalised so the same person
//! matches across directories however the address was typed.

use std::collections::BTreeMap;

/// Mail domains where dots and `+tag`s in the local part do not change the mailbox.
const GMAIL_DOMAINS: [&str; 2] = ["gmail.com", "googlemail.com"];

/// An email in comparable form:
/// - trimmed and lowercased;
/// - for gmail.com and googlemail.com, without the `+tag` and the dots of the local
///   part (both domains are one mailbox: `googlemail.com` becomes `gmail.com`);
/// - the domain replaced by what `aliases` says it stands for (`corp.io` → `corp.com`).
///
/// `None` when the text is not an address (no `@`, or an empty side).
pub fn normalize_email(raw: &str, aliases: &BTreeMap<String, String>) -> Option<String> {
    let lower = raw.trim().to_lowercase();
    let (local, domain) = lower.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || local.contains(char::is_whitespace) {
        return None;
    }
    let domain = aliases
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(domain))
        .map(|(_, canonical)| canonical.to_lowercase())
        .unwrap_or_else(|| domain.to_owned());
    if GMAIL_DOMAINS.contains(&domain.as_str()) {
        let local = local.split('+').next().unwrap_or(local).replace('.', "");
        if local.is_empty() {
            return None;
        }
        return Some(format!("{local}@gmail.com"));
    }
    Some(format!("{local}@{domain}"))
}

/// A GitHub login in comparable form (logins are case-insensitive); `None` if empty.
pub fn normalize_login(raw: &str) -> Option<String> {
    let login = raw.trim().trim_start_matches('@').to_lowercase();
    (!login.is_empty() && !login.contains(char::is_whitespace)).then_some(login)
}

/// What identifies the person behind an IAM user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// Normalised email: from the email tag, else the user name when it is an address.
    pub email: Option<String>,
    /// Normalised GitHub login: from the GitHub tag, else the configured mapping.
    pub login: Option<String>,
}

/// Reads the identity of `user` from its tags and the configured mapping.
pub fn identify(
    user: &str,
    tags: &BTreeMap<String, String>,
    settings: &crate::features::guard::config::GuardConfig,
) -> Identity {
    let aliases = &settings.domain_aliases;
    let email = tags
        .get(&settings.email_tag)
        .and_then(|e| normalize_email(e, aliases))
        .or_else(|| normalize_email(user, aliases));
    let login = tags
        .get(&settings.github_tag)
        .and_then(|l| normalize_login(l))
        .or_else(|| {
            settings
                .login_map
                .get(user)
                .and_then(|l| normalize_login(l))
        });
    Identity { email, login }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::guard::config::GuardConfig;

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn case_and_spaces_do_not_matter() {
        assert_eq!(
            normalize_email("  Alice.Smith@Corp.COM ", &none()).as_deref(),
            Some("alice.smith@corp.com")
        );
    }

    #[test]
    fn gmail_plus_tags_and_dots_are_the_same_mailbox() {
        let want = Some("janedoe@gmail.com".to_owned());
        assert_eq!(normalize_email("jane.doe+aws@gmail.com", &none()), want);
        assert_eq!(normalize_email("J.A.N.E.D.O.E@GMail.com", &none()), want);
        assert_eq!(normalize_email("janedoe+x+y@googlemail.com", &none()), want);
    }

    #[test]
    fn other_domains_keep_dots_and_plus_tags() {
        assert_eq!(
            normalize_email("jane.doe+aws@corp.com", &none()).as_deref(),
            Some("jane.doe+aws@corp.com")
        );
    }

    #[test]
    fn domain_aliases_map_to_their_canonical_domain() {
        let aliases = [("corp.io".to_owned(), "corp.com".to_owned())].into();
        assert_eq!(
            normalize_email("bob@CORP.IO", &aliases).as_deref(),
            Some("bob@corp.com")
        );
        assert_eq!(
            normalize_email("bob@corp.com", &aliases).as_deref(),
            Some("bob@corp.com")
        );
    }

    #[test]
    fn text_that_is_not_an_address_is_refused() {
        for raw in [
            "deploy-bot",
            "@corp.com",
            "bob@",
            "",
            "a b@corp.com",
            "+@gmail.com",
        ] {
            assert_eq!(normalize_email(raw, &none()), None, "{raw:?}");
        }
    }

    #[test]
    fn identity_prefers_tags_then_the_name_and_the_mapping() {
        let settings = GuardConfig {
            login_map: [("carol".to_owned(), "Carol-GH".to_owned())].into(),
            ..GuardConfig::default()
        };
        let tagged: BTreeMap<String, String> = [
            ("email".to_owned(), "Dan@Corp.com".to_owned()),
            ("github".to_owned(), "@DanDev".to_owned()),
        ]
        .into();
        assert_eq!(
            identify("dan", &tagged, &settings),
            Identity {
                email: Some("dan@corp.com".into()),
                login: Some("dandev".into())
            }
        );
        assert_eq!(
            identify("erin@corp.com", &none(), &settings)
                .email
                .as_deref(),
            Some("erin@corp.com")
        );
        assert_eq!(
            identify("carol", &none(), &settings),
            Identity {
                email: None,
                login: Some("carol-gh".into())
            }
        );
        assert_eq!(
            identify("ci-deployer", &none(), &settings),
            Identity::default()
        );
    }
}
