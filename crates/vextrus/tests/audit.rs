//! The audit trail: recorded with the change (or not at all), gap-free per tenant under
//! concurrency, searchable over HTTP, and any tampering is found by `verify`.

mod common;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};
use vextrus_audit::{Actor, NewEvent, Target};
use vextrus_db::{TenantId, Tx};

/// Runs `sql` as the owner role with the append-only trigger's switch on: what someone who gets
/// around the protections can do.
async fn tamper(app: &TestApp, sql: &str) {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db.owner_url()).await.unwrap();
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SET LOCAL vextrus.audit_retention = 'on'").execute(&mut *tx).await.unwrap();
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn events(app: &TestApp, token: &str, query: &str) -> Value {
    app.ok_json_get(token, &format!("/v1/audit/events{query}")).await
}

#[tokio::test]
async fn sign_up_an_update_and_an_invitation_are_listed_and_the_chain_verifies() {
    let app = TestApp::start().await;
    let org = app.sign_up("audit-co", "owner@audit.example", "audit-owner").await;
    let owner = app.access_token("audit-owner", None).await;
    let org_id = org["organization"]["id"].as_str().unwrap();
    let user_id = org["user"]["id"].as_str().unwrap();
    app.ok_json(
        &owner,
        Method::PATCH,
        "/v1/orgs/audit-co",
        json!({"name": "Audit Traders", "settings": {"locale": "en"}}),
    )
    .await;
    app.ok_json(&owner, Method::POST, "/v1/invitations", json!({"email": "new@audit.example", "roles": ["viewer"]}))
        .await;

    let page = events(&app, &owner, "").await;
    let items = page["items"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "identity.invitation.create",
            "tenancy.organization.update",
            "authn_login_success",
            "identity.user.signup",
            "tenancy.organization.create"
        ]
    );
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [5, 4, 3, 2, 1]);
    let update = &items[1];
    assert_eq!(update["actor"]["type"], "user");
    assert_eq!(update["actor"]["id"], user_id);
    assert_eq!(update["actor"]["username"], "audit-owner");
    assert!(update["actor"]["request_id"].is_string() && update["actor"]["ip"] == "127.0.0.1");
    assert_eq!(update["target"], json!({"type": "organization", "id": org_id}));
    assert_eq!(
        update["changes"],
        json!({"name": {"before": "Org audit-co", "after": "Audit Traders"}, "settings.locale": {"before": "bn-BD", "after": "en"}})
    );
    assert_eq!(items[0]["metadata"]["email"], "new@audit.example");
    assert_eq!(items[4]["prev_hash"], "0".repeat(64));
    assert_eq!(items[3]["prev_hash"], items[4]["hash"]);

    // Filters and pages.
    let invitations = events(&app, &owner, "?action=identity.invitation").await;
    assert_eq!(invitations["items"].as_array().unwrap().len(), 1);
    let first = events(&app, &owner, "?limit=3").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let rest = events(&app, &owner, &format!("?limit=3&cursor={}", first["next_cursor"])).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    assert_eq!(rest["items"][1]["seq"], 1);
    assert!(rest["next_cursor"].is_null());

    let verified = app.ok_json_get(&owner, "/v1/audit/verify").await;
    assert_eq!(verified, json!({"ok": true, "events_checked": 5, "first_bad_seq": null}));

    // Members may not read the trail; another organization sees only its own.
    let member = app.join(&owner, "m@audit.example", "audit-member", &["member"]).await;
    let _ = member;
    let member_token = app.access_token("audit-member", None).await;
    problem(
        app.as_user(&member_token, Method::GET, "/v1/audit/events").send().await.unwrap(),
        403,
        "permission_denied",
    )
    .await;
    app.sign_up("other-co", "owner@other.example", "other-owner").await;
    let other = app.access_token("other-owner", None).await;
    let theirs = events(&app, &other, "").await;
    assert!(!theirs.to_string().contains(org_id));
}

