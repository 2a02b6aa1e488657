//! The makers' studio and the admins' desk through their page handlers, against DynamoDB
//! Local, moto's Cognito and localstripe: who may open which page (from the groups of the
//! session's token now), product forms with their field errors and stale-tab refusals,
//! archive and restore, takedowns a maker cannot undo, a maker's orders with only their
//! lines and a packing slip, and an admin's order search and cancel with refund.

use e2e::browser::{Browser, text_of};
use e2e::{TestContext, User};
use local::provision::DEMO_PASSWORD;
use serde_json::json;

async fn signed_in<'c>(ctx: &'c TestContext, user: &User) -> Browser<'c> {
    let mut browser = Browser::new(ctx);
    browser
        .submit("/sign-in", "/sign-in", &[("email", &user.email), ("password", DEMO_PASSWORD), ("next", "/")])
        .await
        .redirects_to("/");
    browser
}

const STUDIO_PAGES: [&str; 5] =
    ["/studio", "/studio?status=removed", "/studio/products/new", "/studio/shop", "/studio/orders"];
const DESK_PAGES: [&str; 4] = ["/desk", "/desk/products", "/desk/products?q=mug", "/desk/orders"];

#[tokio::test]
async fn studio_pages_are_for_makers_and_desk_pages_for_admins_only() {
    let ctx = TestContext::new().await;
    let product = ctx.create_product(&ctx.maker, json!({})).await["id"].as_str().unwrap().to_owned();
    let order = ctx.order(&ctx.customer, &[(&product, 1)]).await["id"].as_str().unwrap().to_owned();
    let studio: Vec<String> = STUDIO_PAGES
        .iter()
        .map(|p| p.to_string())
        .chain([format!("/studio/products/{product}"), format!("/studio/orders/{order}")])
        .collect();
    let desk: Vec<String> = DESK_PAGES
        .iter()
        .map(|p| p.to_string())
        .chain([format!("/desk/products/{product}"), format!("/desk/orders/{order}")])
        .collect();

    // Nobody signed in: to sign-in, and back.
    let mut visitor = Browser::new(&ctx);
    for path in studio.iter().chain(&desk) {
        let response = visitor.get(path).await;
        assert_eq!(response.status, 303, "{path}");
        assert!(response.header("location").unwrap().starts_with("/sign-in?next="), "{path}");
    }
    let mut customer = signed_in(&ctx, &ctx.customer).await;
    let mut maker = signed_in(&ctx, &ctx.maker).await;
    let mut admin = signed_in(&ctx, &ctx.admin).await;
    for path in &studio {
        assert!(text_of(&customer.get(path).await.page(403)).contains("The studio is for makers"), "{path}");
        assert!(text_of(&admin.get(path).await.page(403)).contains("The studio is for makers"), "{path}");
        maker.get(path).await.page(200);
    }
    for path in &desk {
        assert!(text_of(&customer.get(path).await.page(403)).contains("admins only"), "{path}");
        maker.get(path).await.page(403);
        admin.get(path).await.page(200);
    }
    // The header shows each the way to their own desk only.
    let home = |html: String| text_of(&html);
    let (c, m, a) = (
        home(customer.get("/").await.page(200)),
        home(maker.get("/").await.page(200)),
        home(admin.get("/").await.page(200)),
    );
    assert!(!c.contains("Studio") && !c.contains("Desk"), "{c}");
    assert!(m.contains("Studio") && !m.contains("Desk"), "{m}");
    assert!(a.contains("Desk") && !a.contains("Studio"), "{a}");

    // Forms too: a customer's post, with a good form token from their own visit, is a 403
    // and changes nothing.
    let before = ctx.get(&format!("/products/{product}")).send().await.json();
    let fields: [(&str, &str); 2] = [("action", "archive"), ("version", "1")];
    customer.submit("/", &format!("/studio/products/{product}"), &fields).await.page(403);
    customer
        .submit("/", &format!("/desk/products/{product}"), &[("action", "remove"), ("moderation_note", "x")])
        .await
        .page(403);
    maker
        .submit("/", &format!("/desk/products/{product}"), &[("action", "remove"), ("moderation_note", "x")])
        .await
        .page(403);
    customer.submit("/", &format!("/desk/orders/{order}"), &[("action", "cancel")]).await.page(403);
    maker.submit("/", &format!("/desk/orders/{order}"), &[("action", "cancel")]).await.page(403);
    customer
        .submit("/", "/studio/products/new", &[("title", "Sneaky"), ("price", "1"), ("stock", "1"), ("category", "x")])
        .await
        .page(403);
    customer.submit("/", "/studio/shop", &[("display_name", "Not a shop")]).await.page(403);
    assert_eq!(ctx.get(&format!("/products/{product}")).send().await.json(), before);
    assert_eq!(ctx.fetch_order(&ctx.customer, &json!({"id": order})).await["status"], "pending_payment");
}

