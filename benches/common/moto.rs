//! A `moto_server` per benchmark, found the way the integration tests find it and
//! killed when dropped, so no error path leaves one behind; and the EC2 calls the
//! benchmarks seed it with.

use anyhow::{Context, bail};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::VolumeType;
use opsmate::cloud::Aws;
use opsmate::cloud::ec2::describe_error;
use opsmate::config::AwsConfig;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// [`find_moto`], or an error saying how to provide it.
pub fn moto_binary() -> anyhow::Result<PathBuf> {
    find_moto().context(
        "moto_server not found: set MOTO_SERVER, create target/moto-venv \
         (python3 -m venv target/moto-venv && target/moto-venv/bin/pip install 'moto[server]') \
         or put moto_server on PATH",
    )
}

/// `$MOTO_SERVER`, else the venv the integration tests install into, else `PATH`.
pub fn find_moto() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|p| p.join("moto_server"))
        .find(|p| p.is_file())
}

/// A running `moto_server`, killed when dropped so no error path leaves it behind.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it accepts connections.
    pub fn start(binary: &Path) -> anyhow::Result<Self> {
        let port = super::free_port();
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // No Amazon sample AMIs (and their snapshots): only what we seed exists.
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                bail!("moto_server exited at start-up ({status})");
            }
            if Instant::now() > deadline {
                bail!("moto_server did not accept connections within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    /// CPU time moto has used so far (Linux). moto is one Python process, so while
    /// it is near the wall time of a scan, moto's throughput is what bounds the scan.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name start with the state (field 3);
        // utime and stime are fields 14 and 15, in ticks of USER_HZ (100 on Linux).
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(Duration::from_millis((utime + stime) * 10))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The static credentials moto accepts (any would do); the benchmarks give the same
/// to the binary.
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";

/// An EC2 client for `region` straight to `endpoint` (a moto), for seeding and
/// checking without going through the proxy.
pub async fn ec2_client(endpoint: &str, region: &str) -> Client {
    let config = AwsConfig {
        regions: vec![region.to_owned()],
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    };
    Aws::with_static_credentials(&config, ACCESS_KEY, SECRET_KEY)
        .await
        .ec2(region)
}

/// An 8 GiB gp3 volume in the region's first zone; returns its id.
pub async fn create_volume(client: &Client, region: &str) -> anyhow::Result<String> {
    let out = client
        .create_volume()
        .availability_zone(format!("{region}a"))
        .size(8)
        .volume_type(VolumeType::Gp3)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateVolume in {region}: {}", describe_error(&e)))?;
    out.volume_id()
        .map(str::to_owned)
        .context("CreateVolume returned no id")
}

/// CPU time of all the moto processes together; `None` off Linux.
pub fn cpu_time(motos: &[Moto]) -> Option<Duration> {
    motos.iter().map(Moto::cpu_time).sum()
}
