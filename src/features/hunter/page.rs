//! Zombie Hunter's page in the web console: the findings still idle, sortable, with
//! $/month and first seen, and this month's savings (the data of
//! `GET /api/v1/findings`).

use crate::plugin::ConsolePage;

pub const PAGES: &[ConsolePage] = &[ConsolePage {
    path: "zombies",
    title: "Zombie Hunter",
    template: include_str!("page.html"),
    data: super::api::read,
}];
