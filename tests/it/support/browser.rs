//! A real browser for the console's tests: Debian's headless Chromium driven over
//! WebDriver (ChromeDriver, started here on a free port) with fantoccini. When
//! Chromium or ChromeDriver is missing, the first test installs Debian's `chromium`
//! and `chromium-driver` with apt-get (as root, or with `sudo -n`), as `.ci/run`
//! does; if that is not possible the tests fail and say so.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// Installs Debian's Chromium and ChromeDriver once per test run when missing.
fn install_once(chromium: &str, driver: &str) {
    static INSTALLED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut tried = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let present = |p: &str| std::path::Path::new(p).exists();
    if *tried || (present(chromium) && present(driver)) {
        return;
    }
    *tried = true;
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let apt = |args: &[&str]| {
        let mut c = if root {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !root {
            c.args(["-n", "apt-get"]);
        }
        c.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let _ =
        apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "chromium", "chromium-driver"]);
}

impl Browser {
    pub async fn start() -> Self {
        let driver_path = find("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = find("CHROMIUM", "/usr/bin/chromium");
        let (c, d) = (chromium.clone(), driver_path.clone());
        tokio::task::spawn_blocking(move || install_once(&c, &d))
            .await
            .unwrap();
        assert!(
            std::path::Path::new(&driver_path).exists() && std::path::Path::new(&chromium).exists(),
            "the browser tests need Debian's chromium and chromium-driver ({chromium}, {driver_path}); \
             `apt-get install chromium chromium-driver`, as .ci/run does"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        // ChromeDriver says on `/status` when it takes sessions.
        let ready = super::eventually(Duration::from_secs(10), || async {
            match reqwest::get(format!("{url}/status")).await {
                Ok(r) => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        assert!(ready, "chromedriver on port {port} never said it was ready");
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("chromedriver starts a Chromium session");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Saves a screenshot of the page as `target/console-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Waits (up to 20 s) until the page's main part contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let seen = std::sync::Mutex::new(String::new());
        let shown = super::eventually(Duration::from_secs(20), || async {
            let Ok(main) = self.client.find(Locator::Id("main")).await else {
                return false;
            };
            let text = main.text().await.unwrap_or_default();
            let found = text.contains(needle);
            *seen.lock().unwrap() = text;
            found
        })
        .await;
        let text = seen.into_inner().unwrap();
        assert!(shown, "the page never showed {needle:?}; it shows:\n{text}");
        text
    }

    /// How many times the page swapped its content after a live event.
    pub async fn live_updates(&self) -> u64 {
        let v = self
            .client
            .execute(
                "return document.body.getAttribute('data-updates') || '0';",
                vec![],
            )
            .await
            .unwrap();
        v.as_str().unwrap_or("0").parse().unwrap_or(0)
    }

    pub async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
