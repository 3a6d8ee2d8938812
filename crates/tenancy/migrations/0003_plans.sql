-- Plans: named sets of limits that platform operators define and give organizations. An
-- organization without one has the default plan, whose limits come from configuration
-- (`[limits]`), so changing the configuration changes every such organization at once.
CREATE TABLE tenancy.plans (
    name          text        NOT NULL PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{1,39}$' AND name <> 'default'),
    storage_bytes bigint      NOT NULL CHECK (storage_bytes >= 0),
    members       integer     NOT NULL CHECK (members >= 1),
    api_keys      integer     NOT NULL CHECK (api_keys >= 0),
    sms_per_month integer     NOT NULL CHECK (sms_per_month >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Plans are platform-wide definitions: the app role reads them (an organization's enforcement
-- reads its own plan's limits); only the system role (operators) changes them.
GRANT SELECT ON tenancy.plans TO {{app_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON tenancy.plans TO {{system_role}};

-- A plan in use cannot be deleted (RESTRICT); NULL is the default plan.
ALTER TABLE tenancy.organizations ADD COLUMN plan text REFERENCES tenancy.plans (name) ON DELETE RESTRICT;
CREATE INDEX organizations_plan ON tenancy.organizations (plan) WHERE plan IS NOT NULL;

-- Storage in use and reserved by uploads in flight, per organization. A reservation is one
-- conditional UPDATE (used + reserved + n <= limit), so concurrent uploads can never together
-- pass the limit; a finished upload settles its reservation into `used`, an abandoned one
-- releases it.
CREATE TABLE tenancy.storage_usage (
    tenant_id  uuid        NOT NULL PRIMARY KEY REFERENCES tenancy.organizations (id),
    used       bigint      NOT NULL DEFAULT 0 CHECK (used >= 0),
    reserved   bigint      NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenancy.storage_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenancy.storage_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenancy.storage_usage
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON tenancy.storage_usage TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON tenancy.storage_usage TO {{app_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON tenancy.storage_usage TO {{system_role}};
