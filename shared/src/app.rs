//! What a function builds once per cold start and lends to every invocation.

use crate::auth::Authenticator;
use crate::config::{Config, Secret};
use crate::domain::{Clock, SystemClock, Timestamp};
use crate::secrets::{Secrets, StripeSecrets};
use crate::store::Store;
use std::sync::Arc;

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Store,
    pub auth: Authenticator,
    pub clock: Arc<dyn Clock>,
    /// Fetched on first use, then cached for the life of this `App` (one cold start).
    pub secrets: Secrets,
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
        let store = Store::new(aws_sdk_dynamodb::Client::new(aws), config.table_name.clone());
        let auth = Authenticator::new(config.cognito.clone(), clock.clone());
        let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(aws), &config);
        Self { config, store, auth, clock, secrets }
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
