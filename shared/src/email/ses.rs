//! [`SesMailer`]: the [`Mailer`] port on Amazon SES v2 `SendEmail` (simple content: subject,
//! HTML and text, UTF-8).

use super::{Email, MailFuture, Mailer, SendFailure, Sent};
use crate::Error;
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use std::time::Duration;

/// One `SendEmail` answers in well under a second; past this the function's own timeout
/// would be next.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// SES v2, from the configured sender (an SES-verified identity).
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    sender: String,
}

impl SesMailer {
    /// No I/O: the client connects on the first send.
    ///
    /// The SDK does not retry on its own here: a retried `SendEmail` after a timeout could
    /// send twice, and the notifier retries whole invocations anyway, guarded by markers.
    pub fn new(aws: &aws_config::SdkConfig, sender: impl Into<String>) -> Self {
        let config = aws_sdk_sesv2::config::Builder::from(aws)
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_sesv2::config::timeout::TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).build(),
            )
            .build();
        Self { client: aws_sdk_sesv2::Client::from_conf(config), sender: sender.into() }
    }

    async fn send_email(&self, email: &Email) -> Result<Sent, SendFailure> {
        const CONTEXT: &str = "sending an email through SES";
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendFailure::NotSent(Error::internal(CONTEXT, e)))
        };
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().html(content(&email.html)?).text(content(&email.text)?).build())
            .build();
        let sent = self
            .client
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Sent { message_id: out.message_id.unwrap_or_default() }),
            Err(err) => {
                let surely_not_sent = matches!(
                    err,
                    SdkError::ServiceError(_) | SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
                );
                let unavailable = !matches!(err, SdkError::ServiceError(_));
                // SES's refusals name the recipient: the log and the stored failure must not.
                let detail = super::redact_addresses(&DisplayErrorContext(err).to_string()).into_owned();
                let error = if unavailable {
                    Error::Unavailable { context: CONTEXT, source: detail.into() }
                } else {
                    Error::internal(CONTEXT, detail)
                };
                Err(if surely_not_sent { SendFailure::NotSent(error) } else { SendFailure::Unknown(error) })
            }
        }
    }
}

impl Mailer for SesMailer {
    fn send<'a>(&'a self, email: &'a Email) -> MailFuture<'a> {
        Box::pin(self.send_email(email))
    }
}
