-- Notify: every message the platform sends, one row per recipient and channel, with the attempts
-- made to deliver it. Platform messages (sign-up codes, password resets) have the nil tenant and
-- are invisible to every organization.

CREATE SCHEMA notify;
GRANT USAGE ON SCHEMA notify TO {{app_role}}, {{system_role}};

CREATE TABLE notify.messages (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    kind            text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' AND length(kind) <= 100),
    category        text        NOT NULL CHECK (category IN ('transactional', 'promotional', 'security')),
    channel         text        NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
    recipient       text        NOT NULL CHECK (length(recipient) <= 254),
    user_id         uuid,
    locale          text        NOT NULL CHECK (locale IN ('bn-BD', 'en')),
    -- The template's data; a sensitive type's (a code) is wiped once the message is done.
    data            jsonb,
    sensitive       boolean     NOT NULL DEFAULT false,
    subject         text,
    body            text,
    status          text        NOT NULL DEFAULT 'queued'
                                CHECK (status IN ('queued', 'sent', 'delivered', 'failed')),
    not_before      timestamptz NOT NULL DEFAULT now(),
    segments        integer,
    cost_bdt        numeric(14, 4),
    sender_id       text,
    provider        text,
    provider_id     text,
    error           text,
    trigger_id      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX messages_to_report ON notify.messages (tenant_id, provider, sent_at) WHERE status = 'sent' AND channel = 'sms';

CREATE TABLE notify.attempts (
    tenant_id   uuid        NOT NULL,
    message_id  uuid        NOT NULL,
    id          uuid        NOT NULL,
    provider    text        NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'unavailable', 'skipped', 'report')),
    response    text        NOT NULL,
    cost_bdt    numeric(14, 4),
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_id, id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES notify.messages (tenant_id, id) ON DELETE CASCADE
);

-- An idempotency key answers the messages its first trigger made.
CREATE TABLE notify.triggers (
    tenant_id       uuid        NOT NULL,
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    id              uuid        NOT NULL,
    message_ids     uuid[]      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

-- An organization's own SMS settings: its sender id and monthly budget.
CREATE TABLE notify.settings (
    tenant_id              uuid        NOT NULL PRIMARY KEY,
    sms_sender_id          text        CHECK (length(sms_sender_id) BETWEEN 1 AND 20),
    sms_monthly_budget_bdt numeric(14, 4) CHECK (sms_monthly_budget_bdt >= 0),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- What an organization's SMS cost this month (Dhaka months), taken atomically at trigger time.
CREATE TABLE notify.sms_spend (
    tenant_id uuid           NOT NULL,
    month     date           NOT NULL,
    spent_bdt numeric(14, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month)
);


-- BTRC: at most a few promotional SMS per number per Dhaka day, across every organization. The
-- request path may take from the count (one upsert that answers whether it fit) but never read
-- the table: an organization learns only whether its own message fits.
CREATE TABLE notify.promotional_counts (
    phone text    NOT NULL,
    day   date    NOT NULL,
    count integer NOT NULL,
    PRIMARY KEY (phone, day)
);
GRANT SELECT, DELETE ON notify.promotional_counts TO {{system_role}};

CREATE FUNCTION notify.take_promotional(p_phone text, p_day date, p_limit integer) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE taken integer;
BEGIN
    INSERT INTO notify.promotional_counts AS c (phone, day, count) VALUES (p_phone, p_day, 1)
    ON CONFLICT (phone, day) DO UPDATE SET count = c.count + 1 WHERE c.count < p_limit
    RETURNING c.count INTO taken;
    RETURN taken IS NOT NULL;
END $$;
REVOKE ALL ON FUNCTION notify.take_promotional(text, date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notify.take_promotional(text, date, integer) TO {{app_role}}, {{system_role}};

-- The dev provider's mailbox (embedded/dev mode): every channel's messages, kept instead of sent.
CREATE TABLE notify.dev_mailbox (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    kind       text        NOT NULL,
    channel    text        NOT NULL,
    recipient  text        NOT NULL,
    subject    text,
    body       text        NOT NULL,
    html       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- Addresses that asked (RFC 8058 one-click) to receive no more of an organization's messages of
-- a category. Security messages are always sent.
CREATE TABLE notify.suppressions (
    tenant_id  uuid        NOT NULL,
    address    text        NOT NULL,
    category   text        NOT NULL CHECK (category IN ('transactional', 'promotional')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, address, category)
);


-- The key that signs links in messages (unsubscribe): made once, readable by the system role only.
CREATE TABLE notify.link_key (
    id  boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (id),
    key bytea   NOT NULL CHECK (length(key) = 32)
);
GRANT SELECT, INSERT ON notify.link_key TO {{system_role}};

-- Every tenant table: Row-Level Security on the organization, the system role sees all. The
-- request path reads and writes messages, attempts, triggers, settings and spend; the dev mailbox
-- and suppressions are the system path's only (delivery, the dev mailbox endpoint, the signed
-- unsubscribe link).
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['messages', 'attempts', 'triggers', 'settings', 'sms_spend', 'dev_mailbox', 'suppressions'] LOOP
        EXECUTE format('ALTER TABLE notify.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE notify.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON notify.%I
            USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)$p$, t);
        EXECUTE format('CREATE POLICY system_access ON notify.%I TO {{system_role}} USING (true) WITH CHECK (true)', t);
        IF t IN ('dev_mailbox', 'suppressions') THEN
            EXECUTE format('GRANT SELECT, INSERT ON notify.%I TO {{system_role}}', t);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE ON notify.%I TO {{app_role}}, {{system_role}}', t);
        END IF;
    END LOOP;
END $$;
