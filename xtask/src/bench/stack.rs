//! The emulated side of a benchmark run: DynamoDB Local (DynamoDB), moto (Cognito, Secrets
//! Manager) and localstripe (Stripe) on free ports, provisioned and seeded by the same
//! `local::provision` code as `cargo xtask dev`, with a counting proxy in front of DynamoDB
//! Local and one in front of localstripe; access tokens for a maker and four customers; ALB
//! events for every function.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use local::emulators::{Emulator, EmulatorOptions};
use local::provision::{ProvisionOptions, Provisioned, SecretIds, SecretsOptions, StripeKeys};
use serde_json::{Value, json};

use super::proxy::{CountBy, CountingProxy};

pub const REGION: &str = "us-east-1";
const TABLE: &str = "bench";
/// The cursor secret's id for runs without an emulator (its fetch fails fast, like the rest).
pub const NO_STACK_CURSOR_SECRET_ID: &str = "bench/cursor-secret";

pub struct Stack {
    moto: Emulator,
    dynamodb: Emulator,
    stripe: Emulator,
    /// Counts DynamoDB calls (in front of DynamoDB Local).
    pub proxy: CountingProxy,
    /// Counts Stripe calls (in front of localstripe).
    pub stripe_proxy: CountingProxy,
    pub provisioned: Provisioned,
    secrets: SecretIds,
    pub stripe_keys: StripeKeys,
    pub maker_token: String,
    pub customer_token: String,
    /// The seeded customer's and three more customers' tokens (the rush's four customers).
    pub customer_tokens: Vec<String>,
    maker_id: String,
    /// The maker's active products, as seeded.
    products: Vec<String>,
}

/// Customers besides the seeded one, created for the rush (four customers in all).
const EXTRA_CUSTOMERS: [&str; 3] = [
    "bench-customer-2@makers-market.test",
    "bench-customer-3@makers-market.test",
    "bench-customer-4@makers-market.test",
];

impl Stack {
    pub async fn start(root: &Path, log_dir: &Path) -> anyhow::Result<Stack> {
        let root_owned = root.to_owned();
        let venv = tokio::task::spawn_blocking(move || local::venv::ensure_emulators(&root_owned))
            .await
            .context("the venv task panicked")??;
        let opts = EmulatorOptions::new(None, log_dir);
        let (moto, dynamodb, stripe) = tokio::try_join!(
            local::emulators::start_moto(&venv, &opts),
            local::emulators::start_dynamodb_local(&opts),
            local::emulators::start_localstripe(&venv, &opts)
        )?;
        // DynamoDB Local cannot be bound to loopback: it listens on every interface.
        eprintln!("bench: DynamoDB Local on port {} (all interfaces)", dynamodb.port());
        let proxy =
            CountingProxy::start(SocketAddr::from(([127, 0, 0, 1], dynamodb.port())), CountBy::AmzTarget).await?;
        let stripe_proxy =
            CountingProxy::start(SocketAddr::from(([127, 0, 0, 1], stripe.port())), CountBy::RequestLine).await?;
        let aws = local::provision::sdk_config_with_dynamodb(&moto.url(), &dynamodb.url(), REGION).await;
        let provisioned = local::provision::provision(
            &aws,
            &ProvisionOptions {
                table_name: TABLE.to_owned(),
                user_pool_name: "bench".to_owned(),
                // The functions here are given no EVENT_BUS_NAME: the default one.
                event_bus_name: shared::config::DEFAULT_EVENT_BUS_NAME.to_owned(),
                seed: true,
            },
        )
        .await
        .context("provisioning the benchmark table and user pool")?;
        // The notifier and the post-confirmation trigger send from the default sender.
        local::notifications::verify_sender(&aws, shared::config::DEFAULT_MAIL_FROM).await?;
        let stripe_keys = StripeKeys {
            secret_key: format!("sk_test_bench{}", crate::cli::random_hex(24)),
            webhook_secret: format!("whsec_{}", crate::cli::random_hex(32)),
        };
        let secrets = local::provision::create_secrets(
            &aws,
            &SecretsOptions { stack: TABLE.to_owned(), stripe: Some(stripe_keys.clone()) },
        )
        .await
        .context("creating the benchmark secrets")?;
        let users = &provisioned.users;
        let pool = &provisioned.cognito;
        let maker_token =
            local::cognito::access_token(&aws, pool, &users.maker.username, &users.maker.password).await?;
        let customer_token =
            local::cognito::access_token(&aws, pool, &users.customer.username, &users.customer.password).await?;
        let mut customer_tokens = vec![customer_token.clone()];
        for name in EXTRA_CUSTOMERS {
            let password = local::provision::DEMO_PASSWORD;
            local::cognito::create_user(&aws, pool, name, password, &[]).await?;
            customer_tokens.push(local::cognito::access_token(&aws, pool, name, password).await?);
        }
        let maker_id = token_sub(&maker_token)?;
        let products = active_products_of(&aws_sdk_dynamodb::Client::new(&aws), &maker_id).await?;
        anyhow::ensure!(
            products.len() >= 3,
            "the seed gave the maker {} active products; 3 are needed",
            products.len()
        );
        Ok(Stack {
            moto,
            dynamodb,
            stripe,
            proxy,
            stripe_proxy,
            provisioned,
            secrets,
            stripe_keys,
            maker_token,
            customer_token,
            customer_tokens,
            maker_id,
            products,
        })
    }