#[tokio::test]
async fn tampering_through_the_owner_role_is_found() {
    let app = TestApp::start().await;
    app.sign_up("tamper-co", "owner@tamper.example", "tamper-owner").await;
    let owner = app.access_token("tamper-owner", None).await;
    for name in ["One", "Two", "Three"] {
        app.ok_json(&owner, Method::PATCH, "/v1/orgs/tamper-co", json!({"name": name})).await;
    }
    assert_eq!(app.ok_json_get(&owner, "/v1/audit/verify").await["ok"], true);
    let mut conn = app.db.owner_conn().await;
    // The append-only trigger refuses even the owner…
    let refused = sqlx::query("UPDATE audit.events SET action = 'x.y' WHERE seq = 3").execute(&mut conn).await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    let refused = sqlx::query("DELETE FROM audit.events WHERE seq = 3").execute(&mut conn).await;
    assert!(refused.is_err());

    // …but an owner who switches it off can edit; verify names the event.
    tamper(&app, "UPDATE audit.events SET changes = '{\"name\": {\"before\": \"x\", \"after\": \"y\"}}' WHERE seq = 3")
        .await;
    let report = app.ok_json_get(&owner, "/v1/audit/verify").await;
    assert_eq!((report["ok"].clone(), report["first_bad_seq"].clone()), (json!(false), json!(3)), "{report}");
    assert_eq!(report["events_checked"], 2);
}

#[tokio::test]
async fn deleted_and_reordered_events_are_found() {
    let app = TestApp::start().await;
    app.sign_up("gaps-co", "owner@gaps.example", "gaps-owner").await;
    let owner = app.access_token("gaps-owner", None).await;
    for name in ["One", "Two", "Three", "Four"] {
        app.ok_json(&owner, Method::PATCH, "/v1/orgs/gaps-co", json!({"name": name})).await;
    }
    // Swap two events' places in the sequence.
    tamper(&app, "UPDATE audit.events SET seq = CASE seq WHEN 4 THEN 5 ELSE 4 END WHERE seq IN (4, 5)").await;
    let report = app.ok_json_get(&owner, "/v1/audit/verify").await;
    assert_eq!(report["first_bad_seq"], 4, "{report}");
    tamper(&app, "UPDATE audit.events SET seq = CASE seq WHEN 4 THEN 5 ELSE 4 END WHERE seq IN (4, 5)").await;
    assert_eq!(app.ok_json_get(&owner, "/v1/audit/verify").await["ok"], true);
    // Delete one in the middle, then the last one.
    tamper(&app, "DELETE FROM audit.events WHERE seq = 6").await;
    assert_eq!(app.ok_json_get(&owner, "/v1/audit/verify").await["first_bad_seq"], 6);
    tamper(&app, "DELETE FROM audit.events WHERE seq = 5").await;
    let report = app.ok_json_get(&owner, "/v1/audit/verify").await;
    assert_eq!(report["first_bad_seq"], 5, "a deleted tail is found through the chain's head: {report}");
}

