-- Telegram updates already handled, so a redelivered update (webhook retry, or
-- polling after a restart) is handled once. The highest id is also where long
-- polling resumes. Times are Unix milliseconds (UTC).
CREATE TABLE telegram_updates_seen (
    update_id   INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL
);
