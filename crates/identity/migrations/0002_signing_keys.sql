-- Ed25519 keys that sign access tokens. The private key (PKCS#8) is sealed with AES-256-GCM
-- under the master key, which never enters the database. A key is published (in the JWKS) from
-- creation, signs from `activates_at` until the next key activates, and leaves the JWKS at
-- `expires_at`, after the tokens it signed have expired.
CREATE TABLE identity.signing_keys (
    kid          text        NOT NULL PRIMARY KEY,
    public_key   bytea       NOT NULL CHECK (length(public_key) = 32),
    sealed_pkcs8 bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    activates_at timestamptz NOT NULL,
    expires_at   timestamptz
);
GRANT SELECT, INSERT, UPDATE ON identity.signing_keys TO {{system_role}};
