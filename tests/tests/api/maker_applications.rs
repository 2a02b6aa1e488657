//! Becoming a maker (API.md, "Moderation and makers"): a signed-in customer applies, once at
//! a time; admins list, approve (the `makers` group in moto's Cognito, the shop profile, one
//! email) or reject with a note (one email); decisions are final and idempotent.

use e2e::{TestContext, TestResponse, User};
use local::notifications::{self, SentEmail};
use serde_json::{Value, json};
use shared::domain::UserId;

const SENDER: &str = shared::config::DEFAULT_MAIL_FROM;

fn application() -> Value {
    json!({"shop_name": "Barro Vivo", "bio": "Wheel-thrown stoneware.\nFired in Porto.", "location": "Porto, Portugal"})
}

/// A test stack whose sender is a verified SES identity on moto, so decisions are emailed.
async fn stack() -> TestContext {
    let ctx = TestContext::new().await;
    notifications::verify_sender(&ctx.aws, SENDER).await.unwrap();
    ctx
}

async fn apply(ctx: &TestContext, user: &User, body: &Value) -> TestResponse {
    ctx.request("POST", "/maker-applications").auth(user).json(body).send().await
}

/// Applies as `user` (must succeed) and returns the application's id.
async fn applied(ctx: &TestContext, user: &User) -> String {
    let response = apply(ctx, user, &application()).await;
    response.expect(201);
    response.json()["id"].as_str().unwrap().to_owned()
}

async fn approve(ctx: &TestContext, user: &User, id: &str) -> TestResponse {
    ctx.request("POST", &format!("/maker-applications/{id}/approve")).auth(user).send().await
}

async fn reject(ctx: &TestContext, user: &User, id: &str, note: &str) -> TestResponse {
    ctx.request("POST", &format!("/maker-applications/{id}/reject"))
        .auth(user)
        .json(&json!({"note": note}))
        .send()
        .await
}

async fn mine(ctx: &TestContext, user: &User) -> TestResponse {
    ctx.get("/maker-applications/mine").auth(user).send().await
}

/// `user`'s groups in moto's Cognito.
async fn groups(ctx: &TestContext, user: &User) -> Vec<String> {
    let out = aws_sdk_cognitoidentityprovider::Client::new(&ctx.aws)
        .admin_list_groups_for_user()
        .user_pool_id(&ctx.pool.user_pool_id)
        .username(&user.username)
        .send()
        .await
        .unwrap();
    out.groups.unwrap_or_default().into_iter().filter_map(|g| g.group_name).collect()
}

/// `user` signed in again: the token Cognito gives at the next renewal.
async fn renewed(ctx: &TestContext, user: &User) -> User {
    let tokens = local::cognito::sign_in(&ctx.aws, &ctx.pool.client_id, &user.email, local::provision::DEMO_PASSWORD)
        .await
        .unwrap();
    User { tokens, ..user.clone() }
}