    /// The emulators' process ids, by name (for CPU accounting).
    pub fn emulator_pids(&self) -> Vec<(u32, &'static str)> {
        [(&self.dynamodb, "DynamoDB Local"), (&self.stripe, "localstripe"), (&self.moto, "moto")]
            .into_iter()
            .filter_map(|(e, name)| e.pid().map(|pid| (pid, name)))
            .collect()
    }

    /// SDK configuration for the emulators, DynamoDB Local directly (not through the proxy).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        local::provision::sdk_config_with_dynamodb(&self.moto.url(), &self.dynamodb.url(), REGION).await
    }

    /// localstripe's API base (`http://127.0.0.1:<port>/`), not through the proxy.
    pub fn stripe_api_base(&self) -> String {
        format!("{}/", self.stripe.url())
    }

    /// The function environment pointing at the emulators, DynamoDB and Stripe through the
    /// counting proxies or directly. `stripe`: the Stripe settings too (only the functions
    /// that link Stripe get them in the cloud).
    pub fn function_env(&self, through_proxy: bool, stripe: bool) -> Vec<(String, String)> {
        let dynamodb = if through_proxy { self.proxy.url() } else { self.dynamodb.url() };
        let stripe_base = if through_proxy { format!("{}/", self.stripe_proxy.url()) } else { self.stripe_api_base() };
        let pool = &self.provisioned.cognito;
        let mut env = vec![
            ("AWS_ENDPOINT_URL".to_owned(), self.moto.url()),
            ("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), dynamodb),
            ("TABLE_NAME".to_owned(), self.provisioned.table_name.clone()),
            ("COGNITO_ISSUER".to_owned(), pool.issuer.clone()),
            ("COGNITO_JWKS_URL".to_owned(), pool.jwks_url.clone()),
            ("COGNITO_CLIENT_IDS".to_owned(), pool.client_id.clone()),
            ("CURSOR_SECRET_ID".to_owned(), self.secrets.cursor_secret_id.clone()),
            // Past the proxy, which counts DynamoDB calls only.
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(), self.moto.url()),
        ];
        if stripe {
            let id = self.secrets.stripe_secret_id.clone().unwrap_or_default();
            env.push(("STRIPE_SECRET_ID".to_owned(), id));
            env.push(("STRIPE_API_BASE".to_owned(), stripe_base));
        }
        env
    }

    /// The product read by `get-product` and by the cold-path comparison.
    pub fn product_to_read(&self) -> &str {
        &self.products[0]
    }

    /// The request each function serves in the "one realistic request" run, in the order
    /// they must run (`archive-product` archives a product nobody reads afterwards).
    /// `created` is the id `create-product` returned, if it ran.
    pub fn request_for(&self, function: &str, created: Option<&str>) -> anyhow::Result<Option<(String, Value)>> {
        let product = self.product_to_read();
        let to_update = &self.products[1];
        let to_archive = created.unwrap_or(&self.products[2]);
        let (describe, path, token) = match function {
            "floor" | "health" => ("GET /health".to_owned(), "/health".to_owned(), None),
            "list-products" => ("GET /products?category=ceramics&q=mug…".to_owned(), "/products".to_owned(), None),
            "get-product" => ("GET /products/{id} (anonymous)".to_owned(), format!("/products/{product}"), None),
            "get-maker" => ("GET /makers/{id}".to_owned(), format!("/makers/{}", self.maker_id), None),
            "get-me" => ("GET /me (customer)".to_owned(), "/me".to_owned(), Some(&self.customer_token)),
            "put-me" => ("PUT /me (customer)".to_owned(), "/me".to_owned(), Some(&self.customer_token)),
            "create-product" => ("POST /products (maker)".to_owned(), "/products".to_owned(), Some(&self.maker_token)),
            "update-product" => {
                ("PATCH /products/{id} (maker)".to_owned(), format!("/products/{to_update}"), Some(&self.maker_token))
            }
            "archive-product" => {
                ("DELETE /products/{id} (maker)".to_owned(), format!("/products/{to_archive}"), Some(&self.maker_token))
            }
            _ => return Ok(None),
        };
        let template = if function == "floor" { "health" } else { function };
        let event = event_from_template(template, &path, token.map(String::as_str))?;
        Ok(Some((describe, event)))
    }

    pub async fn stop(self) {
        drop(self.proxy);
        drop(self.stripe_proxy);
        self.moto.stop().await;
        self.dynamodb.stop().await;
        self.stripe.stop().await;
    }
}

