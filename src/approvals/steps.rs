//! A running action's stored steps: one JSON value per key, so that an action that
//! waits, or is resumed after a restart, knows what it already did.

use crate::clock::to_millis;
use crate::domain::ApprovalId;
use crate::store::Store;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The steps of one proposal's action.
#[derive(Clone)]
pub struct Steps {
    store: Store,
    proposal: ApprovalId,
}

impl Steps {
    pub fn new(store: Store, proposal: ApprovalId) -> Self {
        Self { store, proposal }
    }

    /// The value stored under `key`, if any.
    pub async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        key: &str,
    ) -> anyhow::Result<Option<T>> {
        let (id, key) = (self.proposal.clone(), key.to_owned());
        let raw = self.store.call(move |c| get(c, &id, &key)).await?;
        raw.map(|s| serde_json::from_str(&s).map_err(anyhow::Error::from))
            .transpose()
    }

    /// Every stored step, by key.
    pub async fn all<T: DeserializeOwned + Send + 'static>(
        &self,
    ) -> anyhow::Result<BTreeMap<String, T>> {
        let id = self.proposal.clone();
        let rows = self.store.call(move |c| all(c, &id)).await?;
        rows.into_iter()
            .map(|(k, v)| Ok((k, serde_json::from_str(&v)?)))
            .collect()
    }

    /// Stores `value` under `key`, replacing what was there.
    pub async fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let (id, key) = (self.proposal.clone(), key.to_owned());
        let value = serde_json::to_string(value)?;
        self.store
            .call(move |c| put(c, &id, &key, &value, now))
            .await
    }
}

fn get(c: &Connection, id: &ApprovalId, key: &str) -> anyhow::Result<Option<String>> {
    Ok(c.query_row(
        "SELECT value FROM action_steps WHERE proposal_id = ?1 AND key = ?2",
        params![id.as_str(), key],
        |r| r.get(0),
    )
    .optional()?)
}

fn all(c: &Connection, id: &ApprovalId) -> anyhow::Result<Vec<(String, String)>> {
    let mut stmt =
        c.prepare("SELECT key, value FROM action_steps WHERE proposal_id = ?1 ORDER BY key")?;
    let rows = stmt.query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn put(
    c: &Connection,
    id: &ApprovalId,
    key: &str,
    value: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    c.execute(
        "INSERT INTO action_steps (proposal_id, key, value, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (proposal_id, key) DO UPDATE SET value = excluded.value, at = excluded.at",
        params![id.as_str(), key, value, to_millis(now)],
    )?;
    Ok(())
}
