//! The audit log: append-only (SQLite triggers refuse UPDATE and DELETE) and
//! hash-chained (each row's SHA-256 covers its fields and the previous row's hash), so
//! an edit made behind the triggers' back is found by [`verify`].

mod chain;
pub mod events;
pub mod export;

pub use chain::{GENESIS_HASH, row_hash};

use crate::clock::SharedClock;
use crate::store::{self, Store};
use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

/// One row of the log, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub event: String,
    pub subject: String,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Appends one row. Call it inside the transaction that makes the change it records
/// (see [`crate::store::immediate`]), so the change and its audit row land together.
pub fn append(
    conn: &Connection,
    at: DateTime<Utc>,
    actor: &str,
    event: &str,
    subject: &str,
    details: &Value,
) -> anyhow::Result<i64> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let details = serde_json::to_string(details)?;
    let hash = row_hash(seq, &at, actor, event, subject, &details, &prev_hash);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor, event, subject, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, at, actor, event, subject, details, prev_hash, hash],
    )
    .context("appending audit row")?;
    Ok(seq)
}

/// Async front door for code that records an event outside any other change.
#[derive(Clone)]
pub struct Audit {
    store: Store,
    clock: SharedClock,
}

impl Audit {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    pub async fn record(
        &self,
        actor: impl Into<String>,
        event: impl Into<String>,
        subject: impl Into<String>,
        details: Value,
    ) -> anyhow::Result<i64> {
        let (actor, event, subject) = (actor.into(), event.into(), subject.into());
        let at = self.clock.now();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    append(tx, at, &actor, &event, &subject, &details)
                })
            })
            .await
    }
}

/// The newest `n` rows, oldest first.
pub fn tail(conn: &Connection, n: usize) -> anyhow::Result<Vec<AuditRecord>> {
    let mut rows = query(
        conn,
        "SELECT seq, at, actor, event, subject, details, prev_hash, hash
         FROM audit_log ORDER BY seq DESC LIMIT ?1",
        params![n as i64],
    )?;
    rows.reverse();
    Ok(rows)
}

/// Rows of one event in [start, end), oldest first (the digest's "what happened").
pub fn events_between(
    conn: &Connection,
    event: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<AuditRecord>> {
    query(
        conn,
        "SELECT seq, at, actor, event, subject, details, prev_hash, hash
         FROM audit_log WHERE event = ?1 AND at >= ?2 AND at < ?3 ORDER BY seq",
        params![
            event,
            start.to_rfc3339_opts(SecondsFormat::Millis, true),
            end.to_rfc3339_opts(SecondsFormat::Millis, true)
        ],
    )
}

/// Calls `each` for every row in order, without loading the whole log into memory.
pub fn for_each(
    conn: &Connection,
    mut each: impl FnMut(AuditRecord) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, event, subject, details, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        each(from_row(row)?)?;
    }
    Ok(())
}

fn query(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> anyhow::Result<Vec<AuditRecord>> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(from_row(row)?);
    }
    Ok(out)
}

fn from_row(row: &rusqlite::Row<'_>) -> anyhow::Result<AuditRecord> {
    let details: String = row.get(5)?;
    Ok(AuditRecord {
        seq: row.get(0)?,
        at: row.get(1)?,
        actor: row.get(2)?,
        event: row.get(3)?,
        subject: row.get(4)?,
        // A row whose details are not JSON is still shown; verify flags it via its hash.
        details: serde_json::from_str(&details).unwrap_or(Value::String(details)),
        prev_hash: row.get(6)?,
        hash: row.get(7)?,
    })
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact { rows: u64 },
    Broken { seq: i64, reason: String },
}

/// Walks the chain from the first row and names the first row that does not match.
pub fn verify(conn: &Connection) -> anyhow::Result<Verification> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, event, subject, details, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut expected_seq = 1i64;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let fields: [String; 7] = [
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
            row.get(7)?,
        ];
        let [at, actor, event, subject, details, prev_hash, hash] = fields;
        if seq != expected_seq {
            return Ok(Verification::Broken {
                seq,
                reason: format!("expected row {expected_seq}: a row is missing"),
            });
        }
        if prev_hash != expected_prev {
            return Ok(Verification::Broken {
                seq,
                reason: "prev_hash does not match the previous row's hash".into(),
            });
        }
        let recomputed = row_hash(seq, &at, &actor, &event, &subject, &details, &prev_hash);
        if recomputed != hash {
            return Ok(Verification::Broken {
                seq,
                reason: "hash does not match the row's contents (row altered)".into(),
            });
        }
        expected_prev = hash;
        expected_seq += 1;
        count += 1;
    }
    Ok(Verification::Intact { rows: count })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply_all(&mut c).unwrap();
        c
    }

    #[test]
    fn rows_chain_and_verify() {
        let c = conn();
        let now = Utc::now();
        for i in 0..5 {
            append(
                &c,
                now,
                "system",
                "test.event",
                &format!("s{i}"),
                &json!({"i": i}),
            )
            .unwrap();
        }
        assert_eq!(verify(&c).unwrap(), Verification::Intact { rows: 5 });
        let rows = tail(&c, 2).unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(rows[1].prev_hash, tail(&c, 5).unwrap()[3].hash);
    }

    #[test]
    fn update_and_delete_are_refused_by_the_database() {
        let c = conn();
        append(&c, Utc::now(), "system", "e", "s", &json!({})).unwrap();
        let upd = c.execute("UPDATE audit_log SET actor = 'mallory'", []);
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        let del = c.execute("DELETE FROM audit_log", []);
        assert!(del.unwrap_err().to_string().contains("append-only"));
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM audit_log WHERE actor = 'system'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn verify_names_the_row_altered_behind_the_triggers() {
        let c = conn();
        for i in 0..4 {
            append(
                &c,
                Utc::now(),
                "system",
                "e",
                &format!("s{i}"),
                &json!({"n": i}),
            )
            .unwrap();
        }
        c.execute_batch(
            "DROP TRIGGER audit_log_no_update;
             UPDATE audit_log SET details = '{\"n\":9}' WHERE seq = 3;",
        )
        .unwrap();
        match verify(&c).unwrap() {
            Verification::Broken { seq, .. } => assert_eq!(seq, 3),
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }

    #[test]
    fn verify_finds_a_deleted_row() {
        let c = conn();
        for i in 0..3 {
            append(&c, Utc::now(), "system", "e", &format!("s{i}"), &json!({})).unwrap();
        }
        c.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2;")
            .unwrap();
        assert!(matches!(
            verify(&c).unwrap(),
            Verification::Broken { seq: 3, .. }
        ));
    }
}
