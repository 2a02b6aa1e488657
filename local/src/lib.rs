//! The local stack: everything `cargo xtask dev`, `cargo xtask test` and the end-to-end
//! tests need to run Makers Market on one machine with no cloud account.

pub mod alb;
pub mod api;
pub mod cognito;
pub mod cognito_pump;
pub mod dynamodb_local;
pub mod emulators;
pub mod notifications;
pub mod photos;
pub mod provision;
pub mod routes;
pub mod runtime_api;
mod sandbox;
pub mod scheduler;
pub mod seed;
pub mod streams;
pub mod stripe;
pub mod venv;
