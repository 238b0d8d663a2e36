//! Integration tests: one binary (one link) with a module per area.

mod support;

mod aws_proxy;
mod aws_smoke;
mod cli;
mod executor;
mod gate;
mod guard_cli;
mod guard_detect;
mod guard_revoke;
mod http;
mod hunter_cli;
mod hunter_crash;
mod hunter_delete;
mod hunter_report;
mod hunter_scan;
mod hunter_wait;
mod iam_proxy;
mod incidents;
mod message_snapshots;
mod migrations;
mod observatory_alerts;
mod observatory_digest;
mod observatory_probes;
mod outbox;
mod scheduler;
mod shutdown;
mod slack_buttons;
mod slack_commands;
mod slack_events;
mod slack_socket;
mod slack_templates;
mod slow_clients;
mod telegram;
mod watchman_cli;
mod watchman_flow;
