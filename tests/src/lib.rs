//! Test support: a fresh, uniquely named stack per test (table on DynamoDB Local; user
//! pool, secrets, users and their tokens on moto), and requests sent the way the ALB sends them — as ALB
//! events routed by the real route table to the real handlers.

// Test support: a setup failure should stop the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use anyhow::Context as _;
use aws_config::SdkConfig;
use lambda_http::{Body, Request, Response};
use local::cognito::{self, CognitoPool, Tokens};
use local::provision::{DEMO_PASSWORD, ProvisionOptions, SecretsOptions, StripeKeys};
use serde_json::{Value, json};
use shared::App;
use shared::config::{CognitoConfig, Config};
use shared::domain::Clock;
use std::sync::{Arc, Mutex};

pub mod browser;
pub mod faults;
pub mod photos;
use faults::{DynamoFaults, FaultInterceptor};
use std::time::{Duration, SystemTime};

pub const REGION: &str = "eu-west-1";
/// moto: Cognito and the rest of AWS but DynamoDB.
pub const ENDPOINT_VAR: &str = "MM_TEST_AWS_ENDPOINT";
pub const STRIPE_VAR: &str = "MM_TEST_STRIPE_API_BASE";
/// DynamoDB Local: DynamoDB.
pub const DYNAMODB_ENDPOINT_VAR: &str = "MM_TEST_DYNAMODB_ENDPOINT";

/// A clock tests can move forward, and stop: real time plus an offset, or (once frozen) a
/// fixed instant plus the offset, so that a test's "just before the deadline" does not
/// depend on how fast a loaded machine runs it.
#[derive(Debug, Default)]
pub struct TestClock {
    offset: Mutex<Duration>,
    frozen: Mutex<Option<SystemTime>>,
}

impl TestClock {
    pub fn advance(&self, by: Duration) {
        if let Ok(mut offset) = self.offset.lock() {
            *offset += by;
        }
    }

    /// From now on, time moves only by [`TestClock::advance`].
    pub fn freeze(&self) {
        if let Ok(mut frozen) = self.frozen.lock() {
            frozen.get_or_insert_with(SystemTime::now);
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        let base = self.frozen.lock().ok().and_then(|f| *f).unwrap_or_else(SystemTime::now);
        base + self.offset.lock().map(|o| *o).unwrap_or_default()
    }
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct User {
    /// Cognito's username: the user's `sub`, as in an email pool.
    pub username: String,
    /// A short name for messages (`ada`).
    pub name: String,
    pub sub: String,
    /// Unique to this test context, so its emails can be told apart on the shared moto.
    pub email: String,
    pub tokens: Tokens,
}

impl User {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.tokens.access)
    }
}

pub struct TestContext {
    pub app: App,
    pub aws: SdkConfig,
    pub pool: CognitoPool,
    pub clock: Arc<TestClock>,
    pub customer: User,
    /// A second customer, who must not see the first one's orders.
    pub other_customer: User,
    pub maker: User,
    pub other_maker: User,
    pub admin: User,
    /// What this context's Stripe secret holds.
    pub stripe_keys: StripeKeys,
    /// DynamoDB errors to inject into the app's DynamoDB calls (none until a test asks).
    pub faults: Arc<DynamoFaults>,
    /// Customers made by [`TestContext::customers`], known to [`TestContext::customer_of`].
    shoppers: std::sync::Mutex<Vec<User>>,
    mailbox: String,
}

/// A new user of `pool` with `email` in `groups`, signed in.
async fn new_user(
    aws: &SdkConfig,
    pool: &CognitoPool,
    name: &str,
    email: String,
    groups: &[&str],
) -> anyhow::Result<User> {
    let sub = cognito::create_user(aws, pool, &email, DEMO_PASSWORD, groups).await?;
    let tokens = cognito::sign_in(aws, &pool.client_id, &email, DEMO_PASSWORD).await?;
    // An email pool names its users by their sub.
    Ok(User { username: sub.clone(), name: name.to_owned(), sub, email, tokens })
}

pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{ENDPOINT_VAR} is not set: run the tests with `cargo xtask test`, which starts the emulator")
    })
}

/// localstripe's API base (`http://127.0.0.1:<port>/`), set by `cargo xtask test`.
pub fn stripe_api_base() -> String {
    std::env::var(STRIPE_VAR).unwrap_or_else(|_| {
        panic!("{STRIPE_VAR} is not set: run the tests with `cargo xtask test`, which starts localstripe")
    })
}

/// DynamoDB Local's endpoint. No fallback to moto: its transactions are not isolated.
pub fn dynamodb_endpoint() -> String {
    std::env::var(DYNAMODB_ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{DYNAMODB_ENDPOINT_VAR} is not set: run the tests with `cargo xtask test`, which starts DynamoDB Local")
    })
}

/// SDK configuration for the test emulators: DynamoDB on DynamoDB Local, the rest on moto.
pub async fn sdk_config() -> SdkConfig {
    local::provision::sdk_config_with_dynamodb(&endpoint(), &dynamodb_endpoint(), REGION).await
}

/// The handlers' logs, through the test harness's capture: a failing test shows the
/// `tracing::error!` that names the cause (`RUST_LOG` chooses the level, `warn` by default).
pub fn init_test_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().with_target(false).try_init();
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

impl TestContext {
    pub async fn new() -> Self {
        Self::try_new().await.expect("setting up a test stack on the emulator")
    }

    /// A stack whose DynamoDB is the DynamoDB Local at `dynamodb_endpoint` (a private one,
    /// for a test that freezes it).
    pub async fn on_dynamodb(dynamodb_endpoint: &str) -> Self {
        let aws = local::provision::sdk_config_with_dynamodb(&endpoint(), dynamodb_endpoint, REGION).await;
        Self::try_new_on(aws).await.expect("setting up a test stack on the emulator")
    }

    async fn try_new() -> anyhow::Result<Self> {
        Self::try_new_on(sdk_config().await).await
    }

    async fn try_new_on(aws: SdkConfig) -> anyhow::Result<Self> {
        init_test_logging();
        // The bus is named after the table, as [`config`] names it.
        let table_name = unique("mm-test");
        let provisioned = local::provision::provision(
            &aws,
            &ProvisionOptions {
                event_bus_name: table_name.clone(),
                table_name,
                user_pool_name: unique("mm-test"),
                seed: false,
            },
        )
        .await?;
        let pool = provisioned.cognito;
        let stripe_keys = test_stripe_keys();
        local::provision::create_secrets(
            &aws,
            &SecretsOptions { stack: provisioned.table_name.clone(), stripe: Some(stripe_keys.clone()) },
        )
        .await?;
        let mailbox = unique("mm");
        let user = |name: &'static str, groups: &'static [&'static str]| {
            let (aws, pool) = (aws.clone(), pool.clone());
            let email = format!("{name}.{mailbox}@makers-market.test");
            async move { new_user(&aws, &pool, name, email, groups).await }
        };
        let (customer, other_customer, maker, other_maker, admin) = tokio::try_join!(
            user("ada", &[]),
            user("bea", &[]),
            user("maria", &["makers"]),
            user("joao", &["makers"]),
            user("admin", &["admins"]),
        )?;
        let clock = Arc::new(TestClock::default());
        let faults = Arc::new(DynamoFaults::default());
        let app = app_with_faults(config(&provisioned.table_name, &pool), &aws, clock.clone(), &faults);
        Ok(Self {
            app,
            aws,
            pool,
            clock,
            customer,
            other_customer,
            maker,
            other_maker,
            admin,
            stripe_keys,
            faults,
            shoppers: std::sync::Mutex::new(Vec::new()),
            mailbox,
        })
    }

