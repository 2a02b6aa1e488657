//! Moderation and maker rights (API.md, "Moderation and makers"): only an admin takes a
//! product down or lifts a takedown, its maker sees the note and cannot change it, the public
//! cannot see it; and every maker action needs the `makers` group in the token now.

use e2e::{TestContext, User, order_body};
use local::notifications::{self, SentEmail};
use serde_json::{Value, json};

async fn product_as(ctx: &TestContext, user: &User, id: &str) -> (u16, Value) {
    let response = ctx.get(&format!("/products/{id}")).auth(user).send().await;
    let body = if response.status == 200 { response.json() } else { Value::Null };
    (response.status, body)
}

async fn patch(ctx: &TestContext, user: &User, id: &str, body: Value) -> e2e::TestResponse {
    ctx.request("PATCH", &format!("/products/{id}")).auth(user).json(&body).send().await
}

/// The emails moto's SES sent to `user` (their address is unique to this test stack).
async fn mailbox(user: &User) -> Vec<SentEmail> {
    let all = notifications::sent_emails(&e2e::endpoint()).await.unwrap();
    all.into_iter().filter(|m| m.to.contains(&user.email)).collect()
}

#[tokio::test]
async fn the_maker_is_emailed_once_per_takedown_with_the_note_and_once_when_it_is_lifted() {
    let ctx = TestContext::new().await;
    notifications::verify_sender(&ctx.aws, shared::config::DEFAULT_MAIL_FROM).await.unwrap();
    let id =
        ctx.create_product(&ctx.maker, json!({"title": "Replica lantern"})).await["id"].as_str().unwrap().to_owned();
    // An edit that moderates nothing emails nobody.
    patch(&ctx, &ctx.admin, &id, json!({"price_cents": 4100})).await.expect(200);
    assert!(mailbox(&ctx.maker).await.is_empty());

    let note = "The photos are another maker’s work & not yours.";
    let takedown = json!({"status": "removed", "moderation_note": note});
    patch(&ctx, &ctx.admin, &id, takedown.clone()).await.expect(200);
    // The same takedown again (a retried request): the same answer, no second email.
    patch(&ctx, &ctx.admin, &id, takedown).await.expect(200);
    let inbox = mailbox(&ctx.maker).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert!(inbox[0].subject.contains("took down") && inbox[0].subject.contains("Replica lantern"), "{inbox:?}");
    let escaped = note.replace('&', "&#38;");
    assert!(inbox[0].body.contains(&escaped), "the note is in the email: {}", inbox[0].body);
    assert!(mailbox(&ctx.customer).await.is_empty() && mailbox(&ctx.admin).await.is_empty(), "only the maker");

    patch(&ctx, &ctx.admin, &id, json!({"status": "active"})).await.expect(200);
    let inbox = mailbox(&ctx.maker).await;
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    let lifted = inbox.iter().find(|m| m.subject.contains("no longer taken down")).expect("the lifting's email");
    assert!(lifted.body.contains("on sale again"), "{}", lifted.body);
}

#[tokio::test]
async fn archiving_a_removed_product_is_a_409_even_for_an_admin_and_changes_nothing() {
    let ctx = TestContext::new().await;
    let id = ctx.create_product(&ctx.maker, json!({"title": "Moderated jug"})).await["id"].as_str().unwrap().to_owned();
    let note = "Contains lead glaze.";
    patch(&ctx, &ctx.admin, &id, json!({"status": "removed", "moderation_note": note})).await.expect(200);
    let before = product_as(&ctx, &ctx.admin, &id).await.1;
    // Archiving would quietly lift the takedown: that is the desk's (or PATCH's) to do.
    let problem = ctx.request("DELETE", &format!("/products/{id}")).auth(&ctx.admin).send().await.problem(409);
    assert!(problem["detail"].as_str().unwrap().contains("lift the takedown"), "{problem}");
    assert_eq!(product_as(&ctx, &ctx.admin, &id).await.1, before, "nothing was written");
}

