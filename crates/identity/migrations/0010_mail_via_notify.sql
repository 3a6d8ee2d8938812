-- Identity's mail goes through notify now, whose dev provider keeps the dev mailbox.
DROP TABLE identity.dev_mailbox;

-- The language the owner-to-be asked in: their sign-up code comes in it, and their account and
-- organization start with it.
ALTER TABLE identity.pending_signups ADD COLUMN locale text NOT NULL DEFAULT 'bn-BD' CHECK (locale IN ('bn-BD', 'en'));
