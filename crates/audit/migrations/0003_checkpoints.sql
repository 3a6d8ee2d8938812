-- Signed checkpoints: the head of a chain (seq and hash) at a moment, signed with the platform's
-- Ed25519 token key. An export that carries them can be checked offline against the JWKS, and
-- the retention job seals one before dropping old events so the rest still verifies from it.
CREATE TABLE audit.checkpoints (
    tenant_id uuid        NOT NULL,
    seq       bigint      NOT NULL,
    hash      bytea       NOT NULL,
    signed_at timestamptz NOT NULL,
    kid       text        NOT NULL,
    signature bytea       NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
ALTER TABLE audit.checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit.checkpoints
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON audit.checkpoints TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT ON audit.checkpoints TO {{app_role}};
GRANT SELECT, INSERT ON audit.checkpoints TO {{system_role}};
