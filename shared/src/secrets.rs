//! Secrets Manager: the secrets a function reads at run time (the cursor key, the Stripe
//! keys), each fetched on first use, once per cold start, and cached for the life of the
//! execution environment.
//!
//! Why not at cold start: most invocations of most functions never need a secret, and init
//! stays fast. Why not environment variables: anyone allowed `lambda:GetFunctionConfiguration`
//! can read those. Values live only in [`Secret`]s, which never print; errors name the
//! secret id and what went wrong, never the value.

use crate::config::{Config, Secret};
use crate::{Error, Result};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The minimum cursor key length: an HMAC-SHA256 key shorter than this is guessable.
pub const MIN_CURSOR_SECRET_LEN: usize = 32;

/// Secrets Manager answers in milliseconds; waiting longer only burns the function's
/// timeout, and the next request tries again.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Stripe's keys, stored together as one JSON secret
/// `{"secret_key": "sk_…", "webhook_secret": "whsec_…"}`.
#[derive(Debug, Clone)]
pub struct StripeSecrets {
    /// Authenticates calls to the Stripe API.
    pub secret_key: Secret,
    /// Verifies the signatures of Stripe's webhook deliveries.
    pub webhook_secret: Secret,
}

/// A configured secret and, once fetched, its value.
struct Cached<T> {
    id: Option<String>,
    value: OnceCell<T>,
}

impl<T> Cached<T> {
    fn new(id: Option<String>) -> Self {
        Self { id, value: OnceCell::new() }
    }
}

/// The function's secrets. One per [`App`](crate::App): a fresh `App` (a new cold start)
/// reads them again.
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
    cursor: Cached<Secret>,
    stripe: Cached<StripeSecrets>,
    resend: Cached<Secret>,
    fetches: AtomicUsize,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("cursor_secret_id", &self.cursor.id)
            .field("cursor_secret_cached", &self.cursor.value.initialized())
            .field("stripe_secret_id", &self.stripe.id)
            .field("stripe_secrets_cached", &self.stripe.value.initialized())
            .field("resend_secret_id", &self.resend.id)
            .finish()
    }
}

impl Secrets {
    /// No network I/O: nothing is fetched until a secret is first asked for.
    pub fn new(client: aws_sdk_secretsmanager::Client, config: &Config) -> Self {
        Self {
            client,
            cursor: Cached::new(Some(config.cursor_secret_id.clone())),
            stripe: Cached::new(config.stripe_secret_id.clone()),
            resend: Cached::new(config.mail.resend_secret_id.clone()),
            fetches: AtomicUsize::new(0),
        }
    }

    /// The key that signs pagination cursors (`CURSOR_SECRET_ID`).
    pub async fn cursor(&self) -> Result<&Secret> {
        self.cached(&self.cursor, "reading the cursor secret", "CURSOR_SECRET_ID is not set", |text| {
            if text.len() < MIN_CURSOR_SECRET_LEN {
                return Err(format!("is shorter than {MIN_CURSOR_SECRET_LEN} bytes"));
            }
            Ok(Secret::new(text))
        })
        .await
    }

    /// Stripe's API key and webhook signing secret (`STRIPE_SECRET_ID`). Only the functions
    /// that talk to Stripe are given that id (and the permission to read it).
    pub async fn stripe(&self) -> Result<&StripeSecrets> {
        let missing = "STRIPE_SECRET_ID is not set: this function is not configured for Stripe";
        self.cached(&self.stripe, "reading the Stripe secrets", missing, parse_stripe).await
    }

    /// Resend's API key (`RESEND_SECRET_ID`: the JSON secret `{"api_key": "re_…"}` the
    /// template creates; a bare `re_…` string is accepted too). Only the functions that
    /// send email with `EMAIL_PROVIDER=resend` are given that id.
    pub async fn resend(&self) -> Result<&Secret> {
        self.cached(&self.resend, "reading the Resend key", "RESEND_SECRET_ID is not set", parse_resend).await
    }

