-- Organizations are the tenants: an organization's id is the tenant_id of every row it owns.
-- This table is the registry of tenants itself, so its key is `id` (= tenant_id) and the slug
-- index is global (under Citus it becomes a reference table, not a distributed one).

CREATE SCHEMA tenancy;
GRANT USAGE ON SCHEMA tenancy TO {{app_role}}, {{system_role}};

CREATE TABLE tenancy.organizations (
    id           uuid        NOT NULL PRIMARY KEY,
    slug         text        NOT NULL CHECK (slug ~ '^[a-z0-9-]{3,40}$'),
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    timezone     text        NOT NULL DEFAULT 'Asia/Dhaka',
    currency     text        NOT NULL DEFAULT 'BDT' CHECK (currency ~ '^[A-Z]{3}$'),
    locale       text        NOT NULL DEFAULT 'bn-BD' CHECK (locale IN ('bn-BD', 'en')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    suspended_at timestamptz,
    CHECK ((status = 'suspended') = (suspended_at IS NOT NULL))
);
CREATE UNIQUE INDEX organizations_slug_key ON tenancy.organizations (slug);

-- Inside a tenant transaction an organization sees itself only; operators and jobs use the
-- system role.
ALTER TABLE tenancy.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenancy.organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenancy.organizations
    USING (id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON tenancy.organizations TO {{system_role}} USING (true) WITH CHECK (true);

GRANT SELECT ON tenancy.organizations TO {{app_role}};
GRANT SELECT, INSERT, UPDATE ON tenancy.organizations TO {{system_role}};
