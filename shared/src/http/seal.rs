//! Values a client carries for us and cannot forge: a payload and an HMAC-SHA256 over a
//! scope (what the value is for) and the payload, with the key from Secrets Manager.
//! Pagination cursors, the web shop's cart cookie, flash messages and form tokens use it;
//! the scope keeps one kind of sealed value from passing for another.

use crate::config::Secret;
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

fn signed(scope: &str, payload: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(scope.len() + 1 + payload.len());
    data.extend_from_slice(scope.as_bytes());
    data.push(0);
    data.extend_from_slice(payload);
    data
}

fn key(secret: &Secret) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes())
}

/// The MAC of `payload` for `scope`, base64url.
pub fn tag(secret: &Secret, scope: &str, payload: &[u8]) -> String {
    B64.encode(hmac::sign(&key(secret), &signed(scope, payload)).as_ref())
}

/// Whether `mac` (base64url) is the MAC of `payload` for `scope`, compared in constant time.
pub fn verify(secret: &Secret, scope: &str, payload: &[u8], mac: &str) -> bool {
    B64.decode(mac).is_ok_and(|mac| hmac::verify(&key(secret), &signed(scope, payload), &mac).is_ok())
}

/// `payload` and its MAC for `scope`: `<base64url payload>.<base64url mac>`.
pub fn seal(secret: &Secret, scope: &str, payload: &[u8]) -> String {
    format!("{}.{}", B64.encode(payload), tag(secret, scope, payload))
}

/// The payload of a value [`seal`]ed for `scope`; `None` when it is longer than `max_len`,
/// malformed, sealed for another scope or with another key, or altered.
pub fn open(secret: &Secret, scope: &str, sealed: &str, max_len: usize) -> Option<Vec<u8>> {
    if sealed.len() > max_len {
        return None;
    }
    let (payload, mac) = sealed.split_once('.')?;
    let payload = B64.decode(payload).ok()?;
    verify(secret, scope, &payload, mac).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("s".repeat(32))
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_scope_and_key() {
        let sealed = seal(&secret(), "cart", b"[1,2]");
        assert_eq!(open(&secret(), "cart", &sealed, 100).as_deref(), Some(&b"[1,2]"[..]));
        assert_eq!(open(&secret(), "flash", &sealed, 100), None);
        assert_eq!(open(&Secret::new("t".repeat(32)), "cart", &sealed, 100), None);
        assert_eq!(open(&secret(), "cart", &sealed, sealed.len() - 1), None);
    }

    #[test]
    fn an_altered_or_malformed_value_does_not_open() {
        let sealed = seal(&secret(), "cart", b"[1,2]");
        let (payload, mac) = sealed.split_once('.').unwrap_or_default();
        let other = seal(&secret(), "cart", b"[9,9]");
        let other_payload = other.split_once('.').map(|(p, _)| p).unwrap_or_default();
        assert_eq!(open(&secret(), "cart", &format!("{other_payload}.{mac}"), 100), None);
        assert_eq!(open(&secret(), "cart", &format!("{payload}.{mac}x"), 100), None);
        for garbage in ["", ".", "abc", "a.b", "!!!.???"] {
            assert_eq!(open(&secret(), "cart", garbage, 100), None, "{garbage}");
        }
        assert!(verify(&secret(), "form", b"v", &tag(&secret(), "form", b"v")));
        assert!(!verify(&secret(), "form", b"v", &tag(&secret(), "form", b"w")));
    }
}
