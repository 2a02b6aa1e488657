//! Who is calling: Cognito access-token verification and roles.
//!
//! A token is accepted only if its RS256 signature verifies against the user pool's JWKS,
//! `iss` is the configured pool, `token_use` is `access`, `client_id` is a configured app
//! client and it has not expired. The JWKS is fetched on first use (not at init, which
//! stays fast), cached for the life of the process, and fetched again when a token names
//! a key id we have not seen — at most once per [`REFETCH_INTERVAL`], so junk tokens
//! cannot make us hammer Cognito. Every token failure is a 401 whose reason only the log
//! sees.
//!
//! A failed fetch (Cognito unreachable, slow, or answering garbage) is not the caller's
//! fault and must not lock valid users out: the last good keys are kept and keep
//! verifying; a token we cannot check because no fetch has worked yet (or because its key
//! is new and the refetch failed) is a 503, not a 401 or a 500. The next request tries
//! again once a backoff has passed ([`FETCH_BACKOFF_FIRST`], doubling up to
//! [`REFETCH_INTERVAL`]), so an outage costs one fetch per backoff, not one per request.

use crate::config::CognitoConfig;
use crate::domain::{Clock, Role, UserId};
use crate::{Error, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::Request;
use lambda_http::http::header;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, OnceCell};

pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The wait after a first failed fetch before a request may try again; it doubles with
/// each failure in a row, up to [`REFETCH_INTERVAL`].
pub const FETCH_BACKOFF_FIRST: Duration = Duration::from_secs(1);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 5;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub username: String,
    /// Always holds `Customer`; `Maker` and `Admin` come from Cognito groups.
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn is_maker(&self) -> bool {
        self.roles.contains(&Role::Maker)
    }

    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }

    /// Whether this caller may manage what maker `owner` owns: an admin, or that maker while
    /// in the `makers` group (a maker removed from the group loses this with their next
    /// token, even for their own products).
    pub fn may_manage(&self, owner: &UserId) -> bool {
        self.is_admin() || (self.is_maker() && &self.user_id == owner)
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() { Ok(()) } else { Err(Error::forbidden("Only admins may do this.")) }
    }

    pub fn require_maker(&self) -> Result<()> {
        if self.is_maker() {
            Ok(())
        } else {
            Err(Error::forbidden("Only makers may do this. Ask to join the makers group."))
        }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    token_use: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    groups: Vec<String>,
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

#[derive(Default)]
struct KeyCache {
    /// The keys of the last fetch that worked.
    keys: HashMap<String, DecodingKey>,
    /// When a fetch last worked.
    fetched_at: Option<SystemTime>,
    /// Fetches that failed in a row since, and when the last one failed.
    failures: u32,
    failed_at: Option<SystemTime>,
}

impl KeyCache {
    /// The earliest time a failed fetch may be tried again.
    fn retry_at(&self) -> Option<SystemTime> {
        let failed_at = self.failed_at?;
        let doublings = self.failures.saturating_sub(1).min(16);
        let backoff = FETCH_BACKOFF_FIRST.saturating_mul(1 << doublings).min(REFETCH_INTERVAL);
        Some(failed_at + backoff)
    }
}

/// The 503 for a token we cannot check because the key set could not be fetched.
fn keys_unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Unavailable { context: "fetching the user pool's signing keys", source: source.into() }
}

