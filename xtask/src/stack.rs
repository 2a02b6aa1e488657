//! The local stack as `dev` and `test` bring it up: DynamoDB Local (DynamoDB), moto (the
//! rest of AWS) and localstripe, the resources and
//! demo data, the functions behind the local ALB, the scheduled ones, and the order events
//! publisher fed by the table's stream — and `.local/stack.json`, which tells clients (and
//! `cargo xtask token`) where everything is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use local::alb::{Alb, AlbOptions};
use local::cognito::CognitoPool;
use local::cognito_pump::CognitoPump;
use local::emulators::{self, Emulator, EmulatorOptions};
use local::notifications::{NotifierQueues, Pump, PumpOptions};
use local::photos::PhotoStorage;
use local::provision::{self, DemoUsers, ProvisionOptions, SecretIds, SecretsOptions, StripeKeys};
use local::scheduler::{Schedule, Scheduler, SchedulerOptions};
use local::streams::{StreamPump, StreamPumpOptions};
use local::venv::Venv;
use serde::{Deserialize, Serialize};

pub const REGION: &str = "eu-west-1";
pub const TABLE_NAME: &str = "makers-market";
pub const USER_POOL_NAME: &str = "makers-market";
pub const EVENT_BUS_NAME: &str = "makers-market";
/// The product photos bucket on moto's S3.
pub const PHOTOS_BUCKET: &str = "makers-market-photos";
/// The function the photos bucket's notifications feed (through an SQS queue).
pub const PHOTOS_FUNCTION: &str = "photo-renditions";
/// The functions EventBridge schedules invoke in the cloud (`rate(1 minute)`), each with
/// how often it runs locally: its own interval, or (`None`) [`StackOptions::schedule_every`].
/// The delivery simulator ticks every second, since its dwell is seconds locally.
pub const SCHEDULED_FUNCTIONS: &[(&str, Option<Duration>)] =
    &[("payment-expirer", None), ("delivery-simulator", Some(Duration::from_secs(1)))];
/// The function the table's stream feeds (an event source mapping in the cloud).
pub const STREAM_FUNCTION: &str = "order-events";
/// Where the stream pump describes the batches it gave up on (the mapping's on-failure
/// destination in the cloud).
pub const STREAM_FAILURE_QUEUE: &str = "makers-market-order-events-failures";
/// How often the local stack runs the scheduled functions, unless told otherwise.
pub const DEFAULT_SCHEDULE_EVERY: Duration = Duration::from_secs(5);

/// `.local/stack.json`: what a client of the running stack needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackInfo {
    pub api_url: String,
    pub region: String,
    /// moto: Cognito, SES, EventBridge, SQS, Secrets Manager.
    pub aws_endpoint_url: String,
    /// DynamoDB Local: DynamoDB (the functions' `AWS_ENDPOINT_URL_DYNAMODB`).
    pub dynamodb_endpoint_url: String,
    pub cognito: CognitoPool,
    pub stripe: StripeInfo,
    /// Where the functions' secrets are in Secrets Manager (moto): ids only.
    pub secrets: SecretIds,
    pub table_name: String,
    pub event_bus_name: String,
    /// The notifier's rule → queue → dead-letter queue on moto (the sender is verified).
    #[serde(default)]
    pub notifier: Option<NotifierQueues>,
    /// The photos bucket on moto's S3 and its notification queue.
    #[serde(default)]
    pub photos: Option<PhotoStorage>,
    pub users: DemoUsers,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StripeInfo {
    /// Base URL for Stripe clients (`{api_base}v1/…`), with a trailing slash.
    pub api_base: String,
    pub secret_key: String,
    /// For Stripe.js in a page (`Stripe(publishable_key)`); localstripe takes any `pk_…` key.
    /// Absent from stack files written before it existed.
    #[serde(default)]
    pub publishable_key: String,
    pub webhook_secret: String,
}

