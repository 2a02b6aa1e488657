//! Configuration: one typed struct, read once per cold start from the environment.

use std::fmt;
use std::time::Duration;

/// A value that must never appear in logs or debug output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct CognitoConfig {
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`: the only accepted `iss`.
    pub issuer: String,
    /// Where the pool's signing keys are. Configured, not derived from the issuer,
    /// because emulators serve it elsewhere.
    pub jwks_url: String,
    /// App clients whose access tokens are accepted.
    pub client_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub cognito: CognitoConfig,
    /// How long an order waits for its payment before the payment expirer expires it
    /// (`PAYMENT_WINDOW_SECONDS`, 30 minutes by default).
    pub payment_window: Duration,
    /// Where Stripe's API is (`STRIPE_API_BASE`): Stripe's own by default, localstripe
    /// locally. Configuration, not a secret; the key comes from Secrets Manager.
    pub stripe_api_base: String,
    /// How long one call to Stripe may take in all (`STRIPE_TIMEOUT_MS`, 5 s by default),
    /// well under the function's timeout.
    pub stripe_timeout: Duration,
    /// Name or ARN of the Secrets Manager secret holding the key that signs pagination
    /// cursors. Only the id is configuration: the value is read at run time
    /// ([`crate::secrets`]), so it never sits in the function's environment.
    pub cursor_secret_id: String,
    /// Name or ARN of the JSON secret holding Stripe's keys. Set only for the functions
    /// that talk to Stripe.
    pub stripe_secret_id: Option<String>,
}

/// Stripe's API, when `STRIPE_API_BASE` is not set.
pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com/";
/// A whole Stripe call, when `STRIPE_TIMEOUT_MS` is not set.
pub const DEFAULT_STRIPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The payment window when `PAYMENT_WINDOW_SECONDS` is not set.
pub const DEFAULT_PAYMENT_WINDOW: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: &'static str },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty()).ok_or(ConfigError::Missing(name));
        let issuer = get("COGNITO_ISSUER")?.trim_end_matches('/').to_owned();
        let jwks_url = lookup("COGNITO_JWKS_URL")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        let client_ids: Vec<String> =
            get("COGNITO_CLIENT_IDS")?.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        if client_ids.is_empty() {
            return Err(ConfigError::Invalid { name: "COGNITO_CLIENT_IDS", reason: "no client id" });
        }
        let payment_window = match lookup("PAYMENT_WINDOW_SECONDS").filter(|v| !v.trim().is_empty()) {
            None => DEFAULT_PAYMENT_WINDOW,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "PAYMENT_WINDOW_SECONDS",
                        reason: "not a positive integer",
                    });
                }
            },
        };
        let stripe_timeout = match lookup("STRIPE_TIMEOUT_MS").filter(|v| !v.trim().is_empty()) {
            None => DEFAULT_STRIPE_TIMEOUT,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => return Err(ConfigError::Invalid { name: "STRIPE_TIMEOUT_MS", reason: "not a positive integer" }),
            },
        };
        Ok(Self {
            payment_window,
            stripe_api_base: lookup("STRIPE_API_BASE")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_STRIPE_API_BASE.to_owned()),
            stripe_timeout,
            table_name: get("TABLE_NAME")?,
            cognito: CognitoConfig { issuer, jwks_url, client_ids },
            cursor_secret_id: get("CURSOR_SECRET_ID")?,
            stripe_secret_id: get("STRIPE_SECRET_ID").ok(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const CURSOR_ID: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:CursorSecret-AbCdEf";

    #[test]
    fn reads_every_setting_and_derives_the_jwks_url() {
        let cfg = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("COGNITO_ISSUER", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x/"),
            ("COGNITO_CLIENT_IDS", "a, b,"),
            ("CURSOR_SECRET_ID", CURSOR_ID),
            ("STRIPE_SECRET_ID", "makers-market/stripe"),
        ]));
        let cfg = cfg.map_err(|e| e.to_string());
        let cfg = cfg.as_ref();
        assert_eq!(cfg.map(|c| c.cognito.client_ids.clone()), Ok(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            cfg.map(|c| c.cognito.jwks_url.as_str()),
            Ok("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x/.well-known/jwks.json")
        );
        assert_eq!(cfg.map(|c| c.cursor_secret_id.as_str()), Ok(CURSOR_ID));
        assert_eq!(cfg.map(|c| c.stripe_secret_id.as_deref()), Ok(Some("makers-market/stripe")));
    }

    #[test]
    fn the_stripe_secret_id_is_optional_and_blank_means_unset() {
        let base =
            [("TABLE_NAME", "t"), ("COGNITO_ISSUER", "i"), ("COGNITO_CLIENT_IDS", "c"), ("CURSOR_SECRET_ID", "x")];
        let without = Config::from_lookup(env(&base)).map(|c| c.stripe_secret_id);
        assert!(matches!(without, Ok(None)));
        let blank =
            Config::from_lookup(env(&[&base[..], &[("STRIPE_SECRET_ID", " ")]].concat())).map(|c| c.stripe_secret_id);
        assert!(matches!(blank, Ok(None)));
    }

    #[test]
    fn a_secret_value_in_the_environment_is_not_read() {
        // The old CURSOR_SECRET (a value) is no substitute for the id of a secret.
        let cfg = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("COGNITO_ISSUER", "i"),
            ("COGNITO_CLIENT_IDS", "c"),
            ("CURSOR_SECRET", "0123456789abcdef0123456789abcdef"),
        ]));
        assert!(matches!(cfg, Err(ConfigError::Missing("CURSOR_SECRET_ID"))));
    }

    #[test]
    fn refuses_missing_or_invalid_settings() {
        let missing = Config::from_lookup(env(&[("TABLE_NAME", "t")]));
        assert!(matches!(missing, Err(ConfigError::Missing("COGNITO_ISSUER"))));
        let no_clients = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("COGNITO_ISSUER", "i"),
            ("COGNITO_CLIENT_IDS", " , "),
            ("CURSOR_SECRET_ID", "x"),
        ]));
        assert!(matches!(no_clients, Err(ConfigError::Invalid { name: "COGNITO_CLIENT_IDS", .. })));
    }

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("0123456789abcdef0123456789abcdef");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "0123456789abcdef0123456789abcdef");
    }
}
