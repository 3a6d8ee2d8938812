//! Members and invitations over HTTP: invite by mail, accept once (creating the account when
//! needed), list, change roles, remove; the owner rules.

mod common;

use common::{PASSWORD, TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn invite(app: &TestApp, token: &str, email: &str, roles: &[&str]) -> reqwest::Response {
    app.as_user(token, Method::POST, "/v1/invitations")
        .json(&json!({"email": email, "roles": roles}))
        .send()
        .await
        .unwrap()
}

async fn accept(app: &TestApp, body: Value) -> reqwest::Response {
    app.client.post(app.url("/v1/invitations/accept")).json(&body).send().await.unwrap()
}

fn new_account(username: &str) -> Value {
    json!({"username": username, "password": PASSWORD, "name": "Karim Mia"})
}

#[tokio::test]
async fn invitation_creates_the_account_and_the_membership_once() {
    let app = TestApp::start().await;
    let org = app.sign_up("invite-co", "owner@invite.example", "invite-owner").await;
    let owner = app.access_token("invite-owner", None).await;

    let response = invite(&app, &owner, "Karim@Invite.Example", &["member"]).await;
    assert_eq!(response.status(), 201);
    let invitation: Value = response.json().await.unwrap();
    assert_eq!(invitation["email"], "karim@invite.example");
    assert_eq!(invitation["status"], "pending");
    assert!(!invitation.to_string().contains("token"), "the token goes only into the mail");
    let mail = app.mail_with("karim@invite.example", "identity.invitation").await;
    // The organization's name is its own words: quoted in the body, never in our subject.
    assert!(!mail["subject"].as_str().unwrap().contains("Org invite-co"));
    assert!(mail["body"].as_str().unwrap().contains("\"Org invite-co\""), "{mail}");
    assert!(mail["body"].as_str().unwrap().contains("(@invite-co)"), "{mail}");
    let code = common::code_in(mail["body"].as_str().unwrap());

    // No account yet: the details are required.
    let missing = accept(&app, json!({"token": code})).await;
    assert_eq!(problem(missing, 422, "invalid_field").await["errors"][0]["field"], "user");
    let weak =
        accept(&app, json!({"token": code, "user": {"username": "karim", "password": "password", "name": "K"}})).await;
    assert_eq!(problem(weak, 422, "invalid_field").await["errors"][0]["field"], "user.password");

    let accepted = accept(&app, json!({"token": code, "user": new_account("karim")})).await;
    assert_eq!(accepted.status(), 200);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted["organization_id"], org["organization"]["id"]);
    assert_eq!(accepted["roles"], json!(["member"]));
    assert_eq!(accepted["account_created"], true);

    // Single use.
    problem(accept(&app, json!({"token": code, "user": new_account("karim2")})).await, 404, "invitation_invalid").await;
    // A forged or mangled code is the same answer.
    let mut forged = code.clone();
    forged.pop();
    forged.push('A');
    problem(accept(&app, json!({"token": forged})).await, 404, "invitation_invalid").await;
    problem(accept(&app, json!({"token": "nonsense"})).await, 404, "invitation_invalid").await;

    // The new member signs in; the address counts as verified (the code proved it).
    let karim = app.access_token("karim", None).await;
    let me: Value = app.as_user(&karim, Method::GET, "/v1/me").send().await.unwrap().json().await.unwrap();
    assert!(me["user"]["email_verified_at"].is_string());
    assert_eq!(me["memberships"][0]["roles"], json!(["member"]));
    let listed: Value = app.as_user(&owner, Method::GET, "/v1/invitations").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["items"][0]["status"], "accepted");
    assert_eq!(listed["items"][0]["accepted_by"], accepted["user_id"]);

    // Already a member: 409. A member may not invite.
    problem(invite(&app, &owner, "karim@invite.example", &["viewer"]).await, 409, "already_member").await;
    problem(invite(&app, &karim, "x@invite.example", &["viewer"]).await, 403, "permission_denied").await;
}

