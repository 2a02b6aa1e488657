//! The web shop's browsing pages and the cart, through their handlers: what each renders,
//! redirects and refuses. (The same journeys in a real Chromium are in `browser/`.)

use e2e::TestContext;
use e2e::browser::{Browser, ORIGIN, text_of};
use serde_json::{Value, json};

async fn product(ctx: &TestContext, overrides: Value) -> (Value, String) {
    let product = ctx.create_product(&ctx.maker, overrides).await;
    let id = product["id"].as_str().unwrap().to_owned();
    (product, id)
}

#[tokio::test]
async fn the_home_page_shows_the_newest_products_their_categories_and_makers() {
    let ctx = TestContext::new().await;
    let (_, mug) = product(&ctx, json!({"title": "Speckled mug", "category": "ceramics", "price_cents": 2450})).await;
    let (_, spoon) = product(&ctx, json!({"title": "Cherry spoon", "category": "woodwork"})).await;
    let mut browser = Browser::new(&ctx);
    let home = browser.get("/").await;
    let html = home.page(200);
    let text = text_of(&html);
    assert!(html.contains(&format!("href=\"/listing/{mug}\"")) && html.contains(&format!("href=\"/listing/{spoon}\"")));
    assert!(text.contains("Speckled mug") && text.contains("€24.50"), "{text}");
    assert!(html.contains("href=\"/search?category=ceramics\"") && html.contains("href=\"/search?category=woodwork\""));
    assert!(html.contains(&format!("href=\"/shop/{}\"", ctx.maker.sub)), "the maker's shop is linked");
    assert!(html.contains("<link rel=\"canonical\" href=\"http://127.0.0.1:3000/\">"), "{html}");
    // The newest first.
    assert!(html.find(&spoon) < html.find(&mug));
    // A first visit gets the shop's one cookie: HttpOnly, SameSite=Lax, not Secure over http.
    let cookie = home.header("set-cookie").unwrap();
    assert!(cookie.starts_with("mm=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_no_inline_script() {
    let ctx = TestContext::new().await;
    let (_, id) = product(&ctx, json!({})).await;
    let mut browser = Browser::new(&ctx);
    for path in ["/", "/search?q=mug", &format!("/listing/{id}"), &format!("/shop/{}", ctx.maker.sub), "/cart"] {
        let page = browser.get(path).await;
        let html = page.page(200);
        let csp = page.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self' "), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(page.header("referrer-policy"), Some("strict-origin-when-cross-origin"), "{path}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert!(page.header("x-request-id").is_some(), "{path}");
        // Scripts only by src (JSON-LD data is no script).
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains("src=") || tag.contains("application/ld+json"), "{path}: inline script {tag}");
        }
    }
    // Over https the cookie is __Host- and Secure, and HSTS is on.
    let page = ctx.request("GET", "/").header("x-forwarded-proto", "https").send().await;
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-mm=") && cookie.contains("; Secure"), "{cookie}");
    assert!(page.header("strict-transport-security").is_some());
}

#[tokio::test]
async fn search_filters_by_words_category_and_a_price_range_in_euros() {
    let ctx = TestContext::new().await;
    let (_, cheap) = product(&ctx, json!({"title": "Blue bowl", "category": "ceramics", "price_cents": 1500})).await;
    let (_, dear) = product(&ctx, json!({"title": "Blue vase", "category": "ceramics", "price_cents": 9000})).await;
    let (_, wood) = product(&ctx, json!({"title": "Blue spoon", "category": "woodwork", "price_cents": 1500})).await;
    let mut browser = Browser::new(&ctx);
    let html = browser.get("/search?q=blue&category=ceramics&max=20").await.page(200);
    assert!(html.contains(&cheap), "{html}");
    assert!(!html.contains(&dear) && !html.contains(&wood), "{html}");
    // The form shows the query it ran.
    assert!(html.contains("value=\"blue\"") && html.contains("value=\"20\""), "{html}");
    let html = browser.get("/search?min=50").await.page(200);
    assert!(html.contains(&dear) && !html.contains(&cheap));
    // Bad input: the message next to its field, a 400, no results.
    let html = browser.get("/search?min=cheap&category=Not%20A%20Slug").await.page(400);
    assert!(html.contains("id=\"min-error\"") && html.contains("Enter an amount in euros"), "{html}");
    assert!(html.contains("id=\"category-error\""), "{html}");
    assert!(!html.contains(&cheap));
}