/// Ports (`None`: a free one) and where output goes.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub alb_port: Option<u16>,
    pub moto_port: Option<u16>,
    pub dynamodb_port: Option<u16>,
    pub stripe_port: Option<u16>,
    /// Name the flags that choose the ports in busy-port errors (`dev`).
    pub port_flags: bool,
    pub bin_dir: PathBuf,
    pub log_dir: PathBuf,
    pub echo_logs: bool,
    pub access_log: bool,
    /// Run [`SCHEDULED_FUNCTIONS`] that have no interval of their own this often (`None`:
    /// run no scheduled function at all).
    pub schedule_every: Option<Duration>,
    /// The functions' `DELIVERY_DWELL_SECONDS` (`None`: their default, 2 minutes).
    pub delivery_dwell: Option<Duration>,
    /// The functions' `PAYMENT_WINDOW_SECONDS` (`None`: their default, 30 minutes).
    pub payment_window: Option<Duration>,
    /// Where the functions reach DynamoDB, if not DynamoDB Local itself: a fault-injecting
    /// proxy in front of it (`cargo xtask soak`). The stream pump, which stands for AWS's
    /// event source mapping, still reads the stream directly.
    pub functions_dynamodb_url: Option<String>,
    /// Where the functions reach Stripe, if not localstripe itself (`…/`, with the trailing
    /// slash): a counting proxy in front of it (`cargo xtask bench capacity`). The webhook
    /// registration and `.local/stack.json` still name localstripe.
    pub functions_stripe_url: Option<String>,
    /// Processes the local ALB runs per function at most (`--max-instances`): requests
    /// beyond wait for a free one, as they would for Lambda's reserved concurrency.
    pub max_instances: usize,
    /// Start localstripe with this state file, so that it can be restarted without losing
    /// its objects (`cargo xtask soak`).
    pub stripe_state_file: Option<PathBuf>,
}

impl StackOptions {
    /// A stack for a test or a benchmark: free ports, quiet, the scheduled functions at
    /// the default interval, the functions' own dwell and payment window.
    pub fn on_free_ports(bin_dir: impl Into<PathBuf>, log_dir: impl Into<PathBuf>) -> Self {
        Self {
            alb_port: None,
            moto_port: None,
            dynamodb_port: None,
            stripe_port: None,
            port_flags: false,
            bin_dir: bin_dir.into(),
            log_dir: log_dir.into(),
            echo_logs: false,
            access_log: false,
            schedule_every: Some(DEFAULT_SCHEDULE_EVERY),
            delivery_dwell: None,
            payment_window: None,
            functions_dynamodb_url: None,
            functions_stripe_url: None,
            max_instances: local::alb::DEFAULT_MAX_INSTANCES,
            stripe_state_file: None,
        }
    }
}

/// Everything running. Dropping it stops it all; [`Stack::down`] does so in order.
pub struct Stack {
    pub info: StackInfo,
    pub moto: Emulator,
    pub dynamodb: Emulator,
    pub stripe: Emulator,
    pub alb: Alb,
    pub scheduler: Scheduler,
    /// The table's stream → [`STREAM_FUNCTION`].
    pub streams: StreamPump,
    /// Order events from the notifier queue to the notifier.
    pub notifier: Pump,
    /// Photo originals' S3 notifications from their queue to the image function.
    pub photos: Pump,
    /// Cognito's codes by email and its post-confirmation trigger (see `local::cognito_pump`).
    pub cognito: CognitoPump,
    pub aws: aws_config::SdkConfig,
}

