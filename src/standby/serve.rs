//! Serving while the role can change.
//!
//! The listener and the HTTP server live as long as the process; the router behind
//! them is the current role's app's, swapped on a change ([`RouterSwitch`]). The
//! primary's work runs only while this machine holds the lease.

use super::role::{Role, RoleWatch};
use crate::app::{App, AppOptions, log_limits};
use crate::config::Loaded;
use crate::http;
use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The router requests go to now.
#[derive(Clone)]
pub struct RouterSwitch {
    current: Arc<RwLock<Current>>,
}

struct Current {
    router: Router,
    /// Ends the live streams of the app behind `router` when it is swapped out.
    closing: CancellationToken,
}

impl RouterSwitch {
    fn new(router: Router) -> Self {
        Self {
            current: Arc::new(RwLock::new(Current {
                router,
                closing: CancellationToken::new(),
            })),
        }
    }

    /// Puts `router` in front; the one it replaces has its streams closed.
    fn set(&self, router: Router, closing: CancellationToken) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        current.closing.cancel();
        *current = Current { router, closing };
    }

    /// The router the server serves: each request goes to the current one.
    fn router(&self) -> Router {
        let switch = self.clone();
        Router::new().fallback_service(tower::service_fn(move |request: Request| {
            let router = switch
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .router
                .clone();
            async move { router.oneshot(request).await }
        }))
    }
}

/// What a router answers while no app is up (between two roles, or while a
/// replica waits for the primary to create or migrate the database): 503, but for
/// liveness, so the platform does not restart a machine that is only waiting.
fn unavailable(why: &'static str) -> Router {
    Router::new()
        .route(
            "/healthz",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .fallback(move || async move { (StatusCode::SERVICE_UNAVAILABLE, why) })
}

/// Runs OpsMate on `listener` following the LiteFS lease until `shutdown`.
/// `options` gives the app options for each (re)build; its role is set here.
pub async fn serve(
    loaded: &Loaded,
    options: impl Fn() -> AppOptions,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let standby = &loaded.config.standby;
    let file = standby
        .primary_file
        .clone()
        .context("standby.primary_file is not set")?;
    let (watcher, mut role) = RoleWatch::new(file, standby.poll_interval);
    tokio::spawn(watcher.run(shutdown.clone()));
    let switch = RouterSwitch::new(unavailable("starting"));
    let limits = http::serve::Limits::new(&loaded.config.http);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening; /healthz, /readyz and /metrics are up");
    log_limits(&limits, &loaded.config);
    let server = tokio::spawn(http::serve::serve(
        listener,
        switch.router(),
        limits,
        shutdown.clone(),
    ));
    // The last start failure, logged once rather than at every retry.
    let mut failed = String::new();
    while !shutdown.is_cancelled() {
        let current = role.borrow_and_update().clone();
        let mut opts = options();
        opts.role = current.clone();
        let app = match App::build(loaded, opts).await {
            Ok(app) => {
                failed.clear();
                app
            }
            Err(e) => {
                let error = format!("{e:#}");
                if error != failed {
                    tracing::warn!(role = current.name(), %error, "could not start in this role; trying again every {:?}", standby.poll_interval);
                    failed = error;
                }
                switch.set(
                    unavailable("this machine is not ready yet"),
                    CancellationToken::new(),
                );
                tokio::select! {
                    _ = tokio::time::sleep(standby.poll_interval) => {}
                    _ = role.changed() => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
        };
        let work = shutdown.child_token();
        switch.set(app.router(), work.clone());
        if current.is_primary() {
            tracing::info!(
                "this machine holds the primary lease: the scheduler, executor, outbox sender and Telegram polling run here"
            );
            let running = app.start(work.clone());
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = server.await;
                    return running.stop().await;
                }
                _ = changed_from(&mut role, &current) => {
                    running.abandon().await;
                    switch.set(unavailable("this machine's role is changing"), CancellationToken::new());
                    work.cancel();
                }
            }
        } else {
            tracing::info!(
                primary = current.primary().unwrap_or("unknown"),
                "this machine is a replica: it serves reads and sends writes to the primary"
            );
            app.close_streams_on(&work);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = changed_from(&mut role, &current) => work.cancel(),
            }
        }
    }
    let _ = server.await;
    Ok(())
}

/// Resolves once the role is no longer `from` (or its watcher has stopped).
async fn changed_from(role: &mut watch::Receiver<Role>, from: &Role) {
    while *role.borrow_and_update() == *from {
        if role.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
