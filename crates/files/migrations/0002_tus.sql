-- Resumable uploads (tus 1.0.0): an upload is a pending version whose bytes arrive over several
-- requests, staged on disk until the last one; its storage was reserved at creation for the
-- length it announced. An upload not finished by `expires_at` is removed with its reservation.
CREATE TABLE files.uploads (
    tenant_id  uuid        NOT NULL,
    -- The pending version's id.
    id         uuid        NOT NULL,
    length     bigint      NOT NULL CHECK (length >= 0),
    expires_at timestamptz NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, id) REFERENCES files.versions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX uploads_expiry ON files.uploads (tenant_id, expires_at);
ALTER TABLE files.uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE files.uploads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON files.uploads
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON files.uploads TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON files.uploads TO {{app_role}}, {{system_role}};
