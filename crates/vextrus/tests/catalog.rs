//! The schema's safety properties, read from PostgreSQL's catalog. These must keep holding as
//! modules add tables: every table with a `tenant_id` has ENABLE + FORCE Row-Level Security and
//! a policy on `vextrus.tenant_id`, `tenant_id` leads its primary key, indexes and foreign keys,
//! and the runtime roles can neither bypass RLS nor own anything.

mod common;

use sqlx::{Executor, PgConnection};

/// Every violation, as a readable line; empty when the schema is sound.
async fn violations(conn: &mut PgConnection) -> Vec<String> {
    let mut found: Vec<String> = sqlx::query_scalar(
        "WITH tenant_tables AS (
             SELECT c.oid, c.oid::regclass::text AS name, c.relrowsecurity, c.relforcerowsecurity
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p')
                AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
                AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
         SELECT name || ': Row-Level Security not enabled' FROM tenant_tables WHERE NOT relrowsecurity
         UNION ALL
         SELECT name || ': Row-Level Security not forced' FROM tenant_tables WHERE NOT relforcerowsecurity
         UNION ALL
         SELECT name || ': no policy comparing tenant_id with vextrus.tenant_id' FROM tenant_tables t
          WHERE NOT EXISTS (
              SELECT 1 FROM pg_policy p
               WHERE p.polrelid = t.oid AND p.polpermissive AND p.polroles = '{0}'
                 AND pg_get_expr(p.polqual, p.polrelid) LIKE '(tenant_id = (NULLIF(current_setting(''vextrus.tenant_id''::text, true), ''''::text))::uuid)')
         UNION ALL
         SELECT t.name || ': index ' || i.indexrelid::regclass::text || ' does not start with tenant_id'
           FROM tenant_tables t JOIN pg_index i ON i.indrelid = t.oid
          WHERE (SELECT attname FROM pg_attribute WHERE attrelid = t.oid AND attnum = i.indkey[0]) IS DISTINCT FROM 'tenant_id'
            -- Lookups that must find the tenant from a global key, each justified in its migration.
            AND i.indexrelid::regclass::text NOT IN (
                'identity.api_keys_prefix', 'identity.service_accounts_client_id', 'identity.memberships_user',
                'registry.scopes_scope', 'registry.packages_unscoped_name')
         UNION ALL
         SELECT t.name || ': foreign key ' || k.conname || ' does not start with tenant_id'
           FROM tenant_tables t JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype = 'f'
          -- A reference to another tenant table must stay within the tenant; one to a global
          -- table (users) cannot and need not.
          WHERE EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = k.confrelid AND a.attname = 'tenant_id')
            AND (SELECT attname FROM pg_attribute WHERE attrelid = t.oid AND attnum = k.conkey[1]) IS DISTINCT FROM 'tenant_id'
         UNION ALL
         SELECT t.name || ': no primary key' FROM tenant_tables t
          WHERE NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.oid AND i.indisprimary)",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();

    for role in ["vextrus_app", "vextrus_system"] {
        let role_findings: Vec<String> = sqlx::query_scalar(
            "SELECT $1 || ': is or can become a role that bypasses RLS (' || r.rolname || ')'
               FROM pg_roles r WHERE pg_has_role($1, r.oid, 'MEMBER') AND (r.rolsuper OR r.rolbypassrls)
             UNION ALL
             SELECT $1 || ' owns relation ' || c.oid::regclass::text FROM pg_class c WHERE c.relowner = $1::regrole
             UNION ALL
             SELECT $1 || ' owns schema ' || nspname FROM pg_namespace WHERE nspowner = $1::regrole
             UNION ALL
             SELECT $1 || ' owns function ' || p.oid::regprocedure::text FROM pg_proc p WHERE p.proowner = $1::regrole
             UNION ALL
             SELECT $1 || ' owns type ' || t.oid::regtype::text FROM pg_type t WHERE t.typowner = $1::regrole
             UNION ALL
             SELECT $1 || ' may create in schema ' || nspname FROM pg_namespace
              WHERE has_schema_privilege($1, oid, 'CREATE') AND nspname NOT LIKE 'pg_%'",
        )
        .bind(role)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        found.extend(role_findings);
    }
    found.sort();
    found
}

#[tokio::test]
async fn schema_keeps_tenants_apart() {
    let t = common::test_db().await;
    let found = violations(&mut t.owner_conn().await).await;
    assert!(found.is_empty(), "catalog violations:\n{}", found.join("\n"));
    // The check covers real tables (so it is not vacuous).
    let tenant_tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE a.attname = 'tenant_id' AND c.relkind = 'r'",
    )
    .fetch_one(&mut t.owner_conn().await)
    .await
    .unwrap();
    assert!(tenant_tables >= 1);
}

#[tokio::test]
async fn organizations_table_is_protected_like_a_tenant_table() {
    let t = common::test_db().await;
    let (rls, force): (bool, bool) = sqlx::query_as(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'tenancy.organizations'::regclass",
    )
    .fetch_one(&mut t.owner_conn().await)
    .await
    .unwrap();
    assert!(rls && force);
}

#[tokio::test]
async fn catalog_check_catches_an_unprotected_table_and_a_privileged_app_role() {
    let t = common::test_db().await;
    let mut conn = t.owner_conn().await;
    conn.execute(
        "SET ROLE vextrus_owner;
         CREATE SCHEMA careless;
         CREATE TABLE careless.invoices (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
         CREATE TABLE careless.lines (tenant_id uuid, id bigint, PRIMARY KEY (tenant_id, id));
         ALTER TABLE careless.lines ENABLE ROW LEVEL SECURITY;
         CREATE POLICY everything ON careless.lines USING (true);
         RESET ROLE;
         CREATE TABLE public.app_owned (tenant_id uuid);
         ALTER TABLE public.app_owned OWNER TO vextrus_app;",
    )
    .await
    .unwrap();
    let found = violations(&mut conn).await.join("\n");
    for expected in [
        "careless.invoices: Row-Level Security not enabled",
        "careless.invoices: Row-Level Security not forced",
        "careless.invoices: index careless.invoices_pkey does not start with tenant_id",
        "careless.lines: Row-Level Security not forced",
        "careless.lines: no policy comparing tenant_id with vextrus.tenant_id",
        "vextrus_app owns relation app_owned",
    ] {
        assert!(found.contains(expected), "missing {expected:?} in:\n{found}");
    }
}
