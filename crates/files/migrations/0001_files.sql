-- Files: organizations' documents. A bucket holds files under its own rules (which content types,
-- how large, who may read); a file is a name in a folder whose content is its versions, each an
-- immutable object at a key made from ids (never from a filename).
--
-- Write order (the object store and the database never disagree for long): a `pending` version
-- row, then the object, then `ready` (or `quarantined` / `unscanned`) with the audit event in one
-- transaction. The reconcile job repairs what a crash between the steps left behind.

CREATE SCHEMA files;
GRANT USAGE ON SCHEMA files TO {{app_role}}, {{system_role}};

CREATE TABLE files.buckets (
    tenant_id         uuid        NOT NULL,
    id                uuid        NOT NULL,
    name              text        NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    -- Sniffed media types a file may have (`image/*` allowed); empty: any.
    allowed_types     text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(allowed_types) <= 100),
    max_size          bigint      NOT NULL CHECK (max_size > 0),
    trash_days        integer     NOT NULL DEFAULT 30 CHECK (trash_days BETWEEN 0 AND 3650),
    signed_links      boolean     NOT NULL DEFAULT false,
    -- The permission a reader needs besides `files.read`, e.g. `hr.documents.read`.
    read_permission   text        CHECK (read_permission ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
    -- Whether files the scanner could not judge (too large, clamd down) may be downloaded.
    unscanned_readable boolean    NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE files.files (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    bucket_id   uuid        NOT NULL,
    folder      text        NOT NULL DEFAULT '' CHECK (length(folder) <= 512),
    filename    text        NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    metadata    jsonb       NOT NULL DEFAULT '{}' CHECK (pg_column_size(metadata) <= 8192),
    -- The version downloads serve: the newest that finished its checks.
    current     uuid,
    legal_hold  boolean     NOT NULL DEFAULT false,
    deleted_at  timestamptz,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, bucket_id) REFERENCES files.buckets (tenant_id, id)
);
CREATE INDEX files_listing ON files.files (tenant_id, bucket_id, folder, filename, id) WHERE deleted_at IS NULL;
CREATE INDEX files_trash ON files.files (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE files.versions (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    file_id      uuid        NOT NULL,
    number       integer     NOT NULL CHECK (number >= 1),
    state        text        NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'ready', 'quarantined', 'unscanned', 'lost')),
    size         bigint      CHECK (size >= 0),
    -- What the upload reserved of the organization's storage while pending.
    reserved     bigint      NOT NULL CHECK (reserved >= 0),
    sha256       bytea       CHECK (length(sha256) = 32),
    content_type text,
    scan         text        CHECK (scan IN ('clean', 'infected', 'too_large', 'unavailable', 'error')),
    scan_detail  text        CHECK (length(scan_detail) <= 200),
    object_key   text        NOT NULL,
    uploaded_by  uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, file_id, number),
    FOREIGN KEY (tenant_id, file_id) REFERENCES files.files (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX versions_pending ON files.versions (tenant_id, created_at) WHERE state = 'pending';

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['buckets', 'files', 'versions'] LOOP
        EXECUTE format('ALTER TABLE files.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE files.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON files.%I
            USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)$p$, t);
        EXECUTE format('CREATE POLICY system_access ON files.%I TO {{system_role}} USING (true) WITH CHECK (true)', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON files.buckets, files.files, files.versions TO {{app_role}}, {{system_role}};
