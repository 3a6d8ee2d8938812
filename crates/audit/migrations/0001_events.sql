-- The audit trail: one hash chain per tenant (and one for the platform, tenant = nil UUID).
-- Events are append-only: the app and system roles may only INSERT and SELECT, and a trigger
-- refuses UPDATE, DELETE and TRUNCATE even from the owner, except inside the retention job
-- (which says so with `SET LOCAL vextrus.audit_retention = 'on'`). Whoever bypasses that (the
-- owner can disable a trigger) still cannot make the chain verify: see `audit::verify`.

CREATE SCHEMA audit;
GRANT USAGE ON SCHEMA audit TO {{app_role}}, {{system_role}};

-- The head of each chain: the last seq and hash. Appends lock this row, which serialises one
-- tenant's appends (keeping seq gap-free) without touching any other tenant.
CREATE TABLE audit.heads (
    tenant_id  uuid        NOT NULL PRIMARY KEY,
    seq        bigint      NOT NULL,
    hash       bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE audit.heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit.heads
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON audit.heads TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON audit.heads TO {{app_role}}, {{system_role}};

CREATE TABLE audit.events (
    tenant_id        uuid        NOT NULL,
    seq              bigint      NOT NULL CHECK (seq > 0),
    id               uuid        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor_type       text        NOT NULL
                     CHECK (actor_type IN ('user', 'service_account', 'platform_operator', 'system', 'anonymous')),
    actor_id         uuid,
    actor_username   text,
    actor_ip         text,
    actor_user_agent text,
    request_id       text,
    action           text        NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
    target_type      text,
    target_id        text,
    outcome          text        NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    changes          jsonb       NOT NULL DEFAULT '{}',
    metadata         jsonb       NOT NULL DEFAULT '{}',
    prev_hash        bytea       NOT NULL,
    hash             bytea       NOT NULL,
    PRIMARY KEY (tenant_id, seq, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX events_time ON audit.events (tenant_id, occurred_at);
CREATE INDEX events_action ON audit.events (tenant_id, action);

CREATE FUNCTION audit.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('vextrus.audit_retention', true) = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.reject_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_change();

-- Monthly partitions, each with the same Row-Level Security as the parent (so that nothing
-- reaches a tenant's events around it). Owned by the owner; the runtime may call it to add
-- months ahead.
CREATE FUNCTION audit.ensure_partitions(first_month date, months integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    created integer := 0;
    month date;
    name text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        month := date_trunc('month', first_month)::date + make_interval(months => i);
        name := 'events_' || to_char(month, 'YYYY_MM');
        CONTINUE WHEN to_regclass('audit.' || name) IS NOT NULL;
        EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.events FOR VALUES FROM (%L) TO (%L)',
                       name, month, month + interval '1 month');
        EXECUTE format('ALTER TABLE audit.%I ENABLE ROW LEVEL SECURITY', name);
        EXECUTE format('ALTER TABLE audit.%I FORCE ROW LEVEL SECURITY', name);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON audit.%I
                           USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
                           WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)$p$,
                       name);
        created := created + 1;
    END LOOP;
    RETURN created;
END $$;
REVOKE ALL ON FUNCTION audit.ensure_partitions(date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.ensure_partitions(date, integer) TO {{system_role}};

-- Events outside every monthly partition (clock trouble) still land somewhere.
CREATE TABLE audit.events_default PARTITION OF audit.events DEFAULT;
ALTER TABLE audit.events_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.events_default FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit.events_default
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);

SELECT audit.ensure_partitions((date_trunc('month', now()) - interval '1 month')::date, 15);

ALTER TABLE audit.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit.events
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON audit.events TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON audit.events TO {{app_role}}, {{system_role}};
