//! Helpers shared by the benchmarks that run the release binary. Each benchmark is
//! its own crate and uses only part of them.
#![allow(dead_code)]

pub mod moto;

use std::io::{Read, Write};
use std::process::ExitCode;

/// A benchmark's `main`: runs `run` under `cargo bench` (which passes `--bench`) and
/// does nothing under `cargo test --benches`; an error is printed with the name.
pub fn bench_main(name: &str, run: fn() -> anyhow::Result<()>) -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// True once `GET /readyz` on the port answers 200.
pub fn readyz(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// Resident memory of a process, in KiB (Linux).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Runs `wrk` with a Lua script against `url` for 10 s and returns its report.
pub fn wrk(script: &std::path::Path, connections: u32, url: &str) -> WrkReport {
    wrk_for(script, connections, url, "10s")
}

/// [`wrk`] for `duration` (wrk's own syntax: `10s`, `1m`).
pub fn wrk_for(script: &std::path::Path, connections: u32, url: &str, duration: &str) -> WrkReport {
    let out = std::process::Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            &connections.to_string(),
            "-d",
            duration,
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    WrkReport(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `wrk --latency` output.
pub struct WrkReport(pub String);

impl WrkReport {
    /// The trimmed line starting with `prefix` (e.g. `Requests/sec:`, `99%`).
    pub fn line(&self, prefix: &str) -> String {
        self.0
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim().to_owned())
            .unwrap_or_default()
    }

    /// Requests completed in the run.
    pub fn total(&self) -> u64 {
        self.0
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Prints the raw report and the common rows of the result table.
    pub fn print_table(&self, title: &str, non_2xx_label: &str) {
        println!("{}", self.0);
        println!("| {title} | result |");
        println!("|---|---|");
        println!("| requests/s | {} |", self.line("Requests/sec:"));
        println!("| p50 latency | {} |", self.line("50%"));
        println!("| p99 latency | {} |", self.line("99%"));
        let non_2xx = self.line("Non-2xx");
        println!(
            "| {non_2xx_label} | {} |",
            if non_2xx.is_empty() {
                "0".to_owned()
            } else {
                non_2xx
            }
        );
    }
}

/// Serves `router` on a free loopback port from `rt`; returns the address.
pub fn serve_fake(rt: &tokio::runtime::Runtime, router: axum::Router) -> std::net::SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        addr
    })
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the release binary's `serve` on a fresh database in `dir` with extra
/// environment, and waits until `/readyz` answers.
pub fn start_opsmate(dir: &std::path::Path, env: &[(&str, String)]) -> (std::process::Child, u16) {
    launch_opsmate(dir, env, None).unwrap()
}

/// [`start_opsmate`] on the database in `dir` (a new one, or the one an earlier run
/// left there), with the log appended to `log` if given; an error, not a panic, when
/// it does not get ready within 20 s (the process is killed then).
pub fn launch_opsmate(
    dir: &std::path::Path,
    env: &[(&str, String)],
    log: Option<&std::path::Path>,
) -> anyhow::Result<(std::process::Child, u16)> {
    launch_binary(&opsmate_binary(), None, dir, env, log)
}

/// The binary the benchmarks run: `$OPSMATE_BIN` (e.g. an earlier build, for a
/// before-and-after figure), else this build's release binary.
pub fn opsmate_binary() -> std::path::PathBuf {
    std::env::var_os("OPSMATE_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_opsmate").into())
}

/// [`launch_opsmate`] of `binary`, with the descriptor limit (soft and hard) set to
/// `nofile` first when given, as `ulimit -n` does.
pub fn launch_binary(
    binary: &std::path::Path,
    nofile: Option<u64>,
    dir: &std::path::Path,
    env: &[(&str, String)],
    log: Option<&std::path::Path>,
) -> anyhow::Result<(std::process::Child, u16)> {
    use anyhow::Context as _;
    let port = free_port();
    let stderr = match log {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?
            .into(),
        None => std::process::Stdio::null(),
    };
    let mut cmd = match nofile {
        Some(n) => {
            let mut sh = std::process::Command::new("sh");
            sh.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" serve"))
                .arg(binary);
            sh
        }
        None => {
            let mut direct = std::process::Command::new(binary);
            direct.arg("serve");
            direct
        }
    };
    let mut child = cmd
        // Not a config key: the binary would refuse it as unknown.
        .env_remove("OPSMATE_BIN")
        .env("OPSMATE_STORAGE__PATH", dir.join("opsmate.db"))
        .env("OPSMATE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .context("starting opsmate serve")?;
    let start = std::time::Instant::now();
    while !readyz(port) {
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!("opsmate serve exited at start-up ({status})");
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("opsmate serve was not ready in 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok((child, port))
}

/// Stops a server started by [`start_opsmate`] with SIGTERM.
pub fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Common start of the wrk benchmarks: nothing under `cargo test --benches`; a clear
/// exit without `wrk`; else a temp folder and a runtime for the fake servers.
pub fn wrk_bench_setup() -> Option<(tempfile::TempDir, tokio::runtime::Runtime)> {
    if !std::env::args().any(|a| a == "--bench") {
        return None;
    }
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("wrk is not installed (apt-get install wrk)");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    Some((tempfile::tempdir().unwrap(), rt))
}

/// A SQLite database's size on disk, with its write-ahead log.
pub fn db_size(path: &std::path::Path) -> u64 {
    let wal = path.with_extension("db-wal");
    [path.to_owned(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// utime + stime of a process, in seconds (Linux, 100 ticks a second).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command: state is field 0, utime 11, stime 12.
    (tick(11) + tick(12)) / 100.0
}
