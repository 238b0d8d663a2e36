//! Night Watchman's page in the web console: its last decision with the reasons,
//! the hold in force and its history (the data of `GET /api/v1/watchman`).

use crate::plugin::ConsolePage;

pub const PAGES: &[ConsolePage] = &[ConsolePage {
    path: "watchman",
    title: "Night Watchman",
    template: include_str!("page.html"),
    data: super::api::read,
}];
