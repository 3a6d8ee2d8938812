-- Access control: the permission catalog that business modules register over the API (the
-- platform's own permissions live in code), custom roles per organization, and role assignments.

CREATE SCHEMA access;
GRANT USAGE ON SCHEMA access TO {{app_role}}, {{system_role}};

-- Registered by business modules (Finance, HR…) over the API; global, not tenant data.
CREATE TABLE access.permissions (
    key         text        NOT NULL PRIMARY KEY
                CHECK (key ~ '^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,39}$'),
    description text        NOT NULL CHECK (char_length(description) <= 500),
    grants      text[]      NOT NULL DEFAULT '{}'
                CHECK (grants <@ ARRAY['admin', 'member', 'viewer']::text[]),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON access.permissions TO {{app_role}};
GRANT SELECT, INSERT, UPDATE ON access.permissions TO {{system_role}};

-- An organization's own roles. Keys never collide with the built-in ones.
CREATE TABLE access.roles (
    tenant_id   uuid        NOT NULL,
    key         text        NOT NULL CHECK (key ~ '^[a-z][a-z0-9_-]{1,39}$'
                                        AND key NOT IN ('owner', 'admin', 'member', 'viewer', 'platform_admin')),
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    permissions text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
ALTER TABLE access.roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE access.roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON access.roles
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON access.roles TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON access.roles TO {{app_role}}, {{system_role}};

-- Which roles a subject (a member user or a service account) holds in an organization.
CREATE TABLE access.assignments (
    tenant_id  uuid        NOT NULL,
    subject_id uuid        NOT NULL,
    role       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject_id, role)
);
CREATE INDEX assignments_role ON access.assignments (tenant_id, role);
ALTER TABLE access.assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE access.assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON access.assignments
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON access.assignments TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON access.assignments TO {{app_role}}, {{system_role}};