    /// A request to `path`, as a client would send it to the ALB.
    pub fn request(&self, method: &str, path: &str) -> TestRequest<'_> {
        TestRequest {
            ctx: self,
            event: json!({
                "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/test/0123456789abcdef"}},
                "httpMethod": method,
                "path": path,
                "queryStringParameters": {},
                "headers": {
                    "host": "127.0.0.1:3000",
                    "accept": "application/json",
                    "x-amzn-trace-id": format!("Root=1-{:08x}-{}", 0x6745_f2a1u32, &ulid::Ulid::new().to_string().to_lowercase()[..24]),
                    "x-forwarded-proto": "http",
                },
                "body": "",
                "isBase64Encoded": false,
            }),
        }
    }

    pub fn get(&self, path: &str) -> TestRequest<'_> {
        self.request("GET", path)
    }

    /// Sends an ALB event (as JSON) to the function the route table picks for it.
    pub async fn send_event(&self, event: &Value) -> TestResponse {
        self.send_event_to(&self.app, event).await
    }

    /// [`TestContext::send_event`] served by `app` (this stack, configured otherwise).
    pub async fn send_event_to(&self, app: &App, event: &Value) -> TestResponse {
        let text = event.to_string();
        let req = lambda_http::request::from_str(&text).expect("an ALB event lambda_http can read");
        let method = event["httpMethod"].as_str().unwrap_or_default();
        let path = event["path"].as_str().unwrap_or_default();
        let function = shared::routes::function_for(method, path);
        // Boxed as a trait object: the match over every handler is one deep future type,
        // which would otherwise be part of every test's future.
        let response: std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + '_>> =
            Box::pin(dispatch(app, function, req));
        TestResponse::from(response.await)
    }

    /// The same stack with another app configuration (a broken table name, say).
    pub fn app_with(&self, edit: impl FnOnce(&mut Config)) -> App {
        let mut cfg = self.app.config.clone();
        edit(&mut cfg);
        app_with_faults(cfg, &self.aws, self.clock.clone(), &self.faults)
    }
}

/// The app functions build (with Stripe), its DynamoDB client carrying `faults`.
fn app_with_faults(config: Config, aws: &SdkConfig, clock: Arc<TestClock>, faults: &Arc<DynamoFaults>) -> App {
    let table = config.table_name.clone();
    let mut app = App::new(config, aws, clock).with_stripe();
    let dynamodb = shared::app::dynamodb_config(aws).interceptor(FaultInterceptor(faults.clone())).build();
    app.store = shared::store::Store::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), table)
        .with_due_shards(app.config.due_shards);
    app
}

/// The configuration of a test context's functions. Its secrets are named after the table
/// (as [`TestContext::new`] creates them), by name rather than ARN: the cloud passes ARNs,
/// and the local stack does, so both forms get used.
pub fn config(table: &str, pool: &CognitoPool) -> Config {
    Config {
        table_name: table.to_owned(),
        cognito: CognitoConfig {
            issuer: pool.issuer.clone(),
            jwks_url: pool.jwks_url.clone(),
            client_ids: vec![pool.client_id.clone()],
        },
        cursor_secret_id: local::provision::cursor_secret_name(table),
        stripe_secret_id: Some(local::provision::stripe_secret_name(table)),
        payment_window: shared::config::DEFAULT_PAYMENT_WINDOW,
        stripe_api_base: stripe_api_base(),
        stripe_timeout: shared::config::DEFAULT_STRIPE_TIMEOUT,
        event_bus_name: table.to_owned(),
        delivery_dwell: shared::config::DEFAULT_DELIVERY_DWELL,
        due_shards: shared::store::DEFAULT_DUE_SHARDS,
        mail: shared::config::MailConfig::default(),
        web: shared::config::WebConfig {
            stripe_js_url: format!("{}js.stripe.com/v3/", stripe_api_base()),
            ..shared::config::WebConfig::default()
        },
        // A bucket of its own per context (created by the tests that need it), on moto's
        // S3, path-style, as the local stack's.
        photos: shared::config::PhotosConfig {
            bucket: table.to_owned(),
            upload_url: Some(format!("{}/{table}", endpoint())),
            public_url: format!("{}/{table}/public", endpoint()),
        },
    }
}

/// Stripe keys for a test context's Stripe secret: unique, so a test can tell them apart.
pub fn test_stripe_keys() -> StripeKeys {
    let id = ulid::Ulid::new().to_string().to_lowercase();
    StripeKeys { secret_key: format!("sk_test_{id}"), webhook_secret: format!("whsec_{id}") }
}

