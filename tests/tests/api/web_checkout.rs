//! The web shop's checkout, order and account pages, through their handlers: one order per
//! form however often it is sent, the payment step, the status that follows the order,
//! cancelling with the refund shown, and pages that need a session.

use e2e::TestContext;
use e2e::browser::{Browser, text_of};
use local::provision::DEMO_PASSWORD;
use serde_json::{Value, json};

const ADDRESS: [(&str, &str); 5] = [
    ("name", "Ada Lovelace"),
    ("line1", "12 Rue des Artisans"),
    ("postal_code", "69001"),
    ("city", "Lyon"),
    ("country", "FR"),
];

async fn signed_in(ctx: &TestContext) -> Browser<'_> {
    let mut browser = Browser::new(ctx);
    browser
        .submit("/sign-in", "/sign-in", &[("email", &ctx.customer.email), ("password", DEMO_PASSWORD), ("next", "/")])
        .await
        .redirects_to("/");
    browser
}

async fn in_cart(browser: &mut Browser<'_>, product: &str, quantity: &str) {
    let listing = format!("/listing/{product}");
    browser.submit(&listing, &listing, &[("quantity", quantity)]).await.redirects_to("/cart");
}

/// The value of the hidden `key` field of the checkout page.
fn checkout_key(html: &str) -> String {
    let at = html.find("name=\"key\" value=\"").unwrap() + "name=\"key\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

async fn orders_of(ctx: &TestContext) -> Vec<Value> {
    ctx.get("/orders").auth(&ctx.customer).send().await.expect(200).json()["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn account_pages_send_a_visitor_to_sign_in_and_back() {
    let ctx = TestContext::new().await;
    let mut visitor = Browser::new(&ctx);
    for path in ["/checkout", "/account/orders", "/account/profile", "/account/orders/ord_01JAAAAAAAAAAAAAAAAAAAAAAA"] {
        let next = e2e::browser::url_encode(path);
        visitor.get(path).await.redirects_to(&format!("/sign-in?next={next}"));
    }
    let html = visitor.get("/sign-in?next=%2Fcheckout").await.page(200);
    assert!(html.contains("name=\"next\" value=\"/checkout\""), "{html}");
}

#[tokio::test]
async fn placing_an_order_twice_from_one_form_makes_one_order_and_empties_the_cart() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"title": "Mug", "price_cents": 2000, "stock": 5})).await;
    let mug = mug["id"].as_str().unwrap();
    let plate = ctx.create_product(&ctx.other_maker, json!({"title": "Plate", "price_cents": 3000, "stock": 5})).await;
    let plate = plate["id"].as_str().unwrap();
    let mut browser = signed_in(&ctx).await;
    in_cart(&mut browser, mug, "2").await;
    in_cart(&mut browser, plate, "1").await;
    let page = browser.get("/checkout").await.page(200);
    assert!(text_of(&page).contains("Total €70.00"), "{}", text_of(&page));
    let key = checkout_key(&page);
    let token = e2e::browser::form_token(&page).unwrap();
    let mut fields: Vec<(&str, &str)> = vec![("_token", &token), ("key", &key), ("save_address", "1")];
    fields.extend_from_slice(&ADDRESS);
    // A double click: the same form twice at once, then once more (the back button).
    let (first, second) = {
        let mut other = Browser::new(&ctx);
        other.set_cookie(browser.cookie().map(str::to_owned));
        tokio::join!(
            browser.post("/checkout", &fields, Some(e2e::browser::ORIGIN)),
            other.post("/checkout", &fields, Some(e2e::browser::ORIGIN))
        )
    };
    let third = browser.post("/checkout", &fields, Some(e2e::browser::ORIGIN)).await;
    let location = first.header("location").unwrap().to_owned();
    assert!(location.starts_with("/account/orders/ord_"), "{}", first.text());
    assert_eq!(second.header("location"), Some(location.as_str()), "{}", second.text());
    assert_eq!(third.header("location"), Some(location.as_str()), "{}", third.text());
    let orders = orders_of(&ctx).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["total_cents"], 7000);
    assert_eq!(orders[0]["shipping_address"]["city"], "Lyon");
    assert_eq!(ctx.stock(mug).await, 3);
    assert!(text_of(&browser.get("/cart").await.page(200)).contains("Your cart is empty"));
    // The address was saved to the profile.
    let me = ctx.get("/me").auth(&ctx.customer).send().await.expect(200).json();
    assert_eq!(me["shipping_address"]["postal_code"], "69001");
}

#[tokio::test]
async fn a_bad_address_gets_the_checkout_again_with_its_messages_and_no_order() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await;
    let mut browser = signed_in(&ctx).await;
    in_cart(&mut browser, mug["id"].as_str().unwrap(), "1").await;
    let page = browser.get("/checkout").await.page(200);
    let key = checkout_key(&page);
    let html = browser
        .submit(
            "/checkout",
            "/checkout",
            &[
                ("key", &key),
                ("name", "Ada"),
                ("line1", ""),
                ("postal_code", "69001"),
                ("city", "Lyon"),
                ("country", "XX"),
            ],
        )
        .await
        .page(400);
    assert!(html.contains("id=\"line1-error\"") && html.contains("id=\"country-error\""), "{html}");
    assert!(html.contains("value=\"Ada\""), "what was typed stays");
    assert!(orders_of(&ctx).await.is_empty());
}

