-- A message a feature will rewrite later (e.g. a report whose lines change as people
-- decide) is queued with a tag; once delivered, where it landed is kept here.
ALTER TABLE outbox ADD COLUMN tag TEXT;

CREATE TABLE tagged_messages (
    platform   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (platform, channel, message_id)
);
CREATE INDEX tagged_messages_by_tag ON tagged_messages (tag);
