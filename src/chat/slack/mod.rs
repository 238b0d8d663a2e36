//! Slack adapter.

pub mod web_api;

pub use web_api::SlackWebApi;