#[tokio::test]
async fn an_event_commits_or_rolls_back_with_its_change_and_seq_has_no_gaps() {
    let t = common::test_db().await;
    let tenant = TenantId::new_v7();
    let event = |n: usize| NewEvent::new(tenant, Actor::system(), "test.thing.happen").target(Target::new("thing", n));
    let mut tx = t.db.tenant(tenant).await.unwrap();
    vextrus_audit::record(&mut tx, event(0)).await.unwrap();
    tx.rollback().await.unwrap();
    let mut tx = t.db.tenant(tenant).await.unwrap();
    let recorded = vextrus_audit::record(&mut tx, event(1)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recorded.seq, 1, "the rolled-back event left no trace, not even a seq");

    // 50 concurrent writers on this tenant and 50 spread over 5 others.
    let others: Vec<TenantId> = (0..5).map(|_| TenantId::new_v7()).collect();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let db = t.db.clone();
        let target = if i % 2 == 0 { tenant } else { others[i % 5] };
        tasks.push(tokio::spawn(async move {
            let mut tx = db.tenant(target).await.unwrap();
            let e = NewEvent::new(target, Actor::system(), "test.thing.happen").target(Target::new("thing", i));
            vextrus_audit::record(&mut tx, e).await.unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut owner = t.owner_conn().await;
    for (which, expected) in std::iter::once((tenant, 51)).chain(others.iter().map(|o| (*o, 10))) {
        let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit.events WHERE tenant_id = $1 ORDER BY seq")
            .bind(which)
            .fetch_all(&mut owner)
            .await
            .unwrap();
        assert_eq!(seqs, (1..=expected).collect::<Vec<i64>>(), "gap-free");
        let mut tx = t.db.tenant(which).await.unwrap();
        let report = vextrus_audit::verify(&mut tx, which).await.unwrap();
        assert!(report.ok && report.events_checked == expected, "{report:?}");
    }
}

#[tokio::test]
async fn exports_stream_every_event_and_the_ndjson_verifies_offline() {
    let app = TestApp::start().await;
    app.sign_up("export-co", "owner@export.example", "export-owner").await;
    let owner = app.access_token("export-owner", None).await;
    for i in 0..30 {
        app.ok_json(&owner, Method::PATCH, "/v1/orgs/export-co", json!({"name": format!("Name, \"{i}\"")})).await;
    }
    let ndjson = app.as_user(&owner, Method::GET, "/v1/audit/export").send().await.unwrap();
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let text = ndjson.text().await.unwrap();
    let events: Vec<vextrus_audit::Event> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 33, "create, sign-up, sign-in and 30 updates");
    assert_eq!(events.first().unwrap().seq, 1);
    // The export alone (no database) proves the chain.
    assert_eq!(vextrus_audit::chain::first_bad(&events), None);
    let mut edited = events.clone();
    edited[10].changes = json!({"name": {"before": "forged", "after": "forged"}});
    assert_eq!(vextrus_audit::chain::first_bad(&edited), Some(11));

    let csv = app.as_user(&owner, Method::GET, "/v1/audit/export?format=csv").send().await.unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("audit-export-co.csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 34, "a header and one line per event (quoted commas and quotes stay in one line)");
    assert!(lines[0].contains("occurred_at_local (Asia/Dhaka)"));
    let first: Vec<&str> = lines[1].split(',').collect();
    let utc = chrono::DateTime::parse_from_rfc3339(first[2]).unwrap();
    let local = chrono::NaiveDateTime::parse_from_str(first[3], "%Y-%m-%dT%H:%M:%S%.f").unwrap();
    assert_eq!(local - utc.naive_utc(), chrono::Duration::hours(6), "Dhaka is UTC+6");

    let member = app.join(&owner, "m@export.example", "export-member", &["member"]).await;
    let _ = member;
    let member_token = app.access_token("export-member", None).await;
    let refused = app.as_user(&member_token, Method::GET, "/v1/audit/export").send().await.unwrap();
    problem(refused, 403, "permission_denied").await;
}

#[tokio::test]
async fn an_export_with_signed_checkpoints_verifies_offline_with_the_cli() {
    let app = TestApp::start().await;
    app.sign_up("sealed-co", "owner@sealed.example", "sealed-owner").await;
    let owner = app.access_token("sealed-owner", None).await;
    for name in ["One", "Two"] {
        app.ok_json(&owner, Method::PATCH, "/v1/orgs/sealed-co", json!({"name": name})).await;
    }
    // The sealing job's work, as the worker would run it.
    let sealed = vextrus_audit::checkpoint::seal_heads(&app.db.db, &app.auth.keys).await.unwrap();
    assert!(sealed >= 1);
    assert_eq!(vextrus_audit::checkpoint::seal_heads(&app.db.db, &app.auth.keys).await.unwrap(), 0, "nothing new");

    let dir = tempfile::tempdir().unwrap();
    let export = app.as_user(&owner, Method::GET, "/v1/audit/export").send().await.unwrap().text().await.unwrap();
    assert!(export.lines().last().unwrap().starts_with("{\"checkpoint\""));
    let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().text().await.unwrap();
    std::fs::write(dir.path().join("export.ndjson"), &export).unwrap();
    std::fs::write(dir.path().join("jwks.json"), &jwks).unwrap();
    let verify = |export: &str, jwks: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vextrus"))
            .args(["audit", "verify", "--export", export, "--jwks", jwks])
            .output()
            .unwrap()
    };
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let ok = verify(&path("export.ndjson"), &path("jwks.json"));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!((report["ok"].clone(), report["events_checked"].clone()), (json!(true), json!(5)));
    assert_eq!(report["checkpoints_checked"], 1);

    // An edited event, or keys that did not sign it: refused, naming why.
    std::fs::write(dir.path().join("edited.ndjson"), export.replacen("\"One\"", "\"Uno\"", 1)).unwrap();
    let edited = verify(&path("edited.ndjson"), &path("jwks.json"));
    assert_eq!(edited.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&edited.stderr).contains("the chain breaks at seq"));
    let other = TestApp::start().await;
    let other_jwks = other.client.get(other.url("/.well-known/jwks.json")).send().await.unwrap().text().await.unwrap();
    std::fs::write(dir.path().join("other.json"), other_jwks).unwrap();
    let foreign = verify(&path("export.ndjson"), &path("other.json"));
    assert_eq!(foreign.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("no checkpoint is signed by a key of the JWKS"));
}

/// Records `n` events in `tenant`'s chain, at `at` (one millisecond apart).
async fn record_at(app: &TestApp, tenant: TenantId, n: i64, at: chrono::DateTime<chrono::Utc>) {
    let mut tx = app.db.db.tenant(tenant).await.unwrap();
    for i in 0..n {
        let event = NewEvent::new(tenant, Actor::system(), "test.thing.update")
            .target(Target::new("thing", i))
            .at(at + chrono::Duration::milliseconds(i));
        vextrus_audit::record(&mut tx, event).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn verify_chain(app: &TestApp, tenant: TenantId) -> vextrus_audit::VerifyReport {
    let mut tx = app.db.db.tenant(tenant).await.unwrap();
    let report = vextrus_audit::verify(&mut tx, tenant).await.unwrap();
    tx.commit().await.unwrap();
    report
}

#[tokio::test]
async fn retention_removes_old_events_after_sealing_an_anchor_and_the_rest_still_verifies() {
    use vextrus_audit::retention::{self, Policy};
    let app = TestApp::start().await;
    let db = &app.db.db;
    let (x, y) = (TenantId::new_v7(), TenantId::new_v7());
    let now = chrono::Utc::now();
    let old = now.checked_sub_months(chrono::Months::new(14)).unwrap();
    let mut tx = db.system().await.unwrap();
    sqlx::query("SELECT audit.ensure_partitions($1, 1)").bind(old.date_naive()).execute(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
    let old_partition = format!("audit.events_{}", old.format("%Y_%m"));
    record_at(&app, x, 5, old).await;
    record_at(&app, y, 3, old).await;
    record_at(&app, x, 3, now).await;
    record_at(&app, y, 1, now).await;
    // y keeps two years; x the default year.
    let mut tx = db.tenant(y).await.unwrap();
    retention::choose_months(&mut tx, y, 24).await.unwrap();
    tx.commit().await.unwrap();

    let report = retention::run(db, &app.auth.keys, &Policy::default(), chrono::Utc::now()).await.unwrap();
    assert_eq!((report.anchors_sealed, report.events_removed), (1, 5), "{report:?}");
    assert!(!report.partitions_dropped.contains(&old_partition.replace("audit.", "")), "y's events are still in it");
    let x_report = verify_chain(&app, x).await;
    assert!(x_report.ok && x_report.events_checked == 4, "3 kept and the purge event: {x_report:?}");
    let y_report = verify_chain(&app, y).await;
    assert!(y_report.ok && y_report.events_checked == 4, "{y_report:?}");

    // The anchor is signed with a published key, at the last removed event; the purge event names it.
    let mut tx = db.tenant(x).await.unwrap();
    let sealed = vextrus_audit::checkpoint::of_tenant(&mut tx, x).await.unwrap();
    let kept = vextrus_audit::search(&mut tx, x, &Default::default(), 10).await.unwrap();
    tx.commit().await.unwrap();
    let anchor = sealed.iter().find(|c| c.kind == vextrus_audit::checkpoint::Kind::Anchor).expect("an anchor");
    assert_eq!(anchor.seq, 5);
    let jwks = serde_json::to_value(app.auth.keys.jwks()).unwrap();
    let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == anchor.kid.as_str()).unwrap();
    let public = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, key["x"].as_str().unwrap());
    assert!(anchor.signed_by(&public.unwrap()));
    let purge = &kept[0];
    assert_eq!((purge.seq, purge.action.as_str()), (9, "audit.events.purged"));
    assert_eq!(purge.metadata["through_seq"], 5);
    assert_eq!(purge.metadata["through_hash"], anchor.hash.as_str());
    assert_eq!(kept.last().unwrap().seq, 6);

    // Nothing new to remove: nothing happens.
    let again = retention::run(db, &app.auth.keys, &Policy::default(), chrono::Utc::now()).await.unwrap();
    assert_eq!((again.anchors_sealed, again.events_removed), (0, 0), "{again:?}");

    // y shortens to a year: its old events go, and with them the whole month's partition.
    let mut tx = db.tenant(y).await.unwrap();
    retention::choose_months(&mut tx, y, 12).await.unwrap();
    tx.commit().await.unwrap();
    let report = retention::run(db, &app.auth.keys, &Policy::default(), chrono::Utc::now()).await.unwrap();
    assert_eq!((report.anchors_sealed, report.events_removed), (1, 3), "{report:?}");
    assert!(report.partitions_dropped.contains(&old_partition.replace("audit.", "")), "{report:?}");
    let mut conn = app.db.owner_conn().await;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT to_regclass($1)::text").bind(&old_partition).fetch_one(&mut conn).await.unwrap();
    assert_eq!(exists, None);
    assert!(verify_chain(&app, y).await.ok);

    // The owner functions refuse what no anchor covers.
    let mut tx = db.system().await.unwrap();
    let refused = sqlx::query("SELECT audit.purge_through($1, 8)").bind(x).execute(tx.conn()).await;
    assert!(refused.unwrap_err().to_string().contains("no anchor checkpoint"));
    drop(tx);

    // Removing kept events is still found: the first kept one, or the purge event itself.
    tamper(&app, &format!("DELETE FROM audit.events WHERE tenant_id = '{x}' AND seq = 6")).await;
    let report = verify_chain(&app, x).await;
    assert_eq!((report.ok, report.first_bad_seq), (false, Some(6)), "the anchor accounts for 1–5 only: {report:?}");
    tamper(&app, &format!("DELETE FROM audit.events WHERE tenant_id = '{y}' AND seq = 5")).await;
    let report = verify_chain(&app, y).await;
    assert_eq!((report.ok, report.first_bad_seq), (false, Some(1)), "no purge event accounts for 1–3: {report:?}");
}

#[tokio::test]
async fn after_retention_an_export_still_verifies_offline_from_its_anchor() {
    let app = TestApp::start().await;
    app.sign_up("kept-co", "owner@kept.example", "kept-owner").await;
    let owner = app.access_token("kept-owner", None).await;
    app.ok_json(&owner, Method::PATCH, "/v1/orgs/kept-co", json!({"name": "Before"})).await;
    // Thirteen months on, every event so far is past the default year.
    let later = chrono::Utc::now().checked_add_months(chrono::Months::new(13)).unwrap();
    let policy = vextrus_audit::retention::Policy::default();
    // (in the organization's chain and the platform's, where the sign-up was asked for)
    let so_far: i64 = sqlx::query_scalar("SELECT count(*) FROM audit.events")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert!(so_far >= 5, "sign-up asked and completed, sign-in and the change are audited: {so_far}");
    let report = vextrus_audit::retention::run(&app.db.db, &app.auth.keys, &policy, later).await.unwrap();
    assert_eq!(report.events_removed, so_far, "{report:?}");
    for name in ["After one", "After two"] {
        app.ok_json(&owner, Method::PATCH, "/v1/orgs/kept-co", json!({"name": name})).await;
    }
    let verified = app.ok_json_get(&owner, "/v1/audit/verify").await;
    assert_eq!(verified, json!({"ok": true, "events_checked": 3, "first_bad_seq": null}));
    vextrus_audit::checkpoint::seal_heads(&app.db.db, &app.auth.keys).await.unwrap();

    let export = app.as_user(&owner, Method::GET, "/v1/audit/export").send().await.unwrap().text().await.unwrap();
    let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().text().await.unwrap();
    let keys = jwks_keys(&jwks);
    let report = vextrus_audit::checkpoint::verify_export(&export, &keys);
    assert!(report.ok, "{report:?}");
    assert_eq!((report.events_checked, report.checkpoints_checked), (3, 2), "anchor and head: {report:?}");
    assert_eq!((report.sealed_through_seq, report.unsealed_events), (Some(7), 0));

    // Without the purge event nothing accounts for the missing start.
    let cut: String = export.lines().filter(|l| !l.contains("audit.events.purged")).map(|l| format!("{l}\n")).collect();
    let report = vextrus_audit::checkpoint::verify_export(&cut, &keys);
    assert_eq!((report.ok, report.first_bad_seq), (false, Some(1)), "{report:?}");
    // Nor without the anchor's signature.
    let unsigned: String =
        export.lines().filter(|l| !l.contains("\"kind\":\"anchor\"")).map(|l| format!("{l}\n")).collect();
    let report = vextrus_audit::checkpoint::verify_export(&unsigned, &keys);
    assert!(!report.ok && report.problem.unwrap().contains("anchor"));
}

fn jwks_keys(jwks: &str) -> std::collections::HashMap<String, Vec<u8>> {
    let jwks: Value = serde_json::from_str(jwks).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let x = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, k["x"].as_str().unwrap());
            (k["kid"].as_str().unwrap().to_owned(), x.unwrap())
        })
        .collect()
}

