-- Signed links: a file's content for whoever holds the link, until it expires or is revoked.
-- The token carries an HMAC over the organization, link, file, version, expiry and disposition
-- under the platform's link key; the row makes revocation immediate and lists what was issued.
CREATE TABLE files.links (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    file_id     uuid        NOT NULL,
    version_id  uuid        NOT NULL,
    disposition text        NOT NULL CHECK (disposition IN ('attachment', 'inline')),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, file_id) REFERENCES files.files (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX links_file ON files.links (tenant_id, file_id, created_at);
CREATE INDEX links_live ON files.links (tenant_id, expires_at) WHERE revoked_at IS NULL;
ALTER TABLE files.links ENABLE ROW LEVEL SECURITY;
ALTER TABLE files.links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON files.links
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON files.links TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON files.links TO {{app_role}}, {{system_role}};

-- The key links are signed with, made once (the first instance to start makes it).
CREATE TABLE files.link_key (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    key bytea   NOT NULL CHECK (length(key) = 32)
);
GRANT SELECT, INSERT ON files.link_key TO {{system_role}};