#[tokio::test]
async fn search_pages_follow_a_sealed_cursor_and_refuse_a_tampered_one() {
    let ctx = TestContext::new().await;
    let mut ids = Vec::new();
    for i in 0..26 {
        ids.push(product(&ctx, json!({"title": format!("Tile {i}"), "category": "tiles"})).await.1);
    }
    let mut browser = Browser::new(&ctx);
    let first = browser.get("/search?category=tiles").await.page(200);
    assert_eq!(first.matches("class=\"card\"").count(), 24);
    let at = first.find("rel=\"next\"").map(|i| first[..i].rfind("href=\"").unwrap() + 6).unwrap();
    let next = first[at..].split('"').next().unwrap().replace("&#38;", "&").replace("&amp;", "&");
    assert!(next.starts_with("/search?category=tiles&cursor="), "{next}");
    let second = browser.get(&next).await.page(200);
    assert_eq!(second.matches("class=\"card\"").count(), 2);
    assert!(second.contains(&ids[0]) && second.contains(&ids[1]));
    assert!(second.contains("<meta name=\"robots\" content=\"noindex\">"));
    let tampered = browser.get(&format!("{next}x")).await.page(400);
    assert!(tampered.contains("This results page has expired"), "{tampered}");
    let other_query = browser.get(&next.replace("category=tiles", "category=mugs")).await.page(400);
    assert!(other_query.contains("This results page has expired"));
}

#[tokio::test]
async fn a_product_page_shows_its_price_stock_maker_and_structured_data() {
    let ctx = TestContext::new().await;
    let (_, id) = product(
        &ctx,
        json!({"title": "Ash bowl", "price_cents": 4200, "stock": 2, "images": [], "description": "Turned from ash."}),
    )
    .await;
    let mut browser = Browser::new(&ctx);
    let html = browser.get(&format!("/listing/{id}")).await.page(200);
    let text = text_of(&html);
    assert!(text.contains("Ash bowl") && text.contains("€42.00") && text.contains("Only 2 left"), "{text}");
    assert!(html.contains("No photo yet"), "a placeholder stands in for photos");
    assert!(html.contains(&format!("href=\"/shop/{}\"", ctx.maker.sub)));
    let ld_at = html.find("application/ld+json\">").unwrap() + "application/ld+json\">".len();
    let ld: Value = serde_json::from_str(&html[ld_at..ld_at + html[ld_at..].find("</script>").unwrap()]).unwrap();
    assert_eq!(ld["@type"], "Product");
    assert_eq!(ld["offers"]["price"], "42.00");
    assert_eq!(ld["offers"]["availability"], "https://schema.org/InStock");
    assert!(html.contains("<meta name=\"description\" content=\"Turned from ash.\">"), "{html}");
    // Sold out: no form, and the data says so.
    let sold =
        ctx.request("PATCH", &format!("/products/{id}")).auth(&ctx.maker).json(&json!({"stock": 0})).send().await;
    sold.expect(200);
    let html = browser.get(&format!("/listing/{id}")).await.page(200);
    assert!(text_of(&html).contains("Sold out") && !html.contains("Add to cart"));
    assert!(html.contains("https://schema.org/OutOfStock"));
}

#[tokio::test]
async fn a_title_with_markup_shows_as_text_everywhere() {
    let ctx = TestContext::new().await;
    let (_, id) =
        product(&ctx, json!({"title": "<script>alert(1)</script>", "description": "<img src=x onerror=alert(2)>"}))
            .await;
    let mut browser = Browser::new(&ctx);
    for path in ["/".to_owned(), format!("/listing/{id}"), "/search?q=script".to_owned()] {
        let html = browser.get(&path).await.page(200);
        assert!(!html.contains("<script>alert(1)") && !html.contains("<img src=x"), "{path}: {html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;") || html.contains("&lt;script&gt;"),
            "{path}"
        );
    }
    browser
        .submit(&format!("/listing/{id}"), &format!("/listing/{id}"), &[("quantity", "1")])
        .await
        .redirects_to("/cart");
    let cart = browser.get("/cart").await.page(200);
    assert!(!cart.contains("<script>alert(1)"), "{cart}");
}

#[tokio::test]
async fn archived_and_unknown_products_are_a_404_page_in_the_shops_look() {
    let ctx = TestContext::new().await;
    let (_, id) = product(&ctx, json!({})).await;
    ctx.request("DELETE", &format!("/products/{id}")).auth(&ctx.maker).send().await.expect(204);
    let mut browser = Browser::new(&ctx);
    for path in [format!("/listing/{id}"), "/listing/prd_nope".to_owned(), "/shop/nobody".to_owned()] {
        let html = browser.get(&path).await.page(404);
        assert!(html.contains("Page not found") && html.contains("Back to the shop"), "{path}: {html}");
    }
}

