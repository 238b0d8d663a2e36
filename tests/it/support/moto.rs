//! A real `moto_server`, started by the harness on a free loopback port.
//!
//! The binary is looked up in `$MOTO_SERVER`, then `target/moto-venv/bin/moto_server`,
//! then `PATH`. If none is found, it is installed into `target/moto-venv` with
//! `python3 -m venv` and `pip install 'moto[server]'` (once per test run), so
//! `cargo test` works on a fresh machine that has Python 3. A missing Python fails the
//! test with a message; it never skips.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static INSTALL: Mutex<()> = Mutex::new(());

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// An AWS handle straight to this moto (static credentials), for seeding and
    /// checking; `region` is the home region.
    pub async fn aws(&self, region: &str) -> opsmate::cloud::Aws {
        let config = opsmate::config::AwsConfig {
            regions: vec![region.to_owned()],
            endpoint_url: Some(self.endpoint.clone()),
            ..opsmate::config::AwsConfig::default()
        };
        opsmate::cloud::Aws::with_static_credentials(&config, "testing", "testing").await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv")
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

fn moto_binary() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = std::env::var_os("MOTO_SERVER").map(PathBuf::from) {
        assert!(p.is_file(), "MOTO_SERVER={} does not exist", p.display());
        return p;
    }
    let venv_bin = venv_dir().join("bin/moto_server");
    if venv_bin.is_file() {
        return venv_bin;
    }
    if let Some(p) = find_on_path("moto_server") {
        return p;
    }
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv_dir())
        .status()
        .expect("python3 is needed to install moto for the AWS tests");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(venv_dir().join("bin/pip"))
        .args(["install", "--quiet", "moto[server]"])
        .status()
        .expect("running pip");
    assert!(status.success(), "pip install 'moto[server]' failed");
    assert!(venv_bin.is_file(), "moto_server missing after install");
    venv_bin
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub fn start() -> Self {
        let binary = moto_binary();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // No Amazon-owned sample AMIs and their snapshots: each test seeds its own.
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        let moto = Self { child, endpoint };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        warm_up(port);
        moto
    }
}

/// moto loads its EC2 backend on the first EC2 request, which takes seconds on a busy
/// machine. One request here, with a generous wait, keeps that out of the tests' calls.
fn warm_up(port: u16) {
    use std::io::{Read, Write};
    let body = "Action=DescribeRegions&Version=2016-11-15";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
        let _ = stream.write_all(request.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
}
