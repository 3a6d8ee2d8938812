-- Role assignments move to the access module (which owns roles and assignments, and assigns
-- them to service accounts too); a membership now says only that the user belongs.
INSERT INTO access.assignments (tenant_id, subject_id, role)
SELECT m.tenant_id, m.user_id, r.role FROM identity.memberships m, unnest(m.roles) AS r(role)
ON CONFLICT DO NOTHING;
ALTER TABLE identity.memberships DROP COLUMN roles;

-- Members are listed and removed inside the organization (a tenant transaction).
GRANT DELETE ON identity.memberships TO {{app_role}};

-- Sign-in looks up a user's organizations before any tenant is known.
CREATE INDEX memberships_user ON identity.memberships (user_id);
