//! Helpers shared by the benchmarks that run the release binary. Each benchmark is
//! its own crate and uses only part of them.
#![allow(dead_code)]

use std::io::{Read, Write};

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
    let out = std::process::Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            &connections.to_string(),
            "-d",
            "10s",
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
