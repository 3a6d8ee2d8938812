-- A sign-up waits here until its address is proved: nothing about it (organization, account)
-- exists before then, so asking to sign up tells nobody whether an address or username is
-- taken, and nobody can hold an account with an address that is not theirs. Only the code's
-- SHA-256 is kept; the row goes when it is used or, expired, with the next sign-up.
CREATE TABLE identity.pending_signups (
    token_hash    bytea       NOT NULL PRIMARY KEY,
    email         text        NOT NULL,
    org_slug      text        NOT NULL,
    org_name      text        NOT NULL,
    username      text        NOT NULL,
    display_name  text        NOT NULL,
    phone         text,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX pending_signups_expiry ON identity.pending_signups (expires_at);
GRANT SELECT, INSERT, DELETE ON identity.pending_signups TO {{system_role}};

-- When an account's sessions were last ended all together (a password reset, or an address's
-- holder claiming the account): access tokens of sessions begun before then stop at once, not
-- when they expire.
ALTER TABLE identity.users ADD COLUMN sessions_reset_at timestamptz;