#[tokio::test]
async fn a_maker_lists_a_product_from_the_studio_with_each_refusal_next_to_its_field() {
    let ctx = TestContext::new().await;
    let mut maker = signed_in(&ctx, &ctx.maker).await;
    let form = "/studio/products/new";
    let html = maker
        .submit(
            form,
            form,
            &[("title", " "), ("description", ""), ("price", "twelve"), ("stock", "-2"), ("category", "Ceramics & Co")],
        )
        .await
        .page(400);
    for field in ["title", "price", "stock", "category"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}: {html}");
    }
    assert!(text_of(&html).contains("Enter a price in euros"), "{html}");
    // What was typed stays in the form.
    assert!(html.contains("value=\"twelve\""), "{html}");
    let response = maker
        .submit(
            form,
            form,
            &[
                ("title", "Ash wood ladle"),
                ("description", "Oiled."),
                ("price", "18,50"),
                ("stock", "4"),
                ("category", "woodwork"),
            ],
        )
        .await;
    assert_eq!(response.status, 303, "{}", response.text());
    let location = response.header("location").unwrap().to_owned();
    let id = location.strip_prefix("/studio/products/").unwrap();
    let product = ctx.get(&format!("/products/{id}")).send().await.json();
    assert_eq!(
        (product["title"].as_str(), product["price_cents"].as_u64(), product["stock"].as_u64()),
        (Some("Ash wood ladle"), Some(1850), Some(4))
    );
    assert_eq!(product["maker_id"], ctx.maker.sub.as_str());
    let page = text_of(&maker.get(&location).await.page(200));
    assert!(page.contains("Your product is listed") && page.contains("On sale"), "{page}");
    assert!(text_of(&maker.get("/studio").await.page(200)).contains("Ash wood ladle"));

    // Archive: gone from the shop, listed under archived; restore brings it back.
    maker.submit(&location, &location, &[("action", "archive")]).await.redirects_to(&location);
    assert_eq!(ctx.get(&format!("/products/{id}")).send().await.status, 404);
    assert!(text_of(&maker.get("/studio?status=archived").await.page(200)).contains("Ash wood ladle"));
    assert!(!text_of(&maker.get("/studio").await.page(200)).contains("Ash wood ladle"));
    maker.submit(&location, &location, &[("action", "restore")]).await.redirects_to(&location);
    assert_eq!(ctx.get(&format!("/products/{id}")).send().await.json()["status"], "active");

    // Another maker's product is no page of this studio.
    let other = ctx.create_product(&ctx.other_maker, json!({})).await["id"].as_str().unwrap().to_owned();
    maker.get(&format!("/studio/products/{other}")).await.page(404);
    maker.submit("/studio", &format!("/studio/products/{other}"), &[("action", "archive")]).await.page(404);
    assert_eq!(ctx.get(&format!("/products/{other}")).send().await.json()["status"], "active");
}

