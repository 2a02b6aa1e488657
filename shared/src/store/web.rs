//! The web shop's own state: sign-in sessions and signed-in users' carts.
//!
//! | access pattern                   | key                                                       | operation |
//! |----------------------------------|-----------------------------------------------------------|-----------|
//! | a page of a signed-in user       | the session, `USER#<sub>`/`CART` and `USER#<sub>`/`PROFILE` | one BatchGetItem (consistent) |
//! | sign in                          | `pk=USER#<sub>`, `sk=SESSION#<sha256 of the cookie's id>`, TTL `expires_at` | PutItem |
//! | renew the access token           | the session                                               | UpdateItem (`attribute_exists`) |
//! | sign out                         | the session                                               | DeleteItem |
//! | save the cart                    | `pk=USER#<sub>`, `sk=CART`                                | PutItem |
//!
//! A session item holds Cognito's tokens, so that no token ever reaches the browser: the
//! cookie carries a random session id, and the item is keyed by its SHA-256 (a read of
//! the table gives no usable cookie). Keyed under the user, a session is read in the same
//! round trip as the user's cart and profile.

use super::item::{Item, get_n, get_opt_s, get_s, n, s};
use super::{Store, sdk};
use crate::config::Secret;
use crate::domain::{Cart, CartLine, Timestamp, UserId};
use crate::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// How long a session lasts without use of its refresh token (Cognito's refresh tokens
/// last 30 days by default).
pub const SESSION_TTL_SECS: u64 = 30 * 24 * 3600;

/// A signed-in browser's tokens.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub access_token: Secret,
    pub refresh_token: Secret,
    /// When the access token expires, in seconds since the epoch.
    pub access_expires_at: u64,
}

/// What a signed-in page reads in its one round trip.
#[derive(Debug, Default)]
pub struct VisitRead {
    /// `None` when the session was ended (signed out elsewhere, expired).
    pub session: Option<WebSession>,
    pub cart: Cart,
    /// The profile's display name, if the user has a profile.
    pub display_name: Option<String>,
}

fn user_pk(user: &UserId) -> AttributeValue {
    s(format!("USER#{}", user.as_str()))
}

fn session_key(user: &UserId, session_hash: &str) -> Item {
    HashMap::from([("pk".to_owned(), user_pk(user)), ("sk".to_owned(), s(format!("SESSION#{session_hash}")))])
}

fn cart_key(user: &UserId) -> Item {
    HashMap::from([("pk".to_owned(), user_pk(user)), ("sk".to_owned(), s("CART"))])
}

fn cart_from(item: &Item) -> Result<Cart> {
    let Some(lines) = item.get("lines") else { return Ok(Cart::default()) };
    let lines: Vec<CartLine> =
        serde_dynamo::from_attribute_value(lines.clone()).map_err(|e| Error::internal("reading a stored cart", e))?;
    Ok(Cart::from_lines(lines))
}

impl Store {
    /// The session `session_hash` of `user`, their cart and their display name.
    pub async fn read_visit(&self, user: &UserId, session_hash: &str, now: u64) -> Result<VisitRead> {
        let keys = vec![session_key(user, session_hash), cart_key(user), super::profiles::profile_key(user)];
        let items = self.batch_get(keys, "reading a signed-in visit").await?;
        let mut read = VisitRead::default();
        for item in items {
            match get_opt_s(&item, "sk").as_deref() {
                Some("CART") => read.cart = cart_from(&item)?,
                Some("PROFILE") => read.display_name = get_opt_s(&item, "display_name"),
                // TTL deletion lags: an expired session is no session.
                Some(sk) if sk.starts_with("SESSION#") && get_n(&item, "expires_at")? > now => {
                    read.session = Some(WebSession {
                        access_token: Secret::new(get_s(&item, "access_token")?),
                        refresh_token: Secret::new(get_s(&item, "refresh_token")?),
                        access_expires_at: get_n(&item, "access_expires_at")?,
                    });
                }
                _ => {}
            }
        }
        Ok(read)
    }

    /// Starts a session for `user` (at sign-in).
    pub async fn put_session(&self, user: &UserId, session_hash: &str, session: &WebSession, now: u64) -> Result<()> {
        let mut item = session_key(user, session_hash);
        item.extend([
            ("entity".to_owned(), s("session")),
            ("access_token".to_owned(), s(session.access_token.expose())),
            ("refresh_token".to_owned(), s(session.refresh_token.expose())),
            ("access_expires_at".to_owned(), n(session.access_expires_at)),
            ("created_at".to_owned(), n(now)),
            ("expires_at".to_owned(), n(now + SESSION_TTL_SECS)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk("starting a session"))?;
        Ok(())
    }

    /// Stores a renewed access token; `false` when the session has ended meanwhile.
    pub async fn renew_session(
        &self,
        user: &UserId,
        session_hash: &str,
        access: &Secret,
        expires_at: u64,
    ) -> Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(user, session_hash)))
            .update_expression("SET access_token = :a, access_expires_at = :e")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":a", s(access.expose()))
            .expression_attribute_values(":e", n(expires_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if super::is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk("renewing a session")(err)),
        }
    }

    /// Ends a session (sign-out); ending one already ended is fine.
    pub async fn delete_session(&self, user: &UserId, session_hash: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(session_key(user, session_hash)))
            .send()
            .await
            .map_err(sdk("ending a session"))?;
        Ok(())
    }

    /// Saves `user`'s cart (an empty cart removes the item).
    pub async fn put_cart(&self, user: &UserId, cart: &Cart, now: &Timestamp) -> Result<()> {
        if cart.is_empty() {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(cart_key(user)))
                .send()
                .await
                .map_err(sdk("emptying a cart"))?;
            return Ok(());
        }
        let lines = serde_dynamo::to_attribute_value(cart.lines()).map_err(|e| Error::internal("writing a cart", e))?;
        let mut item = cart_key(user);
        item.extend([
            ("entity".to_owned(), s("cart")),
            ("lines".to_owned(), lines),
            ("updated_at".to_owned(), s(now.as_str())),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk("saving a cart"))?;
        Ok(())
    }
}