#[tokio::test]
async fn a_product_sold_out_meanwhile_is_named_and_nothing_is_reserved() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"title": "Last mug", "stock": 1})).await;
    let mug = mug["id"].as_str().unwrap();
    let mut browser = signed_in(&ctx).await;
    in_cart(&mut browser, mug, "1").await;
    let page = browser.get("/checkout").await.page(200);
    let key = checkout_key(&page);
    ctx.order(&ctx.other_customer, &[(mug, 1)]).await;
    let mut fields = vec![("key", key.as_str())];
    fields.extend_from_slice(&ADDRESS);
    let html = browser.submit("/checkout", "/checkout", &fields).await.page(409);
    assert!(html.contains("Last mug") || html.contains("Sold out"), "{html}");
    assert!(orders_of(&ctx).await.is_empty());
}

#[tokio::test]
async fn the_order_page_offers_the_card_step_then_follows_the_order_and_cancels_with_a_refund() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"title": "Mug", "price_cents": 2500, "stock": 5})).await;
    let mug = mug["id"].as_str().unwrap();
    let mut browser = signed_in(&ctx).await;
    in_cart(&mut browser, mug, "1").await;
    let page = browser.get("/checkout").await.page(200);
    let key = checkout_key(&page);
    let mut fields = vec![("key", key.as_str())];
    fields.extend_from_slice(&ADDRESS);
    let placed = browser.submit("/checkout", "/checkout", &fields).await;
    let path = placed.header("location").unwrap().to_owned();
    let order_page = browser.get(&path).await;
    let html = order_page.page(200);
    let order = orders_of(&ctx).await.remove(0);
    let secret = ctx.fetch_order(&ctx.customer, &order).await["payment"]["client_secret"].as_str().unwrap().to_owned();
    assert!(html.contains(&format!("data-secret=\"{secret}\"")), "the card step has the intent's secret");
    assert!(html.contains("js.stripe.com/v3/") && html.contains("id=\"card-element\""), "{html}");
    let csp = order_page.header("content-security-policy").unwrap();
    assert!(csp.contains(&format!("script-src 'self' {}", e2e::stripe_api_base().trim_end_matches('/'))), "{csp}");
    assert!(html.contains("hx-trigger=\"every 2s\""), "the status part refreshes itself while payment is awaited");
    // Paid: the live part says so; the card step is gone.
    ctx.pay(&order).await;
    let live = browser.get(&format!("{path}?part=live")).await.page(200);
    assert!(live.starts_with("<section id=\"live\"") && text_of(&live).contains("Status: Paid"), "{live}");
    assert!(!browser.get(&path).await.page(200).contains("id=\"card-element\""));
    // Cancelled while allowed: the refund is shown and the stock is back.
    browser.submit(&path, &path, &[("action", "cancel")]).await.redirects_to(&path);
    let text = text_of(&browser.get(&path).await.page(200));
    assert!(text.contains("Your order is cancelled. Your refund is on its way"), "{text}");
    assert!(
        text.contains("Status: Cancelled") && (text.contains("Refund on its way") || text.contains("Refunded")),
        "{text}"
    );
    assert_eq!(ctx.stock(mug).await, 5);
    // Nothing left to cancel: the form is gone, and a forged one is refused by the state machine.
    let text = text_of(&browser.submit(&path, &path, &[("action", "cancel")]).await.text());
    let _ = text;
    let text = text_of(&browser.get(&path).await.page(200));
    assert!(text.contains("could not be cancelled") && !text.contains("Cancel this order"), "{text}");
}

#[tokio::test]
async fn another_customers_order_is_a_404_page() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await;
    let theirs = ctx.order(&ctx.other_customer, &[(mug["id"].as_str().unwrap(), 1)]).await;
    let mut browser = signed_in(&ctx).await;
    let html = browser.get(&format!("/account/orders/{}", theirs["id"].as_str().unwrap())).await.page(404);
    assert!(html.contains("Page not found"));
}

#[tokio::test]
async fn the_orders_list_and_the_profile_are_the_signed_in_users_own() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await;
    let mine = ctx.order(&ctx.customer, &[(mug["id"].as_str().unwrap(), 1)]).await;
    let theirs = ctx.order(&ctx.other_customer, &[(mug["id"].as_str().unwrap(), 1)]).await;
    let mut browser = signed_in(&ctx).await;
    let html = browser.get("/account/orders").await.page(200);
    assert!(html.contains(mine["id"].as_str().unwrap()) && !html.contains(theirs["id"].as_str().unwrap()));
    assert!(text_of(&html).contains("Waiting for payment"));
    let html = browser
        .submit("/account/profile", "/account/profile", &[("display_name", ""), ("country", "Z")])
        .await
        .page(400);
    assert!(html.contains("id=\"display_name-error\""), "{html}");
    let mut fields = vec![("display_name", "Ada L.")];
    fields.extend_from_slice(&ADDRESS);
    browser.submit("/account/profile", "/account/profile", &fields).await.redirects_to("/account/profile");
    let html = browser.get("/account/profile").await.page(200);
    assert!(text_of(&html).contains("Your profile is saved.") && html.contains("value=\"Ada L.\""), "{html}");
    assert!(text_of(&browser.get("/").await.page(200)).contains("Ada L."), "the header says who is signed in");
}
