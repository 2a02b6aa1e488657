//! Cognito as a directory of users: a user's email address, which an access token does not
//! carry (asked only when a profile has no address yet, profiles made before the
//! post-confirmation trigger stored it; the answer is then stored on the profile), the
//! user's groups, which an approved maker application adds to, and a user found by email
//! (the admin desk's order search).

use crate::domain::UserId;
use crate::{Error, Result};
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, SdkError};
use aws_sdk_cognitoidentityprovider::types::AttributeType;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub type DirectoryFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Where users' email addresses and groups are.
pub trait Directory: Send + Sync + fmt::Debug {
    /// The `email` attribute of the user `sub`, whose Cognito username is `username` when
    /// known; `None` for an unknown user or one without an address.
    fn email_of<'a>(&'a self, sub: &'a UserId, username: Option<&'a str>) -> DirectoryFuture<'a, Option<String>>;

    /// Puts the user `username` in `group` (Cognito `AdminAddUserToGroup`: a no-op for a
    /// member). A 503 when Cognito cannot be reached or is throttling, so the caller may
    /// retry; a 409 when the user no longer exists.
    fn add_to_group<'a>(&'a self, username: &'a str, group: &'a str) -> DirectoryFuture<'a, ()>;

    /// Takes the user `username` out of `group` (`AdminRemoveUserFromGroup`).
    fn remove_from_group<'a>(&'a self, username: &'a str, group: &'a str) -> DirectoryFuture<'a, ()>;

    /// The user whose `email` attribute is `email` (exactly, as Cognito compares: an
    /// admin's search for a customer); `None` when nobody has it.
    fn user_by_email<'a>(&'a self, email: &'a str) -> DirectoryFuture<'a, Option<UserId>>;
}

/// The Cognito group of the users who may sell.
pub const MAKERS_GROUP: &str = "makers";

/// A failed group change: 503 for Cognito out of reach, throttling or failing on its side
/// (after the SDK's retries); 409 for a user that no longer exists; 500 for the rest (a
/// missing permission, an unknown group: our fault).
fn group_failure<E, R>(context: &'static str) -> impl FnOnce(SdkError<E, R>) -> Error
where
    E: std::error::Error + aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        let code = e.as_service_error().and_then(|s| s.code()).map(str::to_owned);
        let unavailable = match &e {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ServiceError(_) => matches!(
                code.as_deref(),
                Some("TooManyRequestsException" | "InternalErrorException" | "ServiceUnavailable")
            ),
            SdkError::ResponseError(_) => true,
            _ => false,
        };
        let detail = DisplayErrorContext(e).to_string();
        if code.as_deref() == Some("UserNotFoundException") {
            tracing::warn!(context, error = detail, "the user is not in the user pool");
            Error::conflict("The applicant's account no longer exists.")
        } else if unavailable {
            Error::Unavailable { context, source: detail.into() }
        } else {
            Error::internal(context, detail)
        }
    }
}

/// A failed lookup: 503 for Cognito out of reach (the caller may retry), 500 for the rest.
fn lookup_failure<E, R>(context: &'static str) -> impl Fn(SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        if matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)) {
            Error::Unavailable { context, source: DisplayErrorContext(e).to_string().into() }
        } else {
            Error::internal(context, DisplayErrorContext(e).to_string())
        }
    }
}

/// Cognito's `AdminGetUser` (by username, else by `sub`) on the configured user pool, and
/// `ListUsers` filtered on the `sub` when a user without a known username is not found so.
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

    async fn lookup(&self, sub: &UserId, username: Option<&str>) -> Result<Option<String>> {
        const CONTEXT: &str = "looking up a user's email in Cognito";
        fn email(attributes: Vec<AttributeType>) -> Option<String> {
            attributes.into_iter().find(|a| a.name == "email").and_then(|a| a.value).filter(|v| !v.trim().is_empty())
        }
        // Cognito takes a local user's `sub` where a username is asked for.
        let name = username.unwrap_or(sub.as_str());
        let out = self.client.admin_get_user().user_pool_id(&self.user_pool_id).username(name).send().await;
        match out {
            Ok(user) => return Ok(email(user.user_attributes.unwrap_or_default())),
            Err(SdkError::ServiceError(e)) if e.err().is_user_not_found_exception() && username.is_some() => {
                return Ok(None);
            }
            Err(SdkError::ServiceError(e)) if e.err().is_user_not_found_exception() => {}
            Err(e) => return Err(lookup_failure(CONTEXT)(e)),
        }
        // Not found by its sub (emulators know users by username only): search on the sub.
        // A `UserId` holds only letters, digits, `-` and `_`: nothing can escape the quotes.
        let out = self
            .client
            .list_users()
            .user_pool_id(&self.user_pool_id)
            .filter(format!("sub = \"{}\"", sub.as_str()))
            .limit(1)
            .send()
            .await
            .map_err(lookup_failure(CONTEXT))?;
        Ok(out.users.unwrap_or_default().into_iter().next().and_then(|u| email(u.attributes.unwrap_or_default())))
    }

    async fn find_by_email(&self, address: &str) -> Result<Option<UserId>> {
        const CONTEXT: &str = "finding a user by email in Cognito";
        // The filter quotes the value: an address with a quote or a backslash in it is no
        // address anyone signed up with, and could change the filter's meaning.
        if address.contains(['"', '\\']) || !crate::email::is_address(address) {
            return Ok(None);
        }
        let out = self
            .client
            .list_users()
            .user_pool_id(&self.user_pool_id)
            .filter(format!("email = \"{address}\""))
            .limit(2)
            .send()
            .await
            .map_err(lookup_failure(CONTEXT))?;
        let sub = |u: aws_sdk_cognitoidentityprovider::types::UserType| {
            u.attributes.unwrap_or_default().into_iter().find(|a| a.name == "sub").and_then(|a| a.value)
        };
        Ok(out.users.unwrap_or_default().into_iter().find_map(sub).and_then(|s| UserId::parse(&s)))
    }
}

impl Directory for CognitoDirectory {
    fn email_of<'a>(&'a self, sub: &'a UserId, username: Option<&'a str>) -> DirectoryFuture<'a, Option<String>> {
        Box::pin(self.lookup(sub, username))
    }

    fn add_to_group<'a>(&'a self, username: &'a str, group: &'a str) -> DirectoryFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .admin_add_user_to_group()
                .user_pool_id(&self.user_pool_id)
                .username(username)
                .group_name(group)
                .send()
                .await
                .map_err(group_failure("adding a user to a Cognito group"))?;
            Ok(())
        })
    }

    fn remove_from_group<'a>(&'a self, username: &'a str, group: &'a str) -> DirectoryFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .admin_remove_user_from_group()
                .user_pool_id(&self.user_pool_id)
                .username(username)
                .group_name(group)
                .send()
                .await
                .map_err(group_failure("removing a user from a Cognito group"))?;
            Ok(())
        })
    }

    fn user_by_email<'a>(&'a self, email: &'a str) -> DirectoryFuture<'a, Option<UserId>> {
        Box::pin(self.find_by_email(email))
    }
}
