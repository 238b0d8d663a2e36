//! Finding and rewriting one pinned value (`image.tag`) in a YAML file while keeping
//! every other byte of the file as it was: comments, quoting, key order and blank
//! lines survive, so the pull request's diff is the one line that matters.
//!
//! It reads block mappings (`key: value`, nested by indentation), which is how
//! values files and Argo CD manifests are written. A key inside a list, a block
//! scalar (`|`, `>`), a flow collection (`{…}`, `[…]`), an anchor or an alias is
//! refused with the reason rather than guessed at.

use std::ops::Range;

/// The value at a key: its bytes in the file, quotes included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The 1-based line it is on.
    pub line: usize,
    /// The token as written, e.g. `"1.4.2"` or `1.4.2`.
    pub raw: String,
    /// The value without its quotes.
    pub value: String,
    span: Range<usize>,
}

/// Finds the scalar at the dotted `key`.
pub fn locate(text: &str, key: &str) -> Result<Located, String> {
    let want: Vec<&str> = key.split('.').collect();
    // (indent, key) of the mappings the current line sits in; `None` for a list item.
    let mut parents: Vec<(usize, Option<String>)> = Vec::new();
    let mut found: Option<Located> = None;
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let content = body.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') || content == "---" {
            continue;
        }
        if content.starts_with('\t') {
            return Err(format!(
                "line {}: tabs are not allowed for indentation in YAML",
                n + 1
            ));
        }
        let indent = body.len() - content.len();
        while parents.last().is_some_and(|(i, _)| *i >= indent) {
            parents.pop();
        }
        if content.starts_with("- ") || content == "-" {
            parents.push((indent, None));
            continue;
        }
        let Some((name, after)) = split_key(content) else {
            continue;
        };
        let rest = after.trim_start_matches(' ');
        let path_matches = parents.len() + 1 == want.len()
            && parents
                .iter()
                .zip(&want)
                .all(|((_, k), w)| k.as_deref() == Some(*w))
            && name == want[want.len() - 1];
        if rest.is_empty() || rest.starts_with('#') {
            if path_matches {
                return Err(format!("{key} (line {}) is a mapping, not a value", n + 1));
            }
            parents.push((indent, Some(name)));
            continue;
        }
        if !path_matches {
            continue;
        }
        if found.is_some() {
            return Err(format!("{key} appears more than once"));
        }
        let value_start = start + (body.len() - rest.len());
        let (token_len, value) =
            scalar(rest).map_err(|why| format!("{key} (line {}): {why}", n + 1))?;
        found = Some(Located {
            line: n + 1,
            raw: rest[..token_len].to_owned(),
            value,
            span: value_start..value_start + token_len,
        });
    }
    found.ok_or_else(|| format!("{key} is not in the file"))
}

/// The file with the value at `key` replaced by `raw` (a token as [`locate`] found
/// it in another version of the file, quotes included). Nothing else changes.
pub fn rewrite(text: &str, key: &str, raw: &str) -> Result<String, String> {
    let at = locate(text, key)?;
    if raw.contains('\n') || raw.trim().is_empty() {
        return Err(format!("{raw:?} is not a one-line value"));
    }
    let mut out = String::with_capacity(text.len() + raw.len());
    out.push_str(&text[..at.span.start]);
    out.push_str(raw);
    out.push_str(&text[at.span.end..]);
    Ok(out)
}

/// `key: rest` → (key, rest), for a plain or quoted key.
fn split_key(content: &str) -> Option<(String, &str)> {
    if let Some(q) = content.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = content[1..].find(q)? + 1;
        let after = content[end + 1..].strip_prefix(':')?;
        if !(after.is_empty() || after.starts_with(' ')) {
            return None;
        }
        return Some((content[1..end].to_owned(), after));
    }
    let colon = content
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| matches!(content.as_bytes().get(i + 1), None | Some(b' ')))?;
    let name = content[..colon].trim_end();
    if name.is_empty() || name.contains(" #") {
        return None;
    }
    Some((name.to_owned(), &content[colon + 1..]))
}