pub struct Authenticator {
    config: CognitoConfig,
    validation: Validation,
    clock: Arc<dyn Clock>,
    cache: Mutex<KeyCache>,
    http: OnceCell<HttpsClient>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(config: CognitoConfig, clock: Arc<dyn Clock>) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.issuer]);
        validation.validate_aud = false; // Cognito access tokens carry client_id, not aud.
        validation.validate_exp = false; // Checked in `verify` against our clock.
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self { config, validation, clock, cache: Mutex::new(KeyCache::default()), http: OnceCell::new() }
    }

    /// The caller, or 401 when there is no valid bearer token.
    pub async fn authenticate(&self, req: &Request) -> Result<Principal> {
        match bearer(req)? {
            Some(token) => self.verify(token).await,
            None => Err(Error::unauthorized("no bearer token")),
        }
    }

    /// The caller if a token was sent (and it must then be valid), else `None`.
    pub async fn authenticate_optional(&self, req: &Request) -> Result<Option<Principal>> {
        match bearer(req)? {
            Some(token) => self.verify(token).await.map(Some),
            None => Ok(None),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| Error::unauthorized(format!("bad header: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(Error::unauthorized(format!("algorithm {:?} not accepted", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| Error::unauthorized("token has no kid"))?;
        let key = self.key(&kid).await?;

        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| Error::unauthorized(format!("token rejected: {e}")))?
            .claims;

        let now = self.clock.now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if claims.exp + LEEWAY_SECS <= now {
            return Err(Error::unauthorized("token expired"));
        }
        if claims.token_use != "access" {
            return Err(Error::unauthorized(format!("token_use is {:?}, not access", claims.token_use)));
        }
        if !claims.client_id.as_ref().is_some_and(|c| self.config.client_ids.contains(c)) {
            return Err(Error::unauthorized(format!("client_id {:?} not accepted", claims.client_id)));
        }
        let user_id = UserId::parse(&claims.sub).ok_or_else(|| Error::unauthorized("sub is not a user id"))?;
        let mut roles = vec![Role::Customer];
        if claims.groups.iter().any(|g| g == "makers") {
            roles.push(Role::Maker);
        }
        if claims.groups.iter().any(|g| g == "admins") {
            roles.push(Role::Admin);
        }
        Ok(Principal { username: claims.username.unwrap_or_else(|| claims.sub.clone()), user_id, roles })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey> {
        let mut cache = self.cache.lock().await;
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        let now = self.clock.now();
        if let Some(retry_at) = cache.retry_at().filter(|at| now < *at) {
            let wait = retry_at.duration_since(now).unwrap_or_default();
            return Err(keys_unavailable(format!("the last fetch failed; next try in {wait:?}")));
        }
        if cache.failed_at.is_none()
            && cache.fetched_at.is_some_and(|at| now.duration_since(at).unwrap_or_default() < REFETCH_INTERVAL)
        {
            return Err(Error::unauthorized(format!("unknown kid {kid}, JWKS fetched recently")));
        }
        match self.fetch_keys().await {
            Ok(keys) => {
                *cache = KeyCache { keys, fetched_at: Some(now), failures: 0, failed_at: None };
                tracing::info!(keys = cache.keys.len(), "fetched the user pool's signing keys");
                cache.keys.get(kid).cloned().ok_or_else(|| Error::unauthorized(format!("unknown kid {kid}")))
            }
            Err(err) => {
                // The keys we had stay: tokens they sign keep working through the outage.
                cache.failures = cache.failures.saturating_add(1);
                cache.failed_at = Some(now);
                tracing::error!(failures = cache.failures, kept_keys = cache.keys.len(), error = %err, "could not fetch the user pool's signing keys");
                Err(keys_unavailable(err))
            }
        }
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>> {
        let client = self.http.get_or_try_init(|| async { https_client() }).await?;
        let uri: hyper::Uri =
            self.config.jwks_url.parse().map_err(|e| Error::internal("parsing COGNITO_JWKS_URL", e))?;
        let fetch = async {
            let response = client.get(uri).await.map_err(|e| Error::internal("fetching the JWKS", e))?;
            if !response.status().is_success() {
                return Err(Error::internal("fetching the JWKS", format!("status {}", response.status())));
            }
            let body = response.into_body().collect().await.map_err(|e| Error::internal("reading the JWKS", e))?;
            Ok(body.to_bytes())
        };
        let body = tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| Error::internal("fetching the JWKS", "timed out"))??;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| Error::internal("parsing the JWKS", e))?;
        Ok(set
            .keys
            .iter()
            .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect())
    }
}

fn https_client() -> Result<HttpsClient> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| Error::internal("loading TLS roots", e))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}

/// The bearer token, `None` without an Authorization header, 401 for any other scheme.
fn bearer(req: &Request) -> Result<Option<&str>> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| Error::unauthorized("authorization header is not text"))?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(|| Error::unauthorized("malformed authorization"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::unauthorized("authorization scheme is not bearer"));
    }
    Ok(Some(token.trim()))
}
