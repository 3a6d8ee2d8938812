-- The registry's metadata: packages, their versions (each manifest as published, with the
-- tarball's integrity and where its bytes are) and dist-tags. Tarballs live in object storage,
-- content-addressed by their SHA-512. Every row is an organization's.

CREATE SCHEMA registry;
GRANT USAGE ON SCHEMA registry TO {{app_role}}, {{system_role}};

CREATE TABLE registry.packages (
    tenant_id   uuid        NOT NULL,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 214),
    -- Bumped by every change; the CouchDB-style `_rev` clients send back.
    rev         bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE registry.versions (
    tenant_id    uuid        NOT NULL,
    name         text        NOT NULL,
    version      text        NOT NULL CHECK (length(version) BETWEEN 5 AND 256),
    -- The manifest as published, without `dist.tarball` (built from the public URL when served).
    manifest     jsonb       NOT NULL,
    integrity    text        NOT NULL,
    shasum       text        NOT NULL,
    object_key   text        NOT NULL,
    size         bigint      NOT NULL CHECK (size > 0),
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by uuid,
    -- The publisher's username as it was (npm shows maintainers by name).
    published_by_name text,
    deprecated   text,
    PRIMARY KEY (tenant_id, name, version),
    FOREIGN KEY (tenant_id, name) REFERENCES registry.packages ON DELETE CASCADE
);

CREATE TABLE registry.dist_tags (
    tenant_id uuid NOT NULL,
    name      text NOT NULL,
    tag       text NOT NULL CHECK (length(tag) BETWEEN 1 AND 128),
    version   text NOT NULL,
    PRIMARY KEY (tenant_id, name, tag),
    FOREIGN KEY (tenant_id, name, version) REFERENCES registry.versions ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['packages', 'versions', 'dist_tags'] LOOP
        EXECUTE format('ALTER TABLE registry.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE registry.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON registry.%I
                           USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
                           WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)$p$, t);
        EXECUTE format('CREATE POLICY system_access ON registry.%I TO {{system_role}} USING (true) WITH CHECK (true)', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON registry.packages, registry.versions, registry.dist_tags TO {{app_role}};
GRANT SELECT ON registry.packages, registry.versions, registry.dist_tags TO {{system_role}};