#[tokio::test]
async fn a_save_from_a_stale_tab_is_refused_and_shows_the_newer_edit() {
    let ctx = TestContext::new().await;
    let id = ctx.create_product(&ctx.maker, json!({"title": "Blue bowl", "price_cents": 3000})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/studio/products/{id}");
    let mut maker = signed_in(&ctx, &ctx.maker).await;
    // Two tabs open the form at the same version.
    let tab_a = maker.get(&path).await.page(200);
    let tab_b = maker.get(&path).await.page(200);
    let version = |html: &str| {
        let at = html.find("name=\"version\" value=\"").unwrap() + "name=\"version\" value=\"".len();
        html[at..].split('"').next().unwrap().to_owned()
    };
    assert_eq!(version(&tab_a), version(&tab_b));
    let seen = version(&tab_a);
    let fields = |title: &'static str, price: &'static str| {
        vec![
            ("action", "save"),
            ("title", title),
            ("description", ""),
            ("price", price),
            ("stock", "12"),
            ("category", "ceramics"),
        ]
    };
    let mut first = fields("Blue bowl, large", "30.00");
    first.push(("version", &seen));
    maker.submit(&path, &path, &first).await.redirects_to(&path);
    let mut second = fields("Blue bowl", "25.00");
    second.push(("version", &seen));
    let html = maker.submit(&path, &path, &second).await.page(409);
    let text = text_of(&html);
    assert!(text.contains("changed elsewhere") && text.contains("not saved"), "{text}");
    // The form now shows the newer edit, at its version.
    assert!(html.contains("value=\"Blue bowl, large\""), "{html}");
    assert_ne!(version(&html), seen);
    let product = ctx.get(&format!("/products/{id}")).send().await.json();
    assert_eq!((product["title"].as_str(), product["price_cents"].as_u64()), (Some("Blue bowl, large"), Some(3000)));
    // Saved again from the fresh form, it lands.
    let fresh = version(&html);
    let mut third = fields("Blue bowl, large", "25.00");
    third.push(("version", &fresh));
    maker.submit(&path, &path, &third).await.redirects_to(&path);
    assert_eq!(ctx.get(&format!("/products/{id}")).send().await.json()["price_cents"], 2500);
}

#[tokio::test]
async fn an_admin_takes_a_product_down_its_maker_reads_the_note_and_cannot_undo_it() {
    let ctx = TestContext::new().await;
    let id = ctx.create_product(&ctx.maker, json!({"title": "Replica vase"})).await["id"].as_str().unwrap().to_owned();
    let desk_path = format!("/desk/products/{id}");
    let mut admin = signed_in(&ctx, &ctx.admin).await;
    // Found by its id, straight to its page.
    admin.get(&format!("/desk/products?q={id}")).await.redirects_to(&desk_path);
    // A takedown needs its note.
    let html = admin.submit(&desk_path, &desk_path, &[("action", "remove"), ("moderation_note", "")]).await.page(400);
    assert!(html.contains("id=\"moderation_note-error\""), "{html}");
    assert_eq!(ctx.get(&format!("/products/{id}")).send().await.status, 200);
    let note = "Listed as an original; it is a copy of a registered design.";
    admin
        .submit(&desk_path, &desk_path, &[("action", "remove"), ("moderation_note", note)])
        .await
        .redirects_to(&desk_path);
    assert_eq!(ctx.get(&format!("/products/{id}")).send().await.status, 404, "hidden from the public");

    let mut maker = signed_in(&ctx, &ctx.maker).await;
    let list = text_of(&maker.get("/studio?status=removed").await.page(200));
    assert!(list.contains("Replica vase") && list.contains(note), "{list}");
    let studio_path = format!("/studio/products/{id}");
    let page = maker.get(&studio_path).await.page(200);
    assert!(text_of(&page).contains(note), "{page}");
    assert!(
        !page.contains("name=\"action\" value=\"save\"") && !page.contains("value=\"restore\""),
        "no form to change it"
    );
    for action in ["restore", "archive"] {
        maker.submit(&studio_path, &studio_path, &[("action", action)]).await.page(403);
    }
    let save = [
        ("action", "save"),
        ("title", "Vase"),
        ("price", "10"),
        ("stock", "1"),
        ("category", "ceramics"),
        ("version", "2"),
    ];
    maker.submit(&studio_path, &studio_path, &save).await.page(403);
    assert_eq!(ctx.stock(&id).await, 12);
    let product = ctx.get(&format!("/products/{id}")).auth(&ctx.admin).send().await.json();
    assert_eq!((product["status"].as_str(), product["title"].as_str()), (Some("removed"), Some("Replica vase")));

    // The admin lifts it: on sale again, the note gone.
    admin.submit(&desk_path, &desk_path, &[("action", "lift")]).await.redirects_to(&desk_path);
    let product = ctx.get(&format!("/products/{id}")).send().await.json();
    assert_eq!(product["status"], "active");
    assert!(product.get("moderation_note").is_none());
}

#[tokio::test]
async fn a_maker_sees_only_their_lines_of_an_order_with_its_packing_slip() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"title": "Glazed mug"})).await["id"].as_str().unwrap().to_owned();
    let spoon =
        ctx.create_product(&ctx.other_maker, json!({"title": "Olive spoon"})).await["id"].as_str().unwrap().to_owned();
    let order = ctx.order(&ctx.customer, &[(&mug, 2), (&spoon, 1)]).await;
    let id = order["id"].as_str().unwrap().to_owned();
    ctx.pay(&order).await;
    let mut maker = signed_in(&ctx, &ctx.maker).await;
    let list = text_of(&maker.get("/studio/orders?status=paid").await.page(200));
    assert!(list.contains(&id) && list.contains("To prepare"), "{list}");
    // The live part: only the rows, asking for themselves again.
    let rows = maker.get("/studio/orders?part=rows").await.page(200);
    assert!(
        rows.starts_with("<tbody id=\"order-rows\"") && rows.contains("hx-trigger=\"every 5s\"") && rows.contains(&id),
        "{rows}"
    );
    let page = text_of(&maker.get(&format!("/studio/orders/{id}")).await.page(200));
    assert!(page.contains("Glazed mug") && !page.contains("Olive spoon"), "{page}");
    assert!(page.contains("Rua das Flores 12") && page.contains("4050-262 Porto"), "{page}");
    assert!(page.contains("Paid ·"), "the timeline says when it was paid: {page}");
    let slip = text_of(&maker.get(&format!("/studio/orders/{id}/slip")).await.page(200));
    assert!(slip.contains("Packing slip") && slip.contains("Glazed mug") && !slip.contains("Olive spoon"), "{slip}");
    assert!(slip.contains("Ada Lovelace"), "{slip}");
    // An order without this maker's lines is not theirs to see.
    let theirs = ctx.order(&ctx.other_customer, &[(&spoon, 1)]).await["id"].as_str().unwrap().to_owned();
    maker.get(&format!("/studio/orders/{theirs}")).await.page(404);
    maker.get(&format!("/studio/orders/{theirs}/slip")).await.page(404);
    maker.get("/studio/orders?status=nonsense").await.page(404);
}

