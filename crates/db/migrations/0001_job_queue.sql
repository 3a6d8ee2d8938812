-- The job queue (outbox). A job is enqueued inside the transaction of the change that causes
-- it, so both commit or neither does. Workers (the system role) claim jobs across tenants with
-- FOR UPDATE SKIP LOCKED and hold a lease; a job whose lease runs out (its worker died) is
-- claimed again. Succeeded jobs are deleted; jobs out of attempts stay, state 'dead'.
--
-- tenant_id is the nil UUID for platform-level jobs, which only the system role can enqueue.

CREATE TABLE db.jobs (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    kind         text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,99}$'),
    payload      jsonb       NOT NULL DEFAULT '{}',
    dedup_key    text,
    state        text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'dead')),
    attempts     integer     NOT NULL DEFAULT 0,
    max_attempts integer     CHECK (max_attempts > 0), -- NULL: the worker's configured default
    run_at       timestamptz NOT NULL DEFAULT now(),
    locked_by    text,
    locked_until timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK ((state = 'running') = (locked_by IS NOT NULL AND locked_until IS NOT NULL))
);

-- Only live jobs are indexed for dispatch, so the scan stays as small as the backlog.
CREATE INDEX jobs_due ON db.jobs (tenant_id, run_at) WHERE state <> 'dead';
-- A pending job with the same dedup key is not enqueued twice.
CREATE UNIQUE INDEX jobs_dedup ON db.jobs (tenant_id, kind, dedup_key)
    WHERE dedup_key IS NOT NULL AND state <> 'dead';

ALTER TABLE db.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE db.jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON db.jobs
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON db.jobs TO {{system_role}} USING (true) WITH CHECK (true);

-- The app role sees (under RLS) and adds its own tenant's jobs; only workers change them.
GRANT SELECT, INSERT ON db.jobs TO {{app_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON db.jobs TO {{system_role}};
