//! Chat: the neutral message and command model, and the platform adapters that
//! render and deliver it. Features never import a platform crate.

pub mod answers;
pub mod command;
pub mod destinations;
pub mod handle;
pub mod message;
pub mod slack;
pub mod telegram;
