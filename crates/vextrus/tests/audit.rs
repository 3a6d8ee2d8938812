//! The audit trail: recorded with the change (or not at all), gap-free per tenant under
//! concurrency, searchable over HTTP, and any tampering is found by `verify`.

mod common;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};
use vextrus_audit::{Actor, NewEvent, Target};
use vextrus_db::TenantId;

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
    let tamper = |sql: &'static str| {
        let url = app.db.owner_url();
        async move {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
            let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
            sqlx::query("SET LOCAL vextrus.audit_retention = 'on'").execute(&mut *tx).await.unwrap();
            sqlx::query(sql).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    tamper("UPDATE audit.events SET changes = '{\"name\": {\"before\": \"x\", \"after\": \"y\"}}' WHERE seq = 3").await;
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
    let run = |sql: String| {
        let url = app.db.owner_url();
        async move {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
            let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
            sqlx::query("SET LOCAL vextrus.audit_retention = 'on'").execute(&mut *tx).await.unwrap();
            sqlx::query(&sql).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    // Swap two events' places in the sequence.
    run("UPDATE audit.events SET seq = CASE seq WHEN 4 THEN 5 ELSE 4 END WHERE seq IN (4, 5)".into()).await;
    let report = app.ok_json_get(&owner, "/v1/audit/verify").await;
    assert_eq!(report["first_bad_seq"], 4, "{report}");
    run("UPDATE audit.events SET seq = CASE seq WHEN 4 THEN 5 ELSE 4 END WHERE seq IN (4, 5)".into()).await;
    assert_eq!(app.ok_json_get(&owner, "/v1/audit/verify").await["ok"], true);
    // Delete one in the middle, then the last one.
    run("DELETE FROM audit.events WHERE seq = 6".into()).await;
    assert_eq!(app.ok_json_get(&owner, "/v1/audit/verify").await["first_bad_seq"], 6);
    run("DELETE FROM audit.events WHERE seq = 5".into()).await;
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
    assert_eq!(vextrus_audit::chain::first_bad(&events, &vextrus_audit::chain::GENESIS, 0), None);
    let mut edited = events.clone();
    edited[10].changes = json!({"name": {"before": "forged", "after": "forged"}});
    assert_eq!(vextrus_audit::chain::first_bad(&edited, &vextrus_audit::chain::GENESIS, 0), Some(11));

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
    let sealed = vextrus_identity::checkpoints::seal(&app.db.db, &app.auth.keys).await.unwrap();
    assert!(sealed >= 1);
    assert_eq!(vextrus_identity::checkpoints::seal(&app.db.db, &app.auth.keys).await.unwrap(), 0, "nothing new");

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
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("unknown key"));
}