#[tokio::test]
async fn an_admin_takes_a_product_down_its_maker_cannot_undo_it_and_only_an_admin_lifts_it() {
    let ctx = TestContext::new().await;
    let created = ctx.create_product(&ctx.maker, json!({"title": "Counterfeit designer bowl"})).await;
    let id = created["id"].as_str().unwrap().to_owned();

    // A maker cannot take down, even their own product; an admin must say why.
    let refused = patch(&ctx, &ctx.maker, &id, json!({"status": "removed", "moderation_note": "self"})).await;
    refused.problem(403);
    patch(&ctx, &ctx.admin, &id, json!({"status": "removed"})).await.problem(400);
    let invalid = patch(&ctx, &ctx.admin, &id, json!({"status": "removed"})).await.invalid_fields();
    assert_eq!(invalid, ["moderation_note"]);
    assert_eq!(product_as(&ctx, &ctx.maker, &id).await.1["status"], "active", "refusals changed nothing");

    let note = "Sold as a branded design without the brand's licence.";
    let removed = patch(&ctx, &ctx.admin, &id, json!({"status": "removed", "moderation_note": note})).await;
    removed.expect(200);
    assert_eq!(
        (removed.json()["status"].clone(), removed.json()["moderation_note"].clone()),
        (json!("removed"), json!(note))
    );

    // Hidden from the public, from customers and from the catalogue; not for sale.
    assert_eq!(ctx.get(&format!("/products/{id}")).send().await.status, 404);
    assert_eq!(product_as(&ctx, &ctx.customer, &id).await.0, 404);
    assert!(ctx.list_all(&[], 100).await.iter().all(|p| p["id"] != id.as_str()));
    assert!(ctx.list_all(&[("maker_id", &ctx.maker.sub)], 100).await.iter().all(|p| p["id"] != id.as_str()));
    let order = ctx.place_order(&ctx.customer, &order_body(&[(&id, 1)])).await;
    assert_eq!(order.status, 400, "{}", order.text());
    assert_eq!(order.invalid_fields(), ["items[0].product_id"]);

    // Its maker sees it, with the note, in their own list of removed products...
    let (status, seen) = product_as(&ctx, &ctx.maker, &id).await;
    assert_eq!((status, seen["moderation_note"].as_str()), (200, Some(note)));
    let mine =
        ctx.get("/products").auth(&ctx.maker).query("maker_id", &ctx.maker.sub).query("status", "removed").send().await;
    mine.expect(200);
    assert_eq!(
        mine.json()["items"].as_array().map(|a| a.iter().map(|p| p["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(id)])
    );
    // ...and can change nothing of it: not the status, not a field, not archive it.
    for body in [json!({"status": "active"}), json!({"price_cents": 100}), json!({"status": "archived"})] {
        let response = patch(&ctx, &ctx.maker, &id, body.clone()).await;
        let problem = response.problem(403);
        assert!(problem["detail"].as_str().unwrap().contains("took this product down"), "{body}: {problem}");
    }
    ctx.request("DELETE", &format!("/products/{id}")).auth(&ctx.maker).send().await.problem(403);
    let after = product_as(&ctx, &ctx.maker, &id).await.1;
    assert_eq!(after["status"], "removed");
    assert_eq!(after["price_cents"], seen["price_cents"]);
    assert_eq!(after["updated_at"], seen["updated_at"], "nothing was written");

    // The admin lifts the takedown: the note goes, the product is public again.
    let lifted = patch(&ctx, &ctx.admin, &id, json!({"status": "active"})).await;
    lifted.expect(200);
    assert!(lifted.json().get("moderation_note").is_none(), "{}", lifted.text());
    assert_eq!(ctx.get(&format!("/products/{id}")).send().await.status, 200);
    // And its maker may edit it again.
    patch(&ctx, &ctx.maker, &id, json!({"price_cents": 2600})).await.expect(200);
}

#[tokio::test]
async fn a_maker_removed_from_the_makers_group_loses_every_maker_action_with_the_next_token() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    let old = ctx.create_product(&ctx.maker, json!({"title": "Old jug"})).await["id"].as_str().unwrap().to_owned();
    ctx.request("DELETE", &format!("/products/{old}")).auth(&ctx.maker).send().await.expect(204);
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let order_path = format!("/orders/{}", order["id"].as_str().unwrap());
    // With the group: all of it works.
    ctx.get(&order_path).auth(&ctx.maker).send().await.expect(200);
    ctx.get("/maker/orders").auth(&ctx.maker).send().await.expect(200);
    assert_eq!(product_as(&ctx, &ctx.maker, &old).await.0, 200);

    let former = ctx.removed_from_makers(&ctx.maker).await;
    assert_ne!(former.tokens.access, ctx.maker.tokens.access);
    ctx.request("POST", "/products").auth(&former).json(&e2e::product_body(json!({}))).send().await.problem(403);
    patch(&ctx, &former, &mug, json!({"price_cents": 1})).await.problem(403);
    ctx.request("DELETE", &format!("/products/{mug}")).auth(&former).send().await.problem(403);
    ctx.get("/maker/orders").auth(&former).send().await.problem(403);
    // A maker's view of an order, and of their own archived product, are gone too.
    ctx.get(&order_path).auth(&former).send().await.problem(404);
    assert_eq!(product_as(&ctx, &former, &old).await.0, 404);
    let archived =
        ctx.get("/products").auth(&former).query("maker_id", &former.sub).query("status", "archived").send().await;
    archived.problem(403);
    // Nothing changed; the public still sees the product as it was.
    let public = ctx.get(&format!("/products/{mug}")).send().await;
    public.expect(200);
    assert_eq!((public.json()["status"].clone(), public.json()["price_cents"].clone()), (json!("active"), json!(2400)));
    // Still a customer: their own account works.
    ctx.get("/me").auth(&former).send().await.expect(200);
}
