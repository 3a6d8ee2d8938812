-- Notify, part two: the in-app inbox (in-app messages are rows of notify.messages, read or not,
-- archived or not),
-- each user's preferences and quiet hours, their push devices, and the platform's own SMS
-- opt-out list (STOP).

ALTER TABLE notify.messages ADD COLUMN read_at timestamptz, ADD COLUMN archived_at timestamptz;
CREATE INDEX messages_inbox ON notify.messages (tenant_id, user_id, id) WHERE channel = 'in_app';

-- A user's switches, per category and channel; a missing row is "on". Security messages have no
-- switch.
CREATE TABLE notify.preferences (
    tenant_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    category   text        NOT NULL CHECK (category IN ('transactional', 'promotional')),
    channel    text        NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
    enabled    boolean     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, category, channel)
);

-- A user's quiet hours, Dhaka time: SMS and push wait for their end (a window may cross midnight).
CREATE TABLE notify.quiet_hours (
    tenant_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    starts     time        NOT NULL,
    ends       time        NOT NULL CHECK (ends <> starts),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

-- A user's devices for push (FCM registration tokens), in an organization.
CREATE TABLE notify.devices (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    token        text        NOT NULL CHECK (length(token) BETWEEN 1 AND 4096),
    platform     text        NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
    label        text        CHECK (length(label) <= 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token)
);
CREATE INDEX devices_of_user ON notify.devices (tenant_id, user_id);

-- Numbers that answered STOP (or were put here by an operator): no organization's non-security
-- SMS reaches them. Platform-wide, like BTRC's counts: organizations never read it; the request
-- path learns only whether its own recipients are on it.
CREATE TABLE notify.sms_opt_outs (
    phone      text        NOT NULL PRIMARY KEY CHECK (phone ~ '^\+8801[3-9][0-9]{8}$'),
    source     text        NOT NULL CHECK (length(source) <= 100),
    created_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON notify.sms_opt_outs TO {{system_role}};

CREATE FUNCTION notify.opted_out(p_phones text[]) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT phone FROM notify.sms_opt_outs WHERE phone = ANY (p_phones)
$$;
REVOKE ALL ON FUNCTION notify.opted_out(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notify.opted_out(text[]) TO {{app_role}}, {{system_role}};

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['preferences', 'quiet_hours', 'devices'] LOOP
        EXECUTE format('ALTER TABLE notify.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE notify.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON notify.%I
            USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)$p$, t);
        EXECUTE format('CREATE POLICY system_access ON notify.%I TO {{system_role}} USING (true) WITH CHECK (true)', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON notify.%I TO {{app_role}}, {{system_role}}', t);
    END LOOP;
END $$;
