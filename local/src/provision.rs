//! Creating a stack's resources on the emulator: the table, the user pool, the event bus,
//! the secrets in Secrets Manager and, for `cargo xtask dev`, demo users, shops and products — written
//! through the same store code the functions use.

use crate::cognito::{self, CognitoPool};
use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::{Deserialize, Serialize};
use shared::auth::Principal;
use shared::domain::{
    Address, NewProduct, ProductId, ProductInput, ProfileInput, ProfileUpdate, Role, SystemClock, Timestamp, UserId,
};
use shared::store::Store;

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "Makers-Market-2026";

/// SDK configuration for the emulator at `endpoint_url`, with dummy credentials (the SDK
/// would otherwise look for real ones, slowly).
pub async fn sdk_config(endpoint_url: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "local"))
        .load()
        .await
}

/// SDK configuration for the local stack: DynamoDB clients built from it go to DynamoDB
/// Local at `dynamodb_endpoint_url`, every other client (Cognito, SES, EventBridge, SQS,
/// Secrets Manager) to moto at `aws_endpoint_url` — what the functions get from
/// `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL`. `endpoint_url()` stays moto's.
pub async fn sdk_config_with_dynamodb(aws_endpoint_url: &str, dynamodb_endpoint_url: &str, region: &str) -> SdkConfig {
    let mut builder = sdk_config(aws_endpoint_url, region).await.into_builder();
    // A service client ignores service-specific endpoints when the shared one was set in
    // code; mark it as coming from the environment, as it does for the functions, so that
    // the DynamoDB client asks the service config below first.
    builder.insert_origin("endpoint_url", aws_types::origin::Origin::shared_environment_variable());
    builder.service_config(DynamoDbEndpoint(dynamodb_endpoint_url.to_owned())).build()
}

/// The service-specific configuration of [`sdk_config_with_dynamodb`]: an endpoint for
/// DynamoDB, nothing else (so a stray `AWS_ENDPOINT_URL_*` in the caller's environment
/// cannot send a client elsewhere).
#[derive(Debug)]
struct DynamoDbEndpoint(String);

impl aws_types::service_config::LoadServiceConfig for DynamoDbEndpoint {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        (key.service_id() == "DynamoDB" && key.profile() == "endpoint_url").then(|| self.0.clone())
    }
}

#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    pub table_name: String,
    pub user_pool_name: String,
    /// The EventBridge bus order events go to (`EVENT_BUS_NAME`), made on moto.
    pub event_bus_name: String,
    /// Demo users, shops and products.
    pub seed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    /// What the user signs in with: their email address (the pool signs users in by
    /// email, as the template's does).
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUsers {
    pub customer: DemoUser,
    pub maker: DemoUser,
    pub admin: DemoUser,
    /// A second maker, to see what one maker may not do to another's products.
    pub other_maker: DemoUser,
    /// More customers, each with a shipping address: a customer may hold at most 3 unpaid
    /// orders, so tests that leave orders unpaid each take their own.
    #[serde(default)]
    pub shoppers: Vec<DemoUser>,
}

/// The names of [`DemoUsers::shoppers`].
const SHOPPERS: [&str; 6] = ["bea", "carlos", "dina", "eli", "filipa", "gil"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provisioned {
    pub table_name: String,
    pub cognito: CognitoPool,
    pub users: DemoUsers,
}

fn demo(name: &str) -> DemoUser {
    DemoUser { username: format!("{name}@makers-market.test"), password: DEMO_PASSWORD.to_owned() }
}

pub async fn provision(aws: &SdkConfig, opts: &ProvisionOptions) -> Result<Provisioned> {
    let dynamo = aws_sdk_dynamodb::Client::new(aws);
    shared::store::schema::create_table(&dynamo, &opts.table_name).await.context("creating the table")?;
    create_event_bus(aws, &opts.event_bus_name).await?;
    let pool = cognito::create_pool(aws, &opts.user_pool_name).await?;
    let users = DemoUsers {
        customer: demo("ada"),
        maker: demo("maria"),
        admin: demo("admin"),
        other_maker: demo("joao"),
        shoppers: SHOPPERS.iter().map(|name| demo(name)).collect(),
    };
    if opts.seed {
        let store = Store::new(dynamo, &opts.table_name);
        seed(aws, &store, &pool, &users).await.context("seeding demo data")?;
    }
    Ok(Provisioned { table_name: opts.table_name.clone(), cognito: pool, users })
}

/// Creates the EventBridge bus `name` (on moto), unless it exists: clients put their own
/// rules on it.
pub async fn create_event_bus(aws: &SdkConfig, name: &str) -> Result<()> {
    let client = aws_sdk_eventbridge::Client::new(aws);
    match client.create_event_bus().name(name).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err.as_service_error().is_some_and(
                aws_sdk_eventbridge::operation::create_event_bus::CreateEventBusError::is_resource_already_exists_exception,
            ) =>
        {
            Ok(())
        }
        Err(err) => Err(err).with_context(|| format!("creating the event bus {name}")),
    }
}