#[tokio::test]
async fn an_admin_finds_orders_by_id_email_and_customer_and_cancels_a_paid_one_with_its_refund() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    let id = order["id"].as_str().unwrap().to_owned();
    ctx.pay(&order).await;
    let mut admin = signed_in(&ctx, &ctx.admin).await;
    let path = format!("/desk/orders/{id}");
    admin.get(&format!("/desk/orders?q={id}")).await.redirects_to(&path);
    let list = text_of(&admin.get(&format!("/desk/orders?q={}", ctx.customer.sub)).await.page(200));
    assert!(list.contains(&id), "{list}");
    // By the customer's email address, as Cognito has it; another customer's is not theirs.
    let by_email =
        text_of(&admin.get(&format!("/desk/orders?q={}", ctx.customer.email.replace('@', "%40"))).await.page(200));
    assert!(by_email.contains(&id), "{by_email}");
    let other = text_of(
        &admin.get(&format!("/desk/orders?q={}", ctx.other_customer.email.replace('@', "%40"))).await.page(200),
    );
    assert!(!other.contains(&id) && other.contains("no orders"), "{other}");
    let unknown = text_of(&admin.get("/desk/orders?q=nobody%40makers-market.example").await.page(200));
    assert!(unknown.contains("No customer has this email address"), "{unknown}");
    assert!(text_of(&admin.get("/desk/orders?q=nobody-at-all").await.page(200)).contains("no orders"));
    admin.get("/desk/orders?q=not%20an%20id%3F").await.page(400);
    let page = text_of(&admin.get(&path).await.page(200));
    assert!(page.contains("Cancel the order") && page.contains(&ctx.customer.sub), "{page}");
    admin.submit(&path, &path, &[("action", "cancel")]).await.redirects_to(&path);
    let page = text_of(&admin.get(&path).await.page(200));
    assert!(page.contains("cancelled and its refund is under way") || page.contains("Refund"), "{page}");
    let after = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(ctx.stock(&mug).await, 5, "the units are back");
}

