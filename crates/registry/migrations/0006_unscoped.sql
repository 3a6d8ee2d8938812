-- Unscoped names (`left-pad`), where the configuration allows them: one organization owns a
-- name while any version of it exists. The package row is the claim; this index makes it
-- global (another organization's insert of the same name fails, though it cannot see the row).
CREATE UNIQUE INDEX packages_unscoped_name ON registry.packages (name) WHERE name NOT LIKE '@%';

-- The owner function below reads every package's name (FORCE ROW LEVEL SECURITY applies to the
-- owner too).
CREATE POLICY owner_lookup ON registry.packages FOR SELECT TO {{owner_role}} USING (true);

-- Which organization owns an unscoped name, asked from any transaction: like a scope's claim,
-- it decides who may publish it and where readers find it. Sees nothing else.
CREATE FUNCTION registry.unscoped_owner(p_name text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT tenant_id FROM registry.packages WHERE name = p_name AND name NOT LIKE '@%'
$$;
REVOKE ALL ON FUNCTION registry.unscoped_owner(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registry.unscoped_owner(text) TO {{app_role}}, {{system_role}};