#[tokio::test]
async fn owners_choose_the_retention_within_the_platform_bounds() {
    let app = TestApp::start().await;
    app.sign_up("ret-co", "owner@ret.example", "ret-owner").await;
    let owner = app.access_token("ret-owner", None).await;
    let current = app.ok_json_get(&owner, "/v1/audit/settings").await;
    assert_eq!(current["retention_months"], 12);
    assert_eq!(current["chosen_retention_months"], Value::Null);
    assert_eq!(
        (current["min_retention_months"].clone(), current["max_retention_months"].clone()),
        (json!(12), json!(120))
    );

    for months in [0, 6, 121] {
        let refused =
            app.as_user(&owner, Method::PUT, "/v1/audit/settings").json(&json!({"retention_months": months})).send();
        problem(refused.await.unwrap(), 422, "invalid_field").await;
    }
    let chosen = app.ok_json(&owner, Method::PUT, "/v1/audit/settings", json!({"retention_months": 36})).await;
    assert_eq!((chosen["retention_months"].clone(), chosen["chosen_retention_months"].clone()), (json!(36), json!(36)));
    let recorded = events(&app, &owner, "?action=audit.settings").await;
    assert_eq!(recorded["items"][0]["changes"], json!({"retention_months": {"before": 12, "after": 36}}));

    // An admin reads the trail but does not decide how long it is kept.
    app.join(&owner, "admin@ret.example", "ret-admin", &["admin"]).await;
    let admin = app.access_token("ret-admin", None).await;
    assert_eq!(app.ok_json_get(&admin, "/v1/audit/settings").await["retention_months"], 36);
    let refused = app.as_user(&admin, Method::PUT, "/v1/audit/settings").json(&json!({"retention_months": 12})).send();
    problem(refused.await.unwrap(), 403, "permission_denied").await;
}