#[tokio::test]
async fn a_maker_taken_out_of_the_group_loses_the_studio_when_the_session_renews() {
    let ctx = TestContext::new().await;
    let mut maker = signed_in(&ctx, &ctx.maker).await;
    maker.get("/studio").await.page(200);
    ctx.remove_from_makers(&ctx.maker).await;
    // The session's token was issued with the group: it holds until the token is renewed.
    maker.get("/studio").await.page(200);
    e2e::browser::expire_sessions(&ctx, &ctx.maker.sub).await;
    assert!(text_of(&maker.get("/studio").await.page(403)).contains("The studio is for makers"));
    // Still signed in, as a customer.
    assert!(text_of(&maker.get("/account/orders").await.page(200)).contains("Sign out"));
    maker.get("/studio/orders").await.page(403);
}

#[tokio::test]
async fn a_customer_applies_from_the_shop_an_admin_approves_and_the_renewed_session_opens_the_studio() {
    let ctx = TestContext::new().await;
    let applicant = ctx.customers(1).await.remove(0);
    let mut customer = signed_in(&ctx, &applicant).await;
    Browser::new(&ctx).get("/sell").await.redirects_to("/sign-in?next=%2Fsell");
    // Every refusal next to its field.
    let html =
        customer.submit("/sell", "/sell", &[("shop_name", ""), ("bio", ""), ("location", "Porto")]).await.page(400);
    assert!(html.contains("id=\"shop_name-error\"") && html.contains("id=\"bio-error\""), "{html}");
    let fields = [("shop_name", "Barro Vivo"), ("bio", "Wood-fired clay from Barcelos."), ("location", "Barcelos")];
    customer.submit("/sell", "/sell", &fields).await.redirects_to("/sell");
    let text = text_of(&customer.get("/sell").await.page(200));
    assert!(text.contains("Barro Vivo is waiting for an admin"), "{text}");
    // A second application while one waits: refused, and said so.
    customer.post("/sell", &[("_token", "x")], Some(e2e::browser::ORIGIN)).await.page(403);
    customer.submit("/", "/sell", &fields).await.redirects_to("/sell");
    assert!(text_of(&customer.get("/sell").await.page(200)).contains("waiting"));
    let mine = ctx.get("/maker-applications/mine").auth(&applicant).send().await.json();
    let id = mine["id"].as_str().unwrap().to_owned();

    // Neither the customer nor a maker may decide it.
    let decide = format!("/desk/applications/{id}");
    customer.get("/desk/applications").await.page(403);
    customer.submit("/", &decide, &[("action", "approve")]).await.page(403);
    let mut maker = signed_in(&ctx, &ctx.maker).await;
    maker.submit("/", &decide, &[("action", "approve")]).await.page(403);
    assert_eq!(ctx.get("/maker-applications/mine").auth(&applicant).send().await.json()["status"], "pending");

    let mut admin = signed_in(&ctx, &ctx.admin).await;
    let queue = text_of(&admin.get("/desk/applications").await.page(200));
    assert!(queue.contains("Barro Vivo") && queue.contains("Wood-fired clay from Barcelos."), "{queue}");
    admin.submit("/desk/applications", &decide, &[("action", "approve")]).await.redirects_to("/desk/applications");
    let after = text_of(&admin.get("/desk/applications?status=approved").await.page(200));
    assert!(after.contains("Barro Vivo is approved") && after.contains("Barro Vivo"), "{after}");

    // The session's token predates the group; renewed, it opens the studio.
    customer.get("/studio").await.page(403);
    e2e::browser::expire_sessions(&ctx, &applicant.sub).await;
    let studio = text_of(&customer.get("/studio/shop").await.page(200));
    assert!(studio.contains("Shop profile"), "{studio}");
    assert!(customer.get("/studio/shop").await.page(200).contains("value=\"Barro Vivo\""));
    assert!(text_of(&customer.get("/sell").await.page(200)).contains("Your shop is open"));
}

