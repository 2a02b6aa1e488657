//! The route table, re-exported: it lives in [`shared::routes`] so that the `not-found`
//! function can answer 405 from it without linking the local stack.

pub use shared::routes::*;
