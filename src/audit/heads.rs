//! The chain's head (its last row's id and hash), taken out of the database.
//!
//! A chain verified only against itself cannot tell that rows were cut off its end,
//! that it was emptied, or that a row was edited and every later hash recomputed.
//! So the head goes out in the daily digest and `/readyz`, each head posted is kept
//! in `audit_heads`, and [`super::verify`] checks the chain still reaches every
//! known head with the same hash. A head copied from chat (`--head ID:HASH`) is
//! checked the same way and does not depend on anything in the database.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::fmt;
use std::str::FromStr;

/// A row id and its hash, written `ID:HASH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl FromStr for Head {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not ID:HASH"))?;
        let seq: i64 = seq
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{seq}` is not a row id (1 or more)"))?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{hash}` is not a SHA-256 hash (64 hex digits)"));
        }
        Ok(Self { seq, hash })
    }
}

/// A head that was posted, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub head: Head,
    pub posted_at: String,
    pub via: String,
}

/// The chain's head now; `None` for an empty log.
pub fn current(conn: &Connection) -> anyhow::Result<Option<Head>> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(Head {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Keeps a head that went out (`via` says where).
pub fn record_posted(
    conn: &Connection,
    head: &Head,
    at: DateTime<Utc>,
    via: &str,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO audit_heads (seq, hash, posted_at, via) VALUES (?1, ?2, ?3, ?4)",
        params![
            head.seq,
            head.hash,
            at.to_rfc3339_opts(SecondsFormat::Secs, true),
            via
        ],
    )?;
    Ok(())
}

/// Every head posted, oldest first.
pub fn posted(conn: &Connection) -> anyhow::Result<Vec<Posted>> {
    let mut stmt = conn.prepare("SELECT seq, hash, posted_at, via FROM audit_heads ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Posted {
            head: Head {
                seq: r.get(0)?,
                hash: r.get(1)?,
            },
            posted_at: r.get(2)?,
            via: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_print_as_id_colon_hash() {
        let h: Head = format!("42:{}", "AB".repeat(32)).parse().unwrap();
        assert_eq!(h.seq, 42);
        assert_eq!(h.to_string(), format!("42:{}", "ab".repeat(32)));
        assert!("42".parse::<Head>().unwrap_err().contains("ID:HASH"));
        assert!("0:00".parse::<Head>().unwrap_err().contains("row id"));
        assert!("7:xyz".parse::<Head>().unwrap_err().contains("64 hex"));
    }
}
