//! OpsMate: a chatops bot that finds waste and risk in an AWS account and acts only
//! after a recorded human decision.
//!
//! The library holds everything; `main.rs` only parses the command line. Tests build
//! the same [`app::App`] the binary runs.
//!
//! Where to look:
//! - `config/`: the TOML file, environment overrides and secrets;
//! - `store/`: the SQLite connection and embedded migrations;
//! - `audit/`: the append-only, hash-chained audit log;
//! - `approvals/`: the approval gate, the one door to destructive work;
//! - `executor/`: runs approved actions beside the queue, in resumable steps;
//! - `outbox/`: durable delivery of every outgoing chat message;
//! - `scheduler/`: cron jobs in a time zone, once per occurrence;
//! - `events.rs` and `dispatch.rs`: the one queue and the dispatcher that handles its
//!   events concurrently, in order where order matters;
//! - `http/`: the axum server (health, readiness, metrics);
//! - `chat/`: platform adapters (Slack Web API delivery);
//! - `cloud/`: AWS clients with an endpoint override;
//! - `github.rs`: the GitHub client shared by the features;
//! - `features/`: the four jobs, one folder each (`hunter`, `watchman`, `guard`, …);
//! - `standby/`: a second machine on LiteFS: the role from `.primary`, writes sent
//!   to the primary, the primary's work started and stopped with the lease;
//! - `cli.rs`: the `opsmate` command line.

pub mod app;
pub mod approvals;
pub mod audit;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod errors;
pub mod events;
pub mod executor;
pub mod features;
pub mod github;
pub mod http;
pub mod metrics;
pub mod outbox;
pub mod plugin;
pub mod scheduler;
pub mod standby;
pub mod store;
pub mod telemetry;
pub mod web;
