-- An organization's admins change its name and settings themselves, in a tenant transaction:
-- the app role may update exactly those columns, and the policy (USING, which also serves as
-- the check) keeps the row its own. Status and slug stay with platform operators.
GRANT UPDATE (name, timezone, currency, locale, updated_at) ON tenancy.organizations TO {{app_role}};