#[tokio::test]
async fn a_rejection_needs_a_note_which_the_applicant_reads_with_the_form_to_apply_again() {
    let ctx = TestContext::new().await;
    let applicant = ctx.customers(1).await.remove(0);
    let mut customer = signed_in(&ctx, &applicant).await;
    let fields = [("shop_name", "Fast Fashion Ltd"), ("bio", "Imported shirts."), ("location", "Lisbon")];
    customer.submit("/sell", "/sell", &fields).await.redirects_to("/sell");
    let id =
        ctx.get("/maker-applications/mine").auth(&applicant).send().await.json()["id"].as_str().unwrap().to_owned();
    let decide = format!("/desk/applications/{id}");
    let note_field = format!("note-{id}");
    let mut admin = signed_in(&ctx, &ctx.admin).await;
    let html = admin.submit("/desk/applications", &decide, &[("action", "reject"), (&note_field, " ")]).await.page(400);
    assert!(html.contains(&format!("id=\"{note_field}-error\"")), "{html}");
    let note = "Makers Market sells handmade goods only.";
    admin
        .submit("/desk/applications", &decide, &[("action", "reject"), (&note_field, note)])
        .await
        .redirects_to("/desk/applications");
    let page = customer.get("/sell").await.page(200);
    assert!(text_of(&page).contains(note) && page.contains("action=\"/sell\""), "{page}");
    // Deciding the other way now is refused, and changes nothing.
    admin.submit("/desk/applications", &decide, &[("action", "approve")]).await.redirects_to("/desk/applications");
    assert!(text_of(&admin.get("/desk/applications").await.page(200)).contains("already rejected"));
    assert_eq!(ctx.get("/maker-applications/mine").auth(&applicant).send().await.json()["status"], "rejected");
}

/// The studio's upload as its script does it: the page grants a presigned POST, the file
/// goes to moto's S3, and the page confirms it. Returns the flash the product page shows.
async fn studio_upload(ctx: &TestContext, maker: &mut Browser<'_>, product: &str, kind: &str, bytes: &[u8]) -> String {
    let path = format!("/studio/products/{product}");
    let form_to = format!("{path}/photos");
    let size = bytes.len().to_string();
    let grant = maker
        .submit(&path, &form_to, &[("action", "photo_request"), ("content_type", kind), ("size_bytes", &size)])
        .await;
    grant.expect(200);
    let grant = grant.json();
    let status =
        local::photos::upload(grant["url"].as_str().unwrap(), grant["fields"].as_object().unwrap(), bytes, kind)
            .await
            .unwrap();
    assert!((200..300).contains(&status), "the upload answered {status}");
    let photo = grant["photo_id"].as_str().unwrap();
    maker
        .submit(&path, &form_to, &[("action", "photo_confirm"), ("photo_id", photo)])
        .await
        .redirects_to(&format!("{path}#photos"));
    let _ = ctx;
    text_of(&maker.get(&path).await.page(200))
}

