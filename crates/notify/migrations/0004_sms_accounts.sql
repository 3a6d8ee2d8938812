-- An organization's own SMS account at one of the platform's providers: its credentials, sealed
-- under the platform's master key (never readable back through the API).
CREATE TABLE notify.sms_accounts (
    tenant_id          uuid        NOT NULL PRIMARY KEY,
    provider           text        NOT NULL CHECK (provider IN ('alpha', 'ssl_wireless')),
    credentials_sealed bytea       NOT NULL CHECK (length(credentials_sealed) <= 1024),
    sid                text        CHECK (length(sid) BETWEEN 1 AND 20),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE notify.sms_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE notify.sms_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notify.sms_accounts
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON notify.sms_accounts TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON notify.sms_accounts TO {{app_role}}, {{system_role}};
