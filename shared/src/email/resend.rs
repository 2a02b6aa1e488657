//! [`ResendMailer`]: the [`Mailer`] port on Resend's HTTP API (`POST {base}emails`, JSON
//! `{from, to, subject, html, text}`, `Authorization: Bearer <key>`), over the workspace's
//! hyper-rustls client with a connect timeout and an overall deadline, like the Stripe
//! client. The key is read from Secrets Manager by the app (`RESEND_SECRET_ID`).
//!
//! Every request carries the email's marker key as `Idempotency-Key`: Resend answers a
//! repeat within 24 hours with the first answer and sends nothing. So with Resend even a
//! timeout is safe to retry, and every failure is [`SendFailure::NotSent`].

use super::{Email, MailFuture, Mailer, SendFailure, Sent};
use crate::config::{ConfigError, Secret};
use crate::http::outbound::{HttpsClient, https_client};
use crate::{Error, Result};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt as _, Full};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use tokio::sync::OnceCell;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Where and how to call Resend.
#[derive(Debug, Clone)]
pub struct ResendSettings {
    /// `https://api.resend.com/` (with the trailing slash), or a local fake in tests.
    pub api_base: String,
    pub api_key: Secret,
    /// The `from` of every email.
    pub sender: String,
    pub connect_timeout: Duration,
    /// The whole call, connect included.
    pub request_timeout: Duration,
}

impl ResendSettings {
    pub fn new(api_base: impl Into<String>, api_key: Secret, sender: impl Into<String>) -> Self {
        Self {
            api_base: api_base.into(),
            api_key,
            sender: sender.into(),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// The Resend client. Build it once per cold start and share it.
pub struct ResendMailer {
    settings: ResendSettings,
    endpoint: http::Uri,
    http: OnceCell<HttpsClient>,
}

impl fmt::Debug for ResendMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResendMailer").field("settings", &self.settings).finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct SendRequest<'a> {
    from: &'a str,
    to: [&'a str; 1],
    subject: &'a str,
    html: &'a str,
    text: &'a str,
}

#[derive(Deserialize)]
struct SendResponse {
    id: String,
}

#[derive(Deserialize, Default)]
struct ErrorResponse {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ResendMailer {
    /// Checks the settings; no I/O.
    pub fn new(settings: ResendSettings) -> Result<Self, ConfigError> {
        let mut base = settings.api_base.trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let endpoint: http::Uri = format!("{base}emails")
            .parse()
            .map_err(|_| ConfigError::Invalid { name: "RESEND_API_BASE", reason: "not a URL" })?;
        if !matches!(endpoint.scheme_str(), Some("http" | "https")) || endpoint.host().is_none() {
            return Err(ConfigError::Invalid { name: "RESEND_API_BASE", reason: "not an http(s) URL" });
        }
        if HeaderValue::try_from(format!("Bearer {}", settings.api_key.expose())).is_err() {
            return Err(ConfigError::Invalid { name: "RESEND_SECRET_ID", reason: "the key is not a header value" });
        }
        Ok(Self { settings, endpoint, http: OnceCell::new() })
    }

    async fn client(&self) -> Result<&HttpsClient> {
        self.http.get_or_try_init(|| async { https_client(self.settings.connect_timeout) }).await
    }

    async fn post(&self, email: &Email) -> Result<Sent> {
        const CONTEXT: &str = "sending an email through Resend";
        let client = self.client().await?;
        let body = serde_json::to_vec(&SendRequest {
            from: &self.settings.sender,
            to: [&email.to],
            subject: &email.subject,
            html: &email.html,
            text: &email.text,
        })
        .map_err(|e| Error::internal(CONTEXT, e))?;
        let mut auth = HeaderValue::try_from(format!("Bearer {}", self.settings.api_key.expose()))
            .map_err(|e| Error::internal(CONTEXT, e))?;
        auth.set_sensitive(true);
        let key = HeaderValue::from_str(&email.key).map_err(|e| Error::internal(CONTEXT, e))?;
        let request = http::Request::post(self.endpoint.clone())
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "makers-market")
            .header(IDEMPOTENCY_KEY, key)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::internal(CONTEXT, e))?;
        let response =
            client.request(request).await.map_err(|e| Error::Unavailable { context: CONTEXT, source: e.into() })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Unavailable { context: CONTEXT, source: e.into() })?
            .to_bytes();
        if status.is_success() {
            let sent: SendResponse = serde_json::from_slice(&body)
                .map_err(|e| Error::internal(CONTEXT, format!("unreadable answer: {e}")))?;
            return Ok(Sent { message_id: sent.id });
        }
        let error = serde_json::from_slice::<ErrorResponse>(&body).unwrap_or_default();
        let detail = format!(
            "Resend answered {status}: {} {}",
            error.name.unwrap_or_default(),
            error.message.unwrap_or_default()
        );
        Err(Error::internal(CONTEXT, super::redact_addresses(&detail).into_owned()))
    }
}

impl Mailer for ResendMailer {
    fn send<'a>(&'a self, email: &'a Email) -> MailFuture<'a> {
        Box::pin(async move {
            let timeout = self.settings.request_timeout;
            match tokio::time::timeout(timeout, self.post(email)).await {
                Ok(Ok(sent)) => Ok(sent),
                // The Idempotency-Key makes any retry safe: nothing here can send twice.
                Ok(Err(e)) => Err(SendFailure::NotSent(e)),
                Err(_) => Err(SendFailure::NotSent(Error::Unavailable {
                    context: "sending an email through Resend",
                    source: format!("no answer within {timeout:?}").into(),
                })),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_must_be_an_http_url_and_the_endpoint_is_emails() {
        let settings = |base: &str| ResendSettings::new(base, Secret::new("re_test"), "a@b.c");
        let mailer = ResendMailer::new(settings("http://127.0.0.1:9")).map_err(|e| e.to_string());
        assert_eq!(mailer.map(|m| m.endpoint.to_string()), Ok("http://127.0.0.1:9/emails".to_owned()));
        assert!(ResendMailer::new(settings("ftp://x/")).is_err());
        assert!(ResendMailer::new(settings("not a url")).is_err());
        let debug = format!("{:?}", ResendMailer::new(settings("https://api.resend.com/")));
        assert!(!debug.contains("re_test"), "{debug}");
    }
}
