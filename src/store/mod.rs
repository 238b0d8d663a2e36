//! The SQLite store: one connection, opened with WAL, a busy timeout and foreign keys,
//! migrated at start-up.
//!
//! rusqlite blocks, so async code reaches the database only through [`Store::call`],
//! which runs the closure on tokio's blocking pool, never on a worker thread.

pub mod migrations;
pub mod retry_queue;

use anyhow::Context;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared handle to the database.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path, busy_timeout: Duration) -> anyhow::Result<Self> {
        let store = Self::open_unmigrated(path, busy_timeout)?;
        store.with_conn(migrations::apply_all)?;
        Ok(store)
    }

    /// Opens the file and sets the connection pragmas, without migrating.
    pub fn open_unmigrated(path: &Path, busy_timeout: Duration) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating database folder {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        configure(&conn, busy_timeout)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs blocking database work on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.with_conn(f))
            .await
            .context("database task panicked or was cancelled")?
    }

    /// Runs database work on the current thread. For the CLI and for code already on a
    /// blocking thread; async code uses [`Store::call`].
    pub fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back
        // an unfinished transaction when the next one begins.
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }
}

fn configure(conn: &Connection, busy_timeout: Duration) -> anyhow::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        anyhow::bail!("SQLite refused WAL mode (got {mode})");
    }
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = NORMAL;",
    )?;
    Ok(())
}

/// Runs `f` inside `BEGIN IMMEDIATE … COMMIT`, taking the write lock up front so that
/// a read-then-write inside `f` cannot be interleaved with another writer.
pub fn immediate<T>(
    conn: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let value = f(&tx)?;
    tx.commit()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sets_wal_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("nested/opsmate.db"),
            Duration::from_secs(1),
        )
        .unwrap();
        store
            .with_conn(|c| {
                let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                assert_eq!(mode, "wal");
                assert_eq!(fk, 1);
                Ok(())
            })
            .unwrap();
    }
}
