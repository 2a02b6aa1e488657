//! Accounts, through Cognito's user-facing API with the shop's public app client (the first
//! of `COGNITO_CLIENT_IDS`): sign up (`SignUp`, `ConfirmSignUp`, `ResendConfirmationCode`),
//! sign in (`InitiateAuth` with `USER_PASSWORD_AUTH`), renew (`REFRESH_TOKEN_AUTH`), forgot
//! password (`ForgotPassword`, `ConfirmForgotPassword`) and sign out (`RevokeToken`).
//!
//! What Cognito refuses becomes a validation error naming the form's field, in words for a
//! shopper; an unknown email and a wrong password read the same, so that the sign-in form
//! does not tell who has an account. Cognito being slow or unreachable is a 503.

use crate::auth::Principal;
use crate::config::Secret;
use crate::store::WebSession;
use crate::{App, Error, FieldError, Result};
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType};
use std::time::UNIX_EPOCH;

fn failure<E, R>(context: &'static str) -> impl FnOnce(SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        if matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)) {
            Error::Unavailable { context, source: DisplayErrorContext(e).to_string().into() }
        } else {
            Error::internal(context, DisplayErrorContext(e).to_string())
        }
    }
}

/// The code of a service error Cognito answered, if that is what `e` is.
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(ProvideErrorMetadata::code)
}

fn refused(field: &str, message: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError::new(field, message)])
}

/// The shop's app client.
pub fn client_id(app: &App) -> Result<&str> {
    app.config
        .cognito
        .client_ids
        .first()
        .map(String::as_str)
        .ok_or_else(|| Error::internal("signing in", "no Cognito app client is configured"))
}

fn now_secs(app: &App) -> u64 {
    app.clock.now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// What Cognito says of a password it refuses, in a shopper's words.
const PASSWORD_RULES: &str = "Use at least 12 characters, with upper- and lower-case letters and a number.";

/// Signs `email` in with `password`: the verified caller and the tokens for a session.
pub async fn sign_in(app: &App, email: &str, password: &str) -> Result<(Principal, WebSession)> {
    let out = app
        .cognito()
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(client_id(app)?)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", password)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            return Err(match code(&e) {
                Some("NotAuthorizedException" | "UserNotFoundException") => {
                    refused("password", "The email or the password is not right.")
                }
                Some("UserNotConfirmedException") => refused("unconfirmed", "This email address is not confirmed yet."),
                Some("PasswordResetRequiredException") => {
                    refused("password", "This password must be reset: use \u{201c}Forgot your password?\u{201d}.")
                }
                Some("TooManyRequestsException" | "LimitExceededException") => {
                    refused("password", "Too many attempts. Wait a minute, then try again.")
                }
                _ => failure("signing in with Cognito")(e),
            });
        }
    };
    let Some(result) = out.authentication_result else {
        // A challenge (two-step verification, a new password): not offered by this form.
        return Err(refused(
            "password",
            "This account needs a sign-in step this page does not offer yet (two-step verification or a new password).",
        ));
    };
    let access =
        result.access_token.ok_or_else(|| Error::internal("signing in", "Cognito returned no access token"))?;
    let refresh =
        result.refresh_token.ok_or_else(|| Error::internal("signing in", "Cognito returned no refresh token"))?;
    let principal = app.auth.verify(&access).await?;
    let expires_at = now_secs(app) + u64::try_from(result.expires_in.max(0)).unwrap_or(0);
    Ok((
        principal,
        WebSession {
            access_token: Secret::new(access),
            refresh_token: Secret::new(refresh),
            access_expires_at: expires_at,
        },
    ))
}

/// A new access token (and when it expires) from a session's refresh token.
pub async fn renew(app: &App, refresh: &Secret) -> Result<(Secret, u64)> {
    let out = app
        .cognito()
        .initiate_auth()
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .client_id(client_id(app)?)
        .auth_parameters("REFRESH_TOKEN", refresh.expose())
        .send()
        .await
        .map_err(|e| match code(&e) {
            Some("NotAuthorizedException" | "UserNotFoundException") => {
                Error::unauthorized("the refresh token was refused")
            }
            _ => failure("renewing a session with Cognito")(e),
        })?;
    let result = out.authentication_result.ok_or_else(|| Error::unauthorized("no tokens on renewal"))?;
    let access = result.access_token.ok_or_else(|| Error::unauthorized("no access token on renewal"))?;
    Ok((Secret::new(access), now_secs(app) + u64::try_from(result.expires_in.max(0)).unwrap_or(0)))
}

/// Where the browser goes to sign in with Google through Cognito's managed login: the
/// authorization-code flow with PKCE (S256) and `state`.
pub fn google_authorize_url(
    hosted_ui: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("identity_provider", "Google")
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}/oauth2/authorize?{query}", hosted_ui.trim_end_matches('/'))
}

