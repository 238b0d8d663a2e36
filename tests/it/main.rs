//! Integration tests: one binary (one link) with a module per area.

mod support;

mod aws_smoke;
mod cli;
mod gate;
mod http;
mod migrations;
mod outbox;
mod scheduler;
