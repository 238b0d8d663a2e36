//! tcp checks: does something accept connections at `host:port`, and how fast.

use super::{human, millis};
use crate::features::observatory::config::CheckConfig;
use crate::features::observatory::status::{Outcome, Status};
use std::time::Instant;

pub(super) async fn run(check: &CheckConfig) -> Outcome {
    let Some(address) = check.address.as_deref() else {
        return Outcome::error("no address is configured");
    };
    let timeout = check.timeout();
    let started = Instant::now();
    // The deadline covers the name lookup as well as the connect.
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
        Err(_) => Outcome::error(format!("timed out after {}", human(timeout))),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Outcome::error("connection refused")
        }
        Ok(Err(e)) => Outcome::error(format!("cannot connect to {address}: {e}")),
        Ok(Ok(_stream)) => {
            let ms = millis(started.elapsed());
            Outcome::new(
                Status::Ok,
                Some(ms),
                "ms",
                format!("connected to {address} in {ms:.0} ms"),
            )
        }
    }
}
