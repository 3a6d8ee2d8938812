-- Users are global (one person, many organizations); memberships are tenant rows.

CREATE SCHEMA identity;
GRANT USAGE ON SCHEMA identity TO {{app_role}}, {{system_role}};

CREATE TABLE identity.users (
    id                uuid        NOT NULL PRIMARY KEY,
    email             text        NOT NULL CHECK (email = lower(email) AND char_length(email) <= 254),
    username          text        NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,38}$'),
    phone             text        CHECK (phone ~ '^\+8801[3-9][0-9]{8}$'),
    display_name      text        NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    locale            text        NOT NULL DEFAULT 'bn-BD' CHECK (locale IN ('bn-BD', 'en')),
    status            text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    password_hash     text,
    email_verified_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON identity.users (email);
CREATE UNIQUE INDEX users_username_key ON identity.users (username);

CREATE TABLE identity.memberships (
    tenant_id    uuid        NOT NULL,
    user_id      uuid        NOT NULL REFERENCES identity.users (id),
    roles        text[]      NOT NULL CHECK (cardinality(roles) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, user_id)
);
ALTER TABLE identity.memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity.memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON identity.memberships
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON identity.memberships TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT ON identity.memberships TO {{app_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON identity.memberships TO {{system_role}};

-- Inside a tenant transaction the request path sees the organization's members, and never a
-- password hash: the app role has no privilege on that column at all.
ALTER TABLE identity.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity.users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_members ON identity.users USING (EXISTS (
    SELECT 1 FROM identity.memberships m
     WHERE m.user_id = users.id
       AND m.tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid));
CREATE POLICY system_access ON identity.users TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT (id, email, username, phone, display_name, locale, status, email_verified_at, created_at, updated_at)
    ON identity.users TO {{app_role}};
GRANT SELECT, INSERT, UPDATE ON identity.users TO {{system_role}};

-- Single-use email verification tokens, stored as SHA-256 of the token sent.
CREATE TABLE identity.email_verifications (
    token_hash bytea       NOT NULL PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES identity.users (id),
    email      text        NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
GRANT SELECT, INSERT, UPDATE ON identity.email_verifications TO {{system_role}};

-- Until the notify module exists, mail is delivered here in embedded/dev mode.
CREATE TABLE identity.dev_mailbox (
    id         uuid        NOT NULL PRIMARY KEY,
    recipient  text        NOT NULL,
    subject    text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON identity.dev_mailbox TO {{system_role}};
