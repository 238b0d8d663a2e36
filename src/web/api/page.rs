//! Cursor pagination: `?limit=` (1 to 500, 50 by default) and `?cursor=` from the
//! previous page's `next_cursor`, which is absent on the last page.

use super::ApiError;
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// The paging part of a query string.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size asked for, checked.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}, not {n}"
            ))),
        }
    }

    /// The position to continue before, from the cursor.
    pub fn before(&self) -> Result<Option<i64>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::bad_request(format!("cursor {c:?} is not one this API gave out"))
                })
            })
            .transpose()
    }
}

/// One page of items.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` fetched `limit + 1` at a time: the extra one only says
    /// there is more, and the last kept item's position is the cursor.
    pub fn of(mut items: Vec<(i64, T)>, limit: usize) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = more
            .then(|| items.last().map(|(pos, _)| pos.to_string()))
            .flatten();
        Self {
            items: items.into_iter().map(|(_, item)| item).collect(),
            next_cursor,
        }
    }
}
