//! The web shop's accounts: sign up with the emailed code, sign in and back to where the
//! user was, a visitor's cart joining the account's, sign out that ends the session, and a
//! password reset — through the page handlers against moto's Cognito.

use e2e::TestContext;
use e2e::browser::{Browser, ORIGIN, cognito_code, post_confirmation_event, text_of};
use local::provision::DEMO_PASSWORD;
use serde_json::json;

fn fresh_email(ctx: &TestContext) -> String {
    format!("new.{}", ctx.customer.email)
}

async fn sign_in(browser: &mut Browser<'_>, email: &str, password: &str, next: &str) -> e2e::TestResponse {
    browser.submit("/sign-in", "/sign-in", &[("email", email), ("password", password), ("next", next)]).await
}

#[tokio::test]
async fn a_visitor_signs_up_confirms_with_the_emailed_code_and_signs_in() {
    let ctx = TestContext::new().await;
    let email = fresh_email(&ctx);
    let mut browser = Browser::new(&ctx);
    let response = browser
        .submit(
            "/sign-up",
            "/sign-up",
            &[("name", "Grace Hopper"), ("email", &email), ("password", "Compilers-1952"), ("next", "/cart")],
        )
        .await;
    let confirm = format!("/sign-up/confirm?email={}&next=%2Fcart", e2e::browser::url_encode(&email));
    response.redirects_to(&confirm);
    let html = browser.get(&confirm).await.page(200);
    assert!(text_of(&html).contains(&format!("We have emailed a 6-digit code to {email}")), "{html}");
    let code = cognito_code(&email, "sign-up").expect("Cognito made a code");
    // A wrong code is refused next to its field; the account stays unconfirmed.
    let html = browser
        .submit(&confirm, "/sign-up/confirm", &[("email", &email), ("code", "000000"), ("next", "/cart")])
        .await
        .page(400);
    assert!(html.contains("id=\"code-error\"") && html.contains("not right"), "{html}");
    let refused = sign_in(&mut browser, &email, "Compilers-1952", "/cart").await;
    refused.redirects_to(&confirm);
    let code = cognito_code(&email, "sign-up").filter(|c| c != &code).unwrap_or(code);
    let response =
        browser.submit(&confirm, "/sign-up/confirm", &[("email", &email), ("code", &code), ("next", "/cart")]).await;
    response.redirects_to(&format!("/sign-in?email={}&next=%2Fcart", e2e::browser::url_encode(&email)));
    // Cognito's trigger, as the local stack's pump runs it.
    let event = post_confirmation_event(&email).expect("a post-confirmation event");
    post_confirmation::handle(&ctx.app, serde_json::from_value(event).unwrap()).await.unwrap();
    sign_in(&mut browser, &email, "Compilers-1952", "/cart").await.redirects_to("/cart");
    let html = browser.get("/cart").await.page(200);
    let text = text_of(&html);
    assert!(text.contains("Grace Hopper") && text.contains("Sign out"), "{text}");
}

#[tokio::test]
async fn sign_up_refuses_a_bad_name_email_or_password_next_to_each_field() {
    let ctx = TestContext::new().await;
    let mut browser = Browser::new(&ctx);
    let html = browser
        .submit("/sign-up", "/sign-up", &[("name", ""), ("email", "nope"), ("password", "short")])
        .await
        .page(400);
    for field in ["name", "email", "password"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}: {html}");
    }
    // Cognito's own password policy (moto's, here) speaks through the same field.
    let taken = browser
        .submit(
            "/sign-up",
            "/sign-up",
            &[("name", "Ada"), ("email", &ctx.customer.email), ("password", "Another-Password-1")],
        )
        .await
        .page(400);
    assert!(taken.contains("id=\"email-error\"") && taken.contains("exists already"), "{taken}");
}

#[tokio::test]
async fn sign_in_returns_to_a_same_site_page_only_and_refuses_a_wrong_password() {
    let ctx = TestContext::new().await;
    let mut browser = Browser::new(&ctx);
    let html = sign_in(&mut browser, &ctx.customer.email, "wrong-password-1A", "/cart").await.page(400);
    assert!(html.contains("id=\"password-error\"") && html.contains("not right"), "{html}");
    // Nobody is signed in after that.
    assert!(text_of(&browser.get("/cart").await.page(200)).contains("Sign in"));
    sign_in(&mut browser, &ctx.customer.email, DEMO_PASSWORD, "https://evil.example/steal").await.redirects_to("/");
    let mut other = Browser::new(&ctx);
    sign_in(&mut other, &ctx.customer.email, DEMO_PASSWORD, "//evil.example").await.redirects_to("/");
    let mut third = Browser::new(&ctx);
    sign_in(&mut third, &ctx.customer.email, DEMO_PASSWORD, "/search?q=mug").await.redirects_to("/search?q=mug");
    // Signed in already: the sign-in page goes on to `next`.
    third.get("/sign-in?next=%2Fcart").await.redirects_to("/cart");
}

