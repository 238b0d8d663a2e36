//! Accepting connections for the router, so that slow or idle clients cannot use up
//! the process's descriptors.
//!
//! hyper serves each connection (HTTP/1, with its header-read timeout); this module
//! only decides which connections to keep:
//! - a client must send a request's headers within `http.header_read_timeout`,
//!   counted from when the server starts waiting (so an idle kept-alive connection
//!   ends too);
//! - a connection that sends or takes nothing for `http.idle_timeout` is closed, in
//!   the middle of a body too;
//! - at most `http.max_connections` are open, lowered to what the descriptor limit
//!   leaves after [`RESERVED_DESCRIPTORS`]. At the cap, a new connection closes the
//!   one that has waited longest without a request in flight, as nginx drains its
//!   reusable connections: clients holding sockets open with partial headers are the
//!   ones let go, and `/healthz` or a signed Slack request still gets in.
//!
//! The request timeout (408) is a tower layer on the router ([`super::router`]).

use crate::config::HttpConfig;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Descriptors kept for everything but client connections: the database and its
/// journal, outgoing HTTPS (Slack, Telegram, AWS), logs, and a spare to accept with.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// How the server treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// After lowering to the descriptor limit.
    pub max_connections: usize,
    /// The process's descriptor limit, when known.
    pub descriptors: Option<u64>,
}

impl Limits {
    /// The configured limits, with the connection cap lowered to what the
    /// descriptor limit allows (raised first to the hard limit, as far as allowed).
    pub fn new(config: &HttpConfig) -> Self {
        let descriptors = descriptor_limit();
        let max_connections = match descriptors {
            Some(n) => {
                let left = n.saturating_sub(RESERVED_DESCRIPTORS).max(n / 2).max(1);
                config
                    .max_connections
                    .min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            None => config.max_connections,
        };
        Self {
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            max_connections,
            descriptors,
        }
    }
}

/// The soft descriptor limit after raising it to the hard one.
#[cfg(unix)]
fn descriptor_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    limit.current
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<u64> {
    None
}

/// One open connection, as the cap sees it.
struct Connection {
    /// Requests being answered on it.
    busy: AtomicUsize,
    /// When it last had no request in flight (its start, or its last answer).
    idle_since: Mutex<Instant>,
    close: CancellationToken,
}

impl Connection {
    fn idle_since(&self) -> Option<Instant> {
        (self.busy.load(Ordering::SeqCst) == 0)
            .then(|| *self.idle_since.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Marks a connection busy while a request is answered.
struct Busy(Arc<Connection>);

impl Busy {
    fn new(c: &Arc<Connection>) -> Self {
        c.busy.fetch_add(1, Ordering::SeqCst);
        Self(c.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections.
#[derive(Default)]
struct Open {
    next: AtomicU64,
    all: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Open {
    /// Registers a new connection, first closing the longest-idle one if the cap is
    /// reached. `None` when every open connection has a request in flight.
    /// Connections being closed still count until their socket is gone, so the cap
    /// bounds descriptors, not just entries.
    fn admit(&self, cap: usize) -> Option<(u64, Arc<Connection>)> {
        let mut all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        // When none can go, wait only if none is on its way out already.
        if all.len() >= cap
            && !evict_oldest_idle(&all)
            && !all.values().any(|c| c.close.is_cancelled())
        {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let c = Arc::new(Connection {
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            close: CancellationToken::new(),
        });
        all.insert(id, c.clone());
        Some((id, c))
    }

    /// Closes the connection idle longest (out of descriptors: make room).
    fn make_room(&self) -> bool {
        evict_oldest_idle(&self.all.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn remove(&self, id: u64) {
        self.all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// Asks the connection that has waited longest without a request to close; false
/// when every one has a request in flight (or is closing already).
fn evict_oldest_idle(all: &HashMap<u64, Arc<Connection>>) -> bool {
    let oldest = all
        .values()
        .filter(|c| !c.close.is_cancelled())
        .filter_map(|c| c.idle_since().map(|t| (t, c)))
        .min_by_key(|(t, _)| *t);
    match oldest {
        Some((_, c)) => {
            c.close.cancel();
            true
        }
        None => false,
    }
}

/// True at most once a minute per `last`, which it updates: what can happen on every
/// accept is logged sparingly.
fn once_a_minute(last: &mut Option<Instant>) -> bool {
    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

/// Serves `router` on `listener` until `shutdown`; then stops accepting and waits
/// for open requests (at most the header and idle timeouts) to be answered.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let open = Arc::new(Open::default());
    let graceful = GracefulShutdown::new();
    let (mut accept_failed, mut refused) = (None, None);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (or a connection reset before it was taken):
                // let the longest-idle connection go, and give it a moment to close.
                let room = open.make_room();
                if once_a_minute(&mut accept_failed) {
                    tracing::warn!(error = %e, closed_an_idle_one = room, "could not accept a connection");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let Some((id, connection)) = open.admit(limits.max_connections) else {
            if once_a_minute(&mut refused) {
                tracing::warn!(
                    max = limits.max_connections,
                    "refused a connection: every open one has a request in flight"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_read_timeout(Some(limits.idle_timeout));
        stream.set_write_timeout(Some(limits.idle_timeout));
        let service = {
            let (router, connection) = (router.clone(), connection.clone());
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let busy = Busy::new(&connection);
                let router = router.clone();
                async move {
                    let response = router.oneshot(request).await;
                    drop(busy);
                    response
                }
            })
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(Box::pin(stream)), service);
        let conn = graceful.watch(conn);
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                // A protocol error or a timeout ends the connection; hyper has
                // already answered what it could (e.g. 408 for slow headers).
                _ = conn => {}
                _ = connection.close.cancelled() => {}
            }
            open.remove(id);
        });
    }
    drop(listener);
    let wait = limits.header_read_timeout + limits.idle_timeout;
    if tokio::time::timeout(wait, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {wait:?} after shutdown; closing them");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_idle_connection_goes() {
        let open = Open::default();
        let (first, a) = open.admit(2).unwrap();
        let (second, b) = open.admit(2).unwrap();
        let busy = Busy::new(&a);
        // `a` is busy: `b` is the only one that may go.
        let (_, c) = open.admit(2).unwrap();
        assert!(b.close.is_cancelled());
        assert!(!a.close.is_cancelled());
        // `b` is on its way out, so a new one may come in; once it is gone and `c`
        // is busy too, a new one is refused.
        let _busy_c = Busy::new(&c);
        open.remove(second);
        assert!(open.admit(2).is_none());
        drop(busy);
        let (_, _d) = open.admit(2).unwrap();
        assert!(a.close.is_cancelled());
        open.remove(first);
    }

    #[test]
    fn the_cap_leaves_room_for_the_process_own_descriptors() {
        let limits = Limits::new(&HttpConfig::default());
        if let Some(n) = limits.descriptors {
            assert!(
                limits.max_connections as u64 <= n.saturating_sub(RESERVED_DESCRIPTORS).max(n / 2)
            );
        }
        assert!(limits.max_connections <= HttpConfig::default().max_connections);
    }
}
