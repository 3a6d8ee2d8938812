-- Counters in fixed windows for what strangers can do repeatedly (sign-ups from one address,
-- mail to one recipient, anonymous npm web-login starts): one row per key and window, taken
-- atomically (an upsert that answers the new count), so concurrent requests cannot all pass.
-- Platform-level: keys name addresses and recipients, not organizations.
CREATE TABLE db.rate_counts (
    key          text        NOT NULL PRIMARY KEY CHECK (length(key) <= 400),
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON db.rate_counts TO {{system_role}};
