//! Access Guard's page in the web console: people by status, grace clocks, kept
//! users and revocations with their steps (the data of `GET /api/v1/access`).

use crate::plugin::ConsolePage;

pub const PAGES: &[ConsolePage] = &[ConsolePage {
    path: "access",
    title: "Access Guard",
    template: include_str!("page.html"),
    data: super::api::read,
}];
