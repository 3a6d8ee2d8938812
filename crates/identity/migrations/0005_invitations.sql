-- Invitations by email: a single-use token (stored as its SHA-256), valid for 7 days.
CREATE TABLE identity.invitations (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    email       text        NOT NULL CHECK (email = lower(email) AND char_length(email) <= 254),
    roles       text[]      NOT NULL CHECK (cardinality(roles) > 0),
    token_hash  bytea       NOT NULL,
    status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'revoked')),
    invited_by  uuid,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    accepted_at timestamptz,
    accepted_by uuid REFERENCES identity.users (id),
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX invitations_token ON identity.invitations (tenant_id, token_hash);
-- At most one pending invitation per address and organization.
CREATE UNIQUE INDEX invitations_pending_email ON identity.invitations (tenant_id, email) WHERE status = 'pending';
ALTER TABLE identity.invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity.invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON identity.invitations
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON identity.invitations TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON identity.invitations TO {{app_role}}, {{system_role}};