#[tokio::test]
async fn a_maker_adds_reorders_and_deletes_photos_from_the_studio_and_a_bad_file_is_refused_with_why() {
    let ctx = TestContext::new().await;
    e2e::photos::storage(&ctx).await;
    let id = ctx.create_product(&ctx.maker, json!({"title": "Ash bowl"})).await["id"].as_str().unwrap().to_owned();
    let path = format!("/studio/products/{id}");
    // The photo forms post to their own function (web-studio-photos).
    let form_to = format!("{path}/photos");
    let mut maker = signed_in(&ctx, &ctx.maker).await;
    let page = maker.get(&path).await.page(200);
    assert!(
        page.contains("id=\"photo-upload\"") && page.contains("/assets/photos."),
        "the upload form and its script: {page}"
    );
    assert!(page.contains(&format!("action=\"{form_to}\"")), "{page}");
    // Opened by hand, the forms' address leads to the product's photos.
    maker.get(&form_to).await.redirects_to(&format!("{path}#photos"));
    // The product page itself takes no photo action.
    maker.submit(&path, &path, &[("action", "photo_delete"), ("photo_id", "pho_x")]).await.page(400);

    // What the page refuses before any upload: the type, the size.
    let refused = maker
        .submit(&path, &form_to, &[("action", "photo_request"), ("content_type", "text/plain"), ("size_bytes", "10")])
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error"].as_str().unwrap().contains("JPEG, PNG or WebP"));
    let big = (6 * 1024 * 1024).to_string();
    let refused = maker
        .submit(&path, &form_to, &[("action", "photo_request"), ("content_type", "image/jpeg"), ("size_bytes", &big)])
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error"].as_str().unwrap().contains("too big"));

    // A JPEG and a PNG.
    let text = studio_upload(&ctx, &mut maker, &id, "image/jpeg", &e2e::photos::jpeg(640, 480)).await;
    assert!(text.contains("Photo added") && text.contains("(1 of 8)"), "{text}");
    let text = studio_upload(&ctx, &mut maker, &id, "image/png", &e2e::photos::png(300, 300)).await;
    assert!(text.contains("(2 of 8)"), "{text}");
    let photos = |p: serde_json::Value| -> Vec<String> {
        p["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
    };
    let before = photos(ctx.get(&format!("/products/{id}")).send().await.json());
    assert_eq!(before.len(), 2);
    // A text file sent as a JPEG: uploaded, then refused at confirm, deleted, and said why.
    let text = studio_upload(&ctx, &mut maker, &id, "image/jpeg", b"not an image at all").await;
    assert!(text.contains("That photo was refused and deleted") && text.contains("(2 of 8)"), "{text}");

    // The second photo one place earlier: the shop's order changes.
    maker
        .submit(&path, &form_to, &[("action", "photo_move"), ("to", "earlier"), ("photo_id", &before[1])])
        .await
        .redirects_to(&format!("{path}#photos"));
    let after = photos(ctx.get(&format!("/products/{id}")).send().await.json());
    assert_eq!(after, [before[1].clone(), before[0].clone()]);
    // Delete one.
    maker
        .submit(&path, &form_to, &[("action", "photo_delete"), ("photo_id", &before[0])])
        .await
        .redirects_to(&format!("{path}#photos"));
    assert_eq!(photos(ctx.get(&format!("/products/{id}")).send().await.json()), [before[1].clone()]);
    // Another maker's product: no page, no photos.
    let other = ctx.create_product(&ctx.other_maker, json!({})).await["id"].as_str().unwrap().to_owned();
    let other_path = format!("/studio/products/{other}/photos");
    maker
        .submit(
            &path,
            &other_path,
            &[("action", "photo_request"), ("content_type", "image/jpeg"), ("size_bytes", "100")],
        )
        .await
        .page(404);
}
