-- Scopes an organization claims besides `@<its slug>` (which it owns from creation), e.g. an
-- organization `vextrus-ltd` claiming `@vextrus`. A claim is global: one owner per scope, and a
-- claimed scope is never the implicit scope of an organization with that slug.
CREATE TABLE registry.scopes (
    tenant_id  uuid        NOT NULL,
    scope      text        NOT NULL CHECK (scope ~ '^[a-z0-9][a-z0-9._-]*$' AND length(scope) <= 214),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scope)
);
-- Who owns a scope, asked for every package request: a lookup from a global key.
CREATE UNIQUE INDEX scopes_scope ON registry.scopes (scope);
ALTER TABLE registry.scopes ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.scopes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON registry.scopes
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON registry.scopes TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON registry.scopes TO {{app_role}};
GRANT SELECT ON registry.scopes TO {{system_role}};

-- The owner function below reads every claim (FORCE ROW LEVEL SECURITY applies to the owner too).
CREATE POLICY owner_lookup ON registry.scopes FOR SELECT TO {{owner_role}} USING (true);

-- Which organization claimed a scope, asked from any organization's transaction (a claim is
-- public knowledge: it decides who may publish there). Sees nothing else.
CREATE FUNCTION registry.scope_claimant(p_scope text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT tenant_id FROM registry.scopes WHERE scope = p_scope
$$;
REVOKE ALL ON FUNCTION registry.scope_claimant(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registry.scope_claimant(text) TO {{app_role}}, {{system_role}};
