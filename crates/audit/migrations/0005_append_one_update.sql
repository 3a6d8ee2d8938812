-- Less work per append. The index on (tenant_id, action) is dropped: searches filter actions by
-- prefix (`starts_with`), which a B-tree cannot serve, so it only cost every insert; finding a
-- chain's latest purge event gets a partial index holding those events alone.
DROP INDEX audit.events_action;
CREATE INDEX events_purges ON audit.events (tenant_id, seq) WHERE action = 'audit.events.purged';

-- Appending moves the head with one UPDATE (which both locks the row and computes the next
-- `seq` and hash from its current values) instead of SELECT … FOR UPDATE and a second UPDATE:
-- less work while the head is locked. The head keeps the hash before it (`prev_hash`), which is
-- how the UPDATE hands the previous hash back.
ALTER TABLE audit.heads ADD COLUMN prev_hash bytea;

CREATE OR REPLACE FUNCTION audit.append(
    p_tenant uuid, p_id uuid, p_occurred_at timestamptz, p_actor_type text, p_actor_id uuid,
    p_actor_username text, p_actor_ip text, p_actor_user_agent text, p_request_id text, p_action text,
    p_target_type text, p_target_id text, p_outcome text, p_changes jsonb, p_metadata jsonb,
    p_canonical_prefix text, p_canonical_suffix text,
    OUT seq bigint, OUT prev_hash bytea, OUT hash bytea)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    FOR attempt IN 1 .. 2 LOOP
        UPDATE audit.heads h
           SET seq = h.seq + 1,
               prev_hash = h.hash,
               hash = sha256(h.hash || convert_to(p_canonical_prefix || (h.seq + 1)::text || p_canonical_suffix, 'UTF8')),
               updated_at = now()
         WHERE h.tenant_id = p_tenant
        RETURNING h.seq, h.prev_hash, h.hash INTO seq, prev_hash, hash;
        EXIT WHEN FOUND;
        -- The chain's first event: create its head at the genesis (a concurrent first append
        -- waits on the key, then finds the row).
        INSERT INTO audit.heads (tenant_id, seq, hash) VALUES (p_tenant, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT DO NOTHING;
    END LOOP;
    INSERT INTO audit.events (tenant_id, seq, id, occurred_at, actor_type, actor_id, actor_username, actor_ip,
                              actor_user_agent, request_id, action, target_type, target_id, outcome, changes,
                              metadata, prev_hash, hash)
    VALUES (p_tenant, seq, p_id, p_occurred_at, p_actor_type, p_actor_id, p_actor_username, p_actor_ip,
            p_actor_user_agent, p_request_id, p_action, p_target_type, p_target_id, p_outcome, p_changes,
            p_metadata, prev_hash, hash);
END $$;
