//! The authorization check in process (criterion): what `Permitted<P>`, `/v1/authz/check` and
//! forward-auth's `require` cost once the subject is known. The cache holds the platform's
//! catalog and 100 organizations with 20 custom roles each.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use uuid::Uuid;
use vextrus_access::{Access, Scope, Subject, SubjectKind};
use vextrus_db::TenantId;

fn subject(tenant: TenantId, roles: &[&str]) -> Subject {
    Subject {
        kind: SubjectKind::User,
        id: Uuid::now_v7(),
        scope: Scope::Tenant(tenant),
        roles: roles.iter().map(|r| Box::from(*r)).collect(),
        username: Some(Arc::from("bench")),
        session: None,
        limit: None,
        key_bounds: None,
    }
}

fn checks(c: &mut Criterion) {
    let access = Access::new(vextrus::PERMISSIONS);
    let perms: &[&str] = &["identity.members.read", "access.roles.read", "tenancy.organization.read"];
    let names: Vec<String> = (0..20).map(|i| format!("custom-{i}")).collect();
    let mut tenant = TenantId::new_v7();
    for _ in 0..100 {
        tenant = TenantId::new_v7();
        access.seed_roles(tenant, names.iter().map(|n| (n.as_str(), perms)));
    }
    let member = subject(tenant, &["member"]);
    let custom = subject(tenant, &["viewer", "custom-19"]);
    let batch: Vec<String> = access.catalog().into_iter().map(|(key, _)| key).take(10).collect();

    c.bench_function("check: built-in role, allowed", |b| {
        b.iter(|| black_box(access.check(black_box(&member), "identity.members.read")))
    });
    c.bench_function("check: built-in role, denied", |b| {
        b.iter(|| black_box(access.check(black_box(&member), "identity.members.manage")))
    });
    c.bench_function("check: custom role, allowed", |b| {
        b.iter(|| black_box(access.check(black_box(&custom), "access.roles.read")))
    });
    c.bench_function("check: batch of 10", |b| {
        b.iter(|| black_box(access.check_all(black_box(&custom), batch.iter().map(String::as_str))))
    });
}

criterion_group!(benches, checks);
criterion_main!(benches);
