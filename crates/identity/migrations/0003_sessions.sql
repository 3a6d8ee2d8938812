-- A session is a refresh-token family: every refresh rotates the token; presenting a token that
-- was already used revokes the whole session (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP §4.14).
-- `active_org` is the organization the session's next access token is for (a pointer, not
-- ownership: sessions belong to users, who are global).
CREATE TABLE identity.sessions (
    id             uuid        NOT NULL PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES identity.users (id),
    active_org     uuid        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text,
    user_agent     text,
    ip             text
);
CREATE INDEX sessions_user ON identity.sessions (user_id);

CREATE TABLE identity.refresh_tokens (
    token_hash bytea       NOT NULL PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES identity.sessions (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session ON identity.refresh_tokens (session_id);

GRANT SELECT, INSERT, UPDATE ON identity.sessions, identity.refresh_tokens TO {{system_role}};