    /// `slot`'s value: fetched and checked by `parse` on first use, then cached (concurrent
    /// first uses share one fetch). `parse` says what is wrong with a value without quoting
    /// it; the error names the secret's id.
    async fn cached<'a, T>(
        &'a self,
        slot: &'a Cached<T>,
        context: &'static str,
        missing: &'static str,
        parse: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> Result<&'a T> {
        let id = slot.id.as_deref().ok_or_else(|| Error::internal(context, missing))?;
        slot.value
            .get_or_try_init(|| async {
                let secret = self.fetch(context, id).await?;
                parse(secret.expose()).map_err(|reason| Error::internal(context, format!("secret {id} {reason}")))
            })
            .await
    }

    /// How many times a secret has been fetched from Secrets Manager: at most once per
    /// configured secret, however many requests asked at once (failed attempts count too).
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::Relaxed)
    }

    async fn fetch(&self, context: &'static str, id: &str) -> Result<Secret> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let request = self.client.get_secret_value().secret_id(id).send();
        let output = tokio::time::timeout(FETCH_TIMEOUT, request)
            .await
            .map_err(|_| Error::internal(context, format!("GetSecretValue {id} timed out")))?
            .map_err(|e| Error::internal(context, format!("GetSecretValue {id}: {}", DisplayErrorContext(e))))?;
        let value = output
            .secret_string()
            .ok_or_else(|| Error::internal(context, format!("secret {id} has no string value (binary?)")))?;
        tracing::info!(secret_id = id, "fetched a secret from Secrets Manager");
        Ok(Secret::new(value))
    }
}

/// Reads the Stripe JSON secret. The reason never quotes the value: serde's own messages
/// can (`invalid type: string "sk_live_…"`), so it is not used.
fn parse_stripe(text: &str) -> Result<StripeSecrets, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "is not JSON: expected {\"secret_key\": …, \"webhook_secret\": …}")?;
    let field = |name: &str| match json.get(name).and_then(serde_json::Value::as_str) {
        Some(value) if !value.trim().is_empty() => Ok(Secret::new(value)),
        Some(_) => Err(format!("has an empty {name}: set it with `aws secretsmanager put-secret-value`")),
        None => Err(format!("has no string field {name}")),
    };
    Ok(StripeSecrets { secret_key: field("secret_key")?, webhook_secret: field("webhook_secret")? })
}

/// Reads the Resend secret without ever quoting it.
fn parse_resend(text: &str) -> Result<Secret, String> {
    let text = text.trim();
    if !text.starts_with('{') {
        return match text {
            "" => Err("is empty: set it with `aws secretsmanager put-secret-value`".to_owned()),
            key => Ok(Secret::new(key)),
        };
    }
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "is not JSON: expected {\"api_key\": \"re_…\"}".to_owned())?;
    match json.get("api_key").and_then(serde_json::Value::as_str).map(str::trim) {
        Some("") => Err("has an empty api_key: set it with `aws secretsmanager put-secret-value`".to_owned()),
        Some(key) => Ok(Secret::new(key)),
        None => Err("has no string field api_key".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resend_key_is_read_from_json_or_as_is_and_never_quoted() {
        let key = |text: &str| parse_resend(text).map(|s| s.expose().to_owned());
        assert_eq!(key(r#"{"api_key": "re_hush"}"#), Ok("re_hush".to_owned()));
        assert_eq!(key(" re_hush\n"), Ok("re_hush".to_owned()));
        for (text, expected) in [
            (r#"{"api_key": ""}"#, "has an empty api_key"),
            ("", "is empty"),
            (r#"{"key": "re_hush"}"#, "has no string field api_key"),
            ("{re_hush", "is not JSON"),
        ] {
            let Err(reason) = parse_resend(text) else { panic!("{text} was accepted") };
            assert!(reason.starts_with(expected) && !reason.contains("hush"), "{text}: {reason}");
        }
    }

    #[test]
    fn stripe_secrets_are_read_from_json_with_both_keys() {
        let parsed = parse_stripe(r#"{"secret_key": "sk_test_1", "webhook_secret": "whsec_2"}"#);
        let parsed = parsed.as_ref().map(|s| (s.secret_key.expose(), s.webhook_secret.expose()));
        assert_eq!(parsed, Ok(("sk_test_1", "whsec_2")));
    }

    #[test]
    fn a_malformed_stripe_secret_is_refused_without_quoting_it() {
        for (text, expected) in [
            (r#""sk_live_hush""#, "has no string field secret_key"),
            ("sk_live_hush", "is not JSON"),
            (r#"{"secret_key": "sk_live_hush"}"#, "has no string field webhook_secret"),
            (r#"{"secret_key": "sk_live_hush", "webhook_secret": ""}"#, "has an empty webhook_secret"),
            (r#"{"secret_key": 42, "webhook_secret": "sk_live_hush"}"#, "has no string field secret_key"),
        ] {
            let Err(reason) = parse_stripe(text) else { panic!("{text} was accepted") };
            assert!(reason.starts_with(expected), "{text}: {reason}");
            assert!(!reason.contains("hush") && !reason.contains("42"), "{reason}");
        }
    }

    #[test]
    fn stripe_secrets_never_print_their_values() {
        let secrets =
            StripeSecrets { secret_key: Secret::new("sk_live_hush"), webhook_secret: Secret::new("whsec_hush") };
        assert!(!format!("{secrets:?}").contains("hush"));
    }
}
