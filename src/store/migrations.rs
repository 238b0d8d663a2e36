//! Schema migrations: the `migrations/NNNN_name.sql` files, embedded in the binary and
//! applied in order. The applied version is SQLite's `user_version`.

use anyhow::Context;
use include_dir::{Dir, include_dir};
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations, SchemaVersion};
use std::sync::OnceLock;

static MIGRATION_FILES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// One embedded migration file.
#[derive(Debug, Clone, Copy)]
pub struct MigrationFile {
    pub version: usize,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All embedded migrations, sorted by number. Numbers must run 1, 2, 3 … with no gap;
/// a malformed set is a build mistake caught by the tests.
pub fn files() -> &'static [MigrationFile] {
    static FILES: OnceLock<Vec<MigrationFile>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut files: Vec<MigrationFile> = MIGRATION_FILES
            .files()
            .filter_map(|f| {
                let name = f.path().file_name()?.to_str()?;
                let stem = name.strip_suffix(".sql")?;
                let version = stem.split('_').next()?.parse().ok()?;
                Some(MigrationFile {
                    version,
                    name,
                    sql: f.contents_utf8()?,
                })
            })
            .collect();
        files.sort_by_key(|f| f.version);
        files
    })
}

fn migrations() -> Migrations<'static> {
    Migrations::new(files().iter().map(|f| M::up(f.sql)).collect())
}

/// Number of the newest embedded migration.
pub fn latest_version() -> usize {
    files().len()
}

/// Applies every pending migration.
pub fn apply_all(conn: &mut Connection) -> anyhow::Result<()> {
    migrations()
        .to_latest(conn)
        .context("applying database migrations")
}

/// Applies migrations up to and including `version` (for tests of upgrades).
pub fn apply_up_to(conn: &mut Connection, version: usize) -> anyhow::Result<()> {
    migrations()
        .to_version(conn, version)
        .with_context(|| format!("migrating to version {version}"))
}

/// The version the database is at; 0 when nothing is applied.
pub fn current_version(conn: &Connection) -> anyhow::Result<usize> {
    Ok(match migrations().current_version(conn)? {
        SchemaVersion::NoneSet => 0,
        SchemaVersion::Inside(v) | SchemaVersion::Outside(v) => v.get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_are_numbered_without_gaps() {
        let files = files();
        assert!(!files.is_empty());
        for (i, f) in files.iter().enumerate() {
            assert_eq!(f.version, i + 1, "{} is out of sequence", f.name);
        }
        migrations().validate().unwrap();
    }
}
