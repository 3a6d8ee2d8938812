-- A failing endpoint backs off as a whole: after a few failures in a row, deliveries to it wait
-- (without spending their attempts) until `down_until`, instead of each one hammering it.
ALTER TABLE registry.webhooks ADD COLUMN failures integer NOT NULL DEFAULT 0;
ALTER TABLE registry.webhooks ADD COLUMN down_until timestamptz;
GRANT UPDATE (failures, down_until) ON registry.webhooks TO {{app_role}};
