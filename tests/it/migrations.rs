//! Every migration applies to an empty database and to one holding rows from earlier
//! migrations, and the rows survive.

use chrono::Utc;
use opsmate::audit;
use opsmate::store::migrations;
use rusqlite::{Connection, params};
use serde_json::json;

fn table_names(c: &Connection) -> Vec<String> {
    let mut stmt = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn migrations_apply_to_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Connection::open(dir.path().join("empty.db")).unwrap();
    assert_eq!(migrations::current_version(&c).unwrap(), 0);
    migrations::apply_all(&mut c).unwrap();
    assert_eq!(
        migrations::current_version(&c).unwrap(),
        migrations::latest_version()
    );
    assert_eq!(
        table_names(&c),
        vec![
            "action_progress",
            "action_steps",
            "api_tokens",
            "approval_votes",
            "audit_heads",
            "audit_log",
            "billing_state",
            "billing_usage",
            "billing_usage_reports",
            "guard_people",
            "guard_steps",
            "health_alerts",
            "health_notices",
            "health_rollups",
            "health_samples",
            "hunter_findings",
            "hunter_report_items",
            "hunter_reports",
            "incident_deliveries",
            "incident_members",
            "incident_runs",
            "incidents",
            "job_runs",
            "outbox",
            "parked_events",
            "proposals",
            "rollback_apps",
            "rollback_revisions",
            "sentinel_bypasses",
            "sentinel_pulls",
            "slack_events_seen",
            "slack_members",
            "subscriptions",
            "tagged_messages",
            "telegram_updates_seen",
            "watchman_holds",
            "watchman_notices",
            "web_keys",
            "web_sessions",
            "webhook_deliveries"
        ]
    );
    // Applying again is a no-op.
    migrations::apply_all(&mut c).unwrap();
}

/// Sample rows for the tables a migration introduced.
fn seed(c: &Connection, version: usize) {
    let now = Utc::now();
    let ms = now.timestamp_millis();
    match version {
        1 => {
            audit::append(c, now, "system", "test.seed", "v1", &json!({"v": 1})).unwrap();
        }
        2 => {
            c.execute(
                "INSERT INTO proposals (id, kind, target, reason, proposed_by, created_at, expires_at)
                 VALUES ('abcdefghij', 'delete_volume', 'us-east-1/vol-1', 'seed', 'scheduler', ?1, ?2)",
                params![ms, ms + 86_400_000],
            )
            .unwrap();
            c.execute(
                "INSERT INTO approval_votes (proposal_id, approver, at) VALUES ('abcdefghij', 'slack:U1', ?1)",
                [ms],
            )
            .unwrap();
        }
        3 => {
            c.execute(
                "INSERT INTO outbox (platform, channel, payload, next_attempt_at, created_at)
                 VALUES ('slack', 'C1', '{\"text\":\"hi\"}', ?1, ?1)",
                [ms],
            )
            .unwrap();
        }
        4 => {
            c.execute(
                "INSERT INTO job_runs (job, scheduled_for, started_at) VALUES ('expire_approvals', ?1, ?1)",
                [ms],
            )
            .unwrap();
        }
        5 => {
            c.execute(
                "INSERT INTO slack_events_seen (event_id, received_at) VALUES ('Ev01', ?1)",
                [ms],
            )
            .unwrap();
            c.execute(
                "INSERT INTO slack_members (user_id, email, deleted, updated_at, last_event)
                 VALUES ('U1', 'a@example.com', 1, ?1, 'user_change')",
                [ms],
            )
            .unwrap();
        }
        6 => {
            c.execute(
                "INSERT INTO telegram_updates_seen (update_id, received_at) VALUES (7, ?1)",
                [ms],
            )
            .unwrap();
        }
        _ => {}
    }
}

#[test]
fn migrations_apply_over_rows_from_earlier_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Connection::open(dir.path().join("populated.db")).unwrap();
    c.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    for version in 1..=migrations::latest_version() {
        migrations::apply_up_to(&mut c, version).unwrap();
        seed(&c, version);
    }
    migrations::apply_all(&mut c).unwrap();
    let count = |table: &str| -> i64 {
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("audit_log"), 1);
    assert_eq!(count("proposals"), 1);
    assert_eq!(count("approval_votes"), 1);
    assert_eq!(count("outbox"), 1);
    assert_eq!(count("job_runs"), 1);
    assert_eq!(count("slack_events_seen"), 1);
    assert_eq!(count("slack_members"), 1);
    assert_eq!(count("telegram_updates_seen"), 1);
    assert!(matches!(
        audit::verify(&c, &[]).unwrap(),
        audit::Verification::Intact { rows: 1, .. }
    ));
}
