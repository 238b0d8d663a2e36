//! What OpsMate shows outside chat: the REST API under `/api/v1/` and its bearer
//! tokens (`opsmate token create|list|revoke`).

pub mod api;
pub mod cli;
pub mod tokens;