#[tokio::test]
async fn a_visitor_adds_changes_and_removes_cart_lines() {
    let ctx = TestContext::new().await;
    let (_, mug) = product(&ctx, json!({"title": "Mug", "price_cents": 2000, "stock": 10})).await;
    let (_, bowl) = product(&ctx, json!({"title": "Bowl", "price_cents": 3500, "stock": 10})).await;
    let mut browser = Browser::new(&ctx);
    let listing = format!("/listing/{mug}");
    browser.submit(&listing, &listing, &[("quantity", "2")]).await.redirects_to("/cart");
    let bowl_page = format!("/listing/{bowl}");
    browser.submit(&bowl_page, &bowl_page, &[("quantity", "1")]).await.redirects_to("/cart");
    let cart = browser.get("/cart").await.page(200);
    let text = text_of(&cart);
    assert!(text.contains("Added to your cart: Bowl."), "the flash shows once: {text}");
    assert!(text.contains("Total (3 items) €75.00"), "{text}");
    assert!(!text_of(&browser.get("/cart").await.page(200)).contains("Added to your cart"));
    browser
        .submit("/cart", "/cart", &[("action", "update"), ("product_id", &mug), ("quantity", "5")])
        .await
        .redirects_to("/cart");
    assert!(text_of(&browser.get("/cart").await.page(200)).contains("Total (6 items) €135.00"));
    browser.submit("/cart", "/cart", &[("action", "remove"), ("product_id", &bowl)]).await.redirects_to("/cart");
    let text = text_of(&browser.get("/cart").await.page(200));
    assert!(text.contains("Total (5 items) €100.00") && !text.contains("Bowl"), "{text}");
    // The header counts the units.
    assert!(browser.get("/").await.page(200).contains("aria-label=\"5 items\""));
}

#[tokio::test]
async fn a_bad_quantity_gets_the_form_again_with_its_message_and_changes_nothing() {
    let ctx = TestContext::new().await;
    let (_, id) = product(&ctx, json!({"stock": 3})).await;
    let mut browser = Browser::new(&ctx);
    let listing = format!("/listing/{id}");
    for (quantity, message) in
        [("0", "from 1 to 100"), ("1000", "from 1 to 100"), ("two", "from 1 to 100"), ("4", "Only 3 left")]
    {
        let html = browser.submit(&listing, &listing, &[("quantity", quantity)]).await.page(400);
        assert!(html.contains("id=\"quantity-error\"") && html.contains(message), "{quantity}: {html}");
        assert!(html.contains(&format!("value=\"{quantity}\"")), "what was typed stays: {quantity}");
    }
    assert!(text_of(&browser.get("/cart").await.page(200)).contains("Your cart is empty"));
    browser.submit(&listing, &listing, &[("quantity", "2")]).await.redirects_to("/cart");
    let html = browser
        .submit("/cart", "/cart", &[("action", "update"), ("product_id", &id), ("quantity", "0")])
        .await
        .page(400);
    assert!(html.contains(&format!("id=\"qty-{id}-error\"")), "{html}");
    assert!(text_of(&browser.get("/cart").await.page(200)).contains("Total (2 items)"));
    // A product that is not there is refused too.
    let html =
        browser.submit(&listing, "/listing/prd_01JAAAAAAAAAAAAAAAAAAAAAAA", &[("quantity", "1")]).await.page(404);
    assert!(html.contains("Page not found"));
}

#[tokio::test]
async fn a_forged_cross_site_form_is_refused_and_changes_nothing() {
    let ctx = TestContext::new().await;
    let (_, id) = product(&ctx, json!({})).await;
    let mut browser = Browser::new(&ctx);
    let listing = format!("/listing/{id}");
    let token = e2e::browser::form_token(&browser.get(&listing).await.text()).unwrap();
    // Another site's page posting with the victim's cookie: wrong Origin.
    let html =
        browser.post(&listing, &[("_token", &token), ("quantity", "1")], Some("https://evil.example")).await.page(403);
    assert!(html.contains("from another site"), "{html}");
    // No token, or another visitor's token, from this site: refused too.
    browser.post(&listing, &[("quantity", "1")], Some(ORIGIN)).await.page(403);
    let mut other = Browser::new(&ctx);
    let other_token = e2e::browser::form_token(&other.get(&listing).await.text()).unwrap();
    browser.post(&listing, &[("_token", &other_token), ("quantity", "1")], Some(ORIGIN)).await.page(403);
    assert!(text_of(&browser.get("/cart").await.page(200)).contains("Your cart is empty"));
}

