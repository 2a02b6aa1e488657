//! The whole HTTP contract, end to end: ALB events through the real handlers against the
//! emulated DynamoDB and Cognito. Run with `cargo xtask test`.

mod auth;
mod catalogue;
mod edges;
mod listing;
mod profiles;