#[tokio::test]
async fn a_visitors_cart_joins_the_accounts_at_sign_in_and_follows_it_to_another_device() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"title": "Mug", "price_cents": 2000})).await;
    let mug = mug["id"].as_str().unwrap();
    let bowl = ctx.create_product(&ctx.maker, json!({"title": "Bowl", "price_cents": 3000})).await;
    let bowl = bowl["id"].as_str().unwrap();
    // On a phone, signed in: one mug in the account's cart.
    let mut phone = Browser::new(&ctx);
    sign_in(&mut phone, &ctx.customer.email, DEMO_PASSWORD, "/").await.redirects_to("/");
    let listing = format!("/listing/{mug}");
    phone.submit(&listing, &listing, &[("quantity", "1")]).await.redirects_to("/cart");
    // On a laptop, as a visitor: two mugs and a bowl; then sign in.
    let mut laptop = Browser::new(&ctx);
    laptop.submit(&listing, &listing, &[("quantity", "2")]).await.redirects_to("/cart");
    let bowl_page = format!("/listing/{bowl}");
    laptop.submit(&bowl_page, &bowl_page, &[("quantity", "1")]).await.redirects_to("/cart");
    sign_in(&mut laptop, &ctx.customer.email, DEMO_PASSWORD, "/cart").await.redirects_to("/cart");
    let text = text_of(&laptop.get("/cart").await.page(200));
    assert!(text.contains("Total (4 items) €90.00"), "merged: {text}");
    // The phone sees the same cart.
    let text = text_of(&phone.get("/cart").await.page(200));
    assert!(text.contains("Total (4 items) €90.00"), "across devices: {text}");
}

#[tokio::test]
async fn sign_out_ends_the_session_and_revokes_its_refresh_token() {
    let ctx = TestContext::new().await;
    let mut browser = Browser::new(&ctx);
    sign_in(&mut browser, &ctx.customer.email, DEMO_PASSWORD, "/").await.redirects_to("/");
    let signed_in_cookie = browser.cookie().unwrap().to_owned();
    // A sign-out from another site is refused.
    let token = e2e::browser::form_token(&browser.get("/").await.text()).unwrap();
    browser.post("/sign-out", &[("_token", &token)], Some("https://evil.example")).await.page(403);
    assert!(text_of(&browser.get("/").await.page(200)).contains("Sign out"));
    browser.submit("/", "/sign-out", &[]).await.redirects_to("/");
    assert!(text_of(&browser.get("/").await.page(200)).contains("You are signed out."));
    // The old cookie, replayed, is a signed-out visit: the session is gone.
    let mut thief = Browser::new(&ctx);
    thief.set_cookie(Some(signed_in_cookie));
    let text = text_of(&thief.get("/").await.page(200));
    assert!(text.contains("Sign in") && !text.contains("Sign out"), "{text}");
}

