//! Row-Level Security at the SQL level, as the request-path role: a tenant sees and changes its
//! own rows only, a connection with no tenant sees nothing, and a pooled connection never carries
//! one request's tenant into the next.

mod common;

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection, Row};
use vextrus_db::{DatabaseOptions, TenantId, Tx};
use vextrus_tenancy::service;

/// A tenant table written exactly as a module's migration would write one.
const FIXTURE: &str = "
SET ROLE vextrus_owner;
CREATE SCHEMA fixture;
GRANT USAGE ON SCHEMA fixture TO vextrus_app, vextrus_system;
CREATE TABLE fixture.notes (
    tenant_id uuid NOT NULL,
    id        bigint NOT NULL,
    body      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE fixture.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE fixture.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON fixture.notes
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
CREATE POLICY system_access ON fixture.notes TO vextrus_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON fixture.notes TO vextrus_app, vextrus_system;
RESET ROLE;
";

struct Fixture {
    t: vextrus_testkit::TestDb,
    a: TenantId,
    b: TenantId,
}

async fn fixture() -> Fixture {
    let t = common::test_db().await;
    t.owner_conn().await.execute(FIXTURE).await.unwrap();
    let (a, b) = (TenantId::new_v7(), TenantId::new_v7());
    for (tenant, ids) in [(a, 1..=3), (b, 101..=103)] {
        let mut tx = t.db.tenant(tenant).await.unwrap();
        for id in ids {
            sqlx::query("INSERT INTO fixture.notes (tenant_id, id, body) VALUES ($1, $2, 'secret')")
                .bind(tenant)
                .bind(id as i64)
                .execute(tx.conn())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    Fixture { t, a, b }
}

async fn set_tenant(conn: &mut PgConnection, tenant: TenantId) {
    sqlx::query("SELECT set_config('vextrus.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(conn)
        .await
        .unwrap();
}

fn is_rls_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("42501"))
}

#[tokio::test]
async fn no_tenant_set_sees_no_rows_and_cannot_insert() {
    let f = fixture().await;
    let mut conn = f.t.app_conn().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM fixture.notes").fetch_one(&mut conn).await.unwrap();
    assert_eq!(count, 0);
    let orgs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenancy.organizations").fetch_one(&mut conn).await.unwrap();
    assert_eq!(orgs, 0);
    let err =
        sqlx::query("INSERT INTO fixture.notes VALUES ($1, 9, 'x')").bind(f.a).execute(&mut conn).await.unwrap_err();
    assert!(is_rls_violation(&err), "{err}");
    // An empty setting (what RESET leaves behind) is "no tenant" too, and never an error.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('vextrus.tenant_id', '', true)").execute(&mut *tx).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM fixture.notes").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn tenant_cannot_read_update_delete_or_insert_another_tenants_rows() {
    let f = fixture().await;
    let mut tx = f.t.db.tenant(f.a).await.unwrap();
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM fixture.notes ORDER BY id").fetch_all(tx.conn()).await.unwrap();
    assert_eq!(ids, vec![1, 2, 3], "A sees exactly its rows");
    let by_key: Option<String> = sqlx::query_scalar("SELECT body FROM fixture.notes WHERE tenant_id = $1 AND id = 101")
        .bind(f.b)
        .fetch_optional(tx.conn())
        .await
        .unwrap();
    assert!(by_key.is_none(), "naming B's key explicitly does not help");
    let updated =
        sqlx::query("UPDATE fixture.notes SET body = 'pwned' WHERE id >= 101").execute(tx.conn()).await.unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let deleted = sqlx::query("DELETE FROM fixture.notes WHERE id >= 101").execute(tx.conn()).await.unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    let err = sqlx::query("INSERT INTO fixture.notes VALUES ($1, 200, 'planted')")
        .bind(f.b)
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert!(is_rls_violation(&err), "{err}");
    tx.rollback().await.unwrap();

    let mut tx = f.t.db.tenant(f.a).await.unwrap();
    let moved = sqlx::query("UPDATE fixture.notes SET tenant_id = $1 WHERE id = 1")
        .bind(f.b)
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert!(is_rls_violation(&moved), "a row cannot be handed to another tenant: {moved}");
    tx.rollback().await.unwrap();

    let mut owner = f.t.owner_conn().await;
    let b_rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, body FROM fixture.notes WHERE tenant_id = $1 ORDER BY id")
            .bind(f.b)
            .fetch_all(&mut owner)
            .await
            .unwrap();
    assert_eq!(b_rows, vec![(101, "secret".into()), (102, "secret".into()), (103, "secret".into())]);
}

#[tokio::test]
async fn tenant_setting_does_not_outlive_its_transaction() {
    let f = fixture().await;
    let mut conn = f.t.app_conn().await;
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, f.a).await;
    let inside: i64 = sqlx::query_scalar("SELECT count(*) FROM fixture.notes").fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM fixture.notes").fetch_one(&mut conn).await.unwrap();
    assert_eq!((inside, after), (3, 0));
}

#[tokio::test]
async fn pool_of_one_alternating_tenants_never_leaks() {
    let f = fixture().await;
    let mut options: DatabaseOptions = f.t.options.clone();
    options.max_connections = 1;
    let db = vextrus_db::Database::connect(&options).await.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let db = db.clone();
            let (tenant, expected) = if i % 2 == 0 { (f.a, vec![1i64, 2, 3]) } else { (f.b, vec![101, 102, 103]) };
            tokio::spawn(async move {
                let mut tx = db.tenant(tenant).await.unwrap();
                let rows = sqlx::query("SELECT tenant_id, id FROM fixture.notes ORDER BY id")
                    .fetch_all(tx.conn())
                    .await
                    .unwrap();
                if i % 7 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                // Every third transaction rolls back: a rollback must not leave the tenant behind either.
                if i % 3 == 0 {
                    tx.rollback().await.unwrap()
                } else {
                    tx.commit().await.unwrap()
                }
                let ids: Vec<i64> = rows.iter().map(|r| r.get("id")).collect();
                assert!(rows.iter().all(|r| r.get::<uuid::Uuid, _>("tenant_id") == *tenant.as_uuid()));
                assert_eq!(ids, expected, "task {i} saw another tenant's rows");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(db.app_stats().max, 1);
}

#[tokio::test]
async fn jobs_and_organizations_are_tenant_scoped_too() {
    let f = fixture().await;
    let (org_a, org_b) = {
        let mut tx = f.t.db.system().await.unwrap();
        let mk = |slug: &str| vextrus_tenancy::model::NewOrganization {
            slug: vextrus_tenancy::OrgSlug::parse(slug).unwrap(),
            name: vextrus_tenancy::OrgName::parse(slug).unwrap(),
            settings: Default::default(),
        };
        let a = service::create(&mut tx, mk("alpha-co"), vextrus_audit::Actor::system()).await.unwrap();
        let b = service::create(&mut tx, mk("beta-co"), vextrus_audit::Actor::system()).await.unwrap();
        tx.commit().await.unwrap();
        (a, b)
    };
    let mut tx = f.t.db.tenant(org_a.id).await.unwrap();
    assert_eq!(service::current(&mut tx).await.unwrap().slug, org_a.slug);
    let visible: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenancy.organizations").fetch_one(tx.conn()).await.unwrap();
    assert_eq!(visible, 1, "an organization sees only itself");
    let other = sqlx::query("UPDATE tenancy.organizations SET name = 'x' WHERE id = $1")
        .bind(org_b.id)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(other.rows_affected(), 0, "another organization cannot be updated (it is not even visible)");
    let own = sqlx::query("UPDATE tenancy.organizations SET name = 'Alpha' WHERE id = $1")
        .bind(org_a.id)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(own.rows_affected(), 1, "an organization renames itself");
    tx.rollback().await.unwrap();
    let mut tx = f.t.db.tenant(org_a.id).await.unwrap();
    let status = sqlx::query("UPDATE tenancy.organizations SET status = 'active', suspended_at = NULL WHERE id = $1")
        .bind(org_a.id)
        .execute(tx.conn())
        .await;
    assert!(status.is_err(), "status (and slug) are not the app role's to change");
    tx.rollback().await.unwrap();

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Ping;
    impl vextrus_db::jobs::Job for Ping {
        const KIND: &'static str = "test.ping";
    }
    let mut tx = f.t.db.tenant(org_b.id).await.unwrap();
    vextrus_db::jobs::enqueue(&mut tx, &Ping).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = f.t.db.tenant(org_a.id).await.unwrap();
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM db.jobs").fetch_one(tx.conn()).await.unwrap();
    assert_eq!(jobs, 0, "A does not see B's jobs");
    let mut tx = f.t.db.tenant(org_b.id).await.unwrap();
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM db.jobs").fetch_one(tx.conn()).await.unwrap();
    assert_eq!(jobs, 1);
}