/// Trades the managed login's authorization `code` (with the PKCE verifier) for tokens at
/// Cognito's token endpoint; the caller and the tokens for a session.
pub async fn google_tokens(
    app: &App,
    hosted_ui: &str,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<(Principal, WebSession)> {
    use http_body_util::BodyExt as _;
    const CONTEXT: &str = "trading a sign-in code at Cognito";
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", client_id(app)?)
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier)
        .finish();
    let request = http::Request::post(format!("{}/oauth2/token", hosted_ui.trim_end_matches('/')))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| Error::internal(CONTEXT, e))?;
    let client = crate::http::outbound::https_client(std::time::Duration::from_secs(3))?;
    let exchange = async {
        let response =
            client.request(request).await.map_err(|e| Error::Unavailable { context: CONTEXT, source: e.into() })?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Unavailable { context: CONTEXT, source: e.into() })?;
        Ok::<_, Error>((status, bytes.to_bytes()))
    };
    let (status, bytes) = tokio::time::timeout(std::time::Duration::from_secs(5), exchange)
        .await
        .map_err(|e| Error::Unavailable { context: CONTEXT, source: e.into() })??;
    if !status.is_success() {
        // An expired or replayed code: the user starts again.
        tracing::info!(status = status.as_u16(), "Cognito refused a sign-in code");
        return Err(refused("google", "Signing in with Google did not finish. Try again."));
    }
    #[derive(serde::Deserialize)]
    struct Tokens {
        access_token: String,
        refresh_token: String,
        expires_in: u64,
    }
    let tokens: Tokens = serde_json::from_slice(&bytes).map_err(|e| Error::internal(CONTEXT, e))?;
    let principal = app.auth.verify(&tokens.access_token).await?;
    Ok((
        principal,
        WebSession {
            access_token: Secret::new(tokens.access_token),
            refresh_token: Secret::new(tokens.refresh_token),
            access_expires_at: now_secs(app) + tokens.expires_in,
        },
    ))
}

/// Revokes a session's refresh token (sign-out): its access tokens can no longer be renewed.
pub async fn revoke(app: &App, refresh: &Secret) -> Result<()> {
    app.cognito()
        .revoke_token()
        .client_id(client_id(app)?)
        .token(refresh.expose())
        .send()
        .await
        .map_err(failure("revoking a refresh token"))?;
    Ok(())
}

/// Creates an unconfirmed account; Cognito sends the confirmation code by email.
pub async fn sign_up(app: &App, email: &str, password: &str, name: &str) -> Result<()> {
    let out = app
        .cognito()
        .sign_up()
        .client_id(client_id(app)?)
        .username(email)
        .password(password)
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value(email)
                .build()
                .map_err(|e| Error::internal("signing up", e))?,
        )
        .user_attributes(
            AttributeType::builder().name("name").value(name).build().map_err(|e| Error::internal("signing up", e))?,
        )
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) => Err(match code(&e) {
            Some("UsernameExistsException") => {
                refused("email", "An account with this email exists already. Sign in, or reset its password.")
            }
            Some("InvalidPasswordException") => refused("password", PASSWORD_RULES),
            Some("InvalidParameterException") => refused("email", "Enter a valid email address."),
            Some("TooManyRequestsException" | "LimitExceededException") => {
                refused("email", "Too many attempts. Wait a minute, then try again.")
            }
            _ => failure("signing up with Cognito")(e),
        }),
    }
}

/// Confirms a new account with the emailed code.
pub async fn confirm(app: &App, email: &str, code_text: &str) -> Result<()> {
    let out = app
        .cognito()
        .confirm_sign_up()
        .client_id(client_id(app)?)
        .username(email)
        .confirmation_code(code_text)
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) => Err(match code(&e) {
            Some("CodeMismatchException") => refused("code", "That code is not right. Check the email and try again."),
            Some("ExpiredCodeException") => refused("code", "That code has expired. Ask for a new one below."),
            Some("UserNotFoundException") => refused("email", "There is no account waiting for this email."),
            Some("NotAuthorizedException") => refused("code", "This account is confirmed already: sign in."),
            Some("TooManyFailedAttemptsException" | "TooManyRequestsException" | "LimitExceededException") => {
                refused("code", "Too many attempts. Wait a minute, then try again.")
            }
            _ => failure("confirming a sign-up with Cognito")(e),
        }),
    }
}

/// Sends a new confirmation code.
pub async fn resend_code(app: &App, email: &str) -> Result<()> {
    let out = app.cognito().resend_confirmation_code().client_id(client_id(app)?).username(email).send().await;
    match out {
        // An unknown email reads as sent, so the form does not tell who has an account.
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("UserNotFoundException") => Ok(()),
        Err(e) => Err(match code(&e) {
            Some("TooManyRequestsException" | "LimitExceededException") => {
                refused("email", "Too many attempts. Wait a minute, then try again.")
            }
            _ => failure("resending a confirmation code")(e),
        }),
    }
}

/// Starts a password reset: Cognito emails a code.
pub async fn forgot_password(app: &App, email: &str) -> Result<()> {
    let out = app.cognito().forgot_password().client_id(client_id(app)?).username(email).send().await;
    match out {
        Ok(_) => Ok(()),
        // As for sign-in: the page says the same whether or not the account exists.
        Err(e) if matches!(code(&e), Some("UserNotFoundException" | "InvalidParameterException")) => Ok(()),
        Err(e) => Err(match code(&e) {
            Some("TooManyRequestsException" | "LimitExceededException") => {
                refused("email", "Too many attempts. Wait a minute, then try again.")
            }
            _ => failure("starting a password reset")(e),
        }),
    }
}

/// Sets a new password with the emailed code.
pub async fn reset_password(app: &App, email: &str, code_text: &str, password: &str) -> Result<()> {
    let out = app
        .cognito()
        .confirm_forgot_password()
        .client_id(client_id(app)?)
        .username(email)
        .confirmation_code(code_text)
        .password(password)
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) => Err(match code(&e) {
            Some("CodeMismatchException" | "UserNotFoundException") => {
                refused("code", "That code is not right. Check the email and try again.")
            }
            Some("ExpiredCodeException") => refused("code", "That code has expired. Start again to get a new one."),
            Some("InvalidPasswordException") => refused("password", PASSWORD_RULES),
            Some("TooManyFailedAttemptsException" | "TooManyRequestsException" | "LimitExceededException") => {
                refused("code", "Too many attempts. Wait a minute, then try again.")
            }
            _ => failure("resetting a password")(e),
        }),
    }
}