#[tokio::test]
async fn an_expired_access_token_is_renewed_with_the_refresh_token() {
    let ctx = TestContext::new().await;
    let mut browser = Browser::new(&ctx);
    sign_in(&mut browser, &ctx.customer.email, DEMO_PASSWORD, "/").await.redirects_to("/");
    // Age the stored session's access token past its expiry.
    let items = e2e::browser::expire_sessions(&ctx, &ctx.customer.sub).await;
    assert_eq!(items.len(), 1);
    let old_token = items[0]["access_token"].as_s().unwrap().clone();
    assert!(text_of(&browser.get("/cart").await.page(200)).contains("Sign out"), "still signed in");
    let item = ctx
        .app
        .store
        .client()
        .get_item()
        .table_name(ctx.app.store.table())
        .key("pk", items[0]["pk"].clone())
        .key("sk", items[0]["sk"].clone())
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_ne!(item["access_token"].as_s().unwrap(), &old_token, "a new access token was stored");
    assert!(item["access_expires_at"].as_n().unwrap().parse::<u64>().unwrap() > 1_000_000);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_with_the_emailed_code() {
    let ctx = TestContext::new().await;
    let mut browser = Browser::new(&ctx);
    let email = ctx.customer.email.clone();
    let reset = format!("/forgot-password/reset?email={}", e2e::browser::url_encode(&email));
    browser.submit("/forgot-password", "/forgot-password", &[("email", &email)]).await.redirects_to(&reset);
    // An unknown address reads the same: nobody learns who has an account.
    let unknown = format!("nobody.{email}");
    browser
        .submit("/forgot-password", "/forgot-password", &[("email", &unknown)])
        .await
        .redirects_to(&format!("/forgot-password/reset?email={}", e2e::browser::url_encode(&unknown)));
    let code = cognito_code(&email, "password").expect("a reset code");
    let html = browser
        .submit(
            &reset,
            "/forgot-password/reset",
            &[("email", &email), ("code", "111111"), ("password", "A-New-Password-2")],
        )
        .await
        .page(400);
    assert!(html.contains("id=\"code-error\""), "{html}");
    browser
        .submit(
            &reset,
            "/forgot-password/reset",
            &[("email", &email), ("code", &code), ("password", "A-New-Password-2")],
        )
        .await
        .redirects_to(&format!("/sign-in?email={}", e2e::browser::url_encode(&email)));
    sign_in(&mut browser, &email, DEMO_PASSWORD, "/").await.page(400);
    sign_in(&mut browser, &email, "A-New-Password-2", "/").await.redirects_to("/");
    let _ = ORIGIN;
}

/// A stand-in for Cognito's managed login token endpoint: answers every code with
/// `access_token`, keeping the form bodies it got.
async fn fake_token_endpoint(access_token: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use http_body_util::BodyExt as _;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log, access_token) = (log.clone(), access_token.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (log, access_token) = (log.clone(), access_token.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        log.lock().unwrap().push(format!("{path}?{}", String::from_utf8_lossy(&bytes)));
                        let body = json!({"access_token": access_token, "refresh_token": "refresh-from-google", "id_token": "x", "expires_in": 3600, "token_type": "Bearer"});
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                            hyper::body::Bytes::from(body.to_string()),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (base, seen)
}

#[tokio::test]
async fn google_sign_in_uses_the_code_flow_with_pkce_and_a_state_used_once() {
    let ctx = TestContext::new().await;
    // Without Google configured there is no button and no route.
    let mut plain = Browser::new(&ctx);
    assert!(!plain.get("/sign-in").await.page(200).contains("Continue with Google"));
    plain.get("/sign-in/google").await.page(404);

    let (hosted_ui, seen) = fake_token_endpoint(ctx.customer.tokens.access.clone()).await;
    let app = ctx.app_with(|c| c.web.hosted_ui_url = Some(hosted_ui.clone()));
    let mut browser = Browser::on(&ctx, &app);
    assert!(browser.get("/sign-in").await.page(200).contains("Continue with Google"));
    let start = browser.get("/sign-in/google?next=%2Fcart").await;
    assert_eq!(start.status, 303);
    let location = start.header("location").unwrap().to_owned();
    assert!(location.starts_with(&format!("{hosted_ui}/oauth2/authorize?")), "{location}");
    let query: std::collections::HashMap<String, String> =
        form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["identity_provider"], "Google");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["redirect_uri"], "http://127.0.0.1:3000/sign-in/callback");
    assert_eq!(query["client_id"], ctx.pool.client_id);
    let state = query["state"].clone();
    // A callback with another state (a forged link) is refused, and spends the sign-in.
    let forged = browser.get(&format!("/sign-in/callback?code=abc&state={state}x")).await;
    forged.page(403);
    browser.get(&format!("/sign-in/callback?code=abc&state={state}")).await.page(403);
    // Again, properly: the code and the PKCE verifier go to the token endpoint.
    let start = browser.get("/sign-in/google?next=%2Fcart").await;
    let location = start.header("location").unwrap().to_owned();
    let query: std::collections::HashMap<String, String> =
        form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
    let back = browser.get(&format!("/sign-in/callback?code=the-code&state={}", query["state"])).await;
    back.redirects_to("/cart");
    let exchange = seen.lock().unwrap().last().cloned().unwrap();
    let sent: std::collections::HashMap<String, String> =
        form_urlencoded::parse(exchange.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
    assert!(exchange.starts_with("/oauth2/token?"), "{exchange}");
    assert_eq!(sent["grant_type"], "authorization_code");
    assert_eq!(sent["code"], "the-code");
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, sent["code_verifier"].as_bytes());
    assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()), query["code_challenge"]);
    assert!(text_of(&browser.get("/cart").await.page(200)).contains("Sign out"), "signed in");
    // The same callback once more does nothing.
    browser.get(&format!("/sign-in/callback?code=the-code&state={}", query["state"])).await.page(403);
}