/// What [`create_secrets`] stores: the secrets the functions read at run time.
#[derive(Clone)]
pub struct SecretsOptions {
    /// Names the secrets (`{stack}/cursor-secret`, `{stack}/stripe`): the table name, so
    /// each test context has its own.
    pub stack: String,
    /// Stripe's keys; `None`: no Stripe secret.
    pub stripe: Option<StripeKeys>,
}

/// The values of the Stripe secret (`{"secret_key": …, "webhook_secret": …}`).
#[derive(Clone)]
pub struct StripeKeys {
    pub secret_key: String,
    pub webhook_secret: String,
}

impl std::fmt::Debug for StripeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeKeys(***)")
    }
}

impl std::fmt::Debug for SecretsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsOptions").field("stack", &self.stack).field("stripe", &self.stripe).finish()
    }
}

/// The ids (ARNs) of the secrets made: all the functions are given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretIds {
    pub cursor_secret_id: String,
    pub stripe_secret_id: Option<String>,
}

/// The name of a stack's cursor-signing secret.
pub fn cursor_secret_name(stack: &str) -> String {
    format!("{stack}/cursor-secret")
}

/// The name of a stack's Stripe secret.
pub fn stripe_secret_name(stack: &str) -> String {
    format!("{stack}/stripe")
}

/// Creates the stack's secrets in Secrets Manager: a random cursor key (as the template's
/// `GenerateSecretString` makes it: 64 letters and digits, from Secrets Manager itself) and,
/// if given, the Stripe keys as JSON.
pub async fn create_secrets(aws: &SdkConfig, opts: &SecretsOptions) -> Result<SecretIds> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let random = client
        .get_random_password()
        .password_length(64)
        .exclude_punctuation(true)
        .send()
        .await
        .context("generating the cursor secret")?;
    let cursor = random.random_password().context("Secrets Manager returned no random password")?;
    let cursor_secret_id = create_secret(&client, &cursor_secret_name(&opts.stack), cursor).await?;
    let stripe_secret_id = match &opts.stripe {
        Some(keys) => {
            let json = serde_json::json!({"secret_key": keys.secret_key, "webhook_secret": keys.webhook_secret});
            Some(create_secret(&client, &stripe_secret_name(&opts.stack), &json.to_string()).await?)
        }
        None => None,
    };
    Ok(SecretIds { cursor_secret_id, stripe_secret_id })
}

/// Creates a secret, returning its ARN.
async fn create_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> Result<String> {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .with_context(|| format!("creating the secret {name}"))?;
    created.arn().map(str::to_owned).with_context(|| format!("Secrets Manager returned no ARN for {name}"))
}

struct Shop {
    user: DemoUser,
    display_name: &'static str,
    bio: &'static str,
    location: &'static str,
    products: &'static [(&'static str, &'static str, u64, u64, &'static str)],
}

const MARIA_PRODUCTS: &[(&str, &str, u64, u64, &str)] = &[
    ("Speckled stoneware mug", "Wheel-thrown, 350 ml, dishwasher safe.", 2400, 12, "ceramics"),
    ("Blue glaze serving bowl", "A wide bowl for salads and fruit.", 5800, 4, "ceramics"),
    ("Set of four espresso cups", "Matte white outside, cobalt inside.", 3600, 8, "ceramics"),
    ("Terracotta herb planter", "Unglazed, with a drainage hole and saucer.", 2900, 15, "ceramics"),
    ("Porcelain bud vase", "Slip-cast and hand-finished.", 1900, 20, "ceramics"),
    ("Linen table runner", "Hand-woven natural linen, 180 cm.", 4500, 6, "textiles"),
    ("Wool throw blanket", "Merino and alpaca, 130 × 170 cm.", 12900, 3, "textiles"),
];

const JOAO_PRODUCTS: &[(&str, &str, u64, u64, &str)] = &[
    ("Olive wood cutting board", "Oiled olive wood, each grain unique.", 3900, 10, "woodwork"),
    ("Walnut serving spoon", "Carved from one piece of walnut.", 2200, 25, "woodwork"),
    ("Oak wall shelf", "Solid oak, 60 cm, with hidden brackets.", 7500, 5, "woodwork"),
    ("Cherry wood jewellery box", "Dovetailed, lined with felt.", 8900, 2, "woodwork"),
    ("Hand-dyed cotton tote bag", "Indigo-dyed, reinforced handles.", 1800, 30, "textiles"),
    ("Cork and oak coasters", "Set of six.", 1500, 40, "woodwork"),
];