#[tokio::test]
async fn checkpoints_sealed_by_a_retired_key_verify_with_the_audit_keys() {
    let app = TestApp::start().await;
    app.sign_up("rotate-co", "owner@rotate.example", "rotate-owner").await;
    app.access_token("rotate-owner", None).await;
    let keys = &app.auth.keys;
    vextrus_audit::checkpoint::seal_heads(&app.db.db, keys).await.unwrap();
    // A new key signs from now; the old one leaves the JWKS (as it does once its tokens expired).
    let mut tx = app.db.db.system().await.unwrap();
    let zero = chrono::Duration::zero();
    let new = vextrus_identity::keys::rotate(&mut tx, keys.master(), zero, zero, Actor::system()).await.unwrap();
    sqlx::query("UPDATE identity.signing_keys SET expires_at = now() - interval '1 hour' WHERE kid <> $1")
        .bind(&new.kid)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    keys.reload(&app.db.db).await.unwrap();
    let owner = app.access_token("rotate-owner", None).await;
    app.ok_json(&owner, Method::PATCH, "/v1/orgs/rotate-co", json!({"name": "Rotated"})).await;
    vextrus_audit::checkpoint::seal_heads(&app.db.db, keys).await.unwrap();

    let export = app.as_user(&owner, Method::GET, "/v1/audit/export").send().await.unwrap().text().await.unwrap();
    let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().text().await.unwrap();
    let every = app.client.get(app.url("/.well-known/audit-keys.json")).send().await.unwrap().text().await.unwrap();
    assert_eq!(jwks_keys(&jwks).len(), 1);
    assert_eq!(jwks_keys(&every).len(), 2);
    // The current JWKS checks the newest checkpoint and skips the retired key's…
    let report = vextrus_audit::checkpoint::verify_export(&export, &jwks_keys(&jwks));
    assert!(report.ok, "{report:?}");
    assert_eq!((report.checkpoints_checked, report.checkpoints_skipped), (1, 1));
    // …the audit keys check both.
    let report = vextrus_audit::checkpoint::verify_export(&export, &jwks_keys(&every));
    assert_eq!((report.ok, report.checkpoints_checked, report.checkpoints_skipped), (true, 2, 0), "{report:?}");
    assert_eq!(report.sealed_through_seq, Some(5), "create, sign-up, two sign-ins, the update");
}
