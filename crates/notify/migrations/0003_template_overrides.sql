-- Organizations' own texts for message types, per language (security types keep the platform's).
CREATE TABLE notify.template_overrides (
    tenant_id  uuid        NOT NULL,
    kind       text        NOT NULL CHECK (length(kind) <= 100),
    locale     text        NOT NULL CHECK (locale IN ('bn-BD', 'en')),
    subject    text        NOT NULL CHECK (length(subject) <= 2000),
    text       text        NOT NULL CHECK (length(text) <= 80000),
    html       text        CHECK (length(html) <= 400000),
    sms        text        CHECK (length(sms) <= 6400),
    updated_by uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, locale)
);
ALTER TABLE notify.template_overrides ENABLE ROW LEVEL SECURITY;
ALTER TABLE notify.template_overrides FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notify.template_overrides
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON notify.template_overrides TO {{system_role}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON notify.template_overrides TO {{app_role}}, {{system_role}};
