//! Cognito as a directory of users: a user's email address, which an access token does not
//! carry. Asked only when a profile has no address yet (profiles made before the
//! post-confirmation trigger stored it); the answer is then stored on the profile.

use crate::{Error, Result};
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, SdkError};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub type DirectoryFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Where users' email addresses are.
pub trait Directory: Send + Sync + fmt::Debug {
    /// The `email` attribute of the user called `username` (the Cognito username, or the
    /// `sub`); `None` for an unknown user or one without an address.
    fn email_of<'a>(&'a self, username: &'a str) -> DirectoryFuture<'a, Option<String>>;
}

/// Cognito's `AdminGetUser` on the configured user pool.
#[derive(Debug, Clone)]
pub struct CognitoDirectory {
    client: aws_sdk_cognitoidentityprovider::Client,
    user_pool_id: String,
}

impl CognitoDirectory {
    /// No I/O.
    pub fn new(aws: &aws_config::SdkConfig, user_pool_id: impl Into<String>) -> Self {
        let config = aws_sdk_cognitoidentityprovider::config::Builder::from(aws)
            .timeout_config(
                aws_sdk_cognitoidentityprovider::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(std::time::Duration::from_secs(3))
                    .build(),
            )
            .build();
        Self { client: aws_sdk_cognitoidentityprovider::Client::from_conf(config), user_pool_id: user_pool_id.into() }
    }

    async fn lookup(&self, username: &str) -> Result<Option<String>> {
        const CONTEXT: &str = "looking up a user's email in Cognito";
        let out = self.client.admin_get_user().user_pool_id(&self.user_pool_id).username(username).send().await;
        match out {
            Ok(user) => Ok(user
                .user_attributes
                .unwrap_or_default()
                .into_iter()
                .find(|a| a.name == "email")
                .and_then(|a| a.value)
                .filter(|v| !v.trim().is_empty())),
            Err(SdkError::ServiceError(e)) if e.err().is_user_not_found_exception() => Ok(None),
            Err(e @ (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))) => {
                Err(Error::Unavailable { context: CONTEXT, source: DisplayErrorContext(e).to_string().into() })
            }
            Err(e) => Err(Error::internal(CONTEXT, DisplayErrorContext(e).to_string())),
        }
    }
}

impl Directory for CognitoDirectory {
    fn email_of<'a>(&'a self, username: &'a str) -> DirectoryFuture<'a, Option<String>> {
        Box::pin(self.lookup(username))
    }
}
