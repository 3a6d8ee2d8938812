-- Appending in one round trip: lock the chain's head, number the event, hash it, insert it and
-- move the head, all inside the database. The caller sends the event's canonical JSON in two
-- halves around its `seq` (which only the head knows); the hash is SHA-256 over the previous
-- hash and prefix || seq || suffix, byte for byte what `audit::chain::hash` computes.
CREATE FUNCTION audit.append(
    p_tenant uuid, p_id uuid, p_occurred_at timestamptz, p_actor_type text, p_actor_id uuid,
    p_actor_username text, p_actor_ip text, p_actor_user_agent text, p_request_id text, p_action text,
    p_target_type text, p_target_id text, p_outcome text, p_changes jsonb, p_metadata jsonb,
    p_canonical_prefix text, p_canonical_suffix text,
    OUT seq bigint, OUT prev_hash bytea, OUT hash bytea)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    SELECT h.seq, h.hash INTO seq, prev_hash FROM audit.heads h WHERE h.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit.heads (tenant_id, seq, hash) VALUES (p_tenant, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT DO NOTHING;
        SELECT h.seq, h.hash INTO seq, prev_hash FROM audit.heads h WHERE h.tenant_id = p_tenant FOR UPDATE;
    END IF;
    seq := seq + 1;
    hash := sha256(prev_hash || convert_to(p_canonical_prefix || seq::text || p_canonical_suffix, 'UTF8'));
    INSERT INTO audit.events (tenant_id, seq, id, occurred_at, actor_type, actor_id, actor_username, actor_ip,
                              actor_user_agent, request_id, action, target_type, target_id, outcome, changes,
                              metadata, prev_hash, hash)
    VALUES (p_tenant, seq, p_id, p_occurred_at, p_actor_type, p_actor_id, p_actor_username, p_actor_ip,
            p_actor_user_agent, p_request_id, p_action, p_target_type, p_target_id, p_outcome, p_changes,
            p_metadata, prev_hash, hash);
    UPDATE audit.heads h SET seq = append.seq, hash = append.hash, updated_at = now() WHERE h.tenant_id = p_tenant;
END $$;
-- SECURITY INVOKER: it runs with the caller's rights, so Row-Level Security still decides
-- which chain a tenant transaction may append to.
GRANT EXECUTE ON FUNCTION audit.append(uuid, uuid, timestamptz, text, uuid, text, text, text, text, text, text,
    text, text, jsonb, jsonb, text, text) TO {{app_role}}, {{system_role}};
