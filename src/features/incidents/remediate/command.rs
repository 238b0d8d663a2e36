//! Running a remediation's program: argv with no shell, a clean environment holding
//! only the allowed variables, its own process group, and a time limit past which
//! the whole group is killed (a script's children do not outlive it). Output is
//! captured up to a cap per stream, keeping the end, where the error usually is.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most output kept per stream.
pub const OUTPUT_CAP: usize = 1024 * 1024;
/// How long to wait for a finished program's output pipes to close (a child it left
/// running in the background may hold them open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How a program ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    /// Its exit code; `None` when it was killed or died by a signal.
    pub exit: Option<i32>,
    /// It ran past its time limit and its process group was killed.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// Output was longer than [`OUTPUT_CAP`] and its start was dropped.
    pub truncated: bool,
    pub took: Duration,
}

impl CommandRun {
    pub fn ok(&self) -> bool {
        self.exit == Some(0)
    }

    /// "exit 0", "exit 3", "killed after 30s (its time limit)".
    pub fn describe(&self, limit: Duration) -> String {
        match (self.timed_out, self.exit) {
            (true, _) => format!(
                "killed after {} (its time limit)",
                humantime::format_duration(limit)
            ),
            (false, Some(code)) => format!("exit {code}"),
            (false, None) => "ended by a signal".to_owned(),
        }
    }
}

/// Runs `argv` in `dir` with only the variables named in `env` passed on.
pub async fn run(
    argv: &[String],
    dir: Option<&Path>,
    env: &[String],
    limit: Duration,
) -> anyhow::Result<CommandRun> {
    let Some((program, args)) = argv.split_first() else {
        anyhow::bail!("no program to run");
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in env {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("could not start {program}: {e}"))?;
    let pid = child.id();
    let stdout = tokio::spawn(read_capped(child.stdout.take()));
    let stderr = tokio::spawn(read_capped(child.stderr.take()));
    let (exit, timed_out) = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => (status?.code(), false),
        Err(_) => {
            kill_group(pid);
            let _ = child.wait().await;
            (None, true)
        }
    };
    let took = started.elapsed();
    let (out, out_cut) = drained(stdout).await;
    let (err, err_cut) = drained(stderr).await;
    Ok(CommandRun {
        exit,
        timed_out,
        stdout: out,
        stderr: err,
        truncated: out_cut || err_cut,
        took,
    })
}

/// Kills the program's whole process group.
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

async fn drained(task: tokio::task::JoinHandle<(String, bool)>) -> (String, bool) {
    match tokio::time::timeout(DRAIN_GRACE, task).await {
        Ok(Ok(read)) => read,
        _ => (String::new(), false),
    }
}

/// Reads a stream to its end, keeping its last [`OUTPUT_CAP`] bytes.
async fn read_capped<R: AsyncRead + Unpin>(stream: Option<R>) -> (String, bool) {
    let Some(mut stream) = stream else {
        return (String::new(), false);
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > OUTPUT_CAP {
                    let extra = kept.len() - OUTPUT_CAP;
                    kept.drain(..extra);
                    cut = true;
                }
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

/// The last `max` bytes of `text`, on a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[tokio::test]
    async fn output_and_exit_code_are_captured_and_the_environment_is_only_the_allowed() {
        let run = run(
            &argv(&[
                "/bin/sh",
                "-c",
                "echo out; echo err >&2; echo \"[$HOME]\"; exit 3",
            ]),
            None,
            &[],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(run.exit, Some(3));
        assert!(run.stdout.contains("out"), "{run:?}");
        assert!(run.stdout.contains("[]"), "HOME was not passed on: {run:?}");
        assert_eq!(run.stderr.trim(), "err");
        assert_eq!(run.describe(Duration::from_secs(10)), "exit 3");
    }

    #[tokio::test]
    async fn a_program_past_its_limit_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-alive");
        // The child keeps touching a file; once the group is killed it stops.
        let script = format!(
            "(while true; do touch {m}; sleep 0.1; done) & sleep 30",
            m = marker.display()
        );
        let started = Instant::now();
        let run = run(
            &argv(&["/bin/sh", "-c", &script]),
            None,
            &[],
            Duration::from_millis(500),
        )
        .await
        .unwrap();
        assert!(run.timed_out);
        assert_eq!(run.exit, None);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            run.describe(Duration::from_millis(500))
                .starts_with("killed after 500ms")
        );
        std::fs::remove_file(&marker).ok();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!marker.exists(), "the background child outlived the kill");
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_that_names_it() {
        let err = run(
            &argv(&["/nonexistent/fix"]),
            None,
            &[],
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/fix"), "{err}");
    }

    #[test]
    fn tail_keeps_the_end_on_a_character_boundary() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ééé", 3), "é");
        assert_eq!(tail("ab", 5), "ab");
    }
}
