//! Opaque pagination cursors.
//!
//! A cursor carries DynamoDB's `LastEvaluatedKey` and is signed (HMAC-SHA256) together
//! with the query it belongs to. A client cannot forge a start key, edit one, or replay a
//! cursor against a different query: each of those is a 400, never a 500 or a silent
//! wrong page. The sealing is [`super::seal`]'s, with the query as the scope.

use crate::config::Secret;
use crate::{Error, Result};
use std::collections::BTreeMap;

/// A start key: attribute name → string value (every key attribute here is a string).
pub type Key = BTreeMap<String, String>;

/// Longer than any cursor this module writes; refused before any decoding work.
const MAX_LEN: usize = 2048;

fn bad() -> Error {
    Error::invalid("cursor", "is not a cursor of this query; start again without it")
}

/// Seals `key` for the query described by `scope` (a canonical rendering of its filters).
pub fn encode(secret: &Secret, scope: &str, key: &Key) -> String {
    // A BTreeMap of strings always serializes.
    let payload = serde_json::to_vec(key).unwrap_or_default();
    super::seal::seal(secret, scope, &payload)
}

/// Opens a cursor written by [`encode`] for the same `scope`.
pub fn decode(secret: &Secret, scope: &str, cursor: &str) -> Result<Key> {
    let payload = super::seal::open(secret, scope, cursor, MAX_LEN).ok_or_else(bad)?;
    serde_json::from_slice(&payload).map_err(|_| bad())
}

/// A list response, `{"items": [...], "next_cursor": "..." | null}`, its cursor sealed
/// for `scope`.
pub fn page<T: serde::Serialize>(
    secret: &Secret,
    scope: &str,
    page: crate::store::Page<T>,
) -> Result<lambda_http::Response<lambda_http::Body>> {
    #[derive(serde::Serialize)]
    struct List<T> {
        items: Vec<T>,
        next_cursor: Option<String>,
    }
    let next_cursor = page.next.map(|key| encode(secret, scope, &key));
    super::json(200, &List { items: page.items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("k".repeat(32))
    }

    fn key() -> Key {
        [("pk".to_owned(), "PRODUCT#1".to_owned()), ("sk".to_owned(), "PRODUCT".to_owned())].into()
    }

    #[test]
    fn a_cursor_opens_for_its_own_query() {
        let c = encode(&secret(), "products|cat=art", &key());
        assert_eq!(decode(&secret(), "products|cat=art", &c).ok(), Some(key()));
    }

    #[test]
    fn foreign_tampered_and_garbage_cursors_are_refused() {
        let c = encode(&secret(), "products|cat=art", &key());
        assert!(decode(&secret(), "products|cat=toys", &c).is_err());
        assert!(decode(&Secret::new("j".repeat(32)), "products|cat=art", &c).is_err());
        let (payload, mac) = c.split_once('.').unwrap_or_default();
        let forged = encode(&Secret::new("x".repeat(32)), "products|cat=art", &[("pk".into(), "USER#1".into())].into());
        let forged_payload = forged.split_once('.').map(|(p, _)| p).unwrap_or_default();
        assert!(decode(&secret(), "products|cat=art", &format!("{forged_payload}.{mac}")).is_err());
        assert!(decode(&secret(), "products|cat=art", &format!("{payload}x.{mac}")).is_err());
        for garbage in ["", ".", "abc", "a.b", "!!!.???", &"a".repeat(5000)] {
            assert!(decode(&secret(), "products|cat=art", garbage).is_err(), "{garbage}");
        }
    }
}
