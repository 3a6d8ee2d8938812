-- Who may read a package besides its organization's members: `organization` (nobody else),
-- `signed_in` (anyone signed in to the platform) or `public` (anyone, without a token).
ALTER TABLE registry.packages
    ADD COLUMN visibility text NOT NULL DEFAULT 'organization'
        CHECK (visibility IN ('organization', 'signed_in', 'public'));
