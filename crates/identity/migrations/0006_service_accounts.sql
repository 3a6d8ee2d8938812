-- Service accounts: non-human members of one organization, signing in with the OAuth 2.0
-- client_credentials grant. `client_id` is public and globally unique (the token endpoint
-- finds the organization from it); the secret is 256 random bits, stored as its SHA-256.
CREATE TABLE identity.service_accounts (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    client_id   text        NOT NULL,
    secret_hash bytea       NOT NULL,
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description text        NOT NULL DEFAULT '',
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
-- Global on purpose: the token endpoint knows only the client id when it looks the account up.
CREATE UNIQUE INDEX service_accounts_client_id ON identity.service_accounts (client_id);
ALTER TABLE identity.service_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity.service_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON identity.service_accounts
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON identity.service_accounts TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON identity.service_accounts TO {{app_role}}, {{system_role}};

-- API keys of users and service accounts, for one organization each. The key is
-- `vxk_<prefix>_<secret>`: the prefix (public, shown in lists) finds the row, the secret
-- (at least 128 random bits) is checked against its SHA-256.
CREATE TABLE identity.api_keys (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    prefix       text        NOT NULL,
    secret_hash  bytea       NOT NULL,
    owner_kind   text        NOT NULL CHECK (owner_kind IN ('user', 'service_account')),
    owner_id     uuid        NOT NULL,
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    permissions  text[],
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);
-- Global on purpose: a presented key names no organization until its prefix is found.
CREATE UNIQUE INDEX api_keys_prefix ON identity.api_keys (prefix);
ALTER TABLE identity.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity.api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON identity.api_keys
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON identity.api_keys TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON identity.api_keys TO {{app_role}}, {{system_role}};
