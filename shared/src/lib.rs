//! What every Makers Market function shares.
//!
//! A function's `main.rs` builds an [`App`] once per cold start and hands each request to
//! [`http::run`]; its `lib.rs` handler parses input into [`domain`] types, authorizes with
//! [`auth`], calls the [`store`] and maps the result back. Every failure is one
//! [`Error`], which renders itself as RFC 9457 problem+json.

pub mod app;
pub mod applications;
pub mod auth;
pub mod catalogue;
pub mod config;
pub mod delivery;
pub mod directory;
pub mod domain;
pub mod email;
pub mod error;
pub mod events;
pub mod http;
pub mod imaging;
pub mod metrics;
pub mod notify;
pub mod orders;
pub mod payments;
pub mod photos;
pub mod routes;
pub mod secrets;
pub mod store;
pub mod web;

pub use app::App;
pub use error::{Error, FieldError, Result};
