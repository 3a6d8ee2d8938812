-- Packuments fetched from upstream registries (uplinks), as they came (the body's bytes), so
-- that every instance serves them — and keeps serving them while the upstream is down. Not any
-- organization's data: only the system role reaches it.
CREATE TABLE registry.upstream_packuments (
    name       text        NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 214),
    uplink     text        NOT NULL,
    -- `found`: `body` is the document; `missing`: the upstream has no such package;
    -- `gone`: it had it and then unpublished it (a tombstone, never a stale `latest`).
    state      text        NOT NULL CHECK (state IN ('found', 'missing', 'gone')),
    body       bytea,
    etag       text,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'found') = (body IS NOT NULL))
);
GRANT SELECT, INSERT, UPDATE, DELETE ON registry.upstream_packuments TO {{system_role}};
