-- Retention: each organization keeps its events for a number of months (`audit.settings`, the
-- platform's default when absent). The retention job seals a signed *anchor* checkpoint at the
-- last event to go, records an `audit.events.purged` event naming it in the same chain, and only
-- then removes the events up to the anchor: whole monthly partitions when every row in them is
-- covered by an anchor, row by row otherwise. The rest of the chain verifies from the anchor.
--
-- Removal goes through the two owner functions below, which refuse anything an anchor does not
-- cover; neither the app nor the system role may delete audit rows on their own.

-- A head and an anchor may be sealed at the same `seq`.
ALTER TABLE audit.checkpoints
    ADD COLUMN kind text NOT NULL DEFAULT 'head' CHECK (kind IN ('head', 'anchor')),
    DROP CONSTRAINT checkpoints_pkey,
    ADD PRIMARY KEY (tenant_id, seq, kind);

CREATE TABLE audit.settings (
    tenant_id        uuid        NOT NULL PRIMARY KEY,
    retention_months integer     NOT NULL CHECK (retention_months BETWEEN 1 AND 1200),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE audit.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit.settings
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON audit.settings TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON audit.settings TO {{app_role}};
GRANT SELECT ON audit.settings TO {{system_role}};

-- The owner functions below see every chain (FORCE ROW LEVEL SECURITY applies to the owner too).
CREATE POLICY owner_maintenance ON audit.events TO {{owner_role}} USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON audit.checkpoints TO {{owner_role}} USING (true) WITH CHECK (true);

-- Removes a chain's events up to and including `p_seq`, which must carry a sealed anchor, and
-- the checkpoints before it (the anchor stays). Answers how many events went.
CREATE FUNCTION audit.purge_through(p_tenant uuid, p_seq bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    removed bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit.checkpoints c
                    WHERE c.tenant_id = p_tenant AND c.seq = p_seq AND c.kind = 'anchor') THEN
        RAISE EXCEPTION 'no anchor checkpoint at seq % of chain %', p_seq, p_tenant
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('vextrus.audit_retention', 'on', true);
    DELETE FROM audit.events e WHERE e.tenant_id = p_tenant AND e.seq <= p_seq;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('vextrus.audit_retention', 'off', true);
    DELETE FROM audit.checkpoints c WHERE c.tenant_id = p_tenant AND c.seq < p_seq;
    RETURN removed;
END $$;
REVOKE ALL ON FUNCTION audit.purge_through(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.purge_through(uuid, bigint) TO {{system_role}};

-- Drops the monthly partition of `p_month` when it is over (before the current month) and every
-- event in it is at or before its chain's latest anchor. Answers the number of events dropped,
-- or NULL when the partition does not exist or is not wholly covered.
CREATE FUNCTION audit.drop_expired_partition(p_month date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    month date := date_trunc('month', p_month)::date;
    name text := 'events_' || to_char(month, 'YYYY_MM');
    uncovered boolean;
    dropped bigint;
BEGIN
    IF to_regclass('audit.' || name) IS NULL OR month + interval '1 month' > date_trunc('month', now()) THEN
        RETURN NULL;
    END IF;
    -- No event may arrive while the partition is checked and dropped.
    EXECUTE format('LOCK TABLE audit.%I IN SHARE MODE', name);
    -- Through the parent, whose policies let the owner see every chain.
    SELECT EXISTS (SELECT 1 FROM audit.events e
                    WHERE e.occurred_at >= month AND e.occurred_at < month + interval '1 month'
                      AND e.seq > COALESCE((SELECT max(c.seq) FROM audit.checkpoints c
                                             WHERE c.tenant_id = e.tenant_id AND c.kind = 'anchor'), 0))
      INTO uncovered;
    IF uncovered THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO dropped FROM audit.events e
     WHERE e.occurred_at >= month AND e.occurred_at < month + interval '1 month';
    EXECUTE format('DROP TABLE audit.%I', name);
    RETURN dropped;
END $$;
REVOKE ALL ON FUNCTION audit.drop_expired_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.drop_expired_partition(date) TO {{system_role}};
