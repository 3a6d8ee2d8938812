-- The claim walks the organizations that have queued jobs and takes each (organization, kind)
-- group's oldest due ones, so its cost follows the number of groups and the jobs it takes, not
-- the backlog: a million queued jobs of one organization cost a claim what one does.
CREATE INDEX jobs_queued ON db.jobs (tenant_id, kind, run_at, id) WHERE state = 'queued';
-- What runs now (bounded by the workers' slots), by group, and leases that expired.
CREATE INDEX jobs_running ON db.jobs (tenant_id, kind, locked_until) WHERE state = 'running';
-- Replaced by the two above.
DROP INDEX db.jobs_due;
