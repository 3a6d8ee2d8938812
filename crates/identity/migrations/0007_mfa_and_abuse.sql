-- Second factors, sign-in throttling, password reset and platform operators. All of these
-- belong to users (global), so only the system role reaches them.

-- TOTP (RFC 6238): the shared secret sealed under the master key; `last_step` rejects a code
-- used twice. Unconfirmed until the user proves their authenticator works.
CREATE TABLE identity.mfa_totp (
    user_id      uuid        NOT NULL PRIMARY KEY REFERENCES identity.users (id),
    secret       bytea       NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Single-use recovery codes, as SHA-256.
CREATE TABLE identity.mfa_recovery_codes (
    user_id   uuid        NOT NULL REFERENCES identity.users (id),
    code_hash bytea       NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- An organization's rule: members holding any of these roles must use a second factor.
CREATE TABLE identity.mfa_policies (
    tenant_id   uuid        NOT NULL PRIMARY KEY,
    require_for text[]      NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE identity.mfa_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity.mfa_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON identity.mfa_policies
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON identity.mfa_policies TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON identity.mfa_policies TO {{app_role}}, {{system_role}};

-- Failed sign-ins per account (by the login as typed, normalised, so unknown accounts are
-- throttled exactly like known ones) and per client address; growing delays.
CREATE TABLE identity.login_throttle (
    key          text        NOT NULL PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    last_failure timestamptz NOT NULL DEFAULT now(),
    blocked_until timestamptz
);

-- Password reset tokens (SHA-256), single use, short-lived.
CREATE TABLE identity.password_resets (
    token_hash bytea       NOT NULL PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES identity.users (id),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user ON identity.password_resets (user_id);

-- Platform operators: users with a platform role, signing in to the platform scope.
ALTER TABLE identity.users ADD COLUMN platform_role text CHECK (platform_role IN ('platform_admin'));

GRANT SELECT, INSERT, UPDATE, DELETE ON identity.mfa_totp, identity.mfa_recovery_codes, identity.login_throttle,
    identity.password_resets TO {{system_role}};
