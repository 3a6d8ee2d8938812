-- dist-tags answer in the order the npm registry and Verdaccio use: `latest` first, then in the
-- order the tags were first created (moving a tag to another version keeps its place).
ALTER TABLE registry.dist_tags ADD COLUMN created_at timestamptz NOT NULL DEFAULT clock_timestamp();
