//! Clients that hold connections open without finishing a request, against the
//! real binary started with a low descriptor limit (`ulimit -n 256`).

use crate::cli::{free_port, opsmate, wait_ready};
use crate::support::slack_requests::command_body;
use opsmate::chat::slack::verify::SlackVerifier;
use opsmate::config::Secret;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SIGNING_SECRET: &str = "slow-clients-signing-secret";
/// More slow connections than the process has descriptors.
const SLOW: usize = 300;

/// A connection that sent half a request's headers and then nothing.
fn half_request(port: u16) -> Option<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: opsmate\r\nX-Slow: ")
        .ok()?;
    Some(s)
}

/// Reads until the server closes the connection (or `limit` passes); true if it did.
fn closed_by_server(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            // hyper may answer 408 before it closes.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_clients_cannot_starve_healthz_or_slack() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = opsmate(dir.path());
    let bin = server.get_program().to_owned();
    // The same environment, through a shell that lowers the limit (soft and hard).
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" serve")
        .arg(bin)
        .current_dir(dir.path())
        .env_clear()
        .envs(server.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("OPSMATE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("OPSMATE_HTTP__HEADER_READ_TIMEOUT", "3s")
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    server = cmd;
    let child = server.spawn().unwrap();
    let ready = tokio::task::spawn_blocking(move || wait_ready(port, Duration::from_secs(20)))
        .await
        .unwrap();

    let mut slow = tokio::task::spawn_blocking(move || {
        (0..SLOW)
            .filter_map(|_| half_request(port))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    // While they are held open: /healthz answers, and so does a signed command.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let healthz = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let body = command_body("UALICE", "C0OPS", "help", "http://127.0.0.1:9/hook");
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = SlackVerifier::new(Secret::new(SIGNING_SECRET)).sign(&ts, body.as_bytes());
    let command = http
        .post(format!("http://127.0.0.1:{port}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16());
    let opened = slow.len();
    // The newest slow connection is let go once its header time is up.
    let newest = tokio::task::spawn_blocking(move || {
        slow.last_mut()
            .map(|s| closed_by_server(s, Duration::from_secs(10)))
    })
    .await
    .unwrap();

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ready, "never ready:\n{logs}");
    assert_eq!(opened, SLOW, "the loopback took every slow connection");
    assert!(
        matches!(healthz, Ok(200)),
        "/healthz during the attack: {healthz:?}\n{logs}"
    );
    assert!(
        matches!(command, Ok(200)),
        "signed command during the attack: {command:?}\n{logs}"
    );
    assert_eq!(newest, Some(true), "a slow connection was never closed");
    assert!(logs.contains("accepting at most 192 connections"), "{logs}");
    assert_eq!(out.status.code(), Some(0), "{logs}");
}
