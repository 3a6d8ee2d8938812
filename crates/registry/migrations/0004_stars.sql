-- `npm star`: who starred a package (by username, as npm shows it in `users`).
CREATE TABLE registry.stars (
    tenant_id  uuid        NOT NULL,
    name       text        NOT NULL,
    username   text        NOT NULL,
    starred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name, username),
    FOREIGN KEY (tenant_id, name) REFERENCES registry.packages ON DELETE CASCADE
);
ALTER TABLE registry.stars ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.stars FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON registry.stars
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON registry.stars TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON registry.stars TO {{app_role}};
GRANT SELECT ON registry.stars TO {{system_role}};