/// The emails moto's SES sent to `user` (their address is unique to this test stack).
async fn mailbox(user: &User) -> Vec<SentEmail> {
    let all = notifications::sent_emails(&e2e::endpoint()).await.unwrap();
    all.into_iter().filter(|m| m.to.contains(&user.email)).collect()
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_contract_says() {
    let ctx = stack().await;
    let id = applied(&ctx, &ctx.customer).await;
    let other = applied(&ctx, &ctx.other_customer).await;
    let paths = [
        ("POST", "/maker-applications".to_owned()),
        ("GET", "/maker-applications".to_owned()),
        ("GET", "/maker-applications/mine".to_owned()),
        ("POST", format!("/maker-applications/{id}/approve")),
        ("POST", format!("/maker-applications/{id}/reject")),
    ];
    for (method, path) in &paths {
        let response = ctx.request(method, path).json(&json!({"note": "x"})).send().await;
        response.problem(401);
        assert_eq!(response.header("www-authenticate"), Some("Bearer"), "{method} {path}");
    }
    // Customers and makers may not list or decide.
    for user in [&ctx.customer, &ctx.maker] {
        ctx.get("/maker-applications").auth(user).send().await.problem(403);
        approve(&ctx, user, &id).await.problem(403);
        reject(&ctx, user, &id, "no").await.problem(403);
    }
    assert_eq!(mine(&ctx, &ctx.customer).await.json()["status"], "pending", "the refusals changed nothing");
    // A maker has a shop already, and never applied.
    apply(&ctx, &ctx.maker, &application()).await.problem(403);
    mine(&ctx, &ctx.maker).await.problem(404);
    mine(&ctx, &ctx.admin).await.problem(404);
    // The applicant sees their own application only.
    let own = mine(&ctx, &ctx.customer).await;
    own.expect(200);
    assert_eq!(own.json()["id"], id.as_str());
    assert!(own.json().get("username").is_none(), "{}", own.text());
    // Admins list and decide.
    let listed = ctx.get("/maker-applications").auth(&ctx.admin).query("status", "pending").send().await;
    listed.expect(200);
    let ids: Vec<Value> = listed.json()["items"].as_array().unwrap().iter().map(|a| a["id"].clone()).collect();
    assert_eq!(ids, [json!(id), json!(other)], "oldest first");
    assert_eq!(approve(&ctx, &ctx.admin, &id).await.expect(200).json()["status"], "approved");
    assert_eq!(reject(&ctx, &ctx.admin, &other, "Not handmade.").await.expect(200).json()["status"], "rejected");
    // Unknown and malformed ids, and paths the route table does not serve.
    approve(&ctx, &ctx.admin, "app_01JBZ8Q1W4K3M2N5P6R7S8T9V0").await.problem(404);
    approve(&ctx, &ctx.admin, "nope").await.problem(404);
    let response = ctx.request("PUT", "/maker-applications/mine").auth(&ctx.customer).send().await;
    response.problem(405);
    assert_eq!(response.header("allow"), Some("GET"));
    let response = ctx.request("DELETE", "/maker-applications").send().await;
    assert_eq!((response.status, response.header("allow")), (405, Some("GET, POST")));
}

#[tokio::test]
async fn an_application_names_every_invalid_field_and_stores_nothing() {
    let ctx = TestContext::new().await;
    let user = &ctx.customer;
    let send = |body: &str| ctx.request("POST", "/maker-applications").auth(user).raw_body("application/json", body);
    let problem = send("{\"shop_name\": ").send().await.problem(400);
    assert!(problem.get("errors").is_none(), "{problem}");
    let cases: [(Value, &[&str]); 7] = [
        (json!({"shop_name": 5, "bio": "b", "location": "l"}), &["shop_name"]),
        (json!({"bio": "b", "location": "l"}), &["shop_name"]),
        (json!({"shop_name": "s", "bio": "b", "location": "l", "is_maker": true}), &["is_maker"]),
        (
            json!({"shop_name": "Barro\u{202E}Vivo", "bio": "zero\u{200B}width", "location": "Porto"}),
            &["shop_name", "bio"],
        ),
        (
            json!({"shop_name": "x".repeat(81), "bio": "x".repeat(2001), "location": "x".repeat(101)}),
            &["shop_name", "bio", "location"],
        ),
        (json!({"shop_name": " ", "bio": "b", "location": "Porto\nLisboa"}), &["shop_name", "location"]),
        (json!({"shop_name": null, "bio": "b", "location": "l"}), &["shop_name"]),
    ];
    for (body, fields) in cases {
        let response = send(&body.to_string()).send().await;
        assert_eq!(response.invalid_fields(), fields, "{body}");
    }
    let huge = json!({"shop_name": "s", "bio": "x".repeat(300 * 1024), "location": "l"});
    send(&huge.to_string()).send().await.problem(413);
    ctx.request("POST", "/maker-applications").auth(user).raw_body("text/plain", "shop").send().await.problem(415);
    send("[]").send().await.problem(400);
    mine(&ctx, user).await.problem(404);

    // A rejection needs a note of 1 to 1000 characters.
    let id = applied(&ctx, user).await;
    let path = format!("/maker-applications/{id}/reject");
    let reject_with = |body: Value| ctx.request("POST", &path).auth(&ctx.admin).json(&body);
    for body in [
        json!({}),
        json!({"note": ""}),
        json!({"note": "x".repeat(1001)}),
        json!({"note": 3}),
        json!({"note": "a\u{2066}b"}),
    ] {
        assert_eq!(reject_with(body.clone()).send().await.invalid_fields(), ["note"], "{body}");
    }
    ctx.request("POST", &path).auth(&ctx.admin).send().await.problem(415);
    assert_eq!(mine(&ctx, user).await.json()["status"], "pending");
}

#[tokio::test]
async fn one_open_application_per_user_even_when_many_are_sent_at_once() {
    let ctx = TestContext::new().await;
    let first = apply(&ctx, &ctx.customer, &application()).await;
    first.expect(201);
    assert_eq!(first.header("location"), Some("/maker-applications/mine"));
    let body = first.json();
    assert!(body["id"].as_str().unwrap().starts_with("app_"), "{body}");
    assert_eq!((body["status"].clone(), body["bio"].clone()), (json!("pending"), application()["bio"].clone()));
    let second = apply(&ctx, &ctx.customer, &json!({"shop_name": "Other", "bio": "b", "location": "l"})).await;
    let problem = second.problem(409);
    assert!(problem["detail"].as_str().unwrap().contains("waiting for a decision"), "{problem}");
    assert_eq!(mine(&ctx, &ctx.customer).await.json()["id"], body["id"]);

    // Eight at once from one new user: exactly one is taken.
    let rusher = ctx.customers(1).await.remove(0);
    let body = application();
    let answers = futures::future::join_all((0..8).map(|_| apply(&ctx, &rusher, &body))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");
    let winner = answers.iter().find(|r| r.status == 201).unwrap().json()["id"].clone();
    assert_eq!(mine(&ctx, &rusher).await.json()["id"], winner);
    let listed = ctx.get("/maker-applications").auth(&ctx.admin).send().await;
    assert_eq!(listed.json()["items"].as_array().map(Vec::len), Some(2), "{}", listed.text());
}

#[tokio::test]
async fn approval_makes_the_applicant_a_maker_with_a_shop_and_emails_them_once() {
    let ctx = stack().await;
    let user = &ctx.customer;
    let id = applied(&ctx, user).await;
    assert!(groups(&ctx, user).await.is_empty());
    let before = renewed(&ctx, user).await;
    ctx.request("POST", "/products").auth(&before).json(&e2e::product_body(json!({}))).send().await.problem(403);

    let approved = approve(&ctx, &ctx.admin, &id).await;
    approved.expect(200);
    let body = approved.json();
    assert_eq!((body["status"].clone(), body["note"].clone()), (json!("approved"), Value::Null));
    assert_eq!(body["decided_by"], ctx.admin.sub.as_str());
    assert!(body["decided_at"].is_string(), "{body}");
    assert_eq!(groups(&ctx, user).await, ["makers"]);

    // The shop is public with the application's name, bio and location.
    let shop = ctx.get(&format!("/makers/{}", user.sub)).send().await;
    shop.expect(200);
    let shop = shop.json();
    assert_eq!(
        (shop["display_name"].clone(), shop["bio"].clone(), shop["location"].clone()),
        (json!("Barro Vivo"), application()["bio"].clone(), json!("Porto, Portugal"))
    );
    // The token they hold still says customer; the next one says maker, and sells.
    ctx.request("POST", "/products").auth(user).json(&e2e::product_body(json!({}))).send().await.problem(403);
    let maker = renewed(&ctx, user).await;
    let product = ctx.create_product(&maker, json!({"title": "First bowl"})).await;
    assert_eq!(product["maker_id"], user.sub.as_str());

    // Approving again: the same answer, no second email.
    let again = approve(&ctx, &ctx.admin, &id).await;
    again.expect(200);
    assert_eq!(again.json(), body);
    let inbox = mailbox(user).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert!(inbox[0].subject.contains("Barro Vivo"), "{}", inbox[0].subject);
    assert_eq!(mine(&ctx, user).await.json(), body);
    // It left the pending queue for the approved list; a rejection now is refused.
    let pending = ctx.get("/maker-applications").auth(&ctx.admin).send().await.json();
    assert_eq!(pending["items"], json!([]));
    let approved_list = ctx.get("/maker-applications").auth(&ctx.admin).query("status", "approved").send().await;
    assert_eq!(approved_list.json()["items"][0]["id"], id.as_str());
    reject(&ctx, &ctx.admin, &id, "Too late").await.problem(409);
    assert_eq!(mine(&ctx, user).await.json()["status"], "approved");
    assert_eq!(mailbox(user).await.len(), 1);
}

#[tokio::test]
async fn a_rejection_emails_the_note_once_and_is_final() {
    let ctx = stack().await;
    let user = &ctx.customer;
    let id = applied(&ctx, user).await;
    let note = "Please show photos of your own work.\nThe links in your bio point to another shop.";
    let rejected = reject(&ctx, &ctx.admin, &id, note).await;
    rejected.expect(200);
    let body = rejected.json();
    assert_eq!((body["status"].clone(), body["note"].clone()), (json!("rejected"), json!(note)));
    // Again, even with other words: the first decision stands, no second email.
    let again = reject(&ctx, &ctx.admin, &id, "Another note").await;
    assert_eq!(again.expect(200).json(), body);
    let inbox = mailbox(user).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert!(inbox[0].body.contains("Please show photos of your own work."), "{}", inbox[0].body);
    // Final: no approval, no group, no shop.
    approve(&ctx, &ctx.admin, &id).await.problem(409);
    assert!(groups(&ctx, user).await.is_empty());
    ctx.get(&format!("/makers/{}", user.sub)).send().await.problem(404);
    assert_eq!(mine(&ctx, user).await.json()["status"], "rejected");
    // The applicant may try again: a new pending application.
    let retry = applied(&ctx, user).await;
    assert_ne!(retry, id);
    assert_eq!(mine(&ctx, user).await.json()["status"], "pending");
    assert_eq!(mailbox(user).await.len(), 1);
}

#[tokio::test]
async fn the_admin_list_pages_oldest_first_and_refuses_foreign_or_tampered_cursors() {
    let ctx = TestContext::new().await;
    let applicants = ctx.customers(3).await;
    let mut ids = Vec::new();
    for user in &applicants {
        ids.push(applied(&ctx, user).await);
    }
    let list =
        |status: &str| ctx.get("/maker-applications").auth(&ctx.admin).query("status", status).query("limit", "2");
    let first = list("pending").send().await;
    first.expect(200);
    let first = first.json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = list("pending").query("cursor", &cursor).send().await.json();
    assert_eq!(second["next_cursor"], Value::Null);
    let seen: Vec<Value> =
        [&first, &second].iter().flat_map(|p| p["items"].as_array().unwrap().iter().map(|a| a["id"].clone())).collect();
    assert_eq!(seen, ids.iter().map(|i| json!(i)).collect::<Vec<_>>());

    let mut tampered = cursor.clone();
    tampered.insert(3, if tampered.as_bytes()[3] == b'A' { 'B' } else { 'A' });
    for bad in [tampered.as_str(), "garbage", &format!("{cursor}x")] {
        assert_eq!(list("pending").query("cursor", bad).send().await.invalid_fields(), ["cursor"], "{bad}");
    }
    // A cursor of the pending list does not open the approved one.
    assert_eq!(list("approved").query("cursor", &cursor).send().await.invalid_fields(), ["cursor"]);
    assert_eq!(list("open").send().await.invalid_fields(), ["status"]);
    let limit = ctx.get("/maker-applications").auth(&ctx.admin).query("limit", "0").send().await;
    assert_eq!(limit.invalid_fields(), ["limit"]);
}

#[tokio::test]
async fn with_cognito_down_approval_is_a_503_and_the_application_stays_pending() {
    let ctx = stack().await;
    let user = &ctx.customer;
    let id = applied(&ctx, user).await;
    // The functions' Cognito (and every AWS service but DynamoDB) at a port nobody answers.
    let cut_off =
        local::provision::sdk_config_with_dynamodb("http://127.0.0.1:9", &e2e::dynamodb_endpoint(), e2e::REGION).await;
    let mut app = shared::App::new(ctx.app.config.clone(), &cut_off, ctx.clock.clone());
    app.store = ctx.app.store.clone();
    let request = ctx.request("POST", &format!("/maker-applications/{id}/approve")).auth(&ctx.admin);
    let down = ctx.send_event_to(&app, request.event()).await;
    let problem = down.problem(503);
    assert!(!down.text().contains("127.0.0.1"), "{problem}");
    // Nothing happened: still pending, no group, no shop, no email.
    assert_eq!(mine(&ctx, user).await.json()["status"], "pending");
    assert!(groups(&ctx, user).await.is_empty());
    let profile = ctx.app.store.contact(&UserId::new(user.sub.clone())).await.unwrap();
    assert_eq!(profile.display_name, None, "no shop profile was written");
    assert!(mailbox(user).await.is_empty());
    // Once Cognito is back, the same request completes the approval.
    approve(&ctx, &ctx.admin, &id).await.expect(200);
    assert_eq!(groups(&ctx, user).await, ["makers"]);
    assert_eq!(mailbox(user).await.len(), 1);
}
