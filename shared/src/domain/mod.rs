//! The marketplace's types and rules, with no I/O: ids, money, products, profiles and
//! their validation. A value of these types is valid by construction.

pub(crate) mod product;
mod profile;
mod time;

pub use product::{
    Category, Currency, MAX_PRICE_CENTS, MAX_STOCK, NewProduct, Product, ProductId, ProductInput, ProductPatch,
    ProductPatchInput, ProductStatus, search_words,
};
pub use profile::{Address, MakerShop, Profile, ProfileInput, ProfileUpdate, Role, UserId};
pub use time::{Clock, SystemClock, Timestamp};

use crate::FieldError;

/// Collects field errors while a whole input is checked, so a client learns about every
/// invalid field at once.
#[derive(Debug, Default)]
pub(crate) struct Check(Vec<FieldError>);

impl Check {
    pub(crate) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Some(value)` if `result` is Ok, else records the error under `field`.
    pub(crate) fn take<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.fail(field, message)).ok()
    }

    pub(crate) fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> crate::Result<T> {
        if !self.0.is_empty() {
            return Err(crate::Error::Validation(self.0));
        }
        value().ok_or_else(|| crate::Error::internal("validating input", "a checked field was missing"))
    }
}

/// Text a person typed: trimmed, `min..=max` characters, no control characters
/// (newlines allowed only where `multiline`).
pub(crate) fn text(value: &str, min: usize, max: usize, multiline: bool) -> Result<String, String> {
    let value = value.trim();
    let len = value.chars().count();
    if len < min {
        return Err(if min == 1 { "must not be empty".into() } else { format!("must be at least {min} characters") });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}
