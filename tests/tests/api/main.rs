//! The whole HTTP contract, end to end: ALB events through the real handlers against the
//! emulated DynamoDB, Cognito and Secrets Manager. Run with `cargo xtask test`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_cancel;
mod auth;
mod catalogue;
mod delivery;
mod dynamodb_faults;
mod edges;
mod events;
mod flash_sale;
mod jwks;
mod lifecycle;
mod limits;
mod listing;
mod maker_applications;
mod moderation;
mod notifications;
mod order_faults;
mod orders;
mod photos;
mod placement;
mod profiles;
mod races;
mod refunds;
mod reserve_first;
mod secrets;
mod signup;
mod web_accounts;
mod web_browse;
mod web_checkout;
mod web_studio;
mod webhook_header;