/// Creates the demo customer `user` (`display_name`) with an address to ship to, as after a
/// first order.
async fn seed_customer(
    aws: &SdkConfig,
    store: &Store,
    pool: &CognitoPool,
    user: &DemoUser,
    display_name: &str,
) -> Result<()> {
    let sub = cognito::create_user(aws, pool, &user.username, &user.password, &[]).await?;
    let customer = Principal { user_id: UserId::new(sub.clone()), username: sub, roles: vec![Role::Customer] };
    let profile = ProfileUpdate::parse(
        ProfileInput {
            display_name: display_name.to_owned(),
            shipping_address: Some(Address {
                name: display_name.to_owned(),
                line1: "12 Rue des Artisans".to_owned(),
                line2: None,
                city: "Lyon".to_owned(),
                postal_code: "69001".to_owned(),
                country: "FR".to_owned(),
            }),
            bio: None,
            location: None,
        },
        false,
    )?;
    store.put_profile(&customer, &profile, &Timestamp::now(&SystemClock)).await?;
    Ok(())
}

async fn seed(aws: &SdkConfig, store: &Store, pool: &CognitoPool, users: &DemoUsers) -> Result<()> {
    seed_customer(aws, store, pool, &users.customer, "Ada Lovelace").await?;
    for (shopper, name) in users.shoppers.iter().zip(SHOPPERS) {
        let mut display = name.to_owned();
        display[..1].make_ascii_uppercase();
        seed_customer(aws, store, pool, shopper, &format!("{display} Shopper")).await?;
    }
    cognito::create_user(aws, pool, &users.admin.username, &users.admin.password, &["admins"]).await?;
    let shops = [
        Shop {
            user: users.maker.clone(),
            display_name: "Maria's Ceramics",
            bio: "Stoneware and porcelain, thrown and glazed by hand in Porto.",
            location: "Porto, Portugal",
            products: MARIA_PRODUCTS,
        },
        Shop {
            user: users.other_maker.clone(),
            display_name: "João Woodworks",
            bio: "Kitchen and home pieces from Portuguese hardwoods.",
            location: "Braga, Portugal",
            products: JOAO_PRODUCTS,
        },
    ];
    for shop in shops {
        let sub = cognito::create_user(aws, pool, &shop.user.username, &shop.user.password, &["makers"]).await?;
        // Cognito names a user of an email pool by their sub.
        let maker =
            Principal { user_id: UserId::new(sub.clone()), username: sub, roles: vec![Role::Customer, Role::Maker] };
        let profile = ProfileUpdate::parse(
            ProfileInput {
                display_name: shop.display_name.to_owned(),
                shipping_address: Some(Address {
                    name: shop.display_name.to_owned(),
                    line1: "Rua das Flores 12".to_owned(),
                    line2: None,
                    city: shop.location.split(',').next().unwrap_or("Porto").to_owned(),
                    postal_code: "4050-262".to_owned(),
                    country: "PT".to_owned(),
                }),
                bio: Some(shop.bio.to_owned()),
                location: Some(shop.location.to_owned()),
            },
            true,
        )?;
        store.put_profile(&maker, &profile, &Timestamp::now(&SystemClock)).await?;
        for (title, description, price_cents, stock, category) in shop.products {
            let input = ProductInput {
                title: (*title).to_owned(),
                description: (*description).to_owned(),
                price_cents: *price_cents as i64,
                currency: None,
                stock: *stock as i64,
                category: (*category).to_owned(),
                // No photos: the demo has no image host; the shop shows its placeholder.
                images: Vec::new(),
            };
            let product = NewProduct::parse(input)?.into_product(
                ProductId::generate(),
                maker.user_id.clone(),
                Timestamp::now(&SystemClock),
            );
            store.create_product(&product, &maker.username).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts one connection on a fresh loopback port and reports that it came.
    async fn listener() -> (String, tokio::sync::oneshot::Receiver<()>) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            if listener.accept().await.is_ok() {
                let _ = tx.send(());
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn the_stack_config_sends_dynamodb_to_dynamodb_local_and_cognito_to_moto() {
        let (moto, mut moto_hit) = listener().await;
        let (dynamodb, mut dynamodb_hit) = listener().await;
        let aws = sdk_config_with_dynamodb(&moto, &dynamodb, "eu-west-1").await;
        assert_eq!(aws.endpoint_url(), Some(moto.as_str()));
        let timeout = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .operation_timeout(std::time::Duration::from_millis(500))
            .build();
        let aws = aws.into_builder().timeout_config(timeout).build();

        // The listeners never answer: only where each request went matters.
        let _ = aws_sdk_dynamodb::Client::new(&aws).list_tables().send().await;
        assert!(dynamodb_hit.try_recv().is_ok(), "DynamoDB did not go to DynamoDB Local");
        assert!(moto_hit.try_recv().is_err(), "DynamoDB went to moto");

        let _ = aws_sdk_cognitoidentityprovider::Client::new(&aws).list_user_pools().max_results(1).send().await;
        assert!(moto_hit.try_recv().is_ok(), "Cognito did not go to moto");
    }
}
