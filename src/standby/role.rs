//! Which machine holds the primary lease, as LiteFS tells it.
//!
//! LiteFS keeps a `.primary` file in its mount on a replica only, holding the
//! primary's hostname; on the primary there is no such file. The file is looked at
//! on a timer rather than through inotify: it lives on a FUSE mount, where change
//! notifications are not delivered reliably, and one `stat` a second costs nothing.
//!
//! LiteFS also removes the file on a replica that lost touch with the primary, so
//! an absent file can mean "I may be the primary". Such a machine starts the
//! primary's work, but LiteFS refuses its writes (SQLite answers `disk I/O error`),
//! and every side effect here (a message sent, a job run, an action executed) is
//! claimed by a write first, so nothing is done twice.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// This machine's part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Role {
    /// Holds the lease: runs the scheduler, the executor, the outbox sender and
    /// Telegram polling, and takes writes.
    #[default]
    Primary,
    /// Serves reads, and sends writes to `primary` (its hostname, which on Fly is
    /// its machine id) with the `fly-replay` header.
    Replica { primary: String },
}

impl Role {
    /// The role the `.primary` file says now. A file that cannot be read (other
    /// than missing) keeps this machine a replica of an unknown primary: it never
    /// becomes primary on a read error.
    pub fn read(primary_file: &Path) -> Self {
        match std::fs::read_to_string(primary_file) {
            Ok(text) => Self::Replica {
                primary: text.trim().to_owned(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::Primary,
            Err(e) => {
                tracing::warn!(file = %primary_file.display(), error = %e, "cannot read LiteFS's primary file; staying a replica");
                Self::Replica {
                    primary: String::new(),
                }
            }
        }
    }

    pub fn is_primary(&self) -> bool {
        matches!(self, Self::Primary)
    }

    /// `primary` or `replica`, for logs and `/readyz`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Replica { .. } => "replica",
        }
    }

    /// The primary's hostname, on a replica that knows it.
    pub fn primary(&self) -> Option<&str> {
        match self {
            Self::Replica { primary } if !primary.is_empty() => Some(primary),
            _ => None,
        }
    }
}

/// Watches the `.primary` file: the receiver changes when the role does.
pub struct RoleWatch {
    file: PathBuf,
    every: Duration,
    tx: watch::Sender<Role>,
}

impl RoleWatch {
    /// Reads the role now; [`RoleWatch::run`] keeps it up to date.
    pub fn new(file: PathBuf, every: Duration) -> (Self, watch::Receiver<Role>) {
        let (tx, rx) = watch::channel(Role::read(&file));
        (Self { file, every, tx }, rx)
    }

    /// Looks at the file every `every` until `shutdown`, and publishes each change.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let file = self.file.clone();
            let Ok(role) = tokio::task::spawn_blocking(move || Role::read(&file)).await else {
                continue;
            };
            self.tx.send_if_modified(|current| {
                if *current == role {
                    return false;
                }
                tracing::warn!(
                    from = current.name(),
                    to = role.name(),
                    primary = role.primary().unwrap_or("-"),
                    "this machine's role changed"
                );
                *current = role;
                true
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_says_replica_and_names_the_primary_its_absence_says_primary() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".primary");
        assert_eq!(Role::read(&file), Role::Primary);
        std::fs::write(&file, "e784079b449483\n").unwrap();
        let role = Role::read(&file);
        assert_eq!(role.primary(), Some("e784079b449483"));
        assert_eq!(role.name(), "replica");
        // A folder where the file should be cannot be read: never primary.
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
        assert!(!Role::read(&file).is_primary());
    }
}
