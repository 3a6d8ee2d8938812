-- Whether a package's visibility was chosen for it (`npm access`), or follows the configured
-- rules for names like it (`[[registry.access]]`, Verdaccio's `packages:` patterns). A package
-- that is not organization-only today was made so by someone.
ALTER TABLE registry.packages ADD COLUMN visibility_explicit boolean NOT NULL DEFAULT false;
UPDATE registry.packages SET visibility_explicit = true WHERE visibility <> 'organization';
