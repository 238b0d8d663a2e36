//! Host checks: disk, memory and CPU, as percent used against the thresholds.

use super::{bytes, human, percent_outcome};
use crate::features::observatory::config::CheckConfig;
use crate::features::observatory::status::Outcome;
use std::time::{Duration, Instant};
use sysinfo::{MINIMUM_CPU_UPDATE_INTERVAL, System};

/// A filesystem that does not answer `statvfs` in this time (a hung network mount)
/// counts as an error instead of stalling the check.
const STAT_DEADLINE: Duration = Duration::from_secs(5);

pub(super) async fn disk(check: &CheckConfig) -> Outcome {
    let path = check.path.clone().unwrap_or_else(|| "/".into());
    let target = path.clone();
    let read = tokio::task::spawn_blocking(move || usage(&target));
    match tokio::time::timeout(STAT_DEADLINE, read).await {
        Err(_) => Outcome::error(format!(
            "{path} did not answer within {} (a hung mount?)",
            human(STAT_DEADLINE)
        )),
        Ok(Err(_)) => Outcome::error(format!("reading {path} failed")),
        Ok(Ok(Err(e))) => Outcome::error(format!("cannot read {path}: {e}")),
        Ok(Ok(Ok(u))) => percent_outcome(
            check,
            u.used_percent,
            format!("{:.1}% used of {} on {path}", u.used_percent, bytes(u.size)),
        ),
    }
}

/// How full the filesystem holding a path is.
#[derive(Debug, PartialEq)]
struct DiskUsage {
    used_percent: f64,
    size: u64,
}

#[cfg(unix)]
fn usage(path: &str) -> std::io::Result<DiskUsage> {
    let s = rustix::fs::statvfs(path)?;
    let fragment = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    };
    Ok(from_blocks(fragment, s.f_blocks, s.f_bfree, s.f_bavail))
}

#[cfg(not(unix))]
fn usage(_path: &str) -> std::io::Result<DiskUsage> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "disk checks need a Unix system",
    ))
}

/// Percent used the way `df` counts it: used over what users can have, so blocks
/// reserved for root count as neither and a disk users cannot write to reads 100%.
#[cfg_attr(not(unix), allow(dead_code))]
fn from_blocks(fragment: u64, blocks: u64, free: u64, available: u64) -> DiskUsage {
    let used = blocks.saturating_sub(free);
    let usable = used.saturating_add(available);
    DiskUsage {
        used_percent: if usable == 0 {
            0.0
        } else {
            used as f64 * 100.0 / usable as f64
        },
        size: blocks.saturating_mul(fragment),
    }
}

pub(super) fn memory(check: &CheckConfig) -> Outcome {
    let mut sys = match System::new() {
        Ok(s) => s,
        Err(e) => return Outcome::error(format!("cannot read memory: {e}")),
    };
    sys.refresh_memory();
    let total = sys.total_memory();
    if total == 0 {
        return Outcome::error("the system reports no memory");
    }
    // Available, not free: page cache the kernel can drop is not in use.
    let used = total.saturating_sub(sys.available_memory()) as f64 * 100.0 / total as f64;
    percent_outcome(check, used, format!("{used:.1}% used of {}", bytes(total)))
}

/// A fresh sample waits this long between its two readings.
fn sample_window() -> Duration {
    MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(250))
}

/// A previous reading up to this old is the start of the next window, so regular
/// runs report the average since the last run instead of a short, noisy sample.
const REUSE_UP_TO: Duration = Duration::from_secs(300);

/// CPU usage is the difference between two readings; this keeps the last one.
#[derive(Debug)]
pub(super) struct CpuSampler {
    sys: System,
    last: Option<Instant>,
}

impl CpuSampler {
    pub(super) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            sys: System::new().map_err(|e| anyhow::anyhow!("cannot read CPU usage: {e}"))?,
            last: None,
        })
    }

    pub(super) async fn run(&mut self, check: &CheckConfig) -> Outcome {
        let since = match self.last {
            Some(last) if (MINIMUM_CPU_UPDATE_INTERVAL..=REUSE_UP_TO).contains(&last.elapsed()) => {
                last
            }
            _ => {
                self.sys.refresh_cpu_usage();
                let start = Instant::now();
                tokio::time::sleep(sample_window()).await;
                start
            }
        };
        self.sys.refresh_cpu_usage();
        self.last = Some(Instant::now());
        let window = since.elapsed();
        let used = f64::from(self.sys.global_cpu_usage());
        if !used.is_finite() || self.sys.cpus().is_empty() {
            return Outcome::error("cannot read CPU usage");
        }
        let used = used.clamp(0.0, 100.0);
        let over = if window < Duration::from_secs(10) {
            format!("{:.1} s", window.as_secs_f64())
        } else {
            format!("{:.0} s", window.as_secs_f64())
        };
        percent_outcome(check, used, format!("{used:.1}% busy over {over}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_counts_like_df() {
        // 100 blocks of 4 KiB, 30 free of which 5 reserved for root: 70 used of 95.
        let u = from_blocks(4096, 100, 30, 25);
        assert!((u.used_percent - 70.0 * 100.0 / 95.0).abs() < 1e-9);
        assert_eq!(u.size, 409_600);
        assert_eq!(from_blocks(4096, 0, 0, 0).used_percent, 0.0);
        // Only root's reserve left: full for everyone else.
        assert_eq!(from_blocks(4096, 100, 5, 0).used_percent, 100.0);
    }

    #[test]
    fn the_root_filesystem_reads() {
        let u = usage("/").unwrap();
        assert!((0.0..=100.0).contains(&u.used_percent), "{u:?}");
        assert!(u.size > 0);
        assert!(usage("/no/such/path/anywhere").is_err());
    }
}
