//! Cognito user pools on the emulator: the pool, its groups and app client, users, and
//! the tokens they sign in with — the same calls a real pool answers.

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, ExplicitAuthFlowsType, MessageActionType, UsernameAttributeType, VerifiedAttributeType,
};
use serde::{Deserialize, Serialize};

/// The groups that grant roles beyond customer.
pub const GROUPS: [&str; 2] = ["makers", "admins"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CognitoPool {
    pub user_pool_id: String,
    pub client_id: String,
    pub issuer: String,
    pub jwks_url: String,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub id: String,
}

/// Creates a user pool with the `makers` and `admins` groups and an app client that
/// allows USER_PASSWORD_AUTH. Like the template's pool, users sign in by email
/// (`UsernameAttributes: email`): Cognito names them by a generated id (their `sub`).
pub async fn create_pool(aws: &SdkConfig, name: &str) -> Result<CognitoPool> {
    let client = Client::new(aws);
    let pool = client
        .create_user_pool()
        .pool_name(name)
        .username_attributes(UsernameAttributeType::Email)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .send()
        .await
        .context("creating the user pool")?;
    let user_pool_id = pool.user_pool.and_then(|p| p.id).context("the new user pool has no id")?;
    for group in GROUPS {
        client
            .create_group()
            .user_pool_id(&user_pool_id)
            .group_name(group)
            .send()
            .await
            .with_context(|| format!("creating group {group}"))?;
    }
    let client_id = add_client(aws, &user_pool_id, &format!("{name}-web")).await?;
    let region = aws.region().map(|r| r.to_string()).context("the SDK config has no region")?;
    let endpoint = aws.endpoint_url().context("the SDK config has no endpoint URL")?.trim_end_matches('/');
    Ok(CognitoPool {
        issuer: format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"),
        jwks_url: format!("{endpoint}/{user_pool_id}/.well-known/jwks.json"),
        user_pool_id,
        client_id,
    })
}

/// Adds an app client to a pool; returns its id.
pub async fn add_client(aws: &SdkConfig, user_pool_id: &str, name: &str) -> Result<String> {
    let out = Client::new(aws)
        .create_user_pool_client()
        .user_pool_id(user_pool_id)
        .client_name(name)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .context("creating an app client")?;
    out.user_pool_client.and_then(|c| c.client_id).context("the new app client has no id")
}

/// Creates a confirmed user, who signs in with `email`, with a permanent password, in
/// `groups`; returns its `sub`.
pub async fn create_user(
    aws: &SdkConfig,
    pool: &CognitoPool,
    email: &str,
    password: &str,
    groups: &[&str],
) -> Result<String> {
    let client = Client::new(aws);
    client
        .admin_create_user()
        .user_pool_id(&pool.user_pool_id)
        .username(email)
        .message_action(MessageActionType::Suppress)
        .user_attributes(AttributeType::builder().name("email").value(email).build()?)
        .user_attributes(AttributeType::builder().name("email_verified").value("true").build()?)
        .send()
        .await
        .with_context(|| format!("creating user {email}"))?;
    client
        .admin_set_user_password()
        .user_pool_id(&pool.user_pool_id)
        .username(email)
        .password(password)
        .permanent(true)
        .send()
        .await
        .with_context(|| format!("setting {email}'s password"))?;
    for group in groups {
        client
            .admin_add_user_to_group()
            .user_pool_id(&pool.user_pool_id)
            .username(email)
            .group_name(*group)
            .send()
            .await
            .with_context(|| format!("adding {email} to {group}"))?;
    }
    let user = client
        .admin_get_user()
        .user_pool_id(&pool.user_pool_id)
        .username(email)
        .send()
        .await
        .with_context(|| format!("reading user {email}"))?;
    user.user_attributes
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.name == "sub")
        .and_then(|a| a.value)
        .with_context(|| format!("user {email} has no sub"))
}

/// Signs in with USER_PASSWORD_AUTH through `client_id`.
pub async fn sign_in(aws: &SdkConfig, client_id: &str, username: &str, password: &str) -> Result<Tokens> {
    let out = Client::new(aws)
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(client_id)
        .auth_parameters("USERNAME", username)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .with_context(|| format!("signing in as {username}"))?;
    let result = out.authentication_result.with_context(|| format!("no tokens for {username} (a challenge?)"))?;
    Ok(Tokens { access: result.access_token.context("no access token")?, id: result.id_token.context("no id token")? })
}

/// An access token for a user of `pool`.
pub async fn access_token(aws: &SdkConfig, pool: &CognitoPool, username: &str, password: &str) -> Result<String> {
    Ok(sign_in(aws, &pool.client_id, username, password).await?.access)
}