#[tokio::test]
async fn revoked_expired_and_replaced_invitations_do_not_work() {
    let app = TestApp::start().await;
    app.sign_up("revoke-co", "owner@revoke.example", "revoke-owner").await;
    let owner = app.access_token("revoke-owner", None).await;

    // Revoked.
    let first: Value = invite(&app, &owner, "a@revoke.example", &["viewer"]).await.json().await.unwrap();
    let code = app.invitation_code("a@revoke.example").await;
    let id = first["id"].as_str().unwrap();
    let revoked = app.as_user(&owner, Method::DELETE, &format!("/v1/invitations/{id}")).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.json::<Value>().await.unwrap()["status"], "revoked");
    let again = app.as_user(&owner, Method::DELETE, &format!("/v1/invitations/{id}")).send().await.unwrap();
    problem(again, 409, "invitation_not_pending").await;
    problem(accept(&app, json!({"token": code, "user": new_account("arev")})).await, 404, "invitation_invalid").await;

    // Replaced by a second invitation to the same address: the first code dies.
    invite(&app, &owner, "b@revoke.example", &["viewer"]).await;
    let old = app.invitation_code("b@revoke.example").await;
    invite(&app, &owner, "b@revoke.example", &["member"]).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let new = loop {
        let code = app.invitation_code("b@revoke.example").await;
        if code != old {
            break code;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    problem(accept(&app, json!({"token": old, "user": new_account("bold")})).await, 404, "invitation_invalid").await;
    let accepted: Value = accept(&app, json!({"token": new, "user": new_account("bnew")})).await.json().await.unwrap();
    assert_eq!(accepted["roles"], json!(["member"]));

    // Expired (seven days are up).
    invite(&app, &owner, "c@revoke.example", &["viewer"]).await;
    let code = app.invitation_code("c@revoke.example").await;
    sqlx::query(
        "UPDATE identity.invitations SET expires_at = now() - interval '1 second' WHERE email = 'c@revoke.example'",
    )
    .execute(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    problem(accept(&app, json!({"token": code, "user": new_account("cexp")})).await, 404, "invitation_invalid").await;
    let listed: Value = app.as_user(&owner, Method::GET, "/v1/invitations").send().await.unwrap().json().await.unwrap();
    let c = listed["items"].as_array().unwrap().iter().find(|i| i["email"] == "c@revoke.example").unwrap();
    assert_eq!(c["status"], "expired");
}

#[tokio::test]
async fn owners_rule_owners_and_the_last_owner_stays() {
    let app = TestApp::start().await;
    let org = app.sign_up("owner-co", "owner@owner.example", "first-owner").await;
    let first_id = org["user"]["id"].as_str().unwrap().to_owned();
    let owner = app.access_token("first-owner", None).await;
    let admin_id =
        app.join(&owner, "admin@owner.example", "the-admin", &["admin"]).await["user_id"].as_str().unwrap().to_owned();
    let admin = app.access_token("the-admin", None).await;
    let member_id =
        app.join(&owner, "m@owner.example", "the-member", &["member"]).await["user_id"].as_str().unwrap().to_owned();

    // The last owner can neither be demoted nor removed, not even by themself.
    let demote = |token: &str, user: &str, roles: Value| {
        app.as_user(token, Method::PUT, &format!("/v1/members/{user}/roles")).json(&json!({"roles": roles})).send()
    };
    problem(demote(&owner, &first_id, json!(["admin"])).await.unwrap(), 409, "last_owner").await;
    let remove = |token: &str, user: &str| app.as_user(token, Method::DELETE, &format!("/v1/members/{user}")).send();
    problem(remove(&owner, &first_id).await.unwrap(), 409, "last_owner").await;

    // Admins manage members but not owners: they cannot make owners, demote or remove one.
    problem(demote(&admin, &member_id, json!(["owner"])).await.unwrap(), 403, "owner_only").await;
    problem(demote(&admin, &first_id, json!(["admin"])).await.unwrap(), 403, "owner_only").await;
    problem(remove(&admin, &first_id).await.unwrap(), 403, "owner_only").await;
    problem(invite(&app, &admin, "o@owner.example", &["owner"]).await, 403, "owner_only").await;
    let changed = demote(&admin, &member_id, json!(["viewer", "member"])).await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.json::<Value>().await.unwrap()["roles"], json!(["member", "viewer"]));
    problem(demote(&admin, &member_id, json!([])).await.unwrap(), 422, "invalid_field").await;
    problem(demote(&admin, &member_id, json!(["no-such-role"])).await.unwrap(), 422, "invalid_field").await;

    // An owner makes the admin an owner; now the first owner may step down.
    assert_eq!(demote(&owner, &admin_id, json!(["owner"])).await.unwrap().status(), 200);
    assert_eq!(demote(&owner, &first_id, json!(["admin"])).await.unwrap().status(), 200);
    let new_owner = app.access_token("the-admin", None).await;
    problem(remove(&new_owner, &admin_id).await.unwrap(), 409, "last_owner").await;

    // Removing a member: gone from the list, their next sign-in into the org fails.
    assert_eq!(remove(&new_owner, &member_id).await.unwrap().status(), 204);
    problem(remove(&new_owner, &member_id).await.unwrap(), 404, "member_not_found").await;
    let page: Value = app.as_user(&new_owner, Method::GET, "/v1/members").send().await.unwrap().json().await.unwrap();
    let usernames: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    assert_eq!(usernames.len(), 2);
    assert!(!usernames.contains(&"the-member"));
    let (status, body) =
        app.token(&[("grant_type", "password"), ("username", "the-member"), ("password", PASSWORD)]).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
}

#[tokio::test]
async fn concurrent_demotions_cannot_remove_every_owner() {
    let app = TestApp::start().await;
    let org = app.sign_up("race-co", "one@race.example", "owner-one").await;
    let one_id = org["user"]["id"].as_str().unwrap().to_owned();
    let one = app.access_token("owner-one", None).await;
    let two_id =
        app.join(&one, "two@race.example", "owner-two", &["owner"]).await["user_id"].as_str().unwrap().to_owned();
    let two = app.access_token("owner-two", None).await;
    // Each owner demotes the other at the same moment: one of them must fail.
    let demote = |token: String, user: String| {
        let app = &app;
        async move {
            app.as_user(&token, Method::PUT, &format!("/v1/members/{user}/roles"))
                .json(&json!({"roles": ["admin"]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (a, b) = tokio::join!(demote(one.clone(), two_id.clone()), demote(two.clone(), one_id.clone()));
    let mut statuses = [a, b];
    statuses.sort();
    // The loser is refused either as the last owner (both read each other as owners) or, when
    // its own demotion committed first, as no longer an owner (its token is held to its roles now).
    assert!(statuses == [200, 409] || statuses == [200, 403], "{statuses:?}");
    let owners: i64 = sqlx::query_scalar("SELECT count(*) FROM access.assignments WHERE role = 'owner'")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(owners, 1);
}
