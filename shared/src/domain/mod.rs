//! The marketplace's types and rules, with no I/O: ids, money, products, profiles, orders
//! (with the one order state machine) and their validation. A value of these types is
//! valid by construction.

pub mod application;
pub mod cart;
pub mod money;
pub mod order;
pub mod photo;
pub(crate) mod product;
mod profile;
mod time;

pub use application::{
    Application, ApplicationId, ApplicationInput, ApplicationStatus, Decision, NewApplication, RejectionInput,
};
pub use cart::{Cart, CartLine, CartRefusal};
pub use money::{euros, parse_euros};
pub use order::{
    Actor, HistoryEntry, MAX_UNPAID_ORDERS, MakerOrder, Move, NewOrder, Order, OrderId, OrderInput, OrderLine,
    OrderPaymentFailed, OrderRefundFailed, OrderStatus, OrderStatusChanged, Payment, PaymentError, RefundProgress,
    RefundStatus,
};
pub use photo::{Photo, PhotoId, PhotoState, PhotoType, PhotoUpload, PhotoUploadInput, PhotoView};
pub use product::{
    Category, Currency, MAX_PRICE_CENTS, MAX_STOCK, NewProduct, Product, ProductId, ProductInput, ProductPatch,
    ProductPatchInput, ProductStatus, search_words,
};
pub use profile::{Address, MakerShop, Profile, ProfileInput, ProfileUpdate, Role, UserId, countries};
pub use time::{Clock, SystemClock, Timestamp};

use crate::FieldError;
use serde::{Deserialize, Deserializer};

/// An id type: `prefix` + a ULID, unique and time-sortable, so id order is issue order.
macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            const PREFIX: &'static str = $prefix;

            /// A fresh id, later than any this process issued before, even within one
            /// millisecond.
            pub fn generate() -> Self {
                Self(format!("{}{}", Self::PREFIX, $crate::domain::fresh_ulid()))
            }

            /// `None` unless `value` is an id this service could have issued.
            pub fn parse(value: &str) -> Option<Self> {
                $crate::domain::is_prefixed_ulid(value, Self::PREFIX).then(|| Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use ulid_id;

/// A fresh ULID, later than any this process issued before, even within one millisecond
/// (one generator for every kind of id, so ids of one kind sort in issue order).
pub(crate) fn fresh_ulid() -> ulid::Ulid {
    static IDS: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    #[allow(clippy::unwrap_or_default)] // Ulid::default() is the nil id, not a fresh one.
    IDS.lock()
        .ok()
        .and_then(|mut ids| ids.get_or_insert_with(ulid::Generator::new).generate().ok())
        .unwrap_or_else(ulid::Ulid::new)
}

/// Whether `value` is `prefix` and a canonical (upper-case Crockford) ULID: an id this
/// service could have issued.
pub(crate) fn is_prefixed_ulid(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|ulid| {
        ulid.len() == 26
            && ulid.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            && ulid::Ulid::from_string(ulid).is_ok()
    })
}

/// For optional fields where `null` is not a value: absent is `None`, `null` is a type
/// error naming the field (serde alone would read `null` as absent).
pub(crate) fn non_null<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(de).map(Some)
}

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

/// Text a person typed: at most `max` characters as sent, not blank when `required`,
/// no control characters (newlines and tabs allowed only where `multiline`) and no
/// invisible formatting characters ([`is_invisible_format`]). Stored trimmed. Limits apply
/// to the text as sent so that they mean what `openapi.yaml` says.
pub(crate) fn text(value: &str, required: bool, max: usize, multiline: bool) -> Result<String, String> {
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err("must not contain control characters".into());
    }
    if let Some(c) = value.chars().find(|&c| is_invisible_format(c)) {
        return Err(format!("must not contain invisible formatting characters (found U+{:04X})", u32::from(c)));
    }
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(trimmed.to_owned())
}

/// Characters that change how text reads without being seen (API.md, "Limits that protect
/// the stock"): bidirectional embeddings, overrides, isolates and marks, which can make a
/// title or an address read differently from what is stored ("Trojan Source"), and
/// zero-width characters, which make two different strings look the same.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' // ARABIC LETTER MARK
        | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
        | '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
        | '\u{180E}' // MONGOLIAN VOWEL SEPARATOR
        | '\u{FEFF}' // zero-width no-break space (BOM)
    )
}

#[cfg(test)]
mod text_tests {
    use super::text;

    #[test]
    fn invisible_formatting_characters_are_refused_and_named() {
        for c in ['\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200D}', '\u{200F}', '\u{FEFF}', '\u{061C}'] {
            let value = format!("Oak{c} bowl");
            let err = text(&value, true, 120, false);
            assert!(err.as_ref().is_err_and(|e| e.contains("invisible")), "U+{:04X}: {err:?}", u32::from(c));
        }
        // Visible text from any script, accents and emoji stays accepted.
        for ok in ["Taça de barro", "Чашка", "كوب", "陶器 🍵", "Crème brûlée"] {
            assert_eq!(text(ok, true, 120, false).as_deref(), Ok(ok));
        }
    }
}
