-- Filtered reads of the audit log (the console's Audit page, the REST API) newest
-- first: each index ends in seq, so a page of one event, actor or subject is read
-- from its index without walking the log.
CREATE INDEX audit_by_event ON audit_log (event, seq);
CREATE INDEX audit_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_by_subject ON audit_log (subject, seq);
