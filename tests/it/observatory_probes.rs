//! Observatory probes against real local servers: HTTP and HTTPS (with certificates
//! made here), plain TCP listeners, the host and a real SQLite store.

use crate::support::config_in;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use opsmate::features::observatory::config::{CheckConfig, CheckKind};
use opsmate::features::observatory::probes::Probes;
use opsmate::features::observatory::status::{Outcome, Status};
use opsmate::store::Store;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

struct Fixture {
    probes: Probes,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let store = Store::open(&config.storage.path, Duration::from_secs(5)).unwrap();
    Fixture {
        probes: Probes::new(store).unwrap(),
        _dir: dir,
    }
}

fn routes() -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok", "db": {"ok": true, "lag_ms": 3}})) }),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "too late"
            }),
        )
        .route(
            "/moved",
            get(|| async { (StatusCode::MOVED_PERMANENTLY, [("location", "/health")]) }),
        )
}

/// A plain HTTP server on a loopback port; returns its base URL.
async fn serve_http() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes()).await.unwrap() });
    url
}

fn http_check(url: String) -> CheckConfig {
    let mut c = CheckConfig::new("api", CheckKind::Http);
    c.url = Some(url);
    c.timeout = Some(Duration::from_secs(2));
    c
}

fn assert_status(outcome: &Outcome, status: Status) {
    assert_eq!(outcome.status, status, "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_endpoint_is_ok_with_its_latency() {
    let f = fixture();
    let base = serve_http().await;
    let mut check = http_check(format!("{base}/health"));
    check.body_contains = Some("\"status\"".into());
    check.json_field = Some("db.ok".into());
    check.json_equals = Some("true".into());
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Ok);
    assert_eq!(out.unit, "ms");
    let ms = out.value.expect("latency");
    assert!((0.0..2000.0).contains(&ms), "{out:?}");
    assert!(out.message.starts_with("HTTP 200 in "), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_critical_with_its_status() {
    let f = fixture();
    let base = serve_http().await;
    let out = f.probes.run(&http_check(format!("{base}/broken"))).await;
    assert_status(&out, Status::Critical);
    assert!(out.message.contains("HTTP 500, expected 200"), "{out:?}");
    assert!(out.value.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_judged_not_followed() {
    let f = fixture();
    let base = serve_http().await;
    let mut check = http_check(format!("{base}/moved"));
    assert_status(&f.probes.run(&check).await, Status::Critical);
    check.expect_status = Some(301);
    assert_status(&f.probes.run(&check).await, Status::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_and_json_expectations_pass_and_fail() {
    let f = fixture();
    let base = serve_http().await;
    let url = format!("{base}/health");

    let mut check = http_check(url.clone());
    check.body_contains = Some("degraded".into());
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Critical);
    assert!(
        out.message.contains("body does not contain \"degraded\""),
        "{out:?}"
    );

    let mut check = http_check(url.clone());
    check.json_field = Some("status".into());
    check.json_equals = Some("ok".into());
    assert_status(&f.probes.run(&check).await, Status::Ok);

    check.json_equals = Some("degraded".into());
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Critical);
    assert!(
        out.message.contains(r#"is "ok", expected "degraded""#),
        "{out:?}"
    );

    let mut check = http_check(url.clone());
    check.json_field = Some("db.lag_ms".into());
    check.json_equals = Some("3".into());
    assert_status(&f.probes.run(&check).await, Status::Ok);

    check.json_field = Some("db.missing".into());
    check.json_equals = None;
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Critical);
    assert!(out.message.contains("db.missing is missing"), "{out:?}");

    let mut check = http_check(format!("{base}/broken"));
    check.expect_status = Some(500);
    check.json_field = Some("status".into());
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Critical);
    assert!(out.message.contains("not JSON"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_over_the_slo_warns() {
    let f = fixture();
    let base = serve_http().await;
    let mut check = http_check(format!("{base}/health"));
    check.latency_slo_ms = Some(0);
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Warn);
    assert!(out.message.ends_with("ms, over the 0 ms SLO"), "{out:?}");
    // Critical outranks the warning.
    check.json_field = Some("nope".into());
    assert_status(&f.probes.run(&check).await, Status::Critical);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_is_an_error_within_the_timeout() {
    let f = fixture();
    let base = serve_http().await;
    let mut check = http_check(format!("{base}/slow"));
    check.timeout = Some(Duration::from_millis(500));
    let started = Instant::now();
    let out = f.probes.run(&check).await;
    let elapsed = started.elapsed();
    assert_status(&out, Status::Error);
    assert_eq!(out.message, "timed out after 500ms");
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(450), "took {elapsed:?}");
}

/// Accepts connections and never says a word.
async fn silent_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_does_not_hang_the_probe() {
    let f = fixture();
    let addr = silent_listener().await;
    let mut check = http_check(format!("http://{addr}/"));
    check.timeout = Some(Duration::from_secs(1));
    let started = Instant::now();
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Error);
    assert_eq!(out.message, "timed out after 1s");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // An https URL on the same listener stalls in the handshake instead: same result.
    check.url = Some(format!("https://{addr}/"));
    let started = Instant::now();
    assert_status(&f.probes.run(&check).await, Status::Error);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A port nothing listens on: bound, then released.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_an_error_saying_so() {
    let f = fixture();
    let addr = closed_port().await;
    let out = f.probes.run(&http_check(format!("http://{addr}/"))).await;
    assert_status(&out, Status::Error);
    assert_eq!(out.message, "connection refused");
    assert_eq!(out.value, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connects_to_a_listener_and_not_to_a_closed_port() {
    let f = fixture();
    let open = silent_listener().await;
    let mut check = CheckConfig::new("db-port", CheckKind::Tcp);
    check.address = Some(open.to_string());
    check.timeout = Some(Duration::from_secs(2));
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Ok);
    assert_eq!(out.unit, "ms");
    assert!(
        out.value.is_some_and(|ms| (0.0..2000.0).contains(&ms)),
        "{out:?}"
    );

    check.address = Some(closed_port().await.to_string());
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Error);
    assert_eq!(out.message, "connection refused");
}

/// An internal CA and a server certificate for 127.0.0.1 and localhost that it
/// signed, valid until `valid_for` from now. Returns (CA PEM, leaf DER, leaf key DER).
fn certificates(valid_for: time::Duration) -> (String, Vec<u8>, Vec<u8>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "OpsMate test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    leaf.not_after = time::OffsetDateTime::now_utc() + valid_for;
    let cert = leaf.signed_by(&leaf_key, &ca).unwrap();
    (ca.pem(), cert.der().to_vec(), leaf_key.serialize_der())
}

/// Accepts TLS connections for `axum::serve`; failed handshakes are dropped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((socket, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(socket).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An HTTPS server presenting a certificate valid for `valid_for`; returns its base
/// URL and the PEM file of the CA that signed it.
async fn serve_https(dir: &Path, valid_for: time::Duration) -> (String, std::path::PathBuf) {
    let (ca_pem, cert, key) = certificates(valid_for);
    let ca_file = dir.join("internal-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.into()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key).into(),
        )
        .unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", tcp.local_addr().unwrap());
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, routes()).await.unwrap() });
    (url, ca_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_expiring_soon_warns_with_the_days_left() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let valid_for = time::Duration::days(5) + time::Duration::hours(1);
    let (base, ca_file) = serve_https(dir.path(), valid_for).await;
    let mut check = http_check(format!("{base}/health"));
    check.ca_file = Some(ca_file);
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Warn);
    let date = (time::OffsetDateTime::now_utc() + valid_for).date();
    assert!(
        out.message.contains("certificate expires in 5 days"),
        "{out:?}"
    );
    assert!(out.message.contains(&date.to_string()), "{out:?} {date}");
    assert!(out.value.is_some());

    // Below a lower warning level it is fine.
    check.tls_warn_days = Some(3);
    assert_status(&f.probes.run(&check).await, Status::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_with_two_months_left_is_ok() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (base, ca_file) = serve_https(dir.path(), time::Duration::days(60)).await;
    let mut check = http_check(format!("{base}/health"));
    check.ca_file = Some(ca_file);
    check.json_field = Some("status".into());
    check.json_equals = Some("ok".into());
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Ok);
    assert!(out.message.starts_with("HTTP 200 in "), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_or_expired_certificate_is_an_error() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (base, _ca_file) = serve_https(dir.path(), time::Duration::days(60)).await;
    // Without the internal CA the certificate cannot be verified.
    let out = f.probes.run(&http_check(format!("{base}/health"))).await;
    assert_status(&out, Status::Error);
    assert!(out.message.contains("unknown issuer"), "{out:?}");

    let (base, ca_file) = serve_https(dir.path(), -time::Duration::days(1)).await;
    let mut check = http_check(format!("{base}/health"));
    check.ca_file = Some(ca_file);
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Error);
    let yesterday = (time::OffsetDateTime::now_utc() - time::Duration::days(1)).date();
    assert_eq!(out.message, format!("certificate expired on {yesterday}"));

    check.ca_file = Some(dir.path().join("missing.pem"));
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Error);
    assert!(out.message.contains("cannot read ca_file"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_reads_the_root_filesystem_against_the_thresholds() {
    let f = fixture();
    let mut check = CheckConfig::new("root", CheckKind::Disk);
    let out = f.probes.run(&check).await;
    assert_ne!(out.status, Status::Error, "{out:?}");
    assert_eq!(out.unit, "%");
    assert!(
        out.value.is_some_and(|v| (0.0..=100.0).contains(&v)),
        "{out:?}"
    );
    assert!(out.message.contains("% used of "), "{out:?}");
    assert!(out.message.contains(" on /"), "{out:?}");

    check.warn_percent = Some(0.0);
    check.critical_percent = Some(100.0);
    let out = f.probes.run(&check).await;
    assert_status(&out, Status::Warn);
    assert!(out.message.ends_with("warning at 0%"), "{out:?}");

    check.path = Some("/no/such/folder".into());
    assert_status(&f.probes.run(&check).await, Status::Error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_cpu_read_a_percentage() {
    let f = fixture();
    for kind in [CheckKind::Memory, CheckKind::Cpu, CheckKind::Cpu] {
        let mut check = CheckConfig::new("host", kind);
        let out = f.probes.run(&check).await;
        assert_ne!(out.status, Status::Error, "{kind:?} {out:?}");
        assert_eq!(out.unit, "%");
        assert!(
            out.value.is_some_and(|v| (0.0..=100.0).contains(&v)),
            "{kind:?} {out:?}"
        );
        check.warn_percent = Some(0.0);
        check.critical_percent = Some(0.0);
        assert_status(&f.probes.run(&check).await, Status::Critical);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_answers_from_the_real_store() {
    let f = fixture();
    let out = f
        .probes
        .run(&CheckConfig::new("db", CheckKind::Sqlite))
        .await;
    assert_status(&out, Status::Ok);
    assert_eq!(out.unit, "ms");
    assert!(out.value.is_some_and(|ms| ms < 5000.0), "{out:?}");
    assert!(out.message.contains("schema objects"), "{out:?}");
}
