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
    /// The EventBridge bus that order events go to (`EVENT_BUS_NAME`).
    pub event_bus_name: String,
    /// How long an order stays in each delivery step before the delivery simulator moves it
    /// on (`DELIVERY_DWELL_SECONDS`; minutes in the cloud, seconds locally).
    pub delivery_dwell: Duration,
    /// How many partitions of the due index each kind of due work (payment expiry, refund
    /// retry, delivery step) is spread over (`DUE_SHARDS`, 1 to 256, default 16). The same
    /// for every function of a deployment: drain the due work before changing it.
    pub due_shards: u16,
    /// How email goes out: provider, sender, and where the Resend key is.
    pub mail: MailConfig,
    /// What the web shop's pages need besides the API's settings.
    pub web: WebConfig,
    /// Where product photos are stored and served from.
    pub photos: PhotosConfig,
}

/// Product photos: one private bucket; browsers upload to it with a presigned POST and read
/// only its `public/` renditions, through `public_url`.
#[derive(Debug, Clone, Default)]
pub struct PhotosConfig {
    /// The bucket (`PHOTOS_BUCKET`).
    pub bucket: String,
    /// Where a browser POSTs an upload (`PHOTOS_UPLOAD_URL`): by default the bucket's
    /// virtual-hosted S3 URL in the function's region; locally moto's path-style URL.
    pub upload_url: Option<String>,
    /// The public base URL of the renditions (`PHOTOS_PUBLIC_URL`), which maps to the
    /// bucket's `public/` prefix: the CloudFront distribution in the cloud, moto's bucket URL
    /// plus `/public` locally. Without a trailing slash.
    pub public_url: String,
}

impl PhotosConfig {
    /// The upload URL for `region` (see [`PhotosConfig::upload_url`]).
    pub fn upload_url_in(&self, region: &str) -> String {
        self.upload_url.clone().unwrap_or_else(|| format!("https://{}.s3.{region}.amazonaws.com/", self.bucket))
    }
}

/// The bucket when `PHOTOS_BUCKET` is not set.
pub const DEFAULT_PHOTOS_BUCKET: &str = "makers-market-photos";

/// The web shop's settings. None is a secret: Stripe's publishable key is public by design.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The shop's public origin (`SITE_URL`, `https://shop.example`), for canonical URLs and
    /// the sitemap; without it, the request's own scheme and host.
    pub site_url: Option<String>,
    /// Where Stripe.js is loaded from (`STRIPE_JS_URL`): Stripe's own by default,
    /// localstripe's locally. Its origin is the only other origin pages run scripts from.
    pub stripe_js_url: String,
    /// Stripe's publishable key (`STRIPE_PUBLISHABLE_KEY`), for Stripe.js in the browser.
    pub stripe_publishable_key: String,
    /// Cognito's managed login (`COGNITO_DOMAIN_URL`, `https://<prefix>.auth.<region>.amazoncognito.com`),
    /// set only when Google sign-in is configured: "Continue with Google" shows only then.
    pub hosted_ui_url: Option<String>,
    /// Where product photos are served from when it is not https (moto's S3 locally), so
    /// that the pages' Content-Security-Policy lets them load.
    pub photos_origin: Option<String>,
    /// Where the studio's script sends photo uploads (the origin of `PHOTOS_UPLOAD_URL`, by
    /// default the bucket's S3 endpoint in `AWS_REGION`): the pages' `connect-src` allows it.
    pub photos_upload_origin: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            site_url: None,
            stripe_js_url: DEFAULT_STRIPE_JS_URL.to_owned(),
            stripe_publishable_key: DEFAULT_STRIPE_PUBLISHABLE_KEY.to_owned(),
            hosted_ui_url: None,
            photos_origin: None,
            photos_upload_origin: None,
        }
    }
}

/// Stripe.js, when `STRIPE_JS_URL` is not set.
pub const DEFAULT_STRIPE_JS_URL: &str = "https://js.stripe.com/v3/";
/// A placeholder publishable key (localstripe takes any `pk_test_…`); the cloud sets its own.
pub const DEFAULT_STRIPE_PUBLISHABLE_KEY: &str = "pk_test_makers_market_local";

