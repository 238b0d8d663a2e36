//! Slack adapter: the HTTP endpoints and Socket Mode (doors in), Block Kit rendering
//! and Web API delivery (out).

pub mod directory;
pub mod door;
pub mod groups;
pub mod home;
pub mod ingest;
pub mod intake;
pub mod members;
pub mod reason;
pub mod render;
pub mod seen;
pub mod send;
pub mod socket;
pub mod throttled_log;
pub mod verify;
pub mod views;
pub mod web_api;

pub use web_api::SlackWebApi;