impl Stack {
    pub async fn up(venv: &Venv, opts: &StackOptions) -> anyhow::Result<Stack> {
        let flag = |f: &str| opts.port_flags.then(|| f.to_owned());
        let mut moto_opts = EmulatorOptions::new(opts.moto_port, &opts.log_dir);
        moto_opts.port_flag = flag("--moto-port");
        let mut dynamodb_opts = EmulatorOptions::new(opts.dynamodb_port, &opts.log_dir);
        dynamodb_opts.port_flag = flag("--dynamodb-port");
        let mut stripe_opts = EmulatorOptions::new(opts.stripe_port, &opts.log_dir);
        stripe_opts.port_flag = flag("--stripe-port");

        eprintln!("xtask: starting DynamoDB Local, moto and localstripe …");
        let (dynamodb, moto, stripe) = tokio::try_join!(
            emulators::start_dynamodb_local(&dynamodb_opts),
            emulators::start_moto(venv, &moto_opts),
            emulators::start_localstripe_with_state(venv, &stripe_opts, opts.stripe_state_file.as_deref())
        )?;
        // DynamoDB Local cannot be bound to loopback: it listens on every interface.
        eprintln!(
            "xtask: DynamoDB Local on {} (all interfaces), moto on {}, localstripe on {}",
            dynamodb.url(),
            moto.url(),
            stripe.url()
        );

        let aws = provision::sdk_config_with_dynamodb(&moto.url(), &dynamodb.url(), REGION).await;
        eprintln!("xtask: creating the table, the user pool and demo data …");
        let provisioned = provision::provision(
            &aws,
            &ProvisionOptions {
                table_name: TABLE_NAME.into(),
                user_pool_name: USER_POOL_NAME.into(),
                event_bus_name: EVENT_BUS_NAME.into(),
                seed: true,
            },
        )
        .await
        .context("provisioning the local stack on DynamoDB Local and moto")?;

        let stripe_info = StripeInfo {
            api_base: format!("{}/", stripe.url()),
            secret_key: format!("sk_test_local{}", crate::cli::random_hex(24)),
            publishable_key: format!("pk_test_local{}", crate::cli::random_hex(24)),
            webhook_secret: format!("whsec_{}", crate::cli::random_hex(32)),
        };
        let secrets = provision::create_secrets(
            &aws,
            &SecretsOptions {
                stack: provisioned.table_name.clone(),
                stripe: Some(StripeKeys {
                    secret_key: stripe_info.secret_key.clone(),
                    webhook_secret: stripe_info.webhook_secret.clone(),
                }),
            },
        )
        .await
        .context("creating the secrets on moto")?;

        let mut alb_opts = AlbOptions::new(&opts.bin_dir, &opts.log_dir, REGION);
        alb_opts.port = opts.alb_port;
        alb_opts.port_flag = flag("--port");
        alb_opts.prewarm = true;
        alb_opts.max_instances = opts.max_instances.max(1);
        alb_opts.echo_logs = opts.echo_logs;
        alb_opts.access_log = opts.access_log;
        let mut env = function_env(
            &moto.url(),
            &provisioned.table_name,
            &provisioned.cognito,
            &stripe_info,
            &secrets,
            opts.payment_window,
        );
        // The photos bucket (moto's S3): CORS for the local shop's origin, and its
        // originals' notifications → an SQS queue, pumped to the image function below.
        let photo_storage =
            local::photos::provision(&aws, &moto.url(), PHOTOS_BUCKET, &["http://127.0.0.1:*", "http://localhost:*"])
                .await
                .context("creating the photos bucket and its queue on moto")?;
        env.extend(photo_storage.env());
        // Read by the SDK before AWS_ENDPOINT_URL: DynamoDB on DynamoDB Local, the rest on moto.
        let functions_dynamodb = opts.functions_dynamodb_url.clone().unwrap_or_else(|| dynamodb.url());
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), functions_dynamodb));
        if let Some(stripe) = &opts.functions_stripe_url {
            env.retain(|(k, _)| k != "STRIPE_API_BASE");
            env.push(("STRIPE_API_BASE".to_owned(), stripe.clone()));
        }
        if let Some(dwell) = opts.delivery_dwell {
            env.push(("DELIVERY_DWELL_SECONDS".to_owned(), dwell.as_secs().max(1).to_string()));
        }
        alb_opts.env = env.clone();
        let alb = Alb::start(alb_opts).await?;

        // What the Stripe dashboard's webhook endpoint is in the cloud. localstripe keeps it
        // in memory, so it is registered at every start.
        let webhook_url = format!("{}/webhooks/stripe", alb.url().trim_end_matches('/'));
        local::stripe::register_webhook(&stripe_info.api_base, &webhook_url, &stripe_info.webhook_secret)
            .await
            .context("registering the Stripe webhook with localstripe")?;

        // After the webhook, so that what a scheduled function does at Stripe is delivered.
        let mut scheduler_opts = SchedulerOptions::new(&opts.bin_dir, &opts.log_dir, REGION);
        scheduler_opts.schedules = opts
            .schedule_every
            .map(|every| SCHEDULED_FUNCTIONS.iter().map(|(f, own)| Schedule::new(*f, own.unwrap_or(every))).collect())
            .unwrap_or_default();
        scheduler_opts.env = env.clone();
        scheduler_opts.echo_logs = opts.echo_logs;
        let scheduler = Scheduler::start(scheduler_opts).await?;

        // EventBridge rule → SQS queue (moto) → the notifier binary, with retries and a DLQ.
        let queues = local::notifications::provision(&aws, EVENT_BUS_NAME, shared::config::DEFAULT_MAIL_FROM)
            .await
            .context("creating the notifier's rule and queues on moto")?;
        let invoke = local::notifications::binary_invoker(&opts.bin_dir, &opts.log_dir, &env, opts.echo_logs)?;
        let notifier = Pump::new(&aws, PumpOptions::new(&queues.queue_url), invoke).run();
        // S3 notification → SQS queue (moto) → the image function, as an SQS event source.
        let renditions = local::notifications::function_invoker(
            PHOTOS_FUNCTION,
            &opts.bin_dir,
            &opts.log_dir,
            &env,
            opts.echo_logs,
        )?;
        let photos =
            Pump::new(&aws, PumpOptions::new(&photo_storage.queue_url), local::photos::sqs_invoker(renditions)).run();

        // What Cognito does after a sign-up: the codes by email, the post-confirmation trigger.
        let post_confirmation = local::notifications::function_invoker(
            "post-confirmation",
            &opts.bin_dir,
            &opts.log_dir,
            &env,
            opts.echo_logs,
        )?;
        let cognito = CognitoPump::start(
            &aws,
            emulators::cognito_events_file(&moto_opts),
            shared::config::DEFAULT_MAIL_FROM.to_owned(),
            post_confirmation,
        );

        // Order events: the table's stream → the publisher → the bus.
        let mut stream_opts = StreamPumpOptions::new(
            &provisioned.table_name,
            dynamodb.url(),
            STREAM_FUNCTION,
            &opts.bin_dir,
            &opts.log_dir,
            REGION,
        );
        stream_opts.env = env;
        stream_opts.echo_logs = opts.echo_logs;
        stream_opts.on_failure_queue = Some(STREAM_FAILURE_QUEUE.to_owned());
        let streams = StreamPump::start(&aws, stream_opts).await.context("starting the stream pump")?;

        let info = StackInfo {
            api_url: alb.url(),
            region: REGION.into(),
            aws_endpoint_url: moto.url(),
            dynamodb_endpoint_url: dynamodb.url(),
            cognito: provisioned.cognito,
            stripe: stripe_info,
            secrets,
            table_name: provisioned.table_name,
            event_bus_name: EVENT_BUS_NAME.into(),
            notifier: Some(queues),
            photos: Some(photo_storage),
            users: provisioned.users,
        };
        Ok(Stack { info, moto, dynamodb, stripe, alb, scheduler, streams, notifier, photos, cognito, aws })
    }

    /// An error if an emulator has died.
    pub fn check(&mut self) -> anyhow::Result<()> {
        self.moto.check_running()?;
        self.dynamodb.check_running()?;
        self.stripe.check_running()
    }

    /// Stops the functions, then the emulators.
    pub async fn down(self) {
        self.streams.shutdown().await;
        self.notifier.shutdown().await;
        self.photos.shutdown().await;
        self.cognito.shutdown();
        self.scheduler.shutdown().await;
        self.alb.shutdown().await;
        self.moto.stop().await;
        self.dynamodb.stop().await;
        self.stripe.stop().await;
    }
}