/// Calls the handler of `function` through the same wrapper its `main.rs` uses. Each
/// handler's future is boxed: unboxed, this function's future would be as large as the
/// largest of them all, and debug builds overflowed a test thread's stack with it.
pub async fn dispatch(app: &App, function: &str, req: Request) -> Response<Body> {
    use shared::http::serve;
    use shared::web;
    match function {
        "health" => Box::pin(serve(app, req, health::handle)).await,
        "list-products" => Box::pin(serve(app, req, list_products::handle)).await,
        "web-assets" => Box::pin(web::serve(app, req, web_assets::handle)).await,
        "web-home" => Box::pin(web::serve(app, req, web_home::handle)).await,
        "web-search" => Box::pin(web::serve(app, req, web_search::handle)).await,
        "web-listing" => Box::pin(web::serve(app, req, web_listing::handle)).await,
        "web-shop" => Box::pin(web::serve(app, req, web_shop::handle)).await,
        "web-cart" => Box::pin(web::serve(app, req, web_cart::handle)).await,
        "web-sign-in" => Box::pin(web::serve(app, req, web_sign_in::handle)).await,
        "web-sign-up" => Box::pin(web::serve(app, req, web_sign_up::handle)).await,
        "web-password" => Box::pin(web::serve(app, req, web_password::handle)).await,
        "web-checkout" => Box::pin(web::serve(app, req, web_checkout::handle)).await,
        "web-order" => Box::pin(web::serve(app, req, web_order::handle)).await,
        "web-orders" => Box::pin(web::serve(app, req, web_orders::handle)).await,
        "web-profile" => Box::pin(web::serve(app, req, web_profile::handle)).await,
        "web-studio" => Box::pin(web::serve(app, req, web_studio::handle)).await,
        "web-studio-orders" => Box::pin(web::serve(app, req, web_studio_orders::handle)).await,
        "web-studio-photos" => Box::pin(web::serve(app, req, web_studio_photos::handle)).await,
        "web-desk" => Box::pin(web::serve(app, req, web_desk::handle)).await,
        "web-desk-orders" => Box::pin(web::serve(app, req, web_desk_orders::handle)).await,
        "web-desk-applications" => Box::pin(web::serve(app, req, web_desk_applications::handle)).await,
        "web-sell" => Box::pin(web::serve(app, req, web_sell::handle)).await,
        "get-product" => Box::pin(serve(app, req, get_product::handle)).await,
        "create-product" => Box::pin(serve(app, req, create_product::handle)).await,
        "update-product" => Box::pin(serve(app, req, update_product::handle)).await,
        "archive-product" => Box::pin(serve(app, req, archive_product::handle)).await,
        "get-maker" => Box::pin(serve(app, req, get_maker::handle)).await,
        "get-me" => Box::pin(serve(app, req, get_me::handle)).await,
        "put-me" => Box::pin(serve(app, req, put_me::handle)).await,
        "not-found" => Box::pin(serve(app, req, not_found::handle)).await,
        "create-photo-upload" => Box::pin(serve(app, req, create_photo_upload::handle)).await,
        "confirm-photo" => Box::pin(serve(app, req, confirm_photo::handle)).await,
        "delete-photo" => Box::pin(serve(app, req, delete_photo::handle)).await,
        "create-order" => Box::pin(serve(app, req, create_order::handle)).await,
        "list-orders" => Box::pin(serve(app, req, list_orders::handle)).await,
        "get-order" => Box::pin(serve(app, req, get_order::handle)).await,
        "cancel-order" => Box::pin(serve(app, req, cancel_order::handle)).await,
        "list-maker-orders" => Box::pin(serve(app, req, list_maker_orders::handle)).await,
        "stripe-webhook" => Box::pin(serve(app, req, stripe_webhook::handle)).await,
        "create-maker-application" => Box::pin(serve(app, req, create_maker_application::handle)).await,
        "get-my-maker-application" => Box::pin(serve(app, req, get_my_maker_application::handle)).await,
        "list-maker-applications" => Box::pin(serve(app, req, list_maker_applications::handle)).await,
        "approve-maker-application" => Box::pin(serve(app, req, approve_maker_application::handle)).await,
        "reject-maker-application" => Box::pin(serve(app, req, reject_maker_application::handle)).await,
        other => panic!("no handler for function {other}"),
    }
}

