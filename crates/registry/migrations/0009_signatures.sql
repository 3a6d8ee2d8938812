-- Registry signatures (npm's `dist.signatures`): every version hosted here is signed with an
-- ECDSA P-256 key over `${name}@${version}:${integrity}` when it is published. Keys rotate: the
-- current one has no `expires_at`; retired ones stay listed (with it) so that older signatures
-- still verify. Private keys are sealed under the platform's master key.
CREATE TABLE registry.signing_keys (
    keyid          text        NOT NULL PRIMARY KEY,
    private_sealed bytea       NOT NULL,
    public_spki    bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz
);
-- One current key, even when two instances start at once.
CREATE UNIQUE INDEX signing_keys_current ON registry.signing_keys ((true)) WHERE expires_at IS NULL;
GRANT SELECT, INSERT, UPDATE ON registry.signing_keys TO {{system_role}};

-- `[{"keyid": …, "sig": …}]`, made at publication.
ALTER TABLE registry.versions ADD COLUMN signatures jsonb;
-- What is left to sign (versions imported by the command line, published before signing).
CREATE INDEX versions_unsigned ON registry.versions (tenant_id) WHERE signatures IS NULL;
