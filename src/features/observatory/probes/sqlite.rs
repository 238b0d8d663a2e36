//! The sqlite check: OpsMate's own database answers a trivial query in time.

use super::{human, millis};
use crate::features::observatory::status::{Outcome, Status};
use crate::store::Store;
use std::time::{Duration, Instant};

/// A database that takes longer than this (locked, disk stalled) counts as down.
const DEADLINE: Duration = Duration::from_secs(5);

pub(super) async fn run(store: &Store) -> Outcome {
    let started = Instant::now();
    let query = store.call(|c| {
        Ok(c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })?)
    });
    match tokio::time::timeout(DEADLINE, query).await {
        Err(_) => Outcome::error(format!(
            "the database did not answer within {}",
            human(DEADLINE)
        )),
        Ok(Err(e)) => Outcome::error(format!("the database query failed: {e:#}")),
        Ok(Ok(objects)) => {
            let ms = millis(started.elapsed());
            Outcome::new(
                Status::Ok,
                Some(ms),
                "ms",
                format!("answered in {ms:.0} ms ({objects} schema objects)"),
            )
        }
    }
}