/// Which service sends email (`EMAIL_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailProvider {
    /// Amazon SES v2 `SendEmail` (the default).
    Ses,
    /// Resend's HTTP API (`POST /emails`), the original architecture's provider.
    Resend,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub provider: MailProvider,
    /// The `From` of every email (`MAIL_FROM`): an address of an SES-verified identity.
    pub sender: String,
    /// Where Resend's API is (`RESEND_API_BASE`), with a trailing slash.
    pub resend_api_base: String,
    /// Name or ARN of the secret holding Resend's API key (`RESEND_SECRET_ID`); set only
    /// when `EMAIL_PROVIDER=resend`.
    pub resend_secret_id: Option<String>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            provider: MailProvider::Ses,
            sender: DEFAULT_MAIL_FROM.to_owned(),
            resend_api_base: DEFAULT_RESEND_API_BASE.to_owned(),
            resend_secret_id: None,
        }
    }
}

impl CognitoConfig {
    /// The user pool's id: the last segment of its issuer URL.
    pub fn user_pool_id(&self) -> &str {
        self.issuer.rsplit('/').next().unwrap_or_default()
    }
}

/// Stripe's API, when `STRIPE_API_BASE` is not set.
pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com/";
/// A whole Stripe call, when `STRIPE_TIMEOUT_MS` is not set.
pub const DEFAULT_STRIPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The bus when `EVENT_BUS_NAME` is not set.
pub const DEFAULT_EVENT_BUS_NAME: &str = "makers-market";
/// The dwell per delivery step when `DELIVERY_DWELL_SECONDS` is not set.
pub const DEFAULT_DELIVERY_DWELL: Duration = Duration::from_secs(120);
/// The sender when `MAIL_FROM` is not set.
pub const DEFAULT_MAIL_FROM: &str = "Makers Market <orders@makers-market.example>";
/// Resend's API, when `RESEND_API_BASE` is not set.
pub const DEFAULT_RESEND_API_BASE: &str = "https://api.resend.com/";

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
        let positive = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            match lookup(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(ConfigError::Invalid { name, reason: "not a positive integer" }),
                },
            }
        };
        let or_default = |name: &'static str, default: &str| {
            lookup(name).filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned())
        };
        let payment_window = positive("PAYMENT_WINDOW_SECONDS")?.map_or(DEFAULT_PAYMENT_WINDOW, Duration::from_secs);
        let stripe_timeout = positive("STRIPE_TIMEOUT_MS")?.map_or(DEFAULT_STRIPE_TIMEOUT, Duration::from_millis);
        let delivery_dwell = positive("DELIVERY_DWELL_SECONDS")?.map_or(DEFAULT_DELIVERY_DWELL, Duration::from_secs);
        let due_shards = match positive("DUE_SHARDS")? {
            None => crate::store::DEFAULT_DUE_SHARDS,
            Some(n) if n <= u64::from(crate::store::MAX_DUE_SHARDS) => n as u16,
            Some(_) => return Err(ConfigError::Invalid { name: "DUE_SHARDS", reason: "more than 256" }),
        };
        let provider = match lookup("EMAIL_PROVIDER").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("ses") => MailProvider::Ses,
            Some("resend") => MailProvider::Resend,
            Some(_) => return Err(ConfigError::Invalid { name: "EMAIL_PROVIDER", reason: "neither ses nor resend" }),
        };
        let resend_secret_id = get("RESEND_SECRET_ID").ok();
        if provider == MailProvider::Resend && resend_secret_id.is_none() {
            return Err(ConfigError::Missing("RESEND_SECRET_ID"));
        }
        let mail = MailConfig {
            provider,
            sender: or_default("MAIL_FROM", DEFAULT_MAIL_FROM),
            resend_api_base: or_default("RESEND_API_BASE", DEFAULT_RESEND_API_BASE),
            resend_secret_id,
        };
        let photos_bucket = or_default("PHOTOS_BUCKET", DEFAULT_PHOTOS_BUCKET);
        let photos_upload_origin = match get("PHOTOS_UPLOAD_URL") {
            Ok(url) => Some(url.trim().split('/').take(3).collect::<Vec<_>>().join("/")),
            Err(_) => lookup("AWS_REGION").map(|region| format!("https://{photos_bucket}.s3.{region}.amazonaws.com")),
        };
        Ok(Self {
            payment_window,
            stripe_api_base: or_default("STRIPE_API_BASE", DEFAULT_STRIPE_API_BASE),
            stripe_timeout,
            table_name: get("TABLE_NAME")?,
            cognito: CognitoConfig { issuer, jwks_url, client_ids },
            cursor_secret_id: get("CURSOR_SECRET_ID")?,
            stripe_secret_id: get("STRIPE_SECRET_ID").ok(),
            event_bus_name: or_default("EVENT_BUS_NAME", DEFAULT_EVENT_BUS_NAME),
            delivery_dwell,
            due_shards,
            mail,
            web: WebConfig {
                site_url: get("SITE_URL").ok().map(|u| u.trim().trim_end_matches('/').to_owned()),
                stripe_js_url: or_default("STRIPE_JS_URL", DEFAULT_STRIPE_JS_URL),
                stripe_publishable_key: or_default("STRIPE_PUBLISHABLE_KEY", DEFAULT_STRIPE_PUBLISHABLE_KEY),
                hosted_ui_url: get("COGNITO_DOMAIN_URL").ok().map(|u| u.trim().trim_end_matches('/').to_owned()),
                photos_origin: get("PHOTOS_PUBLIC_URL")
                    .ok()
                    .filter(|u| u.starts_with("http://"))
                    .and_then(|u| u.split('/').take(3).collect::<Vec<_>>().join("/").into()),
                photos_upload_origin,
            },
            photos: {
                let bucket = photos_bucket;
                let public_url = get("PHOTOS_PUBLIC_URL")
                    .map(|u| u.trim().trim_end_matches('/').to_owned())
                    .unwrap_or_else(|_| format!("https://{bucket}.s3.amazonaws.com/public"));
                PhotosConfig {
                    upload_url: get("PHOTOS_UPLOAD_URL").ok().map(|u| u.trim().to_owned()),
                    public_url,
                    bucket,
                }
            },
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
    fn mail_delivery_and_events_have_defaults_and_resend_needs_its_secret() {
        let base = [
            ("TABLE_NAME", "t"),
            ("COGNITO_ISSUER", "https://idp/eu-west-1_abc"),
            ("COGNITO_CLIENT_IDS", "c"),
            ("CURSOR_SECRET_ID", "x"),
        ];
        let cfg = Config::from_lookup(env(&base)).map_err(|e| e.to_string());
        assert_eq!(cfg.as_ref().map(|c| c.mail.provider), Ok(MailProvider::Ses));
        assert_eq!(cfg.as_ref().map(|c| c.event_bus_name.as_str()), Ok(DEFAULT_EVENT_BUS_NAME));
        assert_eq!(cfg.as_ref().map(|c| c.delivery_dwell), Ok(DEFAULT_DELIVERY_DWELL));
        assert_eq!(cfg.as_ref().map(|c| c.cognito.user_pool_id()), Ok("eu-west-1_abc"));
        let resend = Config::from_lookup(env(&[&base[..], &[("EMAIL_PROVIDER", "resend")]].concat()));
        assert!(matches!(resend, Err(ConfigError::Missing("RESEND_SECRET_ID"))));
        let resend = Config::from_lookup(env(&[
            &base[..],
            &[("EMAIL_PROVIDER", "Resend"), ("RESEND_SECRET_ID", "r"), ("DELIVERY_DWELL_SECONDS", "6")],
        ]
        .concat()))
        .map_err(|e| e.to_string());
        assert_eq!(resend.as_ref().map(|c| c.mail.provider), Ok(MailProvider::Resend));
        assert_eq!(resend.as_ref().map(|c| c.delivery_dwell), Ok(Duration::from_secs(6)));
        let bad = Config::from_lookup(env(&[&base[..], &[("EMAIL_PROVIDER", "smtp")]].concat()));
        assert!(matches!(bad, Err(ConfigError::Invalid { name: "EMAIL_PROVIDER", .. })));
        let bad = Config::from_lookup(env(&[&base[..], &[("DELIVERY_DWELL_SECONDS", "0")]].concat()));
        assert!(matches!(bad, Err(ConfigError::Invalid { name: "DELIVERY_DWELL_SECONDS", .. })));
    }

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("0123456789abcdef0123456789abcdef");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "0123456789abcdef0123456789abcdef");
    }
}