pub struct TestRequest<'c> {
    ctx: &'c TestContext,
    event: Value,
}

/// Percent-encodes a query value the way a client would before it reaches the ALB.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl TestRequest<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name.to_ascii_lowercase()] = json!(value);
        self
    }

    pub fn auth(self, user: &User) -> Self {
        self.header("authorization", &user.bearer())
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.event["queryStringParameters"][encode(name)] = json!(encode(value));
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.raw_body("application/json", &body.to_string())
    }

    pub fn raw_body(mut self, content_type: &str, body: &str) -> Self {
        self.event["body"] = json!(body);
        self.header("content-type", content_type)
    }

    pub fn event(&self) -> &Value {
        &self.event
    }

    pub async fn send(self) -> TestResponse {
        self.ctx.send_event(&self.event).await
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Vec<u8>,
}

impl From<Response<Body>> for TestResponse {
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        Self { status: parts.status.as_u16(), headers: parts.headers, body: body.as_ref().to_vec() }
    }
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
        self
    }

    /// Asserts a problem+json response with this status, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        self.expect(status);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.text());
        let body = self.json();
        assert_eq!(body["status"], json!(status), "{body}");
        assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
        body
    }

    /// The fields a 400 validation problem names.
    #[track_caller]
    pub fn invalid_fields(&self) -> Vec<String> {
        let body = self.problem(400);
        body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// Reads a sample event from `events/`.
pub fn sample_event(function: &str) -> Value {
    let path = format!("{}/../events/{function}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).with_context(|| path.clone()).expect("a sample event");
    serde_json::from_str(&text).expect("sample events are JSON")
}

/// A valid product body, with `overrides` merged in.
pub fn product_body(overrides: Value) -> Value {
    let mut body = json!({
        "title": "Speckled stoneware mug",
        "description": "Wheel-thrown, 350 ml.",
        "price_cents": 2400,
        "stock": 12,
        "category": "ceramics",
        "images": ["https://images.example/mug.jpg"],
    });
    if let (Some(body), Some(overrides)) = (body.as_object_mut(), overrides.as_object()) {
        for (k, v) in overrides {
            body.insert(k.clone(), v.clone());
        }
    }
    body
}

impl TestContext {
    /// Creates a product as `maker`, returning its JSON.
    pub async fn create_product(&self, maker: &User, overrides: Value) -> Value {
        let response = self.request("POST", "/products").auth(maker).json(&product_body(overrides)).send().await;
        response.expect(201);
        response.json()
    }

    /// Every item of `GET /products` with these query parameters, following cursors.
    pub async fn list_all(&self, query: &[(&str, &str)], limit: usize) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut req = self.get("/products").query("limit", &limit.to_string());
            for (k, v) in query {
                req = req.query(k, v);
            }
            if let Some(c) = &cursor {
                req = req.query("cursor", c);
            }
            let page = req.send().await;
            page.expect(200);
            let body = page.json();
            let page_items = body["items"].as_array().cloned().unwrap_or_default();
            assert!(page_items.len() <= limit, "a page is larger than its limit");
            items.extend(page_items);
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
        panic!("pagination did not end")
    }
}

/// A valid shipping address.
/// A price in cents no other test uses (10 000 to 60 000 €), so that one test's intents can
/// be told apart at the shared localstripe by their amount.
pub fn unique_price() -> u64 {
    1_000_000 + u64::try_from(ulid::Ulid::new().random() % 5_000_000).unwrap_or_default()
}

pub fn address() -> Value {
    json!({"name": "Ada Lovelace", "line1": "Rua das Flores 12", "city": "Porto", "postal_code": "4050-262", "country": "PT"})
}

/// A `POST /orders` body for these (product id, quantity) lines, shipped to [`address`].
pub fn order_body(lines: &[(&str, u64)]) -> Value {
    let items: Vec<Value> = lines.iter().map(|(id, q)| json!({"product_id": id, "quantity": q})).collect();
    json!({"items": items, "shipping_address": address()})
}

impl TestContext {
    /// Takes `user` out of the `makers` group, as an admin would in Cognito. Their tokens
    /// keep the group until they are renewed.
    pub async fn remove_from_makers(&self, user: &User) {
        aws_sdk_cognitoidentityprovider::Client::new(&self.aws)
            .admin_remove_user_from_group()
            .user_pool_id(&self.pool.user_pool_id)
            .username(&user.username)
            .group_name("makers")
            .send()
            .await
            .expect("removing a user from the makers group");
    }

    /// `user` taken out of the `makers` group and signed in again: what Cognito gives at
    /// the next token renewal.
    pub async fn removed_from_makers(&self, user: &User) -> User {
        self.remove_from_makers(user).await;
        let tokens = cognito::sign_in(&self.aws, &self.pool.client_id, &user.email, DEMO_PASSWORD)
            .await
            .expect("signing in again");
        User { tokens, ..user.clone() }
    }
}

impl TestContext {
    /// `POST /orders` as `user`.
    pub async fn place_order(&self, user: &User, body: &Value) -> TestResponse {
        self.request("POST", "/orders").auth(user).json(body).send().await
    }

    /// Places an order that must succeed, returning its JSON.
    pub async fn order(&self, user: &User, lines: &[(&str, u64)]) -> Value {
        let response = self.place_order(user, &order_body(lines)).await;
        response.expect(201);
        response.json()
    }

    /// A product's stock now (a consistent read of the store: the API's product read may
    /// be a moment old).
    pub async fn stock(&self, product_id: &str) -> u64 {
        let id = shared::domain::ProductId::parse(product_id).expect("a product id");
        let product = self.app.store.get_product(&id, shared::store::Read::Latest).await.expect("reading a product");
        product.expect("the product exists").stock
    }

    /// Every PaymentIntent of `amount` cents at the shared localstripe: with a price no other
    /// test uses ([`unique_price`]), the intents one test made.
    pub async fn intents_of_amount(&self, amount: u64) -> Vec<Value> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = "v1/payment_intents?limit=100".to_owned();
            if let Some(id) = &after {
                path.push_str(&format!("&starting_after={id}"));
            }
            let (status, body) =
                local::stripe::request(&stripe_api_base(), &self.stripe_keys.secret_key, "GET", &path, &[])
                    .await
                    .expect("listing intents at localstripe");
            assert_eq!(status, 200, "{body}");
            let page = body["data"].as_array().cloned().unwrap_or_default();
            found.extend(page.iter().filter(|i| i["amount"] == json!(amount)).cloned());
            if body["has_more"] != json!(true) || page.is_empty() {
                return found;
            }
            after = page.last().and_then(|i| i["id"].as_str()).map(str::to_owned);
        }
    }

    /// The order as its customer sees it.
    pub async fn fetch_order(&self, user: &User, order: &Value) -> Value {
        let id = order["id"].as_str().expect("an order id");
        let response = self.get(&format!("/orders/{id}")).auth(user).send().await;
        response.expect(200);
        response.json()
    }

    pub fn stripe_api_base(&self) -> String {
        stripe_api_base()
    }

    /// Pays `order`'s intent at localstripe with `card`, and returns the PaymentIntent as
    /// localstripe then has it.
    pub async fn confirm_at_stripe(&self, order: &Value, card: local::stripe::TestCard) -> Value {
        let intent = order["payment"]["payment_intent_id"].as_str().expect("an intent id");
        local::stripe::confirm_with_test_card(&stripe_api_base(), &self.stripe_keys.secret_key, intent, card)
            .await
            .expect("confirming at localstripe")
    }

    /// A Stripe event of `kind` about `intent` (a PaymentIntent's JSON), as Stripe sends it.
    pub fn stripe_event(&self, kind: &str, intent: &Value) -> Value {
        json!({
            "id": format!("evt_{}", ulid::Ulid::new()),
            "object": "event",
            "api_version": "2024-06-20",
            "created": SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default(),
            "type": kind,
            "data": {"object": intent},
        })
    }

    /// Delivers `event` to `POST /webhooks/stripe`, signed with this stack's webhook secret.
    pub async fn deliver(&self, event: &Value) -> TestResponse {
        let body = event.to_string();
        let secret = shared::config::Secret::new(self.stripe_keys.webhook_secret.clone());
        let signature = shared::payments::webhook::sign(&secret, body.as_bytes(), self.clock.now());
        self.deliver_raw(&body, &signature).await
    }

    /// Delivers `body` with this `Stripe-Signature` header, as it is.
    pub async fn deliver_raw(&self, body: &str, signature: &str) -> TestResponse {
        self.request("POST", "/webhooks/stripe")
            .header("stripe-signature", signature)
            .raw_body("application/json; charset=utf-8", body)
            .send()
            .await
    }

    /// Pays `order` at localstripe and delivers the `payment_intent.succeeded` event.
    pub async fn pay(&self, order: &Value) -> Value {
        let intent = self.confirm_at_stripe(order, local::stripe::TestCard::Visa).await;
        assert_eq!(intent["status"], "succeeded", "{intent}");
        self.deliver(&self.stripe_event("payment_intent.succeeded", &intent)).await.expect(200);
        self.fetch_order(&self.customer_of(order), order).await
    }

    /// Reports a declined card on `order`'s intent as Stripe does, and returns the event (to
    /// deliver again): a `payment_intent.payment_failed` whose intent (as localstripe has it)
    /// is back to `requires_payment_method`, with the issuer's `decline_code` in its
    /// `last_payment_error`.
    ///
    /// Made here rather than by declining a card at localstripe, because localstripe declines
    /// an intent once and then refuses to confirm it again (after a failed charge it stays
    /// `requires_payment_method` whatever card is set), where Stripe lets the customer try
    /// another card on the same intent. [`Self::confirm_at_stripe`] with
    /// `TestCard::Declined` is localstripe's own, first, decline.
    pub async fn decline(&self, order: &Value) -> Value {
        let pi = order["payment"]["payment_intent_id"].as_str().expect("an intent id");
        let mut intent = local::stripe::get_intent(&stripe_api_base(), &self.stripe_keys.secret_key, pi)
            .await
            .expect("reading the intent at localstripe");
        intent["status"] = json!("requires_payment_method");
        intent["last_payment_error"] = json!({
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        });
        let event = self.stripe_event("payment_intent.payment_failed", &intent);
        self.deliver(&event).await.expect(200);
        event
    }

    /// The customer's user id.
    pub fn customer_id(&self) -> shared::domain::UserId {
        shared::domain::UserId::new(self.customer.sub.clone())
    }

    /// `n` more signed-in customers: for a rush of many people, or for more orders left
    /// unpaid at once than one customer may hold (API.md: 3).
    pub async fn customers(&self, n: usize) -> Vec<User> {
        let made = futures::future::try_join_all((0..n).map(|i| {
            let email = format!(
                "shopper{i}.{}.{}@makers-market.test",
                ulid::Ulid::new().to_string().to_lowercase(),
                self.mailbox
            );
            new_user(&self.aws, &self.pool, "shopper", email, &[])
        }))
        .await
        .expect("creating customers in the user pool");
        if let Ok(mut shoppers) = self.shoppers.lock() {
            shoppers.extend(made.iter().cloned());
        }
        made
    }

    /// The test user who placed `order`.
    pub fn customer_of(&self, order: &Value) -> User {
        let shoppers = self.shoppers.lock().map(|s| s.clone()).unwrap_or_default();
        [&self.customer, &self.other_customer, &self.maker, &self.other_maker, &self.admin]
            .into_iter()
            .chain(shoppers.iter())
            .find(|u| order["customer_id"].as_str() == Some(u.sub.as_str()))
            .cloned()
            .expect("an order of a test user")
    }
}
