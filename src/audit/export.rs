//! Writing the audit log out for other tools: JSON Lines or CSV.

use super::{AuditRecord, for_each};
use rusqlite::Connection;
use std::io::Write;

/// Output formats of `opsmate audit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// A row as its CSV fields, in [`super::COLUMNS`]' order.
pub fn csv_record(row: AuditRecord) -> [String; 8] {
    [
        row.seq.to_string(),
        row.at,
        row.actor,
        row.event,
        row.subject,
        row.details.to_string(),
        row.prev_hash,
        row.hash,
    ]
}

/// Streams every row, oldest first. Returns the number of rows written.
pub fn export(conn: &Connection, format: ExportFormat, out: impl Write) -> anyhow::Result<u64> {
    let mut count = 0u64;
    match format {
        ExportFormat::Jsonl => {
            let mut out = std::io::BufWriter::new(out);
            for_each(conn, |row: AuditRecord| {
                serde_json::to_writer(&mut out, &row)?;
                out.write_all(b"\n")?;
                count += 1;
                Ok(())
            })?;
            out.flush()?;
        }
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(super::COLUMNS)?;
            for_each(conn, |row: AuditRecord| {
                w.write_record(csv_record(row))?;
                count += 1;
                Ok(())
            })?;
            w.flush()?;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    #[test]
    fn both_formats_carry_every_row() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply_all(&mut c).unwrap();
        super::super::append(
            &c,
            Utc::now(),
            "slack:U1",
            "approval.decided",
            "abc",
            &json!({"note": "a,\"b\""}),
        )
        .unwrap();
        super::super::append(&c, Utc::now(), "system", "start", "opsmate", &json!({})).unwrap();

        let mut jsonl = Vec::new();
        assert_eq!(export(&c, ExportFormat::Jsonl, &mut jsonl).unwrap(), 2);
        let first: serde_json::Value =
            serde_json::from_slice(jsonl.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(first["actor"], "slack:U1");
        assert_eq!(first["details"]["note"], "a,\"b\"");

        let mut csv_out = Vec::new();
        export(&c, ExportFormat::Csv, &mut csv_out).unwrap();
        let mut r = csv::Reader::from_reader(csv_out.as_slice());
        let rows: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][2], "slack:U1");
    }
}