/// The length of the scalar token at the start of `rest`, and its value.
fn scalar(rest: &str) -> Result<(usize, String), String> {
    match rest.as_bytes()[0] {
        b'"' => {
            let mut escaped = false;
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return Ok((i + 1, rest[1..i].replace("\\\"", "\""))),
                    _ => escaped = false,
                }
            }
            Err("the double-quoted value does not end on its line".into())
        }
        b'\'' => {
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return Ok((i + 1, rest[1..i].replace("''", "'")));
                }
                i += 1;
            }
            Err("the single-quoted value does not end on its line".into())
        }
        b'|' | b'>' => Err("block scalars are not supported".into()),
        b'{' | b'[' => Err("flow collections are not supported".into()),
        b'&' | b'*' => Err("anchors and aliases are not supported".into()),
        _ => {
            let end = rest.find(" #").unwrap_or(rest.len());
            let token = rest[..end].trim_end();
            Ok((token.len(), token.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &str = "# web's values\nreplicaCount: 3\nimage:\n  repository: ghcr.io/acme/web\n  tag: \"1.4.2\"   # set by CI\n  pullPolicy: IfNotPresent\n\nresources:\n  limits:\n    tag: not-this-one\n";

    #[test]
    fn a_nested_key_is_found_with_its_quotes_and_line() {
        let at = locate(VALUES, "image.tag").unwrap();
        assert_eq!(at.raw, "\"1.4.2\"");
        assert_eq!(at.value, "1.4.2");
        assert_eq!(at.line, 5);
        assert_eq!(
            locate(VALUES, "resources.limits.tag").unwrap().value,
            "not-this-one"
        );
        assert_eq!(locate(VALUES, "replicaCount").unwrap().value, "3");
    }

    #[test]
    fn rewriting_changes_only_the_value_bytes() {
        let out = rewrite(VALUES, "image.tag", "\"1.4.1\"").unwrap();
        assert_eq!(out, VALUES.replace("\"1.4.2\"", "\"1.4.1\""));
        let plain = "spec:\n  source:\n    targetRevision: v2.0.0 # pinned\n    path: apps/web\r\n";
        let out = rewrite(plain, "spec.source.targetRevision", "v1.9.3").unwrap();
        assert_eq!(
            out,
            "spec:\n  source:\n    targetRevision: v1.9.3 # pinned\n    path: apps/web\r\n"
        );
    }

    #[test]
    fn what_it_cannot_rewrite_safely_is_refused_with_the_reason() {
        assert!(locate(VALUES, "image").unwrap_err().contains("mapping"));
        assert!(
            locate(VALUES, "image.digest")
                .unwrap_err()
                .contains("not in the file")
        );
        assert!(
            locate("a:\n  b: |\n    x\n", "a.b")
                .unwrap_err()
                .contains("block")
        );
        assert!(locate("a: {b: 1}\n", "a").unwrap_err().contains("flow"));
        assert!(
            locate("a: 1\na: 2\n", "a")
                .unwrap_err()
                .contains("more than once")
        );
        assert!(rewrite(VALUES, "image.tag", "1\n2").is_err());
    }

    #[test]
    fn keys_inside_lists_are_not_taken_for_top_level_ones() {
        let text = "containers:\n  - name: web\n    tag: inside\ntag: outside\n";
        assert_eq!(locate(text, "tag").unwrap().value, "outside");
        assert!(locate(text, "containers.tag").is_err());
    }

    #[test]
    fn single_quotes_and_urls_with_colons_read_right() {
        let text = "image:\n  tag: 'it''s'\n  url: http://x:8080/y\n";
        assert_eq!(locate(text, "image.tag").unwrap().value, "it's");
        assert_eq!(locate(text, "image.url").unwrap().value, "http://x:8080/y");
    }
}
