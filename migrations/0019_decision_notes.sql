-- Why the decider decided as they did: the reason typed into Slack's reason dialog,
-- after a command, or sent with an API decision. Empty for a plain click.
ALTER TABLE proposals ADD COLUMN decision_note TEXT;
