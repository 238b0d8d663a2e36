-- Rollback Pilot: each watched Argo CD application's state machine, and the poll
-- counts per deployed revision that a candidate's uptime is read from.
CREATE TABLE rollback_apps (
    app TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    -- When it entered this state.
    since TEXT NOT NULL,
    -- Consecutive Degraded polls.
    degraded_polls INTEGER NOT NULL DEFAULT 0,
    -- Bumped at each degradation; names the episode's message.
    episode INTEGER NOT NULL DEFAULT 0,
    -- The episode, as JSON (degraded since, replicas, candidate, pull request,
    -- invariants, decision, merge, outcome).
    flow TEXT NOT NULL DEFAULT '{}',
    -- Bumped at each change; the message is rewritten while shown < version.
    version INTEGER NOT NULL DEFAULT 0,
    shown INTEGER NOT NULL DEFAULT 0,
    -- The episode whose message was posted.
    announced INTEGER NOT NULL DEFAULT 0,
    -- The episode whose ending (recovered, failed, aborted) was announced.
    followed INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE rollback_revisions (
    app TEXT NOT NULL,
    revision TEXT NOT NULL,
    healthy_polls INTEGER NOT NULL DEFAULT 0,
    counted_polls INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (app, revision)
) WITHOUT ROWID;