/// The functions' configuration: what `template.yaml` gives them in the cloud, pointed at
/// the emulators. Secrets are named by their ids only; the functions read the values from
/// Secrets Manager (moto). Every function gets the Stripe secret's id here, since the local
/// ALB runs them all with one environment; in the cloud only Stripe's functions do.
fn function_env(
    aws_endpoint: &str,
    table: &str,
    cognito: &CognitoPool,
    stripe: &StripeInfo,
    secrets: &SecretIds,
    payment_window: Option<Duration>,
) -> Vec<(String, String)> {
    let rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "info".into());
    let payment_window = payment_window.map(|w| w.as_secs().to_string());
    let mut env: Vec<(String, String)> = [
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ENDPOINT_URL", aws_endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("TABLE_NAME", table),
        ("EVENT_BUS_NAME", EVENT_BUS_NAME),
        ("MAIL_FROM", shared::config::DEFAULT_MAIL_FROM),
        ("COGNITO_ISSUER", &cognito.issuer),
        ("COGNITO_JWKS_URL", &cognito.jwks_url),
        ("COGNITO_CLIENT_IDS", &cognito.client_id),
        ("CURSOR_SECRET_ID", &secrets.cursor_secret_id),
        ("STRIPE_SECRET_ID", secrets.stripe_secret_id.as_deref().unwrap_or_default()),
        ("STRIPE_API_BASE", &stripe.api_base),
        ("RUST_LOG", &rust_log),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(secs) = payment_window {
        env.push(("PAYMENT_WINDOW_SECONDS".into(), secs));
    }
    // The web shop's card field: localstripe serves its Stripe.js beside its API.
    env.push(("STRIPE_JS_URL".into(), format!("{}js.stripe.com/v3/", stripe.api_base)));
    env.push(("STRIPE_PUBLISHABLE_KEY".into(), stripe.publishable_key.clone()));
    env
}

