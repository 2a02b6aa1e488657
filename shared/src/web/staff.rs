//! Who may open the makers' studio (`/studio…`) and the admins' desk (`/desk…`), and what
//! their pages share. Roles come from the visit's access token, verified and renewed as the
//! API's are ([`super::Visit`]), so a maker taken out of the `makers` group loses the studio
//! at their next renewal, exactly as they lose the maker routes of the API.

use crate::auth::Principal;
use crate::domain::{Product, ProductId, money};
use crate::{App, Error, Result};

/// A studio page's caller must be a maker now; anyone else gets the 403 page.
pub fn studio(who: &Principal) -> Result<()> {
    if who.is_maker() {
        Ok(())
    } else {
        Err(Error::forbidden(
            "The studio is for makers. To sell on Makers Market, apply from \"Sell on Makers Market\"; \
             once an admin approves you, sign in again to open your studio.",
        ))
    }
}

/// The product `id` if it is `who`'s: another maker's product, or none, is no page of the
/// studio (a 404 either way, so the studio does not tell which products exist).
pub async fn own_product(app: &App, who: &Principal, id: &ProductId) -> Result<Product> {
    app.store
        .get_product(id, crate::store::Read::Latest)
        .await?
        .filter(|p| p.maker_id == who.user_id)
        .ok_or_else(|| Error::not_found("No such product in your studio."))
}

/// A desk page's caller must be an admin now; anyone else gets the 403 page.
pub fn desk(who: &Principal) -> Result<()> {
    if who.is_admin() { Ok(()) } else { Err(Error::forbidden("The desk is for Makers Market's admins only.")) }
}

/// Cents as a form shows them for editing: `12.50` (no currency sign, no grouping), the
/// shape [`money::parse_euros`] reads back.
pub fn euros_input(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// What a person typed as a price, in cents, or the message for the field.
pub fn typed_price(text: &str) -> std::result::Result<u64, &'static str> {
    money::parse_euros(text).ok_or("Enter a price in euros, like 12.50.")
}

/// What a person typed as a stock count, or the message for the field.
pub fn typed_stock(text: &str) -> std::result::Result<i64, &'static str> {
    text.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or("Enter how many you have, a whole number like 3.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_round_trips_through_its_form_field() {
        for cents in [1, 99, 1250, 10_000_000] {
            assert_eq!(typed_price(&euros_input(cents)), Ok(cents));
        }
        assert!(typed_price("twelve").is_err());
        assert_eq!(typed_stock(" 3 "), Ok(3));
        assert!(typed_stock("-1").is_err() && typed_stock("2.5").is_err());
    }
}
