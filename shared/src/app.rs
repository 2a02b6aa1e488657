//! What a function builds once per cold start and lends to every invocation.

use crate::auth::Authenticator;
use crate::config::MailProvider;
use crate::config::{Config, Secret};
use crate::directory::{CognitoDirectory, Directory};
use crate::domain::{Clock, SystemClock, Timestamp};
use crate::email::{Mailer, ResendMailer, ResendSettings, SesMailer};
use crate::payments::Payments;
use crate::secrets::{Secrets, StripeSecrets};
use crate::store::Store;
use crate::{Error, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Builds the payment provider's client once its key is known. The Stripe-linked functions
/// give [`App::with_stripe`]'s; a function without one has no payments.
pub type PaymentsFactory = fn(&Config, &StripeSecrets) -> Result<Arc<dyn Payments>>;

#[derive(Debug)]
pub struct App {
    pub config: Config,
    /// The AWS configuration the clients were built from: the ports that only some
    /// functions use (EventBridge, SES, Cognito) build their clients from it on first use,
    /// so the other functions neither link nor start them.
    pub aws: aws_config::SdkConfig,
    pub store: Store,
    pub auth: Authenticator,
    pub clock: Arc<dyn Clock>,
    /// Fetched on first use, then cached for the life of this `App` (one cold start).
    pub secrets: Secrets,
    payments_factory: Option<PaymentsFactory>,
    payments: OnceCell<Arc<dyn Payments>>,
    /// The email provider (`EMAIL_PROVIDER`), built on first use.
    mailer: OnceCell<Arc<dyn Mailer>>,
    /// Cognito as a directory of users' addresses, built on first use.
    directory: OnceCell<Arc<dyn Directory>>,
    /// Cognito's user-facing API (the web shop's accounts), built on first use.
    cognito: std::sync::OnceLock<aws_sdk_cognitoidentityprovider::Client>,
    /// S3 (product photos), built on first use.
    s3: std::sync::OnceLock<aws_sdk_s3::Client>,
}

/// DynamoDB calls give up well before a function's own timeout (15 s for the order
/// functions), so a DynamoDB that stops answering is a clean 503, not a Lambda timeout.
const DYNAMODB_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const DYNAMODB_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The DynamoDB client's configuration: the SDK's, with the timeouts above. Public so that
/// tests can add an interceptor (injected faults) to the very client functions use.
pub fn dynamodb_config(aws: &aws_config::SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(DYNAMODB_ATTEMPT_TIMEOUT)
        .operation_timeout(DYNAMODB_OPERATION_TIMEOUT)
        .build();
    aws_sdk_dynamodb::config::Builder::from(aws).timeout_config(timeouts)
}

impl App {
    /// Reads the configuration and builds the SDK clients. No network I/O: the SDK
    /// connects, and the JWKS and the secrets are fetched, on first use.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        init_logging();
        let config = Config::from_env()?;
        let aws = aws_config::load_from_env().await;
        Ok(Self::new(config, &aws, Arc::new(SystemClock)))
    }

    pub fn new(config: Config, aws: &aws_config::SdkConfig, clock: Arc<dyn Clock>) -> Self {
        let dynamodb = dynamodb_config(aws).build();
        let store = Store::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), config.table_name.clone())
            .with_due_shards(config.due_shards);
        let auth = Authenticator::new(config.cognito.clone(), clock.clone());
        let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(aws), &config);
        Self {
            config,
            aws: aws.clone(),
            store,
            auth,
            clock,
            secrets,
            payments_factory: None,
            payments: OnceCell::new(),
            mailer: OnceCell::new(),
            directory: OnceCell::new(),
            cognito: std::sync::OnceLock::new(),
            s3: std::sync::OnceLock::new(),
        }
    }

    /// This app with `mailer` instead of the configured provider (tests, a fake).
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = OnceCell::new_with(Some(mailer));
        self
    }

    /// This app with `directory` instead of Cognito (tests).
    pub fn with_directory(mut self, directory: Arc<dyn Directory>) -> Self {
        self.directory = OnceCell::new_with(Some(directory));
        self
    }

    /// The email provider: SES v2 or Resend (`EMAIL_PROVIDER`), built on first use (with
    /// Resend, after its key is read from Secrets Manager), then cached.
    pub async fn mailer(&self) -> Result<&dyn Mailer> {
        let mailer = self
            .mailer
            .get_or_try_init(|| async {
                let mail = &self.config.mail;
                Ok::<Arc<dyn Mailer>, Error>(match mail.provider {
                    MailProvider::Ses => Arc::new(SesMailer::new(&self.aws, mail.sender.clone())),
                    MailProvider::Resend => {
                        let key = self.secrets.resend().await?.clone();
                        let settings = ResendSettings::new(mail.resend_api_base.clone(), key, mail.sender.clone());
                        Arc::new(
                            ResendMailer::new(settings)
                                .map_err(|e| Error::internal("configuring the Resend client", e))?,
                        )
                    }
                })
            })
            .await?;
        Ok(mailer.as_ref())
    }

    /// Where users' email addresses are looked up (Cognito `AdminGetUser` on the pool of
    /// `COGNITO_ISSUER`), built on first use.
    pub async fn directory(&self) -> &dyn Directory {
        let directory = self
            .directory
            .get_or_init(|| async {
                Arc::new(CognitoDirectory::new(&self.aws, self.config.cognito.user_pool_id())) as Arc<dyn Directory>
            })
            .await;
        directory.as_ref()
    }

    /// Cognito's user-facing API, for the web shop's sign-up, sign-in and sign-out. Calls
    /// give up after 5 s, well within a page function's timeout.
    pub fn cognito(&self) -> &aws_sdk_cognitoidentityprovider::Client {
        self.cognito.get_or_init(|| {
            let timeouts = aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(5))
                .build();
            let config =
                aws_sdk_cognitoidentityprovider::config::Builder::from(&self.aws).timeout_config(timeouts).build();
            aws_sdk_cognitoidentityprovider::Client::from_conf(config)
        })
    }

    /// S3, for product photos. With an endpoint of its own (moto locally), buckets are
    /// addressed path-style, as emulators serve them.
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(|| {
            let timeouts = aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(10))
                .build();
            let config = aws_sdk_s3::config::Builder::from(&self.aws)
                .timeout_config(timeouts)
                .force_path_style(self.aws.endpoint_url().is_some())
                .build();
            aws_sdk_s3::Client::from_conf(config)
        })
    }

    /// This app with a payment provider, built by `factory` on first use.
    pub fn with_payments(mut self, factory: PaymentsFactory) -> Self {
        self.payments_factory = Some(factory);
        self
    }

    /// This app with Stripe as its payment provider (`STRIPE_API_BASE`, key from Secrets
    /// Manager). Only the functions that talk to Stripe link it (feature `stripe`).
    #[cfg(feature = "stripe")]
    pub fn with_stripe(self) -> Self {
        self.with_payments(|config, secrets| {
            let mut settings =
                crate::payments::StripeSettings::new(config.stripe_api_base.clone(), secrets.secret_key.clone());
            settings.request_timeout = config.stripe_timeout;
            settings.connect_timeout = settings.connect_timeout.min(config.stripe_timeout);
            crate::payments::StripePayments::new(settings)
                .map(|stripe| Arc::new(stripe) as Arc<dyn Payments>)
                .map_err(|e| Error::internal("configuring the Stripe client", e))
        })
    }

    /// The payment provider, built on first use from Secrets Manager's key, then cached.
    pub async fn payments(&self) -> Result<&dyn Payments> {
        let factory = self.payments_factory.ok_or_else(|| {
            Error::internal("calling the payment provider", "this function has no payments configured")
        })?;
        let payments =
            self.payments.get_or_try_init(|| async { factory(&self.config, self.stripe_secrets().await?) }).await?;
        Ok(payments.as_ref())
    }

    /// The key that signs pagination cursors, from Secrets Manager (fetched once).
    pub async fn cursor_secret(&self) -> crate::Result<&Secret> {
        self.secrets.cursor().await
    }

    /// Stripe's API key and webhook secret, from Secrets Manager (fetched once). A 500 in
    /// functions not configured for Stripe (no `STRIPE_SECRET_ID`).
    pub async fn stripe_secrets(&self) -> crate::Result<&StripeSecrets> {
        self.secrets.stripe().await
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::now(self.clock.as_ref())
    }
}

/// JSON log lines carrying the current request's span fields (request id, method, path).
/// `RUST_LOG` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`) sets the level; info by default.
fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_default();
    let filter = tracing_subscriber::EnvFilter::try_new(if level.is_empty() { "info" } else { &level })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
