//! Runs one check once and says how it came out.
//!
//! Every failure is an [`Outcome`] with [`Status::Error`], never an `Err` or a panic,
//! so one broken check cannot stop the others. Work that can hang (a request, a
//! connect, a `statvfs` on a dead network mount, a busy database) runs under a
//! deadline, so a run always ends.

pub mod http;
mod sqlite;
mod system;
mod tcp;

use crate::features::observatory::config::{CheckConfig, CheckKind};
use crate::features::observatory::status::{Outcome, Status};
use crate::store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// What the probes share across runs: HTTP clients (connection pools and trusted
/// roots), the CPU sampler (usage is a difference between two readings) and the store.
#[derive(Debug)]
pub struct Probes {
    store: Store,
    /// One client per distinct `ca_file`; `None` is the default trust store.
    clients: Mutex<HashMap<Option<PathBuf>, reqwest::Client>>,
    cpu: tokio::sync::Mutex<system::CpuSampler>,
}

impl Probes {
    pub fn new(store: Store) -> anyhow::Result<Self> {
        let default = http::client(None)?;
        Ok(Self {
            store,
            clients: Mutex::new(HashMap::from([(None, default)])),
            cpu: tokio::sync::Mutex::new(system::CpuSampler::new()?),
        })
    }

    /// Runs `check` once. Never panics and never returns an error: a failure is an
    /// `error` outcome with a message. http and tcp end within the check's timeout
    /// plus a small margin.
    pub async fn run(&self, check: &CheckConfig) -> Outcome {
        match check.kind {
            CheckKind::Http => match self.client(check.ca_file.as_ref()) {
                Ok(client) => http::run(&client, check).await,
                Err(e) => Outcome::error(format!("{e:#}")),
            },
            CheckKind::Tcp => tcp::run(check).await,
            CheckKind::Disk => system::disk(check).await,
            CheckKind::Memory => system::memory(check),
            CheckKind::Cpu => self.cpu.lock().await.run(check).await,
            CheckKind::Sqlite => sqlite::run(&self.store).await,
        }
    }

    /// The client trusting `ca_file` as well, built on first use. A file that cannot
    /// be read is not remembered, so a fixed file works on the next run.
    fn client(&self, ca_file: Option<&PathBuf>) -> anyhow::Result<reqwest::Client> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&ca_file.cloned()) {
            return Ok(c.clone());
        }
        let client = http::client(ca_file.map(PathBuf::as_path))?;
        clients.insert(ca_file.cloned(), client.clone());
        Ok(client)
    }
}

/// Milliseconds to a tenth, for latencies.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// A duration the way people write it in the config: `2s`, `500ms`.
fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The outcome of a percent-used reading against the check's thresholds.
/// `used` is rounded to the tenth shown in `text` first, so the status never
/// contradicts the number people read.
fn percent_outcome(check: &CheckConfig, used: f64, text: String) -> Outcome {
    let used = (used * 10.0).round() / 10.0;
    let (warn, critical) = check.percent_thresholds();
    let (status, message) = if used >= critical {
        (Status::Critical, format!("{text}, critical at {critical}%"))
    } else if used >= warn {
        (Status::Warn, format!("{text}, warning at {warn}%"))
    } else {
        (Status::Ok, text)
    };
    Outcome::new(status, Some(used), "%", message)
}

/// A size in binary units with one decimal, e.g. `50.0 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(50 * 1024 * 1024 * 1024), "50.0 GiB");
        assert_eq!(bytes(1536 * 1024), "1.5 MiB");
    }

    #[test]
    fn thresholds_are_inclusive_and_critical_wins() {
        let mut c = CheckConfig::new("d", CheckKind::Disk);
        c.warn_percent = Some(50.0);
        c.critical_percent = Some(90.0);
        assert_eq!(percent_outcome(&c, 49.9, "x".into()).status, Status::Ok);
        assert_eq!(percent_outcome(&c, 50.0, "x".into()).status, Status::Warn);
        let crit = percent_outcome(&c, 95.0, "95.0% used".into());
        assert_eq!(crit.status, Status::Critical);
        assert_eq!(crit.message, "95.0% used, critical at 90%");
        assert_eq!(crit.unit, "%");
    }
}