/// `<root>/.local/stack.json`.
pub fn stack_file(root: &Path) -> PathBuf {
    root.join(".local").join("stack.json")
}

/// Writes `info` as JSON to `path` (`.local/stack.json` for `dev`).
pub fn write_stack_file(path: &Path, info: &StackInfo) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(info).context("cannot serialize the stack description")?;
    // Written whole, then renamed, so a reader never sees half a file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json + "\n").with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn read_stack_file(root: &Path) -> anyhow::Result<StackInfo> {
    let path = stack_file(root);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("{} does not exist: start the stack with `cargo xtask dev` first", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_str(&text).with_context(|| {
        format!("{} is not a stack description; restart `cargo xtask dev` to rewrite it", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_function_environment_holds_a_secret_value() {
        let stripe = StripeInfo {
            api_base: "http://127.0.0.1:8420/".into(),
            secret_key: "sk_test_local0123456789abcdef".into(),
            publishable_key: "pk_test_local0123456789abcdef".into(),
            webhook_secret: "whsec_0123456789abcdef0123456789abcdef".into(),
        };
        let pool = CognitoPool {
            user_pool_id: "eu-west-1_test".into(),
            client_id: "client".into(),
            issuer: "http://127.0.0.1:5000/eu-west-1_test".into(),
            jwks_url: "http://127.0.0.1:5000/eu-west-1_test/.well-known/jwks.json".into(),
        };
        let ids = SecretIds {
            cursor_secret_id: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:makers-market/cursor-secret-AbCdEf"
                .into(),
            stripe_secret_id: Some(
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:makers-market/stripe-GhIjKl".into(),
            ),
        };
        let env =
            function_env("http://127.0.0.1:5000", TABLE_NAME, &pool, &stripe, &ids, Some(Duration::from_secs(90)));
        for (name, value) in &env {
            for secret in [&stripe.secret_key, &stripe.webhook_secret] {
                assert!(!value.contains(secret.as_str()), "{name} holds a Stripe secret");
            }
            // The only secret-looking variables are ids, and the emulator's dummy credentials.
            if name.contains("SECRET") && name != "AWS_SECRET_ACCESS_KEY" {
                assert!(name.ends_with("_SECRET_ID") && value.starts_with("arn:aws:secretsmanager:"), "{name}={value}");
            }
        }
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("CURSOR_SECRET_ID"), Some(ids.cursor_secret_id.as_str()));
        assert_eq!(get("STRIPE_SECRET_ID"), ids.stripe_secret_id.as_deref());
        assert_eq!(get("CURSOR_SECRET"), None);
        assert_eq!(get("STRIPE_SECRET_KEY"), None);
        assert_eq!(get("STRIPE_WEBHOOK_SECRET"), None);
        assert_eq!(get("STRIPE_API_BASE"), Some(stripe.api_base.as_str()));
        assert_eq!(get("PAYMENT_WINDOW_SECONDS"), Some("90"));
    }

    #[test]
    fn every_scheduled_function_is_a_function_crate_with_its_sample_event() {
        let root = crate::project_root();
        for (function, _) in SCHEDULED_FUNCTIONS {
            assert!(root.join("functions").join(function).join("Cargo.toml").is_file(), "{function}");
            assert!(root.join("events").join(format!("{function}.json")).is_file(), "{function}");
        }
        // Its dwell is seconds locally: a tick every second keeps each step close to it.
        let delivery = SCHEDULED_FUNCTIONS.iter().find(|(f, _)| *f == "delivery-simulator");
        assert_eq!(delivery.and_then(|(_, every)| *every), Some(Duration::from_secs(1)));
    }
}