#[tokio::test]
async fn a_tampered_cookie_starts_a_fresh_visit_and_says_so() {
    let ctx = TestContext::new().await;
    let (_, id) = product(&ctx, json!({})).await;
    let mut browser = Browser::new(&ctx);
    let listing = format!("/listing/{id}");
    browser.submit(&listing, &listing, &[("quantity", "3")]).await.redirects_to("/cart");
    let cookie = browser.cookie().unwrap().to_owned();
    // Raise the quantity inside the cookie, keeping its old seal.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (name, value) = cookie.split_once('=').unwrap();
    let (payload, mac) = value.split_once('.').unwrap();
    let mut state: Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    assert_eq!(state["c"][0][1], 3, "{state}");
    state["c"][0][1] = json!(50);
    let forged = b64.encode(state.to_string());
    browser.set_cookie(Some(format!("{name}={forged}.{mac}")));
    let text = text_of(&browser.get("/cart").await.page(200));
    assert!(text.contains("could not be read") && text.contains("Your cart is empty"), "{text}");
}

#[tokio::test]
async fn the_cart_tells_of_a_changed_price_and_a_sold_out_product() {
    let ctx = TestContext::new().await;
    let (_, mug) = product(&ctx, json!({"title": "Mug", "price_cents": 2000, "stock": 10})).await;
    let (_, bowl) = product(&ctx, json!({"title": "Bowl", "price_cents": 3000, "stock": 5})).await;
    let mut browser = Browser::new(&ctx);
    for id in [&mug, &bowl] {
        let listing = format!("/listing/{id}");
        browser.submit(&listing, &listing, &[("quantity", "1")]).await.redirects_to("/cart");
    }
    let patch = |id: &str, body: Value| {
        let path = format!("/products/{id}");
        let ctx = &ctx;
        async move { ctx.request("PATCH", &path).auth(&ctx.maker).json(&body).send().await.expect(200).json() }
    };
    patch(&mug, json!({"price_cents": 2500})).await;
    patch(&bowl, json!({"stock": 0})).await;
    let html = browser.get("/cart").await.page(200);
    let text = text_of(&html);
    assert!(text.contains("The price changed from €20.00 to €25.00"), "{text}");
    assert!(text.contains("Sold out."), "{text}");
    assert!(!html.contains("href=\"/checkout\""), "a sold-out line blocks checkout: {text}");
    // The price change is told once; the sold-out line stays until removed.
    let text = text_of(&browser.get("/cart").await.page(200));
    assert!(!text.contains("The price changed") && text.contains("Sold out."), "{text}");
    browser.submit("/cart", "/cart", &[("action", "remove"), ("product_id", &bowl)]).await.redirects_to("/cart");
    assert!(browser.get("/cart").await.page(200).contains("href=\"/checkout\""));
}

#[tokio::test]
async fn a_shop_page_shows_its_maker_and_their_products_only() {
    let ctx = TestContext::new().await;
    let (_, mine) = product(&ctx, json!({"title": "Maria's jug"})).await;
    let other = ctx.create_product(&ctx.other_maker, json!({"title": "Joao's plate"})).await;
    let mut browser = Browser::new(&ctx);
    let html = browser.get(&format!("/shop/{}", ctx.maker.sub)).await.page(200);
    assert!(html.contains(&mine) && !html.contains(other["id"].as_str().unwrap()), "{html}");
    assert!(text_of(&html).contains("1 product for sale"), "{html}");
}

#[tokio::test]
async fn assets_are_fingerprinted_cached_for_a_year_and_robots_and_sitemap_are_served() {
    let ctx = TestContext::new().await;
    let (_, id) = product(&ctx, json!({})).await;
    let css = shared::web::assets::path("app.css");
    let response = ctx.request("GET", css).header("accept-encoding", "gzip").send().await;
    response.expect(200);
    assert_eq!(response.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(response.header("content-type"), Some("text/css; charset=utf-8"));
    ctx.request("GET", "/assets/app.0000000000000000.css").send().await.page(404);
    let robots = ctx.get("/robots.txt").send().await;
    assert!(robots.text().contains("Sitemap: http://127.0.0.1:3000/sitemap.xml"), "{}", robots.text());
    let sitemap = ctx.get("/sitemap.xml").send().await;
    sitemap.expect(200);
    assert!(sitemap.text().contains(&format!("<loc>http://127.0.0.1:3000/listing/{id}</loc>")), "{}", sitemap.text());
    // Pages are compressed for a browser that takes gzip.
    let home = ctx.request("GET", "/").header("accept-encoding", "gzip, deflate, br").send().await;
    assert_eq!(home.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn a_browser_gets_the_shops_404_page_and_an_api_client_its_problem() {
    let ctx = TestContext::new().await;
    let mut browser = Browser::new(&ctx);
    let html = browser.get("/no-such-page").await.page(404);
    assert!(html.contains("Page not found") && html.contains("Back to the shop"), "{html}");
    // Under the API's paths, and for clients that do not ask for HTML, it stays problem+json.
    ctx.get("/no-such-page").send().await.problem(404);
    ctx.request("GET", "/products/a/b").header("accept", "text/html").send().await.problem(404);
}
