-- `npm login` through the browser: npm asks for a login (POST /-/v1/login), the user signs in on
-- the page the login URL shows and approves, and npm fetches the minted key from the done URL.
-- Platform-level rows (no organization until someone signs in), reached only by the system role.
CREATE TABLE registry.web_logins (
    -- In the login page's URL (random, so it also guards the form against cross-site posts).
    id           text        NOT NULL PRIMARY KEY,
    -- SHA-256 of the secret in the done URL, which only npm knows.
    done_hash    bytea       NOT NULL UNIQUE,
    -- The minted key, sealed under the master key, until npm fetches it (once).
    sealed_token bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON registry.web_logins TO {{system_role}};
