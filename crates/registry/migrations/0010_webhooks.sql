-- Publish webhooks: URLs an organization registers to receive a signed JSON event when one of
-- its packages is published, unpublished or re-tagged (delivered by the job queue, retried).
-- The HMAC secret is sealed under the platform's master key; it is shown once, at creation.
CREATE TABLE registry.webhooks (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    url           text        NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    events        text[]      NOT NULL,
    secret_sealed bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE registry.webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.webhooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON registry.webhooks
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON registry.webhooks TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON registry.webhooks TO {{app_role}};
GRANT SELECT ON registry.webhooks TO {{system_role}};
