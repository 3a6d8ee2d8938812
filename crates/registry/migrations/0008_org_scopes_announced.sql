-- An organization owns `@<its slug>`: when one is created (or its slug changes), every instance
-- forgets what it remembered about that scope's owner (see the registry's caches), so a scope
-- that just gained an owner is never proxied upstream from a stale memory.
CREATE FUNCTION registry.announce_org_scope() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_notify('vextrus_registry', 'owner:@' || NEW.slug);
    IF TG_OP = 'UPDATE' AND OLD.slug IS DISTINCT FROM NEW.slug THEN
        PERFORM pg_notify('vextrus_registry', 'owner:@' || OLD.slug);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER organizations_registry_scope AFTER INSERT OR UPDATE OF slug ON tenancy.organizations
    FOR EACH ROW EXECUTE FUNCTION registry.announce_org_scope();
