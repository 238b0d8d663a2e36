//! The SQLite store: one connection, opened with WAL, a busy timeout and foreign keys,
//! migrated at start-up.
//!
//! rusqlite blocks, so async code reaches the database only through [`Store::call`],
//! which runs the closure on tokio's blocking pool, never on a worker thread.
//!
//! A standby machine opens the replicated file read-only ([`Store::open_read_only`]),
//! and a primary that loses its lease puts up the fence ([`Store::fence`]): from then
//! on every use of the handle fails, so nothing still running writes again.

pub mod migrations;
pub mod retry_queue;

use anyhow::Context;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared handle to the database.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    fenced: Arc<AtomicBool>,
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
            fenced: Arc::default(),
        })
    }

    /// Opens a database another machine writes (a LiteFS replica), for reads only:
    /// nothing is migrated, and SQLite refuses any write on the connection
    /// (`query_only`). Fails while the file is missing or its schema is not this
    /// build's, so a replica never serves a half-made database.
    pub fn open_read_only(path: &Path, busy_timeout: Duration) -> anyhow::Result<Self> {
        if !path.exists() {
            anyhow::bail!(
                "database {} does not exist yet (the primary creates it)",
                path.display()
            );
        }
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening database {}", path.display()))?;
        conn.busy_timeout(busy_timeout)?;
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA foreign_keys = ON;")?;
        let (version, latest) = (
            migrations::current_version(&conn)?,
            migrations::latest_version(),
        );
        if version != latest {
            anyhow::bail!(
                "database {} is at schema version {version}, this build needs {latest} (the primary migrates it)",
                path.display()
            );
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
            fenced: Arc::default(),
        })
    }

    /// Refuses every later use of this handle (and its clones). A primary that was
    /// demoted calls it first, before stopping its tasks, so a task that has not
    /// noticed yet fails instead of writing. It returns once a closure already
    /// running has finished (it waits for the lock), so nothing writes after it.
    /// Blocking: async code calls it on the blocking pool.
    pub fn fence(&self) {
        self.fenced.store(true, Ordering::SeqCst);
        drop(self.conn.lock().unwrap_or_else(|e| e.into_inner()));
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
        // Checked under the lock: once `fence` returns, no closure starts.
        if self.fenced.load(Ordering::SeqCst) {
            return Err(Fenced.into());
        }
        f(&mut conn)
    }
}

/// The error of a fenced store.
#[derive(Debug, thiserror::Error)]
#[error("this machine is no longer the primary; the database is not used here any more")]
pub struct Fenced;

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

    #[test]
    fn a_replica_reads_but_cannot_write_and_waits_for_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opsmate.db");
        let err = Store::open_read_only(&path, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("does not exist yet"), "{err}");
        assert!(!path.exists(), "a replica never creates the file");
        Store::open_unmigrated(&path, Duration::from_secs(1)).unwrap();
        let err = Store::open_read_only(&path, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("schema version 0"), "{err}");
        let primary = Store::open(&path, Duration::from_secs(1)).unwrap();
        let replica = Store::open_read_only(&path, Duration::from_secs(1)).unwrap();
        let n: i64 = replica
            .with_conn(|c| Ok(c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 0);
        let write = replica.with_conn(|c| {
            c.execute("DELETE FROM audit_log", [])?;
            Ok(())
        });
        assert!(format!("{:#}", write.unwrap_err()).contains("readonly"));
        drop(primary);
    }

    #[test]
    fn a_fenced_store_refuses_every_later_use_by_every_clone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("opsmate.db"), Duration::from_secs(1)).unwrap();
        let clone = store.clone();
        store.fence();
        let err = clone.with_conn(|_| Ok(())).unwrap_err();
        assert!(err.downcast_ref::<Fenced>().is_some(), "{err}");
    }
}