/// `events/<name>.json` with its path and `Authorization` header replaced.
pub fn event_from_template(name: &str, path: &str, token: Option<&str>) -> anyhow::Result<Value> {
    let file = super::root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut event: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    event["path"] = json!(path);
    if let Some(headers) = event.get_mut("headers").and_then(Value::as_object_mut) {
        headers.remove("authorization");
        if let Some(token) = token {
            headers.insert("authorization".to_owned(), json!(format!("Bearer {token}")));
        }
    }
    Ok(event)
}

/// An ALB event for `GET <path>` with no template (for functions without an event file).
pub fn plain_get(path: &str) -> Value {
    json!({
        "requestContext": { "elb": { "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/bench/0" } },
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": {},
        "headers": { "accept": "application/json", "host": "localhost" },
        "body": "",
        "isBase64Encoded": false
    })
}

/// The `sub` claim of a JWT (read, not verified: we just got it from the pool).
pub fn token_sub(token: &str) -> anyhow::Result<String> {
    let payload = token.split('.').nth(1).context("the access token is not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .context("the access token's payload is not base64url")?;
    let claims: BTreeMap<String, Value> = serde_json::from_slice(&bytes).context("the access token's payload")?;
    claims.get("sub").and_then(Value::as_str).map(str::to_owned).context("the access token has no sub")
}

async fn active_products_of(client: &aws_sdk_dynamodb::Client, maker_id: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(TABLE)
            .filter_expression("sk = :sk AND maker_id = :maker AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sk", AttributeValue::S("PRODUCT".to_owned()))
            .expression_attribute_values(":maker", AttributeValue::S(maker_id.to_owned()))
            .expression_attribute_values(":active", AttributeValue::S("active".to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("scanning for the seeded products")?;
        ids.extend(out.items().iter().filter_map(|i| i.get("id")).filter_map(|v| v.as_s().ok()).cloned());
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    ids.sort();
    Ok(ids)
}
